"""Export a trained model as a SavedModel laid out for TensorFlow Serving.

    python -m keras_colorize.export --model=runs/full/model.keras \\
        --export_dir=/models/colorizer [--version=N]

writes /models/colorizer/<N>/ (N defaults to the next integer) with the
signatures of `keras_colorize.serving_graph`: serving_default and colorize
(encoded photos -> colorized PNGs), ab and distribution (L tensors). It is
written to a hidden temporary directory beside the version and renamed into
place, so TF Serving, which polls the base directory, never sees half a model.
`prior.npy` and `training.json` found beside the `.keras` file are copied into
the SavedModel's assets/ directory (unused by the graph, kept for provenance).
"""

import os
import shutil
import tempfile

import keras
from absl import app, flags

from keras_colorize.colorizer import Colorizer
from keras_colorize.inference import COLORIZE_MAX_PIXELS, WORK_SIZE
from keras_colorize.serving_graph import signature_functions

MODEL_ASSETS = ("prior.npy", "training.json")


def next_version(export_dir: str) -> int:
    """1 + the highest numbered version under export_dir (1 if none)."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def export_saved_model(
    model: keras.Model,
    export_dir: str,
    version: int | None = None,
    work_size: int = WORK_SIZE,
    max_pixels: int = COLORIZE_MAX_PIXELS,
    asset_files: tuple[str, ...] = (),
) -> str:
    """Write `model` with its signatures to export_dir/<version>; returns that path."""
    os.makedirs(export_dir, exist_ok=True)
    version = next_version(export_dir) if version is None else version
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    target = os.path.join(export_dir, str(version))
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists; choose another --version (never overwritten)")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, input_signature) in signature_functions(model, work_size, max_pixels).items():
        archive.add_endpoint(name, fn, input_signature)
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir)
    try:
        archive.write_out(staging, verbose=False)
        for path in asset_files:
            shutil.copy(path, os.path.join(staging, "assets", os.path.basename(path)))
        os.rename(staging, target)  # atomic; fails rather than replace a version written meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string("model", None, "A .keras model, or a model directory holding model.keras.")
    flags.DEFINE_string("export_dir", None, "<base>/<model name>; the version directory is created in it.")
    flags.DEFINE_integer("version", None, "Version number (default: the next integer).", lower_bound=0)
    flags.DEFINE_integer("work_size", WORK_SIZE, "Square size the network sees.", lower_bound=8)
    flags.DEFINE_integer(
        "max_pixels", COLORIZE_MAX_PIXELS, "Refuse larger photos (INVALID_ARGUMENT).", lower_bound=1
    )


def main(argv):
    del argv
    colorizer = Colorizer(FLAGS.model, FLAGS.work_size)
    if colorizer.model is None:
        raise app.UsageError(f"--model must be a .keras model, got the SavedModel {FLAGS.model}")
    model_dir = os.path.dirname(FLAGS.model) if os.path.isfile(FLAGS.model) else FLAGS.model
    assets = tuple(
        os.path.join(model_dir, name)
        for name in MODEL_ASSETS
        if os.path.isfile(os.path.join(model_dir, name))
    )
    path = export_saved_model(
        colorizer.model, FLAGS.export_dir, FLAGS.version, FLAGS.work_size, FLAGS.max_pixels, assets
    )
    names = ["serving_default", "colorize", "ab"] + ([] if colorizer.regression else ["distribution"])
    print(f"Exported {FLAGS.model} to {path} (signatures: {', '.join(names)})")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["model", "export_dir"])
    app.run(main)
