"""Training pairs from RGB crops: L at full resolution, ab at every 4th pixel.

Runs inside the compiled training step (on the accelerator), not in the
input pipeline. Two shortcuts make it cheap and are exact: L depends only on
luminance Y, and the paper's ab targets are the pixels at stride 4 (no
averaging), so the full Lab conversion runs on 1/16 of the pixels.
"""

from keras import ops

from keras_colorize.colorspace import D65_WHITE, LINEAR_TABLE, XYZ_FROM_RGB, lab_f, rgb_uint8_to_lab

OUTPUT_STRIDE = 4


def lightness_from_uint8(rgb):
    """uint8 RGB [..., 3] -> L [..., 1] in 0..100 (only Y is needed)."""
    linear = ops.take(ops.convert_to_tensor(LINEAR_TABLE), ops.cast(rgb, "int32"))
    y_row = (XYZ_FROM_RGB[1] / D65_WHITE[1]).astype("float32")
    y = ops.sum(linear * y_row, axis=-1, keepdims=True)
    return 116.0 * lab_f(y) - 16.0


def training_pair(rgb):
    """uint8 RGB [N, H, W, 3] -> (L [N, H, W, 1], ab [N, H/4, W/4, 2])."""
    lightness = lightness_from_uint8(rgb)
    ab = rgb_uint8_to_lab(rgb[:, ::OUTPUT_STRIDE, ::OUTPUT_STRIDE, :])[..., 1:]
    return lightness, ab
