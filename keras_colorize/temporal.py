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

Optionally the state follows the motion: `optical_flow` (OpenCV's
Farneback, the `video` extra) finds where each pixel of the new frame was in
the previous one, and `warp` moves the state there before the average, so a
moving object keeps its own colour instead of the one behind it.
"""

import numpy as np
from keras import ops

from keras_colorize.choices import VIDEO_CUT_THRESHOLD, VIDEO_TEMPORAL

DEFAULT_TEMPORAL, DEFAULT_CUT_THRESHOLD = VIDEO_TEMPORAL, VIDEO_CUT_THRESHOLD

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


def require_opencv():
    """The `cv2` module (OpenCV), or an ImportError that says how to install it."""
    try:
        import cv2
    except ImportError:
        raise ImportError('optical flow needs OpenCV: pip install -e ".[video]" in the repository') from None
    return cv2


def optical_flow(current, previous) -> np.ndarray:
    """Dense flow [H, W, 2] (dx, dy) with current(p) ~ previous(p + flow(p)): OpenCV's Farneback.

    Args:
        current: L [H, W] (0..100) of a frame.
        previous: L [H, W] of the frame before it.

    Example:

    >>> import numpy as np
    >>> y, x = np.mgrid[0:64, 0:64]
    >>> def texture(x, y):
    ...     return 50 + 20 * np.sin(x / 3.0) + 20 * np.sin(y / 4.0 + x / 7.0)
    >>> flow = optical_flow(texture(x - 2, y), texture(x, y))  # the content moved 2 px right
    >>> round(float(np.median(flow[16:48, 16:48, 0]))), round(float(np.median(flow[16:48, 16:48, 1])))
    (-2, 0)
    """
    cv2 = require_opencv()

    def eight_bit(lightness) -> np.ndarray:
        return np.clip(np.rint(np.asarray(lightness, np.float32) * 2.55), 0, 255).astype(np.uint8)

    # OpenCV's documented defaults: a 0.5 pyramid of 3 levels, 15-pixel windows, 3 iterations, poly_n 5.
    return cv2.calcOpticalFlowFarneback(
        eight_bit(current), eight_bit(previous), None, 0.5, 3, 15, 3, 5, 1.2, 0
    )


def warp(values, flow):
    """Backward warp: out(p) = values(p + flow(p)), bilinear, positions clamped to the edges.

    Args:
        values: [H, W, C] (e.g. a state of log-probabilities, or ab).
        flow: [H, W, 2] (dx, dy) in pixels, as `optical_flow` gives it.

    Example:

    >>> import numpy as np
    >>> from keras import ops
    >>> row = np.arange(4, dtype="float32").reshape(1, 4, 1)
    >>> shift = np.zeros((1, 4, 2), "float32")
    >>> shift[..., 0] = 0.5  # half a pixel to the right
    >>> ops.convert_to_numpy(warp(row, shift)).ravel().tolist()
    [0.5, 1.5, 2.5, 3.0]
    """
    values = ops.convert_to_tensor(values, "float32")
    flow = ops.convert_to_tensor(flow, "float32")
    height, width = values.shape[0], values.shape[1]
    rows, cols = ops.meshgrid(
        ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij"
    )
    y = ops.clip(rows + flow[..., 1], 0.0, height - 1.0)
    x = ops.clip(cols + flow[..., 0], 0.0, width - 1.0)
    y0, x0 = ops.floor(y), ops.floor(x)
    fy, fx = ops.reshape(y - y0, (-1, 1)), ops.reshape(x - x0, (-1, 1))
    y0, x0 = ops.cast(y0, "int32"), ops.cast(x0, "int32")
    y1, x1 = ops.minimum(y0 + 1, height - 1), ops.minimum(x0 + 1, width - 1)
    flat = ops.reshape(values, (height * width, -1))

    def at(yy, xx):
        return ops.take(flat, ops.reshape(yy * width + xx, (-1,)), axis=0)

    top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx
    return ops.reshape(top * (1.0 - fy) + bottom * fy, values.shape)
