"""Inference cost: the bare network against the full serving signature.

    python bench/inference.py [--variant=full --width=1.0]

Exports a randomly initialised model (weights do not change the cost) as a
SavedModel and measures, on this machine's CPUs:
  * median latency of one 256x256 photo through (a) the bare forward pass
    (the Keras model in a tf.function, L already at 256x256) and (b) the
    serving_default signature (JPEG bytes in, PNG bytes out: decode, L,
    resize, network, annealed mean, upsampling, Lab->RGB, PNG encode);
  * the pre/post-processing overhead (b - a) / a (target <= 15%);
  * throughput at batch 16 for both;
  * peak memory (RSS, in a fresh subprocess each) for 3 and 12-megapixel
    photos through serving_default and through the Python Colorizer, and the
    per-pixel slope that bounds the 50-megapixel limit.
Prints a table and writes bench/results/inference.json.
"""

import io
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "fixtures" / "photos" / "photo_10_bsds500.jpg"
TARGET_OVERHEAD = 0.15

FLAGS = flags.FLAGS
flags.DEFINE_string("variant", "full", "Model variant.")
flags.DEFINE_float("width", 1.0, "Channel multiplier (1.0: the paper's network).")
flags.DEFINE_integer("repeats", 10, "Timed runs per single-photo measurement (median reported).")
flags.DEFINE_integer("batch_repeats", 3, "Timed runs per batch-16 measurement.")
flags.DEFINE_multi_integer("megapixels", [3, 12], "Photo sizes for the memory measurement.")
flags.DEFINE_string("output", str(ROOT / "bench" / "results" / "inference.json"), "JSON results.")
flags.DEFINE_bool("skip_timing", False, "Only re-measure memory; keep the timings already in --output.")
flags.DEFINE_string("memory_child", None, "Internal: measure memory for this SavedModel and exit.")
flags.DEFINE_string("path", "serving", "Internal: serving or python, for --memory_child.")


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.open(PHOTO).convert("RGB").resize((width, height), Image.Resampling.BILINEAR).save(buffer, "JPEG")
    return buffer.getvalue()


def status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak since the last reset) of this process."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # Linux: VmHWM := VmRSS


