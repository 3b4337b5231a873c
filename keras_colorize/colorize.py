"""Colorize photo files and folders from the command line.

    python -m keras_colorize.colorize [--model=runs/full] \\
        --input=photos/ --input=extra.jpg --output=colorized/

--model is a preset name, a preset folder or a .keras file; without it the
default bundled preset is used. --runtime (tensorflow, openvino, onnxruntime,
auto: the fastest installed) and --precision (float32, bfloat16, int8, auto:
bfloat16 where the CPU computes it natively) choose what runs the network;
the pre- and post-processing are the same layers on every runtime
(`keras_colorize.runtimes`). The defaults, TensorFlow float32, give exactly
the pixels of the Python API and the SavedModel.

Folders are searched recursively and their layout is kept under --output;
every output is a PNG. Inputs are never overwritten: an --output that would
replace one is refused before anything runs. Unreadable, non-image and
too-large files are skipped and listed with their reason at the end; the exit
status is non-zero only if no photo could be colorized.
"""

import os
import sys

import keras
import numpy as np
from absl import app, flags
from PIL import Image

from keras_colorize.colorizer import Colorizer, load_photo
from keras_colorize.images import MAX_PIXELS, UnreadableImageError
from keras_colorize.photo_files import plan_outputs, print_summary
from keras_colorize.runtimes import INFERENCE_PRECISIONS, RUNTIMES, MissingRuntimeError, choose

FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string(
        "model",
        None,
        "A preset name, a preset folder or a .keras file (default: the bundled default preset).",
    )
    flags.DEFINE_multi_string("input", None, "Photo files or folders (recursive); repeatable.")
    flags.DEFINE_string("output", None, "Folder for the colorized PNGs (created if needed).")
    flags.DEFINE_float(
        "temperature", None, "Annealed-mean temperature (> 0; default: the model's); lower is more vivid."
    )
    flags.DEFINE_integer(
        "batch_size", 8, "Photos per forward pass (all run at the working size).", lower_bound=1
    )
    flags.DEFINE_bool("side_by_side", False, "Write the input and the colorized photo next to each other.")
    flags.DEFINE_integer("max_pixels", MAX_PIXELS, "Skip larger photos.", lower_bound=1)
    flags.DEFINE_enum(
        "runtime", "tensorflow", RUNTIMES, "What runs the network (auto: the fastest installed)."
    )
    flags.DEFINE_enum(
        "precision",
        "float32",
        INFERENCE_PRECISIONS,
        "The network's precision (auto: bfloat16 on native CPUs).",
    )
    flags.DEFINE_multi_string(
        "calibration_data",
        None,
        "Photo files or folders to quantise with (int8, when the model has no int8 file).",
    )


def _write(path: str, rgb: np.ndarray, original: np.ndarray | None) -> None:
    if original is not None:
        rgb = np.concatenate([original, rgb], axis=1)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    Image.fromarray(rgb).save(path)


def colorize_files(
    colorizer: Colorizer,
    pairs: list[tuple[str, str]],
    temperature: float | None,
    batch_size: int,
    side_by_side: bool = False,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> tuple[int, list[tuple[str, str]]]:
    """Colorize and write each pair; returns (number written, [(input, reason) skipped])."""
    done, skipped = 0, []
    bar = keras.utils.Progbar(len(pairs), unit_name="photo") if progress else None
    for start in range(0, len(pairs), batch_size):
        loaded = []
        for path, target in pairs[start : start + batch_size]:
            try:
                loaded.append((path, target, load_photo(path, max_pixels=max_pixels)))
            except UnreadableImageError as error:
                skipped.append((path, str(error).removeprefix(f"{path}: ")))
        try:
            results = colorizer.colorize([rgb for _, _, rgb in loaded], temperature, batch_size)
        except Exception:  # one photo broke the batch: redo them singly so the rest go through
            results = []
            for path, _, rgb in loaded:
                try:
                    results.append(colorizer.colorize(rgb, temperature))
                except Exception as error:
                    results.append(None)
                    skipped.append((path, f"colorization failed ({error})"))
        for (path, target, rgb), result in zip(loaded, results, strict=True):
            if result is None:
                continue
            try:
                _write(target, result, rgb if side_by_side else None)
                done += 1
            except OSError as error:
                skipped.append((path, f"cannot write {target} ({error.strerror or error})"))
        if bar is not None:
            bar.add(len(pairs[start : start + batch_size]))
    return done, skipped


def main(argv):
    del argv
    if FLAGS.temperature is not None and FLAGS.temperature <= 0:
        raise app.UsageError(f"--temperature must be > 0, got {FLAGS.temperature}")
    try:
        pairs, missing = plan_outputs(FLAGS.input, FLAGS.output)
    except ValueError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    skipped = [(path, "no such file or folder") for path in missing]
    done = 0
    if pairs:
        try:
            choice = choose(FLAGS.runtime, FLAGS.precision)
        except (MissingRuntimeError, ValueError) as error:
            print(f"Error: {error}", file=sys.stderr)
            return 2
        print(f"Network: {choice.runtime} {choice.precision} ({choice.why})")
        try:
            colorizer = Colorizer.from_preset(
                FLAGS.model, choice.runtime, choice.precision, FLAGS.calibration_data
            )
        except MissingRuntimeError as error:
            print(f"Error: {error}", file=sys.stderr)
            return 2
        except (FileNotFoundError, ValueError) as error:
            print(f"Error: --model: {error}", file=sys.stderr)
            return 2
        done, failed = colorize_files(
            colorizer, pairs, FLAGS.temperature, FLAGS.batch_size, FLAGS.side_by_side, True, FLAGS.max_pixels
        )
        skipped += failed
    print_summary(done, len(pairs) + len(missing), skipped, FLAGS.output)
    return 0 if done else 1


if __name__ == "__main__":
    define_flags()
    flags.mark_flags_as_required(["input", "output"])
    app.run(main)
