"""The tf.data pipeline, its epoch report, and TFRecord shards (fixtures only)."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_colorize.data import make_dataset
from keras_colorize.data.pipeline import random_crop
from keras_colorize.data.report import EpochReport
from keras_colorize.data.sources import RECORD_FEATURES, open_catalog
from keras_colorize.data.tfrecords import write_tfrecords
from keras_colorize.images import image_from_bytes

SIZE = 64


def run_epoch(dataset) -> tuple[np.ndarray, np.ndarray]:
    indices, images = [], []
    for batch in dataset:
        indices.append(batch["index"].numpy())
        images.append(batch["rgb"].numpy())
    return np.concatenate(indices), np.concatenate(images)


def eval_crop_reference(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Centre square scaled with Pillow: an independent version of the eval crop."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(rgb[top : top + side, left : left + side])
    return np.asarray(square.resize((size, size), Image.BILINEAR)).astype(np.int32)


@pytest.fixture(scope="module")
def variants(tmp_path_factory, photos) -> dict:
    """One photo saved in many formats and modes, plus odd and tiny sizes."""
    folder = tmp_path_factory.mktemp("variants")
    base = photos[10]  # 128 x 192 (h x w): not square
    rgb = Image.fromarray(base)
    gray = rgb.convert("L")
    speckled = np.repeat(np.asarray(gray)[..., None], 3, axis=-1)
    speckled.reshape(-1, 3)[::250] = (255, 0, 0)  # 0.4% of the pixels: still a gray photo
    touched = np.repeat(np.asarray(gray)[..., None], 3, axis=-1)
    touched[:30, :30] = (200, 40, 30)  # 3.7% of the pixels: a photo with colour
    saved = {
        "rgb.png": rgb,
        "gray.png": gray,
        "gray_alpha.png": gray.convert("LA"),
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.quantize(64),
        "deep16.png": Image.fromarray(np.asarray(gray, np.uint16) * 257),
        "photo.tif": rgb,
        "photo.bmp": rgb,
        "tiny.png": Image.fromarray(base[50:70, 60:90]),  # 20 x 30
        "odd.png": Image.fromarray(base[:97, :133]),
        "speckled_gray.png": Image.fromarray(speckled),
        "touch_of_red.png": Image.fromarray(touched),
    }
    for name, image in saved.items():
        image.save(folder / name)
    return {"folder": folder, "base": base, "names": sorted(saved)}


@pytest.fixture(scope="module")
def broken(tmp_path_factory, photo_paths) -> dict:
    """The fixture photos plus a truncated JPEG, an empty file and a text file named .png."""
    folder = tmp_path_factory.mktemp("broken")
    for path in photo_paths:
        shutil.copy(path, folder / path.name)
    data = photo_paths[0].read_bytes()
    (folder / "photo_03b_truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "photo_05b_empty.jpg").write_bytes(b"")
    (folder / "zz_notes.png").write_text("not a photo\n")
    return {"folder": folder, "good": len(photo_paths)}


def test_batches_have_the_promised_structure(photo_paths):
    for training in (True, False):
        dataset, report = make_dataset([str(photo_paths[0].parent)], SIZE, 5, training)
        assert report.num_sources == len(photo_paths) == len(report.paths)
        batches = list(dataset)
        assert len(batches) == len(photo_paths) // 5
        for batch in batches:
            assert set(batch) == {"index", "rgb"}
            assert batch["index"].dtype == tf.int64 and batch["index"].shape == (5,)
            assert batch["rgb"].dtype == tf.uint8 and batch["rgb"].shape == (5, SIZE, SIZE, 3)
        assert dataset.element_spec["rgb"].shape.as_list() == [5, SIZE, SIZE, 3]


def test_eval_is_ordered_deterministic_and_a_centre_crop(photo_paths, photos):
    dataset, _ = make_dataset([str(p) for p in photo_paths], SIZE, 4, training=False)
    indices, images = run_epoch(dataset)
    np.testing.assert_array_equal(indices, np.arange(len(photo_paths)))
    np.testing.assert_array_equal(run_epoch(dataset)[1], images)
    for index in (0, 10):  # a square and a landscape photo
        difference = np.abs(images[index].astype(np.int32) - eval_crop_reference(photos[index]))
        assert difference.mean() < 2.0


def test_training_is_shuffled_and_reproducible(photo_paths):
    folder = [str(photo_paths[0].parent)]
    first, images = run_epoch(make_dataset(folder, SIZE, 3, training=True, seed=1)[0])
    again, images_again = run_epoch(make_dataset(folder, SIZE, 3, training=True, seed=1)[0])
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(images, images_again)
    assert sorted(first) == list(range(len(photo_paths)))
    assert not np.array_equal(first, np.arange(len(photo_paths)))
    next_epoch = run_epoch(make_dataset(folder, SIZE, 3, training=True, seed=1, epoch=1)[0])[0]
    other_seed = run_epoch(make_dataset(folder, SIZE, 3, training=True, seed=2)[0])[0]
    assert not np.array_equal(first, next_epoch) and not np.array_equal(first, other_seed)
    # A dataset is one epoch: iterating it again repeats it exactly.
    dataset = make_dataset(folder, SIZE, 3, training=True, seed=1)[0]
    for _ in range(2):
        repeated, repeated_images = run_epoch(dataset)
        np.testing.assert_array_equal(repeated, first)
        np.testing.assert_array_equal(repeated_images, images)


def test_training_crops_differ_from_eval_crops(photo_paths):
    folder = [str(photo_paths[0].parent)]
    _, eval_images = run_epoch(make_dataset(folder, SIZE, 4, training=False)[0])
    indices, images = run_epoch(make_dataset(folder, SIZE, 4, training=True)[0])
    images = images[np.argsort(indices)]
    differences = np.abs(images.astype(np.int32) - eval_images).mean(axis=(1, 2, 3))
    # A crop can, rarely, take the whole centre square unflipped: most must differ.
    assert np.sum(differences > 1.0) >= len(differences) - 2


def test_random_crop_scale_and_flip():
    """On a left-to-right ramp, a crop spans 1/1.25..1 of the short side; flips go both ways."""
    ramp = np.tile(np.linspace(0, 255, 100).astype(np.uint8)[None, :, None], (100, 1, 3))
    spans, directions = [], set()
    for seed in range(40):
        crop = random_crop(tf.constant(ramp), SIZE, tf.constant([seed, 7], tf.int64)).numpy()
        assert crop.shape == (SIZE, SIZE, 3)
        row = crop[SIZE // 2, :, 0].astype(np.int32)
        spans.append(abs(row[-1] - row[0]))
        directions.add(np.sign(row[-1] - row[0]))
    assert directions == {-1, 1}
    assert min(spans) >= 0.75 * 255
    assert max(spans) - min(spans) > 20  # the scale does vary


def test_any_format_and_size(variants):
    names = variants["names"]
    for training in (True, False):
        dataset, report = make_dataset([str(variants["folder"])], SIZE, 2, training, drop_remainder=False)
        indices, images = run_epoch(dataset)
        assert sorted(indices) == list(range(len(names)))
        assert report.finish_epoch(indices) is None
    by_name = dict(zip(names, images[np.argsort(indices)], strict=True))
    reference = eval_crop_reference(variants["base"])
    for name in ("rgb.png", "rgba.png", "photo.tif", "photo.bmp"):
        np.testing.assert_array_equal(by_name[name], by_name["rgb.png"])
    assert np.abs(by_name["rgb.png"].astype(np.int32) - reference).mean() < 2.0
    assert np.abs(by_name["palette.png"].astype(np.int32) - reference).mean() < 8.0
    gray = by_name["gray.png"].astype(np.int32)
    assert np.all(gray[..., 0] == gray[..., 1]) and np.all(gray[..., 1] == gray[..., 2])
    for name in ("gray_alpha.png", "deep16.png"):
        assert np.abs(by_name[name].astype(np.int32) - gray).max() <= 1
    tiny = by_name["tiny.png"].astype(np.int32)  # 20 x 30, upscaled
    assert np.abs(tiny - eval_crop_reference(variants["base"][50:70, 60:90])).mean() < 4.0


def test_unreadable_files_are_skipped_named_and_counted(broken):
    folder = [str(broken["folder"])]
    total = broken["good"] + 3
    for training in (False, True):
        dataset, report = make_dataset(folder, SIZE, 1, training)
        assert report.num_sources == total
        indices, _ = run_epoch(dataset)
        assert len(indices) == broken["good"]  # no good photo lost
        message = report.finish_epoch(indices)
        assert message.startswith(f"Skipped 3 of {total} photos this epoch: ")
        assert len(report.skipped) == 3
        assert all(reason.startswith("unreadable: ") for reason in report.skipped.values())
        reasons = {name.rsplit("/", 1)[-1]: reason for name, reason in report.skipped.items()}
        assert "empty" in reasons["photo_05b_empty.jpg"]
        assert "not an image" in reasons["zz_notes.png"]
        assert "truncated" in reasons["photo_03b_truncated.jpg"]
        assert report.last_dropped == 0


def test_skip_grayscale(variants):
    folder = [str(variants["folder"])]
    dataset, report = make_dataset(folder, SIZE, 1, training=False, skip_grayscale=True)
    indices, _ = run_epoch(dataset)
    report.finish_epoch(indices)
    gray_names = {"gray.png", "gray_alpha.png", "deep16.png", "speckled_gray.png"}
    assert {p.rsplit("/", 1)[-1] for p in report.skipped} == gray_names
    assert set(report.skipped.values()) == {"grayscale (filtered)"}
    assert len(indices) == len(variants["names"]) - len(gray_names)


def test_drop_remainder_is_not_reported_as_skipped(broken):
    folder = [str(broken["folder"])]
    good = broken["good"]
    batch_size = 5
    dataset, report = make_dataset(folder, SIZE, batch_size, training=True)
    for _ in range(2):  # the second epoch uses what the first one learned
        indices, _ = run_epoch(dataset)
        assert len(indices) == good - good % batch_size
        message = report.finish_epoch(indices)
        assert report.last_dropped == good % batch_size
        assert len(report.last_skipped) == 3 and message.startswith("Skipped 3 of 15")
        assert report.last_not_delivered == []
    assert report.epochs == 2 and set(report.skip_counts.values()) == {2}

    dataset, report = make_dataset(folder, SIZE, batch_size, training=True, drop_remainder=False)
    indices, _ = run_epoch(dataset)
    assert len(indices) == good
    report.finish_epoch(indices)
    assert report.last_dropped == 0 and len(report.last_skipped) == 3

    # An epoch cut short: the photos after the cut were not reached, they are not skips.
    dataset, report = make_dataset(folder, SIZE, batch_size, training=False)
    first_batch = next(iter(dataset))["index"].numpy()
    message = report.finish_epoch(first_batch)
    names = [path.rsplit("/", 1)[-1] for path in report.last_skipped]
    assert names == ["photo_03b_truncated.jpg"]  # the only bad file among the first 5 + 1
    assert report.last_not_reached == good + 3 - 6 and report.last_dropped == 0
    assert message.startswith("Skipped 1 of 15")

    # Indices lost by the caller are not passed off as skips.
    indices, _ = run_epoch(dataset)
    message = report.finish_epoch(np.delete(indices, 1))
    assert report.last_not_delivered == [report.paths[indices[1]]] and "not among the indices" in message
    with pytest.raises(ValueError, match="do not belong"):
        report.finish_epoch([999])


def test_unordered_epoch_report_names_skips_from_the_photos_not_seen(broken):
    # tf.data service delivers photos in the workers' order: the report goes by what was not seen.
    folder = [str(broken["folder"])]
    good, batch_size = broken["good"], 5
    dataset, _ = make_dataset(folder, SIZE, batch_size, training=True)
    indices, _ = run_epoch(dataset)
    shuffled = np.random.default_rng(0).permutation(indices)
    catalog = open_catalog(folder)
    report = EpochReport(catalog, lambda: catalog.order(False, 0), batch_size, True, False, ordered=False)
    message = report.finish_epoch(shuffled)
    names = sorted(path.rsplit("/", 1)[-1] for path in report.last_skipped)
    assert names == ["photo_03b_truncated.jpg", "photo_05b_empty.jpg", "zz_notes.png"]
    assert message.startswith("Skipped 3 of 15") and report.last_dropped == good % batch_size
    assert report.last_not_delivered == []

    # A whole batch missing is not the dropped remainder: those photos should have come.
    message = report.finish_epoch(shuffled[batch_size:])
    assert len(report.last_not_delivered) == batch_size + good % batch_size and report.last_dropped == 0
    assert "not among the indices" in message


def test_shards_are_disjoint_and_complete(photo_paths, tmp_path):
    folder = [str(photo_paths[0].parent)]
    seen, sizes = [], []
    for index in range(3):
        dataset, report = make_dataset(folder, SIZE, 1, training=True, shard=(3, index))
        indices, _ = run_epoch(dataset)
        assert sorted(indices) == sorted(int(i) for i in range(index, len(photo_paths), 3))
        seen.extend(indices)
        sizes.append(report.num_sources)
    assert sorted(seen) == list(range(len(photo_paths))) and sum(sizes) == len(photo_paths)

    for num_files in (3, 2):  # by file (3 files, 3 workers), then by record
        prefix = tmp_path / f"shards{num_files}" / "train"
        write_tfrecords(folder, str(prefix), num_files)
        seen = []
        for index in range(3):
            dataset, report = make_dataset([f"{prefix}-*.tfrecord"], SIZE, 1, training=True, shard=(3, index))
            indices, _ = run_epoch(dataset)
            assert report.num_sources == len(indices)
            assert report.finish_epoch(indices) is None
            seen.extend(indices)
        assert sorted(seen) == list(range(len(photo_paths)))


def test_tfrecords_round_trip(variants, broken, tmp_path):
    sources = [str(variants["folder"])]
    summary = write_tfrecords(sources, str(tmp_path / "v"), 3)
    assert summary.written == len(variants["names"]) and not summary.skipped
    assert len(summary.files) == 3
    from_files = run_epoch(make_dataset(sources, SIZE, 2, training=False, drop_remainder=False)[0])
    dataset, report = make_dataset([summary.pattern], SIZE, 2, training=False, drop_remainder=False)
    indices, images = run_epoch(dataset)
    order = np.argsort(indices)
    np.testing.assert_array_equal(indices[order], from_files[0])
    np.testing.assert_array_equal(images[order], from_files[1])  # TIFF re-encoded losslessly
    assert report.paths is None and report.num_sources == len(variants["names"])

    # Grayscale filtering on records names the records by their stored names.
    dataset, report = make_dataset([summary.pattern], SIZE, 3, training=True, skip_grayscale=True)
    indices, _ = run_epoch(dataset)
    report.finish_epoch(indices)
    assert set(report.skipped) == {"gray.png", "gray_alpha.png", "deep16.png", "speckled_gray.png"}
    assert report.last_dropped == (len(variants["names"]) - 4) % 3 > 0


def test_make_tfrecords_cli_reports_bad_files(broken, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.data.make_tfrecords", f"--input={broken['folder']}",
         f"--output={tmp_path / 'out' / 'b'}", "--num_shards=2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]  # 1: some photos were unreadable (listed)
    assert f"Wrote {broken['good']} photos to 2 shards" in result.stdout
    assert "skipped 3 unreadable" in result.stdout
    for name in ("photo_03b_truncated.jpg", "photo_05b_empty.jpg", "zz_notes.png"):
        assert name in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "b-00000-of-00002.tfrecord",
        "b-00000-of-00002.tfrecord.index.json",
        "b-00001-of-00002.tfrecord",
        "b-00001-of-00002.tfrecord.index.json",
    ]


def test_bad_arguments_are_named(photo_paths, tmp_path):
    folder = str(photo_paths[0].parent)
    with pytest.raises(ValueError, match="multiple of 8"):
        make_dataset([folder], 60, 2, True)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        make_dataset([str(tmp_path / "nowhere")], SIZE, 2, True)
    with pytest.raises(FileNotFoundError, match="No photos"):
        make_dataset([str(tmp_path)], SIZE, 2, True)
    with pytest.raises(FileNotFoundError, match="No TFRecord files match"):
        make_dataset([str(tmp_path / "x-*.tfrecord")], SIZE, 2, True)
    with pytest.raises(ValueError, match="Mix of TFRecord"):
        make_dataset([folder, str(tmp_path / "x-*.tfrecord")], SIZE, 2, True)
    with pytest.raises(ValueError, match="shard"):
        make_dataset([folder], SIZE, 2, True, shard=(2, 2))


def test_pillow_agrees_with_the_pipeline_on_tiff(variants):
    data = (variants["folder"] / "photo.tif").read_bytes()
    np.testing.assert_array_equal(image_from_bytes(data), variants["base"])


def test_records_of_several_folders_keep_indices_and_names(photo_paths, tmp_path):
    for folder, chosen in (("a", photo_paths[:2]), ("b", photo_paths[2:5])):
        (tmp_path / "in" / folder).mkdir(parents=True)
        for path in chosen:
            shutil.copy(path, tmp_path / "in" / folder / path.name)
    inputs = [str(tmp_path / "in" / "a"), str(tmp_path / "in" / "b")]
    summary = write_tfrecords(inputs, str(tmp_path / "out" / "ab"), 2)
    names = {}
    for record in tf.data.TFRecordDataset(summary.files):
        example = tf.io.parse_single_example(record, RECORD_FEATURES)
        names[int(example["index"])] = example["name"].numpy().decode()
    files = make_dataset(inputs, SIZE, 1, training=False)[1].paths
    assert sorted(names) == list(range(5))
    for index, name in names.items():
        assert files[index].endswith("/" + name) and name.split("/")[0] in ("a", "b")


def _count_shard_reads(monkeypatch) -> list:
    """Every TFRecordDataset made from now on (a read of shards), with a fresh scan cache."""
    from keras_colorize.data import sources

    monkeypatch.setattr(sources, "_SCANNED", {})
    calls, real = [], tf.data.TFRecordDataset

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(tf.data, "TFRecordDataset", counting)
    return calls


def test_tfrecord_index_orders_epochs_without_reading_shards(photo_paths, tmp_path, monkeypatch):
    from keras_colorize.data.sources import open_catalog

    folder = [str(photo_paths[0].parent)]
    summary = write_tfrecords(folder, str(tmp_path / "t"), 2)
    reads = _count_shard_reads(monkeypatch)
    for shard in (None, (3, 1)):  # whole, and every 3rd record (2 files on 3 workers)
        for epoch_seed in (5, 6):  # a new catalog per epoch, as make_dataset opens one
            catalog = open_catalog([summary.pattern], shard)
            order = catalog.order(True, epoch_seed)
            assert len(catalog.indices) == len(order) and catalog.name(int(order[0])).endswith(".jpg")
            assert reads == []  # counted, named and ordered from the indexes alone
            streamed = [int(i) for i, _ in catalog.stream(True, epoch_seed).as_numpy_iterator()]
            assert streamed == order.tolist()  # the order the epoch really visits
            reads.clear()
    whole = open_catalog([summary.pattern], None)
    assert sorted(whole.indices.tolist()) == list(range(len(photo_paths)))
    wanted = int(whole.records_of_files[1][0][0])
    data = whole.read([wanted])
    assert list(data) == [wanted] and data[wanted] == photo_paths[wanted].read_bytes()
    assert reads == [summary.files[1]]  # only the shard that holds it


def test_tfrecord_index_missing_or_stale_means_one_scan(photo_paths, tmp_path, monkeypatch):
    import json
    import os
    import pathlib

    from keras_colorize.data.sources import index_path, open_catalog

    summary = write_tfrecords([str(photo_paths[0].parent)], str(tmp_path / "t"), 3)
    with_index = open_catalog([summary.pattern]).order(True, 1)
    os.remove(index_path(summary.files[0]))  # shards written before indexes existed
    stale_path = pathlib.Path(index_path(summary.files[1]))
    stale = json.loads(stale_path.read_text())
    stale["bytes"] += 1  # the shard changed after its index was written
    stale_path.write_text(json.dumps(stale))
    reads = _count_shard_reads(monkeypatch)
    for _ in range(3):  # three epochs
        assert open_catalog([summary.pattern]).order(True, 1).tolist() == with_index.tolist()
    assert sorted(reads) == sorted(summary.files[:2])  # each unindexed shard scanned once
