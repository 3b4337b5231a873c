"""The SavedModel: layout, signatures, TF1 session loading without our code, bad inputs, parity."""

import io
import json
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from fixtures.bad_inputs import generate
from fixtures.tiny import tiny_colorizer
from PIL import Image
from test_cli import one_error
from test_cli import run as run_command

from keras_colorize.colorizer import Colorizer
from keras_colorize.decoding import DEFAULT_TEMPERATURE
from keras_colorize.export import export_saved_model, next_version
from keras_colorize.serving_graph import FORMATS, header_size, image_format

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
SIGNATURES = ("serving_default", "colorize", "ab", "distribution")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny random preset (working size 256) exported through the CLI."""
    root = tmp_path_factory.mktemp("export")
    preset = tiny_colorizer("full", seed=3, work_size=256).save_to_preset(root / "preset")
    base = root / "models" / "colorizer"
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.export", f"--model={preset}", f"--export_dir={base}"],
        capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"to {base / '1'}" in result.stdout
    return {"preset": str(preset), "base": base, "version": base / "1"}


@pytest.fixture(scope="module")
def reference(exported):
    return Colorizer.from_preset(exported["preset"])


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported["version"]))


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_layout_is_versioned_atomic_and_never_overwrites(exported, reference):
    base = exported["base"]
    assert sorted(os.listdir(base)) == ["1"]  # no temporary directory left behind
    version = exported["version"]
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    assert sorted(os.listdir(version / "assets")) == ["config.json", "metadata.json"]  # provenance
    assert json.loads((version / "assets" / "metadata.json").read_text())["variant"] == "full"
    assert next_version(str(base)) == 2
    with pytest.raises(FileExistsError, match="already exists"):
        export_saved_model(reference, str(base), version=1)
    assert sorted(os.listdir(base)) == ["1"]


def test_saved_model_cli_lists_every_signature(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "show", "--dir", str(exported["version"]), "--all"],
        capture_output=True, text=True, timeout=300, env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for name in SIGNATURES:
        assert f"signature_def['{name}']:" in result.stdout
    for tensor in ("image_bytes", "temperature", "colorized_png_bytes", "['images']", "['ab']", "['probs']"):
        assert tensor in result.stdout
    assert "(-1, 64, 64, 313)" in result.stdout  # distribution at 1/4 of the 256 working size


def test_graph_has_only_core_ops_and_no_xla(exported):
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((exported["version"] / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node}
    for function in graph.library.function:
        ops |= {node.op for node in function.node_def}
        assert not function.attr["_XlaMustCompile"].b, function.signature.name
    assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
    assert {"DecodeJpeg", "EncodePng", "Conv2D"} <= ops


def test_tf1_session_loader_without_our_code(exported, reference, photo_paths, tmp_path):
    """What TF Serving does: load by tags "serve" and run each SignatureDef by tensor names.

    Keras and keras_colorize are made unimportable in that process (TensorFlow
    itself would import keras for tf.keras otherwise).
    """
    small = Image.open(photo_paths[1]).resize((150, 97))
    small.save(tmp_path / "small.png")
    images = [photo_paths[0].read_bytes(), (tmp_path / "small.png").read_bytes()]
    pixels = np.asarray(small)[None]
    np.savez(tmp_path / "inputs.npz", images=np.array(images, dtype=object), pixels=pixels)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["keras"] = sys.modules["keras_colorize"] = None  # importing either now fails
        import numpy as np
        import tensorflow as tf
        inputs = np.load({str(tmp_path / "inputs.npz")!r}, allow_pickle=True)
        feeds = {{
            "serving_default": {{"image_bytes": inputs["images"]}},
            "colorize": {{"image_bytes": inputs["images"], "temperature": np.float32([0.3, 0.5])}},
            "ab": {{"images": inputs["pixels"], "temperature": np.float32([0.3])}},
            "distribution": {{"images": inputs["pixels"]}},
        }}
        results = {{}}
        with tf.compat.v1.Session(graph=tf.Graph()) as session:
            meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], {str(exported["version"])!r})
            for name, feed in feeds.items():
                signature = meta.signature_def[name]
                fetch = {{key: info.name for key, info in signature.outputs.items()}}
                outputs = session.run(fetch, {{signature.inputs[k].name: v for k, v in feed.items()}})
                for key, value in outputs.items():
                    results[name + "/" + key] = value
        np.savez({str(tmp_path / "outputs.npz")!r}, **results)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=ENV
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "outputs.npz", allow_pickle=True)
    python = [reference.colorize(images[0]), reference.colorize(np.asarray(small))]
    for i, expected in enumerate(python):  # same photo, same temperature: identical pixels
        np.testing.assert_array_equal(_png(out["serving_default/colorized_png_bytes"][i]), expected)
    for i, temperature in enumerate((0.3, 0.5)):
        expected = reference.colorize(images[i], temperature=temperature)
        np.testing.assert_array_equal(_png(out["colorize/colorized_png_bytes"][i]), expected)
    np.testing.assert_allclose(out["ab/ab"], reference.predict_ab(pixels, np.float32([0.3])), atol=1e-3)
    np.testing.assert_allclose(out["distribution/probs"], reference.distribution(pixels), atol=1e-5)


def test_valid_oddities_in_the_graph(loaded, photo_paths):
    oddities = generate.valid_oddities(photo_paths[0].read_bytes())
    outputs = loaded.signatures["serving_default"](image_bytes=tf.constant(list(oddities.values())))
    for (name, data), png in zip(oddities.items(), outputs["colorized_png_bytes"].numpy(), strict=True):
        expected = Image.open(io.BytesIO(data))
        assert _png(png).shape == (expected.height, expected.width, 3), name
    gif = _png(outputs["colorized_png_bytes"].numpy()[list(oddities).index("animated.gif")])
    assert gif.max() < 60  # the black first frame (up to gamut clipping), not the white one


def test_bad_inputs_fail_with_invalid_argument_naming_the_problem(loaded, photo_paths):
    serve = loaded.signatures["serving_default"]
    colorize = loaded.signatures["colorize"]
    good = photo_paths[0].read_bytes()

    def error(fn, **inputs) -> str:
        with pytest.raises(tf.errors.InvalidArgumentError) as raised:
            fn(**inputs)
        return raised.value.message

    for name, (data, words) in generate.invalid(good).items():
        message = error(serve, image_bytes=tf.constant([good, data]))  # one bad image fails the request
        assert (words or "Invalid JPEG data") in message, (name, message)
        assert "image_bytes[1]" in message or not words, (name, message)
    # The limit is read from the header: a PNG claiming 12000x9000 with no pixels is refused as too large.
    message = error(serve, image_bytes=tf.constant([generate.fake_png(12000, 9000)]))
    assert "image_bytes[0]: too large, 12000x9000 = 108.0 megapixels (the limit is 50 megapixels)" in message
    assert "Empty batch" in error(serve, image_bytes=tf.constant([], tf.string))
    assert "temperature must be > 0" in error(
        colorize, image_bytes=tf.constant([good]), temperature=tf.constant([0.0])
    )
    assert "one value per image" in error(
        colorize, image_bytes=tf.constant([good, good]), temperature=tf.constant([0.3])
    )
    ab = loaded.signatures["ab"]
    pixels = tf.zeros([1, 8, 8, 3], tf.uint8)
    assert "Empty batch" in error(ab, images=pixels[:0], temperature=tf.constant([], tf.float32))
    assert "temperature must be > 0" in error(ab, images=pixels, temperature=tf.constant([-1.0]))
    assert "images must be uint8 [N, H, W, 3]" in error(
        loaded.signatures["distribution"], images=tf.zeros([1, 8, 8, 4], tf.uint8)
    )
    # After all that the signature still works.
    assert len(serve(image_bytes=tf.constant([good]))["colorized_png_bytes"].numpy()) == 1


def test_header_sizes_match_pillow(photo_paths):
    rgb = Image.open(photo_paths[0]).convert("RGB").resize((123, 45))
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    cases = {
        "jpeg": ("JPEG", {}),
        "png": ("PNG", {}),
        "gif": ("GIF", {}),
        "bmp": ("BMP", {}),
        "webp lossy": ("WEBP", {"quality": 80}),
        "webp lossless": ("WEBP", {"lossless": True}),
        "webp extended": ("WEBP", {"save_all": True, "append_images": frames[1:]}),
    }
    for name, (fmt, options) in cases.items():
        buffer = io.BytesIO()
        rgb.save(buffer, fmt, **options)
        data = tf.constant(buffer.getvalue())
        code = image_format(data)
        assert FORMATS[int(code)].upper() == fmt, name
        np.testing.assert_array_equal(header_size(data, code), [45, 123], err_msg=name)
    # An old OS/2 bitmap (12-byte header, 16-bit sizes), 5 wide and 3 high.
    row = 16
    os2 = b"BM" + struct.pack("<IHHI", 26 + 3 * row, 0, 0, 26) + struct.pack("<IHHHH", 12, 5, 3, 1, 24)
    os2 = tf.constant(os2 + b"\0" * 3 * row)
    assert Image.open(io.BytesIO(os2.numpy())).size == (5, 3)
    np.testing.assert_array_equal(header_size(os2, image_format(os2)), [3, 5])
    assert int(image_format(tf.constant(b"GIF"))) == len(FORMATS)  # too short for any header


@pytest.mark.slow
def test_regression_model_exports_without_distribution(tmp_path, photo_paths):
    colorizer = tiny_colorizer("l2")
    path = export_saved_model(colorizer, str(tmp_path / "l2"))
    signatures = tf.saved_model.load(path).signatures
    assert "distribution" not in signatures
    data = photo_paths[0].read_bytes()
    png = signatures["serving_default"](image_bytes=tf.constant([data]))["colorized_png_bytes"].numpy()[0]
    assert np.abs(_png(png).astype(int) - colorizer.colorize(data)).max() <= 1


def test_colorize_refuses_an_exported_saved_model_naming_what_to_pass(exported, photo_paths, tmp_path):
    result = run_command(
        "colorize", f"--model={exported['version']}", f"--input={photo_paths[0]}", f"--output={tmp_path}"
    )
    one_error(result, 2, "is an exported SavedModel", "pass the preset folder or .keras file it was exported")
    assert not os.listdir(tmp_path)


def test_a_bare_backbone_exports_with_the_default_settings(tmp_path):
    import keras_colorize as kc

    kc.build_model("4block", width=0.125).save(tmp_path / "backbone.keras")
    result = run_command("export", f"--model={tmp_path / 'backbone.keras'}", f"--export_dir={tmp_path / 'm'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(float32: default; signatures: serving_default" in result.stdout
    config = json.loads((tmp_path / "m" / "1" / "assets" / "config.json").read_text())["config"]
    assert (config["work_size"], config["temperature"]) == (256, DEFAULT_TEMPERATURE)


def test_export_without_model_takes_the_default_preset(tmp_path):
    (tmp_path / "m" / "1").mkdir(parents=True)
    result = run_command("export", f"--export_dir={tmp_path / 'm'}", "--version=1")
    one_error(result, 2, "m/1 already exists")  # past --model: the bundled preset loaded


def test_help_usage_lines_have_no_gaps():
    result = run_command("export", "--help")
    assert result.returncode == 0 and "[--version=N] \\\n        [--format=" in result.stdout, result.stdout
