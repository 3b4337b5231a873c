"""kc.Colorizer, the task model: photos in and out, saving whole, presets, clear errors."""

import io
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from fixtures.bad_inputs import generate
from fixtures.tiny import PRIOR, tiny_colorizer
from PIL import Image

import keras_colorize as kc
from keras_colorize import presets
from keras_colorize.colorizer import load_photo
from keras_colorize.data.pipeline import center_crop
from keras_colorize.images import UnreadableImageError, load_image
from keras_colorize.photo_files import skip_kind
from keras_colorize.preprocessing import lightness_from_uint8 as lightness
from keras_colorize.preprocessing import training_pair

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def colorizer():
    return tiny_colorizer("full", seed=1)


@pytest.fixture(scope="module")
def odd_photos(photos):
    """Two photos of 301 x 199 (odd sizes; the fixtures are 192 x 192)."""
    return np.stack([np.asarray(Image.fromarray(p).resize((199, 301))) for p in photos[:2]])


def _lightness(rgb):
    return np.asarray(lightness(rgb[None].astype(np.uint8)))[0, ..., 0]


def _chroma(rgb):
    from keras_colorize.colorspace import rgb_uint8_to_lab

    lab = np.asarray(rgb_uint8_to_lab(rgb))
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def _in_fresh_process(script: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=300, env=ENV
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_photos_of_any_size_come_back_at_their_size(colorizer, odd_photos):
    assert odd_photos.shape == (2, 301, 199, 3)
    out = colorizer.predict(odd_photos, verbose=0)
    assert out.shape == odd_photos.shape and out.dtype == np.uint8
    gray = odd_photos[..., :1]  # gray [N, H, W, 1] gives RGB of the same size
    out_gray = colorizer.predict(gray, verbose=0)
    assert out_gray.shape == (2, 301, 199, 3) and out_gray.dtype == np.uint8
    # A gray value v is the photo (v, v, v): the same colorization.
    np.testing.assert_array_equal(out_gray, colorizer.predict(np.repeat(gray, 3, axis=-1), verbose=0))
    # Only ab is predicted: L comes back up to uint8 rounding and gamut clipping (of near-white sky here).
    difference = np.abs(_lightness(out[0]) - _lightness(odd_photos[0]))
    assert np.median(difference) < 0.3 and np.percentile(difference, 75) < 0.5
    assert _chroma(out[0]) > 1.0  # it is coloured, not gray


def test_wrong_inputs_get_one_clear_error(colorizer, odd_photos):
    cases = {
        "float RGB in 0..1": (odd_photos / 255.0).astype(np.float32),
        "L in 0..100": np.asarray(lightness(odd_photos)),
        "one photo without the batch axis": odd_photos[0],
        "RGBA": np.concatenate([odd_photos, odd_photos[..., :1]], axis=-1),
    }
    hints = {
        "float RGB in 0..1": r"got float32 \(2, 301, 199, 3\) \(for float RGB in 0..1 pass np.round",
        "L in 0..100": r"got float32 \(2, 301, 199, 1\) \(L in 0..100 goes to colorizer.backbone",
        "one photo without the batch axis": r"got rank 3 \(301, 199, 3\); for one photo pass x\[None\]",
        "RGBA": r"got 4 channels \(2, 301, 199, 4\); drop the alpha channel",
    }
    expected = r"Colorizer expects uint8 photos \[N, H, W, 3\] \(RGB\) or \[N, H, W, 1\] \(gray\), 0..255; "
    for name, photos in cases.items():
        for run in (lambda x: colorizer.predict(x, verbose=0), colorizer):  # predict and a plain call
            with pytest.raises(ValueError, match=expected + hints[name]) as raised:
                run(photos)
            assert len(str(raised.value)) < 600, name  # one message, not a TensorFlow stack


def test_settings_and_config(colorizer, odd_photos):
    assert (colorizer.temperature, colorizer.work_size, colorizer.decoding) == (0.38, 64, "annealed_mean")
    np.testing.assert_array_equal(colorizer.prior, PRIOR)
    config = colorizer.get_config()
    assert config["backbone"]["config"] == {"variant": "full", "width": 0.125, "name": "colorizer_full",
                                            "trainable": True}  # fmt: skip
    json.dumps(config)  # JSON all the way down
    cold = colorizer.with_settings(temperature=0.05)
    assert cold.backbone is colorizer.backbone
    assert _chroma(cold.predict(odd_photos, verbose=0)[0]) > _chroma(
        colorizer.predict(odd_photos, verbose=0)[0]
    )
    for decoding in ("mean", "mode"):
        assert colorizer.with_settings(decoding=decoding).predict(odd_photos[:1], verbose=0).shape[1:3] == (
            301,
            199,
        )
    with pytest.raises(ValueError, match="temperature must be > 0"):
        colorizer.with_settings(temperature=0.0)
    with pytest.raises(ValueError, match="Unknown decoding 'median'"):
        colorizer.with_settings(decoding="median")
    with pytest.raises(ValueError, match="work_size must be a positive multiple of 8"):
        colorizer.with_settings(work_size=100)
    with pytest.raises(ValueError, match="prior must sum to 1"):
        colorizer.with_settings(prior=np.ones(313))
    with pytest.raises(TypeError, match=r"backbone must be a kc\.Backbone"):
        kc.Colorizer(keras.Sequential([keras.layers.Dense(1)]))


def test_training_and_inference_see_the_same_lightness(colorizer, photos):
    """Both resize the uint8 photo (`layers.resize_uint8`, antialiased bilinear) and then take L."""
    square = photos[2][:200, :200]
    size = colorizer.work_size
    training_L, _ = training_pair(np.asarray(center_crop(square, size))[None])
    inference_L = colorizer.preprocessor.work_lightness(square[None])
    np.testing.assert_array_equal(np.asarray(inference_L), np.asarray(training_L))


def test_keras_file_round_trip_in_a_fresh_process(colorizer, odd_photos, tmp_path):
    path = tmp_path / "colorizer.keras"
    colorizer.save(path)
    np.save(tmp_path / "prior.npy", PRIOR)
    np.save(tmp_path / "photos.npy", odd_photos)
    np.save(tmp_path / "expected.npy", colorizer.predict(odd_photos, verbose=0))
    _in_fresh_process(f"""
        import keras, numpy as np
        import keras_colorize
        model = keras.models.load_model({str(path)!r})  # no custom_objects
        assert type(model) is keras_colorize.Colorizer, type(model)
        assert model.work_size == 64 and model.metadata["loss"] == "rebalanced"
        np.testing.assert_array_equal(model.prior, np.load({str(tmp_path / "prior.npy")!r}))
        out = model.predict(np.load({str(tmp_path / "photos.npy")!r}), verbose=0)
        np.testing.assert_array_equal(out, np.load({str(tmp_path / "expected.npy")!r}))  # bit-identical
    """)


def test_preset_round_trip_in_a_fresh_process(colorizer, odd_photos, tmp_path):
    np.save(tmp_path / "prior.npy", PRIOR)
    folder = colorizer.save_to_preset(tmp_path / "preset")
    assert sorted(os.listdir(folder)) == ["config.json", "metadata.json", "model.weights.h5"]
    metadata = json.loads((tmp_path / "preset" / "metadata.json").read_text())
    assert metadata["description"] == "tiny random full for tests"
    assert (metadata["variant"], metadata["width"], metadata["weights_dtype"]) == ("full", 0.125, "float32")
    half = colorizer.save_to_preset(tmp_path / "half", weights_dtype="float16")
    sizes = [os.path.getsize(os.path.join(f, "model.weights.h5")) for f in (folder, half)]
    assert sizes[1] < 0.6 * sizes[0]
    np.save(tmp_path / "photos.npy", odd_photos)
    np.save(tmp_path / "expected.npy", colorizer.predict(odd_photos, verbose=0))
    _in_fresh_process(f"""
        import numpy as np
        import keras_colorize as kc
        photos = np.load({str(tmp_path / "photos.npy")!r})
        expected = np.load({str(tmp_path / "expected.npy")!r})
        exact = kc.Colorizer.from_preset({str(folder)!r})
        np.testing.assert_array_equal(exact.predict(photos, verbose=0), expected)  # bit-identical
        np.testing.assert_array_equal(exact.prior, np.load({str(tmp_path / "prior.npy")!r}))
        half = kc.Colorizer.from_preset({str(half)!r})
        assert {{str(v.dtype) for v in half.weights}} == {{"float32"}}  # float16 on disk, float32 in memory
        assert np.abs(half.predict(photos, verbose=0).astype(int) - expected).mean() < 1.0
        vivid = kc.Colorizer.from_preset({str(folder)!r}, temperature=0.1, work_size=32)
        assert (vivid.temperature, vivid.work_size) == (0.1, 32)
    """)


def test_what_from_preset_accepts(colorizer, tmp_path, monkeypatch):
    keras_file = tmp_path / "model.keras"
    colorizer.save(keras_file)
    assert kc.Colorizer.from_preset(str(keras_file), temperature=0.2).temperature == 0.2
    (tmp_path / "not_a_preset").mkdir()
    with pytest.raises(ValueError, match="a folder but not a preset"):
        kc.Colorizer.from_preset(str(tmp_path / "not_a_preset"))
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match=r"not a \.keras file"):
        kc.Colorizer.from_preset(str(tmp_path / "weights.h5"))
    with pytest.raises(FileNotFoundError, match=r"no such preset, preset folder or \.keras file"):
        kc.Colorizer.from_preset("no_such_preset")
    with pytest.raises(ValueError, match="Unknown overrides"):
        kc.Colorizer.from_preset(str(keras_file), width=2)
    # Bundled presets are the folders of the package-data directory.
    monkeypatch.setattr(presets, "PRESETS_DIR", str(tmp_path / "bundled"))
    colorizer.save_to_preset(tmp_path / "bundled" / "tiny")
    assert kc.Colorizer.presets == {"tiny": "tiny random full for tests"}
    assert kc.Colorizer.from_preset("tiny").work_size == 64
    monkeypatch.setattr(presets, "DEFAULT_PRESET", None)
    with pytest.raises(
        ValueError, match=r"^No default preset: keras_colorize.presets.DEFAULT_PRESET is None"
    ):
        kc.Colorizer.from_preset()
    monkeypatch.setattr(presets, "DEFAULT_PRESET", "gone")
    with pytest.raises(ValueError, match="The default preset 'gone' is missing"):
        kc.Colorizer.from_preset()
    monkeypatch.setattr(presets, "DEFAULT_PRESET", "tiny")
    assert kc.Colorizer.from_preset().metadata["variant"] == "full"


