"""An ImageNet-pretrained MobileNetV2 in Keras, ported from an offline .tflite.

The weights come from `keras_colorize/assets/mobilenet_v2_1.0_224_ptq.tflite`
(the TF-Hub MobileNetV2 1.0/224 ImageNet classifier, post-training quantized
by google-coral/test_data, Apache-2.0: `mobilenet_v2_ptq_LICENSE.txt`): int8
weights with per-channel scales and int32 biases, batch norm folded into the
convolutions. Its 53 convolutions (CONV_2D / DEPTHWISE_CONV_2D in graph order,
the 1x1 classifier last) are dequantized and map in order onto
`keras.applications.MobileNetV2(weights=None, classes=1001)`; each
convolution's BatchNormalization becomes the identity plus the folded bias
(gamma 1, mean 0, variance 1 - epsilon, beta = bias). Input: RGB in [-1, 1]
(x / 127.5 - 1). Nothing is downloaded.

Example:

>>> import numpy as np
>>> from keras_colorize import mobilenet_v2
>>> classifier = mobilenet_v2.imagenet_classifier()
>>> classifier.predict(np.zeros((1, 224, 224, 3), "float32"), verbose=0).shape
(1, 1001)
"""

import os
import warnings

import keras
import numpy as np

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
WEIGHTS_FILE = os.path.join(ASSETS, "mobilenet_v2_1.0_224_ptq.tflite")
LICENSE_FILE = os.path.join(ASSETS, "mobilenet_v2_ptq_LICENSE.txt")
NUM_CONVOLUTIONS = 53  # 52 in the feature extractor, then the 1x1 classifier (1001 classes)
CLASSES = 1001  # background first
EPSILON = 1e-3  # keras.applications.MobileNetV2's batch-norm epsilon
# The encoder's taps at strides 4, 8, 16 and 32 (the expansions' ReLU6 outputs and the last one).
TAPS = ("block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu")
EXPECTED = "a MobileNetV2 1.0/224 ImageNet .tflite (53 CONV_2D/DEPTHWISE_CONV_2D, 1001 classes)"


class EncoderWeightsError(ValueError):
    """The encoder's weights file is missing, unreadable or not a MobileNetV2 1.0/224."""


def _dequantize(interpreter, detail: dict) -> np.ndarray:
    data = interpreter.get_tensor(detail["index"])
    if data.dtype in (np.float32, np.float16):
        return data.astype(np.float32)
    parameters = detail["quantization_parameters"]
    scales, zero_points = parameters["scales"], parameters["zero_points"]
    if not len(scales):
        raise ValueError(f"tensor {detail['name']!r} is quantized without scales")
    shape = [1] * data.ndim
    if len(scales) > 1:
        shape[parameters["quantized_dimension"]] = len(scales)
    scales = np.reshape(scales, shape).astype(np.float64)
    zero_points = np.reshape(zero_points, shape).astype(np.float64)
    return ((data.astype(np.float64) - zero_points) * scales).astype(np.float32)


