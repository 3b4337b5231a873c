"""int8 post-training static quantisation with a calibration set of the user's photos.

The calibration photos go through the Colorizer's own preprocessing (uint8
resize to the working size, then L), so the network is calibrated on exactly
what it will see. The last convolution (the 313 logits, or the `l2` head's ab)
and the softmax stay in float: they are ~1% of the work and carry the colour
distribution the decoding needs.

* OpenVINO: NNCF `quantize` (per-channel int8 weights, per-tensor activations,
  the CPU plugin's VNNI kernels).
* ONNX Runtime: `quantize_static` in QDQ form (per-channel weights).
"""

import contextlib
import io
import logging
import os
import sys
import tempfile

import numpy as np

from keras_colorize.command import is_quiet
from keras_colorize.images import list_images, readable_images
from keras_colorize.runtimes.installed import require

MAX_CALIBRATION_PHOTOS = 300


def calibration_lightness(colorizer, photos, max_photos: int = MAX_CALIBRATION_PHOTOS) -> list[np.ndarray]:
    """L [1, S, S, 1] float32 at the colorizer's working size S for up to `max_photos` photos.

    Args:
        colorizer: the `kc.Colorizer` whose preprocessing the network sees.
        photos: photo files or folders (searched recursively).
        max_photos: at most this many (the first, in sorted order).
    """
    files = list_images(photos)[:max_photos]
    lightness = [
        np.asarray(colorizer.preprocessor.work_lightness(rgb[None]), np.float32)
        for _, _, rgb in readable_images(files, [])
    ]
    if not lightness:
        raise ValueError(f"No readable calibration photos in {photos}")
    return lightness


def quantize_openvino(model, calibration: list[np.ndarray]):
    """An `openvino.Model` -> its int8 version (NNCF), the last convolution and softmax kept float."""
    nncf = require("nncf", "int8 quantisation for openvino")
    if is_quiet():  # a command without --verbose: no INFO line per quantised layer
        nncf.set_log_level(logging.WARNING)
    convolutions = [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    ignored = nncf.IgnoredScope(
        names=[convolutions[-1].get_friendly_name()], types=["SoftMax"], validate=False
    )
    # Its "Statistics collection" progress bar (rich, on stdout) only on a terminal.
    bar = contextlib.nullcontext() if sys.stdout.isatty() else contextlib.redirect_stdout(io.StringIO())
    with bar:
        return nncf.quantize(
            model, nncf.Dataset(calibration), subset_size=len(calibration), ignored_scope=ignored
        )


def quantize_onnx(source: str | os.PathLike, target: str | os.PathLike, calibration: list[np.ndarray]) -> str:
    """An ONNX file -> its int8 QDQ version at `target`, the last convolution and softmax kept float."""
    onnx = require("onnx", "int8 quantisation for onnxruntime")
    quantization = require("onnxruntime.quantization", "int8 quantisation for onnxruntime")
    require("sympy", "int8 quantisation for onnxruntime")  # for its shape inference (undeclared)
    graph = onnx.load(os.fspath(source)).graph
    convolutions = [node.name for node in graph.node if node.op_type == "Conv"]
    softmax = [node.name for node in graph.node if node.op_type == "Softmax"]
    input_name = graph.input[0].name

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self._batches = iter(calibration)

        def get_next(self):
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    shapes = require("onnxruntime.quantization.shape_inference", "int8 quantisation for onnxruntime")
    with tempfile.TemporaryDirectory() as scratch:  # ONNX Runtime's recommended pre-processing first
        prepared = os.path.join(scratch, "prepared.onnx")
        shapes.quant_pre_process(os.fspath(source), prepared, auto_merge=True)
        quantization.quantize_static(
            prepared,
            os.fspath(target),
            Reader(),
            quant_format=quantization.QuantFormat.QDQ,
            per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
            nodes_to_exclude=[convolutions[-1], *softmax],
        )
    return os.fspath(target)
