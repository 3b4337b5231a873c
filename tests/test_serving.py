"""serving/client.py against tests/serving_stub_server.py (a stand-in for TF Serving).

The stub loads the exported SavedModel with the TF1 session loader, as TF
Serving does, and speaks its gRPC PredictionService and REST APIs. The client
needs the serving extra (TF Serving's gRPC stubs): skipped without it, except in
CI (CI=true), which installs it.
"""

import io
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys

import numpy as np
import pytest
from fixtures.bad_inputs import generate
from fixtures.extras import needs
from fixtures.tiny import tiny_colorizer
from PIL import Image

from keras_colorize.export import export_saved_model
from keras_colorize.photo_files import skip_kind

grpc = needs("grpc", "serving")
get_model_metadata_pb2 = needs("tensorflow_serving.apis.get_model_metadata_pb2", "serving")
predict_pb2 = needs("tensorflow_serving.apis.predict_pb2", "serving")
prediction_service_pb2_grpc = needs("tensorflow_serving.apis.prediction_service_pb2_grpc", "serving")

TESTS = pathlib.Path(__file__).parent
CLIENT = TESTS.parent / "serving" / "client.py"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_colorizer("full", seed=4, work_size=256)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "colorizer"
    export_saved_model(model, str(base))
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "serving_stub_server.py"), f"--model_base_path={base}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV,
    )  # fmt: skip
    try:
        ready, _, _ = select.select([process.stdout], [], [], 240)
        assert ready, "the stub server did not start within 240 s"
        ports = json.loads(process.stdout.readline())
        channel = grpc.insecure_channel(
            f"127.0.0.1:{ports['grpc_port']}", [("grpc.max_receive_message_length", 64 << 20)]
        )
        yield {
            "process": process,
            "grpc": f"127.0.0.1:{ports['grpc_port']}",
            "rest": f"http://127.0.0.1:{ports['rest_port']}",
            "stub": prediction_service_pb2_grpc.PredictionServiceStub(channel),
        }
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def photo_folder(photo_paths, tmp_path_factory):
    """Good photos of different sizes and formats, plus every kind of bad file."""
    folder = tmp_path_factory.mktemp("photos")
    shutil.copy(photo_paths[0], folder / photo_paths[0].name)
    Image.open(photo_paths[1]).resize((150, 97)).save(folder / "wide.png")
    Image.open(photo_paths[2]).resize((64, 200)).save(folder / "tall.jpg")
    (folder / "sub").mkdir()
    Image.open(photo_paths[3]).convert("L").save(folder / "sub" / "gray.jpg")
    (folder / "rotated.jpg").write_bytes(generate.exif_rotated(photo_paths[4].read_bytes()))
    Image.open(photo_paths[5]).resize((80, 60)).save(folder / "scan.tif")  # the client re-encodes it
    bad = {name: words for name, (_, words) in generate.invalid(photo_paths[0].read_bytes()).items()}
    for name, (data, _) in generate.invalid(photo_paths[0].read_bytes()).items():
        (folder / "bad" / name).parent.mkdir(exist_ok=True)
        (folder / "bad" / name).write_bytes(data)
    return folder, bad


def _client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CLIENT), *args], capture_output=True, text=True, timeout=300, env=ENV
    )


def _predict(server, images: list[bytes], **spec) -> predict_pb2.PredictResponse:
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = spec.get("name", "colorizer")
    request.model_spec.signature_name = spec.get("signature", "serving_default")
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.string))
    return server["stub"].Predict(request, timeout=120)


def _status(server, images, **spec) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as raised:
        _predict(server, images, **spec)
    return raised.value.code(), raised.value.details()


