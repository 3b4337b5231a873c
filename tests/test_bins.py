"""The bin table and the soft encoding against a brute-force reference."""

import numpy as np
from keras import ops

from keras_colorize.bins import NUM_BINS, bin_centers, nearest_bin, soft_encode, soft_encode_sparse


def _brute_force(ab, sigma=5.0):
    d2 = ((ab[:, None, :] - bin_centers()[None].astype(np.float64)) ** 2).sum(-1)
    order = np.argsort(d2, axis=1, kind="stable")[:, :5]
    w = np.exp(-np.take_along_axis(d2, order, 1) / (2 * sigma**2))
    dense = np.zeros((len(ab), NUM_BINS))
    np.put_along_axis(dense, order, w / w.sum(1, keepdims=True), 1)
    return dense


def test_table_is_the_papers():
    table = bin_centers()
    assert table.shape == (313, 2)
    assert np.all(table % 10 == 0)
    assert tuple(table[120]) == (0, 0)
    assert table[:, 0].min() == -90 and table[:, 0].max() == 100
    assert table[:, 1].min() == -110 and table[:, 1].max() == 100


def test_soft_encoding_matches_brute_force():
    rng = np.random.default_rng(0)
    ab = np.concatenate([rng.uniform(-110, 110, (5000, 2)), rng.normal(0, 30, (5000, 2))]).astype("float32")
    dense = ops.convert_to_numpy(soft_encode(ab))
    np.testing.assert_allclose(dense, _brute_force(ab.astype(np.float64)), atol=1e-5)


def test_soft_encoding_properties():
    ab = np.array([[3.0, -7.0], [40.0, 40.0], [-85.0, 95.0], [0.0, 0.0]], "float32")
    dense = ops.convert_to_numpy(soft_encode(ab))
    assert dense.shape == (4, 313)
    assert np.all((dense > 0).sum(-1) == 5)
    np.testing.assert_allclose(dense.sum(-1), 1.0, atol=1e-6)
    nearest = ops.convert_to_numpy(nearest_bin(ab))
    assert np.all(dense.argmax(-1) == nearest)
    # a point exactly on a bin centre puts its largest weight there
    assert np.allclose(bin_centers()[nearest[3]], [0, 0])
    assert np.allclose(bin_centers()[nearest[1]], [40, 40])


def test_sparse_encoding_sorted_and_batched():
    ab = np.random.default_rng(1).uniform(-80, 80, (2, 4, 6, 2)).astype("float32")
    indices, weights = soft_encode_sparse(ab)
    indices, weights = ops.convert_to_numpy(indices), ops.convert_to_numpy(weights)
    assert indices.shape == (2, 4, 6, 5) and weights.shape == (2, 4, 6, 5)
    assert np.all(np.diff(weights, axis=-1) <= 1e-7)
    assert np.all(indices < 313)
