"""Photos/s of the Beam pipeline on the local runner against the single-process `colorize` CLI.

    python bench/beam_throughput.py [--data=../shared/data/val] [--photos=200] [--rounds=1] \\
        [--batch_sizes=4,8,16] [--probe_photos=48]

Both are whole commands run as subprocesses on the same --photos photos (the
first ones, sorted, under --data, copied into one flat folder), each into a
fresh output folder, at --precision=auto (bfloat16 on a CPU with AVX512_BF16)
on the default bundled preset; the time includes starting Python and loading
the model (once per Beam worker process). First the pipeline's batch size is
chosen: each of --batch_sizes runs the pipeline on the first --probe_photos
photos and the fastest is kept (the CLI runs at the same batch size). Then
--rounds rounds alternate pipeline and CLI. Prints a table and writes JSON
(bench/results/beam_throughput.json) with photos/s per round, the medians and
the ratio pipeline / CLI.
"""

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

from absl import app, flags

from keras_colorize.images import list_images

ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAGS = flags.FLAGS
flags.DEFINE_string("data", str(ROOT.parent / "shared" / "data" / "val"), "Folder of photos (recursive).")
flags.DEFINE_integer("photos", 200, "Photos per timed run.")
flags.DEFINE_integer("rounds", 1, "Alternating rounds (pipeline, CLI).")
flags.DEFINE_list("batch_sizes", ["4", "8", "16"], "Pipeline batch sizes to choose from.")
flags.DEFINE_integer("probe_photos", 48, "Photos per batch-size probe.")
flags.DEFINE_integer("workers", 2, "Beam DirectRunner worker processes.")
flags.DEFINE_string("output", str(ROOT / "bench" / "results" / "beam_throughput.json"), "JSON results.")


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def _beam(folder: str, output: str, batch_size: int) -> float:
    ours = [f"--input={folder}/*", f"--output={output}", f"--batch_size={batch_size}"]
    runner = ["--runner=DirectRunner", f"--direct_num_workers={FLAGS.workers}"]
    module = [sys.executable, "-m", "keras_colorize.beam_colorize"]
    return _timed([*module, *ours, "--", *runner, "--direct_running_mode=multi_processing"])


def _cli(folder: str, output: str, batch_size: int) -> float:
    ours = [f"--input={folder}", f"--output={output}", f"--batch_size={batch_size}"]
    return _timed([sys.executable, "-m", "keras_colorize.colorize", *ours])


def main(argv: list[str]) -> None:
    del argv
    photos = list_images(FLAGS.data)[: FLAGS.photos]
    if len(photos) < FLAGS.photos:
        raise SystemExit(f"error: --data={FLAGS.data} has {len(photos)} photos, fewer than --photos")
    scratch = tempfile.mkdtemp(prefix="beam_throughput_")
    try:
        full, probe = os.path.join(scratch, "photos"), os.path.join(scratch, "probe")
        for folder, chosen in ((full, photos), (probe, photos[: FLAGS.probe_photos])):
            os.makedirs(folder)
            for path in chosen:
                shutil.copy(path, folder)
        probes = {}
        for size in map(int, FLAGS.batch_sizes):
            seconds = _beam(probe, os.path.join(scratch, f"probe_out_{size}"), size)
            probes[size] = FLAGS.probe_photos / seconds
            print(f"probe: pipeline batch {size}: {probes[size]:.2f} photos/s", flush=True)
        batch_size = max(probes, key=probes.get)
        rates = {"pipeline": [], "cli": []}
        for round_ in range(FLAGS.rounds):
            for name, run in (("pipeline", _beam), ("cli", _cli)):
                seconds = run(full, os.path.join(scratch, f"out_{name}_{round_}"), batch_size)
                rates[name].append(FLAGS.photos / seconds)
                print(f"round {round_}: {name}: {rates[name][-1]:.2f} photos/s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio = medians["pipeline"] / medians["cli"]
    print(f"\n{'path':<40} {'photos/s':>9}")
    print(f"{'Beam DirectRunner, ' + str(FLAGS.workers) + ' processes':<40} {medians['pipeline']:>9.2f}")
    print(f"{'colorize CLI, one process':<40} {medians['cli']:>9.2f}")
    print(f"ratio pipeline / CLI: {ratio:.2f}x (batch {batch_size}, {FLAGS.photos} photos from {FLAGS.data})")
    result = {
        "photos": FLAGS.photos,
        "data": FLAGS.data,
        "workers": FLAGS.workers,
        "precision": "auto",
        "batch_size_probes_photos_per_s": probes,
        "batch_size": batch_size,
        "photos_per_s": rates,
        "median_photos_per_s": medians,
        "ratio_pipeline_over_cli": ratio,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    pathlib.Path(FLAGS.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"Wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
