"""Films: speed, flicker and per-frame AuC of frame-by-frame, smoothed and flow-following colorization.

    python bench/video.py         # the bundled preset, 480p: --temporal 0, the default, the default + flow
    python bench/video.py --variant=4block --net_width=0.125 --work_size=64 \\
        --width=128 --height=96 --seconds=2 --cut_seconds=1 --output=/tmp/video_smoke.json   # a smoke run

The film is the tests' fixture film (tests/fixtures/film.py) at --width x
--height: a pan and zoom over one colour photo, a hard cut to a second
photo, silent audio, and --grain (the noise of an old film's grain, new in
every frame: what makes frame-by-frame colours flicker). For each configuration the whole command path runs
(`keras_colorize.video.colorize_video`: decode, colorize, encode, remux the
audio) and is timed after a warm-up; then the output is decoded and compared
with the colour original, frame by frame (docs/video.md defines the metrics):

  * frames/s: frames / wall seconds of `colorize_video`;
  * flicker: mean |Δab| between consecutive output frames on the pixels whose
    input L moves by at most `metrics.FLICKER_STILL_L`, the pair across the
    cut left out;
  * MC flicker: the same after moving the earlier frame (output ab and input
    L) along the original's optical flow, so that a pan is not counted;
  * AuC: the paper's raw AuC (ab error thresholds 0..150) of each output
    frame against the original frame, averaged over the frames;
  * the cuts the detector found (the film has one, at `cut`).

Flicker is measured at three stages of each configuration: the H.264 output
(`h264`, the command's default encoding); the same frames colorized in memory
as 8-bit RGB (`lossless`: what a lossless encode such as `--codec=ffv1`
stores); and the network's decoded ab upsampled to the frames' size, before
any rounding (`network`: the colorizer's own flicker, with the 8-bit
rendering and the encoder left out, `FrameColorizer.decoded_ab`).

The first row is the colour original itself (how much its own colours change
on those pixels); the row "shot's mean colour" holds each shot's mean network
ab still and renders it with every frame's own L: the flicker 8-bit RGB and
the grain leave of a colorization that does not flicker at all. Prints a
table (ratios to --temporal 0) and writes JSON (bench/results/video.json by
default).
"""

import json
import os
import pathlib
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fixture film

FLAGS = flags.FLAGS
STAGES = ("h264", "lossless", "network")  # where the flicker is measured: the output, 8-bit frames, float ab
flags.DEFINE_string("preset", None, "A preset name or folder, or a .keras file (default: the bundled one).")
flags.DEFINE_string("variant", None, "Random weights of this variant instead of a preset (for a smoke run).")
flags.DEFINE_float("net_width", 0.125, "Channel multiplier of --variant.")
flags.DEFINE_integer("work_size", 256, "Working size of --variant.")
flags.DEFINE_integer("width", 854, "Film width (480p: 854 x 480).")
flags.DEFINE_integer("height", 480, "Film height.")
flags.DEFINE_integer("fps", 24, "Frames per second.")
flags.DEFINE_float("seconds", 6.0, "Film length.")
flags.DEFINE_float("cut_seconds", 4.0, "When the cut comes.")
flags.DEFINE_float(
    "grain", 3.0, "Film grain: brightness noise per frame, standard deviation in uint8 levels."
)
flags.DEFINE_list("temporals", None, "Smoothing strengths to compare (default: 0 and the default).")
flags.DEFINE_bool("flow", True, "Also each smoothing strength > 0 with optical flow.")
flags.DEFINE_integer("batch_size", 8, "Frames per forward pass.")
flags.DEFINE_enum("precision", "float32", ["float32", "bfloat16"], "The network's precision (TensorFlow).")
flags.DEFINE_string(
    "strip", None, "Also write a PNG strip: frames around the cut, L alone and each --temporals."
)
flags.DEFINE_string("output", str(ROOT / "bench" / "results" / "video.json"), "JSON results.")


def frames_of(path: str):
    """Every frame of a film as uint8 RGB [N, H, W, 3]."""
    import av
    import numpy as np

    with av.open(path) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def gray(lab):
    """What the model sees of frames: their L alone, as uint8 RGB."""
    import numpy as np
    from keras import ops

    from keras_colorize.colorspace import lab_to_rgb

    lightness = np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], axis=-1).astype(np.float32)
    return np.rint(ops.convert_to_numpy(lab_to_rgb(lightness)) * 255).astype(np.uint8)