def test_the_regression_backbone(photos):
    l2 = tiny_colorizer("l2", seed=2)
    assert l2.regression and l2.predict(photos[0][None, :50, :70], verbose=0).shape == (1, 50, 70, 3)
    with pytest.raises(ValueError, match="no distribution over bins"):
        l2.distribution(photos[0][None])


def test_colorize_takes_paths_bytes_arrays_and_lists(colorizer, photo_paths):
    path = str(photo_paths[2])
    rgb = load_image(path)
    expected = colorizer.colorize(path)
    # Eager, in bands of rows: the same layers as predict (graph); see test_one_path for the tolerance.
    assert np.abs(expected.astype(int) - colorizer.predict(rgb[None], verbose=0)[0]).max() <= 1
    np.testing.assert_array_equal(colorizer.colorize(photo_paths[2].read_bytes()), expected)
    np.testing.assert_array_equal(colorizer.colorize(rgb), expected)
    as_list = colorizer.colorize([path, rgb])
    assert isinstance(as_list, list) and len(as_list) == 2
    np.testing.assert_array_equal(as_list[1], expected)
    batch = colorizer.colorize(np.stack([rgb, rgb[::-1]]))
    assert batch.shape == (2, *rgb.shape)
    gray = np.asarray(Image.fromarray(rgb).convert("L"))  # 2-D arrays are gray photos
    assert colorizer.colorize(gray).shape == rgb.shape
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(colorizer.colorize(rgba), expected)  # alpha is dropped


