"""Colorize photo files and folders from the command line.

    python -m keras_colorize.colorize [--model=runs/full] \\
        --input=photos/ --input=extra.jpg --output=colorized/

--model is a preset name, a preset folder or a .keras file; without it the
default bundled preset is used. --runtime (tensorflow, openvino, onnxruntime,
auto: the fastest installed) and --precision (float32, bfloat16, int8, auto:
bfloat16 where the CPU computes it natively) choose what runs the network;
the pre- and post-processing are the same layers on every runtime
(`keras_colorize.runtimes`). The default is TensorFlow at --precision=auto:
bfloat16 on a CPU that computes it natively (2.3x faster per photo than
float32 on a 2-core AVX512_BF16 machine, rebalanced AuC within 0.01, mean
pixel difference 0.19 of 255; bench/inference.py), float32 elsewhere.
--precision=float32 gives exactly the pixels of the Python API and the
SavedModel.

Folders are searched recursively and their layout is kept under --output;
every output is a PNG, written to a temporary name and renamed. Inputs are
never overwritten: an --output that would replace one, or that is an input
folder or inside one (the next run would read its PNGs as photos), is refused
before anything runs. The model is loaded and checked first. Outputs that
already exist are left alone (an interrupted run resumes where it stopped);
--overwrite redoes them. Two inputs with one name
(coffee.jpg, coffee.png) become coffee.png and coffee-1.png: the renames are
printed, and <output>/manifest.csv maps every input to its output and status.
Unreadable, non-image and too-large files are skipped and listed with their
reason at the end.

Exit status: 0 done, 1 some photos failed (listed), 2 usage error (one
`error:` line: a missing --input, a folder without photos, a model that
cannot be loaded).
"""

import sys

from absl import flags

from keras_colorize import command
from keras_colorize.images import IMAGE_EXTENSIONS, MAX_PIXELS, UnreadableImageError
from keras_colorize.photo_files import (
    ALREADY_DONE,
    plan_outputs,
    print_summary,
    refuse_output_among_inputs,
    renamed,
    split_done,
    write_manifest,
)

# TensorFlow and Keras are imported by main(), so that --help starts without them.
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
    command.define_runtime_flags()
    flags.DEFINE_bool("overwrite", False, "Redo photos whose output already exists (default: skip them).")


REQUIRED = ("input", "output")


def _write(path: str, rgb, original) -> None:
    """Write the PNG to a temporary name and rename it: a file at `path` is always complete."""
    import numpy as np
    from PIL import Image

    from keras_colorize.checkpointing import atomic_write

    if original is not None:
        rgb = np.concatenate([original, rgb], axis=1)
    atomic_write(path, lambda temporary: Image.fromarray(rgb).save(temporary, format="PNG"))


def colorize_files(
    colorizer,
    pairs: list[tuple[str, str]],
    temperature: float | None,
    batch_size: int,
    side_by_side: bool = False,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> tuple[int, list[tuple[str, str]]]:
    """Colorize and write each pair; returns (number written, [(input, reason) skipped]).

    Args:
        colorizer: a `kc.Colorizer`.
        pairs: (input photo, output PNG) pairs.
        temperature: the annealed-mean temperature (None: the model's).
        batch_size: photos per forward pass.
        side_by_side: write the input beside the colorized photo.
        progress: show a progress bar (only drawn on a terminal: no escape codes in logs).
        max_pixels: skip larger photos.
    """
    import keras

    from keras_colorize.colorizer import load_photo

    done, skipped = 0, []
    drawn = progress and sys.stdout.isatty()
    bar = keras.utils.Progbar(len(pairs), unit_name="photo") if drawn else None
    for start in range(0, len(pairs), batch_size):
        loaded = []
        for path, target in pairs[start : start + batch_size]:
            try:
                loaded.append((path, target, load_photo(path, max_pixels=max_pixels)))
            except UnreadableImageError as error:
                skipped.append((path, str(error).removeprefix(f"{path}: ")))
        try:
            results = colorizer.colorize([rgb for _, _, rgb in loaded], temperature, batch_size, max_pixels)
        except Exception:  # one photo broke the batch: redo them singly so the rest go through
            results = []
            for path, _, rgb in loaded:
                try:
                    results.append(colorizer.colorize(rgb, temperature, max_pixels=max_pixels))
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


@command.handles_errors
def main(argv: list[str]) -> int:
    """Colorize --input into --output; returns the exit status (see the module's docstring).

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    command.check_temperature_flag(FLAGS.temperature)
    refuse_output_among_inputs(FLAGS.input, FLAGS.output)
    # The model is loaded (and a bad one refused) before anything about the outputs is printed.
    colorizer = command.load_model_on_runtime(
        FLAGS.model, FLAGS.runtime, FLAGS.precision, FLAGS.calibration_data
    )
    pairs, missing = plan_outputs(FLAGS.input, FLAGS.output)
    if missing and not pairs and len(missing) == len(FLAGS.input):
        raise command.UsageError(f"--input={missing[0]}: no such file or folder; check the path")
    if not pairs and not missing:
        raise command.UsageError(
            f"no photos in --input={','.join(FLAGS.input)} (searched recursively for "
            f"{' '.join(IMAGE_EXTENSIONS)}); point --input at photo files or folders"
        )
    todo, already = split_done(pairs, FLAGS.overwrite)
    for path, target in renamed(pairs):
        print(f"{path} -> {target} (another input has the same name)")
    skipped = [(path, "no such file or folder") for path in missing]
    done, status = 0, dict.fromkeys(already, ALREADY_DONE)
    if todo:
        done, failed = colorize_files(
            colorizer, todo, FLAGS.temperature, FLAGS.batch_size, FLAGS.side_by_side, True, FLAGS.max_pixels
        )
        skipped += failed
        reasons = dict(failed)
        status |= {path: reasons.get(path, "colorized") for path, _ in todo}
    manifest = write_manifest(FLAGS.output, pairs, status)
    print_summary(done, skipped, FLAGS.output, len(already))
    print(f"Inputs and outputs: {manifest}")
    if skipped:
        print(
            f"error: {len(skipped)} input(s) could not be colorized (listed above with the reason); fix or "
            "remove them and run again: the photos already done are skipped",
            file=sys.stderr,
        )
        return command.EXIT_SOME_FAILED
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
