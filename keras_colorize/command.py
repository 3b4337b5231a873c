"""What every command line shares: one error convention, exit codes, quiet logs and fast --help.

Exit status of every command (`keras-colorize <command>` and
`python -m keras_colorize.<module>`):

    0  done
    1  some inputs failed (each is listed with its reason; the rest were done)
    2  usage error: a bad flag, a missing file, a model that cannot be used

A problem the user can fix prints one line on stderr, `error: <the problem>;
<the fix>`, and no traceback. A traceback means a bug in keras-colorize.

Logs are quiet by default: TensorFlow's C++ start-up lines (oneDNN, CUDA
drivers, `failed call to cuInit` on a machine without a GPU), absl INFO
lines, libjpeg's "Premature end of JPEG data" and similar decoder warnings
are dropped (our own reports name the skipped files), and so are NNCF's INFO
lines, the ONNX export's `np.object` FutureWarning and Beam's WARNING:root
lines. `--verbose` shows them.

This module imports neither TensorFlow nor Keras.
"""

import atexit
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Sequence

from absl import app, flags

from keras_colorize.choices import INFERENCE_PRECISIONS, RUNTIMES

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2

# C++ log lines that TensorFlow / XLA write before absl::InitializeLog ("I0000 00:00:1796220293.75
# 26548 port.cc:153] ...": no date; Python's absl lines carry one and are kept), TF Lite's delegate
# line, and the decoder warnings libjpeg prints on its own. Error-level C++ lines are kept unless
# known noise. Apache Beam's INFO and WARNING lines ("WARNING:root:apitools not found ...", its
# worker processes' harness notes: they write to the same file descriptor) go too.
_NOISE = re.compile(
    r"^(?:[IW]0000 00:00:[\d.]+\s+\d+ \S+:\d+\]"
    r"|E0000 00:00:[\d.]+\s+\d+ \S+:\d+\] failed call to cuInit"
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: "
    r"|Premature end of JPEG data|Corrupt JPEG data: |Warning: unknown JFIF revision"
    r"|libpng warning: "
    r"|(?:INFO|WARNING):(?:root|__main__|apache_beam[\w.]*):)"
)


class UsageError(Exception):
    """A problem the user can fix: printed as one `error:` line, exit status 2."""


def is_noise(line: str) -> bool:
    """True for a log line that the quiet default drops."""
    return bool(_NOISE.match(line))


def _filter_stderr() -> None:
    """Route file descriptor 2 through a thread that drops noise lines (C++ writes there directly)."""
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as source:
            for raw in source:
                if not is_noise(raw.decode("utf-8", "replace")):
                    os.write(real, raw)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes the pipe's last write end: the pump sees EOF and drains
        thread.join(timeout=5)

    atexit.register(restore)


_QUIET = False


def wants_verbose(argv: Sequence[str]) -> bool:
    """--verbose among the arguments (read before the flags are parsed: logs start at import)."""
    return any(arg in ("--verbose", "--verbose=true", "--verbose=True", "--verbose=1") for arg in argv)


def quiet_logs(verbose: bool = False) -> None:
    """Quiet TensorFlow, absl and decoder logs (before TensorFlow is imported), unless `verbose`."""
    global _QUIET
    if verbose or _QUIET:
        return
    _QUIET = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # e.g. export's "renamed resource inputs" INFO lines
    # Keras' ONNX export asks NumPy for np.object (its tf2onnx patch), which warns on every export.
    warnings.filterwarnings("ignore", r"In the future `np\.object` will be defined", FutureWarning)
    if os.environ.get("KERAS_COLORIZE_UNFILTERED_STDERR") != "1":
        _filter_stderr()


def is_quiet() -> bool:
    """True once `quiet_logs` quieted this process (a command without --verbose)."""
    return _QUIET


def fail(message: str) -> int:
    """Print `error: message` on stderr (one line) and return EXIT_USAGE."""
    text = " ".join(str(message).split())
    print(f"error: {text.removeprefix('error: ').removeprefix('Error: ')}", file=sys.stderr)
    return EXIT_USAGE


