"""keras_colorize.beam_colorize on Beam's local runner (2 processes): CLI-identical outputs, dead letters,
reruns that write nothing, and a run killed partway then resumed."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from fixtures.bad_inputs import generate
from fixtures.extras import needs
from fixtures.tiny import tiny_colorizer
from PIL import Image

needs("apache_beam", "beam")
pytestmark = pytest.mark.slow

BEAM = [sys.executable, "-m", "keras_colorize.beam_colorize", "--precision=float32"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return str(tiny_colorizer("4block", seed=2).save_to_preset(tmp_path_factory.mktemp("model") / "preset"))


@pytest.fixture(scope="module")
def archive(photo_paths, tmp_path_factory):
    """The fixture photos plus the refused bad files; returns (folder, {bad name: words of its reason})."""
    folder = tmp_path_factory.mktemp("archive")
    for path in photo_paths:
        (folder / path.name).write_bytes(path.read_bytes())
    bad = {}
    for name, (data, words) in generate.invalid(photo_paths[0].read_bytes(), huge=False).items():
        (folder / name).write_bytes(data)
        bad[name] = words
    (folder / "huge.png").write_bytes(generate.fake_png(20000, 20000, complete=True))
    bad["huge.png"] = "too large"
    return folder, bad


def _beam(model_path, folder, output, *extra) -> subprocess.CompletedProcess:
    args = [*BEAM, f"--model={model_path}", f"--input={folder}/*", f"--output={output}", *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=600)


def _outputs(output) -> dict[str, float]:
    return {name: os.stat(output / name).st_mtime_ns for name in os.listdir(output) if name.endswith(".png")}


def test_pipeline_equals_the_cli_lists_dead_letters_and_reruns_write_nothing(model_path, archive, tmp_path):
    folder, bad = archive
    good = sorted(name for name in os.listdir(folder) if name not in bad)
    cli = subprocess.run(
        [sys.executable, "-m", "keras_colorize.colorize", "--precision=float32", f"--model={model_path}"]
        + [f"--input={folder / name}" for name in good]
        + [f"--output={tmp_path / 'cli'}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert cli.returncode == 0, cli.stderr
    run = _beam(model_path, folder, tmp_path / "beam")
    assert run.returncode == 1, run.stderr  # the bad files are dead letters
    written = _outputs(tmp_path / "beam")
    assert sorted(written) == sorted(os.path.splitext(name)[0] + ".png" for name in good)
    assert not [name for name in os.listdir(tmp_path / "beam") if name.startswith(".tmp")]
    for name in written:
        ours = np.asarray(Image.open(tmp_path / "beam" / name))
        # The same layers, batched differently: TensorFlow's CPU kernels may sum in another order, which
        # moves a value within float rounding of a .5 boundary by 1 level (seen on an AVX2-only CPU for
        # one of the photos; test_one_path.py allows the same).
        difference = np.abs(ours.astype(int) - np.asarray(Image.open(tmp_path / "cli" / name)).astype(int))
        assert difference.max() <= 1 and np.mean(difference > 0) <= 0.005, (name, difference.max())
    lines = (tmp_path / "beam" / "dead_letter.jsonl").read_text().splitlines()
    records = {os.path.basename(r["path"]): r["reason"] for r in map(json.loads, lines)}
    assert sorted(records) == sorted(bad)
    for name, words in bad.items():
        assert words in records[name], (name, records[name])
        assert name in run.stdout
    assert f"Colorized {len(good)} photo(s)" in run.stdout
    assert "WARNING:root" not in run.stderr, run.stderr[-3000:]  # quiet without --verbose

    again = _beam(model_path, folder, tmp_path / "beam")
    assert f"Colorized 0 photo(s) into {tmp_path / 'beam'}; {len(good)} already done" in again.stdout
    assert _outputs(tmp_path / "beam") == written


def test_a_killed_run_resumes_with_nothing_missing_or_twice(model_path, archive, tmp_path):
    source, bad = archive
    folder = tmp_path / "archive"  # 4 copies of each photo, so that the kill lands partway through
    folder.mkdir()
    for name in os.listdir(source):
        for copy in range(4 if name not in bad else 1):
            (folder / f"{copy}_{name}").write_bytes((source / name).read_bytes())
    bad = {f"0_{name}": words for name, words in bad.items()}
    good = sorted(os.path.splitext(name)[0] + ".png" for name in os.listdir(folder) if name not in bad)
    output = tmp_path / "out"
    args = [*BEAM, f"--model={model_path}", f"--input={folder}/*", f"--output={output}", "--batch_size=1"]
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (output.is_dir() and _outputs(output)):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the runner and its worker processes
    process.wait()
    first = _outputs(output)
    assert 0 < len(first) < len(good), "the run must be killed partway through"
    run = _beam(model_path, folder, output)
    assert run.returncode == 1, run.stderr
    assert f"{len(first)} already done" in run.stdout
    left = sorted(os.listdir(output))
    assert [name for name in left if name.endswith(".png")] == good
    assert not [name for name in left if name.startswith(".tmp")]
    assert {name: _outputs(output)[name] for name in first} == first  # the finished ones were left alone
