"""Other runtimes and precisions: ONNX / OpenVINO exports, int8, bfloat16, `auto`, missing runtimes.

A tiny network (4block, width 0.125, 64 px working size) whose logits are
scaled up so the colour distribution is peaked and the photos get real,
varied colours (random weights alone give near-uniform bins, which any
precision reproduces). Agreement with the TensorFlow float32 path is
measured on the uint8 output pixels (stated tolerances below).
"""

import doctest
import io
import pathlib
import sys

import numpy as np
import pytest
from fixtures.extras import requires

from keras_colorize import colorize, export, runtimes
from keras_colorize.colorizer import Colorizer
from keras_colorize.model import build_model
from keras_colorize.runtimes import installed, runners, selection
from keras_colorize.runtimes.installed import MissingRuntimeError

PHOTOS = pathlib.Path(__file__).parent / "fixtures" / "photos"

# uint8 output pixels against TensorFlow float32: (largest |difference|, mean |difference|)
# (measured on this network: float32 (1, 0.0000), bfloat16 (1, 0.0001), int8 (1, 0.0007); the int8 files are
# checked to hold quantised operations, so they cannot pass by being float).
TOLERANCE = {"float32": (1, 0.001), "bfloat16": (2, 0.01), "int8": (3, 0.01)}
ONNX = requires("cpu", *installed.MODULES["onnxruntime"])
OPENVINO = requires("cpu", *installed.MODULES["openvino"], "nncf")


