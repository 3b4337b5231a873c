"""Input data: the tf.data pipeline of photo crops, its epoch report, TFRecord shards."""

from keras_colorize.data.pipeline import make_dataset
from keras_colorize.data.report import EpochReport

__all__ = ["EpochReport", "make_dataset"]
