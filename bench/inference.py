"""CPU inference: every runtime x precision, side by side, on the same photos.

    python bench/inference.py [--variant=full --width=1.0] [--preset=PRESET[,PRESET...] \\
        --quality_data=UNSEEN_PHOTOS/ --calibration_data=TRAINING_PHOTOS/]
    python bench/inference.py --variant=4block --width=0.125 --work_size=64 \\
        --repeats=1 --batch_repeats=1 --output=/tmp/inference_smoke.json   # a smoke run

Configurations (those whose runtime is not installed are listed as skipped):
TensorFlow float32 (today's default path) and bfloat16, the SavedModel's
serving_default signature (float32), OpenVINO float32 / bfloat16 / int8 and
ONNX Runtime float32 / int8. The ONNX and OpenVINO networks are exported once
into a copy of the preset (int8 calibrated on --calibration_data, the photos'
working-size L as the Colorizer makes it), and every configuration runs through
`Colorizer.from_preset(..., runtime=, precision=)`, i.e. the same pre- and
post-processing. In one interleaved run (each timing round runs every
configuration of every preset in turn) it measures, at batch 1 and batch 16:

  * bare network: L at the working size -> bin probabilities (the runner alone;
    TensorFlow float32 compiled, as `predict` runs it);
  * whole photo: JPEG bytes in -> PNG bytes out (decode, L, resize, network,
    annealed mean, upsampling, Lab -> RGB, PNG at zlib level 1 as the SavedModel);
  * where the time of the whole photo goes, per part (batch 1, TensorFlow float32
    except the network, measured per configuration);
  * peak memory (VmHWM of a fresh process that loads the configuration and
    colorizes one batch of 16), and the memory one --large_megapixels photo
    takes over the loaded model;
  * with --preset and --quality_data (photos the preset never trained on):
    class-rebalanced AuC, PSNR and colourfulness of each configuration, and
    the differences from TensorFlow float32.

Prints a table per preset with ratios to TensorFlow float32 and to OpenVINO
bfloat16 (bare network), then, with several presets, each preset's times over the
first's, configuration by configuration; writes JSON (bench/results/inference.json
by default: {"machine", "models": [one entry per preset]}).
Random weights (no --preset) cost the same as trained ones.
"""

import io
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURE_PHOTOS = ROOT / "tests" / "fixtures" / "photos"
CONFIGS = (
    "tensorflow:float32",
    "tensorflow:bfloat16",
    "saved_model:float32",
    "openvino:float32",
    "openvino:bfloat16",
    "openvino:int8",
    "onnxruntime:float32",
    "onnxruntime:int8",
)
REFERENCE, FASTEST_ANCHOR = "tensorflow:float32", "openvino:bfloat16"

