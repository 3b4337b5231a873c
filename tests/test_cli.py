"""The command lines as a user meets them (issue 13): one tool, one-line errors, exit codes, re-runs.

Every command runs as a subprocess, as a user runs it; each check is the exit
status (0 done, 1 some inputs failed, 2 usage error), exactly one `error:`
line naming the problem and its fix, and no traceback.
"""

import csv
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from absl import flags
from fixtures.bad_inputs import generate
from fixtures.extras import needs
from fixtures.tiny import tiny_colorizer

from keras_colorize import train

ROOT = pathlib.Path(__file__).parent.parent
# No TF_CPP_MIN_LOG_LEVEL here: the commands must be quiet by themselves.
ENV = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}


def run(*args: str, module: str = "keras_colorize.cli", timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m <module> args...` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env=ENV,
    )


def one_error(result: subprocess.CompletedProcess, status: int, *words: str) -> str:
    """Check the exit status, a single `error:` line with `words`, and no traceback; returns the line."""
    output = result.stdout + result.stderr
    assert result.returncode == status, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def preset(tmp_path_factory) -> str:
    return str(tiny_colorizer("4block", seed=2).save_to_preset(tmp_path_factory.mktemp("cli") / "preset"))


def test_one_tool_lists_its_commands_and_helps_without_tensorflow():
    result = run("--help")
    assert (
        result.returncode == 0
        and "make-tfrecords" in result.stdout
        and "Exit status: 0 done" in result.stdout
    )
    code = (
        "import sys\n"
        "sys.argv[0] = 'keras-colorize'  # what the console script sets\n"
        "from keras_colorize import cli\n"
        "try:\n"
        "    cli.main(['keras-colorize', sys.argv[1], '--help'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    helps = {}
    for name in (
        "colorize",
        "export",
        "convert",
        "train",
        "prior",
        "evaluate",
        "study",
        "legacy",
        "make-tfrecords",
        "video",
    ):
        result = subprocess.run(
            [sys.executable, "-c", code, name], capture_output=True, text=True, cwd=ROOT, timeout=120, env=ENV
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.splitlines()[-1] == "False False", name  # --help imports no TensorFlow
        helps[name] = result.stdout
    assert "--[no]overwrite" in helps["colorize"] and "--torch_checkpoint" in helps["convert"]
    assert "--max_train_time_s" in helps["train"] and "--study_dir" in helps["study"]
    assert "--protocol" in helps["evaluate"] and "--num_shards" in helps["make-tfrecords"]
    assert "--export_dir" not in helps["colorize"]  # each command lists only its own flags
    assert "--temporal" in helps["video"] and "pfor" not in helps["video"]
    assert '"keras-colorize=keras_colorize.cli:main"' in (ROOT / "setup.py").read_text()
    one_error(run("colourise"), 2, "unknown command 'colourise'", "the commands are colorize")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--input=/no/such/photos"], ["--input=/no/such/photos: no such file or folder", "check the path"]),
        (["--input={empty}"], ["no photos in --input=", "searched recursively for .jpg", "point --input at"]),
        (
            ["--input={photos}", "--temperature=0"],
            ["--temperature must be > 0, got 0", "lower is more vivid"],
        ),
        ([], ["--input is required", "run with --help"]),
        (["--input={photos}", "--batch_size=0"], ["--batch_size=0: 0 is not a positive integer"]),
    ],
)
def test_colorize_usage_errors_are_one_line(args, words, tmp_path):
    (tmp_path / "empty").mkdir()
    args = [arg.format(empty=tmp_path / "empty", photos=ROOT / "tests/fixtures/photos") for arg in args]
    result = run("colorize", *args, f"--output={tmp_path / 'out'}")
    one_error(result, 2, *words)
    assert "Colorized" not in result.stdout  # a missing path is not counted as a photo


def test_a_missing_model_is_one_line(tmp_path):
    result = run("--model=runs/nope/model.keras", "--input=tests/fixtures/photos",
                 f"--output={tmp_path}", module="keras_colorize.colorize")  # fmt: skip
    one_error(result, 2, "--model: runs/nope/model.keras: no such preset", "check the path")
    # Quiet by default: no TensorFlow start-up lines, no cuInit error.
    assert result.stderr.strip().count("\n") == 0, result.stderr


def test_export_to_an_existing_version_is_one_line(preset, tmp_path):
    (tmp_path / "models" / "1").mkdir(parents=True)
    result = run("export", f"--model={preset}", f"--export_dir={tmp_path / 'models'}", "--version=1")
    one_error(result, 2, "models/1 already exists", "choose another --version")


def test_convert_refuses_a_photo_in_one_line(tmp_path):
    needs("torch", "convert")
    notes = tmp_path / "notes.jpg"
    shutil.copy(ROOT / "tests/fixtures/photos" / sorted(os.listdir(ROOT / "tests/fixtures/photos"))[0], notes)
    result = run("convert", f"--torch_checkpoint={notes}", f"--output={tmp_path / 'out'}")
    one_error(result, 2, "notes.jpg: not a readable PyTorch checkpoint", "pass the .pth file published at")


@pytest.mark.parametrize(
    ("module", "code", "words"),
    [
        ("apache_beam", "from keras_colorize import cli; cli.main(['kc', 'beam', '--input=a', '--output=b'])",
         'pip install -e ".[beam]" && pip install --no-deps apache-beam==2.77.0'),
        ("tensorflow_serving", "import runpy; runpy.run_path('serving/client.py', run_name='__main__')",
         'pip install -e ".[serving]"'),
        ("flask", "from keras_colorize import cli; cli.main(['kc', 'humantest', "
         "'--photos=tests/fixtures/photos', '--models=full_w05_cpu2h', '--output={tmp}'])",
         "pip install -e '.[humantest]'"),
    ],
)  # fmt: skip
def test_a_missing_extra_is_one_line_naming_it(module, code, words, tmp_path):
    blocked = f"import sys; sys.modules[{module!r}] = None; sys.argv = ['client']; {code}"
    command = [sys.executable, "-c", blocked.format(tmp=tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=ENV)
    one_error(result, 2, words)
    assert not result.stdout and not (tmp_path / "out").exists()  # said before any work


def test_train_usage_errors_are_one_line(tmp_path):
    one_error(run("train", "--bogus=1"), 2, "Unknown command line flag 'bogus'", "run with --help")
    result = run("--flagfile=configs/quickstart.cfg", "--train_data=/no/such/photos",
                 f"--model_dir={tmp_path}", module="keras_colorize.train")  # fmt: skip
    one_error(result, 2, "--train_data '/no/such/photos': no such folder")


def test_command_line_data_replace_the_flagfiles(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(train, "CLI_FLAGS", flags.FlagValues())
    train.define_flags(train.CLI_FLAGS)
    train.parse_flags(
        ["train", "--flagfile=configs/quickstart.cfg", "--train_data=mine", "--train_data=more"]
    )
    config = train.config_from_flags(train.CLI_FLAGS)
    assert config.train_data == ["mine", "more"]  # not the flagfile's tests/fixtures/photos as well
    assert config.val_data == ["tests/fixtures/photos"] and config.epochs == 20  # the rest stays the config's
    assert "photo files" in train.CLI_FLAGS["train_data"].help


def test_bad_files_are_named_truthfully_and_the_exit_status_is_1(preset, photo_paths, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(photo_paths[0], photos / "good.jpg")
    data = photo_paths[1].read_bytes()
    (photos / "cut.jpg").write_bytes(data[: len(data) // 3])  # two thirds of its bytes missing
    (photos / "stub.jpg").write_bytes(data[:300])  # it ends inside the JPEG's header
    (photos / "bomb.png").write_bytes(generate.fake_png(60000, 60000, complete=True))
    result = run("colorize", f"--model={preset}", f"--input={photos}", f"--output={tmp_path / 'out'}")
    one_error(result, 1, "3 input(s) could not be colorized", "fix or remove them and run again")
    assert "1 colorized, 0 already done, 3 skipped; outputs in" in result.stdout
    assert "cut.jpg: corrupt or truncated image (truncated JPEG: the file ends before" in result.stdout
    assert "stub.jpg: corrupt or truncated image (truncated JPEG: " in result.stdout
    assert "its image data does, only 300 bytes)" in result.stdout
    assert (
        "bomb.png: too large, 60000x60000 = 3600.0 megapixels (the limit is 50 megapixels)" in result.stdout
    )
    assert "decompression bomb" not in result.stdout + result.stderr


def test_renames_are_recorded_and_reruns_skip_what_is_done(preset, photo_paths, tmp_path):
    photos, output = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    shutil.copy(photo_paths[0], photos / "coffee.jpg")
    shutil.copy(photo_paths[1], photos / "coffee.png")
    first = run("colorize", f"--model={preset}", f"--input={photos}", f"--output={output}")
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr[-3000:]
    assert (
        f"{photos / 'coffee.png'} -> {output / 'coffee-1.png'} (another input has the same name)"
        in first.stdout
    )
    with open(output / "manifest.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(pathlib.Path(r["input"]).name, pathlib.Path(r["output"]).name, r["status"]) for r in rows] == [
        ("coffee.jpg", "coffee.png", "colorized"),
        ("coffee.png", "coffee-1.png", "colorized"),
    ]
    stamp = (output / "coffee.png").stat().st_mtime_ns
    again = run("colorize", f"--model={preset}", f"--input={photos}", f"--output={output}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 colorized, 2 already done, 0 skipped" in again.stdout
    assert "--overwrite redoes the 2 already done" in again.stdout
    assert (output / "coffee.png").stat().st_mtime_ns == stamp
    assert "already done" in (output / "manifest.csv").read_text()
    redo = run("colorize", f"--model={preset}", f"--input={photos}", f"--output={output}", "--overwrite")
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert "2 colorized, 0 already done, 0 skipped" in redo.stdout
    assert (output / "coffee.png").stat().st_mtime_ns != stamp


def test_the_convention_covers_every_style_of_failure(capsys):
    from keras_colorize import command

    def failing(error: BaseException):
        def main(argv: list[str]) -> int:
            raise error

        return command.handles_errors(main)

    for error, words in (
        (ValueError("bad value; fix it"), "error: bad value; fix it"),
        (command.UsageError("multi\nline  text"), "error: multi line text"),
        (SystemExit("--model is required"), "error: --model is required"),  # evaluate / study style
        (FileNotFoundError("x.jpg: no such file"), "error: x.jpg: no such file"),
    ):
        assert failing(error)([]) == 2
        assert capsys.readouterr().err == words + "\n"
    with pytest.raises(SystemExit):
        failing(SystemExit(1))([])  # an exit status passes through
    assert command.handles_errors(lambda argv: None)([]) == 0
    assert command.is_noise(
        "E0000 00:00:1796220306.559864   26548 cuda_platform.cc:52] failed call to cuInit: x"
    )
    assert command.is_noise("Premature end of JPEG data\n") and not command.is_noise("error: something\n")
    assert not command.is_noise("W1202 14:40:00.123456 140234 skipping.py:41] Skipping photo: a.jpg")
    # Apache Beam's notes, from the command and from its worker processes; its errors are kept.
    assert command.is_noise("WARNING:root:apitools not found, and bigquery client libraries are not")
    assert command.is_noise("INFO:apache_beam.runners.worker.sdk_worker:Control channel established.")
    assert not command.is_noise("ERROR:apache_beam.runners.worker.sdk_worker:Error processing instruction")


def test_flag_choices_match_what_implements_them():
    """choices.py (importable without TensorFlow, for --help) agrees with the modules behind it."""
    from keras_colorize import choices
    from keras_colorize.model import PRETRAINED_VARIANTS, VARIANTS
    from keras_colorize.precision import PRECISIONS

    assert (*VARIANTS, *PRETRAINED_VARIANTS) == choices.VARIANT_NAMES
    assert tuple(PRECISIONS) == choices.TRAIN_PRECISIONS


@pytest.mark.parametrize(
    "command, flags",
    [
        ("evaluate", ["--model=full_w05_cpu2h", "--data_dir=tests/fixtures/photos"]),
        ("legacy", ["--model=full_w05_cpu2h", "--data_dir=tests/fixtures/photos"]),
    ],
)
def test_a_bad_temperature_is_one_line_before_any_work(command, flags, tmp_path):
    output = tmp_path / "out"
    result = run(command, *flags, f"--output={output}", "--temperature=-1")
    one_error(result, 2, "--temperature must be > 0, got -1", "lower is more vivid")
    assert not output.exists()


def test_readme_lists_every_command():
    """The README's command table and its command-line paragraph name every command `--help` shows."""
    from keras_colorize.cli import COMMANDS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("| to | run | see |", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`keras-colorize ([a-z-]+) ", table)) == set(COMMANDS)
    paragraph = readme.split("`keras-colorize <command>` runs one of", 1)[1].split(";", 1)[0]
    assert set(re.findall(r"`([a-z-]+)`", paragraph)) == set(COMMANDS)
