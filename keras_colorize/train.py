"""Train a colorization network: `python -m keras_colorize.train --flagfile=configs/<name>.cfg`.

The Python API is `TrainConfig` + `run_training(config)`; the CLI only
turns flags into a `TrainConfig`. Defaults are the paper's (Zhang et al.
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

import dataclasses
import sys

from absl import flags, logging

from keras_colorize import command
from keras_colorize.distribute import STRATEGIES
from keras_colorize.model import VARIANTS
from keras_colorize.precision import PRECISIONS
from keras_colorize.train_config import LOSSES, TrainConfig, validate
from keras_colorize.trainer import NonFiniteLossError, Trainer

__all__ = ["LOSSES", "TrainConfig", "config_from_flags", "define_flags", "run_training", "validate"]


def run_training(config: TrainConfig) -> dict:
    """Train (or resume) as configured; returns model_path, steps, epochs,
    wall_time_s, train_loss (mean of the last epoch), val_loss and model_dir.

    Re-entrant: it reads no global flags and clears the Keras session, so one
    process can train several models in turn.
    """
    validate(config)
    return Trainer(config).run()


# The CLI's own flag registry: other modules (e.g. keras_colorize.prior) define
# global absl flags with the same names, and importing this module for
# `run_training` must define nothing global.
CLI_FLAGS = flags.FlagValues()


def define_flags(flag_values: flags.FlagValues) -> None:
    """The CLI flags, one per `TrainConfig` field."""
    d = TrainConfig()
    fv = {"flag_values": flag_values}
    data = "folders (recursive), photo files or TFRecord patterns; repeatable; on the command line they "
    data += "replace a flagfile's"
    flags.DEFINE_multi_string("train_data", [], f"Training photos: {data}.", **fv)
    flags.DEFINE_multi_string("val_data", [], f"Validation photos: {data}.", **fv)
    flags.DEFINE_string("model_dir", None, "Checkpoints, logs and the final model go here.", **fv)
    flags.DEFINE_integer("image_size", d.image_size, "Square training crop size (multiple of 8).", **fv)
    flags.DEFINE_integer("batch_size", d.batch_size, "Global batch size (all replicas).", **fv)
    flags.DEFINE_integer("epochs", 0, "Number of epochs (0: until --max_steps).", **fv)
    flags.DEFINE_integer("steps_per_epoch", 0, "Cap on steps per epoch (0: a full pass).", **fv)
    flags.DEFINE_integer("max_steps", d.max_steps, "Total training steps (0: --epochs bounds).", **fv)
    flags.DEFINE_float("max_train_time_s", 0, "Stop after this much training wall time (0: no limit).", **fv)
    flags.DEFINE_enum("variant", d.variant, list(VARIANTS), "Network variant.", **fv)
    flags.DEFINE_float("width", d.width, "Channel multiplier (1.0 = the paper's).", **fv)
    flags.DEFINE_enum("loss", d.loss, list(LOSSES), "rebalanced / plain cross-entropy, or l2.", **fv)
    flags.DEFINE_string("prior", d.prior, "Smoothed ab prior (.npy); computed if absent.", **fv)
    flags.DEFINE_integer("prior_max_images", None, "Photos used to compute the prior (None: all).", **fv)
    flags.DEFINE_float("rebalance_lambda", d.rebalance_lambda, "Prior/uniform mixing lambda.", **fv)
    flags.DEFINE_float("learning_rate", d.learning_rate, "Adam learning rate.", **fv)
    flags.DEFINE_float("beta_1", d.beta_1, "Adam beta1.", **fv)
    flags.DEFINE_float("beta_2", d.beta_2, "Adam beta2.", **fv)
    flags.DEFINE_float("weight_decay", d.weight_decay, "L2 weight decay on kernels (Caffe-style).", **fv)
    flags.DEFINE_list("lr_decay_steps", [str(s) for s in d.lr_decay_steps], "Steps where lr drops.", **fv)
    flags.DEFINE_float("lr_decay_factor", d.lr_decay_factor, "lr multiplier at each drop.", **fv)
    flags.DEFINE_integer("seed", d.seed, "Seed of weights, data order and crops.", **fv)
    flags.DEFINE_boolean("skip_grayscale", d.skip_grayscale, "Drop photos without colour.", **fv)
    flags.DEFINE_integer("checkpoint_every_steps", d.checkpoint_every_steps, "Checkpoint period.", **fv)
    flags.DEFINE_integer("keep_checkpoints", d.keep_checkpoints, "Checkpoints kept.", **fv)
    flags.DEFINE_integer("log_every_steps", d.log_every_steps, "Logging period (steps).", **fv)
    flags.DEFINE_integer("val_images", d.val_images, "Validation photos shown in TensorBoard.", **fv)
    flags.DEFINE_enum("strategy", d.strategy, list(STRATEGIES), "Distribution strategy.", **fv)
    flags.DEFINE_enum(
        "mixed_precision",
        d.mixed_precision,
        list(PRECISIONS),
        "Compute dtype (auto: bfloat16 on CPUs with AVX512_BF16/AMX, else float32).",
        **fv,
    )
    flags.DEFINE_boolean("jit", d.jit, "XLA-compile the forward/backward computation.", **fv)
    flags.DEFINE_boolean("progress", d.progress, "Show a progress bar.", **fv)
    flags.DEFINE_integer("inject_nan_at_step", None, "TESTING ONLY: make this step's loss NaN.", **fv)


def config_from_flags(flag_values: flags.FlagValues) -> TrainConfig:
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(TrainConfig)}
    values["lr_decay_steps"] = tuple(int(s) for s in values["lr_decay_steps"])
    values["model_dir"] = values["model_dir"] or ""
    for name in ("epochs", "steps_per_epoch", "max_steps", "max_train_time_s"):
        values[name] = values[name] or None  # 0 on the command line means "no limit"
    return TrainConfig(**values)


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