FLAGS = flags.FLAGS
flags.DEFINE_string("variant", "full", "Model variant (random weights; ignored with --preset).")
flags.DEFINE_float("width", 1.0, "Channel multiplier (1.0: the paper's network; ignored with --preset).")
flags.DEFINE_integer("work_size", 256, "The network's working size (ignored with --preset).")
flags.DEFINE_integer("photo_size", 256, "Side of the square test photos (JPEG).")
flags.DEFINE_list(
    "preset", [], "Presets (names or folders) to time and score instead of random weights, side by side."
)
flags.DEFINE_list("configs", list(CONFIGS), "runtime:precision pairs to measure.")
flags.DEFINE_list("batch_sizes", ["1", "16"], "Batch sizes.")
flags.DEFINE_integer("repeats", 10, "Timing rounds at batch 1 (median reported).")
flags.DEFINE_integer("batch_repeats", 3, "Timing rounds at the larger batch sizes.")
flags.DEFINE_multi_string("calibration_data", [str(FIXTURE_PHOTOS)], "Photos to calibrate int8 with.")
flags.DEFINE_integer("calibration_photos", 100, "At most this many calibration photos.")
flags.DEFINE_multi_string("quality_data", None, "Photos the preset never trained on (quality columns).")
flags.DEFINE_integer("quality_photos", 100, "At most this many quality photos.")
flags.DEFINE_bool("memory", True, "Measure peak memory (a fresh process per configuration).")
flags.DEFINE_float("large_megapixels", 12.0, "Also the peak of one photo this large (4:3; 0: not measured).")
flags.DEFINE_string("output", str(ROOT / "bench" / "results" / "inference.json"), "JSON results.")
flags.DEFINE_string("memory_child", None, "Internal: measure memory of this runtime:precision and exit.")
flags.DEFINE_string("model_dir", None, "Internal: the prepared preset folder, for --memory_child.")


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_photos(width: int, count: int, height: int | None = None) -> list[bytes]:
    """`count` JPEGs of width x height (default square) made from the bundled photos (cycled)."""
    sources = sorted(p for p in FIXTURE_PHOTOS.iterdir() if p.suffix == ".jpg")
    photos = []
    for i in range(count):
        buffer = io.BytesIO()
        image = Image.open(sources[i % len(sources)]).convert("RGB")
        image.resize((width, height or width), Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def png(rgb) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def load(folder: str, config: str):
    """(colorize bytes -> PNG bytes, bare network on L) for one configuration."""

    from keras_colorize.colorizer import Colorizer, load_photo
    from keras_colorize.runtimes.runners import TensorFlowRunner

    runtime, precision = config.split(":")
    if runtime == "saved_model":
        import tensorflow as tf

        signature = tf.saved_model.load(os.path.join(folder, "saved_model", "1")).signatures[
            "serving_default"
        ]
        bare = load(folder, REFERENCE)[1]
        return lambda photos: list(
            signature(image_bytes=tf.constant(photos))["colorized_png_bytes"].numpy()
        ), bare
    colorizer = Colorizer.from_preset(folder, runtime=runtime, precision=precision)
    network = colorizer.runner or TensorFlowRunner(colorizer.backbone)  # bare: compiled, as the others

    def whole(photos):
        return [
            png(rgb) for rgb in colorizer.colorize([load_photo(p) for p in photos], batch_size=len(photos))
        ]

    return whole, network


def prepare(folder: str, configs: list[str]) -> dict:
    """Write the preset's ONNX / OpenVINO networks and SavedModel into `folder`; returns seconds per file."""
    from keras_colorize import runtimes
    from keras_colorize.colorizer import Colorizer
    from keras_colorize.export import export_saved_model

    colorizer = Colorizer.from_preset(folder)
    seconds = {}
    for config in configs:
        runtime, precision = config.split(":")
        start = time.perf_counter()
        if runtime == "saved_model":
            export_saved_model(colorizer, os.path.join(folder, "saved_model"), 1)
        elif runtime in ("onnxruntime", "openvino") and precision != "bfloat16":
            fmt = "onnx" if runtime == "onnxruntime" else "openvino"
            calibration = [str(path) for path in FLAGS.calibration_data]
            if precision == "int8":
                from keras_colorize.images import list_images

                calibration = list_images(calibration)[: FLAGS.calibration_photos]
            path = runtimes.network_file(folder, fmt, precision)
            runtimes.write_network(colorizer, fmt, precision, path, calibration)
        else:
            continue
        seconds[config] = time.perf_counter() - start
    return seconds


def parts(folder: str, photo: bytes, network) -> dict:
    """Milliseconds of each part of the whole-photo path at batch 1 (median of --repeats)."""
    import numpy as np

    from keras_colorize.colorizer import Colorizer, load_photo

    colorizer = Colorizer.from_preset(folder)
    rgb = load_photo(photo)
    small = np.asarray(colorizer.preprocessor.work_lightness(rgb[None]))
    probs = network(small)
    ab = colorizer.decoder(probs, np.full((1,), colorizer.temperature, np.float32))
    result = colorizer.finish(rgb, ab)
    steps = {
        "decode_jpeg": lambda: load_photo(photo),
        "working_size_L": lambda: colorizer.preprocessor.work_lightness(rgb[None]),
        "network": lambda: network(small),
        "annealed_mean": lambda: np.asarray(colorizer.decoder(probs, np.full((1,), 0.38, np.float32))),
        "upsample_and_lab_to_rgb": lambda: colorizer.finish(rgb, ab),
        "encode_png": lambda: png(result),
    }
    for step in steps.values():
        step()
    return {name: median_seconds(step, FLAGS.repeats) * 1e3 for name, step in steps.items()}


def status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":")) / 1024


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # Linux: VmHWM := VmRSS


