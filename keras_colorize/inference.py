"""The one colorization path shared by Python, the CLI, evaluation and serving.

A photo's L channel is resized to the model's working size (256 x 256, as in
the paper), the network predicts ab at 1/4 of that, ab is decoded, upsampled
bilinearly to the photo's own size and recombined with its original L.
Everything is `keras.ops`, so the same code runs eagerly and in the exported
TensorFlow graph.
"""

import keras
from keras import ops

from keras_colorize.colorspace import lab_to_rgb, rgb_to_lab
from keras_colorize.decoding import DEFAULT_TEMPERATURE, annealed_mean
from keras_colorize.model import is_regression

WORK_SIZE = 256


def predict_ab(model: keras.Model, lightness, temperature=DEFAULT_TEMPERATURE, work_size: int = WORK_SIZE):
    """L [N, H, W, 1] in 0..100 -> ab [N, H, W, 2] at the input's own size.

    `temperature` is a scalar or one value per image ([N]).
    """
    lightness = ops.convert_to_tensor(lightness, "float32")
    height, width = ops.shape(lightness)[1], ops.shape(lightness)[2]
    small = ops.image.resize(lightness, (work_size, work_size), interpolation="bilinear", antialias=True)
    prediction = model(small, training=False)
    if is_regression(model):
        ab = ops.cast(prediction, "float32")
    else:
        temperature = ops.reshape(ops.cast(temperature, "float32"), (-1, 1, 1, 1))
        ab = annealed_mean(prediction, temperature)
    return ops.image.resize(ab, (height, width), interpolation="bilinear")


def colorize_rgb(model: keras.Model, rgb, temperature=DEFAULT_TEMPERATURE, work_size: int = WORK_SIZE):
    """RGB floats [N, H, W, 3] in [0, 1] -> colorized RGB of the same size.

    Only the input's lightness is used; it is kept exactly in the output.
    """
    lightness = rgb_to_lab(rgb)[..., :1]
    ab = predict_ab(model, lightness, temperature, work_size)
    return lab_to_rgb(ops.concatenate([lightness, ab], axis=-1))
