"""The colorization network (paper, Fig. 2) and our ablation variants.

`full` reproduces the published model layer for layer (same shapes, the same
symmetric zero padding on the stride-2 convolutions, batch-norm eps 1e-5 and
momentum 0.1 in PyTorch terms) so the released weights load into it
(`keras_colorize.convert`). Layer names are part of that contract.

`mobilenet_v2_unet` (`keras_colorize.mobilenet_unet`) is not the paper's
network: an ImageNet-pretrained MobileNetV2 encoder with a U-Net decoder,
trained with the paper's loss, rebalancing and decoding.

Every variant maps Lab lightness L in 0..100, shape [N, H, W, 1] with H and W
divisible by `Backbone.size_multiple` (8; 32 for `mobilenet_v2_unet`), to
[N, H/4, W/4, 313] bin probabilities (`l2`: ab values).
"""

import dataclasses

import keras
from keras import layers

from keras_colorize.bins import NUM_BINS
from keras_colorize.choices import PRETRAINED_VARIANT_NAMES
from keras_colorize.mobilenet_unet import ENCODER_NAME, SIZE_MULTIPLE, mobilenet_unet

AB_SCALE = 110.0  # ab magnitude scale of the l2 head's output


@dataclasses.dataclass(frozen=True)
class Block:
    """`convs` 3x3 convolutions, ReLU after each, batch norm at the end."""

    name: str
    channels: int
    convs: int
    stride: int = 1  # applied by the last convolution of the block
    dilation: int = 1


_CONV1_TO_4 = (
    Block("conv1", 64, 2, stride=2),
    Block("conv2", 128, 2, stride=2),
    Block("conv3", 256, 3, stride=2),
    Block("conv4", 512, 3),
)
_CONV5 = Block("conv5", 512, 3, dilation=2)
_CONV6 = Block("conv6", 512, 3, dilation=2)
_CONV7 = Block("conv7", 512, 3)

VARIANTS = {
    # The paper's network: conv1-conv7, conv5 and conv6 dilated by 2.
    "full": (*_CONV1_TO_4, _CONV5, _CONV6, _CONV7),
    # Ablation: 5 plain conv blocks and 1 dilated block (conv6 removed).
    "5block_dilated": (*_CONV1_TO_4, _CONV5, _CONV7),
    # Ablation: 4 plain conv blocks, no dilation (conv5-conv7 removed).
    "4block": _CONV1_TO_4,
    # Euclidean baseline: the full body with a 2-channel ab regression head.
    "l2": (*_CONV1_TO_4, _CONV5, _CONV6, _CONV7),
}
HEAD_CHANNELS = 256
# Networks that are not the paper's: an ImageNet-pretrained encoder under the paper's loss.
PRETRAINED_VARIANTS = PRETRAINED_VARIANT_NAMES


def _scaled(channels: int, width: float) -> int:
    return max(8, round(channels * width))


def _conv_block(x, block: Block, width: float):
    channels = _scaled(block.channels, width)
    for i in range(1, block.convs + 1):
        stride = block.stride if i == block.convs else 1
        if stride > 1:
            # PyTorch pads 1 on every side; 'same' would pad 0 before, 1 after.
            x = layers.ZeroPadding2D(1, name=f"{block.name}_{i}_pad")(x)
        x = layers.Conv2D(
            channels,
            3,
            strides=stride,
            dilation_rate=block.dilation,
            padding="valid" if stride > 1 else "same",
            activation="relu",
            name=f"{block.name}_{i}",
        )(x)
    return layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{block.name}_norm")(x)