def memory_child(folder: str, config: str) -> dict:
    """Peak RSS of this fresh process: loaded, one batch of the largest size, one large photo."""
    whole, _ = load(folder, config)
    photos = test_photos(FLAGS.photo_size, int(FLAGS.batch_sizes[-1]))
    whole(photos[:1])  # warm-up: traces and builds everything but the batch's buffers
    result = {"loaded_rss_mb": status_mb("VmRSS")}
    whole(photos)
    result["peak_rss_mb"] = status_mb("VmHWM")
    if FLAGS.large_megapixels > 0:
        width = round((FLAGS.large_megapixels * 1e6 * 4 / 3) ** 0.5)
        large = test_photos(width, 1, round(width * 3 / 4))
        before = status_mb("VmRSS")
        reset_peak_rss()
        whole(large)
        result["large_photo"] = {
            "megapixels": FLAGS.large_megapixels,
            "request_mb": status_mb("VmHWM") - before,
        }
    return result


def measure_memory(folder: str, config: str) -> dict:
    command = [
        sys.executable,
        __file__,
        f"--memory_child={config}",
        f"--model_dir={folder}",
        f"--photo_size={FLAGS.photo_size}",
        f"--batch_sizes={','.join(FLAGS.batch_sizes)}",
        f"--large_megapixels={FLAGS.large_megapixels}",
    ]
    child = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=ROOT)
    if child.returncode:
        raise RuntimeError(child.stderr[-3000:])
    return json.loads(child.stdout.strip().splitlines()[-1])


def quality(folder: str, configs: list[str]) -> dict:
    """Mean rebalanced AuC, PSNR and colourfulness per configuration on --quality_data."""
    import numpy as np

    from keras_colorize import metrics
    from keras_colorize.colorizer import Colorizer
    from keras_colorize.images import list_images, readable_images

    prior = Colorizer.from_preset(folder).prior
    if prior is None:
        raise app.UsageError("--quality_data needs a --preset with a training prior (rebalanced AuC)")
    files = list_images(FLAGS.quality_data)[: FLAGS.quality_photos]
    truths = [(rgb, metrics.reference(rgb, prior)) for _, _, rgb in readable_images(files, [])]
    scores, outputs = {}, {}
    for config in configs:
        runtime, precision = config.split(":")
        if runtime == "saved_model":
            continue  # the same float32 network and layers as tensorflow:float32
        colorizer = Colorizer.from_preset(folder, runtime=runtime, precision=precision)
        outputs[config] = [colorizer.colorize(rgb) for rgb, _ in truths]
        rows = [
            metrics.photo_metrics(out, truth) for out, (_, truth) in zip(outputs[config], truths, strict=True)
        ]
        scores[config] = {
            key: float(np.mean([row[key] for row in rows])) for key in ("auc_rebal", "psnr", "colourfulness")
        }
    for config, score in scores.items():
        reference = outputs[REFERENCE]
        score["auc_rebal_change"] = score["auc_rebal"] - scores[REFERENCE]["auc_rebal"]
        score["psnr_change_db"] = score["psnr"] - scores[REFERENCE]["psnr"]
        score["mean_pixel_difference"] = float(
            np.mean(
                [
                    np.abs(a.astype(int) - b.astype(int)).mean()
                    for a, b in zip(outputs[config], reference, strict=True)
                ]
            )
        )
    return {"photos": len(truths), "scores": scores}


def _shown(seconds: float, batch: int) -> str:
    """ms at batch 1, photos/s otherwise."""
    return f"{seconds * 1e3:10.1f}" if batch == 1 else f"{batch / seconds:10.2f}"


