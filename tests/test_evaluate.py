"""Evaluation end to end on fixture photos with an untrained tiny model."""

import json
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from fixtures.tiny import tiny_colorizer
from PIL import Image

from keras_colorize.colorize_legacy import colorize_folder
from keras_colorize.evaluation import Evaluation, evaluate, load_entry
from keras_colorize.layers import resize_uint8
from keras_colorize.losses import RebalancedCrossEntropy
from keras_colorize.preprocessing import training_pair
from keras_colorize.rebalance import rebalancing_weights, smooth_prior

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
TFLITE = FIXTURES / "classifier" / "mobilenet_v2_1.0_224_quant.tflite"
WORK = 32


PRIOR = smooth_prior(np.random.default_rng(0).random(313) ** 4 + 1e-3)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A preset folder (full) and a .keras file (l2): the prior and the loss travel inside them."""
    root = tmp_path_factory.mktemp("models")
    tiny_colorizer("full", work_size=WORK, prior=PRIOR).save_to_preset(root / "full")
    tiny_colorizer("l2", work_size=WORK, prior=PRIOR).save(root / "l2.keras")
    return {"full": root / "full", "l2": root / "l2.keras"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, photo_paths):
    folder = tmp_path_factory.mktemp("data")
    for path in (FIXTURES / "semantic").iterdir():
        shutil.copy(path, folder)
    nested = folder / "more"
    nested.mkdir()
    for path in photo_paths[10:12]:
        shutil.copy(path, nested)
    (nested / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def test_cli_writes_report(models, data_dir, tmp_path):
    output = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.evaluate", f"--model={models['full']}",
         f"--data_dir={data_dir}", f"--output={output}", f"--classifier={TFLITE}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "7 photos evaluated, 1 unreadable" in result.stdout
    assert "broken.jpg: not an image" in result.stderr
    results = json.loads((output / "metrics.json").read_text())
    assert results["num_photos"] == 7 and results["num_unreadable"] == 1 and results["num_labelled"] == 5
    assert "broken.jpg" in results["unreadable"][0]
    summary = results["summary"]
    assert list(summary) == ["Ground truth", "Gray", "Random", "full"]
    assert summary["Ground truth"]["auc"] == 100.0 and summary["Ground truth"]["psnr"] == 100.0
    assert summary["Ground truth"]["top5"] == 100.0  # the fixture photos are recognised
    assert summary["Gray"]["colourfulness"] < 1.0 < summary["Ground truth"]["colourfulness"]
    for row in ("Gray", "Random", "full"):
        assert 0 < summary[row]["auc"] < 100 and 0 < summary[row]["auc_rebal"] < 100
    assert summary["full"]["loss"] > 0 and summary["Gray"]["loss"] is None
    photo = results["photos"][0]
    assert set(photo["rows"]) == set(summary) and len(photo["rows"]["full"]["top5_classes"]) == 5
    curve = np.array(results["curves"]["Gray"]["raw"])
    assert curve.shape == (151,) and np.all(np.diff(curve) >= 0) and curve[-1] <= 1.0
    report = (output / "report.md").read_text()
    assert "**1 unreadable**" in report and "| Ground truth | 100.0 | 100.0 | 100.00 |" in report
    for figure in ("auc_curves", "gallery", "best", "worst", "bleeding", "semantic"):
        assert f"({figure}.png)" in report
        with Image.open(output / f"{figure}.png") as image:
            assert image.width > 100 and image.height > 100


def test_rows_and_own_loss(models, data_dir, photos):
    full, l2 = load_entry(str(models["full"])), load_entry(str(models["l2"]))
    assert full.colorizer.work_size == WORK and full.loss_kind == "rebalanced" and l2.loss_kind == "l2"
    assert (full.name, l2.name) == ("full", "l2")
    np.testing.assert_array_equal(full.prior, PRIOR)
    files = sorted(str(p) for p in (FIXTURES / "photos").iterdir())[:3]
    evaluation = Evaluation([full, l2], files, full.prior)
    assert all(evaluation.sources[i] != i for i in range(3))
    rgb = photos[0]
    outputs = evaluation.outputs(0, rgb)
    assert set(outputs) == {"Ground truth", "Gray", "Random", "full", "l2"}
    for name, out in outputs.items():
        assert out.shape == rgb.shape and out.dtype == np.uint8, name
    assert not np.array_equal(outputs["Random"], outputs["Gray"])
    record, curves = evaluation.photo(0, rgb)
    # The own loss is the training objective on the photo at the working size, resized as training does.
    L, ab = training_pair(resize_uint8(rgb[None], WORK, WORK))
    expected = RebalancedCrossEntropy(rebalancing_weights(full.prior), from_logits=False)(
        ab, full.colorizer.backbone(L)
    )
    assert record["rows"]["full"]["loss"] == pytest.approx(float(expected[0]), rel=1e-5)
    assert record["rows"]["l2"]["loss"] > 0
    assert curves["Ground truth"][0][0] == 1.0


def test_errors(models, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.keras: no such preset, preset folder or \.keras"):
        load_entry(str(tmp_path / "nothing.keras"))
    no_prior = tiny_colorizer("full", prior=None)
    no_prior.save(tmp_path / "no_prior.keras")
    entry = load_entry(str(tmp_path / "no_prior.keras"))  # a converted model has no prior
    assert entry.prior is None and entry.loss is None
    with pytest.raises(ValueError, match="the model holds none; pass --prior"):
        Evaluation([entry], [], None)
    np.save(tmp_path / "prior.npy", PRIOR)
    assert load_entry(str(tmp_path / "no_prior.keras"), prior_path=str(tmp_path / "prior.npy")).loss
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No photos"):
        evaluate(
            [load_entry(str(models["full"]))], str(tmp_path / "empty"), str(tmp_path / "out"), progress=False
        )
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.evaluate", f"--data_dir={tmp_path}", f"--output={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0 and "--model is required" in result.stderr


def test_colorize_legacy(models, data_dir, tmp_path):
    result = colorize_folder(str(models["full"]), str(data_dir / "more"), str(tmp_path), per_gallery=1)
    assert result["photos"] == 2 and len(result["unreadable"]) == 1
    assert result["galleries"] == ["gallery_001.png", "gallery_002.png"]
    index = (tmp_path / "index.md").read_text()
    assert "![gallery_002.png](gallery_002.png)" in index and "broken.jpg" in index
    with Image.open(tmp_path / "gallery_001.png") as image:
        assert image.width > 2 * 200
