"""The tf.data input pipeline: encoded photos -> square uint8 RGB crops.

Only decoding and geometry happen here, on the CPU in parallel. The Lab
conversion and soft encoding of the targets run in the trainer's compiled
step (`keras_colorize.preprocessing.training_pair`), batched on the device.

Training crops follow the usual scale augmentation: the photo is scaled so
its short side is uniform in [S, MAX_SCALE * S] and a random S x S square is
cut from it, then flipped left-right with probability 1/2. (Cutting the
matching square from the original and resizing only that is the same thing,
and cheaper.) Evaluation crops scale the short side to S and keep the centre
square. Photos smaller than S are scaled up.

Files that fail to decode are dropped by `ignore_errors` and named by the
`EpochReport` at the end of the epoch, never silently. The report (and the
trainer's mid-epoch resume) rely on the visiting order being a function of
the seed (see `sources`) and on every stage keeping it (`deterministic=True`):
do not turn tf.data determinism off (`bench/data_pipeline.py --trials`
measured what it would buy: nothing beyond the noise, docs/performance.md).
With tf.data service the order is the workers'; the report then accounts
for complete epochs from the photos not seen.
"""

import functools

import numpy as np
import tensorflow as tf

from keras_colorize.data.reading import decode_any, is_grayscale
from keras_colorize.data.report import EpochReport
from keras_colorize.data.sources import open_catalog
from keras_colorize.layers import resize_uint8

MAX_SCALE = 1.25


def center_crop(image, size: int) -> tf.Tensor:
    """Evaluation crop: the centre square, scaled to size x size (`resize_uint8`, as the Colorizer)."""
    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    return resize_uint8(image[top : top + side, left : left + side], size, size)


def crop_window(shape, size: int, seed) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """(top, left, side, flip) of a training crop of a photo of `shape` [H, W, ...]; `seed` is stateless.

    The square's side is the photo's short side scaled to [1, MAX_SCALE] x `size`.
    """
    scale_seed, top_seed, left_seed, flip_seed = tf.unstack(tf.random.split(seed, 4))
    short = tf.cast(tf.minimum(shape[0], shape[1]), tf.float32)
    target_short = tf.random.stateless_uniform([], scale_seed, size, MAX_SCALE * size)
    side = tf.cast(tf.round(size * short / target_short), tf.int32)
    side = tf.clip_by_value(side, 1, tf.cast(short, tf.int32))
    top = tf.random.stateless_uniform([], top_seed, 0, shape[0] - side + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], left_seed, 0, shape[1] - side + 1, dtype=tf.int32)
    flip = tf.random.stateless_uniform([], flip_seed) < 0.5
    return top, left, side, flip


def random_crop(image, size: int, seed) -> tf.Tensor:
    """Training crop: scale in [1, MAX_SCALE], random square, random flip; `seed` is a stateless seed."""
    top, left, side, flip = crop_window(tf.shape(image), size, seed)
    patch = image[top : top + side, left : left + side]
    patch = tf.cond(flip, lambda: tf.reverse(patch, axis=[1]), lambda: patch)
    return resize_uint8(patch, size, size)


