"""FID / KID maths on features with known answers, the feature networks (FID's own: test_fid_inception)."""

import keras
import numpy as np
import pytest

from keras_colorize import feature_distances as fd


def _gaussian(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) * np.linspace(0.5, 2.0, d)


def test_fid_of_a_set_with_itself_is_zero():
    features = _gaussian(50, 64)  # fewer photos than dimensions: a singular covariance
    assert fd.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)
    assert fd.frechet_distance(features[:1], features) is None


def test_fid_known_values():
    a = _gaussian(300)
    shift = np.arange(8) / 4.0
    # A shifted copy: same covariance, so FID = |shift|².
    assert fd.frechet_distance(a, a + shift) == pytest.approx(np.sum(shift**2), rel=1e-9)
    # A copy scaled by 2 about its mean: S_b = 4 S_a, Tr(S + 4S - 2 (4 S²)^½) = Tr S.
    centred = a - a.mean(0)
    expected = np.trace(np.cov(a, rowvar=False))
    assert fd.frechet_distance(centred, 2 * centred) == pytest.approx(expected, rel=1e-9)


def test_mmd_by_hand():
    # d = 1, k(x, y) = (x y + 1)³: k(0,1) = 1, k(2,3) = 343, k_ab = 1, 1, 27, 64.
    a, b = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert fd.mmd2_unbiased(a, b) == pytest.approx(1 + 343 - 2 * 93 / 4)


def test_kid_is_unbiased_on_a_shuffled_split_and_fid_is_not():
    """Halves of one shuffled set come from one distribution: KID averages 0, FID stays above it."""
    features = _gaussian(400, 16, seed=3)
    rng = np.random.default_rng(4)
    kids, fids = [], []
    for _ in range(60):
        order = rng.permutation(len(features))
        half_a, half_b = features[order[:200]], features[order[200:]]
        kids.append(fd.kernel_distance(half_a, half_b)[0])
        fids.append(fd.frechet_distance(half_a, half_b))
    kids = np.array(kids)
    assert abs(kids.mean()) < 3 * kids.std() / np.sqrt(len(kids))  # 0 within 3 standard errors
    assert (kids < 0).any() and (kids > 0).any()  # an unbiased estimate falls on both sides of 0
    assert min(fids) > 0.3  # FID's small-sample bias: every split looks different
    shifted = fd.kernel_distance(features[:200], features[200:] + 0.5)[0]
    assert shifted > 10 * kids.std()


def test_kid_subsets():
    a, b = _gaussian(60, 4, 5), _gaussian(60, 4, 6) + 1.0
    whole, std = fd.kernel_distance(a, b)
    assert std == 0.0 and whole == pytest.approx(fd.mmd2_unbiased(a, b))
    mean, std = fd.kernel_distance(a, b, subset_size=30, subsets=20)
    assert std > 0 and mean == pytest.approx(whole, rel=0.5)
    assert fd.kernel_distance(a[:1], b) == (None, None)


def test_inception_features_with_a_tiny_network(photos):
    tiny = keras.Sequential([keras.Input((299, 299, 3)), keras.layers.Conv2D(6, 8, strides=8),
                             keras.layers.GlobalAveragePooling2D()])  # fmt: skip
    net = fd.InceptionFeatures(tiny)
    features = np.stack([net(p) for p in photos[:4]])
    assert features.shape == (4, 6) and np.ptp(features, axis=0).max() > 0
    assert fd.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_mobilenet_features(photos):
    net = fd.MobileNetFeatures()
    features = np.stack([net(p) for p in photos[:3]])
    assert features.shape == (3, 1280) and np.all(features >= 0) and features.max() > 0.1
    assert not np.allclose(features[0], features[1])
    with pytest.raises(ValueError, match="--fid must be one of"):
        fd.feature_networks("fid")
