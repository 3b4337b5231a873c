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


def log_probabilities(probs):
    """log p of a distribution [..., 313], p floored at 1e-10: what the annealed mean sharpens.

    Video smoothing (`keras_colorize.temporal`) averages these along time and
    decodes the result with `decode_log`.

    Args:
        probs: probabilities [..., 313].

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> [round(float(x), 2) for x in ops.convert_to_numpy(log_probabilities(np.array([1.0, 0.0])))]
    [0.0, -23.03]
    """
    return ops.log(ops.maximum(ops.cast(probs, "float32"), _LOG_FLOOR))


def annealed_mean(probs, temperature=DEFAULT_TEMPERATURE):
    """softmax(log p / T) then expectation; [..., 313] -> [..., 2].

    `temperature` is a scalar or broadcasts against `probs[..., :1]` (for
    example one value per image, shape [N, 1, 1, 1]).
    """
    return decode_log(log_probabilities(probs), "annealed_mean", temperature)


def decode(probs, method: str = "annealed_mean", temperature=DEFAULT_TEMPERATURE):
    """Dispatch on `method` in {"annealed_mean", "mean", "mode"}."""
    if method == "annealed_mean":
        return annealed_mean(probs, temperature)
    if method == "mean":
        return mean(probs)
    if method == "mode":
        return mode(probs)
    raise ValueError(f"Unknown decoding method {method!r}; use annealed_mean, mean or mode.")


def decode_log(log_probs, method: str = "annealed_mean", temperature=DEFAULT_TEMPERATURE):
    """`decode` of log-probabilities [..., 313] (any additive constant per pixel) -> ab [..., 2].

    Args:
        log_probs: log p up to a per-pixel constant, e.g. `log_probabilities` or an average of them.
        method: "annealed_mean", "mean" or "mode".
        temperature: the annealed mean's T, a scalar or broadcasting against `log_probs[..., :1]`.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> probs = np.full((1, 2, 2, 313), 1 / 313, "float32")
    >>> ab = decode_log(log_probabilities(probs), "annealed_mean", 0.38)
    >>> bool(np.allclose(ops.convert_to_numpy(ab), ops.convert_to_numpy(annealed_mean(probs, 0.38))))
    True
    """
    log_probs = ops.cast(log_probs, "float32")
    if method == "annealed_mean":
        return mean(ops.softmax(log_probs / ops.cast(temperature, "float32"), axis=-1))
    if method == "mean":
        return mean(ops.softmax(log_probs, axis=-1))
    if method == "mode":
        return mode(log_probs)
    raise ValueError(f"Unknown decoding method {method!r}; use annealed_mean, mean or mode.")
