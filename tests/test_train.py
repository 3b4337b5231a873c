"""Training on the fixture photos: the loss goes down, outputs follow the model-dir convention,
bad settings are refused clearly, configs parse, checkpoints are written atomically."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from keras_colorize.colorizer import Colorizer
from keras_colorize.train_config import TrainConfig, validate
from keras_colorize.train_flags import config_from_flags, define_flags
from keras_colorize.trainer import run_training

ROOT = pathlib.Path(__file__).parent.parent
PHOTOS = str(ROOT / "tests" / "fixtures" / "photos")


def tiny(model_dir, **overrides) -> TrainConfig:
    settings = dict(
        train_data=[PHOTOS],
        model_dir=str(model_dir),
        image_size=32,
        batch_size=4,
        epochs=8,
        max_steps=None,
        variant="4block",
        width=0.125,
        learning_rate=3e-3,
        lr_decay_steps=(),
        checkpoint_every_steps=1000,
        log_every_steps=1,
        val_images=0,
        progress=False,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def step_losses(model_dir) -> dict[int, dict]:
    """The train log's last record per step (a resumed run logs replayed steps again)."""
    lines = pathlib.Path(model_dir, "train_log.jsonl").read_text().splitlines()
    return {record["step"]: record for record in map(json.loads, lines)}


def test_training_lowers_loss_and_writes_the_model_dir(tmp_path):
    results = run_training(tiny(tmp_path, val_data=[PHOTOS], val_images=2, keep_checkpoints=2))
    records = step_losses(tmp_path)
    assert sorted(records) == list(range(1, 25))  # 12 photos / batch 4 = 3 steps x 8 epochs
    by_epoch = [np.mean([r["loss"] for r in records.values() if r["epoch"] == e]) for e in range(8)]
    # Each epoch sees all 12 photos, so the epoch means compare like with like
    # (measured: 4.90 -> 3.53; the last two epochs' mean must be 15% below the first).
    assert np.mean(by_epoch[-2:]) < 0.85 * by_epoch[0], by_epoch
    assert results["steps"] == 24 and results["epochs"] == 8
    assert results["train_loss"] == pytest.approx(by_epoch[-1], rel=1e-5)
    assert np.isfinite(results["val_loss"]) and results["wall_time_s"] > 0

    # model_dir is a preset folder: the whole Colorizer, its prior and its provenance.
    assert results["model_path"] == str(tmp_path)
    assert {"config.json", "model.weights.h5", "metadata.json"} <= set(os.listdir(tmp_path))
    colorizer = Colorizer.from_preset(results["model_path"])
    assert colorizer.work_size == 32 and colorizer.backbone.variant == "4block"
    assert colorizer.predict(np.full((2, 45, 37, 3), 128, np.uint8), verbose=0).shape == (2, 45, 37, 3)
    probs = np.asarray(colorizer.backbone(np.full((2, 32, 32, 1), 50.0, np.float32)))
    assert probs.shape == (2, 8, 8, 313)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-4)
    metadata = colorizer.metadata
    assert (metadata["loss"], metadata["steps"], metadata["train_data"]) == ("rebalanced", 24, [PHOTOS])
    np.testing.assert_array_equal(colorizer.prior, np.load(tmp_path / "prior.npy"))

    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["variant"] == "4block" and summary["loss"] == "rebalanced"
    assert summary["width"] == 0.125 and summary["image_size"] == 32 and summary["steps"] == 24
    assert summary["config"]["learning_rate"] == 3e-3
    prior = np.load(tmp_path / "prior.npy")
    assert prior.shape == (313,) and prior.sum() == pytest.approx(1.0)
    assert len(os.listdir(tmp_path / "checkpoints")) == 2  # keep_checkpoints
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = {}
    for split in ("train", "val"):
        events = EventAccumulator(str(tmp_path / "logs" / split))
        events.Reload()
        tags[split] = set(events.Tags()["tensors"])
    assert {"loss", "learning_rate", "epoch_loss"} <= tags["train"] and {"loss", "colorized"} <= tags["val"]


