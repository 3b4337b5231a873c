"""The pretrained encoder: the MobileNetV2 port, its backbone, bad weight files and training with it.

The port is checked against the original .tflite run by TFLite on the 12
fixture photos (the same centre crop for both): the same ImageNet top-1 on
at least 11 of 12, and class probabilities within 0.15 of each other (measured
here: top-1 equal on 12 of 12, the largest difference 0.10 on one photo,
under 0.05 on most; the .tflite computes in int8, the port in float32 from
the dequantized weights, so they cannot agree exactly).
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from fixtures.tiny import PRIOR

import keras_colorize as kc
from keras_colorize import mobilenet_v2
from keras_colorize.classifier import Classifier, center_crop
from keras_colorize.colorizer import Colorizer
from keras_colorize.mobilenet_v2 import EncoderWeightsError, check_weights_file
from keras_colorize.train_config import TrainConfig, validate

PHOTOS = pathlib.Path(__file__).parent / "fixtures" / "photos"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
PROBABILITY_TOLERANCE = 0.15


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return mobilenet_v2.imagenet_classifier()


def test_port_agrees_with_the_tflite(classifier, photos):
    original = Classifier(mobilenet_v2.WEIGHTS_FILE)
    crops = np.stack([center_crop(rgb, 224) for rgb in photos]).astype("float32")
    logits = classifier.predict(crops / 127.5 - 1.0, verbose=0)
    ported = keras.ops.convert_to_numpy(keras.ops.softmax(logits))[:, 1:]  # drop the background class
    expected = np.stack([original.scores(rgb) for rgb in photos])
    same_top1 = int(np.sum(ported.argmax(1) == expected.argmax(1)))
    assert same_top1 >= 11, (ported.argmax(1), expected.argmax(1))
    assert np.abs(ported - expected).max() <= PROBABILITY_TOLERANCE
    assert expected.max(1).mean() > 0.3  # the photos are recognised at all: the check has teeth


def _tiny_tflite(path) -> str:
    import tensorflow as tf

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Conv2D(4, 3)(keras.layers.DepthwiseConv2D(3)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs))
    path.write_bytes(converter.convert())
    return str(path)


def test_bad_weight_files_are_one_line_naming_the_file(tmp_path):
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(pathlib.Path(mobilenet_v2.WEIGHTS_FILE).read_bytes()[:5000])
    text = tmp_path / "notes.tflite"
    text.write_text("not a model\n")
    cases = {
        str(tmp_path / "missing.tflite"): "no such file",
        str(truncated): "not a readable TFLite model",
        str(text): "not a readable TFLite model",
        _tiny_tflite(tmp_path / "tiny.tflite"): "2 convolutions",
    }
    for path, reason in cases.items():
        with pytest.raises(EncoderWeightsError) as raised:
            check_weights_file(path)
        message = str(raised.value)
        assert "\n" not in message and path in message and reason in message, message
        assert "MobileNetV2 1.0/224" in message  # what was expected


def test_backbone_taps_strides_and_size_rule():
    backbone = kc.build_model("mobilenet_v2_unet", width=0.125)
    assert backbone.size_multiple == 32 and kc.build_model("4block", width=0.125).size_multiple == 8
    assert backbone.encoder is not None and kc.build_model("4block", width=0.125).encoder is None
    features = backbone.encoder(np.zeros((1, 64, 96, 3), "float32"))
    assert [tuple(f.shape[1:3]) for f in features] == [(16, 24), (8, 12), (4, 6), (2, 3)]
    assert backbone(np.full((2, 64, 96, 1), 50.0, "float32")).shape == (2, 16, 24, 313)
    norms = [layer for layer in backbone.encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 52 and not any(layer.trainable for layer in norms)
    clone = kc.Backbone.from_config(backbone.get_config())
    assert clone.variant == "mobilenet_v2_unet" and clone.count_params() == backbone.count_params()
    with pytest.raises(ValueError, match="multiple of 32"):
        Colorizer(backbone, work_size=72)


def test_lightness_to_gray_is_the_photos_gray(photos):
    from keras_colorize.colorspace import rgb_to_lab
    from keras_colorize.mobilenet_unet import LightnessToGray

    gray = np.asarray(photos[0].mean(-1, keepdims=True).repeat(3, -1), "uint8")  # an R = G = B photo
    lightness = keras.ops.convert_to_numpy(rgb_to_lab(gray[None].astype("float32") / 255.0))[..., :1]
    scaled = keras.ops.convert_to_numpy(LightnessToGray()(lightness))[0]
    np.testing.assert_allclose((scaled + 1.0) * 127.5, gray.astype("float32"), atol=0.05)


def test_tiny_photo_is_colorized_at_the_working_size(photos):
    colorizer = Colorizer(kc.build_model("mobilenet_v2_unet", width=0.125), work_size=64, prior=PRIOR)
    tiny = photos[0][:5, :7]
    assert colorizer.colorize(tiny).shape == (5, 7, 3)


def _config(tmp_path, **overrides) -> TrainConfig:
    settings = dict(
        train_data=[str(PHOTOS)],
        model_dir=str(tmp_path / "run"),
        variant="mobilenet_v2_unet",
        width=0.125,
        image_size=64,
        batch_size=4,
        max_steps=3,
        checkpoint_every_steps=3,
        learning_rate=1e-3,
        weight_decay=0.0,
        val_images=0,
        progress=False,
    )
    return TrainConfig(**{**settings, **overrides})


def test_settings_that_do_not_fit_are_refused(tmp_path):
    with pytest.raises(ValueError, match="multiple of 32"):
        validate(_config(tmp_path, image_size=72))
    with pytest.raises(ValueError, match="must not be negative"):
        validate(_config(tmp_path, encoder_lr_multiplier=-1.0))
    with pytest.raises(ValueError, match="pretrained-encoder variant"):
        validate(_config(tmp_path, variant="4block", encoder_weights=mobilenet_v2.WEIGHTS_FILE))
    with pytest.raises(ValueError, match="nopretrained_encoder"):
        validate(_config(tmp_path, pretrained_encoder=False, encoder_weights=mobilenet_v2.WEIGHTS_FILE))


def test_bad_encoder_file_stops_training_before_anything_is_written(tmp_path):
    bad = tmp_path / "encoder.tflite"
    bad.write_bytes(b"\0" * 100)
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.train", f"--train_data={PHOTOS}", f"--model_dir={run}",
         "--variant=mobilenet_v2_unet", "--image_size=64", "--max_steps=2", f"--encoder_weights={bad}"],
        capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(bad) in lines[0] and "MobileNetV2" in lines[0], result.stderr[-2000:]
    assert not run.exists()


def _encoder_weights(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.backbone.encoder.get_weights()]


@pytest.mark.parametrize(
    ("multiplier", "pretrained"), [(0.0, True), (0.1, True), (1.0, False)], ids=["frozen", "slow", "scratch"]
)
def test_training_loads_imagenet_and_moves_the_encoder_as_asked(tmp_path, multiplier, pretrained):
    from keras_colorize.trainer import run_training

    np.save(tmp_path / "prior.npy", PRIOR)
    prior = str(tmp_path / "prior.npy")
    config = _config(tmp_path, encoder_lr_multiplier=multiplier, pretrained_encoder=pretrained, prior=prior)
    validate(config)
    run_training(config)
    trained = Colorizer.from_preset(config.model_dir)
    metadata = json.loads((tmp_path / "run" / "metadata.json").read_text())
    imagenet = mobilenet_v2.load_imagenet_weights(mobilenet_v2.feature_extractor())
    moved = [
        float(np.abs(a - b).max())
        for a, b in zip(_encoder_weights(trained), imagenet.get_weights(), strict=True)
        if a.ndim == 4  # the kernels
    ]
    if not pretrained:
        assert metadata["encoder"] == "from scratch" and min(moved) > 0.01
    elif multiplier == 0:
        assert "frozen" in metadata["encoder"] and max(moved) == 0.0
    else:
        assert "learning rate x0.1" in metadata["encoder"] and 0.0 < max(moved) < 0.01
