"""Photos that cannot be used are skipped, counted and named with their reason, never fatal.

Shared by `evaluate` (and so the study) and `colorize_legacy`: a file that
cannot be read (corrupt, truncated, empty, not an image), a photo over the
megapixel limit, or one the model refuses is recorded and the run goes on.
"""

import collections
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf
from absl import logging

from keras_colorize.images import UnreadableImageError, load_image
from keras_colorize.photo_files import skip_kind

# What a single photo may raise without stopping a run: unreadable or too large
# (UnreadableImageError is a ValueError), refused by the Colorizer (ValueError),
# out of memory (MemoryError, TensorFlow's ResourceExhaustedError), or a kernel
# refusing its shape (other tf.errors.OpError).
SKIPPABLE = (ValueError, MemoryError, tf.errors.OpError)


class Skips:
    """The skipped photos of one run: file, kind (e.g. "too large") and reason."""

    def __init__(self):
        self.entries: list[dict] = []

    def add(self, path: str, error: BaseException) -> None:
        """Record `path` as skipped because of `error` (its first line is the reason).

        Args:
            path: the photo's file.
            error: what loading or processing it raised.
        """
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if not isinstance(error, UnreadableImageError):
            message = f"{path}: {type(error).__name__}: {message}"
        logging.warning("Skipping photo: %s", message)
        self.entries.append({"file": str(path), "kind": skip_kind(message), "reason": message})

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def messages(self) -> list[str]:
        return [entry["reason"] for entry in self.entries]

    def by_kind(self) -> dict[str, int]:
        """{kind: count}, e.g. {"corrupt or truncated": 1, "too large": 1}."""
        return dict(sorted(collections.Counter(entry["kind"] for entry in self.entries).items()))

    def summary(self) -> str:
        """ "2 skipped (1 corrupt or truncated, 1 too large)" or "none skipped"."""
        if not self.entries:
            return "none skipped"
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.by_kind().items())
        return f"{len(self.entries)} skipped ({kinds})"

    def to_json(self) -> dict:
        """The metrics.json fields: num_skipped, skipped_by_kind, skipped."""
        return {"num_skipped": len(self.entries), "skipped_by_kind": self.by_kind(), "skipped": self.entries}

    def readable(
        self, files: list[str], load: Callable[[str], np.ndarray] = load_image
    ) -> Iterator[tuple[int, str, np.ndarray]]:
        """(index, path, uint8 RGB) of every file `load` can read; the others are recorded.

        Args:
            files: photo files, in order.
            load: path -> uint8 RGB [H, W, 3] (raises on an unusable photo).
        """
        for index, path in enumerate(files):
            try:
                rgb = load(path)
            except SKIPPABLE as error:
                self.add(path, error)
            else:
                yield index, path, rgb
