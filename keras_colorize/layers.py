"""The colorizer's pre- and post-processing as Keras layers: the one colorize path.

`kc.Colorizer` chains them around its backbone, and every user of the
method (the Python API, the CLI, evaluation, the trainer's previews and the
SavedModel's signatures) runs these layers, nothing else:

1. `ColorizerPreprocessor`: uint8 photos -> L at the photo's own size and L
   at the working size. The working-size L is computed exactly as training
   computes it: the uint8 RGB photo is resized with `resize_uint8` (bilinear,
   antialiased, rounded back to uint8; the data pipeline's crops use the same
   function) and L is taken from the resized pixels (`lightness_from_uint8`).
2. the backbone: L -> 313-bin distribution (or ab for `l2`) at 1/4 of that.
3. `ColorDecoder`: distribution -> ab (annealed mean, mean or mode).
4. `ColorizerPostprocessor`: ab upsampled bilinearly to the photo's size and
   recombined with the photo's own L into uint8 RGB.

Everything is `keras.ops`, so the same code runs eagerly, in `predict` and
in the exported TensorFlow graph.
"""

import keras
import numpy as np
from keras import ops

from keras_colorize.colorspace import lab_to_rgb
from keras_colorize.decoding import DECODINGS, DEFAULT_TEMPERATURE, decode, decode_log, log_probabilities
from keras_colorize.preprocessing import lightness_from_uint8

WORK_SIZE = 256  # the paper's: the network sees L at 256 x 256

_EXPECTED = "uint8 photos [N, H, W, 3] (RGB) or [N, H, W, 1] (gray), 0..255"


def resize_uint8(images, height, width):
    """uint8 [..., H, W, C] -> uint8 [..., height, width, C]: bilinear, antialiased, rounded.

    The one resize of photos: training crops, the colorizer's working-size
    input, evaluation and the classifier's crop all use it.
    """
    resized = ops.image.resize(
        ops.cast(images, "float32"), (height, width), interpolation="bilinear", antialias=True
    )
    return ops.cast(ops.clip(ops.round(resized), 0.0, 255.0), "uint8")


def check_photos(images) -> None:
    """Raise one clear ValueError unless `images` is a batch of uint8 photos.

    Only static properties (dtype, rank, channels) are checked, so it works
    on eager tensors, NumPy arrays and symbolic tensors alike.
    """
    dtype = keras.backend.standardize_dtype(images.dtype)
    try:
        shape = tuple(images.shape)
    except (TypeError, ValueError):  # unknown rank (a retraced graph): only the dtype is known
        shape = (None,) * 4
    channels = shape[-1] if shape else None
    if "float" in dtype:
        hint = (
            "L in 0..100 goes to colorizer.backbone, not to the Colorizer"
            if channels == 1
            else "for float RGB in 0..1 pass np.round(x * 255).astype('uint8')"
        )
        raise ValueError(f"Colorizer expects {_EXPECTED}; got {dtype} {shape} ({hint}).")
    if dtype != "uint8":
        raise ValueError(f"Colorizer expects {_EXPECTED}; got {dtype} {shape}.")
    if len(shape) != 4:
        hint = "; for one photo pass x[None]" if len(shape) == 3 else ""
        raise ValueError(f"Colorizer expects {_EXPECTED}; got rank {len(shape)} {shape}{hint}.")
    if channels is not None and channels not in (1, 3):  # None: a retraced graph relaxed it
        hint = "; drop the alpha channel with x[..., :-1]" if channels in (2, 4) else ""
        raise ValueError(f"Colorizer expects {_EXPECTED}; got {channels} channels {shape}{hint}.")


def _as_rgb(images):
    """Gray [..., 1] -> [..., 3]; RGB unchanged (also when the channels are not known statically)."""
    images = ops.convert_to_tensor(images)
    if images.shape[-1] == 3:
        return images
    shape = ops.shape(images)
    return ops.broadcast_to(images, (*shape[:-1], 3))


