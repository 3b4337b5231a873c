"""The Q = 313 in-gamut ab bins and the soft encoding of ab onto them.

The bin table is the paper's `pts_in_hull.npy`; its order is the order of
the 313 output channels of every published model, so it is shipped as is.

Soft encoding (paper, Sec. 2.1): each ab value is spread over its 5 nearest
bins with Gaussian weights (sigma = 5). Because the bins lie on a 10-unit
grid, the 5 nearest bins of any point in a grid cell are among a short
per-cell candidate list computed once here, so each pixel compares against a
few dozen candidates instead of all 313.
"""

import functools
from importlib import resources

import numpy as np
from keras import ops

NUM_BINS = 313
GRID = 10.0
NEIGHBOURS = 5
SIGMA = 5.0

# Candidate lists cover this square of ab; values outside are still encoded
# (distances use the true value) but only against the border cell's list.
_LOW, _HIGH = -130.0, 130.0
_CELLS = int((_HIGH - _LOW) / GRID)


@functools.cache
def bin_centers() -> np.ndarray:
    """The (313, 2) float32 table of bin centres (a, b)."""
    path = resources.files("keras_colorize") / "assets" / "pts_in_hull.npy"
    with resources.as_file(path) as file:
        return np.load(file).astype(np.float32)


@functools.cache
def _candidate_table() -> np.ndarray:
    """[cells * cells, K] bin indices that can be among a cell's 5 nearest.

    For a cell of centre c and half-diagonal r, a point x in the cell has its
    5th nearest bin within d5(c) + r, so every bin among its 5 nearest lies
    within d5(c) + 2r of c. Short rows are padded with index 313, a dummy bin
    placed far away.
    """
    centers = bin_centers().astype(np.float64)
    edges = _LOW + GRID * (np.arange(_CELLS) + 0.5)
    ca, cb = np.meshgrid(edges, edges, indexing="ij")
    cell_centers = np.stack([ca.ravel(), cb.ravel()], axis=-1)
    dist = np.linalg.norm(cell_centers[:, None, :] - centers[None], axis=-1)
    d5 = np.sort(dist, axis=1)[:, NEIGHBOURS - 1]
    radius = d5 + 2 * (GRID / 2) * np.sqrt(2) + 1e-3
    rows = [np.flatnonzero(d <= r) for d, r in zip(dist, radius, strict=True)]
    width = max(len(row) for row in rows)
    table = np.full((len(rows), width), NUM_BINS, dtype=np.int32)
    for i, row in enumerate(rows):
        table[i, : len(row)] = row[np.argsort(dist[i, row])]
    return table


def soft_encode_sparse(ab, sigma: float = SIGMA):
    """ab [..., 2] -> (indices [..., 5] int32, weights [..., 5] float32).

    Indices are sorted nearest first, so `indices[..., 0]` is the most likely
    bin of the target. The weights are Gaussian in the distance and sum to 1.
    This is all the loss needs; `soft_encode` builds the dense vector.
    """
    ab = ops.convert_to_tensor(ab, "float32")
    cell = ops.cast(ops.floor((ops.clip(ab, _LOW, _HIGH - 1e-3) - _LOW) / GRID), "int32")
    cell_index = cell[..., 0] * _CELLS + cell[..., 1]
    candidates = ops.take(ops.convert_to_tensor(_candidate_table()), cell_index, axis=0)
    padded = np.concatenate([bin_centers(), [[1e4, 1e4]]]).astype(np.float32)
    points = ops.take(ops.convert_to_tensor(padded), candidates, axis=0)
    d2 = ops.sum(ops.square(points - ops.expand_dims(ab, -2)), axis=-1)
    neg_d2, order = ops.top_k(-d2, k=NEIGHBOURS)
    indices = ops.take_along_axis(candidates, order, axis=-1)
    weights = ops.softmax(neg_d2 / (2.0 * sigma**2), axis=-1)
    return indices, weights


def soft_encode(ab, sigma: float = SIGMA):
    """ab [..., 2] -> dense soft-encoded targets [..., 313] summing to 1."""
    indices, weights = soft_encode_sparse(ab, sigma)
    one_hot = ops.one_hot(indices, NUM_BINS, dtype="float32")
    return ops.sum(one_hot * ops.expand_dims(weights, -1), axis=-2)


def nearest_bin(ab):
    """ab [..., 2] -> index of the nearest bin (hard quantisation)."""
    return soft_encode_sparse(ab)[0][..., 0]