# What a user can fix: their files, their flags, a missing extra (MissingRuntimeError is an ImportError).
EXPECTED_ERRORS = (
    UsageError,
    app.UsageError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    ValueError,
    ImportError,
)


def handles_errors(main: Callable[[list[str]], int | None]) -> Callable[[list[str]], int]:
    """Wrap a command's main: expected errors become one `error:` line and exit status 2.

    Args:
        main: the command's main(argv), returning an exit status (None: 0).
    """

    def wrapped(argv: list[str]) -> int:
        try:
            return main(argv) or EXIT_OK
        except EXPECTED_ERRORS as error:
            return fail(str(error) or type(error).__name__)
        except SystemExit as done:  # sys.exit("message"): a usage error in the older commands' style
            if isinstance(done.code, str):
                return fail(done.code)
            raise

    wrapped.__doc__, wrapped.__name__ = main.__doc__, main.__name__
    return wrapped


def load_model(model: str | None, *args, flag: str = "model", **kwargs):
    """`Colorizer.from_preset(model, ...)` for a --model flag: a bad model is a UsageError naming the flag.

    Args:
        model: the flag's value (None: the bundled default preset).
        *args: passed on to `Colorizer.from_preset` (runtime, precision, calibration data).
        flag: the flag's name in the error (e.g. "models" for humantest's list).
        **kwargs: passed on to `Colorizer.from_preset` (settings such as temperature).
    """
    from keras_colorize.colorizer import Colorizer
    from keras_colorize.runtimes import MissingRuntimeError

    if model is not None and os.path.isfile(os.path.join(model, "saved_model.pb")):
        raise UsageError(
            f"--{flag}={model} is an exported SavedModel (for TensorFlow Serving: serving/client.py); pass "
            "the preset folder or .keras file it was exported from (evaluate also takes the SavedModel)"
        )
    try:
        return Colorizer.from_preset(model, *args, **kwargs)
    except MissingRuntimeError:
        raise
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(f"--{flag}: {error}") from None


def count(n: int, one: str, many: str | None = None) -> str:
    """`n` and the noun in the number it takes.

    Example:

    >>> count(1, "gallery", "galleries"), count(3, "photo")
    ('1 gallery', '3 photos')
    """
    return f"{n} {one if n == 1 else many or one + 's'}"


def model_name(model: str | None) -> str:
    """What a --model flag names, for the log: its value, or "<the bundled default preset> (default)"."""
    from keras_colorize.presets import DEFAULT_PRESET

    return model if model is not None else f"{DEFAULT_PRESET} (default)"


def load_model_on_runtime(
    model: str | None,
    runtime: str | None,
    precision: str | None,
    calibration_data: Sequence[str] | None = None,
):
    """The --model Colorizer on the --runtime / --precision chosen (`runtimes.choose`); prints the choice.

    Args:
        model: the --model flag (None: the bundled default preset).
        runtime: the --runtime flag (auto: the fastest installed; None, not given: `runtimes.choose`).
        precision: the --precision flag (auto: bfloat16 on native CPUs; None, not given: auto).
        calibration_data: the --calibration_data flag (int8 without an int8 network file).

    Example:

    >>> import keras_colorize as kc
    >>> folder = kc.Colorizer(kc.build_model("4block", width=0.125)).save_to_preset("tiny_preset")
    >>> load_model_on_runtime(folder, "tensorflow", "float32").work_size
    Network: tensorflow float32 (tensorflow as asked; float32: as asked)
    256
    """
    from keras_colorize.runtimes import choose

    choice = choose(runtime, precision)
    colorizer = load_model(model, choice.runtime, choice.precision, calibration_data)
    print(f"Network: {choice.runtime} {choice.precision} ({choice.why})")
    return colorizer


