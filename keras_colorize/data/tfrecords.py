"""TFRecord shards of photo folders for `make_dataset` (the library of `make_tfrecords`).

Each record is a tf.train.Example with "image" (the file's own bytes, or a
PNG re-encoding when TensorFlow cannot decode the original, e.g. TIFF),
"index" (the photo's position in the sorted file list, the same index
`make_dataset` gives when reading the folders) and "name" (its path relative
to its input folder). Photos are spread over the shards in a seeded random
order, so each shard mixes all folders. Unreadable files are left out and
listed. Beside each shard goes its index (`data.sources.write_index`), so
training never scans the shards to count or order them.
"""

import concurrent.futures
import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from keras_colorize.data.sources import write_index
from keras_colorize.images import UnreadableImageError, decode_image, image_from_bytes, list_images


@dataclasses.dataclass
class WriteSummary:
    pattern: str  # what to pass to make_dataset
    files: list[str]
    written: int
    skipped: dict[str, str]  # name -> problem

    def message(self) -> str:
        text = f"Wrote {self.written} photos to {len(self.files)} shards"
        text += f" ({self.pattern})"
        if self.skipped:
            names = ", ".join(f"{name} ({problem})" for name, problem in self.skipped.items())
            text += f"; skipped {len(self.skipped)} unreadable: {names}"
        return text + "."


def _relative_names(inputs: Sequence[str], paths: Sequence[str]) -> list[str]:
    """Paths relative to the input folder (to their common folder when there are several)."""
    folders = [os.path.abspath(i) for i in inputs if os.path.isdir(i)]
    base = os.path.commonpath(folders) if folders else None
    names = []
    for path in paths:
        absolute = os.path.abspath(path)
        inside = base is not None and any(absolute.startswith(os.path.join(f, "")) for f in folders)
        names.append(os.path.relpath(absolute, base) if inside else os.path.basename(path))
    return names


def _encoded(path: str, name: str) -> bytes:
    """Bytes TensorFlow can decode: the file itself, or a PNG of what Pillow reads from it."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise UnreadableImageError(f"{name}: cannot read ({error.strerror})") from None
    try:
        decode_image(tf.constant(data))
        return data
    except tf.errors.OpError:
        return tf.io.encode_png(image_from_bytes(data, name)).numpy()


def _example(data: bytes, index: int, name: str) -> bytes:
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
        "index": tf.train.Feature(int64_list=tf.train.Int64List(value=[index])),
        "name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode("utf-8")])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecords(
    inputs: str | Sequence[str], output_prefix: str, num_shards: int, seed: int = 0
) -> WriteSummary:
    """Write the photos under `inputs` to `num_shards` files "<output_prefix>-SSSSS-of-NNNNN.tfrecord".

    Each shard gets its index beside it ("<shard>.index.json").

    Args:
        inputs: photo folders (searched recursively) or files.
        output_prefix: path prefix of the shard files.
        num_shards: how many files.
        seed: seed of the order in which photos are spread over the shards.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}.")
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    paths = list_images(inputs)
    if not paths:
        raise FileNotFoundError(f"No photos in {inputs}")
    names = _relative_names(inputs, paths)
    folder = os.path.dirname(output_prefix)
    if folder:
        os.makedirs(folder, exist_ok=True)
    files = [f"{output_prefix}-{s:05d}-of-{num_shards:05d}.tfrecord" for s in range(num_shards)]
    order = np.random.default_rng(seed).permutation(len(paths))
    skipped, written = {}, 0
    records: list[list[tuple[int, str]]] = [[] for _ in files]

    def encode(index: int) -> tuple[int, bytes | UnreadableImageError]:
        try:
            return index, _encoded(paths[index], names[index])
        except UnreadableImageError as error:
            return index, error

    writers = [tf.io.TFRecordWriter(f) for f in files]
    try:
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            for position, (index, data) in enumerate(pool.map(encode, order.tolist())):
                if isinstance(data, UnreadableImageError):
                    skipped[names[index]] = str(data).removeprefix(f"{names[index]}: ")
                    continue
                writers[position % num_shards].write(_example(data, index, names[index]))
                records[position % num_shards].append((index, names[index]))
                written += 1
    finally:
        for writer in writers:
            writer.close()
    for path, shard_records in zip(files, records, strict=True):
        write_index(path, shard_records)
    return WriteSummary(
        f"{output_prefix}-*-of-{num_shards:05d}.tfrecord", files, written, dict(sorted(skipped.items()))
    )
