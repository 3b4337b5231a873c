"""Colorize photos with a TensorFlow Serving deployment of the colorizer.

    python serving/client.py --server=localhost:8500 --input=photos/ --output=out/
    python serving/client.py --rest_url=http://localhost:8501 --input=a.jpg --output=out/
    python serving/client.py --server=localhost:8500 --metadata

gRPC (PredictionService.Predict / GetModelMetadata) by default, REST with
--rest_url. Photos go one per request, so a bad one fails alone: its error
(INVALID_ARGUMENT and the server's message) is listed and the others go
through (a request that fails INVALID_ARGUMENT is retried once, in case the
server's batching merged it with someone else's bad photo). Photos with an
EXIF orientation are sent upright (re-encoded as PNG), as the Python API and
CLI see them; formats the server does not decode (TIFF, and anything else
Pillow reads but the graph's JPEG/PNG/GIF/BMP/WebP decoders do not) are
re-encoded as PNG here, so the client accepts what the CLI accepts. Outputs
are PNGs laid out as `python -m keras_colorize.colorize` does. Exit status
(as every command's): 0 done, 1 some photos failed (listed), 2 the server or
model could not be used at all, or a usage error (one `error:` line).
"""

import base64
import io
import json
import os
import sys
import urllib.error
import urllib.request

import grpc
from absl import app, flags
from PIL import Image, ImageOps
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from keras_colorize.command import fail
from keras_colorize.photo_files import plan_outputs, print_summary

try:
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc
except ImportError:
    sys.exit(fail('the client needs TF Serving\'s gRPC stubs: pip install -e ".[serving]" in the repository'))

FLAGS = flags.FLAGS
flags.DEFINE_string("server", "localhost:8500", "TF Serving gRPC address (host:port).")
flags.DEFINE_string("rest_url", None, "Use REST at this URL instead of gRPC, e.g. http://localhost:8501.")
flags.DEFINE_string("model_name", "colorizer", "Model name in the server's model config.")
flags.DEFINE_integer("model_version", None, "A specific version (default: the server's latest).")
flags.DEFINE_string("signature_name", None, "serving_default, or colorize when --temperature is given.")
flags.DEFINE_float("temperature", None, "Annealed-mean temperature (> 0); uses the colorize signature.")
flags.DEFINE_multi_string("input", [], "Photo files or folders (recursive); repeatable.")
flags.DEFINE_string("output", None, "Folder for the colorized PNGs.")
flags.DEFINE_bool("metadata", False, "Print the model's signatures and exit.")
flags.DEFINE_float("timeout", 120.0, "Seconds per request.")

MAX_MESSAGE_BYTES = 256 << 20  # a 50-megapixel photo's PNG fits
FATAL = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED)


class ServerError(Exception):
    """A request the server refused: `code` (a gRPC status name) and its message."""

    def __init__(self, code: str, message: str):
        # One line: drop TF's "Graph execution error:" preamble and node names.
        lines = [line.strip() for line in message.splitlines()]
        message = " ".join(line for line in lines if line and not line.startswith(("[[", "Graph execution")))
        super().__init__(f"{code}: {message}")
        self.code = code


# What the SavedModel's decoders read (keras_colorize.serving_graph.FORMATS, as Pillow names them).
SERVED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")


def upright_bytes(path: str) -> bytes:
    """The file's bytes, or a PNG of it if it is rotated (EXIF) or in a format the server cannot decode.

    Args:
        path: the photo file.
    """
    with open(path, "rb") as file:
        data = file.read()
    try:
        with Image.open(io.BytesIO(data)) as image:
            upright = image.getexif().get(0x0112, 1) == 1  # orientation tag: already upright
            if upright and image.format in SERVED_FORMATS:
                return data
            buffer = io.BytesIO()
            ImageOps.exif_transpose(image).save(buffer, "PNG")
            return buffer.getvalue()
    except Exception:
        return data


def _signature_name() -> str:
    return FLAGS.signature_name or ("colorize" if FLAGS.temperature is not None else "serving_default")


def _string_tensor(values: list[bytes]) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))])
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=values)


def _float_tensor(values: list[float]) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(values))])
    return tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape, float_val=values)


