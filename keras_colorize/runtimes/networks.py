"""Exported networks in a model folder, and the runner for a (runtime, precision).

An ONNX or OpenVINO export is a preset folder (config.json, model.weights.h5,
metadata.json: the Colorizer's pre/post-processing and provenance) with the
network beside it:

    network.onnx            float32 ONNX        network.xml / .bin        float32 OpenVINO IR (also
                                                                          compiled as bfloat16)
    network_int8.onnx       int8 QDQ ONNX       network_int8.xml / .bin   int8 OpenVINO IR (NNCF)

`make_runner` uses the file that fits when the model folder has it and
otherwise converts (and, for int8, quantises with the calibration photos)
the Colorizer's own backbone in memory.
"""

import os
import tempfile

from keras_colorize.choices import FORMATS  # noqa: F401 (re-exported)
from keras_colorize.runtimes.onnx_export import export_onnx
from keras_colorize.runtimes.openvino_export import convert_openvino, export_openvino
from keras_colorize.runtimes.quantize import calibration_lightness, quantize_onnx, quantize_openvino
from keras_colorize.runtimes.runners import OnnxRuntimeRunner, OpenVINORunner, TensorFlowRunner
from keras_colorize.runtimes.selection import choose

EXPORT_PRECISIONS = {
    "saved_model": ("float32", "bfloat16"),
    "onnx": ("float32", "int8"),
    "openvino": ("float32", "bfloat16", "int8"),
}
_SUFFIX = {"onnx": ".onnx", "openvino": ".xml"}
_RUNTIME_FORMAT = {"onnxruntime": "onnx", "openvino": "openvino"}


def network_file(folder: str | os.PathLike, fmt: str, precision: str) -> str:
    """The path of the `fmt` ("onnx" | "openvino") network of `precision` in a model folder."""
    stem = "network_int8" if precision == "int8" else "network"
    return os.path.join(os.fspath(folder), stem + _SUFFIX[fmt])


def _int8_calibration(colorizer, calibration_data):
    if not calibration_data:
        raise ValueError(
            "int8 needs calibration photos (--calibration_data, a few hundred of yours at most), "
            "or a model folder exported with --precision=int8"
        )
    return calibration_lightness(colorizer, calibration_data)


def _openvino_model(colorizer, precision: str, calibration_data):
    model = convert_openvino(colorizer.backbone, colorizer.work_size)
    return (
        quantize_openvino(model, _int8_calibration(colorizer, calibration_data))
        if precision == "int8"
        else model
    )


def write_network(colorizer, fmt: str, precision: str, path: str, calibration_data=None) -> str:
    """Write the Colorizer's backbone as a `fmt` ("onnx" | "openvino") network at `path`.

    Args:
        colorizer: a `kc.Colorizer`.
        fmt: "onnx" or "openvino".
        precision: "float32", "int8" (quantised with `calibration_data`), or for
            OpenVINO "bfloat16" (the float32 IR; bfloat16 is chosen when it is compiled).
        path: the .onnx or .xml file to write.
        calibration_data: photo files or folders (int8 only).
    """
    if fmt not in _SUFFIX or precision not in EXPORT_PRECISIONS[fmt]:
        raise ValueError(
            f"--format={fmt} exports {' or '.join(EXPORT_PRECISIONS.get(fmt, ()))}, not {precision}"
        )
    if fmt == "openvino":
        return export_openvino(_openvino_model(colorizer, precision, calibration_data), path)
    if precision == "float32":
        return export_onnx(colorizer.backbone, path)
    calibration = _int8_calibration(colorizer, calibration_data)
    with tempfile.TemporaryDirectory() as scratch:
        return quantize_onnx(
            export_onnx(colorizer.backbone, os.path.join(scratch, "float32.onnx")), path, calibration
        )


def make_runner(
    colorizer, runtime: str = "auto", precision: str = "auto", folder=None, calibration_data=None
):
    """The runner of `colorizer`'s network on `runtime` in `precision` (either may be "auto").

    Args:
        colorizer: a `kc.Colorizer`.
        runtime: "auto", "tensorflow", "openvino" or "onnxruntime".
        precision: "auto", "float32", "bfloat16" or "int8".
        folder: the model folder, searched for an exported network (None: convert in memory).
        calibration_data: photo files or folders for int8 when no int8 network is exported.

    Returns:
        (runner, `selection.Choice`); the runner is None for TensorFlow float32, the Keras backbone itself.
    """
    choice = choose(runtime, precision)
    if choice.runtime == "tensorflow":
        return (
            None if choice.precision == "float32" else TensorFlowRunner(colorizer.backbone, "bfloat16")
        ), choice
    fmt = _RUNTIME_FORMAT[choice.runtime]
    stored = "int8" if choice.precision == "int8" else "float32"
    exported = network_file(folder, fmt, stored) if folder is not None and os.path.isdir(folder) else None
    if fmt == "openvino":
        found = exported is not None and os.path.isfile(exported)
        model = exported if found else _openvino_model(colorizer, stored, calibration_data)
        return OpenVINORunner(model, choice.precision, colorizer.work_size), choice
    if exported is not None and os.path.isfile(exported):
        return OnnxRuntimeRunner(exported, choice.precision), choice
    with tempfile.TemporaryDirectory() as scratch:  # ONNX Runtime reads the file when the session is made
        path = write_network(colorizer, fmt, stored, network_file(scratch, fmt, stored), calibration_data)
        return OnnxRuntimeRunner(path, choice.precision), choice
