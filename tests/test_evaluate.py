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
from keras_colorize.presets import DEFAULT_PRESET
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
    add_bad_photos(nested, photo_paths[10])
    return folder


def add_bad_photos(folder: pathlib.Path, good: pathlib.Path) -> None:
    """A 60-megapixel photo (over the 50 MP limit) and a truncated JPEG, among good photos."""
    Image.new("L", (10000, 6000), 128).save(folder / "huge.png")
    with Image.open(good) as image:
        image.convert("RGB").save(folder / "whole.jpg", quality=90)
    data = (folder / "whole.jpg").read_bytes()
    (folder / "whole.jpg").unlink()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])


def test_cli_writes_report(models, data_dir, tmp_path):
    output = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.evaluate", f"--model={models['full']}",
         f"--data_dir={data_dir}", f"--output={output}", f"--classifier={TFLITE}", "--fid=mobilenet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    kinds = "1 corrupt or truncated, 1 not an image, 1 too large"
    assert f"7 photos evaluated, 3 skipped ({kinds})" in result.stdout
    assert "broken.jpg: not an image" in result.stdout and "huge.png: too large" in result.stdout
    results = json.loads((output / "metrics.json").read_text())
    assert results["num_photos"] == 7 and results["num_skipped"] == 3 and results["num_labelled"] == 5
    assert results["num_unreadable"] == 3
    assert results["skipped_by_kind"] == {"corrupt or truncated": 1, "not an image": 1, "too large": 1}
    reasons = {pathlib.Path(s["file"]).name: s["reason"] for s in results["skipped"]}
    assert "60.0 megapixels (the limit is 50 megapixels)" in reasons["huge.png"]
    assert "truncated" in reasons["truncated.jpg"] and "not an image" in reasons["broken.jpg"]
    # One prior for every row: the reference prior shipped with the package, not the model's.
    assert results["settings"]["prior"]["name"] == "reference-shared-train-10451"
    summary = results["summary"]
    assert list(summary) == ["Ground truth", "Gray", "Random", "full"]
    assert summary["Ground truth"]["auc"] == 100.0 and summary["Ground truth"]["psnr"] == 100.0
    assert summary["Ground truth"]["top5"] == 100.0  # the fixture photos are recognised
    assert summary["Gray"]["colourfulness"] < 1.0 < summary["Ground truth"]["colourfulness"]
    for row in ("Gray", "Random", "full"):
        for key in ("auc", "auc_rebal", "auc_pooled", "auc_rebal_pooled"):
            assert 0 < summary[row][key] < 100, (row, key)
        assert 0 < summary[row]["ssim"] < 1 and summary[row]["fd_mobilenet"] > 0
        assert summary[row]["delta_cf_photo"] >= summary[row]["delta_cf_set"] - 1e-9
    truth = summary["Ground truth"]
    assert truth["delta_cf_set"] == truth["delta_cf_photo"] == 0.0 and truth["ssim"] == 1.0
    assert truth["fd_mobilenet"] == pytest.approx(0.0, abs=1e-6) and truth["kid_mobilenet"] is None
    assert truth["auc_pooled"] == truth["auc_rebal_pooled"] == 100.0 and "fid" not in truth
    assert summary["full"]["loss"] > 0 and summary["Gray"]["loss"] is None
    photo = results["photos"][0]
    assert set(photo["rows"]) == set(summary) and len(photo["rows"]["full"]["top5_classes"]) == 5
    for key in ("raw", "rebalanced", "raw_pooled", "rebalanced_pooled"):
        curve = np.array(results["curves"]["Gray"][key])
        assert curve.shape == (151,) and np.all(np.diff(curve) >= -1e-12) and curve[-1] <= 1.0 + 1e-12
    report = (output / "report.md").read_text()
    assert f"**3 skipped** ({kinds}" in report and "## Skipped photos" in report
    assert "| Ground truth | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |" in report
    assert "Rebalancing prior (every row): `reference-shared-train-10451`" in report
    for key in ("auc_rebal_pooled", "delta_cf_set", "delta_cf_photo", "ssim", "fid", "kid", "fd_mobilenet"):
        assert f"`{key}`" in report, key  # each metrics.json key is defined in the Metrics section
    assert "FD-MobileNet (not FID)" in report and "| FID |" not in report
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
    record, masses, _ = evaluation.photo(0, rgb)
    # The own loss is the training objective on the photo at the working size, resized as training does.
    L, ab = training_pair(resize_uint8(rgb[None], WORK, WORK))
    expected = RebalancedCrossEntropy(rebalancing_weights(full.prior), from_logits=False)(
        ab, full.colorizer.backbone(L)
    )
    assert record["rows"]["full"]["loss"] == pytest.approx(float(expected[0]), rel=1e-5)
    assert record["rows"]["l2"]["loss"] > 0
    assert masses["Ground truth"][0][0] == rgb.shape[0] * rgb.shape[1]  # every pixel exact


