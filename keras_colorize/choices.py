"""The choices of the command-line flags, importable without TensorFlow (for a fast --help).

The modules that implement them (`keras_colorize.runtimes`, `keras_colorize.presets`)
re-export these names.
"""

# --runtime of colorize: what runs the network (auto: the fastest installed).
RUNTIMES = ("auto", "tensorflow", "openvino", "onnxruntime")
# --precision of colorize and export.
INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16", "int8")
# --format of export.
FORMATS = ("saved_model", "onnx", "openvino")
# How a preset stores its weights (--weights_dtype).
WEIGHTS_DTYPES = ("float32", "float16")
