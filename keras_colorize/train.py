"""Train a colorization network: `python -m keras_colorize.train --flagfile=configs/<name>.cfg`.

The Python API is `kc.TrainConfig` + `kc.run_training(config)`
(`keras_colorize.train_config`, `keras_colorize.trainer`); this command only
turns flags into a `TrainConfig` (`keras_colorize.train_flags`). Defaults are the paper's (Zhang et al.
2016, Sec. 3 and the released Caffe solver): batch 40, Adam lr 3e-5 (beta1
0.9, beta2 0.99), weight decay 1e-3, lr drops at 200k and 375k steps,
450k steps. A run resumes from the newest checkpoint in --model_dir; see
`trainer.py` for the loop and docs/performance.md for speed.

A flagfile sets defaults and the flags after it override them. --train_data
and --val_data given on the command line replace the flagfile's (they do not
add to them), so any config trains on your photos:

    python -m keras_colorize.train --flagfile=configs/quickstart.cfg --train_data=my_photos/ \
        --val_data=my_photos/ --model_dir=runs/mine

Exit status: 0 trained, 1 the run failed (a non-finite loss: the message names
the step and the last good checkpoint), 2 usage error (one `error:` line).
"""

import sys

from absl import flags, logging

from keras_colorize import command
from keras_colorize.train_flags import config_from_flags, define_flags

# The CLI's own flag registry: other modules (e.g. keras_colorize.prior) define
# global absl flags with the same names, and importing this module must define
# nothing global.
CLI_FLAGS = flags.FlagValues()
DATA_FLAGS = ("train_data", "val_data")


def command_line_values(argv: list[str], names: tuple[str, ...] = DATA_FLAGS) -> dict[str, list[str]]:
    """The values of the repeatable flags `names` given on the command line itself (not in a flagfile).

    Args:
        argv: the program name and its arguments.
        names: flag names.
    """
    found: dict[str, list[str]] = {}
    args = argv[1:]
    for i, arg in enumerate(args):
        for name in names:
            if arg.startswith(f"--{name}="):
                found.setdefault(name, []).append(arg.split("=", 1)[1])
            elif arg == f"--{name}" and i + 1 < len(args):
                found.setdefault(name, []).append(args[i + 1])
    return found


@command.handles_errors
def main(argv: list[str]) -> int:
    """Train as the flags say; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    from keras_colorize.trainer import NonFiniteLossError, run_training

    try:
        run_training(config_from_flags(CLI_FLAGS))
    except NonFiniteLossError as error:
        print(f"error: {error}", file=sys.stderr)
        return command.EXIT_SOME_FAILED
    return command.EXIT_OK


def parse_flags(argv: list[str]) -> list[str]:
    """Parse into CLI_FLAGS (--flagfile included); exit with one `error:` line on bad flags.

    --train_data / --val_data on the command line replace the values a flagfile gave.

    Args:
        argv: the program name and its arguments.
    """
    if command.is_help(argv):
        print(command.help_text(__doc__, CLI_FLAGS))
        sys.exit(command.EXIT_OK)
    flags.FLAGS(argv[:1])  # absl's own flags keep their defaults
    logging.set_verbosity(logging.WARNING)  # TensorFlow's checkpoint INFO lines are noise here
    if "verbose" not in CLI_FLAGS:
        about = "Show TensorFlow's and the decoders' log lines."
        flags.DEFINE_bool("verbose", False, about, flag_values=CLI_FLAGS)
    rest = command.parse_or_exit(CLI_FLAGS, argv)
    for name, values in command_line_values(argv).items():
        CLI_FLAGS[name].value = values
    return rest


def cli(argv: list[str] | None = None) -> None:
    """`python -m keras_colorize.train` / `keras-colorize train`.

    Args:
        argv: the program name and its arguments (default: sys.argv).
    """
    argv = list(sys.argv if argv is None else argv)
    command.quiet_logs(command.wants_verbose(argv))
    if "train_data" not in CLI_FLAGS:
        define_flags(CLI_FLAGS)
    parse_flags(argv)
    sys.exit(main(argv[:1]))


if __name__ == "__main__":
    cli()