def test_jpeg_round_trip_row(models, photos):
    files = sorted(str(p) for p in (FIXTURES / "photos").iterdir())[:2]
    evaluation = Evaluation([load_entry(str(models["full"]))], files, jpeg_quality=75)
    assert evaluation.rows == ["Ground truth", "Gray", "Random", "JPEG q75 round trip", "full"]
    out = evaluation.outputs(0, photos[0])["JPEG q75 round trip"]
    assert out.shape == photos[0].shape and out.dtype == np.uint8 and not np.array_equal(out, photos[0])
    assert np.abs(out.astype(int) - photos[0]).mean() < 5  # compression, not a colour change
    with pytest.raises(ValueError, match=r"--jpeg_quality must be in 1\.\.100"):
        Evaluation([], files, jpeg_quality=0)


def test_errors(models, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing\.keras: no such preset, preset folder or \.keras"):
        load_entry(str(tmp_path / "nothing.keras"))
    no_prior = tiny_colorizer("full", prior=None)
    no_prior.save(tmp_path / "no_prior.keras")
    entry = load_entry(str(tmp_path / "no_prior.keras"))  # a converted model has no prior
    assert entry.prior is None and entry.loss is None
    # ... and is evaluated all the same: the rebalanced AuC uses the reference prior.
    assert Evaluation([entry], []).eval_prior.name == "reference-shared-train-10451"
    np.save(tmp_path / "prior.npy", PRIOR)
    assert Evaluation([entry], [], str(tmp_path / "prior.npy")).eval_prior.name == "prior.npy"
    with pytest.raises(ValueError, match="313 non-negative numbers summing to 1"):
        Evaluation([entry], [], np.ones(313))
    assert load_entry(str(tmp_path / "no_prior.keras"), prior_path=str(tmp_path / "prior.npy")).loss
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No photos"):
        evaluate(
            [load_entry(str(models["full"]))], str(tmp_path / "empty"), str(tmp_path / "out"), progress=False
        )


def test_evaluate_and_legacy_default_to_the_bundled_preset_and_draw_no_bars_in_logs(photo_paths, tmp_path):
    (tmp_path / "one").mkdir()
    shutil.copy(photo_paths[0], tmp_path / "one")

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "keras_colorize.cli", *args, f"--data_dir={tmp_path / 'one'}"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "\x1b[" not in result.stdout, result.stdout  # stdout is a pipe: no progress bar
        return result

    evaluated = run("evaluate", f"--output={tmp_path / 'report'}", "--fid=none")
    assert "1 photo evaluated, 0 skipped" in evaluated.stdout
    assert f"# Evaluation of {DEFAULT_PRESET}\n" in (tmp_path / "report" / "report.md").read_text()
    gallery = run("legacy", f"--output={tmp_path / 'gallery'}")
    assert "1 photo in 1 gallery, 0 skipped" in gallery.stdout
    assert f"Model `{DEFAULT_PRESET} (default)`" in (tmp_path / "gallery" / "index.md").read_text()


def test_colorize_legacy(models, data_dir, tmp_path):
    result = colorize_folder(str(models["full"]), str(data_dir / "more"), str(tmp_path), per_gallery=1)
    assert result["photos"] == 2 and len(result["unreadable"]) == 3 and result["num_skipped"] == 3
    assert result["skipped_by_kind"] == {"corrupt or truncated": 1, "not an image": 1, "too large": 1}
    assert result["galleries"] == ["gallery_001.png", "gallery_002.png"]
    index = (tmp_path / "index.md").read_text()
    assert "![gallery_002.png](gallery_002.png)" in index and "broken.jpg" in index
    assert "3 skipped (1 corrupt or truncated, 1 not an image, 1 too large)" in index
    assert "huge.png: too large" in index
    with Image.open(tmp_path / "gallery_001.png") as image:
        assert image.width > 2 * 200


OFFLINE = {"https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}  # nothing listens there


@pytest.mark.parametrize("flag", ["--classifier=vgg16", "--classifier=resnet50"])
def test_downloads_offline_fail_in_one_line_before_writing(models, data_dir, tmp_path, flag):
    import os

    output = tmp_path / "report"
    env = {**os.environ, **OFFLINE, "KERAS_HOME": str(tmp_path / "keras_home")}  # no cached weights
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.evaluate", f"--model={models['full']}",
         f"--data_dir={data_dir}", f"--output={output}", flag],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and last.startswith("error: --")
    assert "--classifier=mobilenet_v2" in last
    assert not output.exists()  # nothing half-written


def test_unlabelled_folder_says_so(models, data_dir, tmp_path):
    from keras_colorize.evaluation import classifier_note

    more = str(data_dir / "more")
    note = classifier_note("mobilenet_v2", {}, more, None)
    assert note.startswith("not run: the photos have no ImageNet labels") and "labels.csv" in note
    results = evaluate([load_entry(str(models["full"]))], more, str(tmp_path), progress=False,
                       classifier_status=note)  # fmt: skip
    assert f"Classifier: {note}" in (tmp_path / "report.md").read_text()
    assert results["num_photos"] == 2 and results["num_skipped"] == 3


def test_imagenet5k_protocol(models, tmp_path):
    from keras_colorize.evaluation import center_square, imagenet5k_files

    files = sorted(str(p) for p in (FIXTURES / "semantic").glob("*.JPEG"))
    chosen = imagenet5k_files([*files, "x/ILSVRC2012_val_00005001.JPEG", "x/other.jpg"])
    assert [pathlib.Path(f).name for f in chosen] == [
        "ILSVRC2012_val_00001440.JPEG",
        "ILSVRC2012_val_00001492.JPEG",
    ]
    with pytest.raises(ValueError, match="first 5,000 ImageNet validation photos"):
        imagenet5k_files(["a.jpg"])
    rgb = np.zeros((300, 500, 3), np.uint8)
    rgb[:, 100:400] = 200  # the central 300 x 300 square
    assert np.all(center_square(rgb, 256) == 200) and center_square(rgb, 256).shape == (256, 256, 3)
    results = evaluate([load_entry(str(models["full"]))], str(FIXTURES / "semantic"), str(tmp_path),
                       progress=False, protocol="imagenet5k")  # fmt: skip
    assert results["num_photos"] == 2 and results["photos"][0]["height"] == 256
    report = (tmp_path / "report.md").read_text()
    assert "## Beside the literature" in report and "| 8.72 | 31.60 | 6.61 | 22.64 |" in report


def test_saved_model_evaluates_without_side_files(tmp_path, photos):
    """An exported SavedModel is a model like any other: run through its `ab` signature, settings from its
    assets, the reference prior for the rebalanced AuC; the same pixels as the Colorizer it came from."""
    from keras_colorize.export import export_saved_model

    colorizer = tiny_colorizer("full", work_size=WORK, prior=None)
    path = export_saved_model(colorizer, str(tmp_path / "export"), version=1)
    entry = load_entry(path)
    assert entry.name == "1" and entry.loss is None and entry.colorizer.work_size == WORK
    rgb = photos[0]
    ours, theirs = entry.colorizer.colorize(rgb), colorizer.colorize(rgb)
    assert ours.shape == rgb.shape and ours.dtype == np.uint8
    differ = np.abs(ours.astype(int) - theirs.astype(int))
    assert differ.max() <= 1 and np.mean(differ > 0) <= 0.005
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(rgb).save(folder / "a.png")
    results = evaluate([entry], str(folder), str(tmp_path / "report"), progress=False)
    assert results["num_photos"] == 1 and 0 < results["summary"]["1"]["auc_rebal_pooled"] < 100


def test_bare_networks_saved_as_keras_evaluate(tmp_path, photos):
    """A freshly built network saved as .keras (a kc.Backbone, or an older functional colorizer_<variant>
    model) is wrapped as a Colorizer with the default settings and the same weights."""
    import keras

    import keras_colorize as kc

    backbone = kc.build_model("4block", width=0.125)
    backbone.save(tmp_path / "backbone.keras")
    keras.Model(backbone.inputs, backbone.outputs, name="colorizer_4block").save(tmp_path / "old.keras")
    L = np.full((1, 32, 32, 1), 50.0, np.float32)
    for name in ("backbone", "old"):
        entry = load_entry(str(tmp_path / f"{name}.keras"), work_size=WORK)
        assert entry.colorizer.work_size == WORK and entry.colorizer.backbone.width == 0.125
        np.testing.assert_allclose(entry.colorizer.backbone(L), backbone(L), atol=1e-6)
        assert entry.colorizer.colorize(photos[0]).shape == photos[0].shape
    keras.Model(backbone.inputs, backbone.outputs, name="something").save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="not a colorizer"):
        load_entry(str(tmp_path / "other.keras"))
