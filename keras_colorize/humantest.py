"""The paper's human test as a local web page: which photo is real? (Sec. 3.1 of the paper.)

    python -m keras_colorize.humantest --photos=photos/ --models=full_w05_cpu2h,colorized/ --port=8000
    python -m keras_colorize.humantest --output=humantest --export=results.csv --gallery=fools.png

Each --models entry is a model (a preset name, a preset folder or a .keras
file: the photos are colorized with `Colorizer.colorize`) or a folder of
colorizations already made with `keras-colorize colorize --input=PHOTOS
--output=FOLDER`. The test's images (the central square at --size) and its
SQLite database go to --output; running again with the same flags reuses
them, so the server can be stopped and started without losing an answer.
The server listens on 127.0.0.1 unless --host is given.

Each participant (a random id in a cookie) gets --practice trials with
feedback, then --trials without; --sanity_fraction of those pair the photo
with random colours. Every trial shows the real photo and one colorization
side by side in random order for --display_ms, then the participant clicks
the one they think is real. /results (and --export, a CSV) give each
method's fooling rate (the share of test trials in which its colorization
was picked; 50% is chance) with a bootstrap standard error, the participant
count and the sanity pass rate, with and without the participants who
passed less than --sanity_threshold of their sanity trials. --gallery draws
the colorizations picked as real most often. docs/humantest.md explains the
protocol and the numbers.

Needs the humantest extra: pip install -e ".[humantest]".
"""

import dataclasses
import os

from absl import flags

from keras_colorize import command
from keras_colorize.humantest_store import DATABASE, Settings, Store

FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string("photos", None, "Folder of the real colour photos (searched recursively).")
    flags.DEFINE_list(
        "models",
        None,
        "Comma-separated methods to test: preset names, preset folders, .keras files or folders of "
        "colorizations made by keras-colorize colorize from --photos.",
    )
    flags.DEFINE_string("output", "humantest", "The test's folder: its images and humantest.sqlite.")
    flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every network interface).")
    flags.DEFINE_integer(
        "port", 8000, "Port to listen on (0: any free port).", lower_bound=0, upper_bound=65535
    )
    flags.DEFINE_integer(
        "display_ms", 1000, "How long each pair of photos is shown (the paper: 1 s).", lower_bound=1
    )
    flags.DEFINE_integer("practice", 10, "Practice trials, with feedback, before the test.", lower_bound=0)
    flags.DEFINE_integer("trials", 40, "Test trials per participant, without feedback.", lower_bound=1)
    flags.DEFINE_float(
        "sanity_fraction",
        0.1,
        "Share of the test trials against random colours.",
        lower_bound=0,
        upper_bound=0.5,
    )
    flags.DEFINE_float(
        "sanity_threshold",
        0.75,
        "Share of their sanity trials a participant must pass to be kept in the second table.",
        lower_bound=0,
        upper_bound=1,
    )
    flags.DEFINE_integer(
        "size", 256, "Side of the square photos shown, in pixels.", lower_bound=16, upper_bound=1024
    )
    flags.DEFINE_integer("seed", 0, "Seed of the sanity trials' random colours.")
    flags.DEFINE_string("export", None, "Write the results table to this CSV file and exit (no server).")
    flags.DEFINE_string(
        "gallery", None, "Draw the 'fools humans' gallery to this PNG file and exit (no server)."
    )


def _settings() -> Settings:
    """The session settings the flags give."""
    return Settings(
        display_ms=FLAGS.display_ms,
        practice=FLAGS.practice,
        trials=FLAGS.trials,
        sanity_fraction=FLAGS.sanity_fraction,
        sanity_threshold=FLAGS.sanity_threshold,
        size=FLAGS.size,
    )


def open_test(folder: str) -> Store:
    """The test stored in `folder`; a UsageError if it holds none.

    Args:
        folder: the --output folder of an earlier run.
    """
    database = os.path.join(folder, DATABASE)
    if not os.path.isfile(database) or Store(database).settings() is None:
        raise command.UsageError(
            f"--output={folder} holds no human test ({DATABASE}); make one with --photos and --models"
        )
    return Store(database)


def load_methods(models: list[str], photos: str) -> dict:
    """Method name -> its Colorizer (a model entry) or its folder (colorizations already made).

    Every model is loaded before any photo is read, so a bad entry is one line and no half-made test.

    Args:
        models: the --models entries.
        photos: the --photos folder (a folder of colorizations must be another one).
    """
    from keras_colorize.humantest_stimuli import check_method_names, is_colorized_folder

    names = check_method_names(models, photos)
    return {
        name: model if is_colorized_folder(model) else command.load_model(model, flag="models")
        for name, model in zip(names, models, strict=True)
    }