def write_strip(path: str, rows: list) -> None:
    """A PNG of rows of frames [N, H, W, 3], 2 white pixels between frames and rows, in 256 colours
    (median cut, no dithering: half the bytes of full colour for a README)."""
    import numpy as np
    from PIL import Image

    def pad(frame, axis):
        gap = list(frame.shape)
        gap[axis] = 2
        return np.concatenate([frame, np.full(gap, 255, np.uint8)], axis=axis)

    lines = [np.concatenate([pad(frame, 1) for frame in row], axis=1) for row in rows]
    image = Image.fromarray(np.concatenate([pad(line, 0) for line in lines], axis=0))
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def input_flows(lab_in) -> list:
    """Flow from each frame of the original to the one before it (Farneback on L, full resolution)."""
    from keras_colorize.temporal import optical_flow

    return [optical_flow(lab_in[i + 1, ..., 0], lab_in[i, ..., 0]) for i in range(len(lab_in) - 1)]


def scores(lab_in, lab_out, cut: int, flows: list) -> dict:
    """Flicker, plain and motion-compensated (pooled over still pixels, the pair across the cut left out),
    and the mean per-frame AuC against the original."""
    import numpy as np

    from keras_colorize import metrics
    from keras_colorize.temporal import warp

    sums = {"flicker": [0.0, 0], "flicker_mc": [0.0, 0]}
    for i in range(len(lab_out) - 1):
        if i + 1 == cut:
            continue
        before, after = lab_out[i, ..., 1:], lab_out[i + 1, ..., 1:]
        pairs = {
            "flicker": (before, lab_in[i, ..., 0]),
            "flicker_mc": (  # the frame before, moved to where its pixels are in this frame
                np.asarray(warp(before, flows[i])),
                np.asarray(warp(lab_in[i, ..., :1], flows[i]))[..., 0],
            ),
        }
        for name, (ab, lightness) in pairs.items():
            total, count = metrics.flicker(ab, after, lightness, lab_in[i + 1, ..., 0])
            sums[name][0] += total
            sums[name][1] += count
    aucs = [
        metrics.auc(metrics.cumulative_curve(metrics.ab_error(lab_out[i, ..., 1:], lab_in[i, ..., 1:])))
        for i in range(len(lab_out))
    ]
    return {name: total / max(count, 1) for name, (total, count) in sums.items()} | {
        "still_pixels": sums["flicker"][1],
        "still_pixels_mc": sums["flicker_mc"][1],
        "auc": float(np.mean(aucs)),
    }


def in_memory(colorizer, original, strength: float, flow: bool, batch_size: int):
    """The same frames colorized without the encoder: (the decoded ab upsampled to the frames' size,
    float32 [N, H, W, 2], before any rounding; the 8-bit frames uint8 [N, H, W, 3], what a lossless
    encode such as FFV1 stores)."""
    import numpy as np

    from keras_colorize.layers import ColorizerPostprocessor
    from keras_colorize.video import FrameColorizer

    frames = FrameColorizer(colorizer, strength, flow=flow)
    height, width = original.shape[1:3]
    abs_, rgbs = [], []
    for start in range(0, len(original), batch_size):
        batch = original[start : start + batch_size]
        ab = frames.decoded_ab(batch)
        abs_.append(np.asarray(ColorizerPostprocessor.upsample(ab, height, width)))
        rgbs += [colorizer.finish(frame, ab[i : i + 1]) for i, frame in enumerate(batch)]
    return np.concatenate(abs_), np.stack(rgbs)


def held_still(original, ab, cut: int):
    """The 8-bit frames of a colorization whose colours never change within a shot: each shot's mean
    network ab, recombined with every frame's own L. What 8-bit RGB and the grain leave of a flicker-free
    colorization: the floor of the `lossless` flicker."""
    import numpy as np

    from keras_colorize.layers import ColorizerPostprocessor
    from keras_colorize.preprocessing import lightness_from_uint8

    still = np.concatenate([np.broadcast_to(shot.mean(axis=0), shot.shape) for shot in (ab[:cut], ab[cut:])])
    return np.concatenate(
        [
            np.asarray(
                ColorizerPostprocessor.recombine(lightness_from_uint8(original[i : i + 8]), still[i : i + 8])
            )
            for i in range(0, len(original), 8)
        ]
    )