def test_grpc_client_round_trip_on_a_folder(server, model, photo_folder, photo_paths, tmp_path):
    folder, bad = photo_folder
    result = _client(f"--server={server['grpc']}", f"--input={folder}", f"--output={tmp_path}")
    assert result.returncode == 1, result.stderr[-3000:]  # 1: some photos failed, each listed
    assert f"6 colorized, 0 already done, {len(bad)} skipped; outputs in {tmp_path}" in result.stdout
    for name, words in bad.items():
        prefix = str(folder / "bad" / name)
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(prefix))
        assert "INVALID_ARGUMENT" in line and "\t" not in line, line
        assert words in line if words else skip_kind(line) == "corrupt or truncated", line
    assert (
        "huge.jpg: INVALID_ARGUMENT: assertion failed: [image_bytes[0]: too large, 12000x9000"
        in result.stdout
    )
    # Same photo, same temperature: what the server returns is what Python computes.
    colorizer = model
    checks = [
        (photo_paths[0].name, photo_paths[0].stem + ".png"),
        ("wide.png", "wide.png"),
        ("tall.jpg", "tall.png"),
        ("sub/gray.jpg", "sub/gray.png"),
        ("rotated.jpg", "rotated.png"),  # the client sends it upright, as Python reads it
        ("scan.tif", "scan.png"),  # TIFF: re-encoded by the client, not refused by the server
    ]
    for source, target in checks:
        written = np.asarray(Image.open(tmp_path / target))
        np.testing.assert_array_equal(written, colorizer.colorize(str(folder / source)))
    assert server["process"].poll() is None  # the bad files did not take the server down


def test_rest_client_with_temperature_and_version(server, model, photo_folder, tmp_path):
    folder, _ = photo_folder
    result = _client(
        f"--rest_url={server['rest']}", f"--input={folder / 'wide.png'}", f"--input={folder / 'tall.jpg'}",
        f"--output={tmp_path}", "--temperature=0.3", "--model_version=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    colorizer = model
    for source, target in (("wide.png", "wide.png"), ("tall.jpg", "tall.png")):
        expected = colorizer.colorize(str(folder / source), temperature=0.3)
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / target)), expected)


def test_client_metadata_and_fatal_errors(server, photo_folder, tmp_path):
    result = _client(f"--server={server['grpc']}", "--metadata")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "serving_default: image_bytes DT_STRING [-1] -> colorized_png_bytes DT_STRING [-1]" in lines
    colorize = "colorize: image_bytes DT_STRING [-1], temperature DT_FLOAT [-1] -> colorized_png_bytes"
    assert colorize + " DT_STRING [-1]" in lines
    assert any(line.startswith("distribution: images DT_UINT8 [-1, -1, -1, -1] -> probs") for line in lines)
    folder, _ = photo_folder
    missing = _client(
        f"--server={server['grpc']}", "--model_version=7", f"--input={folder}", f"--output={tmp_path}"
    )
    assert missing.returncode == 2
    assert "NOT_FOUND: Servable not found for request: Specific(colorizer, 7)" in missing.stderr
    assert not list(tmp_path.iterdir())


def test_grpc_status_codes_and_server_side_batches(server, photo_paths):
    good = photo_paths[0].read_bytes()
    buffer = io.BytesIO()
    Image.open(photo_paths[5]).resize((33, 77)).save(buffer, "PNG")
    response = _predict(server, [good, buffer.getvalue()])  # one request, photos of different sizes
    assert response.model_spec.version.value == 1
    pngs = response.outputs["colorized_png_bytes"].string_val
    assert [Image.open(io.BytesIO(p)).size for p in pngs] == [(192, 192), (33, 77)]

    assert _status(server, [good], name="nope")[0] == grpc.StatusCode.NOT_FOUND
    assert _status(server, [good], version=3)[0] == grpc.StatusCode.NOT_FOUND
    code, message = _status(server, [good], signature="nope")
    assert code == grpc.StatusCode.INVALID_ARGUMENT and 'signature key "nope" not found' in message
    code, message = _status(server, [good], signature="colorize")  # temperature missing
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "expects inputs ['image_bytes', 'temperature']" in message
    code, message = _status(server, [good, b"GIF89a broken"])  # one bad photo fails its request
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "image_bytes[1]" in message
    code, message = _status(server, [])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "Empty batch" in message

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "colorizer"
    metadata = server["stub"].GetModelMetadata(request, timeout=60)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert {"serving_default", "colorize", "ab", "distribution"} <= set(signatures.signature_def)
    assert server["process"].poll() is None and len(_predict(server, [good]).outputs) == 1
