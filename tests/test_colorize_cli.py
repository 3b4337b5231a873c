"""python -m keras_colorize.colorize: folders, layout, safety, skipped files, exit status."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from absl import flags
from fixtures.bad_inputs import generate
from fixtures.tiny import tiny_colorizer
from PIL import Image

from keras_colorize import colorize, presets
from keras_colorize.colorizer import Colorizer
from keras_colorize.photo_files import plan_outputs


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A preset folder."""
    return str(tiny_colorizer("4block", seed=2).save_to_preset(tmp_path_factory.mktemp("model") / "preset"))


def _run_in_process(*args: str) -> int:
    """main() with these flags, as `python -m keras_colorize.colorize` would run it."""
    if "side_by_side" not in flags.FLAGS:
        colorize.define_flags()
    flags.FLAGS(["colorize", *args])
    try:
        return colorize.main([])
    finally:
        flags.FLAGS.unparse_flags()


def test_plan_keeps_layout_resolves_clashes_and_reports_missing(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for name in ("in/a.jpg", "in/a.png", "in/sub/b.jpg", "single.jpg", "in/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    pairs, missing = plan_outputs(
        [str(tmp_path / "in"), str(tmp_path / "single.jpg"), str(tmp_path / "nope")], str(tmp_path / "out")
    )
    targets = {os.path.relpath(src, tmp_path): os.path.relpath(dst, tmp_path / "out") for src, dst in pairs}
    assert targets == {
        "in/a.jpg": "a.png",
        "in/a.png": "a-1.png",
        "in/sub/b.jpg": "sub/b.png",
        "single.jpg": "single.png",
    }
    assert missing == [str(tmp_path / "nope")]


def test_refuses_an_output_that_would_overwrite_an_input(model_path, photo_paths, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.open(photo_paths[0]).save(folder / "keep.png")
    before = (folder / "keep.png").read_bytes()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Image.open(photo_paths[0]).save(elsewhere / "keep.png")
    assert _run_in_process(f"--model={model_path}", f"--input={folder}", f"--input={elsewhere / 'keep.png'}",
                           f"--output={elsewhere}") == 2  # fmt: skip
    assert "would overwrite 1 input file(s)" in capsys.readouterr().err
    assert (folder / "keep.png").read_bytes() == before and sorted(os.listdir(folder)) == ["keep.png"]


@pytest.mark.parametrize("output", [".", "sub/colorized"])
def test_refuses_an_output_folder_among_the_inputs(model_path, photo_paths, tmp_path, capsys, output):
    """The PNGs would land among the inputs, and the next run would read them as photos."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(photo_paths[0], folder / "a.jpg")
    assert _run_in_process("--model=/no/such/model", f"--input={folder}", f"--output={folder / output}") == 2
    err = capsys.readouterr().err.strip()
    where = "is" if output == "." else "is inside"
    assert err.count("\n") == 0 and f"{where} --input={folder}: the next run would read its PNGs" in err, err
    assert sorted(os.listdir(folder)) == ["a.jpg", "sub"] and not os.listdir(folder / "sub")


def test_a_bad_model_is_refused_before_any_output_is_planned(photo_paths, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(photo_paths[0], folder / "coffee.jpg")
    shutil.copy(photo_paths[1], folder / "coffee.png")  # a rename to print, were the outputs planned
    assert _run_in_process("--model=/no/such/model", f"--input={folder}", f"--output={tmp_path / 'out'}") == 2
    captured = capsys.readouterr()
    assert not captured.out and captured.err.startswith("error: --model: /no/such/model: no such preset")
    assert not (tmp_path / "out").exists()


def test_nothing_done_exits_non_zero(model_path, photo_paths, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, (data, _) in generate.invalid(photo_paths[0].read_bytes(), huge=False).items():
        (bad / name).write_bytes(data)
    assert _run_in_process(f"--model={model_path}", f"--input={bad}", f"--output={tmp_path / 'out'}") == 1
    out = capsys.readouterr().out
    assert "0 colorized, 0 already done, 3 skipped" in out and "Skipped 3" in out


def test_max_pixels_reaches_the_colorizer(model_path, tmp_path, capsys):
    """A 60.8-megapixel photo: skipped at the default 50 MP limit, colorized with --max_pixels=70000000."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (7800, 7800), 128).save(folder / "big.png")  # flat: cheap to write, read and encode
    common = (f"--model={model_path}", f"--input={folder}", "--precision=float32")
    assert _run_in_process(*common, f"--output={tmp_path / 'default'}") == 1
    assert "too large, 7800x7800 = 60.8 megapixels (the limit is 50 megapixels)" in capsys.readouterr().out
    assert _run_in_process(*common, f"--output={tmp_path / 'out'}", "--max_pixels=70000000") == 0
    with Image.open(tmp_path / "out" / "big.png") as written:
        assert written.size == (7800, 7800)


def test_side_by_side_puts_the_input_first(model_path, photo_paths, tmp_path):
    code = _run_in_process(
        f"--model={model_path}", f"--input={photo_paths[0]}", f"--output={tmp_path}", "--side_by_side"
    )
    assert code == 0
    pair = np.asarray(Image.open(tmp_path / (photo_paths[0].stem + ".png")))
    original = np.asarray(Image.open(photo_paths[0]).convert("RGB"))
    assert pair.shape == (original.shape[0], 2 * original.shape[1], 3)
    np.testing.assert_array_equal(pair[:, : original.shape[1]], original)


def test_cli_end_to_end_matches_the_python_api(model_path, photo_paths, tmp_path):
    photos = tmp_path / "photos"
    (photos / "trip" / "day2").mkdir(parents=True)
    for i, path in enumerate(photo_paths[:5]):
        shutil.copy(path, photos / ("trip/day2" if i % 2 else "trip") / path.name)
    expectations = generate.write_inputs(photos / "odd", photo_paths[0].read_bytes())
    extra = photo_paths[6]
    output = tmp_path / "colorized"
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.colorize", f"--model={model_path}", f"--input={photos}",
         f"--input={extra}", f"--output={output}", "--batch_size=3", "--temperature=0.3",
         "--precision=float32"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]  # 1: some inputs failed, each listed
    assert "error: 4 input(s) could not be colorized" in result.stderr
    bad = sorted(name for name, words in expectations.items() if words is not None)
    good = len(photo_paths[:5]) + 1 + len(expectations) - len(bad)
    assert f"{good} colorized, 0 already done, {len(bad)} skipped" in result.stdout
    assert "Skipped 4: 1 corrupt or truncated, 1 empty file, 1 not an image, 1 too large" in result.stdout
    for name in bad:
        assert f"{photos / 'odd' / name}: " in result.stdout
    assert "huge.jpg: too large, 12000x9000 = 108.0 megapixels (the limit is 50 megapixels)" in result.stdout
    written = sorted(os.path.relpath(os.path.join(r, f), output) for r, _, fs in os.walk(output) for f in fs)
    assert "trip/day2/" + photo_paths[1].stem + ".png" in written and extra.stem + ".png" in written
    assert "manifest.csv" in written  # every input, its output and status
    written.remove("manifest.csv")
    assert len(written) == good and all(name.endswith(".png") for name in written)
    # Same photo, same temperature: the CLI writes exactly what the Python API returns.
    colorizer = Colorizer.from_preset(model_path)
    checks = [
        (photos / "trip" / photo_paths[0].name, "trip/" + photo_paths[0].stem + ".png"),
        (photos / "odd" / "rgba.png", "odd/rgba.png"),
        (extra, extra.stem + ".png"),
    ]
    for source, target in checks:
        expected = colorizer.colorize(str(source), temperature=0.3)
        np.testing.assert_array_equal(np.asarray(Image.open(output / target)), expected)


def test_model_is_a_preset_name_folder_or_keras_file(model_path, photo_paths, tmp_path, capsys, monkeypatch):
    one = f"--input={photo_paths[0]}"
    monkeypatch.setattr(presets, "DEFAULT_PRESET", None)
    assert _run_in_process(one, f"--output={tmp_path / 'a'}") == 2  # no --model: the default preset
    assert "error: --model: No default preset" in capsys.readouterr().err
    assert _run_in_process(f"--model={tmp_path}", one, f"--output={tmp_path / 'b'}") == 2
    assert "a folder but not a preset" in capsys.readouterr().err
    keras_file = tmp_path / "model.keras"
    Colorizer.from_preset(model_path).save(keras_file)
    assert _run_in_process(f"--model={keras_file}", one, f"--output={tmp_path / 'c'}") == 0
    monkeypatch.setattr(presets, "PRESETS_DIR", os.path.dirname(model_path))
    monkeypatch.setattr(presets, "DEFAULT_PRESET", os.path.basename(model_path))
    assert _run_in_process(one, f"--output={tmp_path / 'd'}") == 0
    name = photo_paths[0].stem + ".png"
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "c" / name)), np.asarray(Image.open(tmp_path / "d" / name))
    )
