"""Crash safety: SIGKILL mid-epoch then rerunning the same command continues the same loss
trajectory; a NaN loss stops training with a clear message and keeps the last good checkpoint."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_colorize.train_config import TrainConfig
from keras_colorize.trainer import NonFiniteLossError, run_training

ROOT = pathlib.Path(__file__).parent.parent
PHOTOS = str(ROOT / "tests" / "fixtures" / "photos")
# Exactness: the resumed run replays the same crops in the same order from restored weights
# and optimizer slots, so its losses equal the uninterrupted run's (bitwise on CPU in our
# runs); we allow float32 round-off.
RESUME_RTOL = 1e-5

# 12 photos / batch 1 = 12 steps per epoch; checkpoints every 5 steps (and at epoch ends). The run
# is killed as soon as the first checkpoint (step 5) exists; only a latest checkpoint at step 12
# or 24 would not be mid-epoch, and the run would need to get 7 steps further before the kill.
FLAGS = [
    f"--train_data={PHOTOS}",
    "--image_size=64",
    "--batch_size=1",
    "--epochs=2",
    "--max_steps=0",
    "--variant=4block",
    "--width=0.25",
    "--learning_rate=1e-3",
    "--lr_decay_steps=",
    "--checkpoint_every_steps=5",
    "--log_every_steps=1",
    "--val_images=0",
    "--noprogress",
    "--seed=3",
]


def train_command(model_dir) -> list[str]:
    return [sys.executable, "-m", "keras_colorize.train", *FLAGS, f"--model_dir={model_dir}"]


def losses(model_dir) -> dict[int, float]:
    """Last logged loss per step (steps replayed after a resume are logged again)."""
    lines = pathlib.Path(model_dir, "train_log.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def checkpoint_steps(model_dir) -> list[int]:
    folder = pathlib.Path(model_dir, "checkpoints")
    names = os.listdir(folder) if folder.exists() else []
    return sorted(int(n.split("-")[1]) for n in names if n.startswith("ckpt-"))


def kill_after_first_checkpoint(command: list[str], model_dir) -> int:
    """Run `command`, SIGKILL it once `model_dir` has a checkpoint; the latest checkpoint's step."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not checkpoint_steps(model_dir) and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return checkpoint_steps(model_dir)[-1]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(train_command(reference), check=True, capture_output=True, cwd=ROOT, timeout=600)

    crashed = tmp_path / "crashed"
    killed_at = kill_after_first_checkpoint(train_command(crashed), crashed)
    assert not (crashed / "config.json").exists()  # no preset: the run did not finish
    assert killed_at < 24

    rerun = subprocess.run(train_command(crashed), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = re.search(r"Resuming from step (\d+) \(epoch \d+, batch (\d+) of the epoch\)", rerun.stdout)
    assert resumed, rerun.stdout
    step, batch_in_epoch = int(resumed[1]), int(resumed[2])
    assert step >= killed_at and step % 12 == batch_in_epoch != 0, f"not a mid-epoch resume: {resumed[0]}"

    expected, got = losses(reference), losses(crashed)
    assert sorted(got) == sorted(expected) == list(range(1, 25))
    np.testing.assert_allclose(
        [got[s] for s in range(1, 25)], [expected[s] for s in range(1, 25)], rtol=RESUME_RTOL
    )
    summary = json.loads((crashed / "training.json").read_text())
    assert summary["steps"] == 24 and summary["epochs"] == 2
    assert summary["train_loss"] == pytest.approx(
        json.loads((reference / "training.json").read_text())["train_loss"], rel=RESUME_RTOL
    )


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    import tensorflow as tf

    config = TrainConfig(
        train_data=[PHOTOS],
        model_dir=str(tmp_path),
        image_size=32,
        batch_size=4,
        epochs=None,
        max_steps=20,
        variant="4block",
        width=0.125,
        checkpoint_every_steps=2,
        log_every_steps=1,
        val_images=0,
        progress=False,
        inject_nan_at_step=5,
    )
    with pytest.raises(
        NonFiniteLossError, match=r"at step 5 .*the loss is nan.*checkpoint \(step 4\) is intact"
    ):
        run_training(config)
    assert checkpoint_steps(tmp_path) == [2, 3, 4]  # epoch end (step 3) and every 2 steps
    assert not (tmp_path / "config.json").exists()
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints" / "ckpt-000000004" / "ckpt"))
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.all(np.isfinite(value)), name

    # The same command without the fault resumes from that checkpoint and finishes.
    results = run_training(TrainConfig(**{**config.__dict__, "inject_nan_at_step": None}))
    assert results["steps"] == 20 and np.isfinite(results["train_loss"])
