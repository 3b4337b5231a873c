"""--mixed_precision: bfloat16 / float16 compute, float32 loss, a float32 saved model."""

import json
import pathlib

import keras
import numpy as np
import pytest

from keras_colorize.train import TrainConfig, run_training

PHOTOS = str(pathlib.Path(__file__).parent / "fixtures" / "photos")


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_mixed_precision_trains_and_saves_float32(tmp_path, precision):
    config = TrainConfig(
        train_data=[PHOTOS], model_dir=str(tmp_path), image_size=32, batch_size=4, epochs=1, max_steps=None,
        variant="4block", width=0.125, learning_rate=3e-3, lr_decay_steps=(), progress=False,
        val_images=0, checkpoint_every_steps=1000, mixed_precision=precision,
    )  # fmt: skip
    results = run_training(config)
    assert results["steps"] == 3 and np.isfinite(results["train_loss"])
    assert keras.config.dtype_policy().name == "float32"  # restored after the run
    model = keras.models.load_model(results["model_path"])
    assert all(w.dtype == "float32" for w in model.weights)
    probs = model.predict(np.full((1, 32, 32, 1), 50.0, np.float32), verbose=0)
    assert probs.dtype == np.float32 and probs.shape == (1, 8, 8, 313)
    assert json.loads((tmp_path / "training.json").read_text())["config"]["mixed_precision"] == precision
