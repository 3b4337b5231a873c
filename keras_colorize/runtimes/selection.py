"""`--runtime=auto`: the fastest installed runtime for a precision, and the precision it runs.

The order is the one measured on a 2-core AVX512_BF16 / VNNI CPU (issue 11,
`full` at 256 x 256): OpenVINO bf16 209 ms, TensorFlow bf16 254 ms,
OpenVINO float32 413 ms, TensorFlow float32 450 ms; ONNX Runtime has no
bfloat16 path and is used only where OpenVINO is absent (int8).
`bench/inference.py` measures it again on any machine.
"""

import dataclasses

from keras_colorize.choices import RUNTIMES
from keras_colorize.runtimes.installed import EXTRA, MissingRuntimeError, is_installed, require
from keras_colorize.runtimes.precision import RUNTIME_PRECISIONS, resolve_inference_precision

FASTEST_FIRST = ("openvino", "tensorflow", "onnxruntime")


@dataclasses.dataclass(frozen=True)
class Choice:
    """What runs the network: `runtime`, `precision`, and `why` in words (for the log)."""

    runtime: str
    precision: str
    why: str


def choose(
    runtime: str | None = "auto", precision: str | None = "auto", cpuinfo: str = "/proc/cpuinfo"
) -> Choice:
    """Resolve `--runtime` and `--precision` (either may be "auto") on this machine.

    Args:
        runtime: one of `RUNTIMES`, or None where it was not asked (the CLI's default): tensorflow,
            or for int8, which TensorFlow does not run, the fastest installed int8 runtime.
        precision: one of `keras_colorize.runtimes.precision.INFERENCE_PRECISIONS`, or None where
            it was not asked: auto.
        cpuinfo: the file the CPU flags are read from (tests pass a fake one).

    Raises:
        ValueError: an unknown name, or a precision the runtime does not run.
        MissingRuntimeError: the runtime (or, for auto, every runtime of that precision) is not installed.

    Example:

    >>> from keras_colorize.runtimes.selection import choose
    >>> choose("tensorflow", "float32")
    Choice(runtime='tensorflow', precision='float32', why='tensorflow as asked; float32: as asked')
    >>> choose(None, "float32").why
    'tensorflow (default); float32: as asked'
    """
    asked, precision_asked = runtime is not None, precision is not None
    precision = precision or "auto"
    if not asked:
        runtime = "auto" if precision == "int8" else "tensorflow"
    if runtime not in RUNTIMES:
        raise ValueError(f"--runtime {runtime!r} is unknown; choose one of {', '.join(RUNTIMES)}.")
    if runtime == "auto":
        fits = [
            name for name in FASTEST_FIRST if precision == "auto" or precision in RUNTIME_PRECISIONS[name]
        ]
        installed = [name for name in fits if is_installed(name)]
        if not installed:
            raise MissingRuntimeError(
                f"{precision} runs on {' or '.join(fits)}, none of which is installed: "
                f'pip install -e ".[{EXTRA}]" in the repository'
            )
        runtime = installed[0]
        why_runtime = (
            f"auto: {runtime}, the fastest installed"
            if asked
            else f"{runtime}, the fastest installed for int8 (the default tensorflow has none)"
        )
    else:
        require(runtime, f"the {runtime} runtime")
        why_runtime = f"{runtime} as asked" if asked else f"{runtime} (default)"
    resolved, why_precision = resolve_inference_precision(precision, runtime, cpuinfo)
    if not precision_asked:
        why_precision = f"(default) {why_precision}"
    return Choice(runtime, resolved, f"{why_runtime}; {resolved}: {why_precision}")
