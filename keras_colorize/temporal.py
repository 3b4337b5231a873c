"""Temporal consistency for films, in `keras.ops`: smoothing along time and scene cuts.

The network predicts a distribution over the 313 ab bins for every pixel of
every frame. Decoding each frame on its own lets a pixel's colour jump
between frames when its distribution is nearly tied between two colours
(flicker). Instead, `smooth` keeps an exponential moving average of the
per-pixel log-probabilities (`decoding.log_probabilities`),

    state_t = s * state_{t-1} + (1 - s) * log p_t,    s = the --temporal strength,

and the annealed mean decodes the state (`decoding.decode_log`). In
probabilities this is a weighted geometric mean of the recent frames'
distributions: a colour survives where the frames agree. s = 0 is frame by
frame (exactly the photo path); the memory is about (1 + s) / (1 - s) frames.

A scene cut restarts the average, so that no colour is carried into the new
shot: `lightness_histograms` of two consecutive frames' working-size L are
compared with `histogram_distance` (total variation, 0 identical .. 1 no
overlap); above the cut threshold the new frame starts a shot.
"""

from keras import ops

DEFAULT_TEMPORAL = 0.7
DEFAULT_CUT_THRESHOLD = 0.3
HISTOGRAM_BINS = 32
_HISTOGRAM_SIDE = 64  # histograms are taken on at most ~64 x 64 pixels of the working-size L


def smooth(state, log_probs, strength: float):
    """One step of the moving average: strength * state + (1 - strength) * log_probs.

    Args:
        state: the average so far (log-probabilities [..., 313]).
        log_probs: this frame's `decoding.log_probabilities` (same shape).
        strength: in [0, 1); 0 returns `log_probs`.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> ops.convert_to_numpy(smooth(np.zeros(3, "float32"), np.ones(3, "float32"), 0.75)).tolist()
    [0.25, 0.25, 0.25]
    """
    return strength * ops.convert_to_tensor(state, "float32") + (1.0 - strength) * ops.convert_to_tensor(
        log_probs, "float32"
    )


def lightness_histograms(lightness, bins: int = HISTOGRAM_BINS):
    """L [N, H, W, 1] in 0..100 -> normalised histograms [N, bins] (rows sum to 1).

    Large frames are subsampled on a regular grid to about 64 x 64 pixels
    (enough to tell two shots apart, and cheap).

    Args:
        lightness: L of a batch of frames (e.g. `ColorizerPreprocessor.work_lightness`).
        bins: equal-width bins over 0..100.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> ops.convert_to_numpy(lightness_histograms(np.full((1, 8, 8, 1), 99.0, "float32"), 4)).tolist()
    [[0.0, 0.0, 0.0, 1.0]]
    """
    lightness = ops.convert_to_tensor(lightness, "float32")
    rows, cols = lightness.shape[1], lightness.shape[2]
    lightness = lightness[:, :: max(1, rows // _HISTOGRAM_SIDE), :: max(1, cols // _HISTOGRAM_SIDE), 0]
    index = ops.clip(ops.cast(ops.floor(lightness * (bins / 100.0)), "int32"), 0, bins - 1)
    counts = ops.sum(ops.one_hot(ops.reshape(index, (ops.shape(index)[0], -1)), bins), axis=1)
    return counts / ops.sum(counts, axis=-1, keepdims=True)


def histogram_distance(first, second):
    """Total-variation distance between histograms [..., bins] -> [...]: 0 identical, 1 disjoint.

    Example:

    >>> from keras import ops
    >>> float(ops.convert_to_numpy(histogram_distance([0.5, 0.5, 0.0], [0.0, 0.5, 0.5])))
    0.5
    """
    first, second = ops.convert_to_tensor(first, "float32"), ops.convert_to_tensor(second, "float32")
    return 0.5 * ops.sum(ops.abs(first - second), axis=-1)
