"""Input data: the tf.data pipeline of photo crops, its epoch report, TFRecord shards.

`make_dataset` and `EpochReport` are imported on first use (PEP 562), so the
`make-tfrecords` command's --help starts without TensorFlow.
"""

import importlib

_EXPORTS = {"make_dataset": "keras_colorize.data.pipeline", "EpochReport": "keras_colorize.data.report"}
__all__ = ["EpochReport", "make_dataset"]


def __getattr__(name: str):
    """`make_dataset` and `EpochReport`, imported when first asked for."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_colorize.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