def service_address(address: str) -> str:
    """ "grpc://HOST:PORT" or "HOST:PORT" -> "grpc://HOST:PORT"; ValueError naming a bad one.

    Example:

    >>> service_address("localhost:5050")
    'grpc://localhost:5050'
    """
    host, _, port = address.removeprefix("grpc://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in host:
        raise ValueError(f"--data_service {address!r}: expected grpc://HOST:PORT or HOST:PORT.")
    return f"grpc://{host}:{port}"


def mix_seed(seed: int, epoch: int) -> int:
    """One 31-bit seed from (seed, epoch), so every epoch shuffles differently but reproducibly."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)


def make_dataset(
    sources,
    image_size: int,
    batch_size: int,
    training: bool,
    seed: int = 0,
    skip_grayscale: bool = False,
    shard: tuple[int, int] | None = None,
    drop_remainder: bool = True,
    epoch: int = 0,
    data_service: str | None = None,
    exclude=None,
) -> tuple[tf.data.Dataset, EpochReport]:
    """One epoch of {"index": int64 [B], "rgb": uint8 [B, S, S, 3]} batches, and its report.

    `sources`: folders (searched recursively), photo files, or TFRecord file
    patterns written by `make_tfrecords`. `shard=(num_shards, shard_index)`
    splits the files/records between workers before anything is decoded
    (and turns tf.distribute's auto-sharding off for this dataset).
    The order and the crops depend only on (seed, epoch): iterating the
    dataset again repeats the same epoch; pass the next `epoch` for new ones.
    Call `report.finish_epoch(seen_indices)` after the epoch to learn which
    photos were skipped and why.

    `data_service="grpc://HOST:PORT"` runs reading, decoding and cropping on
    tf.data service workers (`keras_colorize.data.service`) in
    "distributed_epoch" mode: each photo goes to one worker, so an epoch
    still holds every photo once with the same crop (crops are keyed by
    (seed, epoch, index)), but in the order the workers finish; batching
    stays here. `exclude`: global indices left out (the photos a resumed
    epoch has already delivered).

    Args:
        sources: folders, photo files or TFRecord patterns.
        image_size: crop side (a multiple of 8).
        batch_size: photos per batch.
        training: random crops and shuffling (else centre crops in order).
        seed: seed of the order and the crops.
        skip_grayscale: drop photos without colour.
        shard: (num_shards, shard_index) of this input pipeline.
        drop_remainder: drop the last partial batch.
        epoch: which epoch (a new order and new crops each).
        data_service: tf.data service dispatcher address, or None (local).
        exclude: global indices to leave out, or None.

    Example:

    >>> dataset, report = make_dataset("tests/fixtures/photos", 32, 4, training=True)
    >>> next(iter(dataset))["rgb"].shape
    TensorShape([4, 32, 32, 3])
    """
    if image_size < 8 or image_size % 8:
        raise ValueError(f"image_size must be a positive multiple of 8, got {image_size}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be non-negative, got seed={seed}, epoch={epoch}.")
    catalog = open_catalog(sources, shard)
    mixed = mix_seed(seed, epoch)

    def decode(index, data):
        image = decode_any(data)
        if training:
            crop = random_crop(image, image_size, tf.stack([tf.constant(mixed, tf.int64), index]))
        else:
            crop = center_crop(image, image_size)
        gray = is_grayscale(image) if skip_grayscale else tf.constant(False)
        return {"index": index, "rgb": crop}, gray

    encoded = catalog.stream(training, mixed)
    if exclude is not None and len(exclude):
        # Sorted and padded with -1 (no photo's index), so searchsorted's answer is always a valid position.
        left_out = tf.constant(np.concatenate([np.unique(np.asarray(exclude, np.int64)), [-1]]))

        def keep(index, data):
            position = tf.searchsorted(left_out[:-1], index[None])[0]
            return tf.not_equal(tf.gather(left_out, position), index)

        encoded = encoded.filter(keep)
    photos = encoded.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    photos = photos.ignore_errors()
    if skip_grayscale:
        photos = photos.filter(lambda photo, gray: tf.logical_not(gray))
    photos = photos.map(lambda photo, gray: photo)
    if data_service is not None:
        photos = photos.apply(
            tf.data.experimental.service.distribute(
                tf.data.experimental.service.ShardingPolicy.DYNAMIC, service_address(data_service)
            )
        )
    batches = photos.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    if shard is not None:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        batches = batches.with_options(options)
    order = functools.partial(catalog.order, training, mixed)
    ordered = data_service is None
    report = EpochReport(catalog, order, batch_size, drop_remainder, skip_grayscale, ordered=ordered)
    return batches, report