def _ratio(seconds: float, base: dict | None, batch: int, key: str) -> str:
    return f"{seconds / base[str(batch)][key]:.2f}" if base else "-"


def print_table(results: dict) -> None:
    timing, anchor = results["timing"], results["timing"].get(REFERENCE)
    fastest = timing.get(FASTEST_ANCHOR)
    print(
        f"\n{results['model']} ({results['parameters']:,} parameters, "
        f"{results['forward_gflop']:.3g} GFLOP per photo), {results['machine']['cpus']} CPUs, "
        f"{results['photo_size']} px photos"
    )
    for batch in results["batch_sizes"]:
        unit = "ms" if batch == 1 else "photos/s"
        print(f"\nbatch {batch} ({unit}; ratios are times: 1.00 = as fast as TF float32 / OV bf16 bare)")
        print(
            f"{'configuration':<22}{'bare':>10}{'whole':>10}{'whole/TF32':>12}{'whole/OVbf16':>14}"
            f"{'bare/OVbf16':>13}{'peak MB':>9}"
        )
        for config, entry in timing.items():
            bare, whole = entry[str(batch)]["bare_s"], entry[str(batch)]["whole_s"]

            memory = results["memory"].get(config, {}).get("peak_rss_mb")
            print(
                f"{config:<22}{_shown(bare, batch)}{_shown(whole, batch)}"
                f"{_ratio(whole, anchor, batch, 'whole_s'):>12}{_ratio(whole, fastest, batch, 'bare_s'):>14}"
                f"{_ratio(bare, fastest, batch, 'bare_s'):>13}{'-' if memory is None else f'{memory:.0f}':>9}"
            )
    for config, entry in results["memory"].items():
        if "large_photo" in entry:
            large = entry["large_photo"]
            print(
                f"memory {config:<22}one {large['megapixels']:g}-megapixel photo: "
                f"{large['request_mb']:.0f} MB over the loaded model"
            )
    print("\nwhere the time of one photo goes (ms, batch 1):")
    for config, entry in results["parts_ms"].items():
        print(f"  {config:<22}" + ", ".join(f"{name} {ms:.1f}" for name, ms in entry.items()))
    if results.get("quality"):
        print(f"\nquality on {results['quality']['photos']} unseen photos (change from TF float32):")
        for config, score in results["quality"]["scores"].items():
            print(
                f"  {config:<22}AuC rebal {score['auc_rebal']:.2f} ({score['auc_rebal_change']:+.2f}), "
                f"PSNR {score['psnr']:.2f} dB ({score['psnr_change_db']:+.2f}), colourfulness "
                f"{score['colourfulness']:.1f}, mean |pixel difference| {score['mean_pixel_difference']:.2f}"
            )
    if results["skipped"]:
        print("skipped: " + "; ".join(f"{config} ({why})" for config, why in results["skipped"].items()))


def prepare_model(name: str | None, root: str) -> tuple[str, dict, list[str]]:
    """A preset's folder (a copy, with its exported networks), its results header, and the configurations."""
    import keras
    import tensorflow as tf
    from flops import forward_flops

    from keras_colorize import runtimes
    from keras_colorize.colorizer import Colorizer
    from keras_colorize.model import build_model
    from keras_colorize.presets import resolve

    folder = os.path.join(root, "preset" if name is None else os.path.basename(name.rstrip("/")))
    if name:
        shutil.copytree(resolve(name), folder)
    else:
        keras.utils.set_random_seed(0)
        Colorizer(build_model(FLAGS.variant, width=FLAGS.width), work_size=FLAGS.work_size).save_to_preset(
            folder
        )
    colorizer = Colorizer.from_preset(folder)
    skipped, configs = {}, []
    for config in FLAGS.configs:
        runtime = config.split(":")[0]
        if runtime != "saved_model" and not runtimes.is_installed(runtime):
            skipped[config] = f"{runtime} not installed (the cpu extra)"
        else:
            configs.append(config)
    results = {
        "model": name or f"{FLAGS.variant} width {FLAGS.width:g}, random weights",
        "work_size": colorizer.work_size,
        "photo_size": FLAGS.photo_size,
        "parameters": colorizer.backbone.count_params(),
        "forward_gflop": forward_flops(colorizer.backbone, colorizer.work_size) / 1e9,
        "batch_sizes": [int(size) for size in FLAGS.batch_sizes],
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "tensorflow": tf.__version__,
            "bf16_auto": runtimes.resolve_inference_precision("auto", "openvino")[1],
        },
        "calibration_data": FLAGS.calibration_data,
        "skipped": skipped,
        "export_seconds": prepare(folder, configs),
    }
    return folder, results, configs


