"""A STAND-IN for TensorFlow Serving, used only by the tests (never deploy it).

The tests cannot run the tensorflow/serving Docker image, so this serves the
exported SavedModel the way TF Serving does, closely enough to test
serving/client.py end to end:

* gRPC PredictionService (tensorflow_serving.apis): Predict and
  GetModelMetadata. Each version under --model_base_path is loaded with the
  TF1 session loader (tags "serve") that TF Serving itself uses, and a Predict
  runs the requested signature by its SignatureDef tensor names.
* REST: POST /v1/models/<name>[/versions/<v>]:predict with {"instances": ...}
  (and "signature_name"); GET /v1/models/<name>[/versions/<v>]/metadata.

Unknown model or version -> NOT_FOUND (HTTP 404); unknown signature, missing
inputs or a graph error -> INVALID_ARGUMENT (HTTP 400) with the message, as
TF Serving answers. It listens on 127.0.0.1 only and prints one JSON line
{"grpc_port": ..., "rest_port": ...} once ready.

    python tests/serving_stub_server.py --model_base_path=/tmp/models/colorizer
"""

import base64
import json
import os
import re
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from absl import app, flags
from google.protobuf import json_format

try:  # the serving extra; tests/test_serving.py skips (or fails under CI=true) before starting this
    import grpc
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        predict_pb2,
        prediction_service_pb2_grpc,
    )
except ImportError as error:
    sys.exit(
        f"error: the serving stub needs the serving extra ({error.name} is not installed): "
        'pip install -e ".[serving]"'
    )

FLAGS = flags.FLAGS
flags.DEFINE_string("model_base_path", None, "Directory of numbered SavedModel versions.")
flags.DEFINE_string("model_name", "colorizer", "Name clients must ask for.")
flags.DEFINE_integer("port", 0, "gRPC port (0: any free port).")
flags.DEFINE_integer("rest_port", 0, "REST port (0: any free port).")


class ServingError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code


_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}
_HTTP_STATUS = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.INVALID_ARGUMENT: 400}


class Servables:
    """Every version of one model, each in its own graph and session."""

    def __init__(self, name: str, base_path: str):
        self.name = name
        self.versions = {}
        for entry in os.listdir(base_path):
            if entry.isdigit():
                graph = tf.Graph()
                session = tf.compat.v1.Session(graph=graph)
                with graph.as_default():
                    meta_graph = tf.compat.v1.saved_model.loader.load(
                        session, ["serve"], os.path.join(base_path, entry)
                    )
                self.versions[int(entry)] = (session, meta_graph.signature_def)
        if not self.versions:
            raise ValueError(f"No numbered versions under {base_path}")

    def find(self, name: str, version: int | None):
        if name != self.name:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({name})")
        version = max(self.versions) if version is None else version
        if version not in self.versions:
            raise ServingError(
                grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Specific({name}, {version})"
            )
        return version, *self.versions[version]

    def run(self, name, version, signature_name, inputs: dict[str, np.ndarray]) -> tuple[int, dict]:
        version, session, signatures = self.find(name, version)
        signature_name = signature_name or "serving_default"
        if signature_name not in signatures:
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature key "{signature_name}" not found.'
            )
        signature = signatures[signature_name]
        if set(inputs) != set(signature.inputs):
            raise ServingError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"Signature {signature_name} expects inputs {sorted(signature.inputs)}, got {sorted(inputs)}",
            )
        feed = {signature.inputs[key].name: value for key, value in inputs.items()}
        fetch = {key: output.name for key, output in signature.outputs.items()}
        try:
            return version, session.run(fetch, feed)
        except tf.errors.OpError as error:
            raise ServingError(
                _GRPC_CODES.get(error.error_code, grpc.StatusCode.INTERNAL), error.message
            ) from None
        except (ValueError, TypeError) as error:  # a feed of the wrong dtype or rank
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None


