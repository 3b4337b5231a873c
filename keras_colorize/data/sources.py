"""Where the photos come from: image files or TFRecord shards.

A source list resolves to one of two catalogs with a common interface: the
global indices in this worker's shard, a name per index, the stream of
(index, encoded bytes) in the order an epoch visits them, that order alone,
and the bytes of given indices. `make_dataset` decodes the stream, and
`EpochReport` replays the order and reads back the photos an epoch did not
deliver, so the two always agree on what the epoch held.

Visiting orders depend only on the seed: file lists are permuted with NumPy,
and TFRecord streams are rebuilt with the same seeded tf.data shuffles.
"""

import os
from collections.abc import Collection, Iterable, Sequence

import numpy as np
import tensorflow as tf

from keras_colorize.images import IMAGE_EXTENSIONS, list_images

# The tf.train.Example layout written by `make_tfrecords`.
RECORD_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "index": tf.io.FixedLenFeature([], tf.int64),
    "name": tf.io.FixedLenFeature([], tf.string),
}
_GLOB_CHARS = "*?["
RECORD_SHUFFLE_BUFFER = 1024


def is_tfrecord_source(source: str) -> bool:
    """Shards are files named "*.tfrecord*", or glob patterns (which match no photo file or folder)."""
    if os.path.isdir(source):
        return False
    name = os.path.basename(source)
    return ".tfrecord" in name or (not os.path.exists(source) and any(c in source for c in _GLOB_CHARS))


def check_shard(shard: tuple[int, int] | None) -> None:
    if shard is None:
        return
    num_shards, index = shard
    if num_shards < 1 or not 0 <= index < num_shards:
        raise ValueError(f"shard must be (num_shards >= 1, 0 <= index < num_shards), got {shard}.")


class FileCatalog:
    """Photo files; the global index of a file is its position in the sorted list of all sources."""

    def __init__(self, paths: Sequence[str], shard: tuple[int, int] | None):
        self.all_paths = list(paths)
        selected = np.arange(len(self.all_paths), dtype=np.int64)
        if shard is not None:
            selected = selected[shard[1] :: shard[0]]
        self.indices = selected
        self.paths = [self.all_paths[i] for i in selected]

    def name(self, index: int) -> str:
        return self.all_paths[index]

    def order(self, training: bool, seed: int) -> np.ndarray:
        """Global indices in the order an epoch visits them."""
        if not training:
            return self.indices
        return self.indices[np.random.default_rng(seed).permutation(len(self.indices))]

    def stream(self, training: bool, seed: int) -> tf.data.Dataset:
        order = self.order(training, seed)
        files = tf.data.Dataset.from_tensor_slices((order, [self.all_paths[i] for i in order]))
        return files.map(lambda i, path: (i, tf.io.read_file(path)), num_parallel_calls=tf.data.AUTOTUNE)

    def read(self, indices: Iterable[int]) -> dict[int, bytes | OSError]:
        """Encoded bytes of the given files (or the OSError that reading raised)."""
        found = {}
        for index in indices:
            try:
                with open(self.all_paths[index], "rb") as file:
                    found[index] = file.read()
            except OSError as error:
                found[index] = error
        return found


class RecordCatalog:
    """TFRecord shards. Records are indexed by their "index" feature.

    Under multi-worker sharding, a worker takes whole shard files when their
    number is a multiple of the number of workers (no worker reads another's
    files), otherwise every n-th record of the files read in a fixed order.
    Training shuffles the file order, interleaves up to 8 files and shuffles
    records in a buffer of RECORD_SHUFFLE_BUFFER.
    """

    paths = None

    def __init__(self, files: Sequence[str], shard: tuple[int, int] | None):
        self.files = sorted(files)
        self.by_file = shard is not None and len(self.files) % shard[0] == 0
        self.shard = shard
        if self.by_file:
            self.files = self.files[shard[1] :: shard[0]]
        self._names: dict[int, str] | None = None

    def _records(self, training: bool, seed: int) -> tf.data.Dataset:
        """This shard's serialized records in visiting order."""
        cycle = min(8, len(self.files))
        if training and (self.shard is None or self.by_file):
            files = np.asarray(self.files)[np.random.default_rng(seed).permutation(len(self.files))]
            records = tf.data.Dataset.from_tensor_slices(files).interleave(
                tf.data.TFRecordDataset, cycle_length=cycle, num_parallel_calls=cycle, deterministic=True
            )
        else:
            records = tf.data.TFRecordDataset(self.files, num_parallel_reads=cycle)
            if self.shard is not None and not self.by_file:
                records = records.shard(*self.shard)
        if training:
            records = records.shuffle(RECORD_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=False)
        return records

    def stream(self, training: bool, seed: int) -> tf.data.Dataset:
        return self._records(training, seed).map(parse_record, num_parallel_calls=tf.data.AUTOTUNE)

    def _scan(self, training: bool = False, seed: int = 0, keep: Collection[int] = ()) -> tuple[list, dict]:
        """One pass: (indices in visiting order, bytes of the records in `keep`); caches the names."""
        keep = set(keep)
        order, data, names = [], {}, {}
        for record in self._records(training, seed).map(_parse if keep else _parse_without_image):
            index = int(record["index"])
            order.append(index)
            names[index] = record["name"].numpy().decode("utf-8", "replace")
            if index in keep:
                data[index] = record["image"].numpy()
        self._names = names
        return order, data

    @property
    def names(self) -> dict[int, str]:
        if self._names is None:
            self._scan()
        return self._names

    @property
    def indices(self) -> np.ndarray:
        return np.fromiter(self.names, dtype=np.int64, count=len(self.names))

    def name(self, index: int) -> str:
        return self.names[index]

    def order(self, training: bool, seed: int) -> np.ndarray:
        return np.asarray(self._scan(training, seed)[0], dtype=np.int64)

    def read(self, indices: Iterable[int]) -> dict[int, bytes]:
        return self._scan(keep=list(indices))[1]


def _parse(record):
    return tf.io.parse_single_example(record, RECORD_FEATURES)


def _parse_without_image(record):
    features = {key: RECORD_FEATURES[key] for key in ("index", "name")}
    return tf.io.parse_single_example(record, features)


def parse_record(record):
    """Serialized tf.train.Example -> (index, encoded image bytes)."""
    example = _parse(record)
    return example["index"], example["image"]


def open_catalog(sources: str | Sequence[str], shard: tuple[int, int] | None = None):
    """Resolve folders / image files / TFRecord patterns to a FileCatalog or RecordCatalog."""
    check_shard(shard)
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    sources = [str(s) for s in sources]
    if not sources:
        raise ValueError("No data sources given.")
    records = [s for s in sources if is_tfrecord_source(s)]
    if records and len(records) != len(sources):
        raise ValueError(
            f"Mix of TFRecord patterns {records} and photo folders/files "
            f"{[s for s in sources if s not in records]}: use one kind per dataset."
        )
    if records:
        files = []
        for pattern in records:
            matches = sorted(tf.io.gfile.glob(pattern))
            if not matches:
                raise FileNotFoundError(f"No TFRecord files match {pattern}")
            files.extend(matches)
        return RecordCatalog(files, shard)
    paths = list_images(sources)
    if not paths:
        raise FileNotFoundError(f"No photos ({' '.join(IMAGE_EXTENSIONS)}) in {sources}")
    return FileCatalog(paths, shard)