def upsample_axis(x, size, axis: int, start=0, count=None):
    """Bilinear resampling of one axis to `size` (half-pixel centres, edges clamped).

    Returns output positions start .. start + count (default: all) of that
    axis, so a photo can be finished a band of rows at a time with exactly
    the pixels of the whole. `ops.image.resize` refuses a size that is a
    symbolic tensor, which a photo's size is inside the exported graph.
    """
    source = ops.shape(x)[axis]
    count = size if count is None else count
    scale = ops.cast(source, "float32") / ops.cast(size, "float32")
    position = (ops.cast(ops.arange(count) + start, "float32") + 0.5) * scale - 0.5
    position = ops.clip(position, 0.0, ops.cast(source - 1, "float32"))
    low = ops.floor(position)
    fraction = ops.reshape(position - low, [-1 if i == axis else 1 for i in range(4)])
    fraction = ops.cast(fraction, keras.backend.standardize_dtype(x.dtype))  # bfloat16 features stay so
    low = ops.cast(low, "int32")
    high = ops.minimum(low + 1, source - 1)
    return ops.take(x, low, axis=axis) * (1.0 - fraction) + ops.take(x, high, axis=axis) * fraction


@keras.saving.register_keras_serializable(package="keras_colorize")
class ColorizerPreprocessor(keras.layers.Layer):
    """uint8 photos -> (L at their own size, L at the working size).

    Args:
        work_size: the square size the backbone sees (a multiple of 8).

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> pre = kc.layers.ColorizerPreprocessor(work_size=64)
    >>> L, small = pre(np.zeros((2, 301, 199, 3), "uint8"))
    >>> tuple(L.shape), tuple(small.shape)
    ((2, 301, 199, 1), (2, 64, 64, 1))
    """

    def __init__(self, work_size: int = WORK_SIZE, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        work_size = int(work_size)
        if work_size < 8 or work_size % 8:
            raise ValueError(f"work_size must be a positive multiple of 8, got {work_size}")
        self.work_size = work_size
        self.built = True

    def lightness(self, images):
        """L [N, H, W, 1] in 0..100 of uint8 photos at their own size."""
        return lightness_from_uint8(_as_rgb(images))

    def work_lightness(self, images):
        """L [N, work_size, work_size, 1]: the photos resized as uint8, then L (as training does)."""
        return lightness_from_uint8(resize_uint8(_as_rgb(images), self.work_size, self.work_size))

    def call(self, images):
        check_photos(images)
        return self.lightness(images), self.work_lightness(images)

    def get_config(self) -> dict:
        return {**super().get_config(), "work_size": self.work_size}


@keras.saving.register_keras_serializable(package="keras_colorize")
class ColorDecoder(keras.layers.Layer):
    """Backbone output -> ab [N, h, w, 2] at the backbone's resolution.

    Args:
        decoding: "annealed_mean" (the paper's), "mean" or "mode".
        temperature: the annealed mean's T (> 0); lower is more vivid.
        regression: the backbone predicts ab itself (`l2`): passed through.

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> probs = np.full((1, 4, 4, 313), 1 / 313, "float32")
    >>> tuple(kc.layers.ColorDecoder(temperature=0.38)(probs).shape)
    (1, 4, 4, 2)
    """

    def __init__(
        self,
        decoding: str = "annealed_mean",
        temperature: float = DEFAULT_TEMPERATURE,
        regression: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if decoding not in DECODINGS:
            raise ValueError(f"Unknown decoding {decoding!r}; use one of {', '.join(DECODINGS)}.")
        check_temperature(temperature)
        self.decoding = decoding
        self.temperature = float(temperature)
        self.regression = bool(regression)
        self.built = True

    def call(self, prediction, temperature=None):
        """`temperature`: None (the layer's), a scalar, or one value per photo ([N])."""
        if self.regression:
            return ops.cast(prediction, "float32")
        if self.decoding != "annealed_mean":
            return decode(prediction, self.decoding)
        return self.decode_log_probabilities(log_probabilities(prediction), temperature)

    def decode_log_probabilities(self, log_probs, temperature=None):
        """ab [N, h, w, 2] from log-probabilities [N, h, w, 313] (up to a per-pixel constant).

        The hook for decoding something other than one frame's distribution
        (a film's log-probabilities smoothed along time, `keras_colorize.video`):
        `call(p)` is `decode_log_probabilities(decoding.log_probabilities(p))`.

        Args:
            log_probs: `decoding.log_probabilities` of the backbone's output, or an average of them.
            temperature: None (the layer's), a scalar, or one value per frame ([N]).

        Example:

        >>> import numpy as np, keras_colorize as kc
        >>> from keras import ops
        >>> from keras_colorize.decoding import log_probabilities
        >>> decoder = kc.layers.ColorDecoder(temperature=0.38)
        >>> probs = np.random.default_rng(0).dirichlet(np.ones(313), (1, 2, 2)).astype("float32")
        >>> ab = decoder.decode_log_probabilities(log_probabilities(probs))
        >>> bool(np.allclose(ops.convert_to_numpy(ab), ops.convert_to_numpy(decoder(probs))))
        True
        """
        if self.regression:
            raise ValueError("The l2 model predicts ab directly; it has no log-probabilities to decode.")
        if temperature is None:
            temperature = self.temperature
        temperature = ops.reshape(ops.cast(temperature, "float32"), (-1, 1, 1, 1))
        return decode_log(log_probs, self.decoding, temperature)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "decoding": self.decoding,
            "temperature": self.temperature,
            "regression": self.regression,
        }


@keras.saving.register_keras_serializable(package="keras_colorize")
class ColorizerPostprocessor(keras.layers.Layer):
    """(L at the photo's size, ab at the backbone's) -> uint8 RGB at the photo's size.

    ab is upsampled bilinearly (half-pixel centres, as `tf.image.resize`) and
    recombined with the photo's own L, so the output keeps its lightness.
    `height` and `top` finish a band of rows of a taller photo with exactly
    the pixels of the whole (the Python API bounds its memory that way).

    Example:

    >>> import keras, numpy as np, keras_colorize as kc
    >>> post = kc.layers.ColorizerPostprocessor()
    >>> rgb = post(np.full((1, 301, 199, 1), 50.0, "float32"), np.zeros((1, 16, 16, 2), "float32"))
    >>> tuple(rgb.shape), keras.backend.standardize_dtype(rgb.dtype)
    ((1, 301, 199, 3), 'uint8')
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.built = True

    @staticmethod
    def upsample(ab, height, width, top=0, rows=None):
        """ab [N, h, w, 2] -> ab [N, rows, width, 2]: rows top.. of the photo's height x width."""
        ab = ops.convert_to_tensor(ab, "float32")
        return upsample_axis(upsample_axis(ab, height, axis=1, start=top, count=rows), width, axis=2)

    @staticmethod
    def recombine(lightness, ab):
        """L [N, H, W, 1] and ab [N, H, W, 2] (same size) -> uint8 RGB [N, H, W, 3]."""
        lightness = ops.convert_to_tensor(lightness, "float32")
        rgb = lab_to_rgb(ops.concatenate([lightness, ops.convert_to_tensor(ab, "float32")], axis=-1))
        return ops.cast(ops.round(rgb * 255.0), "uint8")

    def call(self, lightness, ab, height=None, top=0):
        shape = ops.shape(lightness)
        full = self.upsample(ab, shape[1] if height is None else height, shape[2], top, shape[1])
        return self.recombine(lightness, full)


def colorize_rows(rgb, ab, height, top):
    """Rows of photos and their decoded ab -> those rows colorized, at the photos' own resolution.

    The photos' own L, the ab upsampled (bilinear) to the full photo's
    `height` x width and cut to the rows top .. top + rows, then Lab -> RGB;
    bands of rows give exactly the pixels of the whole photo.

    Args:
        rgb: uint8 rows [N, rows, W, 1 | 3] starting at row `top` of photos `height` rows high.
        ab: the decoded ab [N, h, w, 2] of the whole photos (at the network's resolution).
        height: the whole photos' height (an int or an int32 scalar tensor).
        top: the first row of `rgb` in the whole photos.

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> rows = kc.layers.colorize_rows(np.full((1, 10, 20, 3), 128, "uint8"), np.zeros((1, 4, 4, 2)), 40, 30)
    >>> tuple(rows.shape), int(rows[0, 0, 0, 0])
    ((1, 10, 20, 3), 128)
    """
    lightness = lightness_from_uint8(_as_rgb(rgb))
    shape = ops.shape(lightness)
    full = ColorizerPostprocessor.upsample(ab, height, shape[2], top, shape[1])
    return ColorizerPostprocessor.recombine(lightness, full)


def check_temperature(temperature) -> None:
    """ValueError unless every temperature is > 0 (NumPy values only)."""
    if not np.all(np.asarray(temperature, dtype=np.float64) > 0):
        raise ValueError(f"temperature must be > 0, got {temperature}")
