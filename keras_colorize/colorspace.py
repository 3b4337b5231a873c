"""sRGB <-> CIE Lab (D65) as backend-agnostic `keras.ops`.

The constants are those of scikit-image (`skimage.color.rgb2lab` /
`lab2rgb`), which is the reference the tests hold us to. Everything is
element-wise or a 3x3 matmul over the channel axis, so it runs batched,
on the accelerator, inside compiled steps and in exported graphs.
"""

import numpy as np
from keras import ops

# Linear sRGB -> XYZ (D65), rows are X, Y, Z.
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)

_EPSILON = 0.008856  # (6/29)^3: below it the cube root becomes linear.
_KAPPA = 7.787  # slope of that linear part.
_EPSILON_F = 0.2068966  # 6/29, the same threshold on f(t).

# sRGB uint8 -> linear light, a 256-entry table (exact; avoids pow per pixel).
LINEAR_TABLE = np.where(
    np.arange(256) / 255.0 <= 0.04045,
    np.arange(256) / 255.0 / 12.92,
    ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4,
).astype(np.float32)


def srgb_to_linear(rgb):
    """Undo sRGB companding of floats in [0, 1]."""
    rgb = ops.convert_to_tensor(rgb, "float32")
    safe = ops.maximum(rgb, 0.04045)  # keeps the unused branch's gradient finite
    return ops.where(rgb <= 0.04045, rgb / 12.92, ops.power((safe + 0.055) / 1.055, 2.4))


def linear_to_srgb(linear):
    """sRGB companding of linear light (the inverse of `srgb_to_linear`)."""
    safe = ops.maximum(linear, 0.0031308)
    return ops.where(
        linear <= 0.0031308,
        linear * 12.92,
        1.055 * ops.power(safe, 1.0 / 2.4) - 0.055,
    )


def lab_f(t):
    safe = ops.maximum(t, _EPSILON)
    return ops.where(t > _EPSILON, ops.power(safe, 1.0 / 3.0), _KAPPA * t + 16.0 / 116.0)


def lab_f_inverse(t):
    return ops.where(t > _EPSILON_F, t * t * t, (t - 16.0 / 116.0) / _KAPPA)


def linear_rgb_to_lab(linear):
    """Linear-light RGB [..., 3] -> Lab [..., 3]."""
    matrix = (XYZ_FROM_RGB / D65_WHITE[:, None]).T.astype(np.float32)
    xyz = ops.matmul(linear, matrix)
    fx, fy, fz = lab_f(xyz[..., 0]), lab_f(xyz[..., 1]), lab_f(xyz[..., 2])
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return ops.stack([lightness, a, b], axis=-1)


def rgb_to_lab(rgb):
    """sRGB floats in [0, 1], shape [..., 3] -> CIE Lab (D65), L in 0..100."""
    return linear_rgb_to_lab(srgb_to_linear(rgb))


def rgb_uint8_to_lab(rgb):
    """uint8 sRGB [..., 3] -> Lab, linearising through a 256-entry table.

    The table lookup replaces two `pow` calls per channel and pixel, which
    dominate the cost of the conversion in the input pipeline.
    """
    linear = ops.take(ops.convert_to_tensor(LINEAR_TABLE), ops.cast(rgb, "int32"))
    return linear_rgb_to_lab(linear)


def lab_to_rgb(lab):
    """CIE Lab [..., 3] -> sRGB floats clipped to [0, 1].

    Out-of-gamut colours clip the way scikit-image does: negative Z is set to
    zero before the XYZ -> RGB matrix and the final RGB is clipped.
    """
    lab = ops.convert_to_tensor(lab, "float32")
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = lab[..., 1] / 500.0 + fy
    fz = ops.maximum(fy - lab[..., 2] / 200.0, 0.0)
    xyz = ops.stack([lab_f_inverse(fx), lab_f_inverse(fy), lab_f_inverse(fz)], axis=-1)
    matrix = (RGB_FROM_XYZ * D65_WHITE[None, :]).T.astype(np.float32)
    linear = ops.matmul(xyz, matrix)
    return ops.clip(linear_to_srgb(linear), 0.0, 1.0)