class GrpcClient:
    def __init__(self, address: str, timeout: float):
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        options.append(("grpc.max_send_message_length", MAX_MESSAGE_BYTES))
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address, options))
        self.timeout = timeout

    def _spec(self, spec):
        spec.name = FLAGS.model_name
        if FLAGS.model_version is not None:
            spec.version.value = FLAGS.model_version

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServerError(error.code().name, error.details()) from None

    def colorize(self, data: bytes) -> bytes:
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec)
        request.model_spec.signature_name = _signature_name()
        request.inputs["image_bytes"].CopyFrom(_string_tensor([data]))
        if _signature_name() == "colorize":
            temperature = 0.38 if FLAGS.temperature is None else FLAGS.temperature
            request.inputs["temperature"].CopyFrom(_float_tensor([temperature]))
        response = self._call(self.stub.Predict, request)
        return response.outputs["colorized_png_bytes"].string_val[0]

    def metadata(self) -> dict:
        """{signature: {"inputs": {name: (dtype, shape)}, "outputs": ...}}."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self._call(self.stub.GetModelMetadata, request)
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        return {
            key: {
                side: {
                    name: (types_pb2.DataType.Name(info.dtype), [d.size for d in info.tensor_shape.dim])
                    for name, info in getattr(signature, side).items()
                }
                for side in ("inputs", "outputs")
            }
            for key, signature in signatures.signature_def.items()
        }


class RestClient:
    def __init__(self, url: str, timeout: float):
        version = f"/versions/{FLAGS.model_version}" if FLAGS.model_version is not None else ""
        self.base = f"{url.rstrip('/')}/v1/models/{FLAGS.model_name}{version}"
        self.timeout = timeout

    def _call(self, url: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data), timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            message = json.loads(error.read() or b"{}").get("error", error.reason)
            code = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}.get(error.code, f"HTTP_{error.code}")
            raise ServerError(code, message) from None
        except urllib.error.URLError as error:
            raise ServerError("UNAVAILABLE", str(error.reason)) from None

    def colorize(self, data: bytes) -> bytes:
        image = {"b64": base64.b64encode(data).decode()}
        if _signature_name() == "colorize":
            temperature = 0.38 if FLAGS.temperature is None else FLAGS.temperature
            instance = {"image_bytes": image, "temperature": temperature}
        else:
            instance = image
        body = {"signature_name": _signature_name(), "instances": [instance]}
        return base64.b64decode(self._call(self.base + ":predict", body)["predictions"][0]["b64"])

    def metadata(self) -> dict:
        signatures = self._call(self.base + "/metadata")["metadata"]["signature_def"]["signature_def"]
        return {
            key: {
                side: {
                    name: (
                        info["dtype"],
                        [int(d["size"]) for d in info.get("tensor_shape", {}).get("dim", [])],
                    )
                    for name, info in signature.get(side, {}).items()
                }
                for side in ("inputs", "outputs")
            }
            for key, signature in signatures.items()
        }


def colorize_with_retry(client: "GrpcClient | RestClient", data: bytes) -> bytes:
    """One retry on INVALID_ARGUMENT: with server-side batching, another client's
    bad photo fails the whole merged batch, ours included; a bad photo fails again."""
    try:
        return client.colorize(data)
    except ServerError as error:
        if error.code != "INVALID_ARGUMENT":
            raise
        return client.colorize(data)


def main(argv):
    del argv
    client = (
        RestClient(FLAGS.rest_url, FLAGS.timeout)
        if FLAGS.rest_url
        else GrpcClient(FLAGS.server, FLAGS.timeout)
    )
    where = FLAGS.rest_url or FLAGS.server
    if FLAGS.metadata:
        try:
            signatures = client.metadata()
        except ServerError as error:
            return fail(f"{where}, model {FLAGS.model_name}: {error}; check --server and --model_name")
        for key, sides in sorted(signatures.items()):
            if key.startswith("__"):  # the SavedModel's init op, not a signature to call
                continue
            inputs = ", ".join(f"{n} {d} {s}" for n, (d, s) in sorted(sides["inputs"].items()))
            outputs = ", ".join(f"{n} {d} {s}" for n, (d, s) in sorted(sides["outputs"].items()))
            print(f"{key}: {inputs} -> {outputs}")
        return 0
    if not FLAGS.input or not FLAGS.output:
        return fail("--input and --output are required (or use --metadata); run with --help for the flags")
    try:
        pairs, missing = plan_outputs(FLAGS.input, FLAGS.output)
    except ValueError as error:
        return fail(str(error))
    skipped = [(path, "no such file or folder") for path in missing]
    done = 0
    for path, target in pairs:
        try:
            png = colorize_with_retry(client, upright_bytes(path))
        except OSError as error:
            skipped.append((path, f"cannot read ({error.strerror})"))
            continue
        except ServerError as error:
            if error.code in {code.name for code in FATAL}:  # every other request would fail the same way
                return fail(f"{where}, model {FLAGS.model_name}: {error}; check the server and model")
            skipped.append((path, str(error)))
            continue
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        with open(target, "wb") as file:
            file.write(png)
        done += 1
    print_summary(done, skipped, FLAGS.output)
    if skipped:
        print(f"error: {len(skipped)} input(s) failed (listed above with the reason)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
