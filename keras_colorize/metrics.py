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
* PSNR on RGB in [0, 1], capped at `PSNR_CAP` dB (a perfect prediction would
  be infinite).
* Colourfulness (Hasler & Suesstrunk 2003) on 0..255 RGB: a gray image is 0.
* Colour bleeding: how much the ab error concentrates near strong L edges
  (see `bleeding`).
"""

import numpy as np
from scipy import ndimage

from keras_colorize.bins import nearest_bin
from keras_colorize.colorspace import rgb_uint8_to_lab

THRESHOLDS = np.arange(151, dtype=np.float64)
PSNR_CAP = 100.0
PRIOR_FLOOR = 1.0 / (100 * 313)
EDGE_PERCENTILE = 90.0
EDGE_RADIUS = 2


def ab_of(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB [..., 3] -> its Lab ab [..., 2] as numpy."""
    return np.asarray(rgb_uint8_to_lab(rgb))[..., 1:]


def ab_error(ab_pred: np.ndarray, ab_true: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean distance in ab: [..., 2] x [..., 2] -> [...]."""
    return np.sqrt(np.sum(np.square(np.asarray(ab_pred, np.float64) - ab_true), axis=-1))


def cumulative_curve(errors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted share of pixels with error <= t for t = 0..150 -> [151]."""
    errors = np.asarray(errors, np.float64).ravel()
    weights = np.ones_like(errors) if weights is None else np.asarray(weights, np.float64).ravel()
    # error <= t (t integer) <=> ceil(error) <= t; errors above 150 never count. The
    # tolerance keeps an error of exactly t (up to float rounding) at t.
    first = np.minimum(np.ceil(errors - 1e-6), len(THRESHOLDS)).astype(np.int64)
    mass = np.bincount(first, weights=weights, minlength=len(THRESHOLDS) + 1)[: len(THRESHOLDS)]
    return np.cumsum(mass) / np.sum(weights)


def auc(curve: np.ndarray) -> float:
    """Area under a cumulative curve over 0..150, in percent."""
    return float(100.0 * np.mean(curve))


def rebalancing_pixel_weights(ab_true: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """1 / p(nearest bin of the ground truth) per pixel, p floored."""
    bins = np.asarray(nearest_bin(np.asarray(ab_true, np.float32)))
    return 1.0 / np.maximum(np.asarray(prior, np.float64)[bins], PRIOR_FLOOR)


def psnr(rgb_pred: np.ndarray, rgb_true: np.ndarray) -> float:
    """PSNR in dB of RGB images in [0, 1], capped at PSNR_CAP."""
    mse = np.mean(np.square(np.asarray(rgb_pred, np.float64) - rgb_true))
    return float(min(PSNR_CAP, 10.0 * np.log10(1.0 / max(mse, 1e-30))))


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
    lab = np.asarray(rgb_uint8_to_lab(rgb_true))
    return {
        "ab": lab[..., 1:],
        "rgb": np.asarray(rgb_true, np.float64) / 255.0,
        "weights": rebalancing_pixel_weights(lab[..., 1:], prior),
        "band": edge_band(lab[..., 0]),
    }


def photo_metrics(rgb_pred: np.ndarray, truth: dict) -> dict:
    """All per-photo metrics of one uint8 RGB prediction against `reference(...)`.

    Returns scalars plus the raw and rebalanced curves (for aggregation).
    """
    errors = ab_error(ab_of(rgb_pred), truth["ab"])
    rgb = np.asarray(rgb_pred, np.float64) / 255.0
    curve = cumulative_curve(errors)
    curve_rebal = cumulative_curve(errors, truth["weights"])
    return {
        "auc": auc(curve),
        "auc_rebal": auc(curve_rebal),
        "ab_error": float(np.mean(errors)),
        "psnr": psnr(rgb, truth["rgb"]),
        "colourfulness": colourfulness(rgb),
        "bleeding": bleeding(errors, truth["band"]),
        "curve": curve,
        "curve_rebal": curve_rebal,
    }


def topk_hits(scores: np.ndarray, label: int, k: int = 5) -> tuple[bool, bool]:
    """(top-1 hit, top-k hit) for class scores [C] and the true class."""
    order = np.argsort(-np.asarray(scores))
    return bool(order[0] == label), bool(label in order[:k])