def signature_def_map(signatures) -> get_model_metadata_pb2.SignatureDefMap:
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in signatures.items():
        signature_map.signature_def[key].CopyFrom(signature)
    return signature_map


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, servables: Servables):
        self.servables = servables

    def Predict(self, request, context):  # noqa: N802 (the gRPC method name)
        version = request.model_spec.version.value if request.model_spec.HasField("version") else None
        try:
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            version, outputs = self.servables.run(
                request.model_spec.name, version, request.model_spec.signature_name, inputs
            )
        except ServingError as error:
            context.abort(error.code, str(error))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802
        version = request.model_spec.version.value if request.model_spec.HasField("version") else None
        if list(request.metadata_field) != ["signature_def"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field signature_def must be requested")
        try:
            version, _, signatures = self.servables.find(request.model_spec.name, version)
        except ServingError as error:
            context.abort(error.code, str(error))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version
        response.metadata["signature_def"].Pack(signature_def_map(signatures))
        return response


def _to_json(value: np.ndarray, binary: bool):
    if value.dtype == object:
        return [{"b64": base64.b64encode(v).decode()} if binary else v.decode() for v in value]
    return value.tolist()


def _from_json(values: list):
    if values and isinstance(values[0], dict) and "b64" in values[0]:
        return np.array([base64.b64decode(v["b64"]) for v in values], dtype=object)
    array = np.array(values)
    return array.astype(np.float32) if array.dtype == np.float64 else array


class RestHandler(BaseHTTPRequestHandler):
    """TF Serving's REST API, row ("instances") format only."""

    servables: Servables
    route = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?(:predict|/metadata)$")

    def _answer(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str):
        match = self.route.match(self.path)
        if not match or (method == "POST") != (match.group(3) == ":predict"):
            return self._answer(404, {"error": f"Malformed request: {method} {self.path}"})
        name, version = match.group(1), int(match.group(2)) if match.group(2) else None
        try:
            if method == "GET":
                version, _, signatures = self.servables.find(name, version)
                signature_map = json_format.MessageToDict(
                    signature_def_map(signatures), preserving_proto_field_name=True
                )
                return self._answer(
                    200,
                    {
                        "model_spec": {"name": name, "version": str(version)},
                        "metadata": {"signature_def": signature_map},
                    },
                )
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            instances = body.get("instances")
            if not isinstance(instances, list):
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, 'Missing "instances" list')
            if instances and isinstance(instances[0], dict) and "b64" not in instances[0]:
                inputs = {key: _from_json([row[key] for row in instances]) for key in instances[0]}
            else:  # one unnamed input: the signature's only one
                _, _, signatures = self.servables.find(name, version)
                signature = signatures.get(body.get("signature_name") or "serving_default")
                keys = list(signature.inputs) if signature else ["image_bytes"]
                inputs = {keys[0]: _from_json(instances)}
            _, outputs = self.servables.run(name, version, body.get("signature_name"), inputs)
        except ServingError as error:
            return self._answer(_HTTP_STATUS.get(error.code, 500), {"error": str(error)})
        except (KeyError, ValueError) as error:
            return self._answer(400, {"error": f"Malformed request body: {error}"})
        columns = {key: _to_json(value, key.endswith("_bytes")) for key, value in outputs.items()}
        if len(columns) == 1:
            return self._answer(200, {"predictions": next(iter(columns.values()))})
        rows = [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        return self._answer(200, {"predictions": rows})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def log_message(self, *args):
        del args  # quiet: the tests read stdout


def main(argv):
    del argv
    servables = Servables(FLAGS.model_name, FLAGS.model_base_path)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", 256 << 20), ("grpc.max_send_message_length", 256 << 20)],
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(servables), server)
    grpc_port = server.add_insecure_port(f"127.0.0.1:{FLAGS.port}")
    server.start()
    RestHandler.servables = servables
    rest = ThreadingHTTPServer(("127.0.0.1", FLAGS.rest_port), RestHandler)
    threading.Thread(target=rest.serve_forever, daemon=True).start()
    print(json.dumps({"grpc_port": grpc_port, "rest_port": rest.server_address[1]}), flush=True)
    try:
        server.wait_for_termination()
    finally:
        rest.shutdown()
    sys.exit(0)


if __name__ == "__main__":
    flags.mark_flag_as_required("model_base_path")
    app.run(main)
