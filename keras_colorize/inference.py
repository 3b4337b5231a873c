"""The one colorization path shared by Python, the CLI, evaluation and serving.

A photo's L channel is resized to the model's working size (256 x 256, as in
the paper), the network predicts ab at 1/4 of that, ab is decoded, upsampled
bilinearly to the photo's own size and recombined with its original L.
Everything is `keras.ops`, so the same code runs eagerly and in the exported
TensorFlow graph.
"""

import keras
from keras import ops

from keras_colorize.colorspace import lab_to_rgb
from keras_colorize.decoding import DEFAULT_TEMPERATURE, annealed_mean
from keras_colorize.model import is_regression
from keras_colorize.preprocessing import lightness_from_uint8

WORK_SIZE = 256
# Photos above this are refused everywhere (Python, CLI, SavedModel): bench/inference.py
# measured ~70 bytes per pixel in the exported graph, so one photo at the limit needs
# ~3 GB on top of the loaded model.
COLORIZE_MAX_PIXELS = 50_000_000


def to_work_size(lightness, work_size: int = WORK_SIZE):
    """L [N, H, W, 1] -> L [N, work_size, work_size, 1] (antialiased)."""
    lightness = ops.convert_to_tensor(lightness, "float32")
    return ops.image.resize(lightness, (work_size, work_size), interpolation="bilinear", antialias=True)


def predict_ab_small(model: keras.Model, small, temperature=DEFAULT_TEMPERATURE):
    """L at the working size -> decoded ab at the model's output size (1/4).

    Split from `predict_ab` so photos of different sizes can share one batched
    forward pass (the CLI, the SavedModel) and still get exactly its result.
    """
    prediction = model(small, training=False)
    if is_regression(model):
        return ops.cast(prediction, "float32")
    temperature = ops.reshape(ops.cast(temperature, "float32"), (-1, 1, 1, 1))
    return annealed_mean(prediction, temperature)


def _upsample_axis(x, size, axis: int):
    """Bilinear resampling of one axis to `size` (half-pixel centres, edges clamped).

    `ops.image.resize` refuses a size that is a symbolic tensor, which a
    photo's size is inside the exported graph; this takes either.
    """
    source = ops.shape(x)[axis]
    scale = ops.cast(source, "float32") / ops.cast(size, "float32")
    position = (ops.cast(ops.arange(size), "float32") + 0.5) * scale - 0.5
    position = ops.clip(position, 0.0, ops.cast(source - 1, "float32"))
    low = ops.floor(position)
    fraction = ops.reshape(position - low, [-1 if i == axis else 1 for i in range(4)])
    low = ops.cast(low, "int32")
    high = ops.minimum(low + 1, source - 1)
    return ops.take(x, low, axis=axis) * (1.0 - fraction) + ops.take(x, high, axis=axis) * fraction


def to_photo_size(ab, height, width):
    """ab [N, h, w, 2] -> ab [N, height, width, 2], bilinear (as tf.image.resize)."""
    return _upsample_axis(_upsample_axis(ab, height, axis=1), width, axis=2)


def predict_ab(model: keras.Model, lightness, temperature=DEFAULT_TEMPERATURE, work_size: int = WORK_SIZE):
    """L [N, H, W, 1] in 0..100 -> ab [N, H, W, 2] at the input's own size.

    `temperature` is a scalar or one value per image ([N]).
    """
    lightness = ops.convert_to_tensor(lightness, "float32")
    height, width = ops.shape(lightness)[1], ops.shape(lightness)[2]
    ab = predict_ab_small(model, to_work_size(lightness, work_size), temperature)
    return to_photo_size(ab, height, width)


def recombine(lightness, ab):
    """L [N, H, W, 1] and ab [N, H, W, 2] -> uint8 RGB [N, H, W, 3]."""
    rgb = lab_to_rgb(ops.concatenate([lightness, ab], axis=-1))
    return ops.cast(ops.round(rgb * 255.0), "uint8")


def colorize_uint8(model: keras.Model, rgb, temperature=DEFAULT_TEMPERATURE, work_size: int = WORK_SIZE):
    """uint8 RGB [N, H, W, 3] -> colorized uint8 RGB of the same size.

    Only the input's lightness is used; it is kept exactly in the output.
    """
    lightness = lightness_from_uint8(rgb)
    return recombine(lightness, predict_ab(model, lightness, temperature, work_size))
