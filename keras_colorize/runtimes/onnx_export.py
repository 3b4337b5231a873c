"""The backbone network as an ONNX file (Keras 3's `model.export(format="onnx")`, tf2onnx underneath).

The file holds the network only: L float32 [N, H, W, 1] (0..100, H and W
multiples of 8, any batch) -> the 313-bin probabilities (or ab for `l2`)
at 1/4 of H and W, the softmax included. Decoding, upsampling and Lab -> RGB
stay in the Colorizer's layers, so every runtime shares them.
"""

import os

import keras

from keras_colorize.model import Backbone
from keras_colorize.runtimes.installed import require


def export_onnx(backbone: Backbone, path: str | os.PathLike) -> str:
    """Write `backbone` as an ONNX file at `path` (float32, dynamic batch and size); returns the path."""
    require("tf2onnx", "ONNX export")
    require("onnx", "ONNX export")
    path = os.fspath(path)
    spec = keras.InputSpec(shape=(None, None, None, 1), dtype="float32", name="L")
    backbone.export(path, format="onnx", input_signature=[spec], verbose=False)
    return path
