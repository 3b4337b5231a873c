"""The bundled pretrained preset: the default everywhere, and it really colours the fixture photos."""

import json
import os
import pathlib

import numpy as np
from PIL import Image
from skimage import color

import keras_colorize as kc
from keras_colorize import presets

PHOTOS = sorted((pathlib.Path(__file__).parent / "fixtures" / "photos").glob("*.jpg"))


def test_the_default_preset_is_bundled_and_described():
    assert presets.DEFAULT_PRESET in kc.Colorizer.presets
    folder = os.path.join(presets.PRESETS_DIR, presets.DEFAULT_PRESET)
    assert sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) < 25e6
    metadata = json.loads(pathlib.Path(folder, "metadata.json").read_text())
    assert metadata["variant"] == "full" and metadata["weights_dtype"] == "float16"
    assert metadata["wall_time_s"] >= 7200 and metadata["precision"] == "bfloat16"
    for key in ("semantic", "val"):
        assert {"auc_rebal", "colourfulness"} <= set(metadata["metrics"][key]["preset"])


def test_from_preset_with_no_name_colours_the_fixture_photos():
    colorizer = kc.Colorizer.from_preset()
    assert colorizer.backbone.variant == "full" and colorizer.prior is not None
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in PHOTOS]
    outputs = colorizer.colorize(photos)
    chroma, truth_chroma = [], []
    for photo, out in zip(photos, outputs, strict=True):
        assert out.shape == photo.shape and out.dtype == np.uint8
        lab_in, lab_out = color.rgb2lab(photo), color.rgb2lab(out)
        assert np.abs(lab_out[..., 0] - lab_in[..., 0]).mean() < 1.0  # the photo's own lightness is kept
        chroma.append(np.hypot(lab_out[..., 1], lab_out[..., 2]).mean())
        truth_chroma.append(np.hypot(lab_in[..., 1], lab_in[..., 2]).mean())
    # Not gray: the mean chroma over the 12 photos is at least half the originals'.
    assert np.mean(chroma) > 0.5 * np.mean(truth_chroma), (np.mean(chroma), np.mean(truth_chroma))
    # ... and not one uniform wash: the amount of colour differs from photo to photo.
    assert np.std(chroma) > 1.0


def test_the_pretrained_encoder_preset_is_bundled_and_colours_the_fixture_photos():
    name = "mobilenet_v2_unet_cpu2h"
    assert name in kc.Colorizer.presets
    folder = os.path.join(presets.PRESETS_DIR, name)
    assert sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) < 25e6
    colorizer = kc.Colorizer.from_preset(name)
    metadata = json.loads(pathlib.Path(folder, "metadata.json").read_text())
    assert metadata["variant"] == "mobilenet_v2_unet" and metadata["weights_dtype"] == "float16"
    assert metadata["wall_time_s"] >= 7200 and "ImageNet" in metadata["encoder"]
    assert colorizer.work_size == 224 and colorizer.prior is not None
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in PHOTOS]
    chroma = [
        np.hypot(*color.rgb2lab(out)[..., 1:].transpose(2, 0, 1)).mean() for out in colorizer.colorize(photos)
    ]
    truth = [np.hypot(*color.rgb2lab(photo)[..., 1:].transpose(2, 0, 1)).mean() for photo in photos]
    assert np.mean(chroma) > 0.5 * np.mean(truth) and np.std(chroma) > 1.0, (chroma, truth)
