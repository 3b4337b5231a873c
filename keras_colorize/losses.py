"""Training objectives as Keras layers: (ab target, prediction) -> loss per image.

* `RebalancedCrossEntropy`: the paper's multinomial cross-entropy against
  soft-encoded targets, each pixel weighted by the rebalancing weight of its
  target's most likely bin (class_weights=None gives the plain loss).
* `EuclideanLoss`: the paper's L2 baseline, 1/2 ||ab - ab_hat||^2 per pixel.

Targets are ab at the output resolution. Images without colour (every
|ab| < 5) carry no weight: they would teach the network that gray is right.
Both return the mean over pixels for each image, so that distribution
strategies can average over the global batch.
"""

import keras
import numpy as np
from keras import ops

from keras_colorize.bins import NUM_BINS, soft_encode_sparse

COLORLESS_CHROMA = 5.0


def colorful_images(ab):
    """[N, h, w, 2] -> [N] float mask, 0 where every pixel has |ab| < 5."""
    chroma = ops.sqrt(ops.sum(ops.square(ab), axis=-1))
    return ops.cast(ops.max(chroma, axis=(1, 2)) >= COLORLESS_CHROMA, "float32")


@keras.saving.register_keras_serializable(package="keras_colorize")
class RebalancedCrossEntropy(keras.layers.Layer):
    """Prior-weighted multinomial cross-entropy over the 313 bins.

    Args:
        class_weights: 313 rebalancing weights (see `rebalance.py`), or None
            for the unweighted cross-entropy.
        from_logits: whether predictions are logits (training) or
            probabilities (evaluating a saved model).

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> loss = kc.RebalancedCrossEntropy(from_logits=False)
    >>> ab = np.full((1, 4, 4, 2), 20.0, "float32")
    >>> probs = np.full((1, 4, 4, 313), 1 / 313, "float32")
    >>> round(float(loss(ab, probs)[0]), 3)  # log(313): a uniform guess
    5.746
    """

    def __init__(self, class_weights=None, from_logits: bool = True, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if class_weights is None:
            class_weights = np.ones(NUM_BINS, np.float32)
        self.class_weights = np.asarray(class_weights, np.float32).reshape(NUM_BINS)
        self.from_logits = from_logits

    def call(self, ab_target, prediction):
        ab_target = ops.cast(ab_target, "float32")
        prediction = ops.cast(prediction, "float32")
        if self.from_logits:
            log_p = ops.log_softmax(prediction, axis=-1)
        else:
            log_p = ops.log(ops.maximum(prediction, 1e-8))
        indices, weights = soft_encode_sparse(ab_target)
        cross_entropy = -ops.sum(weights * ops.take_along_axis(log_p, indices, axis=-1), axis=-1)
        pixel_weight = ops.take(ops.convert_to_tensor(self.class_weights), indices[..., 0])
        per_image = ops.mean(pixel_weight * cross_entropy, axis=(1, 2))
        return per_image * colorful_images(ab_target)

    def get_config(self):
        return {
            **super().get_config(),
            "class_weights": self.class_weights.tolist(),
            "from_logits": self.from_logits,
        }


@keras.saving.register_keras_serializable(package="keras_colorize")
class EuclideanLoss(keras.layers.Layer):
    """1/2 ||ab - ab_hat||^2 averaged over pixels (the paper's L2 baseline); no arguments.

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> ab = np.full((1, 4, 4, 2), 20.0, "float32")
    >>> float(kc.EuclideanLoss()(ab, np.zeros_like(ab))[0])  # 1/2 (20^2 + 20^2)
    400.0
    """

    def __init__(self, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)

    def call(self, ab_target, prediction):
        ab_target = ops.cast(ab_target, "float32")
        squared = ops.sum(ops.square(ab_target - ops.cast(prediction, "float32")), axis=-1)
        return 0.5 * ops.mean(squared, axis=(1, 2)) * colorful_images(ab_target)


def make_loss(kind: str, class_weights=None, from_logits: bool = True) -> keras.layers.Layer:
    """The loss layer named `kind`: rebalanced (needs class_weights), plain or l2."""
    if kind == "rebalanced":
        if class_weights is None:
            raise ValueError("The rebalanced loss needs class weights from a prior.")
        return RebalancedCrossEntropy(class_weights, from_logits=from_logits)
    if kind == "plain":
        return RebalancedCrossEntropy(None, from_logits=from_logits)
    if kind == "l2":
        return EuclideanLoss()
    raise ValueError(f"Unknown loss {kind!r}; use rebalanced, plain or l2.")
