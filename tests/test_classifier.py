"""The classifier wrapper on the committed tflite MobileNet and labelled fixture photos."""

import pathlib

import keras
import numpy as np
import pytest

from keras_colorize.classifier import (
    Classifier,
    ClassifierUnavailableError,
    center_crop,
    read_class_names,
    read_labels,
)
from keras_colorize.images import load_image

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
TFLITE = FIXTURES / "classifier" / "mobilenet_v2_1.0_224_quant.tflite"
SEMANTIC = FIXTURES / "semantic"


@pytest.fixture(scope="module")
def classifier():
    return Classifier(str(TFLITE), num_threads=1)


def test_labels_and_names():
    labels = read_labels(SEMANTIC / "labels.csv")
    assert len(labels) == 5 and labels["ILSVRC2012_val_00009111.JPEG"] == 0
    names = read_class_names(FIXTURES / "classifier" / "imagenet_labels.txt")  # 1001 lines, background first
    assert len(names) == 1000 and names[0] == "tench" and names[217] == "English springer"
    assert read_class_names(FIXTURES / "classifier" / "synsets.txt") == names


def test_recognises_labelled_photos(classifier):
    labels = read_labels(SEMANTIC / "labels.csv")
    for name, label in labels.items():
        scores = classifier.scores(load_image(SEMANTIC / name))
        assert scores.shape == (1000,)
        assert scores.sum() == pytest.approx(1.0, abs=1e-6)
        assert label in np.argsort(-scores)[:5], name


def test_gray_noise_is_not_confidently_a_label(classifier):
    noise = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    scores = classifier.scores(noise)
    assert scores.max() < 0.9


def test_center_crop():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 100:] = 255  # right half white
    crop = center_crop(image, 32)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert crop[:, :10].max() == 0 and crop[:, -10:].min() == 255


def test_keras_classifier_with_background_output(tmp_path):
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    # 1001 outputs, background first: class i is output i + 1; the red channel drives class 7.
    kernel = np.zeros((3, 1001), np.float32)
    kernel[0, 8] = 1.0
    outputs = keras.layers.Dense(
        1001, activation="softmax", kernel_initializer=keras.initializers.Constant(kernel)
    )(pooled)
    path = tmp_path / "toy.keras"
    keras.Model(inputs, outputs).save(path)
    toy = Classifier(str(path))
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    assert int(np.argmax(toy.scores(red))) == 7


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.tflite"):
        Classifier(str(tmp_path / "missing.tflite"))
    with pytest.raises(ValueError, match="Unknown classifier"):
        Classifier("vgg")
    bad = tmp_path / "labels.csv"
    bad.write_text("file,wnid,class_index,name\na.jpg,n0,1000,x\n")
    with pytest.raises(ValueError, match="line 2"):
        read_labels(bad)


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_keras_classifiers_offline_fail_in_one_line(monkeypatch, name):
    import keras

    def offline(**kwargs):
        raise Exception(
            "URL fetch failure on https://storage.googleapis.com/tensorflow/keras-applications/x.h5"
        )

    monkeypatch.setattr(keras.applications, {"vgg16": "VGG16", "resnet50": "ResNet50"}[name], offline)
    with pytest.raises(ClassifierUnavailableError) as error:
        Classifier(name)
    message = str(error.value)
    assert (
        "\n" not in message and f"--classifier={name}" in message and "--classifier=mobilenet_v2" in message
    )


def test_bundled_classifier_is_the_offline_mobilenet(classifier):
    bundled = Classifier("mobilenet_v2", num_threads=1)
    assert bundled.name == "mobilenet_v2_1.0_224_quant.tflite" and bundled.size == 224
    rgb = np.random.default_rng(0).integers(0, 256, (100, 120, 3), dtype=np.uint8)
    np.testing.assert_allclose(bundled.scores(rgb), classifier.scores(rgb))
