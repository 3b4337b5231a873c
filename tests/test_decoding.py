"""Mode, mean and annealed mean, and the limits of the temperature."""

import numpy as np
import pytest
from keras import ops

from keras_colorize.bins import bin_centers
from keras_colorize.decoding import annealed_mean, decode, mean, mode


def _random_probs(shape, seed=0):
    logits = np.random.default_rng(seed).normal(0, 2, (*shape, 313))
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)).astype("float32")


def test_mean_is_the_expectation():
    probs = _random_probs((3, 4))
    expected = probs @ bin_centers()
    np.testing.assert_allclose(ops.convert_to_numpy(mean(probs)), expected, atol=1e-3)


def test_temperature_one_equals_mean():
    probs = _random_probs((2, 5, 5))
    np.testing.assert_allclose(
        ops.convert_to_numpy(annealed_mean(probs, 1.0)), ops.convert_to_numpy(mean(probs)), atol=1e-3
    )


def test_temperature_to_zero_approaches_mode():
    probs = _random_probs((50,), seed=3)
    top = probs.argmax(-1)
    probs[np.arange(50), top] *= 2.0  # a clear mode: log-ratio >= log 2 to the runner-up
    probs /= probs.sum(-1, keepdims=True)
    mode_ab = ops.convert_to_numpy(mode(probs))
    np.testing.assert_allclose(mode_ab, bin_centers()[probs.argmax(-1)])
    errors = [
        np.abs(ops.convert_to_numpy(annealed_mean(probs, t)) - mode_ab).max() for t in (0.38, 0.1, 0.01)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-2


def test_lower_temperature_is_more_saturated():
    # A bimodal distribution: gray and a saturated red; annealing moves the
    # mean towards the stronger mode.
    probs = np.full((313,), 1e-6, "float32")
    red = int(np.argmin(np.linalg.norm(bin_centers() - [60, 40], axis=1)))
    probs[120], probs[red] = 0.4, 0.6
    probs /= probs.sum()
    chroma = [np.linalg.norm(ops.convert_to_numpy(annealed_mean(probs, t))) for t in (1.0, 0.38, 0.1)]
    assert chroma[0] < chroma[1] < chroma[2]


def test_per_image_temperature_broadcasts():
    probs = _random_probs((2, 3, 3))
    temps = np.array([1.0, 0.38], "float32").reshape(2, 1, 1, 1)
    both = ops.convert_to_numpy(annealed_mean(probs, temps))
    np.testing.assert_allclose(both[0], ops.convert_to_numpy(annealed_mean(probs[0], 1.0)), atol=1e-4)
    np.testing.assert_allclose(both[1], ops.convert_to_numpy(annealed_mean(probs[1], 0.38)), atol=1e-4)


def test_decode_dispatch_and_errors():
    probs = _random_probs((4,))
    np.testing.assert_allclose(ops.convert_to_numpy(decode(probs, "mode")), ops.convert_to_numpy(mode(probs)))
    with pytest.raises(ValueError, match="Unknown decoding method"):
        decode(probs, "median")
