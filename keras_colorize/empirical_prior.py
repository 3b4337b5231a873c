"""The empirical distribution of training colours over the 313 ab bins (a library).

For each photo: the evaluation crop (short side scaled to image_size, centre
square), the ab values at every 4th pixel exactly as the training targets
see them (`training_pair`), each assigned to its nearest bin and counted.
The counts are smoothed (`rebalance.smooth_prior`) and saved as float64
[313] summing to 1: the prior from which the rebalancing weights come.
The command line is `keras_colorize.prior`; the trainer and the study call
`compute_prior` / `cached_prior`.
"""

import dataclasses
import math
import os

import numpy as np
import tensorflow as tf
from absl import logging

from keras_colorize.bins import NUM_BINS, bin_centers, nearest_bin
from keras_colorize.data import make_dataset
from keras_colorize.data.sources import open_catalog
from keras_colorize.preprocessing import training_pair
from keras_colorize.rebalance import smooth_prior


@dataclasses.dataclass
class BinCounts:
    counts: np.ndarray  # int64 [313]
    photos: int
    skipped: dict[str, str]  # name -> reason


@tf.function
def _count_batch(rgb):
    _, ab = training_pair(rgb)
    return tf.math.bincount(tf.reshape(nearest_bin(ab), [-1]), minlength=NUM_BINS, dtype=tf.int64)


def count_bins(
    sources, image_size: int = 256, batch_size: int = 32, max_images: int | None = None
) -> BinCounts:
    """Hard-assigned bin counts of the photos' ab values.

    With `max_images`, every k-th photo is used, k = ceil(total / max_images),
    so the sample spans all folders/shards.
    """
    shard = None
    if max_images is not None:
        if max_images < 1:
            raise ValueError(f"max_images must be positive, got {max_images}.")
        stride = math.ceil(len(open_catalog(sources).indices) / max_images)
        shard = (stride, 0) if stride > 1 else None
    dataset, report = make_dataset(
        sources, image_size, batch_size, training=False, shard=shard, drop_remainder=False
    )
    counts = np.zeros(NUM_BINS, np.int64)
    seen = []
    for batch in dataset:
        counts += _count_batch(batch["rgb"]).numpy()
        seen.extend(batch["index"].numpy().tolist())
    message = report.finish_epoch(seen)
    if message:
        logging.warning("%s", message)
    return BinCounts(counts, len(seen), report.last_skipped)


def compute_prior(
    sources, image_size: int = 256, batch_size: int = 32, max_images: int | None = None
) -> np.ndarray:
    """The smoothed prior (float64 [313], sums to 1) of the photos in `sources`."""
    counted = count_bins(sources, image_size, batch_size, max_images)
    if not counted.photos:
        raise ValueError(f"No readable photos in {sources} to compute a prior from.")
    return smooth_prior(counted.counts)


def save_prior(path: str, prior: np.ndarray) -> None:
    """np.save to a temporary name and rename (readers never see half a prior)."""
    from keras_colorize.checkpointing import atomic_write

    def write(temporary: str) -> None:
        with open(temporary, "wb") as file:  # np.save(name) would append ".npy" to the temporary name
            np.save(file, np.asarray(prior, np.float64))

    atomic_write(path, write)


def cached_prior(
    path: str, sources, image_size: int = 256, batch_size: int = 32, max_images: int | None = None
) -> np.ndarray:
    """The prior saved at `path`, else computed from `sources` and saved there first."""
    if os.path.isfile(path):
        return np.load(path)
    logging.info("Computing the ab prior of %s into %s", sources, path)
    prior = compute_prior(sources, image_size, batch_size, max_images)
    save_prior(path, prior)
    return prior


def summary(counted: BinCounts, prior: np.ndarray) -> str:
    entropy = -np.sum(prior * np.log2(np.maximum(prior, 1e-300)))
    top = np.argsort(prior)[::-1][:5]
    centers = bin_centers()
    bins = ", ".join(f"#{i} (a={centers[i, 0]:.0f}, b={centers[i, 1]:.0f}) {prior[i]:.4f}" for i in top)
    return (
        f"Photos used: {counted.photos}, skipped: {len(counted.skipped)}\n"
        f"Bins with pixels: {np.count_nonzero(counted.counts)} of {NUM_BINS}; "
        f"entropy of the smoothed prior: {entropy:.3f} bits (uniform: {np.log2(NUM_BINS):.3f})\n"
        f"Most frequent bins: {bins}"
    )
