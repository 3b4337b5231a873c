"""Parameter counts, layer shapes and output shapes of every variant."""

import numpy as np
import pytest

from keras_colorize.model import VARIANTS, build_model, is_regression, logits_model

# The published model: 32,236,011 trainable parameters, 626 of them in the
# 313 -> 2 decoding layer that is not part of our network.
PUBLISHED_TRAINABLE = 32_236_011 - 626


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_full_matches_the_published_parameter_count():
    assert _trainable(build_model("full")) == PUBLISHED_TRAINABLE


def test_full_layer_shapes_follow_the_paper():
    model = build_model("full")
    assert model.get_layer("conv1_1").kernel.shape == (3, 3, 1, 64)
    assert model.get_layer("conv3_3").strides == (2, 2)
    assert model.get_layer("conv5_1").dilation_rate == (2, 2)
    assert model.get_layer("conv6_3").dilation_rate == (2, 2)
    assert model.get_layer("conv7_1").dilation_rate == (1, 1)
    assert model.get_layer("conv8_1").kernel.shape == (4, 4, 256, 512)
    assert model.get_layer("logits").kernel.shape == (1, 1, 256, 313)
    assert model.get_layer("conv4_norm").epsilon == pytest.approx(1e-5)


@pytest.mark.parametrize(
    ("variant", "blocks", "dilated"),
    [("5block_dilated", 6, 1), ("4block", 4, 0), ("full", 7, 2), ("l2", 7, 2)],
)
def test_variant_structure(variant, blocks, dilated):
    assert len(VARIANTS[variant]) == blocks
    assert sum(b.dilation > 1 for b in VARIANTS[variant]) == dilated


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("size", [(32, 32), (48, 80)])
def test_output_is_a_quarter_of_the_input(variant, size):
    model = build_model(variant, width=0.125)
    out = np.asarray(model.predict(np.full((2, *size, 1), 50.0, "float32"), verbose=0))
    channels = 2 if variant == "l2" else 313
    assert out.shape == (2, size[0] // 4, size[1] // 4, channels)
    assert is_regression(model) == (variant == "l2")
    if variant != "l2":
        np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-4)


def test_width_scales_channels_but_not_the_head():
    model = build_model("4block", width=0.25)
    assert model.get_layer("conv1_1").filters == 16
    assert model.get_layer("conv4_3").filters == 128
    assert model.get_layer("logits").filters == 313
    assert _trainable(model) < _trainable(build_model("4block")) / 10


def test_logits_model_shares_weights():
    model = build_model("4block", width=0.125)
    logits = logits_model(model)
    x = np.random.default_rng(0).uniform(0, 100, (1, 32, 32, 1)).astype("float32")
    z = np.asarray(logits.predict(x, verbose=0))
    p = np.asarray(model.predict(x, verbose=0))
    softmax = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(-1, keepdims=True), p, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown variant"):
        build_model("resnet")
    with pytest.raises(ValueError, match="width"):
        build_model("full", width=0)
