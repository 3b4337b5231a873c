"""keras_colorize.Colorizer: inputs of every kind, the shared inference path, bad inputs."""

import io

import keras
import numpy as np
import pytest
from fixtures.bad_inputs import generate
from PIL import Image

import keras_colorize
from keras_colorize import inference
from keras_colorize.colorizer import Colorizer
from keras_colorize.images import UnreadableImageError, load_image
from keras_colorize.photo_files import skip_kind
from keras_colorize.preprocessing import lightness_from_uint8 as lightness


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    keras_colorize.build_model("full", width=0.125).save(path)
    return path


@pytest.fixture(scope="module")
def colorizer(model_path):
    return Colorizer(str(model_path))


def _lightness(rgb):
    return np.asarray(lightness(rgb[None].astype(np.uint8)))[0, ..., 0]


def _chroma(rgb):
    from keras_colorize.colorspace import rgb_uint8_to_lab

    lab = np.asarray(rgb_uint8_to_lab(rgb))
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def test_lazy_export_and_loading_forms(model_path, colorizer, photo_paths):
    assert keras_colorize.Colorizer is Colorizer
    from_dir = Colorizer(str(model_path.parent))  # a model directory holding model.keras
    from_model = Colorizer(keras.models.load_model(model_path))
    out = colorizer.colorize(str(photo_paths[0]))
    np.testing.assert_array_equal(from_dir.colorize(str(photo_paths[0])), out)
    np.testing.assert_array_equal(from_model.colorize(str(photo_paths[0])), out)
    with pytest.raises(FileNotFoundError, match="No model"):
        Colorizer(str(model_path.parent / "missing.keras"))


def test_full_resolution_keeps_the_photos_lightness(colorizer, photo_paths):
    rgb = load_image(photo_paths[1])
    out = colorizer.colorize(str(photo_paths[1]))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    # Only ab is predicted: L comes back up to uint8 rounding and gamut clipping.
    difference = np.abs(_lightness(out) - _lightness(rgb))
    assert difference.mean() < 0.3 and np.percentile(difference, 90) < 0.5
    assert _chroma(out) > 1.0  # it is coloured, not gray


def test_input_kinds_give_the_same_result(colorizer, photo_paths):
    path = str(photo_paths[2])
    rgb = load_image(path)
    expected = colorizer.colorize(path)
    data = photo_paths[2].read_bytes()
    np.testing.assert_array_equal(colorizer.colorize(data), expected)
    np.testing.assert_array_equal(colorizer.colorize(rgb), expected)
    np.testing.assert_array_equal(colorizer.colorize(rgb.astype(np.float32) / 255.0), expected)
    as_list = colorizer.colorize([path, data])
    assert isinstance(as_list, list) and len(as_list) == 2
    np.testing.assert_array_equal(as_list[1], expected)
    batch = colorizer.colorize(np.stack([rgb, rgb[::-1]]))
    assert batch.shape == (2, *rgb.shape)
    # Gray photos (2-D arrays) come out in colour, with their size.
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    assert colorizer.colorize(gray).shape == rgb.shape


def test_batches_of_different_sizes_match_one_at_a_time(colorizer, photos):
    images = [photos[0], photos[3][:150, :97], photos[4][:64, :200]]
    together = colorizer.colorize(images, batch_size=3)
    for image, result in zip(images, together, strict=True):
        assert result.shape == image.shape
        # Batched convolutions may round differently in the last float bits.
        assert np.abs(colorizer.colorize(image).astype(int) - result).max() <= 1


def test_predict_ab_is_the_shared_inference_path(colorizer, photos):
    L = np.asarray(lightness(photos[5][None]))
    np.testing.assert_allclose(
        colorizer.predict_ab(L, 0.3), np.asarray(inference.predict_ab(colorizer.model, L, 0.3)), atol=1e-5
    )
    probs = colorizer.distribution(L)
    assert probs.shape == (1, 64, 64, 313)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    # The saved .keras model is still a plain Keras model on L batches.
    direct = colorizer.model.predict(inference.to_work_size(L).numpy(), verbose=0)
    np.testing.assert_allclose(direct, probs, atol=1e-5)


def test_lower_temperature_is_more_vivid(colorizer, photo_paths):
    cold = colorizer.colorize(str(photo_paths[6]), temperature=0.05)
    warm = colorizer.colorize(str(photo_paths[6]), temperature=1.0)
    assert _chroma(cold) > _chroma(warm)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        colorizer.colorize(str(photo_paths[6]), temperature=0.0)


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


def test_bad_inputs_name_the_input_and_the_problem(colorizer, photo_paths, tmp_path):
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
        colorizer.load(str(tmp_path / "huge.jpg"))
    with pytest.raises(UnreadableImageError, match="image 1: expected an"):
        colorizer.colorize([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 5), np.uint8)])
    with pytest.raises(UnreadableImageError, match=r"float photos must hold finite values in \[0, 1\]"):
        colorizer.colorize(np.full((4, 4, 3), 2.0))
    with pytest.raises(UnreadableImageError, match="cannot read"):
        colorizer.colorize(str(tmp_path / "missing.jpg"))
    small_limit = Colorizer(colorizer.model, max_pixels=100)
    with pytest.raises(UnreadableImageError, match="too large"):
        small_limit.colorize(np.zeros((20, 20, 3), np.uint8))


def test_a_photo_pillow_refuses_to_open_is_skipped_as_too_large(colorizer):
    """Over ~179 megapixels Pillow raises on open: still a clear 'too large', never a crash."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)  # 200 MP, no pixel data
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"")
    with pytest.raises(UnreadableImageError, match=r"^huge\.png: too large"):
        colorizer.load(png, "huge.png")