def test_l2_variant_trains_and_predicts_ab(tmp_path):
    results = run_training(tiny(tmp_path, variant="l2", loss="l2", epochs=None, max_steps=3))
    assert results["steps"] == 3 and np.isfinite(results["train_loss"])
    colorizer = Colorizer.from_preset(results["model_path"])
    assert colorizer.regression and colorizer.metadata["loss"] == "l2"
    ab = colorizer.backbone.predict(np.zeros((1, 32, 32, 1), np.float32), verbose=0)
    assert ab.shape == (1, 8, 8, 2)
    assert json.loads((tmp_path / "training.json").read_text())["loss"] == "l2"


def test_epoch_end_names_skipped_photos(tmp_path, capsys):
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    results = run_training(tiny(tmp_path / "run", train_data=[str(photos)], epochs=1, loss="plain"))
    assert results["steps"] == 3  # 12 good photos, batch 4
    output = capsys.readouterr().out
    assert "Epoch 0: Skipped 1 of 13 photos" in output and "broken.jpg (unreadable" in output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"variant": "3block"}, "--variant '3block' is unknown"),
        ({"loss": "l2"}, "--loss l2 does not fit --variant 4block"),
        ({"variant": "l2"}, "--loss rebalanced does not fit --variant l2"),
        ({"train_data": ["/no/such/photos"]}, "--train_data '/no/such/photos': no such folder"),
        ({"image_size": 36}, "multiple of 8"),
        ({"epochs": None, "max_steps": None}, "training never ends"),
        ({"lr_decay_steps": (500, 100)}, "--lr_decay_steps must be increasing"),
        ({"strategy": "horovod"}, "--strategy 'horovod' is unknown"),
    ],
)
def test_bad_settings_are_refused_clearly(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        run_training(tiny(tmp_path, **overrides))
    assert not (tmp_path / "checkpoints").exists()


def test_too_few_photos_for_a_batch_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no full batch of 16 usable photos in an epoch"):
        run_training(tiny(tmp_path, batch_size=16, epochs=None, max_steps=5))


def test_bad_prior_file_is_named(tmp_path):
    bad = tmp_path / "prior.npy"
    np.save(bad, np.ones(10))
    with pytest.raises(ValueError, match=r"prior '.*prior.npy': Expected a distribution over 313 bins"):
        run_training(tiny(tmp_path / "run", prior=str(bad)))


def test_cli_reports_a_missing_data_folder(tmp_path):
    command = [sys.executable, "-m", "keras_colorize.train", "--train_data=/no/such/photos"]
    result = subprocess.run(
        [*command, f"--model_dir={tmp_path}"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 2  # a usage error
    assert "error: --train_data '/no/such/photos': no such folder" in result.stderr


PAPER_CONFIGS = ("paper.cfg", "ablation_4block.cfg", "ablation_5block_dilated.cfg", "l2_baseline.cfg")


# small_study.cfg is the study runner's config (tests/test_study.py); it includes small_study_train.cfg.
@pytest.mark.parametrize(
    "name", sorted(p.name for p in (ROOT / "configs").glob("*.cfg") if p.name != "small_study.cfg")
)
def test_configs_parse(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # configs name paths (and nested flagfiles) from the repository root
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    flag_values(["train", f"--flagfile=configs/{name}", "--train_data=extra"])
    config = config_from_flags(flag_values)
    # The paper's configs leave the data to the command line; the others name their photos.
    assert (config.train_data == ["extra"]) == (name in PAPER_CONFIGS)
    if name in PAPER_CONFIGS:
        assert (config.batch_size, config.learning_rate, config.max_steps) == (40, 3e-5, 450_000)
        assert config.lr_decay_steps == (200_000, 375_000) and config.image_size == 256
        assert (config.beta_1, config.beta_2, config.weight_decay) == (0.9, 0.99, 1e-3)
    if name == "quickstart.cfg":
        assert config.max_steps is None and config.epochs == 20
        validate(TrainConfig(**{**config.__dict__, "train_data": config.train_data[:1]}))  # fixtures exist
    variants = {
        "ablation_4block.cfg": "4block",
        "ablation_5block_dilated.cfg": "5block_dilated",
        "l2_baseline.cfg": "l2",
    }
    if name in variants:
        assert config.variant == variants[name] and config.model_dir.endswith(name.removesuffix(".cfg"))


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    import tensorflow as tf

    from keras_colorize.checkpointing import CheckpointManager

    value = tf.Variable(1.0)
    manager = CheckpointManager(tf.train.Checkpoint(value=value), str(tmp_path), keep=2)
    for step in (1, 2, 3):
        value.assign(float(step))
        manager.save(step, {"note": step}, {"seen": np.arange(step)})
    (tmp_path / ".tmp-ckpt-000000004-123").mkdir()  # what a kill during a write leaves
    assert manager.steps() == [2, 3]
    value.assign(0.0)
    assert manager.restore_latest()["note"] == 3 and float(value.numpy()) == 3.0
    np.testing.assert_array_equal(manager.load_array(3, "seen"), [0, 1, 2])
    manager.remove_stale_temporaries()
    assert sorted(os.listdir(tmp_path)) == ["ckpt-000000002", "ckpt-000000003"]


BLOCK_TENSORFLOW = """
import importlib.abc, runpy, sys
class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
sys.meta_path.insert(0, NoTensorFlow())
sys.argv = ["gpu_train.py", *sys.argv[1:]]
runpy.run_path("bench/gpu_train.py", run_name="__main__")
assert not [m for m in sys.modules if m.startswith("tensorflow")], "TensorFlow was imported"
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_gpu_bench_runs_on_cpu(tmp_path, backend):
    """bench/gpu_train.py, tiny config; the JAX run in a process where TensorFlow cannot be imported."""
    output = tmp_path / "result.jsonl"
    bench_flags = [
        f"--data_dir={PHOTOS}",
        "--steps=2",
        "--warmup=2",
        "--image_size=64",
        "--width=0.125",
        "--variant=4block",
        "--batch_size=4",
        "--pool_batches=2",
        "--precision=bfloat16",
        f"--output={output}",
    ]
    launcher = ["-c", BLOCK_TENSORFLOW] if backend == "jax" else ["bench/gpu_train.py"]
    result = subprocess.run(
        [sys.executable, *launcher, *bench_flags],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(output.read_text())
    assert record["backend"] == backend and record["precision"] == "bfloat16"
    assert record["images_per_s"] > 0 and np.isfinite(record["last_loss"]) and record["model_tflops"] > 0
    assert f"[{backend} on" in result.stdout and "images/s" in result.stdout


MIRRORED_ON_TWO_CPUS = """
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_colorize.losses import make_loss
from keras_colorize.model import build_model
from keras_colorize.optimizer import make_optimizer
from keras_colorize.trainer import make_train_step
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = build_model("4block", 0.125)
    optimizer = make_optimizer(1e-3, 0.9, 0.99, (), 1.0, loss_scaling=False)
    optimizer.build(model.trainable_variables)
step = make_train_step(strategy, model, make_loss("plain"), optimizer, 4, 1e-3, jit=False)
rgb = tf.cast(tf.random.stateless_uniform([8, 32, 32, 3], [1, 2], 0, 255), tf.uint8)
data = tf.data.Dataset.from_tensor_slices({"index": tf.range(8, dtype=tf.int64), "rgb": rgb}).batch(2)
seen = []
for batch in strategy.distribute_datasets_from_function(lambda context: data):
    loss, bad, indices, counts = step(batch, tf.constant(1.0))
    assert np.isfinite(float(loss)) and float(bad) == 0 and list(counts.numpy()) == [2, 2]
    seen += list(indices.numpy())
assert sorted(seen) == list(range(8)), seen
assert int(optimizer.iterations.numpy()) == 2
mean = model.get_layer("conv1_norm").moving_mean.numpy()
assert np.all(np.isfinite(mean)) and np.any(mean != 0)
print("ok")
"""


def test_training_step_on_two_mirrored_replicas():
    """The trainer's step on 2 mirrored replicas (2 logical CPUs): batches split, BN statistics updated."""
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_ON_TWO_CPUS], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
