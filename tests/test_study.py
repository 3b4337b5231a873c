"""The study runner: argument checks (fast) and a tiny end-to-end study (slow)."""

import json
import pathlib
import subprocess
import sys

import pytest

from keras_colorize.study import MODELS, run_study, training_columns
from keras_colorize.train_config import TrainConfig

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
TFLITE = FIXTURES / "classifier" / "mobilenet_v2_1.0_224_quant.tflite"


def _config(tmp_path) -> TrainConfig:
    photos = str(FIXTURES / "photos")
    return TrainConfig(
        train_data=[photos], val_data=[photos], model_dir=str(tmp_path), image_size=32, batch_size=4,
        max_steps=2, width=0.125, progress=False, val_images=0, checkpoint_every_steps=1000,
    )  # fmt: skip


def test_unknown_model_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match="Unknown models"):
        run_study(_config(tmp_path), str(tmp_path), str(FIXTURES / "semantic"), names=["full", "vgg"])
    assert not (tmp_path / "full").exists()


def test_training_columns():
    summary = {"variant": "4block", "loss": "rebalanced", "steps": 10, "epochs": 2, "wall_time_s": 12.6,
               "train_loss": 4.1, "val_loss": 3.9, "config": {}}  # fmt: skip
    assert training_columns(summary) == {
        "Variant": "4block", "Loss": "rebalanced", "Steps": 10, "Epochs": 2, "Wall s": 13,
        "Train loss": 4.1, "Val loss": 3.9,
    }  # fmt: skip


def test_cli_requires_folders(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.study", f"--study_dir={tmp_path}", "--test_data=/no/such/dir"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "--test_data: /no/such/dir is not a folder" in result.stderr


def test_study_configs_parse():
    """configs/small_study.cfg and the real run's docs/results/study.cfg parse into the study's flags."""
    code = (
        "import json, sys\n"
        "from absl import flags\n"
        "from keras_colorize import study, train_flags\n"
        "study.define_flags()\n"
        "flags.FLAGS(['study', '--flagfile=' + sys.argv[1]])\n"
        "c = train_flags.config_from_flags(flags.FLAGS)\n"
        "print(json.dumps([c.train_data, c.max_steps, c.image_size, c.width, flags.FLAGS.test_data]))\n"
    )
    root = pathlib.Path(__file__).parent.parent
    runs = (("configs/small_study.cfg", 1000, 64), ("docs/results/study.cfg", 1500, 128))
    for flagfile, steps, size in runs:
        result = subprocess.run(
            [sys.executable, "-c", code, flagfile], cwd=root, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr[-2000:]
        parsed = json.loads(result.stdout.strip().splitlines()[-1])
        assert parsed == [["../shared/data/train"], steps, size, 0.25, "../shared/data/semantic"]


@pytest.mark.slow
def test_tiny_study_end_to_end_and_resume(tmp_path):
    study = tmp_path / "study"
    config = _config(study)
    results = run_study(config, str(study), str(FIXTURES / "semantic"), classifier=str(TFLITE))
    report = study / "report"
    for name in ("report.md", "metrics.json", "auc_curves.png", "gallery.png", "best.png", "worst.png",
                 "bleeding.png", "semantic.png"):  # fmt: skip
        assert (report / name).is_file(), name
    assert (study / "prior.npy").is_file()
    assert list(results["summary"]) == ["Ground truth", "Gray", "Random", *MODELS]
    stored = json.loads((report / "metrics.json").read_text())
    assert stored["extra"]["l2"]["Loss"] == "l2" and stored["extra"]["full"]["Steps"] == 2
    text = (report / "report.md").read_text()
    assert "| Model | Epochs | Steps | Test loss | Validation loss |" in text
    assert f"| full | 1 | 2 | {results['summary']['full']['loss']:.4f} | " in text
    for name in MODELS:
        assert f"| {name} | " in text
    assert results["summary"]["Ground truth"]["top5"] == 100.0
    for name in MODELS:
        assert results["summary"][name]["loss"] > 0
    # Resume: finished models are not trained again, the report is rewritten.
    stamps = {n: (study / n / "training.json").stat().st_mtime_ns for n in MODELS}
    (report / "report.md").unlink()
    run_study(config, str(study), str(FIXTURES / "semantic"), classifier=None, names=["full", "l2"])
    assert {n: (study / n / "training.json").stat().st_mtime_ns for n in MODELS} == stamps
    assert "| l2 | " in (report / "report.md").read_text()


def test_semantic_data_apart_from_test_data(tmp_path, photo_paths):
    """--semantic_data differs from --test_data: the classifier runs on the labelled set only (its own
    report, Sem. columns in the main table) and the unlabelled test set's bad photos are skipped."""
    import shutil

    import numpy as np
    from fixtures.tiny import tiny_colorizer
    from PIL import Image

    from keras_colorize.empirical_prior import save_prior

    study = tmp_path / "study"
    names = ["full", "l2"]
    for name in names:  # finished models: run_study skips their training
        variant = MODELS[name][0]
        tiny_colorizer(variant, work_size=32).save_to_preset(study / name)
        summary = {"variant": variant, "loss": MODELS[name][1], "steps": 2, "wall_time_s": 1.0}
        (study / name / "training.json").write_text(json.dumps(summary))
    save_prior(str(study / "prior.npy"), np.full(313, 1 / 313))
    test_data = tmp_path / "test"
    test_data.mkdir()
    for path in photo_paths[:3]:
        shutil.copy(path, test_data)
    Image.new("L", (10000, 6000), 128).save(test_data / "huge.png")  # 60 MP: over the limit
    data = photo_paths[0].read_bytes()
    (test_data / "truncated.jpg").write_bytes(
        data[: len(data) // 2] if photo_paths[0].suffix == ".jpg" else b""
    )
    config = _config(study)
    config.prior = str(study / "prior.npy")
    semantic_data = str(FIXTURES / "semantic")
    results = run_study(
        config, str(study), str(test_data), semantic_data, classifier=str(TFLITE), names=names
    )
    assert results["num_photos"] == 3 and results["num_skipped"] == 2 and results["num_labelled"] == 0
    assert results["summary"]["full"]["top1"] is None  # no classifier on the unlabelled test set
    semantic = json.loads((study / "report" / "semantic" / "metrics.json").read_text())
    assert semantic["num_labelled"] == 5 and semantic["summary"]["Ground truth"]["top5"] == 100.0
    extra = results["extra"]
    assert extra["Ground truth"]["Sem. top-5 %"] == 100.0 and set(extra["full"]) >= {"Steps", "Sem. top-1 %"}
    report = (study / "report" / "report.md").read_text()
    assert "| Sem. top-1 % | Sem. top-5 % |" in report and "**2 skipped**" in report
    assert "Classifier: run on the labelled photos of" in report
