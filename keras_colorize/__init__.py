"""keras-colorize: Colorful Image Colorization (Zhang, Isola & Efros, ECCV 2016) in Keras 3.

`kc.Colorizer` (a Keras task model: uint8 photos in, colorized photos out,
with presets) wraps a `kc.Backbone` with the layers of `kc.layers`. They and
the maths (colour space, bins, decoding, losses) are backend-agnostic
`keras.ops`; tf.data, training and export use TensorFlow.
"""

import importlib
import os
import sys

# `python -m keras_colorize.<command>` (argv[0] is "-m" while the module is located) or the
# `keras-colorize` script: quiet TensorFlow's start-up lines before the command imports it, and import
# the rest only when it is used, so that --help starts without TensorFlow (keras_colorize.command).
_PROGRAM = os.path.basename(sys.argv[0]) if sys.argv else ""
_COMMAND_LINE = _PROGRAM in ("-m", "keras-colorize")
if _COMMAND_LINE:
    from keras_colorize.command import quiet_logs, wants_verbose

    quiet_logs(wants_verbose(getattr(sys, "orig_argv", sys.argv)))

# On the command line imported on first use (PEP 562); otherwise at once, as `import keras_colorize`
# must register the Keras classes (keras.models.load_model("colorizer.keras") needs no custom_objects).
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
    "TrainConfig": "keras_colorize.train_config",
    "run_training": "keras_colorize.trainer",
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


# Training is TensorFlow's (tf.data, the distributed step): imported on first use even from Python, so
# `import keras_colorize` under KERAS_BACKEND=jax imports no TensorFlow.
_TRAINING = ("TrainConfig", "run_training")

if not _COMMAND_LINE:
    for _name in _EXPORTS:
        if _name not in _TRAINING:
            __getattr__(_name)


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TEMPERATURE",
    "NUM_BINS",
    "VARIANTS",
    "Backbone",
    "Colorizer",
    "EuclideanLoss",
    "RebalancedCrossEntropy",
    "TrainConfig",
    "annealed_mean",
    "bin_centers",
    "build_model",
    "decode",
    "lab_to_rgb",
    "layers",
    "rebalancing_weights",
    "rgb_to_lab",
    "run_training",
    "smooth_prior",
    "soft_encode",
    "soft_encode_sparse",
]