def read_tflite_convolutions(path: str | os.PathLike) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op name, float kernel as stored, float bias) of every convolution in the file, in graph order.

    Args:
        path: a .tflite file.

    Raises:
        EncoderWeightsError: the file is missing or not a TFLite model.
    """
    import tensorflow as tf

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise EncoderWeightsError(f"{path}: no such file; expected {EXPECTED}")
    try:
        with warnings.catch_warnings():  # tf.lite's deprecation notice; LiteRT is not a dependency
            warnings.simplefilter("ignore", UserWarning)
            # From bytes, so the flatbuffer is verified first (a truncated file given by path crashes).
            with open(path, "rb") as file:
                content = file.read()
            interpreter = tf.lite.Interpreter(
                model_content=content,
                experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            )
        interpreter.allocate_tensors()
        tensors = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
        found = []
        for op in interpreter._get_ops_details():  # the graph's operators in execution order
            if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                continue
            kernel, bias = (tensors[i] for i in op["inputs"][1:3])
            found.append((op["op_name"], _dequantize(interpreter, kernel), _dequantize(interpreter, bias)))
    except (ValueError, RuntimeError, KeyError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        message = f"{path}: not a readable TFLite model ({reason}); expected {EXPECTED}"
        raise EncoderWeightsError(message) from None
    return found


def _convolution_layers(model: keras.Model) -> list[keras.layers.Layer]:
    kinds = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    return [layer for layer in model.layers if isinstance(layer, kinds)]


def _batch_norm_of(model: keras.Model, layer: keras.layers.Layer) -> keras.layers.BatchNormalization:
    name = {"Conv1": "bn_Conv1", "Conv_1": "Conv_1_bn"}.get(layer.name, f"{layer.name}_BN")
    return model.get_layer(name)


def load_imagenet_weights(model: keras.Model, path: str | os.PathLike = WEIGHTS_FILE) -> keras.Model:
    """Fill a keras.applications.MobileNetV2 (alpha 1.0, with or without its top) from the .tflite.

    Args:
        model: `keras.applications.MobileNetV2(alpha=1.0, weights=None, ...)`: with its 1001-class top
            (`classes=1001, classifier_activation=None`) or without it (`include_top=False`).
        path: the .tflite (default: the bundled one).

    Returns:
        `model`, its weights set.

    Raises:
        EncoderWeightsError: the file does not hold a MobileNetV2 1.0/224 whose tensors fit `model`.
    """
    path = os.fspath(path)
    convolutions = read_tflite_convolutions(path)
    targets = _convolution_layers(model)
    if len(convolutions) != NUM_CONVOLUTIONS or len(targets) not in (NUM_CONVOLUTIONS - 1, NUM_CONVOLUTIONS):
        raise EncoderWeightsError(f"{path}: {len(convolutions)} convolutions, expected {EXPECTED}")
    for (op_name, kernel, bias), layer in zip(convolutions, targets, strict=False):
        if isinstance(layer, keras.layers.Dense):
            kernel = kernel.reshape(kernel.shape[0], -1).T  # [1001, 1, 1, 1280] -> [1280, 1001]
        else:  # [out, kh, kw, in] -> [kh, kw, in, out]; depthwise: [1, kh, kw, C] -> [kh, kw, C, 1]
            kernel = np.transpose(kernel, (1, 2, 3, 0))
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected or (op_name == "DEPTHWISE_CONV_2D") != isinstance(
            layer, keras.layers.DepthwiseConv2D
        ):
            raise EncoderWeightsError(
                f"{path}: {op_name} kernel {kernel.shape} does not fit {layer.name} {expected}; "
                f"expected {EXPECTED}"
            )
        layer.kernel.assign(kernel)
        if isinstance(layer, keras.layers.Dense):
            layer.bias.assign(bias)
            continue
        norm = _batch_norm_of(model, layer)
        norm.set_weights(
            [np.ones_like(bias), bias, np.zeros_like(bias), np.full_like(bias, 1.0 - norm.epsilon)]
        )
    return model


def check_weights_file(path: str | os.PathLike = WEIGHTS_FILE) -> None:
    """Read the whole file and fit it to a MobileNetV2 without its top; raise what is wrong.

    Args:
        path: the .tflite to check.

    Raises:
        EncoderWeightsError: one line naming the file and what was expected.
    """
    load_imagenet_weights(feature_extractor(), path)


def imagenet_classifier(path: str | os.PathLike = WEIGHTS_FILE) -> keras.Model:
    """The whole ImageNet classifier: RGB in [-1, 1], [N, 224, 224, 3] -> 1001 logits (background first).

    Args:
        path: the .tflite (default: the bundled one).
    """
    model = keras.applications.MobileNetV2(
        input_shape=(224, 224, 3), weights=None, classes=CLASSES, classifier_activation=None
    )
    return load_imagenet_weights(model, path)


def feature_extractor(name: str = "mobilenet_v2_encoder") -> keras.Model:
    """MobileNetV2 1.0 without its top: RGB [-1, 1] [N, H, W, 3] -> the `TAPS` (strides 4, 8, 16, 32).

    Its batch norm layers are frozen (they hold the folded biases; statistics
    from colorization batches would undo them). H and W must be multiples of 32.

    Args:
        name: the model's name (a layer name inside a backbone).
    """
    with warnings.catch_warnings():  # "input_shape is undefined": any multiple of 32 is meant
        warnings.simplefilter("ignore", UserWarning)
        base = keras.applications.MobileNetV2(input_shape=(None, None, 3), include_top=False, weights=None)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return keras.Model(base.input, [base.get_layer(tap).output for tap in TAPS], name=name)
