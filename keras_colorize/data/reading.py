"""Decoding one encoded photo in TensorFlow, shared by the pipeline and its report.

`EpochReport` re-runs exactly these functions on the photos an epoch did
not deliver, so its verdict (unreadable / grayscale / kept) is the
pipeline's own.
"""

import numpy as np
import tensorflow as tf

from keras_colorize.images import UnreadableImageError, decode_image, image_from_bytes

# A photo is "grayscale" when at most GRAY_FRACTION of its pixels have a
# channel spread max(R,G,B) - min(R,G,B) above GRAY_TOLERANCE (of 255): this
# tolerates JPEG chroma noise in gray photos but keeps any visibly coloured one.
GRAY_TOLERANCE = 2
GRAY_FRACTION = 0.01
GRAYSCALE = "grayscale (filtered)"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _pillow_decode(data: np.ndarray) -> np.ndarray:
    return image_from_bytes(data.item() if isinstance(data, np.ndarray) else data)


def decode_any(data) -> tf.Tensor:
    """Encoded bytes -> uint8 [H, W, 3]; TIFF (sniffed by content) goes through Pillow."""
    magic = tf.strings.substr(data, 0, 4)
    is_tiff = tf.reduce_any(tf.equal(magic, _TIFF_MAGIC))

    def pillow():
        image = tf.numpy_function(_pillow_decode, [data], tf.uint8, stateful=False)
        return tf.ensure_shape(image, [None, None, 3])

    return tf.cond(is_tiff, pillow, lambda: decode_image(data))


def is_grayscale(image) -> tf.Tensor:
    """True for photos without colour (see GRAY_TOLERANCE)."""
    spread = tf.reduce_max(image, axis=-1) - tf.reduce_min(image, axis=-1)
    coloured = tf.reduce_mean(tf.cast(spread > GRAY_TOLERANCE, tf.float32))
    return coloured <= GRAY_FRACTION


def verdict(data: bytes | OSError, name: str, skip_grayscale: bool) -> str | None:
    """Why the pipeline drops this photo ("unreadable: ..." / "grayscale (filtered)"), or None if it keeps it.

    The cause of an unreadable photo is Pillow's explanation when Pillow
    cannot read it either, else TensorFlow's.
    """
    if isinstance(data, OSError):
        return f"unreadable: cannot read ({data.strerror or data})"
    try:
        image = decode_any(tf.constant(data))
    except (tf.errors.OpError, UnreadableImageError) as error:
        try:
            image_from_bytes(data, name)
        except UnreadableImageError as problem:
            return "unreadable: " + str(problem).removeprefix(f"{name}: ")
        detail = getattr(error, "message", str(error)).strip().splitlines()[0]
        return f"unreadable: TensorFlow cannot decode it ({detail})"
    if skip_grayscale and bool(is_grayscale(image)):
        return GRAYSCALE
    return None