def test_bands_of_rows_are_exact(colorizer, photos, monkeypatch):
    from keras_colorize import colorizer as module

    whole = colorizer.colorize(photos[3])
    monkeypatch.setattr(module, "_STRIP_PIXELS", photos[3].shape[1] * 7)  # bands of 7 rows
    np.testing.assert_array_equal(colorizer.colorize(photos[3]), whole)


def test_batches_of_different_sizes_match_one_at_a_time(colorizer, photos):
    images = [photos[0], photos[3][:150, :97], photos[4][:64, :200]]
    together = colorizer.colorize(images, batch_size=3)
    for image, result in zip(images, together, strict=True):
        assert result.shape == image.shape
        # Batched convolutions may round differently in the last float bits.
        assert np.abs(colorizer.colorize(image).astype(int) - result).max() <= 1


def test_valid_oddities_are_colorized(colorizer, photo_paths):
    for name, data in generate.valid_oddities(photo_paths[0].read_bytes()).items():
        expected = Image.open(io.BytesIO(data))
        out = colorizer.colorize(data)
        assert out.shape == (expected.height, expected.width, 3), name
        if name == "animated.gif":  # the first (black) frame, not the white one
            assert _lightness(out).max() < 10.0  # ~0 up to gamut clipping; the white frame is 100


