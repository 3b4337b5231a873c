"""Lab conversion against scikit-image, on real photos and on edge cases."""

import numpy as np
import pytest
from keras import ops
from skimage import color

from keras_colorize.colorspace import lab_to_rgb, rgb_to_lab, rgb_uint8_to_lab


def test_rgb_to_lab_matches_skimage_on_photos(photos):
    for photo in photos:
        expected = color.rgb2lab(photo)
        ours = ops.convert_to_numpy(rgb_to_lab(photo.astype("float32") / 255.0))
        assert np.abs(ours - expected).max() < 1e-3


def test_uint8_table_path_matches_skimage(photos):
    batch = np.stack([p[:128, :128] for p in photos])
    expected = color.rgb2lab(batch)
    assert np.abs(ops.convert_to_numpy(rgb_uint8_to_lab(batch)) - expected).max() < 1e-3


def test_every_uint8_colour_level():
    levels = np.arange(256, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels[::5], levels[::5], levels[::5], indexing="ij"), -1).reshape(-1, 1, 3)
    expected = color.rgb2lab(grid)
    assert np.abs(ops.convert_to_numpy(rgb_uint8_to_lab(grid)) - expected).max() < 1e-3


def test_lab_to_rgb_matches_skimage_and_round_trips(photos):
    photo = photos[0].astype("float32") / 255.0
    lab = color.rgb2lab(photo).astype("float32")
    back = ops.convert_to_numpy(lab_to_rgb(lab))
    assert np.abs(back - color.lab2rgb(lab)).max() < 1e-4
    assert np.abs(back - photo).max() < 1e-4


def test_out_of_gamut_lab_clips_like_skimage():
    lab = np.array(
        [[50, 120, -120], [50, -128, 127], [100, 0, 0], [0, 0, 0], [110, 60, 60], [-5, 0, 0], [30, 0, -200]],
        dtype="float32",
    )[None]
    ours = ops.convert_to_numpy(lab_to_rgb(lab))
    assert np.isfinite(ours).all()
    assert ours.min() >= 0.0 and ours.max() <= 1.0
    with pytest.warns(UserWarning):  # skimage warns about the negative Z it clips
        expected = color.lab2rgb(lab)
    assert np.abs(ours - expected).max() < 1e-4


def test_batched_shapes_and_gradients():
    import keras

    rgb = keras.random.uniform((2, 3, 8, 8, 3), seed=1)
    lab = rgb_to_lab(rgb)
    assert tuple(lab.shape) == (2, 3, 8, 8, 3)
    assert lab.dtype == "float32"
    # Differentiable: a finite gradient through both directions, also at 0.
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(np.concatenate([np.zeros((1, 3)), np.full((1, 3), 0.5)]).astype("float32"))
        with tf.GradientTape() as tape:
            y = tf.reduce_sum(lab_to_rgb(rgb_to_lab(x)))
        assert np.isfinite(tape.gradient(y, x).numpy()).all()
    elif keras.backend.backend() == "jax":
        import jax

        x = np.concatenate([np.zeros((1, 3)), np.full((1, 3), 0.5)]).astype("float32")
        grad = jax.grad(lambda v: lab_to_rgb(rgb_to_lab(v)).sum())(x)
        assert np.isfinite(np.asarray(grad)).all()
