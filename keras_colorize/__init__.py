"""keras-colorize: Colorful Image Colorization (Zhang, Isola & Efros, ECCV 2016) in Keras 3.

`kc.Colorizer` (a Keras task model: uint8 photos in, colorized photos out,
with presets) wraps a `kc.Backbone` with the layers of `kc.layers`. They and
the maths (colour space, bins, decoding, losses) are backend-agnostic
`keras.ops`; tf.data, training and export use TensorFlow.
"""

from keras_colorize import layers
from keras_colorize.bins import NUM_BINS, bin_centers, soft_encode, soft_encode_sparse
from keras_colorize.colorizer import Colorizer
from keras_colorize.colorspace import lab_to_rgb, rgb_to_lab
from keras_colorize.decoding import DEFAULT_TEMPERATURE, annealed_mean, decode
from keras_colorize.losses import EuclideanLoss, RebalancedCrossEntropy
from keras_colorize.model import VARIANTS, Backbone, build_model
from keras_colorize.rebalance import rebalancing_weights, smooth_prior

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