def _paper_network(lightness, variant: str, width: float):
    """The paper's layout from the L input: 313-bin probabilities (or ab for `l2`) at 1/4."""
    # The published model's input normalisation: (L - 50) / 100.
    x = layers.Rescaling(0.01, offset=-0.5, name="normalize_l")(lightness)
    for block in VARIANTS[variant]:
        x = _conv_block(x, block, width)
    head = _scaled(HEAD_CHANNELS, width)
    x = layers.Conv2DTranspose(head, 4, strides=2, padding="same", activation="relu", name="conv8_1")(x)
    x = layers.Conv2D(head, 3, padding="same", activation="relu", name="conv8_2")(x)
    x = layers.Conv2D(head, 3, padding="same", activation="relu", name="conv8_3")(x)
    if variant == "l2":
        ab = layers.Conv2D(2, 1, dtype="float32", name="ab_unscaled")(x)
        return layers.Rescaling(AB_SCALE, dtype="float32", name="ab")(ab)
    logits = layers.Conv2D(NUM_BINS, 1, dtype="float32", name="logits")(x)
    return layers.Softmax(dtype="float32", name="probs")(logits)


@keras.saving.register_keras_serializable(package="keras_colorize")
class Backbone(keras.Model):
    """The network of one of `VARIANTS`: L [N, H, W, 1] (0..100) -> bins or ab at 1/4.

    A functional model whose config is only its recipe (`variant`, `width`),
    as keras-hub's backbones: `get_config` / `from_config` rebuild the same
    layers, so a saved backbone needs no graph description. `kc.Colorizer`
    wraps it with the pre- and post-processing that take and return photos.

    Args:
        variant: "full", "5block_dilated", "4block", "l2" or "mobilenet_v2_unet".
        width: channel multiplier (1.0 is the paper's); small values make CPU
            studies feasible. The 313-way head is never scaled. For
            `mobilenet_v2_unet` it scales the decoder only (the encoder is
            MobileNetV2 1.0, whose ImageNet weights `kc.mobilenet_v2` loads).
        name: model name, defaults to "colorizer_<variant>".

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> backbone = kc.Backbone("4block", width=0.125)
    >>> backbone.predict(np.full((1, 64, 64, 1), 50.0, "float32"), verbose=0).shape
    (1, 16, 16, 313)
    """

    def __init__(self, variant: str = "full", width: float = 1.0, name: str | None = None, **kwargs):
        if variant not in VARIANTS and variant not in PRETRAINED_VARIANTS:
            choices = sorted(VARIANTS) + list(PRETRAINED_VARIANTS)
            raise ValueError(f"Unknown variant {variant!r}; choose one of {choices}.")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}.")
        lightness = keras.Input((None, None, 1), name="L")
        if variant in PRETRAINED_VARIANTS:
            logits, _ = mobilenet_unet(lightness, width)
            outputs = layers.Softmax(dtype="float32", name="probs")(logits)
        else:
            outputs = _paper_network(lightness, variant, width)
        super().__init__(lightness, outputs, name=name or f"colorizer_{variant}", **kwargs)
        self.variant = variant
        self.width = float(width)

    @property
    def regression(self) -> bool:
        """True for the `l2` head (ab out) rather than a 313-bin distribution."""
        return self.variant == "l2"

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this (the network's total stride)."""
        return SIZE_MULTIPLE if self.variant in PRETRAINED_VARIANTS else 8

    @property
    def encoder(self) -> keras.Model | None:
        """The pretrained encoder inside (`mobilenet_v2_unet`), or None for the paper's networks."""
        return self.get_layer(ENCODER_NAME) if self.variant in PRETRAINED_VARIANTS else None

    def get_config(self) -> dict:
        return {"variant": self.variant, "width": self.width, "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict) -> "Backbone":
        return cls(**config)


def build_model(variant: str = "full", width: float = 1.0, name: str | None = None) -> Backbone:
    """The `Backbone` of one of `VARIANTS` (see there for the arguments)."""
    return Backbone(variant, width, name=name)


def is_regression(model: keras.Model) -> bool:
    """True for the `l2` head (ab out) rather than a 313-bin distribution."""
    return model.regression


def logits_model(model: keras.Model) -> keras.Model:
    """The same network (shared weights) ending at the pre-softmax logits.

    Training uses it so the cross-entropy is computed from logits in float32.
    """
    if is_regression(model):
        return model
    return keras.Model(model.input, model.get_layer("logits").output)