def time_interleaved(models: list[tuple[str, dict, list[str]]]) -> None:
    """Fills each model's "timing": every configuration of every model in turn, round after round."""
    import numpy as np

    batch_sizes = [int(size) for size in FLAGS.batch_sizes]
    photos = test_photos(FLAGS.photo_size, max(batch_sizes))
    rng = np.random.default_rng(0)
    loaded, timing = {}, {}
    for index, (folder, results, configs) in enumerate(models):
        work = results["work_size"]
        lightness = {
            size: rng.uniform(0, 100, (size, work, work, 1)).astype(np.float32) for size in batch_sizes
        }
        for config in configs:
            loaded[index, config] = (*load(folder, config), lightness)
            timing[index, config] = {str(size): {"bare": [], "whole": []} for size in batch_sizes}
    for size in batch_sizes:
        for whole, network, lightness in loaded.values():  # warm-up: traces, compiles, allocates
            whole(photos[:size])
            network(lightness[size])
        for _ in range(FLAGS.repeats if size == 1 else FLAGS.batch_repeats):  # interleaved rounds
            for key, (whole, network, lightness) in loaded.items():
                for kind, run, argument in (
                    ("bare", network, lightness[size]),
                    ("whole", whole, photos[:size]),
                ):
                    start = time.perf_counter()
                    run(argument)
                    timing[key][str(size)][kind].append(time.perf_counter() - start)
    for (index, config), sizes in timing.items():
        models[index][1].setdefault("timing", {})[config] = {
            size: {f"{kind}_s": statistics.median(times) for kind, times in entry.items()}
            for size, entry in sizes.items()
        }
    for index, (folder, results, _) in enumerate(models):
        results["parts_ms"] = {
            config: parts(folder, photos[0], network)
            for (owner, config), (_, network, _) in loaded.items()
            if owner == index and not config.startswith("saved_model")
        }


def print_comparison(models: list[dict]) -> None:
    """Each later preset's times over the first's, per configuration, batch size and kind."""
    first = models[0]
    for other in models[1:]:
        print(f"\n{other['model']} / {first['model']} (time ratio; below 1.00: {other['model']} is faster)")
        for config, entry in other["timing"].items():
            if config not in first["timing"]:
                continue
            base = first["timing"][config]
            cells = [
                f"batch {size} {kind} {entry[size][kind + '_s'] / base[size][kind + '_s']:.2f}"
                for size in entry
                for kind in ("bare", "whole")
            ]
            print(f"  {config:<22}" + ", ".join(cells))


def main(argv):
    del argv
    if FLAGS.memory_child:
        print(json.dumps(memory_child(FLAGS.model_dir, FLAGS.memory_child)))
        return
    root = tempfile.mkdtemp(prefix="bench_inference_")
    models = [prepare_model(name, root) for name in FLAGS.preset or [None]]
    time_interleaved(models)
    for folder, results, configs in models:
        results["memory"] = (
            {config: measure_memory(folder, config) for config in configs} if FLAGS.memory else {}
        )
        results["quality"] = quality(folder, configs) if FLAGS.quality_data else None
    entries = [results for _, results, _ in models]
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w") as file:
        json.dump({"machine": entries[0]["machine"], "models": entries}, file, indent=2)
    for results in entries:
        print_table(results)
    print_comparison(entries)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
