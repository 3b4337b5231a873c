"""Colorize archives of photos on a cluster: an Apache Beam pipeline with RunInference.

    python -m keras_colorize.beam_colorize --input='archive/*.jpg' --output=colorized/ \\
        [--model=PRESET_OR_PATH] [--precision=auto] -- [Beam pipeline options]

The photos are listed with Beam's `fileio` (so `gs://` and `s3://` patterns work
wherever Beam's filesystems are installed), read as bytes, colorized with
`RunInference` by the whole `kc.Colorizer` (one model per worker process, shared
by its threads; batches of --batch_size photos) and written as PNGs named by
the `colorize` CLI's rules: a pattern's folder layout is kept under --output
(`archive/**/*.jpg`: archive/1920/a.jpg -> <output>/1920/a.png), and two
photos with one stem become a.png and a-1.png. Each PNG is written
to a temporary name and renamed, so a retried bundle never leaves a half-written
file; photos whose output exists are skipped (a failed job resumes), unless
--overwrite. Unreadable, too-large or corrupt photos go to
`<output>/dead_letter.jsonl` (one {"path", "reason"} per line), are counted in
the Beam metrics and printed at the end.

Everything after `--` is passed to Beam, e.g. `-- --runner=DirectRunner
--direct_num_workers=2 --direct_running_mode=multi_processing` (the default
here) or `-- --runner=DataflowRunner --project=... --region=...` (docs/beam.md).

Exit status: 0 done, 1 some photos went to the dead-letter file, 2 usage error.
"""

import functools
import json
import os
import sys

from absl import flags

from keras_colorize import command
from keras_colorize.images import MAX_PIXELS, UnreadableImageError
from keras_colorize.photo_files import output_names

FLAGS = flags.FLAGS
DEAD_LETTER = "dead_letter.jsonl"
METRICS = "keras_colorize"
INSTALL = 'pip install -e ".[beam]" && pip install --no-deps apache-beam==2.77.0'
LOCAL_RUNNER = ("--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_processing")


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_multi_string("input", None, "File patterns (Beam fileio: local, gs://, s3://); repeatable.")
    flags.DEFINE_string("output", None, "Folder for the colorized PNGs and dead_letter.jsonl.")
    flags.DEFINE_string("model", None, "A preset name, a preset folder or a .keras file (default: bundled).")
    flags.DEFINE_float("temperature", None, "Annealed-mean temperature (> 0; default: the model's).")
    flags.DEFINE_integer("batch_size", 8, "Photos per forward pass (RunInference's batches).", lower_bound=1)
    flags.DEFINE_integer("max_pixels", MAX_PIXELS, "Larger photos go to the dead-letter file.", lower_bound=1)
    command.define_runtime_flags()
    flags.DEFINE_bool("overwrite", False, "Redo photos whose output already exists (default: skip them).")


REQUIRED = ("input", "output")


def relative_to_pattern(path: str, pattern: str) -> str:
    """A matched file's path relative to its pattern's folder (the part before the first wildcard), as
    the `colorize` CLI keeps a folder's layout; a pattern without wildcards names one file: its file name.

    Args:
        path: a file the pattern matched.
        pattern: the --input pattern.

    Example:

    >>> relative_to_pattern("archive/1920/a.jpg", "archive/**/*.jpg")
    '1920/a.jpg'
    >>> relative_to_pattern("gs://bucket/scans/b.tif", "gs://bucket/scans/*")
    'b.tif'
    >>> relative_to_pattern("archive/c.png", "archive/c.png")
    'c.png'
    """
    wildcards = [pattern.find(c) for c in "*?[" if c in pattern]
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if not wildcards:
        return name
    base = pattern[: pattern.rfind("/", 0, min(wildcards)) + 1]
    if "://" not in pattern:  # local: the runner may report absolute paths
        base, path = os.path.join(os.path.abspath(base), ""), os.path.abspath(path)
    return path[len(base) :] if path.startswith(base) else name


