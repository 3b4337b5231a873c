"""Which optional runtimes are installed, and one clear error when one is not.

OpenVINO, NNCF, ONNX, tf2onnx and ONNX Runtime come with the `cpu` extra
(`pip install -e ".[cpu]"` (in the repository)); TensorFlow is always there.
"""

import importlib
import importlib.util
from types import ModuleType

EXTRA = "cpu"
# runtime -> the Python modules it needs
MODULES = {
    "tensorflow": ("tensorflow",),
    "openvino": ("openvino",),
    "onnxruntime": ("onnxruntime", "onnx", "tf2onnx"),
}


class MissingRuntimeError(ImportError):
    """A runtime or converter that is not installed (the message names the extra to install)."""


def require(module: str, purpose: str) -> ModuleType:
    """Import `module`, or raise `MissingRuntimeError` naming the extra that installs it.

    Args:
        module: the importable name, e.g. "openvino" or "nncf".
        purpose: what needs it, for the message ("the openvino runtime", "int8 quantisation").
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingRuntimeError(
            f'{purpose} needs {module}, which is not installed: pip install -e ".[{EXTRA}]" in the repository'
        ) from None


def is_installed(runtime: str) -> bool:
    """True when every module `runtime` needs can be imported."""
    return all(importlib.util.find_spec(module) is not None for module in MODULES[runtime])
