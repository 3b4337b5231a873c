"""Prior smoothing and the rebalancing weights (paper, Eq. 3-4)."""

import numpy as np
import pytest

from keras_colorize.bins import bin_centers
from keras_colorize.rebalance import rebalancing_weights, smooth_prior


def _skewed_counts():
    # Mostly desaturated colours, as in natural photos.
    chroma = np.linalg.norm(bin_centers(), axis=1)
    return np.exp(-chroma / 15.0) * 1e6


def test_smoothing_keeps_a_distribution_and_spreads_mass():
    counts = np.zeros(313)
    counts[120] = 100.0
    prior = smooth_prior(counts)
    assert prior.shape == (313,)
    assert np.isclose(prior.sum(), 1.0)
    assert 0.5 < prior[120] < 1.0  # sigma 5 on a grid of 10: most mass stays
    neighbours = np.linalg.norm(bin_centers() - bin_centers()[120], axis=1) == 10
    np.testing.assert_allclose(prior[neighbours], np.exp(-100 / 50) * prior[120], rtol=1e-6)


def test_weights_have_unit_expectation_and_favour_rare_colours():
    prior = smooth_prior(_skewed_counts())
    weights = rebalancing_weights(prior, 0.5)
    assert np.isclose(np.sum(prior * weights), 1.0, atol=1e-5)
    assert weights[np.argmin(prior)] > weights[np.argmax(prior)]
    by_prior = weights[np.argsort(prior)]
    assert np.all(np.diff(by_prior) <= 1e-6)  # strictly heavier as colours get rarer


def test_lambda_one_is_uniform_and_lambda_zero_is_inverse_prior():
    prior = smooth_prior(_skewed_counts())
    np.testing.assert_allclose(rebalancing_weights(prior, 1.0), 1.0, rtol=1e-5)
    inverse = rebalancing_weights(prior, 0.0)
    np.testing.assert_allclose(inverse * prior, inverse[0] * prior[0], rtol=1e-4)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="313"):
        smooth_prior(np.ones(10))
    with pytest.raises(ValueError, match="distribution"):
        rebalancing_weights(np.ones(313))
    with pytest.raises(ValueError, match="lambda"):
        rebalancing_weights(np.full(313, 1 / 313), 1.5)