# Every path for the paper's kind of network and for the pretrained-encoder one (a tiny random
# decoder on the full MobileNetV2 encoder: its depthwise convolutions, ReLU6 and global branch; slow:
# about 10 minutes on 2 shared cores, so it runs in CI's slow suite).
@pytest.fixture(scope="module", params=["4block", pytest.param("mobilenet_v2_unet", marks=pytest.mark.slow)])
def preset(request, tmp_path_factory) -> str:
    import keras

    keras.utils.set_random_seed(3)
    backbone = build_model(request.param, width=0.125)
    logits = backbone.get_layer("logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([kernel * 40.0, bias])
    return Colorizer(backbone, work_size=64).save_to_preset(tmp_path_factory.mktemp("tiny") / "preset")


@pytest.fixture(scope="module")
def reference(preset, photos) -> list[np.ndarray]:
    """The TensorFlow float32 path's pixels (and proof that they are colourful)."""
    rgbs = Colorizer.from_preset(preset).colorize(photos[:4])
    assert np.mean([np.std(rgb.astype(float) - rgb.mean(-1, keepdims=True)) for rgb in rgbs]) > 3
    return rgbs


def _assert_close(rgbs, reference, precision: str) -> None:
    worst, mean = TOLERANCE[precision]
    difference = np.concatenate(
        [np.abs(a.astype(int) - b.astype(int)).ravel() for a, b in zip(rgbs, reference, strict=True)]
    )
    assert difference.max() <= worst and difference.mean() <= mean, (difference.max(), difference.mean())


@pytest.mark.parametrize(
    ("fmt", "runtime", "precision"),
    [
        pytest.param("onnx", "onnxruntime", "float32", marks=ONNX),
        pytest.param("onnx", "onnxruntime", "int8", marks=ONNX),
        pytest.param("openvino", "openvino", "float32", marks=OPENVINO),
        pytest.param("openvino", "openvino", "int8", marks=OPENVINO),
    ],
)
def test_exported_network_runs_inside_the_colorizer(
    tmp_path, preset, photos, reference, fmt, runtime, precision
):
    colorizer = Colorizer.from_preset(preset)
    folder = export.export_network(colorizer, str(tmp_path), fmt, precision, calibration_data=[str(PHOTOS)])
    path = runtimes.network_file(folder, fmt, precision)
    loaded = Colorizer.from_preset(folder, runtime=runtime, precision=precision)
    assert loaded.runner.runtime == runtime and loaded.runner.precision == precision
    assert loaded.metadata == colorizer.metadata  # a preset folder: the same pre/post-processing
    _assert_close(loaded.colorize(photos[:4]), reference, precision)
    if precision == "int8":
        assert _quantised_operations(path) > 0


def _quantised_operations(path: str) -> int:
    if path.endswith(".onnx"):
        import onnx

        return sum(node.op_type == "QuantizeLinear" for node in onnx.load(path).graph.node)
    import openvino

    return sum(
        op.get_type_name() == "FakeQuantize" for op in openvino.Core().read_model(path).get_ordered_ops()
    )


@pytest.mark.parametrize(
    ("runtime", "precision"),
    [
        ("tensorflow", "bfloat16"),
        pytest.param("openvino", "bfloat16", marks=OPENVINO),
        pytest.param("onnxruntime", "float32", marks=ONNX),
    ],
)
def test_in_memory_conversion_agrees_with_float32(preset, photos, reference, runtime, precision):
    colorizer = Colorizer.from_preset(preset, runtime=runtime, precision=precision)
    assert colorizer.runner.precision == precision
    _assert_close(colorizer.colorize(photos[:4]), reference, precision)


def test_bfloat16_saved_model_agrees_with_float32(tmp_path, preset, photos, reference):
    import tensorflow as tf
    from PIL import Image

    path = export.export_saved_model(Colorizer.from_preset(preset), str(tmp_path), precision="bfloat16")
    signature = tf.saved_model.load(path).signatures["serving_default"]
    pngs = signature(image_bytes=tf.constant([p.read_bytes() for p in sorted(PHOTOS.glob("*.jpg"))[:4]]))
    rgbs = [np.asarray(Image.open(io.BytesIO(png))) for png in pngs["colorized_png_bytes"].numpy()]
    _assert_close(rgbs, reference, "bfloat16")


@OPENVINO
def test_int8_without_calibration_photos_says_what_it_needs(preset):
    with pytest.raises(ValueError, match="int8 needs calibration photos"):
        Colorizer.from_preset(preset, runtime="openvino", precision="int8")


def _cpuinfo(tmp_path, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return str(path)


@pytest.mark.parametrize(
    ("available", "flags", "runtime", "precision", "expected"),
    [
        (
            {"tensorflow", "openvino", "onnxruntime"},
            "avx512_bf16 avx512_vnni",
            "auto",
            "auto",
            ("openvino", "bfloat16"),
        ),
        ({"tensorflow", "openvino", "onnxruntime"}, "avx512f", "auto", "auto", ("openvino", "float32")),
        ({"tensorflow"}, "amx_bf16", "auto", "auto", ("tensorflow", "bfloat16")),
        ({"tensorflow"}, "avx512f", "auto", "auto", ("tensorflow", "float32")),
        ({"tensorflow", "onnxruntime"}, "avx512_bf16", "auto", "int8", ("onnxruntime", "int8")),
        ({"tensorflow", "onnxruntime"}, "avx512_bf16", "onnxruntime", "auto", ("onnxruntime", "float32")),
        ({"tensorflow", "openvino"}, "avx512_bf16", "tensorflow", "float32", ("tensorflow", "float32")),
    ],
)
def test_auto_choices(tmp_path, monkeypatch, available, flags, runtime, precision, expected):
    monkeypatch.setattr(selection, "is_installed", lambda name: name in available)
    monkeypatch.setattr(selection, "require", lambda module, purpose: None)
    choice = selection.choose(runtime, precision, _cpuinfo(tmp_path, flags))
    assert (choice.runtime, choice.precision) == expected, choice.why


@pytest.mark.parametrize(
    ("available", "expected"),
    [({"tensorflow", "openvino", "onnxruntime"}, "openvino"), ({"tensorflow", "onnxruntime"}, "onnxruntime")],
)
def test_int8_alone_picks_an_installed_int8_runtime_and_says_so(monkeypatch, available, expected):
    monkeypatch.setattr(selection, "is_installed", lambda name: name in available)
    monkeypatch.setattr(selection, "require", lambda module, purpose: None)
    choice = selection.choose(None, "int8")
    assert (choice.runtime, choice.precision) == (expected, "int8")
    assert (
        choice.why
        == f"{expected}, the fastest installed for int8 (the default tensorflow has none); int8: as asked"
    )


def test_what_was_not_asked_is_called_the_default(tmp_path):
    choice = selection.choose(None, None, _cpuinfo(tmp_path, "avx512f"))
    assert choice.why == "tensorflow (default); float32: (default) auto: this CPU has no native bfloat16 " + (
        "(AVX512_BF16 / AMX-BF16)"
    )
    assert "as asked" not in choice.why


def test_unsupported_precision_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tensorflow runtime runs float32 or bfloat16, not int8"):
        selection.choose("tensorflow", "int8")
    with pytest.raises(ValueError, match="--runtime 'tflite' is unknown"):
        selection.choose("tflite", "float32")


def test_auto_int8_without_an_int8_runtime_names_the_extra(monkeypatch):
    monkeypatch.setattr(selection, "is_installed", lambda name: name == "tensorflow")
    with pytest.raises(
        MissingRuntimeError, match=r"int8 runs on openvino or onnxruntime.*pip install -e \"\.\[cpu\]\""
    ):
        selection.choose("auto", "int8")


@ONNX
def test_int8_onnx_without_sympy_names_the_extra(monkeypatch, tmp_path):
    from keras_colorize.runtimes import quantize

    monkeypatch.setitem(sys.modules, "sympy", None)  # onnxruntime's int8 shape inference imports it
    with pytest.raises(MissingRuntimeError, match=r'needs sympy, .*pip install -e "\.\[cpu\]"'):
        quantize.quantize_onnx(tmp_path / "float32.onnx", tmp_path / "int8.onnx", [])


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
def test_missing_runtime_is_one_clear_line(monkeypatch, tmp_path, capsys, preset, runtime):
    monkeypatch.setitem(sys.modules, runtime, None)  # import fails as if not installed
    with pytest.raises(MissingRuntimeError) as error:
        Colorizer.from_preset(preset, runtime=runtime, precision="float32")
    message = str(error.value)
    assert (
        "\n" not in message
        and f"needs {runtime}" in message
        and 'pip install -e ".[cpu]" in the repository' in message
    )
    assert installed.EXTRA == "cpu"
    # The CLI prints it and exits with 2, no traceback.
    if "runtime" not in colorize.flags.FLAGS:
        colorize.define_flags()
    output = tmp_path / "out"
    colorize.flags.FLAGS(["colorize", f"--model={preset}", f"--input={PHOTOS}", f"--output={output}",
                          f"--runtime={runtime}"])  # fmt: skip
    try:
        assert colorize.main([]) == 2
    finally:
        colorize.flags.FLAGS.unparse_flags()
    assert capsys.readouterr().err.strip() == f"error: {message}"


@OPENVINO
def test_cli_runs_the_chosen_runtime(tmp_path, capsys, preset, photo_paths):
    from PIL import Image

    if "runtime" not in colorize.flags.FLAGS:
        colorize.define_flags()
    source = photo_paths[0]
    colorize.flags.FLAGS(["colorize", f"--model={preset}", f"--input={source}", f"--output={tmp_path}",
                          "--runtime=openvino", "--precision=float32"])  # fmt: skip
    try:
        assert colorize.main([]) == 0
    finally:
        colorize.flags.FLAGS.unparse_flags()
    assert "Network: openvino float32 (openvino as asked; float32: as asked)" in capsys.readouterr().out
    written = np.asarray(Image.open(tmp_path / (source.stem + ".png")))
    _assert_close([written], [Colorizer.from_preset(preset).colorize(str(source))], "float32")


@OPENVINO
@ONNX
@pytest.mark.parametrize("module", [runners, selection], ids=lambda m: m.__name__)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


@OPENVINO
@ONNX
def test_export_cli_formats_and_precisions(tmp_path, preset):
    import subprocess

    def run(*args):
        command = [sys.executable, "-m", "keras_colorize.export", f"--model={preset}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    exported = run(f"--export_dir={tmp_path / 'ov'}", "--format=openvino", "--precision=bfloat16")
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "(openvino bfloat16: as asked)" in exported.stdout
    assert (tmp_path / "ov" / "1" / "network.xml").is_file() and (
        tmp_path / "ov" / "1" / "config.json"
    ).is_file()
    # Quiet without --verbose: no NNCF INFO lines, no FutureWarning from the ONNX export.
    for fmt in ("openvino", "onnx"):
        quiet = run(f"--export_dir={tmp_path / fmt}", f"--format={fmt}", "--precision=int8",
                    f"--calibration_data={PHOTOS}")  # fmt: skip
        assert quiet.returncode == 0, quiet.stderr[-2000:]
        assert quiet.stdout.strip().splitlines() == [quiet.stdout.strip()], quiet.stdout  # only "Exported"
        assert "INFO" not in quiet.stderr and "FutureWarning" not in quiet.stderr, quiet.stderr[-2000:]
    refused = run(f"--export_dir={tmp_path / 'sm'}", "--precision=int8")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: --format=saved_model has no int8 network; add --format=openvino or --format=onnx "
        "(with --calibration_data=<photos>)"
    )
    assert not (tmp_path / "sm" / "1").exists()


def test_cli_default_is_tensorflow_at_auto_precision(tmp_path, capsys, preset, photo_paths):
    """colorize without --runtime / --precision: TensorFlow, bfloat16 where the CPU computes it natively."""
    from PIL import Image

    from keras_colorize.runtimes import choose

    if "runtime" not in colorize.flags.FLAGS:
        colorize.define_flags()
    source = photo_paths[0]
    colorize.flags.FLAGS(["colorize", f"--model={preset}", f"--input={source}", f"--output={tmp_path}"])
    try:
        assert colorize.main([]) == 0
    finally:
        colorize.flags.FLAGS.unparse_flags()
    expected = choose("tensorflow", "auto")
    assert (
        f"Network: tensorflow {expected.precision} (tensorflow (default); {expected.precision}: (default) "
        in (capsys.readouterr().out)
    )
    written = np.asarray(Image.open(tmp_path / (source.stem + ".png")))
    _assert_close([written], [Colorizer.from_preset(preset).colorize(str(source))], expected.precision)
