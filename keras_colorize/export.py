"""Export a Colorizer as a SavedModel laid out for TensorFlow Serving.

    python -m keras_colorize.export [--model=runs/full] --export_dir=/models/colorizer [--version=N] \\
        [--format=saved_model|onnx|openvino] [--precision=float32|bfloat16|int8|auto] \\
        [--calibration_data=photos/]

--model is a preset name, a preset folder or a .keras file (a bare network's
.keras gets the default settings; no --model: the bundled default preset). Writes
/models/colorizer/<N>/ (N defaults to the next integer) with the signatures
of `keras_colorize.serving_graph`: serving_default and colorize (encoded
photos -> colorized PNGs), ab and distribution (uint8 pixel tensors). It is
written to a hidden temporary directory beside the version and renamed into
place, so TF Serving, which polls the base directory, never sees half a model.
The Colorizer's preset files (config.json, metadata.json; not the weights,
which are the SavedModel's variables) go to the SavedModel's assets/ for
provenance.

--format=onnx|openvino writes the same versioned folder as a preset
(config.json, model.weights.h5, metadata.json) with the network beside it
(`keras_colorize.runtimes.networks`); `colorize --model=<folder>
--runtime=onnxruntime|openvino` runs it. --precision: the SavedModel in
float32 or bfloat16, ONNX and OpenVINO in float32 or int8 (quantised with
--calibration_data; OpenVINO's bfloat16 is chosen when its IR is compiled).

Exit status: 0 exported, 2 usage error (one `error:` line, e.g. a version
that exists or a model that cannot be loaded).
"""

import os

from absl import flags

from keras_colorize import command
from keras_colorize.choices import FORMATS, INFERENCE_PRECISIONS
from keras_colorize.images import MAX_PIXELS

# TensorFlow and Keras are imported by the functions that need them, so that --help starts without them.


def next_version(export_dir: str) -> int:
    """1 + the highest numbered version under export_dir (1 if none)."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if name.isdigit()]
    return max(versions, default=0) + 1


def version_dir(export_dir: str, version: int | None) -> str:
    """export_dir/<version> (default: the next integer); refused if it exists."""
    os.makedirs(export_dir, exist_ok=True)
    version = next_version(export_dir) if version is None else version
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    target = os.path.join(export_dir, str(version))
    if os.path.exists(target):
        raise FileExistsError(
            f"{target} already exists (versions are never overwritten); choose another --version or "
            "leave it out for the next one"
        )
    return target


def export_saved_model(
    colorizer,
    export_dir: str,
    version: int | None = None,
    max_pixels: int = MAX_PIXELS,
    precision: str = "float32",
) -> str:
    """Write `colorizer` with its signatures to export_dir/<version>; returns that path.

    The working size and the default temperature are the Colorizer's own;
    `precision` "bfloat16" makes the graph's network compute in bfloat16
    (float32 variables, logits and softmax).

    Args:
        colorizer: a `kc.Colorizer`.
        export_dir: the model's base folder (TF Serving's model_base_path).
        version: the version folder's number (default: the next integer).
        max_pixels: larger photos are refused with INVALID_ARGUMENT.
        precision: "float32" or "bfloat16".
    """
    import keras

    from keras_colorize.checkpointing import atomic_directory, atomic_write_json
    from keras_colorize.presets import CONFIG_FILE, METADATA_FILE, preset_metadata
    from keras_colorize.runtimes.precision import bfloat16_colorizer
    from keras_colorize.serving_graph import signature_functions

    target = version_dir(export_dir, version)
    if precision == "bfloat16":
        colorizer = bfloat16_colorizer(colorizer)
    elif precision != "float32":
        raise ValueError(f"--format=saved_model exports float32 or bfloat16, not {precision}")
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


def export_network(
    colorizer,
    export_dir: str,
    fmt: str,
    precision: str = "float32",
    version: int | None = None,
    calibration_data: list[str] | None = None,
) -> str:
    """--format=onnx|openvino: a preset folder at export_dir/<version> with the network; returns it.

    Args:
        colorizer: a `kc.Colorizer`.
        export_dir: the base folder.
        fmt: "onnx" or "openvino".
        precision: "float32", "bfloat16" (OpenVINO) or "int8".
        version: the version folder's number (default: the next integer).
        calibration_data: photo files or folders for int8.
    """
    from keras_colorize.checkpointing import atomic_directory
    from keras_colorize.runtimes import network_file, write_network

    target = version_dir(export_dir, version)
    with atomic_directory(target) as staging:
        colorizer.save_to_preset(staging)
        write_network(colorizer, fmt, precision, network_file(staging, fmt, precision), calibration_data)
    return target


FLAGS = flags.FLAGS
_FORMAT_RUNTIME = {"saved_model": "tensorflow", "onnx": "onnxruntime", "openvino": "openvino"}


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string(
        "model",
        None,
        "A preset name, a preset folder or a .keras file (default: the bundled default preset).",
    )
    flags.DEFINE_string("export_dir", None, "<base>/<model name>; the version directory is created in it.")
    flags.DEFINE_integer("version", None, "Version number (default: the next integer).", lower_bound=0)
    flags.DEFINE_integer("work_size", None, "Square size the network sees (default: the model's).")
    flags.DEFINE_float("temperature", None, "serving_default's temperature (default: the model's).")
    flags.DEFINE_integer("max_pixels", MAX_PIXELS, "Refuse larger photos (INVALID_ARGUMENT).", lower_bound=1)
    flags.DEFINE_enum("format", "saved_model", FORMATS, "What to write (onnx and openvino: the network).")
    flags.DEFINE_enum(
        "precision",
        None,
        INFERENCE_PRECISIONS,
        "The network's precision (default float32; auto: bfloat16 on native CPUs; int8: --format=onnx "
        "or openvino).",
    )
    flags.DEFINE_multi_string("calibration_data", None, "Photo files or folders for int8 (a few hundred).")


REQUIRED = ("export_dir",)


@command.handles_errors
def main(argv: list[str]) -> int:
    """Export --model to --export_dir/<version>; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    from keras_colorize.runtimes.precision import resolve_inference_precision

    del argv
    if FLAGS.precision == "int8" and FLAGS.format == "saved_model":
        raise command.UsageError(
            "--format=saved_model has no int8 network; add --format=openvino or --format=onnx "
            "(with --calibration_data=<photos>)"
        )
    overrides = {"work_size": FLAGS.work_size, "temperature": FLAGS.temperature}
    colorizer = command.load_model(FLAGS.model, **{k: v for k, v in overrides.items() if v is not None})
    name = command.model_name(FLAGS.model)
    precision, why = resolve_inference_precision(FLAGS.precision or "float32", _FORMAT_RUNTIME[FLAGS.format])
    why = why if FLAGS.precision else "default"
    if FLAGS.format != "saved_model":
        path = export_network(
            colorizer, FLAGS.export_dir, FLAGS.format, precision, FLAGS.version, FLAGS.calibration_data
        )
        print(f"Exported {name} to {path} ({FLAGS.format} {precision}: {why})")
        return command.EXIT_OK
    path = export_saved_model(colorizer, FLAGS.export_dir, FLAGS.version, FLAGS.max_pixels, precision)
    names = ["serving_default", "colorize", "ab"] + ([] if colorizer.regression else ["distribution"])
    print(f"Exported {name} to {path} ({precision}: {why}; signatures: {', '.join(names)})")
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