def main(argv) -> None:
    del argv
    import keras
    import numpy as np
    from fixtures.film import make_film

    import keras_colorize as kc
    from keras_colorize import metrics
    from keras_colorize.temporal import DEFAULT_CUT_THRESHOLD, DEFAULT_TEMPORAL
    from keras_colorize.video import FrameColorizer, colorize_video

    if FLAGS.variant:
        keras.utils.set_random_seed(0)
        colorizer = kc.Colorizer(
            kc.build_model(FLAGS.variant, width=FLAGS.net_width), work_size=FLAGS.work_size
        )
        model = f"random {FLAGS.variant} x{FLAGS.net_width} at {FLAGS.work_size}"
    else:
        colorizer = kc.Colorizer.from_preset(FLAGS.preset, precision=FLAGS.precision)
        model = FLAGS.preset or "the bundled default preset"
    temporals = [float(t) for t in FLAGS.temporals] if FLAGS.temporals else [0.0, DEFAULT_TEMPORAL]
    configs = [(strength, False) for strength in temporals]
    configs += [(strength, True) for strength in temporals if strength > 0 and FLAGS.flow]
    with tempfile.TemporaryDirectory() as folder:
        film = make_film(
            pathlib.Path(folder) / "film.mp4",
            FLAGS.width,
            FLAGS.height,
            FLAGS.fps,
            FLAGS.seconds,
            FLAGS.cut_seconds,
            grain=FLAGS.grain,
        )
        original = frames_of(str(film.path))
        lab_in = metrics.lab_of(original)
        flows = input_flows(lab_in)
        FrameColorizer(colorizer)(original[: FLAGS.batch_size])  # warm-up: the first calls trace
        own = scores(lab_in, lab_in, film.cut, flows)
        rows = [
            {"config": "colour original", "fps": None, "cuts": None}
            | own
            | {f"{stage}_{key}": value for stage in STAGES[1:] for key, value in own.items()}
        ]
        shown = sorted({max(0, film.cut - 8), film.cut - 1, film.cut, min(film.frames - 1, film.cut + 6)})
        strip = [gray(lab_in[shown])]
        for strength, flow in configs:
            output = os.path.join(folder, f"out_{strength:g}_{flow}.mp4")
            start = time.perf_counter()
            report = colorize_video(
                colorizer, film.path, output, temporal=strength, flow=flow, batch_size=FLAGS.batch_size
            )
            seconds = time.perf_counter() - start
            colorized = frames_of(output)
            ab, eight_bit = in_memory(colorizer, original, strength, flow, FLAGS.batch_size)
            network = scores(lab_in, np.concatenate([lab_in[..., :1], ab], axis=-1), film.cut, flows)
            lossless = scores(lab_in, metrics.lab_of(eight_bit), film.cut, flows)
            rows.append(
                {"config": f"temporal {strength:g}" + (" + flow" if flow else ""), "temporal": strength}
                | {"flow": flow, "frames": report.frames, "seconds": seconds, "fps": report.frames / seconds}
                | scores(lab_in, metrics.lab_of(colorized), film.cut, flows)
                | {"cuts": report.cuts}
                | {f"network_{key}": value for key, value in network.items()}
                | {f"lossless_{key}": value for key, value in lossless.items()}
            )
            if not flow:
                strip.append(colorized[shown])
            if strength == 0 and not flow:
                floor = scores(lab_in, metrics.lab_of(held_still(original, ab, film.cut)), film.cut, flows)
                rows.append(
                    {"config": "shot's mean colour", "fps": None, "cuts": None}
                    | {key: None for key in ("flicker", "flicker_mc")}
                    | {f"lossless_{key}": value for key, value in floor.items()}
                    | {f"network_{key}": 0.0 for key in ("flicker", "flicker_mc")}
                    | {"auc": floor["auc"]}
                )
    results = {
        "model": model,
        "precision": FLAGS.precision,
        "grain": FLAGS.grain,
        "film": {
            "width": film.width,
            "height": film.height,
            "fps": film.fps,
            "frames": film.frames,
            "cut": film.cut,
        },
        "cut_threshold": DEFAULT_CUT_THRESHOLD,
        "still_l": metrics.FLICKER_STILL_L,
        "batch_size": FLAGS.batch_size,
        "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
        "rows": rows,
    }
    reference = rows[1]
    size = f"{film.width}x{film.height}, {film.frames} frames (cut at {film.cut})"
    print(f"\n{model}, {size}, {os.cpu_count()} CPUs; x less: flicker of {reference['config']} / this row's")
    print("flicker (MC: motion-compensated): the H.264 output, the 8-bit frames (lossless), the network's ab")
    heads = [f"{stage} {kind}" for stage in STAGES for kind in ("", "MC")]
    print(
        f"{'':<22} {'frames/s':>8} " + " ".join(f"{h:>16}" for h in heads) + f" {'AuC':>6} {'ΔAuC':>6}  cuts"
    )
    for row in rows:
        fps = "" if row["fps"] is None else f"{row['fps']:.2f}"
        cells = []
        for stage in STAGES:
            for kind in ("flicker", "flicker_mc"):
                key = kind if stage == STAGES[0] else f"{stage}_{kind}"
                if row[key] is None:
                    cells.append("")
                    continue
                less = reference[key] / row[key] if row[key] else float("inf")
                cells.append(f"{row[key]:>8.3f} {less:>6.2f}x")
        print(
            f"{row['config']:<22} {fps:>8} "
            + " ".join(f"{c:>16}" for c in cells)
            + f" {row['auc']:>6.2f} {row['auc'] - reference['auc']:>+6.2f}  {row['cuts']}"
        )
    if FLAGS.strip:
        write_strip(FLAGS.strip, strip)
        print(f"Frames {shown}, rows: L alone, then {', '.join(str(t) for t in temporals)}: {FLAGS.strip}")
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w", encoding="utf-8") as file:
        json.dump(results, file, indent=2)
    print(f"\nWritten: {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
