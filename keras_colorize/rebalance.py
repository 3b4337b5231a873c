"""Class rebalancing (paper, Sec. 2.2): weights that favour rare colours.

The empirical distribution p of the training ab values over the 313 bins is
smoothed with a Gaussian (sigma = 5 ab units) to p~, mixed with a uniform
distribution, and inverted:

    w  proportional to  ((1 - lambda) p~ + lambda / Q) ** -1,  with E_p~[w] = 1.

lambda = 1 gives uniform weights (the plain cross-entropy); lambda = 0.5 is
the paper's setting.
"""

import numpy as np

from keras_colorize.bins import NUM_BINS, SIGMA, bin_centers

DEFAULT_LAMBDA = 0.5


def smooth_prior(counts: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """Normalise bin counts and smooth them with a 2-D Gaussian in ab space."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (NUM_BINS,) or np.any(counts < 0) or counts.sum() <= 0:
        raise ValueError(f"Expected {NUM_BINS} non-negative bin counts with a positive sum.")
    centers = bin_centers().astype(np.float64)
    d2 = np.sum((centers[:, None] - centers[None]) ** 2, axis=-1)
    kernel = np.exp(-d2 / (2.0 * sigma**2))
    smoothed = kernel @ (counts / counts.sum())
    return smoothed / smoothed.sum()


def rebalancing_weights(prior: np.ndarray, lam: float = DEFAULT_LAMBDA) -> np.ndarray:
    """Per-bin weights w from a smoothed prior p~, normalised so sum(p~ w) = 1."""
    prior = np.asarray(prior, dtype=np.float64)
    if prior.shape != (NUM_BINS,) or not np.isclose(prior.sum(), 1.0, atol=1e-4):
        raise ValueError(f"Expected a distribution over {NUM_BINS} bins (summing to 1).")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}.")
    weights = 1.0 / ((1.0 - lam) * prior + lam / NUM_BINS)
    return (weights / np.sum(prior * weights)).astype(np.float32)
