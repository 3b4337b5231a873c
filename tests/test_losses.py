"""The losses against a direct NumPy computation."""

import numpy as np
import pytest
from keras import ops

from keras_colorize.bins import bin_centers
from keras_colorize.losses import EuclideanLoss, RebalancedCrossEntropy, make_loss


def _numpy_soft_encode(ab):
    d2 = ((ab[..., None, :] - bin_centers().astype(np.float64)) ** 2).sum(-1)
    order = np.argsort(d2, axis=-1)[..., :5]
    w = np.exp(-np.take_along_axis(d2, order, -1) / 50.0)
    q = np.zeros(d2.shape)
    np.put_along_axis(q, order, w / w.sum(-1, keepdims=True), -1)
    return q


def _case(seed=0):
    rng = np.random.default_rng(seed)
    ab = rng.uniform(-60, 60, (3, 4, 5, 2)).astype("float32")
    ab[2] = rng.uniform(-3, 3, (4, 5, 2))  # a colourless image
    logits = rng.normal(0, 1, (3, 4, 5, 313)).astype("float32")
    return ab, logits


def _numpy_loss(ab, logits, class_weights):
    q = _numpy_soft_encode(ab.astype(np.float64))
    z = logits.astype(np.float64)
    log_p = z - z.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    pixel_w = class_weights[q.argmax(-1)]
    per_image = (-(q * log_p).sum(-1) * pixel_w).mean(axis=(1, 2))
    colourful = np.sqrt((ab**2).sum(-1)).max(axis=(1, 2)) >= 5
    return per_image * colourful


def test_rebalanced_cross_entropy_matches_numpy():
    ab, logits = _case()
    class_weights = np.random.default_rng(1).uniform(0.2, 5, 313).astype("float32")
    ours = ops.convert_to_numpy(RebalancedCrossEntropy(class_weights)(ab, logits))
    expected = _numpy_loss(ab, logits, class_weights)
    np.testing.assert_allclose(ours, expected, rtol=1e-5)
    assert ours[2] == 0.0  # no colour, no weight
    assert ours[0] > 0


def test_plain_loss_and_probabilities_input():
    ab, logits = _case(2)
    expected = _numpy_loss(ab, logits, np.ones(313))
    np.testing.assert_allclose(ops.convert_to_numpy(make_loss("plain")(ab, logits)), expected, rtol=1e-5)
    probs = ops.convert_to_numpy(ops.softmax(logits, axis=-1))
    from_probs = make_loss("plain", from_logits=False)(ab, probs)
    np.testing.assert_allclose(ops.convert_to_numpy(from_probs), expected, rtol=1e-4)


def test_weights_look_up_the_most_likely_target_bin():
    ab = np.zeros((1, 1, 2, 2), "float32")
    ab[0, 0, 0] = [40, 40]
    ab[0, 0, 1] = [0, 0]
    logits = np.zeros((1, 1, 2, 313), "float32")
    heavy = np.ones(313, "float32")
    heavy[int(np.argmin(np.linalg.norm(bin_centers() - [40, 40], axis=1)))] = 3.0
    base = ops.convert_to_numpy(make_loss("plain")(ab, logits))
    weighted = ops.convert_to_numpy(RebalancedCrossEntropy(heavy)(ab, logits))
    np.testing.assert_allclose(weighted, base * (3 + 1) / 2, rtol=1e-5)


def test_euclidean_loss():
    ab, _ = _case()
    prediction = ab + np.array([3.0, 4.0], "float32")
    loss = ops.convert_to_numpy(EuclideanLoss()(ab, prediction))
    np.testing.assert_allclose(loss, [12.5, 12.5, 0.0], rtol=1e-6)


def test_loss_layers_serialise():
    layer = RebalancedCrossEntropy(np.linspace(0.5, 2, 313), from_logits=False)
    clone = RebalancedCrossEntropy.from_config(layer.get_config())
    np.testing.assert_allclose(clone.class_weights, layer.class_weights)
    assert clone.from_logits is False


def test_make_loss_errors():
    with pytest.raises(ValueError, match="class weights"):
        make_loss("rebalanced")
    with pytest.raises(ValueError, match="Unknown loss"):
        make_loss("focal")
