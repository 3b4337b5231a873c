"""The backbone network as an OpenVINO model (`openvino.convert_model` of the Keras model).

The IR (network.xml + network.bin) keeps float32 weights; bfloat16 is chosen
when it is compiled (the CPU plugin's inference precision), int8 by
`keras_colorize.runtimes.quantize`. Input and output as in `onnx_export`.
"""

import os
import warnings

import numpy as np

from keras_colorize.model import Backbone
from keras_colorize.runtimes.installed import require


def convert_openvino(backbone: Backbone, work_size: int):
    """`backbone` -> an `openvino.Model` (dynamic batch and size; traced at work_size)."""
    ov = require("openvino", "the openvino runtime")
    example = np.full((1, work_size, work_size, 1), 50.0, np.float32)
    with warnings.catch_warnings():  # Keras warns that the traced input is a tuple rather than named "L"
        warnings.simplefilter("ignore", UserWarning)
        return ov.convert_model(backbone, example_input=example)


def export_openvino(model, path: str | os.PathLike) -> str:
    """Save an `openvino.Model` as IR at `path` (.xml, with its .bin beside it); returns the path."""
    ov = require("openvino", "the openvino runtime")
    path = os.fspath(path)
    ov.save_model(model, path, compress_to_fp16=False)
    return path