def plan_names(found: list[tuple[int, str]], patterns: list[str], output: str) -> list[tuple[str, str]]:
    """(photo, output PNG) for every file found, named by the `colorize` CLI's rules.

    Inputs in the order of --input, then path; folder layouts kept under `output`; a second photo with
    the same stem gets `-1` (`photo_files.output_names`); a file matched by two patterns is done once.

    Args:
        found: (index of the pattern, path) of every match.
        patterns: the --input patterns.
        output: the output folder (local, or a URL such as gs://...).

    Example:

    >>> plan_names([(0, "in/a.jpg"), (0, "in/b/a.jpg"), (0, "in/a.png")], ["in/*"], "out")
    [('in/a.jpg', 'out/a.png'), ('in/a.png', 'out/a-1.png'), ('in/b/a.jpg', 'out/b/a.png')]
    """
    paths, relatives, seen = [], [], set()
    for index, path in sorted(found):
        if path not in seen:
            seen.add(path)
            paths.append(path)
            relatives.append(relative_to_pattern(path, patterns[index]))
    if "://" in output:
        targets = output_names(relatives, output, lambda a, b: f"{a.rstrip('/')}/{b}", str)
    else:
        targets = output_names(relatives, output)
    return list(zip(paths, targets, strict=True))


def write_png(target: str, rgb) -> None:
    """Encode `rgb` as the CLI does and write it to a temporary name, then rename it onto `target`.

    Args:
        target: the output PNG (any Beam filesystem).
        rgb: uint8 [H, W, 3].

    Example:

    >>> import numpy as np
    >>> write_png("tiny.png", np.zeros((2, 3, 3), np.uint8))
    """
    import io
    import uuid

    from apache_beam.io.filesystems import FileSystems
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    folder, name = FileSystems.split(target)
    if not FileSystems.exists(folder):
        FileSystems.mkdirs(folder)
    temporary = FileSystems.join(folder, f".tmp-{uuid.uuid4().hex}-{name}")
    with FileSystems.create(temporary) as file:
        file.write(buffer.getvalue())
    FileSystems.rename([temporary], [target])


def make_handler(
    model: str | None,
    runtime: str,
    precision: str,
    temperature: float | None,
    batch_size: int,
    max_pixels: int = MAX_PIXELS,
):
    """A RunInference `ModelHandler` whose model is the whole Colorizer (see `ColorizerHandler`).

    Args:
        model: a preset name, folder or .keras file (None: the bundled default).
        runtime: the --runtime flag.
        precision: the --precision flag.
        temperature: None (the model's) or > 0.
        batch_size: photos per RunInference batch and per forward pass.
        max_pixels: the --max_pixels flag (`build` sends larger photos to the dead-letter file).

    Example:

    >>> make_handler(None, "tensorflow", "float32", None, 4).batch_elements_kwargs()
    {'min_batch_size': 1, 'max_batch_size': 4}
    """
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult

    class ColorizerHandler(ModelHandler):
        """(output PNG, uint8 RGB) in, PredictionResult(output PNG, colorized uint8 RGB) out."""

        def load_model(self):
            return command.load_model_on_runtime(model, runtime, precision)

        def run_inference(self, batch, colorizer, inference_args=None):
            outputs = colorizer.colorize([rgb for _, rgb in batch], temperature, batch_size, max_pixels)
            return [PredictionResult(target, rgb) for (target, _), rgb in zip(batch, outputs, strict=True)]

        def batch_elements_kwargs(self):
            return {"min_batch_size": 1, "max_batch_size": batch_size}

    return ColorizerHandler()


