"""Where the photos come from: image files or TFRecord shards.

A source list resolves to one of two catalogs with a common interface: the
global indices in this worker's shard, a name per index, the stream of
(index, encoded bytes) in the order an epoch visits them, that order alone,
and the bytes of given indices. `make_dataset` decodes the stream, and
`EpochReport` replays the order and reads back the photos an epoch did not
deliver, so the two always agree on what the epoch held.

Visiting orders depend only on the seed: file lists are permuted with NumPy,
and TFRecord streams are rebuilt with the same seeded tf.data shuffles.

TFRecord shards are scanned once: `make_tfrecords` writes an index beside
each shard (`<shard>.index.json`: its size in bytes and the (index, name) of
every record in file order), and a shard without one (or whose size no longer
matches it) is scanned once per process, with a log line, and remembered. The
visiting order is then rebuilt from the indices alone, and reading back
skipped photos reads only the shards that hold them.
"""

import json
import os
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from keras_colorize.images import IMAGE_EXTENSIONS, list_images

# The tf.train.Example layout written by `make_tfrecords`.
RECORD_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "index": tf.io.FixedLenFeature([], tf.int64),
    "name": tf.io.FixedLenFeature([], tf.string),
}
_GLOB_CHARS = "*?["
RECORD_SHUFFLE_BUFFER = 1024
INDEX_SUFFIX = ".index.json"
_SCANNED: dict[tuple[str, int, int], tuple[np.ndarray, list[str]]] = {}  # (path, size, mtime) -> records


def index_path(shard_file: str) -> str:
    """Where the index of a TFRecord shard lives."""
    return shard_file + INDEX_SUFFIX


def write_index(shard_file: str, records: Sequence[tuple[int, str]]) -> str:
    """Write the index of a finished shard: its size and its records' (index, name) in file order.

    Args:
        shard_file: the closed TFRecord file.
        records: (index, name) of each record, in the order they were written.
    """
    path = index_path(shard_file)
    content = {
        "version": 1,
        "bytes": tf.io.gfile.stat(shard_file).length,
        "records": [list(r) for r in records],
    }
    with tf.io.gfile.GFile(path + ".tmp", "w") as file:
        json.dump(content, file)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    return path


def _read_index(shard_file: str, size: int) -> tuple[np.ndarray, list[str]] | None:
    """The shard's index if it exists and matches the shard's size (else None, with a warning)."""
    path = index_path(shard_file)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as file:
        content = json.load(file)
    if content.get("bytes") != size:
        logging.warning("%s does not match its shard (%s bytes, the index says %s): scanning the shard",
                        path, size, content.get("bytes"))  # fmt: skip
        return None
    records = content["records"]
    return np.array([r[0] for r in records], dtype=np.int64), [r[1] for r in records]


def _scan_shard(shard_file: str) -> tuple[np.ndarray, list[str]]:
    """One pass over a shard without its images: (indices, names) in file order."""
    indices, names = [], []
    for record in tf.data.TFRecordDataset(shard_file).map(_parse_without_image):
        indices.append(int(record["index"]))
        names.append(record["name"].numpy().decode("utf-8", "replace"))
    return np.array(indices, dtype=np.int64), names


def shard_records(shard_file: str) -> tuple[np.ndarray, list[str]]:
    """(indices, names) of a shard's records in file order: its index, else one scan per process."""
    stat = tf.io.gfile.stat(shard_file)
    key = (shard_file, stat.length, stat.mtime_nsec)
    if key not in _SCANNED:
        found = _read_index(shard_file, stat.length)
        if found is None:
            logging.info("%s has no index (make_tfrecords writes one): scanned it once", shard_file)
            found = _scan_shard(shard_file)
        _SCANNED[key] = found
    return _SCANNED[key]


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
        self._records_of_files: list[tuple[np.ndarray, list[str]]] | None = None
        self._names: dict[int, str] | None = None

    def _visit(self, per_file, items: Sequence, training: bool, seed: int) -> tf.data.Dataset:
        """This shard's elements in visiting order; `per_file(item)` is the dataset of one file's."""
        cycle = min(8, len(self.files))
        order = np.arange(len(self.files))
        if training and (self.shard is None or self.by_file):
            order = np.random.default_rng(seed).permutation(len(self.files))
        elements = tf.data.Dataset.from_tensor_slices(np.asarray(items)[order]).interleave(
            per_file, cycle_length=cycle, block_length=1, num_parallel_calls=cycle, deterministic=True
        )
        if self.shard is not None and not self.by_file:
            elements = elements.shard(*self.shard)
        if training:
            elements = elements.shuffle(RECORD_SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=False)
        return elements

    def stream(self, training: bool, seed: int) -> tf.data.Dataset:
        records = self._visit(tf.data.TFRecordDataset, self.files, training, seed)
        return records.map(parse_record, num_parallel_calls=tf.data.AUTOTUNE)

    @property
    def records_of_files(self) -> list[tuple[np.ndarray, list[str]]]:
        """(indices, names) of each file's records in file order (indexes, or one scan)."""
        if self._records_of_files is None:
            self._records_of_files = [shard_records(f) for f in self.files]
        return self._records_of_files

    @property
    def names(self) -> dict[int, str]:
        if self._names is None:
            every = {}
            for indices, names in self.records_of_files:
                every.update(zip(indices.tolist(), names, strict=True))
            self._names = {int(i): every[int(i)] for i in self.order(False, 0)}
        return self._names

    @property
    def indices(self) -> np.ndarray:
        return np.fromiter(self.names, dtype=np.int64, count=len(self.names))

    def name(self, index: int) -> str:
        return self.names[index]

    def order(self, training: bool, seed: int) -> np.ndarray:
        """Global indices in the order an epoch visits them, from the indexes (no shard is read)."""
        per_file = [indices for indices, _ in self.records_of_files]
        splits = tf.constant(np.cumsum([0, *map(len, per_file)]), tf.int64)
        flat = tf.constant(np.concatenate(per_file) if per_file else np.zeros(0, np.int64), tf.int64)

        def of_file(position):
            return tf.data.Dataset.from_tensor_slices(flat[splits[position] : splits[position + 1]])

        visited = self._visit(of_file, np.arange(len(self.files)), training, seed)
        return np.fromiter(visited.as_numpy_iterator(), dtype=np.int64)

    def read(self, indices: Iterable[int]) -> dict[int, bytes]:
        """Encoded bytes of the given records, reading only the shards that hold them."""
        wanted = {int(i) for i in indices}
        found: dict[int, bytes] = {}
        for path, (file_indices, _) in zip(self.files, self.records_of_files, strict=True):
            if not wanted.intersection(file_indices.tolist()):
                continue
            for record in tf.data.TFRecordDataset(path).map(_parse):
                index = int(record["index"])
                if index in wanted:
                    found[index] = record["image"].numpy()
        return found


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
            matches = sorted(m for m in tf.io.gfile.glob(pattern) if not m.endswith(INDEX_SUFFIX))
            if not matches:
                raise FileNotFoundError(f"No TFRecord files match {pattern}")
            files.extend(matches)
        return RecordCatalog(files, shard)
    paths = list_images(sources)
    if not paths:
        raise FileNotFoundError(f"No photos ({' '.join(IMAGE_EXTENSIONS)}) in {sources}")
    return FileCatalog(paths, shard)
