"""Reading photos: whatever the file holds, 3-channel uint8 RGB comes out.

Two readers share one contract. `decode_image` is TensorFlow ops (JPEG, PNG,
GIF, BMP, WebP), usable in tf.data and in exported graphs. `load_image` is
the Python path for files (adds TIFF, applies EXIF orientation) and raises
`UnreadableImageError` naming the file and the problem.
"""

import io
import os
import warnings
from collections.abc import Iterable

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Above this many pixels a photo is refused rather than risking memory (the
# input pipeline's limit; colorizing has a lower one, inference.COLORIZE_MAX_PIXELS).
MAX_PIXELS = 120_000_000


class UnreadableImageError(ValueError):
    """A file or byte string that is not a decodable image."""


def decode_image(data) -> tf.Tensor:
    """Encoded bytes (scalar string tensor) -> uint8 [H, W, 3].

    Gray, gray+alpha, RGBA, palette and 16-bit images become 8-bit RGB; an
    animated GIF gives its first frame.
    """
    # JPEG with the accurate IDCT, as Pillow decodes it: TF's default (fast)
    # differs by up to 8 levels, and `load_image` and this must agree.
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False),
    )
    image.set_shape([None, None, 3])
    return image


def _to_rgb(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        scale = 65535.0 if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / scale * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def too_large_message(name: str, width: int, height: int, max_pixels: int) -> str:
    return (
        f"{name}: too large, {width}x{height} = {width * height / 1e6:.1f} megapixels "
        f"(the limit is {max_pixels / 1e6:g} megapixels)"
    )


def image_from_bytes(data: bytes, name: str = "<bytes>", max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Encoded bytes -> uint8 [H, W, 3] via Pillow, with clear errors.

    The size is checked on the header, before any pixel is decoded.
    """
    if not data:
        raise UnreadableImageError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > max_pixels:
                    raise UnreadableImageError(too_large_message(name, image.width, image.height, max_pixels))
                image.seek(0)
                return _to_rgb(image)
    except Image.DecompressionBombError as error:  # Pillow refuses to even open it
        raise UnreadableImageError(f"{name}: too large ({error})") from None
    except UnidentifiedImageError:
        raise UnreadableImageError(f"{name}: not an image (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, UnreadableImageError):
            raise
        raise UnreadableImageError(f"{name}: corrupt or truncated image ({error})") from None


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo file -> uint8 [H, W, 3], EXIF orientation applied."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise UnreadableImageError(f"{path}: cannot read ({error.strerror})") from None
    return image_from_bytes(data, str(path))


def list_images(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Photo files under the given files or folders (recursive, sorted)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found = []
    for path in map(str, paths):
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found.extend(
                    os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)
                )
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")
    return found
