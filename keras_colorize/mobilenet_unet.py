"""The `mobilenet_v2_unet` network: an ImageNet-pretrained MobileNetV2 encoder and a U-Net decoder.

The paper's method, unchanged, on a network that does not have to learn
semantics from scratch (as Larsson et al. 2016 and Iizuka et al. 2016 use
ImageNet features): L is turned into the gray sRGB photo it is (`LightnessToGray`,
a = b = 0, exact), scaled to MobileNetV2's [-1, 1] input, and the encoder
(`keras_colorize.mobilenet_v2.feature_extractor`) gives features at strides
4, 8, 16 and 32. The decoder starts at stride 32 with a global branch (the
image's average feature, as Iizuka et al.'s global features, added back
everywhere), then three times: bilinear 2x upsampling, concatenation with the
encoder's features at that stride, two 3x3 convolutions (ReLU) and batch norm.
The 313-bin logits come out at stride 4 (1/4 of the input, where the targets
are), so the loss layer, rebalancing and decoding are the paper's.

Input sides must be multiples of 32 (five stride-2 stages).
"""

import keras
from keras import layers, ops

from keras_colorize.bins import NUM_BINS
from keras_colorize.colorspace import lab_f_inverse, linear_to_srgb
from keras_colorize.layers import upsample_axis
from keras_colorize.mobilenet_v2 import feature_extractor

ENCODER_NAME = "mobilenet_v2_encoder"
SIZE_MULTIPLE = 32
# Decoder channels at width 1: the stride-32 bottleneck and global branch, then strides 16, 8, 4.
DECODER_CHANNELS = {"bottleneck": 512, "up16": 256, "up8": 128, "up4": 128}


@keras.saving.register_keras_serializable(package="keras_colorize")
class LightnessToGray(keras.layers.Layer):
    """L in 0..100 [N, H, W, 1] -> the gray sRGB photo of that L, 3 channels, scaled to [-1, 1].

    With a = b = 0, linear R = G = B = Y (D65 white), so the gray value is
    sRGB companding of Y = f^-1((L + 16) / 116): the input MobileNetV2 was
    trained on (x / 127.5 - 1) for a gray photo.

    Example:

    >>> import numpy as np
    >>> from keras_colorize.mobilenet_unet import LightnessToGray
    >>> np.round(np.asarray(LightnessToGray()(np.array([[[[0.0], [100.0]]]], "float32")))[0, 0], 3)
    array([[-1., -1., -1.],
           [ 1.,  1.,  1.]], dtype=float32)
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, lightness):
        luminance = lab_f_inverse((ops.cast(lightness, "float32") + 16.0) / 116.0)
        gray = ops.clip(linear_to_srgb(ops.clip(luminance, 0.0, 1.0)), 0.0, 1.0)
        return ops.repeat(gray * 2.0 - 1.0, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="keras_colorize")
class Upsample2x(keras.layers.Layer):
    """Bilinear 2x upsampling (half-pixel centres, edges clamped: `tf.image.resize`'s result).

    Built on the colorizer's own `upsample_axis`, which takes a symbolic size,
    so the network exports with any input size (ONNX, OpenVINO, the SavedModel);
    `keras.layers.UpSampling2D(interpolation="bilinear")` does not trace with
    unknown height and width.

    Example:

    >>> import numpy as np
    >>> from keras_colorize.mobilenet_unet import Upsample2x
    >>> np.asarray(Upsample2x()(np.array([[[[0.0], [4.0]]]], "float32")))[0, 0, :, 0]
    array([0., 1., 3., 4.], dtype=float32)
    """

    def call(self, x):
        shape = ops.shape(x)
        return upsample_axis(upsample_axis(x, shape[1] * 2, axis=1), shape[2] * 2, axis=2)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else 2 * h, None if w is None else 2 * w, c)


def _channels(name: str, width: float) -> int:
    return max(8, round(DECODER_CHANNELS[name] * width))


def mobilenet_unet(lightness, width: float):
    """The network's graph from the L input: (logits float32 at stride 4, the encoder model)."""
    gray = LightnessToGray(name="lightness_to_gray")(lightness)
    encoder = feature_extractor(ENCODER_NAME)
    stride4, stride8, stride16, stride32 = encoder(gray)
    channels = _channels("bottleneck", width)
    x = layers.Conv2D(channels, 1, activation="relu", name="bottleneck")(stride32)
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(stride32)
    global_features = layers.Conv2D(channels, 1, activation="relu", name="global_features")(pooled)
    x = layers.Add(name="global_fusion")([x, global_features])
    for name, skip in (("up16", stride16), ("up8", stride8), ("up4", stride4)):
        x = Upsample2x(name=f"{name}_upsample")(x)
        x = layers.Concatenate(name=f"{name}_concat")([x, skip])
        for i in (1, 2):
            x = layers.Conv2D(
                _channels(name, width), 3, padding="same", activation="relu", name=f"{name}_conv{i}"
            )(x)
        x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9, name=f"{name}_norm")(x)
    logits = layers.Conv2D(NUM_BINS, 1, dtype="float32", name="logits")(x)
    return logits, encoder