def build(pipeline, patterns: list[str], output: str, handler, overwrite: bool, max_pixels: int):
    """Add the pipeline's transforms: list, skip done, read, colorize, write; dead letters to a file.

    Args:
        pipeline: a `beam.Pipeline`.
        patterns: file patterns.
        output: the output folder.
        handler: from `make_handler`.
        overwrite: redo photos whose output exists.
        max_pixels: larger photos are dead letters.
    """
    import apache_beam as beam
    from apache_beam.io import fileio
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.metrics import Metrics
    from apache_beam.ml.inference.base import RunInference

    from keras_colorize.colorizer import load_photo

    counters = {name: Metrics.counter(METRICS, name) for name in ("written", "already_done", "dead_letter")}

    def to_do(pair):
        if not overwrite and FileSystems.exists(pair[1]):
            counters["already_done"].inc()
            return []
        return [pair]

    def decode(pair):
        path, target = pair
        try:
            with FileSystems.open(path) as file:
                data = file.read()
            yield target, load_photo(data, path, max_pixels)
        except (UnreadableImageError, OSError) as error:
            counters["dead_letter"].inc()
            reason = str(error).removeprefix(f"{path}: ")
            yield beam.pvalue.TaggedOutput("dead", json.dumps({"path": path, "reason": reason}))

    def write(result):
        write_png(result.example, result.inference)
        counters["written"].inc()

    found = [
        pipeline
        | f"Pattern{i}" >> beam.Create([pattern])
        | f"Match{i}" >> fileio.MatchAll()
        | f"Found{i}" >> beam.Map(lambda match, i=i: (i, match.path))
        for i, pattern in enumerate(patterns)
    ]
    planned = (
        found
        | beam.Flatten()
        | "All" >> beam.combiners.ToList()  # names need every path (clashes): ~100 bytes a photo
        | "Name" >> beam.FlatMap(plan_names, patterns, output)
        | beam.Reshuffle()
    )
    photos = (
        planned
        | "SkipDone" >> beam.FlatMap(to_do)
        | "Decode" >> beam.FlatMap(decode).with_outputs("dead", main="ok")
    )
    photos.ok | RunInference(handler) | "Write" >> beam.Map(write)
    photos.dead | "DeadLetter" >> beam.io.WriteToText(
        FileSystems.join(output, DEAD_LETTER), shard_name_template="", num_shards=1
    )


def main(argv: list[str], pipeline_args: list[str] = ()) -> int:
    """Run the pipeline; returns the exit status (see the module's docstring).

    Args:
        argv: leftover arguments (none are accepted).
        pipeline_args: Beam's options (after `--`; default: the local runner with 2 processes).
    """
    del argv
    try:
        import apache_beam as beam
    except ImportError:
        raise ImportError(
            f"the beam command needs Apache Beam: {INSTALL} in the repository (why --no-deps: docs/beam.md)"
        ) from None
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    command.check_temperature_flag(FLAGS.temperature)
    handler = make_handler(
        FLAGS.model, FLAGS.runtime, FLAGS.precision, FLAGS.temperature, FLAGS.batch_size, FLAGS.max_pixels
    )
    dead_letter = FileSystems.join(FLAGS.output, DEAD_LETTER)
    pipeline = beam.Pipeline(options=PipelineOptions(list(pipeline_args) or list(LOCAL_RUNNER)))
    build(pipeline, FLAGS.input, FLAGS.output, handler, FLAGS.overwrite, FLAGS.max_pixels)
    result = pipeline.run()
    result.wait_until_finish()
    counts = {
        counter.key.metric.name: counter.committed
        for counter in result.metrics().query(MetricsFilter().with_namespace(METRICS))["counters"]
    }
    print(
        f"Colorized {counts.get('written', 0)} photo(s) into {FLAGS.output}; "
        f"{counts.get('already_done', 0)} already done (--overwrite redoes them); "
        f"{counts.get('dead_letter', 0)} dead letter(s)"
    )
    with FileSystems.open(dead_letter) as file:
        lines = file.read().decode("utf-8").splitlines()
    for line in lines:
        record = json.loads(line)
        print(f"  {record['path']}: {record['reason']}")
    if lines:
        print(
            f"error: {len(lines)} photo(s) could not be colorized (listed in {dead_letter})", file=sys.stderr
        )
        return command.EXIT_SOME_FAILED
    return command.EXIT_OK


def cli(argv: list[str]) -> None:
    """`keras-colorize beam ... -- [Beam options]`: our flags before `--`, Beam's after it.

    Args:
        argv: the program name and its arguments.
    """
    split = argv.index("--") if "--" in argv else len(argv)
    ours, beams = argv[:split], argv[split + 1 :]

    @functools.wraps(main)
    def with_beam_options(rest: list[str]) -> int:
        return main(rest, beams)

    command.run(with_beam_options, define_flags, __doc__, REQUIRED, ours)


if __name__ == "__main__":
    cli(sys.argv)
