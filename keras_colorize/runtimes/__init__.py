"""Run the colorizer's network on other runtimes and precisions: ONNX, OpenVINO, bfloat16, int8.

One module per job:

* `installed`: which runtimes are installed; `MissingRuntimeError` names the extra.
* `precision`: `--precision` (float32, bfloat16, int8, auto) per runtime; the bfloat16 Keras backbone.
* `onnx_export`, `openvino_export`: the backbone as an ONNX file or an OpenVINO model.
* `quantize`: int8 post-training quantisation with the user's calibration photos (NNCF, ONNX Runtime).
* `runners`: TensorFlow, OpenVINO and ONNX Runtime behind one call (L in, bin probabilities out).
* `selection`: `--runtime=auto`, the fastest installed runtime.
* `networks`: exported networks in a model folder; `make_runner` for a (runtime, precision).

`kc.Colorizer.from_preset(..., runtime=..., precision=...)` and
`python -m keras_colorize.colorize --runtime=... --precision=...` put a runner
in place of the Keras backbone; the pre- and post-processing stay the
Colorizer's layers. The optional runtimes come with `pip install -e ".[cpu]"` (in the repository).
"""

from keras_colorize.runtimes.installed import MissingRuntimeError, is_installed
from keras_colorize.runtimes.networks import FORMATS, make_runner, network_file, write_network
from keras_colorize.runtimes.precision import INFERENCE_PRECISIONS, resolve_inference_precision
from keras_colorize.runtimes.selection import RUNTIMES, Choice, choose

__all__ = [
    "FORMATS",
    "INFERENCE_PRECISIONS",
    "RUNTIMES",
    "Choice",
    "MissingRuntimeError",
    "choose",
    "is_installed",
    "make_runner",
    "network_file",
    "resolve_inference_precision",
    "write_network",
]
