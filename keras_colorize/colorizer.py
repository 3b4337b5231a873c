"""Colorize photos from Python: `Colorizer(model).colorize(photo)`.

A photo's own lightness is kept at full resolution; only ab is predicted, at
the working size, by `keras_colorize.inference` (the path evaluation and the
SavedModel use too), upsampled and recombined with it. The same Colorizer
wraps a `.keras` model or a SavedModel written by `keras_colorize.export`
(through its `ab` and `distribution` signatures, so results are identical).
"""

import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_colorize.decoding import DEFAULT_TEMPERATURE
from keras_colorize.images import UnreadableImageError, image_from_bytes, too_large_message
from keras_colorize.inference import (
    COLORIZE_MAX_PIXELS,
    WORK_SIZE,
    predict_ab,
    predict_ab_small,
    recombine,
    to_photo_size,
    to_work_size,
)
from keras_colorize.model import is_regression
from keras_colorize.preprocessing import lightness_from_uint8

_STRIP_PIXELS = 1 << 20


def _check_temperature(temperature) -> None:
    if not np.all(np.asarray(temperature, dtype=np.float64) > 0):
        raise ValueError(f"temperature must be > 0, got {temperature}")


def _as_uint8_rgb(array: np.ndarray, name: str) -> np.ndarray:
    """A photo array (gray, gray+alpha, RGB, RGBA; uint8 or float in [0, 1]) -> uint8 RGB."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        raise UnreadableImageError(f"{name}: expected an [H, W], [H, W, 1|2|3|4] photo, got {array.shape}")
    if array.dtype == np.uint8:
        pass
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise UnreadableImageError(f"{name}: float photos must hold finite values in [0, 1]")
        array = np.round(array * 255.0).astype(np.uint8)
    else:
        raise UnreadableImageError(f"{name}: unsupported dtype {array.dtype} (use uint8 or float in [0, 1])")
    if array.shape[-1] in (2, 4):  # drop alpha: only the lightness is used
        array = array[..., :-1]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array


class Colorizer:
    """Colorize photos with a trained model.

    Args:
        model: a `keras.Model`, a `.keras` file, a model directory holding
            `model.keras`, or a SavedModel from `keras_colorize.export` (its
            version directory, or the base directory: the highest version).
        work_size: the square size the network sees. A SavedModel has its own,
            fixed at export.
        max_pixels: larger photos are refused with `UnreadableImageError`.

    `model.predict(L)` on the `.keras` model itself keeps working for L
    batches; the Colorizer adds decoding, resizing and recombination.
    """

    def __init__(
        self,
        model: str | os.PathLike | keras.Model,
        work_size: int = WORK_SIZE,
        max_pixels: int = COLORIZE_MAX_PIXELS,
    ):
        self.work_size = work_size
        self.max_pixels = max_pixels
        self.model = None
        self.saved_model = None
        if isinstance(model, keras.Model):
            self.model = model
            return
        path = os.fspath(model)
        if os.path.isdir(path):
            path = _resolve_model_dir(path)
        if os.path.isdir(path):
            self.saved_model = tf.saved_model.load(path)
            self._signatures = self.saved_model.signatures
        elif os.path.isfile(path):
            self.model = keras.models.load_model(path, compile=False)
        else:
            raise FileNotFoundError(f"No model at {path}")

    @property
    def regression(self) -> bool:
        if self.model is not None:
            return is_regression(self.model)
        return "distribution" not in self._signatures

    def predict_ab(self, L, temperature=DEFAULT_TEMPERATURE) -> np.ndarray:
        """L [N, H, W, 1] in 0..100 -> ab [N, H, W, 2] (annealed mean)."""
        L = np.asarray(L, dtype=np.float32)
        temperature = np.broadcast_to(np.asarray(temperature, np.float32), (L.shape[0],))
        _check_temperature(temperature)
        if self.model is None:
            outputs = self._signatures["ab"](L=tf.constant(L), temperature=tf.constant(temperature))
            return outputs["ab"].numpy()
        return ops.convert_to_numpy(predict_ab(self.model, L, temperature, self.work_size))

    def distribution(self, L) -> np.ndarray:
        """L [N, H, W, 1] -> probabilities [N, work/4, work/4, 313].

        The photo is first resized to the working size (as for colorizing), so
        for 256 x 256 inputs these are the model's outputs as trained.
        """
        if self.regression:
            raise ValueError("The l2 model predicts ab directly; it has no distribution over bins.")
        L = np.asarray(L, dtype=np.float32)
        if self.model is None:
            return self._signatures["distribution"](L=tf.constant(L))["probs"].numpy()
        return ops.convert_to_numpy(self.model(to_work_size(L, self.work_size), training=False))

    def load(self, image, name: str | None = None) -> np.ndarray:
        """A path, encoded bytes or an array -> uint8 RGB [H, W, 3], or `UnreadableImageError`."""
        if isinstance(image, (str, os.PathLike)):
            name = name or os.fspath(image)
            try:
                with open(image, "rb") as file:
                    image = file.read()
            except OSError as error:
                raise UnreadableImageError(f"{name}: cannot read ({error.strerror})") from None
        if isinstance(image, (bytes, bytearray, memoryview)):
            return image_from_bytes(bytes(image), name or "<bytes>", self.max_pixels)
        rgb = _as_uint8_rgb(image, name or "<array>")
        if rgb.shape[0] * rgb.shape[1] > self.max_pixels:
            raise UnreadableImageError(
                too_large_message(name or "<array>", rgb.shape[1], rgb.shape[0], self.max_pixels)
            )
        return rgb

    def colorize(self, images, temperature: float = DEFAULT_TEMPERATURE, batch_size: int = 8):
        """Colorize one photo or a list of them, at full resolution.

        Args:
            images: a path, encoded bytes, an array ([H, W], [H, W, C]; uint8
                or float in [0, 1]), a [N, H, W, C] array, or a list of these.
            temperature: annealed-mean temperature (> 0); lower is more vivid.
            batch_size: photos per forward pass (all are resized to the
                working size, so photos of any size batch together).

        Returns:
            uint8 RGB [H, W, 3] per photo: an array for a single photo, a list
            for a list, [N, H, W, 3] for a 4-D array.
        """
        _check_temperature(temperature)
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return np.stack(self.colorize(list(images), temperature, batch_size))
        single = not isinstance(images, Sequence) or isinstance(images, (str, bytes, bytearray))
        items = [images] if single else list(images)
        names = [
            None if isinstance(item, (str, os.PathLike)) else f"image {i}" for i, item in enumerate(items)
        ]
        outputs = []
        for start in range(0, len(items), batch_size):  # decode one batch at a time
            batch = range(start, min(start + batch_size, len(items)))
            outputs.extend(self._colorize_batch([self.load(items[i], names[i]) for i in batch], temperature))
        return outputs[0] if single else outputs

    def _colorize_batch(self, rgbs: list[np.ndarray], temperature: float) -> list[np.ndarray]:
        lightnesses = [lightness_from_uint8(rgb[None]) for rgb in rgbs]
        if self.model is None:  # through the SavedModel's `ab` signature, one photo at a time
            return [_recombine_in_strips(L, self.predict_ab(L, temperature)) for L in lightnesses]
        small = ops.concatenate([to_work_size(L, self.work_size) for L in lightnesses], axis=0)
        temperatures = np.full((len(rgbs),), temperature, np.float32)
        ab_small = predict_ab_small(self.model, small, temperatures)
        # Full-size ab one photo at a time, so only one photo's float temporaries are held.
        return [
            _recombine_in_strips(L, to_photo_size(ab_small[i : i + 1], *rgb.shape[:2]))
            for i, (L, rgb) in enumerate(zip(lightnesses, rgbs, strict=True))
        ]


def _recombine_in_strips(L, ab) -> np.ndarray:
    """`recombine` one photo a band of rows at a time (it is per pixel, so exact).

    Bounds the float temporaries of Lab -> RGB to ~1 megapixel whatever the photo's size.
    """
    width = L.shape[2]
    rows = max(1, _STRIP_PIXELS // width)
    bands = [recombine(L[:, top : top + rows], ab[:, top : top + rows]) for top in range(0, L.shape[1], rows)]
    return np.concatenate([ops.convert_to_numpy(band)[0] for band in bands], axis=0)


def _resolve_model_dir(path: str) -> str:
    """A directory -> its model.keras, itself (a SavedModel) or its highest version."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if os.path.isfile(os.path.join(path, "model.keras")):
        return os.path.join(path, "model.keras")
    versions = [int(v) for v in os.listdir(path) if v.isdigit() and os.path.isdir(os.path.join(path, v))]
    if versions:
        return os.path.join(path, str(max(versions)))
    raise FileNotFoundError(f"{path}: no model.keras, saved_model.pb or numbered SavedModel versions in it")
