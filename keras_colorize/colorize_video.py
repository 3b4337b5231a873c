"""Colorize a black-and-white film: video in, video out, colours that do not flicker.

    python -m keras_colorize.colorize_video --input=film.mp4 --output=film_color.mp4
    keras-colorize video --input=film.mp4 --output=film_color.mp4 [--temporal=0.95] [--model=runs/full]

Every frame goes through the same layers as a photo (keras_colorize.video,
docs/video.md); the network's per-pixel log-probabilities are smoothed along
time (--temporal, 0: frame by frame) and the smoothing restarts at each scene
cut (an L-histogram distance above --cut_threshold); --flow moves it with
the motion (optical flow). --model, --runtime and --precision are those of
`colorize` (--precision=auto: bfloat16 where the CPU computes it natively).
The output keeps the frame count, the timestamps (frame rate), the size, the
rotation, the metadata and the audio (copied, not re-encoded); --codec,
--crf and --pix_fmt set the encoding (H.264, crf 18, yuv420p by default).
Needs the video extra: pip install -e ".[video]".

Resumable: the output is made in chunks of --chunk_frames frames kept in
.<output name>.parts/ beside it; after an interruption the same command goes
on from the last finished chunk. The output is written to a temporary name
and renamed when complete. An output that exists is left alone (--overwrite
redoes it).

Exit status: 0 done, 1 the input was corrupt or truncated (the frames decoded
before the damage are in the output), 2 usage error (one `error:` line: a
missing or unreadable input, an unsupported codec, a model that cannot be
loaded).
"""

import os
import shutil
import sys

from absl import flags

from keras_colorize import command
from keras_colorize.choices import (
    VIDEO_CHUNK_FRAMES,
    VIDEO_CODEC,
    VIDEO_CRF,
    VIDEO_CUT_THRESHOLD,
    VIDEO_PIX_FMT,
    VIDEO_TEMPORAL,
)

# TensorFlow, Keras and PyAV are imported by main(), so that --help starts without them.
FLAGS = flags.FLAGS
REQUIRED = ("input", "output")


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string(
        "model",
        None,
        "A preset name, a preset folder or a .keras file (default: the bundled default preset).",
    )
    flags.DEFINE_string("input", None, "The film to colorize (any format FFmpeg reads).")
    flags.DEFINE_string("output", None, "The colorized film (.mp4, .mkv, .mov, ...: the extension decides).")
    flags.DEFINE_float(
        "temporal",
        VIDEO_TEMPORAL,
        "Smoothing of the log-probabilities along time, 0 (frame by frame) .. 0.99.",
        lower_bound=0.0,
        upper_bound=0.99,
    )
    flags.DEFINE_float(
        "cut_threshold",
        VIDEO_CUT_THRESHOLD,
        "L-histogram distance (0..1) between two frames that starts a new shot (smoothing restarts).",
        lower_bound=0.01,
        upper_bound=1.0,
    )
    flags.DEFINE_bool(
        "flow", False, "Move the smoothing with the motion (optical flow; slower, see docs/video.md)."
    )
    flags.DEFINE_float(
        "temperature", None, "Annealed-mean temperature (> 0; default: the model's); lower is more vivid."
    )
    flags.DEFINE_string(
        "codec", VIDEO_CODEC, "The video encoder (FFmpeg's name: libx264, libx265, mpeg4, ...)."
    )
    flags.DEFINE_integer(
        "crf", VIDEO_CRF, "Constant rate factor of x264/x265/VP9/AV1 (lower: better, larger)."
    )
    flags.DEFINE_string("pix_fmt", VIDEO_PIX_FMT, "The encoded pixel format (yuv420p plays everywhere).")
    flags.DEFINE_integer("batch_size", 8, "Frames per forward pass.", lower_bound=1)
    flags.DEFINE_integer(
        "chunk_frames",
        VIDEO_CHUNK_FRAMES,
        "Frames per resumable chunk (an interruption loses at most one).",
        lower_bound=1,
    )
    command.define_runtime_flags()
    flags.DEFINE_bool("overwrite", False, "Redo the film if the output exists (default: leave it alone).")


@command.handles_errors
def main(argv: list[str]) -> int:
    """Colorize --input into --output; returns the exit status (see the module's docstring).

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    from keras_colorize.video import check_encoder, colorize_video, parts_folder, probe

    command.check_temperature_flag(FLAGS.temperature)
    parts = parts_folder(FLAGS.output)
    if FLAGS.overwrite:
        shutil.rmtree(parts, ignore_errors=True)
    elif os.path.exists(FLAGS.output) and not os.path.exists(parts):
        print(f"{FLAGS.output} already exists: left alone (--overwrite redoes it)")
        return command.EXIT_OK
    info = probe(FLAGS.input)  # an unreadable input or codec fails before the model loads
    check_encoder(FLAGS.codec, FLAGS.crf, FLAGS.pix_fmt, info.width, info.height)
    colorizer = command.load_model_on_runtime(
        FLAGS.model, FLAGS.runtime, FLAGS.precision, FLAGS.calibration_data
    )
    report = colorize_video(
        colorizer,
        FLAGS.input,
        FLAGS.output,
        temporal=FLAGS.temporal,
        cut_threshold=FLAGS.cut_threshold,
        temperature=FLAGS.temperature,
        flow=FLAGS.flow,
        codec=FLAGS.codec,
        crf=FLAGS.crf,
        pix_fmt=FLAGS.pix_fmt,
        batch_size=FLAGS.batch_size,
        chunk_frames=FLAGS.chunk_frames,
        progress=True,
    )
    cuts = ", ".join(map(str, report.cuts)) or "none"
    resumed = f"; resumed at frame {report.resumed_at}" if report.resumed_at else ""
    print(f"{FLAGS.input} -> {FLAGS.output}: {report.frames} frames, scene cuts at frames: {cuts}{resumed}")
    if report.problem:
        print(
            f"error: {FLAGS.input} is damaged ({report.problem}); the {report.frames} frames decoded before "
            f"it are in {FLAGS.output}",
            file=sys.stderr,
        )
        return command.EXIT_SOME_FAILED
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
