"""--max_train_time_s: a wall-time budget that stops training cleanly, across resumes."""

import json
import pathlib

import pytest

from keras_colorize.train_config import TrainConfig
from keras_colorize.trainer import run_training

PHOTOS = str(pathlib.Path(__file__).parent / "fixtures" / "photos")


def _config(tmp_path, **overrides) -> TrainConfig:
    values = dict(
        train_data=[PHOTOS], model_dir=str(tmp_path), image_size=32, batch_size=4, epochs=50, max_steps=None,
        variant="4block", width=0.125, learning_rate=3e-3, lr_decay_steps=(), progress=False,
        val_images=0, checkpoint_every_steps=1000, mixed_precision="none",
    )  # fmt: skip
    values.update(overrides)
    return TrainConfig(**values)


def test_budget_stops_after_the_step_that_crosses_it(tmp_path):
    results = run_training(_config(tmp_path, max_train_time_s=1e-3))
    assert results["steps"] == 1  # 50 epochs of 3 steps were allowed; the budget stopped it
    assert results["wall_time_s"] >= 1e-3
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["steps"] == 1 and summary["config"]["max_train_time_s"] == 1e-3


def test_budget_counts_the_time_of_earlier_sessions(tmp_path):
    first = run_training(_config(tmp_path, epochs=1))
    assert first["steps"] == 3
    # Resumed with a budget the first session already spent: no further step (49 epochs were left).
    second = run_training(_config(tmp_path, max_train_time_s=first["wall_time_s"] / 2))
    assert second["steps"] == 3 and second["wall_time_s"] >= first["wall_time_s"]
    # With budget left it goes on, and stops once the sessions together have spent it.
    third = run_training(_config(tmp_path, max_train_time_s=first["wall_time_s"] * 3))
    assert 3 < third["steps"] < 150


def test_budget_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="--max_train_time_s must be positive"):
        run_training(_config(tmp_path, max_train_time_s=-5.0))
