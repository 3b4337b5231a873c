"""Runners: an exported or in-memory network behind one call, L in, the backbone's output out.

Each takes L float32 [N, H, W, 1] (0..100) as NumPy and returns float32
[N, H/4, W/4, 313] (or ab for `l2`), so `kc.Colorizer.use_runtime` can put it
in place of the Keras backbone between the same pre- and post-processing.
"""

import os

import numpy as np

from keras_colorize.model import Backbone
from keras_colorize.runtimes.installed import require
from keras_colorize.runtimes.precision import bfloat16_backbone

_OPENVINO_HINTS = {"float32": "f32", "bfloat16": "bf16", "int8": "f32"}  # int8: the float head stays f32


class TensorFlowRunner:
    """The Keras backbone in float32 or bfloat16 (Keras' `mixed_bfloat16`; logits and softmax float32).

    Args:
        backbone: a `kc.Backbone`.
        precision: "float32" or "bfloat16" (a copy of the weights computing in bfloat16).

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> from keras_colorize.runtimes.runners import TensorFlowRunner
    >>> runner = TensorFlowRunner(kc.build_model("4block", width=0.125), "bfloat16")
    >>> runner(np.full((1, 32, 32, 1), 50.0, "float32")).shape
    (1, 8, 8, 313)
    """

    runtime = "tensorflow"

    def __init__(self, backbone: Backbone, precision: str = "float32"):
        self.precision = precision
        self.model = bfloat16_backbone(backbone) if precision == "bfloat16" else backbone

    def __call__(self, lightness: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_on_batch(lightness), np.float32)


class OpenVINORunner:
    """An OpenVINO model (in memory or an IR file) compiled for the CPU.

    Args:
        model: an `openvino.Model` or the path of its .xml.
        precision: "float32", "bfloat16" (the CPU plugin's inference precision)
            or "int8" (for a model from `quantize.quantize_openvino`).
        size: the square input size it will always get (its working size), fixed
            at compile time so the plugin can pick kernels for it; None: any size.

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> from keras_colorize.runtimes.openvino_export import convert_openvino
    >>> from keras_colorize.runtimes.runners import OpenVINORunner
    >>> runner = OpenVINORunner(convert_openvino(kc.build_model("4block", width=0.125), 32))
    >>> runner(np.full((2, 32, 32, 1), 50.0, "float32")).shape
    (2, 8, 8, 313)
    """

    runtime = "openvino"

    def __init__(self, model, precision: str = "float32", size: int | None = None):
        ov = require("openvino", "the openvino runtime")
        self.precision = precision
        config = {"INFERENCE_PRECISION_HINT": _OPENVINO_HINTS[precision], "PERFORMANCE_HINT": "LATENCY"}
        if isinstance(model, (str, os.PathLike)):
            model = ov.Core().read_model(os.fspath(model))
        if size is not None:
            model.reshape(ov.PartialShape([-1, size, size, 1]))
        self.request = ov.Core().compile_model(model, "CPU", config).create_infer_request()

    def __call__(self, lightness: np.ndarray) -> np.ndarray:
        self.request.infer({0: np.ascontiguousarray(lightness, np.float32)})
        return np.array(self.request.get_output_tensor(0).data, np.float32)


class OnnxRuntimeRunner:
    """An ONNX file (float32, or int8 QDQ from `quantize.quantize_onnx`) on ONNX Runtime's CPU provider.

    Args:
        path: the .onnx file (read when the runner is made).
        precision: "float32" or "int8" (what the file holds).

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> from keras_colorize.runtimes.onnx_export import export_onnx
    >>> from keras_colorize.runtimes.runners import OnnxRuntimeRunner
    >>> path = export_onnx(kc.build_model("4block", width=0.125), "/tmp/tiny_network.onnx")
    >>> OnnxRuntimeRunner(path)(np.full((1, 32, 32, 1), 50.0, "float32")).shape
    (1, 8, 8, 313)
    """

    runtime = "onnxruntime"

    def __init__(self, path: str | os.PathLike, precision: str = "float32"):
        ort = require("onnxruntime", "the onnxruntime runtime")
        self.precision = precision
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, lightness: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(lightness, np.float32)}
        return np.asarray(self.session.run(None, feed)[0], np.float32)
