"""Export a Colorizer as a SavedModel laid out for TensorFlow Serving.

    python -m keras_colorize.export --model=runs/full --export_dir=/models/colorizer [--version=N]

--model is a preset name, a preset folder or a .keras file. Writes
/models/colorizer/<N>/ (N defaults to the next integer) with the signatures
of `keras_colorize.serving_graph`: serving_default and colorize (encoded
photos -> colorized PNGs), ab and distribution (uint8 pixel tensors). It is
written to a hidden temporary directory beside the version and renamed into
place, so TF Serving, which polls the base directory, never sees half a model.
The Colorizer's preset files (config.json, metadata.json; not the weights,
which are the SavedModel's variables) go to the SavedModel's assets/ for
provenance.
"""

import os

import keras
from absl import app, flags

from keras_colorize.checkpointing import atomic_directory, atomic_write_json
from keras_colorize.colorizer import Colorizer
from keras_colorize.images import MAX_PIXELS
from keras_colorize.presets import CONFIG_FILE, METADATA_FILE, preset_metadata
from keras_colorize.serving_graph import signature_functions


def next_version(export_dir: str) -> int:
    """1 + the highest numbered version under export_dir (1 if none)."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def export_saved_model(
    colorizer: Colorizer, export_dir: str, version: int | None = None, max_pixels: int = MAX_PIXELS
) -> str:
    """Write `colorizer` with its signatures to export_dir/<version>; returns that path.

    The working size and the default temperature are the Colorizer's own.
    """
    os.makedirs(export_dir, exist_ok=True)
    version = next_version(export_dir) if version is None else version
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    target = os.path.join(export_dir, str(version))
    if os.path.exists(target):
        raise FileExistsError(f"{target} already exists; choose another --version (never overwritten)")
    archive = keras.export.ExportArchive()
    archive.track(colorizer)
    for name, (fn, input_signature) in signature_functions(colorizer, max_pixels).items():
        archive.add_endpoint(name, fn, input_signature)
    # Renamed into place when complete; the rename fails rather than replace a version written meanwhile.
    with atomic_directory(target) as staging:
        archive.write_out(staging, verbose=False)
        assets = os.path.join(staging, "assets")
        os.makedirs(assets, exist_ok=True)
        atomic_write_json(os.path.join(assets, CONFIG_FILE), keras.saving.serialize_keras_object(colorizer))
        atomic_write_json(os.path.join(assets, METADATA_FILE), preset_metadata(colorizer, "float32"))
    return target


FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string("model", None, "A preset name, a preset folder or a .keras file.")
    flags.DEFINE_string("export_dir", None, "<base>/<model name>; the version directory is created in it.")
    flags.DEFINE_integer("version", None, "Version number (default: the next integer).", lower_bound=0)
    flags.DEFINE_integer("work_size", None, "Square size the network sees (default: the model's).")
    flags.DEFINE_float("temperature", None, "serving_default's temperature (default: the model's).")
    flags.DEFINE_integer("max_pixels", MAX_PIXELS, "Refuse larger photos (INVALID_ARGUMENT).", lower_bound=1)


def main(argv):
    del argv
    overrides = {"work_size": FLAGS.work_size, "temperature": FLAGS.temperature}
    colorizer = Colorizer.from_preset(FLAGS.model, **{k: v for k, v in overrides.items() if v is not None})
    path = export_saved_model(colorizer, FLAGS.export_dir, FLAGS.version, FLAGS.max_pixels)
    names = ["serving_default", "colorize", "ab"] + ([] if colorizer.regression else ["distribution"])
    print(f"Exported {FLAGS.model} to {path} (signatures: {', '.join(names)})")


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["model", "export_dir"])
    app.run(main)
