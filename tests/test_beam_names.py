"""The Beam pipeline names its outputs by the colorize CLI's rules (no Beam needed: naming is plain
Python; tests/test_beam.py runs the pipeline)."""

import os

from keras_colorize.beam_colorize import plan_names
from keras_colorize.photo_files import plan_outputs


def test_beam_names_outputs_as_the_cli_does(tmp_path):
    folder = tmp_path / "archive"
    for name in ("a.jpg", "a.png", "b.jpg", "1920/a.jpg", "1920/x/c.jpeg"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"not decoded here")
    output = str(tmp_path / "out")
    cli, missing = plan_outputs([str(folder)], output)
    files = [os.path.join(root, name) for root, _, names in os.walk(folder) for name in names]
    # What the runner reports: the matches of the pattern, in any order, absolute or as given.
    found = [(0, path) for path in reversed(files)] + [(1, str(folder / "b.jpg"))]  # b.jpg matched twice
    beam = plan_names(found, [f"{folder}/**", f"{folder}/b.jpg"], output)
    assert missing == [] and sorted(beam) == sorted(cli)
    assert {os.path.relpath(target, output) for _, target in beam} == {
        "a.png",
        "a-1.png",
        "b.png",
        os.path.join("1920", "a.png"),
        os.path.join("1920", "x", "c.png"),
    }
    relative = plan_names([(0, "scans/a.jpg")], ["scans/*.jpg"], "gs://bucket/colour")
    assert relative == [("scans/a.jpg", "gs://bucket/colour/a.png")]
