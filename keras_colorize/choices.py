"""The choices of the command-line flags, importable without TensorFlow (for a fast --help).

The modules that implement them (`keras_colorize.model`, `keras_colorize.distribute`,
`keras_colorize.precision`, `keras_colorize.runtimes`, `keras_colorize.presets`,
`keras_colorize.temporal`, `keras_colorize.video`) use or
re-export these names; tests/test_cli.py checks that they agree.
"""

# --variant of train: the network variants (`keras_colorize.model.VARIANTS` holds their layouts).
# The last is not the paper's network: an ImageNet-pretrained MobileNetV2 encoder and a U-Net decoder
# (`keras_colorize.model.PRETRAINED_VARIANTS`).
PRETRAINED_VARIANT_NAMES = ("mobilenet_v2_unet",)
VARIANT_NAMES = ("full", "5block_dilated", "4block", "l2", *PRETRAINED_VARIANT_NAMES)
# --loss of train.
LOSSES = ("rebalanced", "plain", "l2")
# --strategy of train (`keras_colorize.distribute`).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# --mixed_precision of train (`keras_colorize.precision.PRECISIONS` maps them to Keras policies).
TRAIN_PRECISIONS = ("auto", "none", "bfloat16", "float16")
# --classifier of evaluate and study: the bundled offline MobileNet v2 (`keras_colorize.classifier`).
BUNDLED_CLASSIFIER = "mobilenet_v2"
# --protocol of evaluate (`keras_colorize.evaluation`).
EVAL_PROTOCOLS = ("photos", "imagenet5k")
# --runtime of colorize: what runs the network (auto: the fastest installed).
RUNTIMES = ("auto", "tensorflow", "openvino", "onnxruntime")
# --precision of colorize and export.
INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16", "int8")
# --format of export.
FORMATS = ("saved_model", "onnx", "openvino")
# How a preset stores its weights (--weights_dtype).
WEIGHTS_DTYPES = ("float32", "float16")
# The defaults of video (`keras_colorize.temporal`, `keras_colorize.video`): --temporal (the smoothing
# strength), --cut_threshold (an L-histogram distance), the encoding and --chunk_frames (resume).
VIDEO_TEMPORAL = 0.95
VIDEO_CUT_THRESHOLD = 0.3
VIDEO_CODEC = "libx264"
VIDEO_CRF = 18  # x264: 0 lossless, 18 about visually lossless, 23 x264's own default
VIDEO_PIX_FMT = "yuv420p"
VIDEO_CHUNK_FRAMES = 240
