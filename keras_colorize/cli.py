"""`keras-colorize`: one command-line tool with a subcommand per job.

    keras-colorize colorize --input=old_photos/ --output=colorized/
    keras-colorize train --flagfile=configs/quickstart.cfg
    keras-colorize <command> --help          # that command's flags only

Each subcommand is the module `python -m keras_colorize.<module>` runs, with
the same flags. Exit status: 0 done, 1 some inputs failed (listed), 2 usage
error (one `error:` line naming the problem and its fix); see
`keras_colorize.command`. Installed by setup.py's console_scripts entry point.
"""

import importlib
import sys

from keras_colorize import command
from keras_colorize.command import EXIT_CODES_HELP, EXIT_USAGE, fail

# subcommand -> (module, one-line description)
COMMANDS = {
    "colorize": ("keras_colorize.colorize", "colorize photo files and folders"),
    "beam": ("keras_colorize.beam_colorize", "colorize an archive on Apache Beam (local, Dataflow, Flink)"),
    "video": ("keras_colorize.colorize_video", "colorize a film (video in, video out, audio kept)"),
    "train": ("keras_colorize.train", "train (or resume) a network; --flagfile=configs/<name>.cfg"),
    "evaluate": ("keras_colorize.evaluate", "the paper's metrics, a report and figures"),
    "export": ("keras_colorize.export", "a SavedModel for TensorFlow Serving (or ONNX / OpenVINO)"),
    "convert": ("keras_colorize.convert", "the authors' published PyTorch weights -> a preset"),
    "study": ("keras_colorize.study", "train and evaluate every variant on the same data"),
    "prior": ("keras_colorize.prior", "the ab prior of a photo collection"),
    "make-tfrecords": ("keras_colorize.data.make_tfrecords", "pack photo folders into TFRecord shards"),
    "data-service": ("keras_colorize.data.service", "tf.data service workers for train --data_service"),
    "legacy": ("keras_colorize.colorize_legacy", "a before/after gallery of black-and-white photos"),
    "humantest": ("keras_colorize.humantest", "the paper's real-vs-fake human test as a local web page"),
}


def usage() -> str:
    """The tool's --help: its subcommands and the exit codes."""
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {about}" for name, (_, about) in COMMANDS.items()]
    return (
        "usage: keras-colorize <command> [--flags]   (keras-colorize <command> --help: its flags)\n\n"
        "Colorful Image Colorization (Zhang, Isola & Efros, ECCV 2016) in Keras 3.\n\n"
        "commands:\n" + "\n".join(lines) + f"\n\n{EXIT_CODES_HELP}"
    )


def main(argv: list[str] | None = None) -> None:
    """Run `keras-colorize <command> ...`: the command's module with argv shifted by one.

    Args:
        argv: the program name and its arguments (default: sys.argv).
    """
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        sys.exit(0 if len(argv) >= 2 else EXIT_USAGE)
    name = argv[1]
    if name not in COMMANDS:
        sys.exit(fail(f"unknown command {name!r}; the commands are {', '.join(COMMANDS)}"))
    rest = [f"keras-colorize {name}", *argv[2:]]
    if not command.is_help(rest):
        command.quiet_logs(command.wants_verbose(rest))  # before the module imports TensorFlow
    module = importlib.import_module(COMMANDS[name][0])
    if hasattr(module, "cli"):  # a command with its own flag registry (train)
        module.cli(rest)
    else:
        doc = module.__doc__ or COMMANDS[name][1]
        command.run(module.main, module.define_flags, doc, getattr(module, "REQUIRED", ()), rest)


if __name__ == "__main__":
    main()