def timed(fn, repeats: int, warmup: int = 2) -> float:
    """Median wall seconds of fn() after warm-up runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def memory_child(saved_model: str, path: str, megapixels: int) -> dict:
    """Peak RSS of one photo of `megapixels` through one path, in this (fresh) process."""
    import tensorflow as tf

    width = round((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = round(width * 3 / 4)
    data = jpeg(width, height)
    if path == "serving":
        signature = tf.saved_model.load(saved_model).signatures["serving_default"]
        run = lambda photo: signature(image_bytes=tf.constant([photo]))["colorized_png_bytes"].numpy()  # noqa: E731
    else:
        from keras_colorize.colorizer import Colorizer

        colorizer = Colorizer(saved_model)
        run = lambda photo: colorizer.colorize(photo)  # noqa: E731
    run(jpeg(64, 48))  # warm-up on a small photo: traces and builds everything but the photo's buffers
    before = status_mb("VmRSS")
    reset_peak_rss()  # so loading the model does not count as the photo's peak
    start = time.perf_counter()
    run(data)
    seconds = time.perf_counter() - start
    peak = status_mb("VmHWM")
    return {"path": path, "size": f"{width}x{height}", "pixels": width * height, "rss_before_mb": before,
            "peak_rss_mb": peak, "request_mb": peak - before, "seconds": seconds}  # fmt: skip


def measure_memory(saved_model: str) -> dict:
    results = {}
    for path in ("serving", "python"):
        runs = []
        for megapixels in FLAGS.megapixels:
            command = [sys.executable, __file__, f"--memory_child={saved_model}", f"--path={path}",
                       f"--megapixels={megapixels}"]  # fmt: skip
            child = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
            if child.returncode:
                raise RuntimeError(child.stderr[-3000:])
            runs.append(json.loads(child.stdout.strip().splitlines()[-1]))
        small, large = runs[0], runs[-1]
        slope = (large["request_mb"] - small["request_mb"]) * 2**20 / (large["pixels"] - small["pixels"])
        results[path] = {"runs": runs, "bytes_per_pixel": slope,
                         "projected_50mp_request_gb": (small["request_mb"] * 2**20 +
                                                       slope * (50e6 - small["pixels"])) / 2**30}  # fmt: skip
    return results


def measure_timing(model, saved_model: str) -> dict:
    import tensorflow as tf

    serving = tf.saved_model.load(saved_model).signatures["serving_default"]
    forward = tf.function(lambda L: model(L, training=False), jit_compile=False)
    photo = jpeg(256, 256)
    L1 = tf.random.uniform([1, 256, 256, 1], 0, 100)
    L16 = tf.random.uniform([16, 256, 256, 1], 0, 100)
    one, sixteen = tf.constant([photo]), tf.constant([photo] * 16)
    bare_1 = timed(lambda: forward(L1).numpy(), FLAGS.repeats)
    serve_1 = timed(lambda: serving(image_bytes=one)["colorized_png_bytes"].numpy(), FLAGS.repeats)
    bare_16 = timed(lambda: forward(L16).numpy(), FLAGS.batch_repeats, warmup=1)
    serve_16 = timed(
        lambda: serving(image_bytes=sixteen)["colorized_png_bytes"].numpy(), FLAGS.batch_repeats, 1
    )
    return {
        "latency_ms_256": {"bare_forward": bare_1 * 1e3, "serving_default": serve_1 * 1e3},
        "overhead_ratio_256": (serve_1 - bare_1) / bare_1,
        "overhead_target": TARGET_OVERHEAD,
        "throughput_photos_per_s_batch16": {"bare_forward": 16 / bare_16, "serving_default": 16 / serve_16},
    }


def print_table(results: dict) -> None:
    latency, throughput = results["latency_ms_256"], results["throughput_photos_per_s_batch16"]
    print(f"\n{results['variant']} width {results['width']} ({results['parameters']:,} parameters), "
          f"{results['machine']['cpus']} CPUs, TF {results['machine']['tensorflow']}")  # fmt: skip
    print(f"{'measure':<48}{'bare forward':>14}{'serving_default':>17}")
    print(f"{'median latency, one 256x256 photo (ms)':<48}"
          f"{latency['bare_forward']:>14.1f}{latency['serving_default']:>17.1f}")  # fmt: skip
    print(f"{'throughput, batch 16 (photos/s)':<48}"
          f"{throughput['bare_forward']:>14.2f}{throughput['serving_default']:>17.2f}")  # fmt: skip
    overhead = results["overhead_ratio_256"]
    verdict = "meets" if overhead <= TARGET_OVERHEAD else "MISSES"
    target = f"{TARGET_OVERHEAD:.0%}"
    print(f"pre+post-processing overhead at 256x256: {overhead:.1%} ({verdict} the {target} target)")
    for path, entry in results["memory"].items():
        for run in entry["runs"]:
            print(f"memory {path:<8} {run['size']:>10}: peak RSS {run['peak_rss_mb']:7.0f} MB, "
                  f"photo {run['request_mb']:6.0f} MB over the model, {run['seconds']:.1f} s")  # fmt: skip
        print(f"  {entry['bytes_per_pixel']:.0f} bytes/pixel -> ~{entry['projected_50mp_request_gb']:.1f} GB "
              "for a 50-megapixel photo (the limit)")  # fmt: skip


def main(argv):
    del argv
    if FLAGS.memory_child:
        print(json.dumps(memory_child(FLAGS.memory_child, FLAGS.path, FLAGS.megapixels[-1])))
        return
    import keras
    import tensorflow as tf

    from keras_colorize.export import export_saved_model
    from keras_colorize.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(FLAGS.variant, width=FLAGS.width)
    start = time.perf_counter()
    saved_model = export_saved_model(model, os.path.join(tempfile.mkdtemp(prefix="bench_inference_"), "m"))
    results = {
        "variant": FLAGS.variant,
        "width": FLAGS.width,
        "parameters": model.count_params(),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "tensorflow": tf.__version__,
        },
        "export_seconds": time.perf_counter() - start,
    }
    if FLAGS.skip_timing:
        with open(FLAGS.output) as file:
            previous = json.load(file)
        timing = ("latency", "overhead", "throughput")
        results.update({key: value for key, value in previous.items() if key.startswith(timing)})
    else:
        results.update(measure_timing(model, saved_model))
    results["memory"] = measure_memory(saved_model)
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w") as file:
        json.dump(results, file, indent=2)
    print_table(results)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