def test_exif_orientation_is_applied(colorizer, photo_paths):
    rotated = generate.exif_rotated(photo_paths[0].read_bytes())
    assert colorizer.colorize(rotated).shape == (48, 40, 3)  # stored 48 wide, 40 high


def test_bad_photo_files_name_the_input_and_the_problem(colorizer, photo_paths, tmp_path):
    expectations = generate.write_inputs(tmp_path, photo_paths[0].read_bytes())
    for name, words in expectations.items():
        if words is None:
            continue
        with pytest.raises(UnreadableImageError) as raised:
            colorizer.colorize(str(tmp_path / name))
        message = str(raised.value)
        # the truncated JPEG's words differ per decoder ("" in the fixture): check its kind instead
        assert message.startswith(str(tmp_path / name)), message
        assert words in message if words else skip_kind(message) == "corrupt or truncated", message
    with pytest.raises(UnreadableImageError, match=r"too large, 12000x9000 = 108\.0 megapixels"):
        load_photo(str(tmp_path / "huge.jpg"))
    with pytest.raises(UnreadableImageError, match="image 1: expected an"):
        colorizer.colorize([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 5), np.uint8)])
    with pytest.raises(UnreadableImageError, match=r"expected uint8 pixels 0..255, got float64"):
        colorizer.colorize(np.full((4, 4, 3), 0.5))
    with pytest.raises(UnreadableImageError, match="cannot read"):
        colorizer.colorize(str(tmp_path / "missing.jpg"))
    with pytest.raises(UnreadableImageError, match=r"too large, 20x20 = 0\.0 megapixels"):
        colorizer.colorize(np.zeros((20, 20, 3), np.uint8), max_pixels=100)


def test_a_header_too_large_for_pillow_gets_our_message(colorizer):
    """A 60000 x 60000 PNG header (Pillow alone would call it a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)  # 3.6 gigapixels, no pixel data
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"")
    with pytest.raises(UnreadableImageError) as raised:
        load_photo(png, "huge.png")
    assert (
        str(raised.value)
        == "huge.png: too large, 60000x60000 = 3600.0 megapixels (the limit is 50 megapixels)"
    )
