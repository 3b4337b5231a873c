"""From a distribution over the 313 bins to one ab value per pixel.

The paper's point estimate is the annealed mean: sharpen the distribution
with a temperature T (softmax(log p / T)) and take its expectation. T = 1 is
the mean (desaturated, but spatially consistent), T -> 0 the mode (vivid but
patchy); T = 0.38 is the paper's compromise.
"""

from keras import ops

from keras_colorize.bins import bin_centers

DEFAULT_TEMPERATURE = 0.38
DECODINGS = ("annealed_mean", "mean", "mode")
_LOG_FLOOR = 1e-10


def mean(probs):
    """Expected ab of a distribution [..., 313] -> [..., 2]."""
    return ops.matmul(ops.cast(probs, "float32"), ops.convert_to_tensor(bin_centers()))


def mode(probs):
    """Centre of the most probable bin."""
    return ops.take(ops.convert_to_tensor(bin_centers()), ops.argmax(probs, axis=-1), axis=0)


def annealed_mean(probs, temperature=DEFAULT_TEMPERATURE):
    """softmax(log p / T) then expectation; [..., 313] -> [..., 2].

    `temperature` is a scalar or broadcasts against `probs[..., :1]` (for
    example one value per image, shape [N, 1, 1, 1]).
    """
    log_p = ops.log(ops.maximum(ops.cast(probs, "float32"), _LOG_FLOOR))
    temperature = ops.cast(temperature, "float32")
    return mean(ops.softmax(log_p / temperature, axis=-1))


def decode(probs, method: str = "annealed_mean", temperature=DEFAULT_TEMPERATURE):
    """Dispatch on `method` in {"annealed_mean", "mean", "mode"}."""
    if method == "annealed_mean":
        return annealed_mean(probs, temperature)
    if method == "mean":
        return mean(probs)
    if method == "mode":
        return mode(probs)
    raise ValueError(f"Unknown decoding method {method!r}; use annealed_mean, mean or mode.")
