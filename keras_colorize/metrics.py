"""The paper's colorization metrics, per photo, vectorised with numpy.

* AuC (paper, Sec. 3.1): the share of pixels whose ab error (Euclidean
  distance in ab) is at most t, for the integer thresholds t = 0..150, is a
  cumulative curve; its mean over the 151 thresholds, in percent, is the area
  under it (100 = every pixel exact). A pixel with error e counts from the
  threshold ceil(e) on, so a constant error d in [0, 150] gives
  100 * (151 - ceil(d)) / 151.
* Rebalanced AuC: the same curve with each pixel weighted by 1 / p(q), p the
  smoothed training prior and q the nearest bin of the pixel's ground-truth
  ab, so rare (saturated) colours count as much as common ones. Weights are
  normalised per photo (every photo counts once, like the raw AuC) and p is
  floored at `PRIOR_FLOOR` so a colour absent from the training set cannot
  take over a photo on its own.
* Two protocols for both AuCs: the per-photo mean (each photo's own curve,
  then the mean of the photos' AuCs) and the pooled value (every pixel of the
  set in one curve, weights not normalised per photo: `pooled_curve` of the
  photos' `cumulative_mass`). They agree when every photo has the same size
  and the same errors (and weights).
* PSNR on RGB in [0, 1], capped at `PSNR_CAP` dB (a perfect prediction would
  be infinite); SSIM (scikit-image, on uint8 RGB).
* Colourfulness CF (Hasler & Suesstrunk 2003) on 0..255 RGB: a gray image is
  0; ΔCF in its two published definitions (`delta_cf`).
* Colour bleeding: how much the ab error concentrates near strong L edges
  (see `bleeding`).
* Flicker of a colorized film (`flicker`): the mean |Δab| between
  consecutive output frames on the pixels whose input L barely changes.
"""

import functools

import keras
import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

from keras_colorize.bins import NUM_BINS, bin_centers, nearest_bin
from keras_colorize.colorspace import rgb_uint8_to_lab

THRESHOLDS = np.arange(151, dtype=np.float64)
PSNR_CAP = 100.0
PRIOR_FLOOR = 1.0 / (100 * 313)
EDGE_PERCENTILE = 90.0
EDGE_RADIUS = 2
FLICKER_STILL_L = 1.0  # a pixel is still when its input L moves by at most this (0..100)


@functools.cache
def _photo_to_lab():
    """`rgb_uint8_to_lab` for one uint8 [H, W, 3] photo: one compiled graph for every size under
    TensorFlow (eager op by op it costs several times more), the plain function under other backends."""
    if keras.backend.backend() != "tensorflow":
        return rgb_uint8_to_lab
    import tensorflow as tf

    return tf.function(rgb_uint8_to_lab, input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])


def lab_of(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] -> Lab [..., 3] as numpy (`colorspace.rgb_uint8_to_lab`)."""
    rgb = np.asarray(rgb, np.uint8)
    return np.asarray(_photo_to_lab()(rgb) if rgb.ndim == 3 else rgb_uint8_to_lab(rgb))


def ab_of(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] -> its Lab ab [..., 2] as numpy."""
    return lab_of(rgb)[..., 1:]


@functools.cache
def _grid_bins() -> np.ndarray:
    """[23, 23] table: grid point (a/10 + 11, b/10 + 11) -> its bin, -1 where it is not one of the 313."""
    cells = np.rint(bin_centers() / 10.0).astype(np.int64) + 11
    table = np.full((23, 23), -1, np.int64)
    table[cells[:, 0], cells[:, 1]] = np.arange(NUM_BINS)
    return table


def nearest_bins(ab: np.ndarray) -> np.ndarray:
    """`bins.nearest_bin` in O(pixels): the nearest point of the 10-unit grid, when it is a bin, is the
    nearest bin (the bins are grid points); the few other pixels go through `nearest_bin`.

    Args:
        ab: [..., 2] ab values.

    Returns:
        int64 [...] bin indices (ties between two bins may resolve to either).
    """
    ab = np.asarray(ab, np.float32)
    cells = np.clip(np.rint(ab / 10.0).astype(np.int64) + 11, 0, 22)
    bins = _grid_bins()[cells[..., 0], cells[..., 1]]
    missing = bins < 0
    if missing.any():
        bins[missing] = np.asarray(nearest_bin(ab[missing]))
    return bins


