"""The precision a network runs in at inference: float32, bfloat16 or int8.

`auto` asks the training detector (`keras_colorize.precision.resolve_precision`):
bfloat16 where the CPU computes it natively (AVX512_BF16 or AMX-BF16) and no
GPU is present, float32 elsewhere. `auto` never picks int8, which changes the
network's numbers and needs calibration photos.
"""

from keras_colorize.choices import INFERENCE_PRECISIONS
from keras_colorize.model import Backbone
from keras_colorize.precision import dtype_policy, resolve_precision

# What each runtime runs. ONNX Runtime's CPU kernels have no bfloat16 convolutions;
# TensorFlow has no int8 path for this network (LiteRT is not used, see docs/runtimes.md).
RUNTIME_PRECISIONS = {
    "tensorflow": ("float32", "bfloat16"),
    "openvino": ("float32", "bfloat16", "int8"),
    "onnxruntime": ("float32", "int8"),
}


def resolve_inference_precision(
    precision: str, runtime: str, cpuinfo: str = "/proc/cpuinfo"
) -> tuple[str, str]:
    """("float32" | "bfloat16" | "int8", why) for `precision` on `runtime`.

    Args:
        precision: one of `INFERENCE_PRECISIONS`.
        runtime: one of `RUNTIME_PRECISIONS`.
        cpuinfo: the file the CPU flags are read from (tests pass a fake one).
    """
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(
            f"--precision {precision!r} is unknown; choose one of {', '.join(INFERENCE_PRECISIONS)}."
        )
    supported = RUNTIME_PRECISIONS[runtime]
    if precision != "auto":
        if precision not in supported:
            raise ValueError(f"The {runtime} runtime runs {' or '.join(supported)}, not {precision}.")
        return precision, "as asked"
    detected, why = resolve_precision("auto", cpuinfo)
    if detected != "bfloat16":
        return "float32", why
    if "bfloat16" not in supported:
        return "float32", f"{why}, but {runtime} has no bfloat16 path: float32"
    return "bfloat16", why


def bfloat16_backbone(backbone: Backbone) -> Backbone:
    """The same network (copied weights) computing in bfloat16; logits and softmax stay float32."""
    with dtype_policy("mixed_bfloat16"):
        copy = Backbone.from_config(backbone.get_config())
    copy.set_weights(backbone.get_weights())
    return copy


def bfloat16_colorizer(colorizer):
    """The same `kc.Colorizer` settings around `bfloat16_backbone(colorizer.backbone)`."""
    return type(colorizer)(**{**colorizer.get_config(), "backbone": bfloat16_backbone(colorizer.backbone)})
