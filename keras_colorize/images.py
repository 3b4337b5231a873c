"""Reading photos: whatever the file holds, 3-channel uint8 RGB comes out.

Two readers share one contract. `decode_image` is TensorFlow ops (JPEG, PNG,
GIF, BMP, WebP), usable in tf.data and in exported graphs. `load_image` is
the Python path for files (adds TIFF, applies EXIF orientation) and raises
`UnreadableImageError` naming the file and the problem.
"""

import io
import os
import threading
from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# Photos above this many pixels are refused everywhere (training data, Python,
# CLI, SavedModel), on the size their header declares, before any pixel is
# decoded: bench/inference.py measured ~70 bytes per pixel in the exported
# graph, so one photo at the limit needs ~3 GB on top of the loaded model.
MAX_PIXELS = 50_000_000


_PILLOW_LIMIT_LOCK = threading.Lock()
# The first bytes of the formats whose truncation is named in the message.
_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"RIFF", "WebP"))


class UnreadableImageError(ValueError):
    """A file or byte string that is not a decodable image."""


def decode_image(data):
    """Encoded bytes (scalar string tensor) -> uint8 [H, W, 3] tensor.

    Gray, gray+alpha, RGBA, palette and 16-bit images become 8-bit RGB; an
    animated GIF gives its first frame.
    """
    import tensorflow as tf

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

    The size is checked on the header, before any pixel is decoded, with the
    same message as the SavedModel's (Pillow's own decompression-bomb check is
    off while opening: ours is the stricter one).
    """
    if not data:
        raise UnreadableImageError(f"{name}: empty file")
    try:
        with _PILLOW_LIMIT_LOCK:
            limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                image = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = limit
        with image:
            if image.width * image.height > max_pixels:
                raise UnreadableImageError(too_large_message(name, image.width, image.height, max_pixels))
            image.seek(0)
            return _to_rgb(image)
    except UnidentifiedImageError:
        raise UnreadableImageError(f"{name}: not an image (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, UnreadableImageError):
            raise
        detail = str(error)
        # Pillow: "image file is truncated (2 bytes not processed)", or "Truncated File Read" when the
        # file ends inside a JPEG's header
        if "truncated" in detail.lower():
            kind = next((name for magic, name in _SIGNATURES if data.startswith(magic)), "image")
            detail = f"truncated {kind}: the file ends before its image data does, only {len(data):,} bytes"
        raise UnreadableImageError(f"{name}: corrupt or truncated image ({detail})") from None


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo file -> uint8 [H, W, 3], EXIF orientation applied."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise UnreadableImageError(f"{path}: cannot read ({error.strerror})") from None
    return image_from_bytes(data, str(path))


def readable_images(files: list[str], unreadable: list[str]):
    """(index, path, uint8 RGB) of each readable file; the others' errors are logged and appended."""
    from absl import logging

    for index, path in enumerate(files):
        try:
            rgb = load_image(path)
        except UnreadableImageError as error:
            logging.warning("Skipping unreadable photo: %s", error)
            unreadable.append(str(error))
        else:
            yield index, path, rgb


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
