"""The converter against our own PyTorch model of the published eccv16 layout.

No download: a reference network with the published state_dict layout
(tests/fixtures/convert/, a copy of the documented key/shape list) is built
here with random He-normal weights and random batch-norm statistics, saved as
a .pth, converted, and both are run on the L channel of real photos. They need
PyTorch (the convert extra): skipped without it, except in CI (CI=true), which
installs it.

Tolerances: logits agree when max|keras - torch| / max|torch| < 1e-4 over the
whole output; ab of the mean decoding within 1e-3 ab units (absolute).
"""

import json
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from fixtures.extras import needs
from PIL import Image

from keras_colorize import convert
from keras_colorize.bins import NUM_BINS, bin_centers
from keras_colorize.colorizer import Colorizer
from keras_colorize.colorspace import rgb_uint8_to_lab
from keras_colorize.decoding import DEFAULT_TEMPERATURE, mean
from keras_colorize.model import build_model

torch = needs("torch", "convert")
nn = torch.nn

LAYOUT = pathlib.Path(__file__).parent / "fixtures" / "convert" / "eccv16_torch_state_dict_layout.json"
LOGITS_RTOL = 1e-4
AB_ATOL = 1e-3

# Blocks 1-7 of the published network: (in, out, stride, dilation) per 3x3 conv.
_BLOCKS = (
    ((1, 64, 1, 1), (64, 64, 2, 1)),
    ((64, 128, 1, 1), (128, 128, 2, 1)),
    ((128, 256, 1, 1), (256, 256, 1, 1), (256, 256, 2, 1)),
    ((256, 512, 1, 1), (512, 512, 1, 1), (512, 512, 1, 1)),
    ((512, 512, 1, 2),) * 3,
    ((512, 512, 1, 2),) * 3,
    ((512, 512, 1, 1),) * 3,
)


def _block(convs) -> nn.Sequential:
    modules = []
    for cin, cout, stride, dilation in convs:
        modules += [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation), nn.ReLU()]
    return nn.Sequential(*modules, nn.BatchNorm2d(convs[-1][1]))


class Reference(nn.Module):
    """The published layout: model1..model8 Sequentials and model_out (313 -> 2)."""

    def __init__(self):
        super().__init__()
        for k, convs in enumerate(_BLOCKS, start=1):
            setattr(self, f"model{k}", _block(convs))
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, NUM_BINS, 1),
        )
        self.model_out = nn.Conv2d(NUM_BINS, 2, 1, bias=False)

    def logits(self, L: torch.Tensor) -> torch.Tensor:
        x = (L - 50.0) / 100.0
        for k in range(1, 9):
            x = getattr(self, f"model{k}")(x)
        return x

    def port_ab(self, logits: torch.Tensor) -> torch.Tensor:
        """The port's decoding: 110 * model_out(softmax(logits)), at 1/4 size."""
        return 110.0 * self.model_out(torch.softmax(logits, dim=1))


