"""The colorization network (paper, Fig. 2) and our ablation variants.

`full` reproduces the published model layer for layer (same shapes, the same
symmetric zero padding on the stride-2 convolutions, batch-norm eps 1e-5 and
momentum 0.1 in PyTorch terms) so the released weights load into it
(`keras_colorize.convert`). Layer names are part of that contract.

Every variant maps Lab lightness L in 0..100, shape [N, H, W, 1] with H and W
divisible by 8, to [N, H/4, W/4, 313] bin probabilities (`l2`: ab values).
"""

import dataclasses

import keras
from keras import layers

from keras_colorize.bins import NUM_BINS

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


@keras.saving.register_keras_serializable(package="keras_colorize")
class Backbone(keras.Model):
    """The network of one of `VARIANTS`: L [N, H, W, 1] (0..100) -> bins or ab at 1/4.

    A functional model whose config is only its recipe (`variant`, `width`),
    as keras-hub's backbones: `get_config` / `from_config` rebuild the same
    layers, so a saved backbone needs no graph description. `kc.Colorizer`
    wraps it with the pre- and post-processing that take and return photos.

    Args:
        variant: "full", "5block_dilated", "4block" or "l2".
        width: channel multiplier (1.0 is the paper's); small values make CPU
            studies feasible. The 313-way head is never scaled.
        name: model name, defaults to "colorizer_<variant>".

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> backbone = kc.Backbone("4block", width=0.125)
    >>> backbone.predict(np.full((1, 64, 64, 1), 50.0, "float32"), verbose=0).shape
    (1, 16, 16, 313)
    """

    def __init__(self, variant: str = "full", width: float = 1.0, name: str | None = None, **kwargs):
        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}; choose one of {sorted(VARIANTS)}.")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}.")
        lightness = keras.Input((None, None, 1), name="L")
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
            outputs = layers.Rescaling(AB_SCALE, dtype="float32", name="ab")(ab)
        else:
            logits = layers.Conv2D(NUM_BINS, 1, dtype="float32", name="logits")(x)
            outputs = layers.Softmax(dtype="float32", name="probs")(logits)
        super().__init__(lightness, outputs, name=name or f"colorizer_{variant}", **kwargs)
        self.variant = variant
        self.width = float(width)

    @property
    def regression(self) -> bool:
        """True for the `l2` head (ab out) rather than a 313-bin distribution."""
        return self.variant == "l2"

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