def define_runtime_flags() -> None:
    """--runtime, --precision and --calibration_data: what runs the network (colorize, video)."""
    flags.DEFINE_enum(
        "runtime",
        None,
        RUNTIMES,
        "What runs the network (auto: the fastest installed; default: tensorflow, or with "
        "--precision=int8 the fastest installed int8 runtime, OpenVINO then ONNX Runtime).",
    )
    flags.DEFINE_enum(
        "precision",
        None,
        INFERENCE_PRECISIONS,
        "The network's precision (default auto: bfloat16 on CPUs with AVX512_BF16 or AMX, else float32; "
        "float32: exactly the pixels of the Python API and the SavedModel).",
    )
    flags.DEFINE_multi_string(
        "calibration_data",
        None,
        "Photo files or folders to quantise with (int8, when the model has no int8 file).",
    )


def check_temperature_flag(temperature: float | None) -> None:
    """--temperature: None (the model's own) or > 0; anything else is a UsageError saying what to give.

    Args:
        temperature: the flag's value.
    """
    if temperature is not None and temperature <= 0:
        raise UsageError(
            f"--temperature must be > 0, got {temperature:g}; lower is more vivid, the default is 0.38"
        )


def is_help(argv: Sequence[str]) -> bool:
    return bool({"--help", "-h", "--helpshort", "--helpfull", "-?"} & set(argv[1:]))


def parse_or_exit(flag_values: flags.FlagValues, argv: list[str], required: Sequence[str] = ()) -> list[str]:
    """Parse argv into flag_values; a bad or missing flag is one `error:` line and exit status 2.

    Args:
        flag_values: the command's flags (absl's own flags are parsed too when it is flags.FLAGS).
        argv: the program name and its arguments.
        required: flags that must be given.
    """
    try:
        rest = flag_values(argv)
    except flags.Error as error:
        sys.exit(fail(f"{error}; run with --help for the flags"))
    for name in required:
        if flag_values[name].value is None:
            about = flag_values[name].help.split(";")[0].rstrip(".")
            sys.exit(fail(f"--{name} is required ({about}); run with --help for the flags"))
    if len(rest) > 1:
        sys.exit(fail(f"unexpected arguments {' '.join(rest[1:])}; flags are written --name=value"))
    return rest


def run(
    main: Callable[[list[str]], int],
    define_flags: Callable[[], None],
    doc: str,
    required: Sequence[str] = (),
    argv: list[str] | None = None,
) -> None:
    """The entry point of a command: --help, --verbose, flags, errors and exit status.

    Args:
        main: the command's main(argv) -> exit status (wrapped with `handles_errors`).
        define_flags: defines the command's flags on flags.FLAGS.
        doc: what --help prints above the flags (the module's docstring).
        required: flags that must be given.
        argv: the program name and its arguments (default: sys.argv).
    """
    argv = list(sys.argv if argv is None else argv)
    define_flags()
    if "verbose" not in flags.FLAGS:
        flags.DEFINE_bool("verbose", False, "Show TensorFlow's and the decoders' log lines.")
    if is_help(argv):
        print(help_text(doc, flags.FLAGS))
        sys.exit(EXIT_OK)
    quiet_logs(wants_verbose(argv))
    parse_or_exit(flags.FLAGS, argv, required)
    sys.exit(handles_errors(main)(argv[:1]))


def help_text(doc: str, flag_values: flags.FlagValues) -> str:
    """The command's docstring, its own flags (not absl's) and the exit codes.

    Args:
        doc: the command's description.
        flag_values: where its flags are defined.
    """
    modules = [name for name in flag_values.flags_by_module_dict() if not name.startswith("absl")]
    listed = "\n".join(flag_values.module_help(name) for name in modules)
    return f"{doc.strip()}\n\nFlags:\n{listed}\n\n{EXIT_CODES_HELP}"


EXIT_CODES_HELP = "Exit status: 0 done, 1 some inputs failed (listed), 2 usage error (one 'error:' line)."