def _randomize(reference: Reference) -> None:
    """He-normal convs, random batch-norm statistics and affine parameters.

    Activations stay alive through the 8 blocks (std about 0.5, varying over
    the image); the logits layer gets 3x the He gain so the 313-bin
    distributions are less flat and their mean ab varies by several units.
    (Larger gains sharpen them further but also amplify float32 rounding:
    at 8x, logits agreeing to 4e-6 relative move the mean ab by 2.5e-3.)
    """
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, nn.Conv2d | nn.ConvTranspose2d) and module.bias is not None:
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu", generator=generator)
                module.bias.uniform_(-0.1, 0.1, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
                module.running_mean.uniform_(0.0, 1.0, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.num_batches_tracked.fill_(1000)
        reference.model8[6].weight.mul_(3.0)
        table = torch.from_numpy(bin_centers().T.copy()) / 110.0
        reference.model_out.weight.copy_(table.reshape(2, NUM_BINS, 1, 1))


@pytest.fixture(scope="module")
def reference() -> Reference:
    model = Reference()
    _randomize(model)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(reference, tmp_path_factory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("torch") / "eccv16_random.pth"
    torch.save(reference.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def state_dict(checkpoint) -> dict[str, np.ndarray]:
    return convert.load_state_dict(checkpoint)


@pytest.fixture(scope="module")
def keras_model(state_dict) -> keras.Model:
    model = build_model("full")
    convert.load_into(model, state_dict)
    return model


@pytest.fixture(scope="module")
def lightness(photos) -> list[np.ndarray]:
    """L [1, H, W, 1] of three photos at 256x256, 64x64 and 64x96 (H x W)."""
    sizes = ((256, 256), (64, 64), (64, 96))
    out = []
    for photo, (height, width) in zip(photos, sizes, strict=False):
        rgb = np.asarray(Image.fromarray(photo).resize((width, height), Image.BILINEAR))
        out.append(np.asarray(rgb_uint8_to_lab(rgb[None]))[..., :1].astype(np.float32))
    return out


def _torch_logits(reference: Reference, L: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return reference.logits(torch.from_numpy(L).permute(0, 3, 1, 2))


def _relative_error(keras_logits: np.ndarray, torch_logits: torch.Tensor) -> float:
    expected = torch_logits.permute(0, 2, 3, 1).numpy()
    return float(np.max(np.abs(keras_logits - expected)) / np.max(np.abs(expected)))


def _keras_logits(model: keras.Model, L: np.ndarray) -> np.ndarray:
    logits = keras.Model(model.input, model.get_layer("logits").output)
    return np.asarray(logits(L, training=False))


def test_reference_has_the_published_layout(reference):
    layout = json.loads(LAYOUT.read_text())
    published = {t["key"]: tuple(t["shape"]) for t in layout["tensors"]}
    ours = {key: tuple(value.shape) for key, value in reference.state_dict().items()}
    assert ours == published
    assert len(published) == layout["num_tensors"] == 82


def test_converter_uses_every_published_tensor(reference):
    targets = convert.torch_targets(build_model("full"))
    layout = json.loads(LAYOUT.read_text())["tensors"]
    keys = {t["key"] for t in layout}
    counters = {key for key in keys if key.endswith("num_batches_tracked")}
    assert set(targets) == keys - counters - {convert.DECODER_KEY}
    assert len(counters) == 7
    for t in layout:
        if t["key"] in targets:
            assert convert._torch_shape(targets[t["key"]]) == tuple(t["shape"]), t["key"]


def test_transposed_conv_needs_no_kernel_flip():
    """torch ConvTranspose2d(4, stride 2, padding 1) == Keras Conv2DTranspose 'same' after the permutation."""
    torch_layer = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1)
    x = np.random.default_rng(1).normal(size=(1, 5, 7, 3)).astype(np.float32)
    with torch.no_grad():
        expected = torch_layer(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    keras_layer = keras.layers.Conv2DTranspose(2, 4, strides=2, padding="same")
    keras_layer.build((1, 5, 7, 3))
    kernel = np.transpose(torch_layer.weight.detach().numpy(), convert.TORCH_TO_KERAS)
    keras_layer.set_weights([kernel, torch_layer.bias.detach().numpy()])
    np.testing.assert_allclose(np.asarray(keras_layer(x)), expected, atol=1e-5)
    keras_layer.set_weights([kernel[::-1, ::-1], torch_layer.bias.detach().numpy()])
    assert np.max(np.abs(np.asarray(keras_layer(x)) - expected)) > 0.1


def test_logits_and_mean_decoding_match_the_reference(reference, keras_model, lightness):
    for L in lightness:
        torch_logits = _torch_logits(reference, L)
        keras_logits = _keras_logits(keras_model, L)
        assert keras_logits.shape == (1, L.shape[1] // 4, L.shape[2] // 4, NUM_BINS)
        # The reference output varies over the image, so agreement means something.
        assert torch_logits.std(dim=(2, 3)).mean() > 0.1 * torch_logits.abs().mean()
        assert _relative_error(keras_logits, torch_logits) < LOGITS_RTOL
        with torch.no_grad():
            port_ab = reference.port_ab(torch_logits).permute(0, 2, 3, 1).numpy()
        probs = np.asarray(keras_model(L, training=False))
        np.testing.assert_allclose(np.asarray(mean(probs)), port_ab, rtol=0, atol=AB_ATOL)
        assert port_ab.std(axis=(1, 2)).min() > 3.0  # ab varies by several units


def _same_padding(layer):
    """Clone function: drop the explicit padding, use TF 'same' on stride-2 convs."""
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return keras.layers.Identity(name=layer.name)
    config = layer.get_config()
    if isinstance(layer, keras.layers.Conv2D) and tuple(layer.strides) == (2, 2):
        config["padding"] = "same"
    return layer.__class__.from_config(config)


def test_same_padding_on_stride_2_convs_fails_the_tolerance(reference, state_dict, lightness):
    model = keras.models.clone_model(build_model("full"), clone_function=_same_padding)
    assert not any(isinstance(layer, keras.layers.ZeroPadding2D) for layer in model.layers)
    convert.load_into(model, state_dict)
    L = lightness[1]
    error = _relative_error(_keras_logits(model, L), _torch_logits(reference, L))
    assert error > 100 * LOGITS_RTOL


def test_the_temperature_assumption_is_explicit():
    raw, raw_text = convert.temperature_assumption(False)
    folded, folded_text = convert.temperature_assumption(True)
    assert raw == pytest.approx(1 / 2.606) and raw == pytest.approx(DEFAULT_TEMPERATURE, rel=0.01)
    assert folded == 1.0
    assert "not folded in" in raw_text and "already includes" in folded_text


def test_model_out_is_the_bin_table_over_110(state_dict):
    assert convert.decoder_ab_scale(state_dict) == 110.0
    unscaled = {convert.DECODER_KEY: bin_centers().T.reshape(2, NUM_BINS, 1, 1)}
    assert convert.decoder_ab_scale(unscaled) == 1.0
    permuted = {convert.DECODER_KEY: np.roll(state_dict[convert.DECODER_KEY], 1, axis=1)}
    with pytest.raises(convert.CheckpointError, match=r"model_out\.weight: neither"):
        convert.decoder_ab_scale(permuted)


def test_cli_writes_a_preset_that_reloads(checkpoint, keras_model, lightness, tmp_path):
    output = tmp_path / "published"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_colorize.convert",
            f"--torch_checkpoint={checkpoint}",
            f"--output={output}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Assumed: model8.6 holds the raw logits" in result.stdout
    assert "model_out.weight = bin_centers() / 110" in result.stdout
    assert sorted(p.name for p in output.iterdir()) == ["config.json", "metadata.json", "model.weights.h5"]
    config = json.loads((output / "metadata.json").read_text())
    assert config["variant"] == "full" and config["width"] == 1.0 and config["loss"] == "rebalanced"
    assert config["source"] == f"converted from {checkpoint}"
    assert config["assumed_temperature"] == pytest.approx(1 / 2.606)
    assert config["model_out_ab_scale"] == 110.0
    assert config["assumption"] in result.stdout
    reloaded = Colorizer.from_preset(output)
    assert reloaded.temperature == pytest.approx(1 / 2.606) and reloaded.prior is None  # no published prior
    assert reloaded.work_size == 256 and reloaded.metadata["source_sha256"] == config["source_sha256"]
    for L in lightness[1:]:
        np.testing.assert_allclose(
            np.asarray(reloaded.backbone(L, training=False)),
            np.asarray(keras_model(L, training=False)),
            atol=1e-7,
        )


@pytest.mark.parametrize("content", [b"\x00\x01garbage\xff" * 64, b"name,value\nnot,a checkpoint\n"])
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, content):
    path = tmp_path / "bogus.pth"
    path.write_bytes(content)
    with pytest.raises(convert.CheckpointError, match=r"bogus\.pth: not a readable PyTorch checkpoint"):
        convert.load_state_dict(path)
    with pytest.raises(FileNotFoundError, match=r"absent\.pth"):
        convert.load_state_dict(tmp_path / "absent.pth")


def test_checkpoints_without_a_state_dict_are_refused(tmp_path):
    torch.save([torch.zeros(3)], tmp_path / "list.pth")
    with pytest.raises(convert.CheckpointError, match=r"list\.pth: holds a list, not a state_dict"):
        convert.load_state_dict(tmp_path / "list.pth")
    torch.save({"model1.0.bias": torch.zeros(3), "epoch": 3}, tmp_path / "mixed.pth")
    with pytest.raises(convert.CheckpointError, match="entry 'epoch' is a int, not a tensor"):
        convert.load_state_dict(tmp_path / "mixed.pth")


def test_wrapped_and_data_parallel_checkpoints_are_unwrapped(tmp_path):
    tensors = {"model1.0.weight": torch.ones(64, 1, 3, 3), "model1.4.num_batches_tracked": torch.tensor(5)}
    torch.save({"state_dict": {f"module.{k}": v for k, v in tensors.items()}, "epoch": 3}, tmp_path / "w.pth")
    loaded = convert.load_state_dict(tmp_path / "w.pth")
    assert sorted(loaded) == sorted(tensors)
    np.testing.assert_array_equal(loaded["model1.0.weight"], np.ones((64, 1, 3, 3), np.float32))


def _refused(model, state_dict, pattern):
    """load_into raises naming the problem and leaves the model untouched."""
    before = np.asarray(model.get_layer("conv1_1").kernel).copy()
    with pytest.raises(convert.CheckpointError, match=pattern):
        convert.load_into(model, state_dict)
    np.testing.assert_array_equal(np.asarray(model.get_layer("conv1_1").kernel), before)


def test_missing_extra_and_misshapen_keys_are_named(keras_model, state_dict):
    changed = dict(state_dict)
    changed["model1.0.weight"] = np.zeros((64, 1, 3, 3), np.float32)  # would be visible if assigned
    missing = {k: v for k, v in changed.items() if k != "model5.2.weight"}
    _refused(keras_model, missing, r"missing key\(s\) \['model5.2.weight'\]")
    _refused(
        keras_model, {**changed, "model9.0.weight": np.zeros(3)}, r"unexpected key\(s\) \['model9.0.weight'\]"
    )
    _refused(keras_model, {**changed, "model1.0.num_batches_tracked": np.zeros(())}, "model1.0.num_batches")
    transposed = {**changed, "model8.0.weight": np.zeros((256, 512, 4, 4), np.float32)}
    _refused(
        keras_model,
        transposed,
        re.escape("model8.0.weight: shape (256, 512, 4, 4) in the checkpoint, expected (512, 256, 4, 4)"),
    )


def test_batch_norm_counters_are_optional(state_dict):
    without = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    model = build_model("full")
    convert.load_into(model, without)
    np.testing.assert_array_equal(
        np.asarray(model.get_layer("conv4_norm").moving_variance), state_dict["model4.6.running_var"]
    )


def test_convert_names_the_checkpoint_in_its_errors(reference, tmp_path):
    broken = {k: v for k, v in reference.state_dict().items() if k != "model8.6.bias"}
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(convert.CheckpointError, match=r"broken\.pth: missing key\(s\) \['model8.6.bias'\]"):
        convert.convert(tmp_path / "broken.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match=r"--output is a preset folder, got the file name"):
        convert.convert(tmp_path / "broken.pth", tmp_path / "model.keras")
