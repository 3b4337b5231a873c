"""keras-colorize: Colorful Image Colorization (Zhang, Isola & Efros, ECCV 2016) in Keras 3.

`kc.Colorizer` (a Keras task model: uint8 photos in, colorized photos out,
with presets) wraps a `kc.Backbone` with the layers of `kc.layers`. They and
the maths (colour space, bins, decoding, losses) are backend-agnostic
`keras.ops`; tf.data, training and export use TensorFlow.
"""

import importlib
import sys

if sys.argv[:1] == ["-m"]:  # `python -m keras_colorize.<command>` (argv[0] is "-m" while it is located):
    # quiet TensorFlow's start-up lines before the command imports it (keras_colorize.command).
    from keras_colorize.command import quiet_logs, wants_verbose

    quiet_logs(wants_verbose(sys.orig_argv if hasattr(sys, "orig_argv") else sys.argv))

# Imported on first use (PEP 562), so that `keras-colorize <command> --help` and the command-line
# plumbing (keras_colorize.command, keras_colorize.cli) start without TensorFlow.
_EXPORTS = {
    "layers": "keras_colorize.layers",
    "NUM_BINS": "keras_colorize.bins",
    "bin_centers": "keras_colorize.bins",
    "soft_encode": "keras_colorize.bins",
    "soft_encode_sparse": "keras_colorize.bins",
    "Colorizer": "keras_colorize.colorizer",
    "lab_to_rgb": "keras_colorize.colorspace",
    "rgb_to_lab": "keras_colorize.colorspace",
    "DEFAULT_TEMPERATURE": "keras_colorize.decoding",
    "annealed_mean": "keras_colorize.decoding",
    "decode": "keras_colorize.decoding",
    "EuclideanLoss": "keras_colorize.losses",
    "RebalancedCrossEntropy": "keras_colorize.losses",
    "VARIANTS": "keras_colorize.model",
    "Backbone": "keras_colorize.model",
    "build_model": "keras_colorize.model",
    "rebalancing_weights": "keras_colorize.rebalance",
    "smooth_prior": "keras_colorize.rebalance",
}


def __getattr__(name: str):
    """`kc.Colorizer` and the other exports, imported when first asked for."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_colorize' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    value = module if name == "layers" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TEMPERATURE",
    "NUM_BINS",
    "VARIANTS",
    "Backbone",
    "Colorizer",
    "EuclideanLoss",
    "RebalancedCrossEntropy",
    "annealed_mean",
    "bin_centers",
    "build_model",
    "decode",
    "lab_to_rgb",
    "layers",
    "rebalancing_weights",
    "rgb_to_lab",
    "smooth_prior",
    "soft_encode",
    "soft_encode_sparse",
]