def ab_error(ab_pred: np.ndarray, ab_true: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean distance in ab: [..., 2] x [..., 2] -> [...]."""
    return np.sqrt(np.sum(np.square(np.asarray(ab_pred, np.float64) - ab_true), axis=-1))


def cumulative_mass(errors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weight of the pixels that first count at each threshold -> [152].

    Entry t (0..150) holds the weight of the pixels with ceil(error) = t
    (error <= t from threshold t on); the last entry those above 150. Masses
    of several photos add up to the mass of the pooled set.

    Args:
        errors: per-pixel ab errors, any shape.
        weights: per-pixel weights of the same shape (None: 1 each).
    """
    errors = np.asarray(errors, np.float64).ravel()
    weights = np.ones_like(errors) if weights is None else np.asarray(weights, np.float64).ravel()
    # error <= t (t integer) <=> ceil(error) <= t; errors above 150 never count. The
    # tolerance keeps an error of exactly t (up to float rounding) at t.
    first = np.clip(np.ceil(errors - 1e-6), 0, len(THRESHOLDS)).astype(np.int64)
    return np.bincount(first, weights=weights, minlength=len(THRESHOLDS) + 1)


def pooled_curve(mass: np.ndarray) -> np.ndarray:
    """Cumulative curve [151] of a (summed) `cumulative_mass` [152]."""
    mass = np.asarray(mass, np.float64)
    return np.cumsum(mass[: len(THRESHOLDS)]) / np.sum(mass)


def cumulative_curve(errors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted share of pixels with error <= t for t = 0..150 -> [151]."""
    return pooled_curve(cumulative_mass(errors, weights))


def auc(curve: np.ndarray) -> float:
    """Area under a cumulative curve over 0..150, in percent."""
    return float(100.0 * np.mean(curve))


def rebalancing_pixel_weights(ab_true: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """1 / p(nearest bin of the ground truth) per pixel, p floored."""
    bins = nearest_bins(ab_true)
    return 1.0 / np.maximum(np.asarray(prior, np.float64)[bins], PRIOR_FLOOR)


def psnr(rgb_pred: np.ndarray, rgb_true: np.ndarray) -> float:
    """PSNR in dB of RGB images in [0, 1], capped at PSNR_CAP."""
    mse = np.mean(np.square(np.asarray(rgb_pred, np.float64) - rgb_true))
    return float(min(PSNR_CAP, 10.0 * np.log10(1.0 / max(mse, 1e-30))))


def ssim(rgb_pred: np.ndarray, rgb_true: np.ndarray) -> float:
    """SSIM of two uint8 RGB photos (scikit-image defaults: 7 x 7 uniform window, per channel, mean).

    Args:
        rgb_pred: uint8 RGB [H, W, 3].
        rgb_true: uint8 RGB [H, W, 3].


    Photos under 7 px a side (smaller than the window) give NaN, left out of the means.
    """
    if min(rgb_true.shape[:2]) < 7:
        return float("nan")
    # float32 (scikit-image keeps it; uint8 would be widened to float64 at twice the cost).
    pred, true = np.asarray(rgb_pred, np.float32), np.asarray(rgb_true, np.float32)
    return float(structural_similarity(pred, true, channel_axis=-1, data_range=255.0))


def delta_cf(cf_rows: np.ndarray, cf_truth: np.ndarray) -> dict[str, float]:
    """ΔCF, both definitions in the literature, from per-photo colourfulness.

    Args:
        cf_rows: CF of each output photo [N].
        cf_truth: CF of each ground-truth photo [N] (same order).

    Returns:
        {"delta_cf_set": |mean(cf_rows) - mean(cf_truth)| (the gap between the
        set means), "delta_cf_photo": mean |cf_rows - cf_truth| (the mean of
        per-photo gaps)}. Both are 0 for the ground truth itself; the second
        is never below the first.
    """
    cf_rows, cf_truth = np.asarray(cf_rows, np.float64), np.asarray(cf_truth, np.float64)
    return {
        "delta_cf_set": float(abs(np.mean(cf_rows) - np.mean(cf_truth))),
        "delta_cf_photo": float(np.mean(np.abs(cf_rows - cf_truth))),
    }


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of RGB in [0, 1]."""
    rgb = np.asarray(rgb, np.float64) * 255.0
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    spread = np.sqrt(np.var(rg) + np.var(yb))
    centre = np.sqrt(np.mean(rg) ** 2 + np.mean(yb) ** 2)
    return float(spread + 0.3 * centre)


def edge_band(lightness: np.ndarray, percentile: float = EDGE_PERCENTILE, radius: int = EDGE_RADIUS):
    """Pixels within `radius` px of a strong edge of L [H, W] (bool [H, W]).

    Strong edges: Sobel magnitude above the photo's `percentile`-th
    percentile and above 1 L unit per pixel (flat photos have no edges).
    """
    lightness = np.asarray(lightness, np.float64)
    magnitude = np.hypot(ndimage.sobel(lightness, axis=0), ndimage.sobel(lightness, axis=1)) / 8.0
    edges = (magnitude > np.percentile(magnitude, percentile)) & (magnitude > 1.0)
    return ndimage.binary_dilation(edges, iterations=radius)


def bleeding(errors: np.ndarray, band: np.ndarray) -> float:
    """Share of the ab error mass in the edge band / the band's share of pixels.

    1 means errors are spread evenly; above 1 they pile up at edges, which
    is what colour bleeding across object boundaries looks like. 0 when the
    photo has no strong edge or no error.
    """
    total = float(np.sum(errors))
    if not band.any() or total <= 0.0:
        return 0.0
    return float(np.sum(errors[band]) / total / np.mean(band))


def reference(rgb_true: np.ndarray, prior: np.ndarray) -> dict:
    """What every prediction of one photo is compared with (computed once).

    `rgb_true` is uint8 [H, W, 3]; returns its ab, RGB in [0, 1], the
    rebalancing weight of each pixel and the edge band of its L.
    """
    lab = lab_of(rgb_true)
    return {
        "ab": lab[..., 1:],
        "rgb": np.asarray(rgb_true, np.float64) / 255.0,
        "uint8": np.asarray(rgb_true, np.uint8),
        "weights": rebalancing_pixel_weights(lab[..., 1:], prior),
        "band": edge_band(lab[..., 0]),
    }


def photo_metrics(rgb_pred: np.ndarray, truth: dict, identical: bool = False) -> dict:
    """All per-photo metrics of one uint8 RGB prediction against `reference(...)`.

    Args:
        rgb_pred: uint8 RGB [H, W, 3].
        truth: `reference(rgb_true, prior)`.
        identical: `rgb_pred` is the ground truth itself (its ab is the truth's
            and its SSIM exactly 1, so neither is recomputed).

    Returns:
        Scalars plus the raw and rebalanced masses (`cumulative_mass`,
        unnormalised) for the per-photo and pooled curves.
    """
    errors = ab_error(truth["ab"] if identical else ab_of(rgb_pred), truth["ab"])
    rgb = np.asarray(rgb_pred, np.float64) / 255.0
    mass = cumulative_mass(errors)
    mass_rebal = cumulative_mass(errors, truth["weights"])
    return {
        "auc": auc(pooled_curve(mass)),
        "auc_rebal": auc(pooled_curve(mass_rebal)),
        "ab_error": float(np.mean(errors)),
        "psnr": psnr(rgb, truth["rgb"]),
        "ssim": 1.0 if identical else ssim(np.asarray(rgb_pred, np.uint8), truth["uint8"]),
        "colourfulness": colourfulness(rgb),
        "bleeding": bleeding(errors, truth["band"]),
        "mass": mass,
        "mass_rebal": mass_rebal,
    }


def topk_hits(scores: np.ndarray, label: int, k: int = 5) -> tuple[bool, bool]:
    """(top-1 hit, top-k hit) for class scores [C] and the true class."""
    order = np.argsort(-np.asarray(scores))
    return bool(order[0] == label), bool(label in order[:k])


def flicker(
    ab_before: np.ndarray,
    ab_after: np.ndarray,
    lightness_before: np.ndarray,
    lightness_after: np.ndarray,
    still: float = FLICKER_STILL_L,
) -> tuple[float, int]:
    """Flicker between two consecutive output frames: (sum of |Δab| on still pixels, their number).

    A pixel is still where the input's L changes by at most `still` (0..100)
    between the frames: there the colour should not change either, so any
    |Δab| (Euclidean, in ab units) is flicker. A film's flicker is the sum of
    the sums over its consecutive pairs (not across a scene cut) divided by
    the sum of the counts (docs/video.md). No motion compensation.

    Args:
        ab_before: ab [H, W, 2] of one output frame (e.g. `ab_of(rgb)`).
        ab_after: ab [H, W, 2] of the next output frame.
        lightness_before: the input frame's L [H, W] (0..100).
        lightness_after: the next input frame's L [H, W].
        still: the largest |ΔL| of a still pixel.

    Example:

    >>> import numpy as np
    >>> ab = np.zeros((2, 2, 2))
    >>> moved = ab + [[[3.0, 4.0]], [[0.0, 0.0]]]
    >>> flicker(ab, moved, np.zeros((2, 2)), np.array([[0.0, 0.0], [0.0, 50.0]]))
    (10.0, 3)
    """
    mask = np.abs(np.asarray(lightness_after, np.float64) - lightness_before) <= still
    return float(np.sum(ab_error(ab_after, ab_before)[mask])), int(np.sum(mask))
