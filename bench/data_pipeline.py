"""Input pipeline throughput: our tf.data path vs a plain NumPy / scikit-image one.

Both turn the same photo files into training targets: decode, random
scale/crop to 256 x 256 with a flip, Lab, and the soft-encoded ab targets
(5 nearest of the 313 bins, Gaussian weights) at every 4th pixel.

- ours: `make_dataset` (tf.data, parallel decode and crop) followed, per
  batch, by `training_pair` + `soft_encode_sparse` (what the trainer runs in
  its compiled step), mapped in tf.data so it overlaps with decoding.
- numpy: Pillow decode and resize, `skimage.color.rgb2lab` on the crop, and
  distances to all 313 bins with NumPy, in a pool of 2 processes.

The two are timed alternately, several rounds, on the same files and cores;
the medians and their ratio are printed and saved as JSON. On a machine
shared with other work, wall-clock rates are noisy; images per CPU-second
(process CPU time, summed over the NumPy workers) are steadier.

    python bench/data_pipeline.py --data_dir=../shared/data/val --num_images=512

`--source=tfrecord` measures the input pipeline alone (`make_dataset`: read,
decode, random crop and flip to uint8 256 px; no Lab) on TFRecord shards of
ImageNet-sized JPEGs: every photo of --data_dir scaled to 500 x 375 (or
375 x 500), quality 90, written by `write_tfrecords` to a temporary folder.
It re-runs itself under `taskset -c 0` and `taskset -c 0,1` with tf.data's
thread pool of the same size, and projects the cores needed for
--target_rate photos/s from the photos per CPU-second:

    python bench/data_pipeline.py --source=tfrecord --num_images=512

`--trials` (with --source=tfrecord) times each variant in TRIALS against the
committed pipeline on 2 cores: one child process per variant and round, the
variants interleaved within each round so that a slow spell of the machine
hits them all. A variant is a change applied in its child process only (a
tf.data argument, a `make_dataset` option, or a swapped crop function):

    python bench/data_pipeline.py --source=tfrecord --trials=all --num_images=1024
"""

import json
import multiprocessing
import os
import pathlib
import platform
import statistics
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/data/val", "Folder of photos (searched recursively).")
flags.DEFINE_integer("num_images", 512, "Photos per timed run.", lower_bound=1)
flags.DEFINE_integer("image_size", 256, "Crop size.", lower_bound=8)
flags.DEFINE_integer("batch_size", 32, "Batch size of our pipeline.", lower_bound=1)
flags.DEFINE_integer("rounds", 3, "Alternating timed rounds of each implementation.", lower_bound=1)
flags.DEFINE_integer("processes", 2, "Worker processes of the NumPy implementation.", lower_bound=1)
flags.DEFINE_string("output", None, "JSON results (default bench/results/data_pipeline[_tfrecord].json).")
flags.DEFINE_enum("source", "files", ["files", "tfrecord"], "files: ours vs NumPy; tfrecord: see above.")
flags.DEFINE_integer(
    "cores", None, "Internal (tfrecord): time on the shards in --shards with this many cores."
)
flags.DEFINE_string("shards", None, "Internal (tfrecord): the shard pattern of the parent run.")
flags.DEFINE_float("target_rate", 1200, "Photos/s to project the cores for (tfrecord).")
flags.DEFINE_list(
    "trials", [], "tfrecord: variants in TRIALS to time against `base` (the committed pipeline), or all."
)
flags.DEFINE_string("trial", "base", "Internal (tfrecord): the variant a child run times.")

MAX_SCALE = 1.25
STRIDE = 4