def make_test(folder: str, photos: str, models: list[str], settings: Settings, seed: int) -> Store:
    """The test in `folder`: made from `photos` and `models`, or the one already there if it is the same.

    Args:
        folder: the test's folder (created if needed).
        photos: the real photos' folder.
        models: --models entries.
        settings: how each session runs.
        seed: the sanity trials' colours.
    """
    from keras_colorize.humantest_stimuli import photo_files, prepare

    sources = {"photos": os.path.realpath(photos), "models": list(models), "seed": seed}
    database = os.path.join(folder, DATABASE)
    if os.path.isfile(database) and Store(database).settings() is not None:
        store = Store(database)
        stored = store.settings()
        changed = [
            f"--{name}={value} (the test's: {getattr(stored, name)})"
            for name, value in dataclasses.asdict(settings).items()
            if getattr(stored, name) != value
        ]
        changed += [
            f"--{name}={value} (the test's: {store.sources().get(name)})"
            for name, value in sources.items()
            if store.sources().get(name) != value
        ]
        if changed:
            raise command.UsageError(
                f"--output={folder} holds a test made with other flags: {'; '.join(changed)}; give the "
                "test's flags to go on with it, or another --output for a new test"
            )
        print(f"Going on with the test in {folder} ({len(store.answers())} test answer(s) so far)")
        return store
    photo_files(photos)  # before any model is loaded
    made, skips = prepare(photos, load_methods(models, photos), folder, settings.size, seed)
    for entry in skips.entries:
        print(f"  skipped {entry['reason']}")
    if len(made) < 2:
        raise command.UsageError(
            f"only {len(made)} photo(s) in --photos={photos} could be used for every method "
            f"({skips.summary()}); a test needs at least 2"
        )
    os.makedirs(folder, exist_ok=True)
    store = Store(database)
    store.create(settings, made, sources)
    print(f"{len(made)} photo(s) x {len(models)} method(s) in {folder} ({skips.summary()})")
    return store


def write_gallery(store: Store, folder: str, path: str, count: int = 6) -> int:
    """Draw the colorizations people picked as real most often (real | colorized); returns how many.

    Args:
        store: the test's database.
        folder: the test's folder (its images).
        path: the PNG to write.
        count: how many pairs at most.
    """
    import numpy as np
    from PIL import Image

    from keras_colorize.figures import image_grid
    from keras_colorize.humantest_stimuli import IMAGES

    def pixels(stimulus: int) -> np.ndarray:
        with Image.open(os.path.join(folder, IMAGES, store.image_of(stimulus))) as image:
            return np.asarray(image.convert("RGB"))

    rows = [
        [
            (pixels(item["real"]), os.path.basename(item["photo"])),
            (pixels(item["fake"]), f"{item['method']}: {item['fooled']} / {item['answers']}"),
        ]
        for item in store.most_fooling(count)
    ]
    if not rows:
        raise command.UsageError(f"--output={folder} holds no test answers yet; no gallery to draw")
    image_grid(rows, ["Real", "Colorized: fooled / answers"], path, cell=160)
    return len(rows)


def _web_server():
    """(werkzeug's make_server, `humantest_app.create_app`), or an ImportError naming the extra."""
    try:
        from werkzeug.serving import make_server

        from keras_colorize.humantest_app import create_app
    except ImportError as error:
        raise ImportError(f"{error}; the human test needs its extra: pip install -e '.[humantest]'") from None
    return make_server, create_app


def serve(folder: str, host: str, port: int) -> None:
    """Serve the test in `folder` on host:port until interrupted (threaded: many participants at once).

    Args:
        folder: the test's folder.
        host: the address to listen on.
        port: the port (0: any free port).
    """
    make_server, create_app = _web_server()
    try:
        server = make_server(host, port, create_app(folder), threaded=True)
    except OSError as error:
        raise command.UsageError(
            f"--host={host} --port={port}: cannot listen there ({error.strerror or error}); "
            "choose another --port"
        ) from None
    print(
        f"Serving the test on http://{host}:{server.server_port}/ (results: /results); Ctrl-C stops it",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@command.handles_errors
def main(argv: list[str]) -> int:
    """Make (or go on with) the test and serve it, or export its results; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    if FLAGS.export or FLAGS.gallery:
        from keras_colorize.checkpointing import atomic_write
        from keras_colorize.fooling import percent, results_csv

        store = open_test(FLAGS.output)
        summary = store.results()
        for rate, kept in zip(summary.everyone, summary.passed, strict=True):
            print(
                f"{rate.method}: fooling rate {percent(rate.rate, rate.standard_error)} "
                f"({rate.fooled} / {rate.trials}, {rate.participants} participant(s)); without failed sanity "
                f"{percent(kept.rate, kept.standard_error)} ({kept.participants} participant(s))"
            )
        if FLAGS.export:
            text = results_csv(summary)

            def write(temporary: str) -> None:
                with open(temporary, "w", encoding="utf-8", newline="") as file:
                    file.write(text)

            atomic_write(FLAGS.export, write)
            print(f"Results: {FLAGS.export}")
        if FLAGS.gallery:
            drawn = write_gallery(store, FLAGS.output, FLAGS.gallery)
            print(f"Gallery of {drawn} colorization(s): {FLAGS.gallery}")
        return command.EXIT_OK
    if not FLAGS.photos or not FLAGS.models:
        missing = "--photos" if not FLAGS.photos else "--models"
        raise command.UsageError(
            f"{missing} is required to make or serve a test (--export and --gallery need only --output)"
        )
    settings = _settings()
    if settings.sanity_trials >= settings.trials:
        raise command.UsageError(
            f"--trials={settings.trials} leaves no room for colorizations beside the sanity trials"
        )
    _web_server()  # a missing extra is said before any photo is colorized
    make_test(FLAGS.output, FLAGS.photos, FLAGS.models, settings, FLAGS.seed)
    serve(FLAGS.output, FLAGS.host, FLAGS.port)
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__)
