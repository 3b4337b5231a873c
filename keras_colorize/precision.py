"""The compute precision of a training run: bfloat16 where the CPU computes it natively.

`--mixed_precision=auto` (the default) picks Keras' `mixed_bfloat16` policy on a
machine without a GPU whose CPU has AVX512_BF16 or AMX-BF16 (measured on such a
CPU: the `full` train step 1.78x faster than float32, docs/performance.md), and
float32 everywhere else. Softmax, losses and the saved weights stay float32
under every policy (`keras_colorize.model`, `keras_colorize.trainer`).
"""

import contextlib
from collections.abc import Iterator

import keras
import tensorflow as tf

# --mixed_precision value -> Keras dtype policy ("auto" is resolved first).
PRECISIONS = {"auto": "", "none": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        with open(cpuinfo, encoding="utf-8") as file:
            for line in file:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(name: str, cpuinfo: str = "/proc/cpuinfo") -> tuple[str, str]:
    """("none" | "bfloat16" | "float16", why) for a --mixed_precision value."""
    if name not in PRECISIONS:
        raise ValueError(f"--mixed_precision {name!r} is unknown; choose one of {', '.join(PRECISIONS)}.")
    if name != "auto":
        return name, "as asked"
    if tf.config.list_physical_devices("GPU"):
        return "none", "auto: a GPU is present, float32 stays the default there"
    native = sorted(set(NATIVE_BF16_FLAGS) & cpu_flags(cpuinfo))
    if native:
        return "bfloat16", f"auto: this CPU computes bfloat16 natively ({', '.join(native)})"
    return "none", "auto: this CPU has no native bfloat16 (AVX512_BF16 / AMX-BF16)"


@contextlib.contextmanager
def dtype_policy(policy: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy `policy`; the global policy is restored after.

    Args:
        policy: a Keras policy name ("float32", "mixed_bfloat16", ...; `PRECISIONS` maps
            --mixed_precision values to them).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