def numpy_targets(path: str, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One photo -> (L [S, S], nearest-5 bin indices and weights at every 4th pixel), the plain way."""
    from PIL import Image
    from skimage.color import rgb2lab

    from keras_colorize.bins import NEIGHBOURS, SIGMA, bin_centers

    rng = np.random.default_rng(seed)
    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = rng.uniform(size, MAX_SCALE * size) / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.BILINEAR)
        left, top = rng.integers(0, width - size + 1), rng.integers(0, height - size + 1)
        crop = np.asarray(image.crop((left, top, left + size, top + size)))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    lab = rgb2lab(crop)
    ab = lab[::STRIDE, ::STRIDE, 1:].reshape(-1, 2)
    d2 = ((ab[:, None, :] - bin_centers()[None].astype(np.float64)) ** 2).sum(-1)
    nearest = np.argpartition(d2, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    near_d2 = np.take_along_axis(d2, nearest, axis=1)
    weights = np.exp(-near_d2 / (2 * SIGMA**2))
    weights /= weights.sum(axis=1, keepdims=True)
    return lab[..., 0], nearest, weights


def _numpy_worker(job: tuple[str, int, int]) -> float:
    """CPU seconds spent on one photo (only that crosses the process boundary)."""
    path, size, seed = job
    start = time.process_time()
    numpy_targets(path, size, seed)
    return time.process_time() - start


def time_numpy(pool, paths: list[str], size: int, round_index: int) -> tuple[float, float]:
    """(images per second, images per CPU-second)."""
    jobs = [(p, size, round_index * len(paths) + i) for i, p in enumerate(paths)]
    start = time.perf_counter()
    cpu = sum(pool.imap_unordered(_numpy_worker, jobs, chunksize=8))
    return len(jobs) / (time.perf_counter() - start), len(jobs) / cpu


def make_ours(paths: list[str], size: int, batch_size: int):
    import tensorflow as tf

    from keras_colorize.bins import soft_encode_sparse
    from keras_colorize.data import make_dataset
    from keras_colorize.preprocessing import training_pair

    def targets(batch):
        lightness, ab = training_pair(batch["rgb"])
        indices, weights = soft_encode_sparse(ab)
        return lightness, indices, weights

    def run(round_index: int) -> float:
        dataset, _ = make_dataset(
            paths, size, batch_size, training=True, drop_remainder=False, epoch=round_index
        )
        dataset = dataset.map(targets, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
        start, cpu = time.perf_counter(), time.process_time()
        done = sum(int(lightness.shape[0]) for lightness, _, _ in dataset)
        return done / (time.perf_counter() - start), done / (time.process_time() - cpu)

    return run


def write_json(record: dict, default: str) -> None:
    output = pathlib.Path(FLAGS.output or default)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(record, indent=2) + "\n")
    print(f"Wrote {output}")


def imagenet_sized_shards(folder: str) -> str:
    """--data_dir's photos as 500 x 375 JPEGs (quality 90) in 8 TFRecord shards under `folder`."""
    from PIL import Image

    from keras_colorize.data.tfrecords import write_tfrecords
    from keras_colorize.images import list_images

    jpegs = pathlib.Path(folder, "jpeg")
    jpegs.mkdir()
    for number, path in enumerate(list_images(FLAGS.data_dir)[: FLAGS.num_images]):
        with Image.open(path) as image:
            size = (500, 375) if image.width >= image.height else (375, 500)
            image.convert("RGB").resize(size, Image.BICUBIC).save(jpegs / f"{number:05d}.jpg", quality=90)
    return write_tfrecords(str(jpegs), os.path.join(folder, "train"), 8).pattern


def _override(method: str, **arguments) -> None:
    """Every later `tf.data.Dataset.<method>` call in this process gets `arguments` (a trial's change)."""
    import inspect

    import tensorflow as tf

    original = getattr(tf.data.Dataset, method)
    signature = inspect.signature(original)

    def patched(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.arguments.update(arguments)
        return original(*bound.args, **bound.kwargs)

    setattr(tf.data.Dataset, method, patched)


def _decode_only_the_window(options) -> None:
    """`decode_and_crop_jpeg`: decode only the training crop's window, not the whole photo."""
    import tensorflow as tf

    from keras_colorize.data import pipeline

    def crop(data, size, seed):
        top, left, side, flip = pipeline.crop_window(tf.image.extract_jpeg_shape(data), size, seed)
        window = tf.stack([top, left, side, side])
        patch = tf.image.decode_and_crop_jpeg(data, window, channels=3, dct_method="INTEGER_ACCURATE")
        patch = tf.cond(flip, lambda: tf.reverse(patch, axis=[1]), lambda: patch)
        return pipeline.resize_uint8(patch, size, size)

    pipeline.decode_any = lambda data: data  # the crop decodes
    pipeline.random_crop = crop


def _resize_without_antialiasing(options) -> None:
    """Plain bilinear resize (breaks the one-resize rule: crops would differ from the Colorizer's input)."""
    import tensorflow as tf

    from keras_colorize.data import pipeline

    def resize(images, height, width):
        resized = tf.image.resize(tf.cast(images, tf.float32), (height, width), antialias=False)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)

    pipeline.resize_uint8 = resize


def _cycle(length: int):
    """A trial: interleave `length` shards at a time, each read by its own thread."""
    return lambda options: _override("interleave", cycle_length=length, num_parallel_calls=length)


def _fuse_maps(options) -> None:
    options.experimental_optimization.map_fusion = True


# name -> (what it changes, a function applying it in this process, given the epoch's tf.data.Options)
TRIALS = {
    "base": ("as committed: full decode, deterministic, AUTOTUNE, interleave 8", lambda options: None),
    "window": ("decode_and_crop_jpeg (decode the crop window only)", _decode_only_the_window),
    "nondet": ("deterministic=False in every map and interleave", lambda options: (
        _override("map", deterministic=False), _override("interleave", deterministic=False))),
    "map2": ("num_parallel_calls=2 in every map", lambda options: _override("map", num_parallel_calls=2)),
    "map4": ("num_parallel_calls=4 in every map", lambda options: _override("map", num_parallel_calls=4)),
    "prefetch2": ("prefetch(2) instead of AUTOTUNE", lambda options: _override("prefetch", buffer_size=2)),
    "cycle1": ("interleave cycle 1", _cycle(1)),
    "cycle2": ("interleave cycle 2", _cycle(2)),
    "cycle4": ("interleave cycle 4", _cycle(4)),
    "map_fusion": ("tf.data map_fusion optimisation on", _fuse_maps),
    "no_antialias": ("bilinear resize without antialiasing", _resize_without_antialiasing),
}  # fmt: skip


def time_tfrecord_pipeline() -> None:
    """One child run: --rounds epochs of `make_dataset` on --shards with --cores threads; prints JSON."""
    import tensorflow as tf

    from keras_colorize.data import make_dataset

    options = tf.data.Options()
    options.threading.private_threadpool_size = FLAGS.cores
    TRIALS[FLAGS.trial][1](options)
    rates = []
    for round_index in range(FLAGS.rounds + 1):  # the first is a warm-up
        dataset, _ = make_dataset(FLAGS.shards, FLAGS.image_size, FLAGS.batch_size, True, epoch=round_index)
        start, cpu = time.perf_counter(), time.process_time()
        done = sum(int(batch["rgb"].shape[0]) for batch in dataset.with_options(options))
        rates.append((done / (time.perf_counter() - start), done / (time.process_time() - cpu)))
    print("RESULT " + json.dumps({"cores": FLAGS.cores, "rounds": rates[1:]}))


def _child_run(pattern: str, cores: int, rounds: int, trial: str = "base") -> list:
    """Rounds of (photos/s, photos per CPU-second) of one child process under `taskset`."""
    import subprocess
    import sys

    command = ["taskset", "-c", ",".join(map(str, range(cores))), sys.executable, __file__,
               "--source=tfrecord", f"--cores={cores}", f"--shards={pattern}", f"--trial={trial}",
               f"--rounds={rounds}", f"--batch_size={FLAGS.batch_size}",
               f"--image_size={FLAGS.image_size}"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.split("RESULT ", 1)[1])["rounds"]


def trials_table(pattern: str) -> None:
    """--trials: every variant, one epoch per round after its warm-up, interleaved over --rounds."""
    unknown = set(FLAGS.trials) - {"all", *TRIALS}
    if unknown:
        raise app.UsageError(f"--trials: unknown {sorted(unknown)}; known: all, {', '.join(TRIALS)}.")
    chosen = TRIALS if "all" in FLAGS.trials else ["base", *(t for t in FLAGS.trials if t != "base")]
    runs = {name: [] for name in chosen}
    for round_index in range(FLAGS.rounds):
        for name in chosen:
            runs[name] += _child_run(pattern, 2, 1, name)
            print(f"round {round_index} {name}: {runs[name][-1][0]:.0f} photos/s", flush=True)
    medians = {name: [statistics.median(r[k] for r in rows) for k in (0, 1)] for name, rows in runs.items()}
    base = medians["base"]
    record = {"num_images": FLAGS.num_images, "image_size": FLAGS.image_size, "jpeg": "500x375 q90",
              "batch_size": FLAGS.batch_size, "cores": 2, "data_dir": FLAGS.data_dir,
              "trials": {}}  # fmt: skip
    print(f"\n{'trial':<13} {'photos/s':>9} {'x base':>7} {'photos/CPU-s':>13} {'x base':>7}  rounds")
    for name, (rate, per_cpu) in medians.items():
        record["trials"][name] = {"change": TRIALS[name][0], "rounds": runs[name], "photos_per_s": rate,
                                  "photos_per_cpu_s": per_cpu, "ratio_per_s": rate / base[0],
                                  "ratio_per_cpu_s": per_cpu / base[1]}  # fmt: skip
        shown = ", ".join(f"{r[0]:.0f}" for r in runs[name])
        ratios = f"{rate / base[0]:>6.2f}x {per_cpu:>13.1f} {per_cpu / base[1]:>6.2f}x"
        print(f"{name:<13} {rate:>9.1f} {ratios}  {shown}")
    write_json(record, "bench/results/data_pipeline_trials.json")


def tfrecord_main() -> None:
    import tempfile

    if FLAGS.cores:
        time_tfrecord_pipeline()
        return
    with tempfile.TemporaryDirectory() as folder:
        pattern = imagenet_sized_shards(folder)
        if FLAGS.trials:
            trials_table(pattern)
            return
        runs = {cores: _child_run(pattern, cores, FLAGS.rounds) for cores in (1, 2)}
    record = {"num_images": FLAGS.num_images, "image_size": FLAGS.image_size, "jpeg": "500x375 q90",
              "batch_size": FLAGS.batch_size, "rounds": runs, "data_dir": FLAGS.data_dir}  # fmt: skip
    print(f"\n{'cores':<6} {'photos/s':>9} {'photos/CPU-s':>13} {'cores for ' + str(FLAGS.target_rate):>16}")
    for cores, rounds in runs.items():
        rate = statistics.median(r[0] for r in rounds)
        per_cpu = statistics.median(r[1] for r in rounds)
        needed = FLAGS.target_rate / per_cpu
        record[f"cores_{cores}"] = {"photos_per_s": rate, "photos_per_cpu_s": per_cpu, "cores_needed": needed}
        print(f"{cores:<6} {rate:>9.1f} {per_cpu:>13.1f} {needed:>16.1f}")
    write_json(record, "bench/results/data_pipeline_tfrecord.json")


def main(argv):
    del argv
    from keras_colorize.images import list_images

    if FLAGS.source == "tfrecord":
        tfrecord_main()
        return

    paths = list_images(FLAGS.data_dir)[: FLAGS.num_images]
    if len(paths) < FLAGS.num_images:
        print(f"Only {len(paths)} photos in {FLAGS.data_dir}.")
    ours = make_ours(paths, FLAGS.image_size, FLAGS.batch_size)
    results = {"ours": [], "numpy": []}  # (images/s, images per CPU-second) per round
    ctx = multiprocessing.get_context("spawn")  # no forked TensorFlow state in the workers
    with ctx.Pool(FLAGS.processes) as pool:
        pool.map(_numpy_worker, [(paths[0], FLAGS.image_size, 0)] * FLAGS.processes)  # warm up imports
        ours(FLAGS.rounds)  # warm up (tracing); an epoch the timed rounds do not use
        for round_index in range(FLAGS.rounds):
            results["ours"].append(ours(round_index))
            results["numpy"].append(time_numpy(pool, paths, FLAGS.image_size, round_index))
            print(
                f"round {round_index}: ours {results['ours'][-1][0]:.1f} images/s, "
                f"numpy {results['numpy'][-1][0]:.1f} images/s",
                flush=True,
            )
    medians = {name: statistics.median(v[0] for v in values) for name, values in results.items()}
    per_cpu = {name: statistics.median(v[1] for v in values) for name, values in results.items()}
    ratio, cpu_ratio = medians["ours"] / medians["numpy"], per_cpu["ours"] / per_cpu["numpy"]
    print(f"\n{'implementation':<44} {'images/s':>9} {'images/CPU-s':>13}")
    labels = {
        "ours": "ours (tf.data + training_pair + soft_encode)",
        "numpy": f"numpy/scikit-image ({FLAGS.processes} processes)",
    }
    for name, label in labels.items():
        print(f"{label:<44} {medians[name]:>9.1f} {per_cpu[name]:>13.1f}")
    print(f"ratio: {ratio:.2f}x wall clock, {cpu_ratio:.2f}x per CPU-second (required: >= 2x)")
    record = {
        "num_images": len(paths),
        "image_size": FLAGS.image_size,
        "batch_size": FLAGS.batch_size,
        "numpy_processes": FLAGS.processes,
        "rounds": results,
        "images_per_s": medians,
        "images_per_cpu_s": per_cpu,
        "ratio": ratio,
        "cpu_ratio": cpu_ratio,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "data_dir": FLAGS.data_dir,
    }
    write_json(record, "bench/results/data_pipeline.json")


if __name__ == "__main__":
    app.run(main)
