"""Convert the paper's released PyTorch weights into our Keras `full` model.

    python -m keras_colorize.convert --torch_checkpoint=colorization_release_v2-9b330a0b.pth \\
        --output=published/ [--logits_include_annealing] [--weights_dtype=float16]

writes a preset folder (config.json, model.weights.h5, metadata.json) that
`Colorizer.from_preset("published/")` and every command's --model take.

The authors' PyTorch port (`colorizers.eccv16`) stores its network as the
Sequential blocks model1..model8 plus `model_out`. Our `full` model has the
same layers with the same padding, so every tensor maps onto exactly one Keras
variable (conv kernels transposed to Keras' layout). Things the port does
outside those blocks are already ours or deliberately not copied:

- its input normalisation (L - 50) / 100 is our `normalize_l` layer;
- `model_out` (313 -> 2 ab, no bias) followed by x110 is its decoding: the
  mean of the 313-bin distribution with the bin table stored divided by 110.
  Our decoders (`keras_colorize.decoding`) use the bin table in ab units
  directly, so `model_out` is not loaded; it is only checked to equal the bin
  table (over 110, or not), which proves its 313 channels are in the order of
  our `pts_in_hull.npy`.

Temperature. The published Caffe model annealed by multiplying the logits by
2.606 (= 1 / 0.3837, the paper's T = 0.38) in a layer `conv8_313_rh` before
its softmax. Whether the PyTorch release folded that factor into `model8.6`
is not documented. The converter never changes the weights: the converted
model's `probs` equal the port's softmax. By default it assumes the factor is
NOT folded in, so annealed-mean decoding at T = 1 / 2.606 (our default 0.38
is within 1%) reproduces the published Caffe model and T = 1 (the mean)
reproduces the port's own output; with --logits_include_annealing it assumes
it is, and T = 1 reproduces both. The assumption is printed, is the preset's
temperature, and is written to its metadata (`assumed_temperature`,
`assumption`). The preset holds no prior (the authors' training prior is not
part of the release): `evaluate --prior=` supplies one.

Exit status: 0 converted, 2 usage error (one `error:` line: a file that is
not the published checkpoint, an --output that holds a preset, no PyTorch).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from absl import flags

from keras_colorize import command
from keras_colorize.choices import WEIGHTS_DTYPES

if TYPE_CHECKING:
    import keras

# Keras and TensorFlow are imported by the functions that need them, so that --help starts without them.

RELEASE_URL = "https://colorizers.s3.us-east-2.amazonaws.com/colorization_release_v2-9b330a0b.pth"
CAFFE_ANNEALING_SCALE = 2.606  # conv8_313_rh of the published Caffe deploy net
PORT_AB_SCALE = 110.0  # the port multiplies model_out's output by this
DECODER_KEY = "model_out.weight"
# Torch layouts: Conv2d [out, in, kh, kw] and ConvTranspose2d [in, out, kh, kw];
# Keras: Conv2D [kh, kw, in, out] and Conv2DTranspose [kh, kw, out, in]. One
# permutation serves both (both frameworks' transposed conv is the adjoint of
# their cross-correlation, so no spatial flip).
TORCH_TO_KERAS = (2, 3, 1, 0)
KERAS_TO_TORCH = (3, 2, 0, 1)


class CheckpointError(ValueError):
    """The file is not the published eccv16 state_dict (the message says why)."""


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A PyTorch checkpoint -> {key: float/int numpy array}.

    Accepts a bare state_dict, one wrapped as {"state_dict": ...}, and keys with
    the "module." prefix of DataParallel. Only tensors are read
    (weights_only=True), never arbitrary pickled code.
    """
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "reading PyTorch checkpoints needs PyTorch: pip install -e '.[convert]' in the repository "
            "(or pip install torch==2.13.0)"
        ) from error
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (torch.load: {error}); pass the .pth file "
            f"published at {RELEASE_URL}"
        ) from error
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping) or not checkpoint:
        raise CheckpointError(f"{path}: holds a {type(checkpoint).__name__}, not a state_dict of tensors")
    if all(str(key).startswith("module.") for key in checkpoint):
        checkpoint = {key.removeprefix("module."): value for key, value in checkpoint.items()}
    state_dict = {}
    for key, value in checkpoint.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor")
        value = value.detach().cpu()
        state_dict[key] = (value.float() if value.is_floating_point() else value).numpy()  # bf16 too
    return state_dict


def _conv_targets(prefix: str, layer) -> dict[str, keras.Variable]:
    return {f"{prefix}.weight": layer.kernel, f"{prefix}.bias": layer.bias}


def torch_targets(model: keras.Model) -> dict[str, keras.Variable]:
    """state_dict key -> the Keras variable it fills, by the port's layout.

    Block k of the port is a Sequential of conv, ReLU, conv, ReLU, ..., batch
    norm, so conv j sits at index 2(j - 1) and the norm at 2 * convs; model8
    is deconv, ReLU, conv, ReLU, conv, ReLU, 1x1 conv to the logits.
    """
    from keras_colorize.model import VARIANTS

    targets = {}
    for k, block in enumerate(VARIANTS["full"], start=1):
        for j in range(1, block.convs + 1):
            targets |= _conv_targets(f"model{k}.{2 * (j - 1)}", model.get_layer(f"{block.name}_{j}"))
        norm = model.get_layer(f"{block.name}_norm")
        prefix = f"model{k}.{2 * block.convs}"
        targets |= {
            f"{prefix}.weight": norm.gamma,
            f"{prefix}.bias": norm.beta,
            f"{prefix}.running_mean": norm.moving_mean,
            f"{prefix}.running_var": norm.moving_variance,
        }
    for index, name in enumerate(("conv8_1", "conv8_2", "conv8_3", "logits")):
        targets |= _conv_targets(f"model8.{2 * index}", model.get_layer(name))
    return targets


def _torch_shape(variable: keras.Variable) -> tuple[int, ...]:
    shape = tuple(variable.shape)
    return tuple(shape[i] for i in KERAS_TO_TORCH) if len(shape) == 4 else shape


def _ignored(key: str, targets: Mapping[str, keras.Variable]) -> bool:
    """Batch-norm step counters (a PyTorch training detail) carry no weights."""
    return key.endswith(".num_batches_tracked") and f"{key.rpartition('.')[0]}.running_mean" in targets


def decoder_ab_scale(state_dict: Mapping[str, np.ndarray]) -> float:
    """The factor by which model_out's weights must be multiplied to give bin_centers().

    Returns 110.0 (the port's convention: table / 110, output x 110) or 1.0;
    anything else means the 313 channels are not our bins in our order.
    """
    if DECODER_KEY not in state_dict:
        raise CheckpointError(f"missing key {DECODER_KEY!r} (the port's 313 -> 2 decoding layer)")
    from keras_colorize.bins import NUM_BINS, bin_centers

    weight = np.asarray(state_dict[DECODER_KEY], np.float64)
    expected = (2, NUM_BINS, 1, 1)
    if weight.shape != expected:
        raise CheckpointError(f"{DECODER_KEY}: shape {weight.shape} in the checkpoint, expected {expected}")
    table = bin_centers().T.astype(np.float64)
    rows = weight.reshape(2, NUM_BINS)
    errors = {}
    for scale in (PORT_AB_SCALE, 1.0):
        errors[scale] = float(np.max(np.abs(rows * scale - table)))
        if errors[scale] < 1e-3:
            return scale
    raise CheckpointError(
        f"{DECODER_KEY}: neither bin_centers() / 110 (max difference {errors[PORT_AB_SCALE]:.4g} ab) nor "
        f"bin_centers() (max difference {errors[1.0]:.4g} ab); its 313 channels are not the bins of "
        "pts_in_hull.npy in their order, so the logits cannot be decoded with our table"
    )


def load_into(model: keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Fill `model` (layer names of build_model("full")) from the port's state_dict.

    Checks everything before assigning anything: every expected key present,
    no unknown key, every shape as published; each tensor is used once.
    """
    targets = torch_targets(model)
    known = set(targets) | {DECODER_KEY}
    missing = sorted(set(targets) - set(state_dict))
    unexpected = sorted(key for key in state_dict if key not in known and not _ignored(key, targets))
    problems = [f"missing key(s) {missing}"] * bool(missing)
    problems += [f"unexpected key(s) {unexpected}"] * bool(unexpected)
    if problems:
        raise CheckpointError(f"{'; '.join(problems)}: the state_dict does not follow the eccv16 layout")
    for key, variable in targets.items():
        shape, expected = tuple(np.shape(state_dict[key])), _torch_shape(variable)
        if shape != expected:
            raise CheckpointError(f"{key}: shape {shape} in the checkpoint, expected {expected}")
    for key, variable in targets.items():
        value = np.asarray(state_dict[key], np.float32)
        variable.assign(np.transpose(value, TORCH_TO_KERAS) if value.ndim == 4 else value)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def temperature_assumption(logits_include_annealing: bool) -> tuple[float, str]:
    """The decoding temperature that reproduces the published model, and why."""
    if logits_include_annealing:
        return 1.0, (
            "Assumed: model8.6 already includes the Caffe model's x2.606 annealing, so temperature 1.0 "
            "(the mean) reproduces the published model and the PyTorch port's own output."
        )
    return 1.0 / CAFFE_ANNEALING_SCALE, (
        "Assumed: model8.6 holds the raw logits (the Caffe model's x2.606 annealing is not folded in), so "
        "temperature 1/2.606 = 0.3837 (the default 0.38 is within 1%) reproduces the published Caffe "
        "model and temperature 1.0 (the mean) the PyTorch port's own output."
    )


def convert(
    torch_checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    logits_include_annealing: bool = False,
    weights_dtype: str = "float32",
) -> dict:
    """Write the converted Colorizer as a preset folder `output`; returns its metadata.

    Args:
        torch_checkpoint: the port's state_dict (.pth).
        output: the preset folder to write (created; must not hold a preset yet).
        logits_include_annealing: assume the release's model8.6 already applies
            the Caffe model's x2.606; sets the temperature the docs recommend.
        weights_dtype: "float32" (exact) or "float16" (half the size).
    """
    from keras_colorize.colorizer import Colorizer
    from keras_colorize.layers import WORK_SIZE
    from keras_colorize.model import build_model

    torch_checkpoint, output = os.fspath(torch_checkpoint), os.fspath(output)
    if output.endswith((".keras", ".h5")):
        raise ValueError(f"--output is a preset folder, got the file name {output!r}")
    if os.path.exists(os.path.join(output, "config.json")):
        raise FileExistsError(f"{output} already holds a preset (never overwritten); choose another --output")
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"weights_dtype must be one of {WEIGHTS_DTYPES}, got {weights_dtype!r}")
    state_dict = load_state_dict(torch_checkpoint)
    try:
        ab_scale = decoder_ab_scale(state_dict)
        model = build_model("full")
        load_into(model, state_dict)
    except CheckpointError as error:
        raise CheckpointError(f"{torch_checkpoint}: {error}") from error
    temperature, assumption = temperature_assumption(logits_include_annealing)
    metadata = {
        "description": "The paper's published full model (Zhang, Isola & Efros 2016), converted from "
        "the authors' PyTorch release",
        "variant": "full",
        "width": 1.0,
        "loss": "rebalanced",
        "training_data": "ImageNet (the authors' training; their prior is not published)",
        "source": f"converted from {torch_checkpoint}",
        "source_url": RELEASE_URL,
        "source_sha256": _sha256(torch_checkpoint),
        "model_out_ab_scale": ab_scale,
        "logits_include_annealing": logits_include_annealing,
        "assumed_temperature": temperature,
        "assumption": assumption,
    }
    colorizer = Colorizer(model, temperature=temperature, work_size=WORK_SIZE, metadata=metadata)
    colorizer.save_to_preset(output, weights_dtype)
    return metadata


FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags, defined only when run as a program (importers have their own flags)."""
    flags.DEFINE_string(
        "torch_checkpoint", None, f"The port's state_dict (.pth), as published at {RELEASE_URL}."
    )
    flags.DEFINE_string("output", None, "The preset folder to write (config.json, model.weights.h5, ...).")
    flags.DEFINE_enum("weights_dtype", "float32", list(WEIGHTS_DTYPES), "How the weights are stored.")
    flags.DEFINE_bool(
        "logits_include_annealing",
        False,
        "Assume the release's model8.6 already multiplies the logits by 2.606 (the Caffe model's "
        "conv8_313_rh); then T=1 reproduces the paper. Default: not folded in, T=1/2.606 does.",
    )


REQUIRED = ("torch_checkpoint", "output")


@command.handles_errors
def main(argv: list[str]) -> int:
    """Convert --torch_checkpoint into the preset folder --output; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    config = convert(
        FLAGS.torch_checkpoint, FLAGS.output, FLAGS.logits_include_annealing, FLAGS.weights_dtype
    )
    print(
        f"Wrote the preset {FLAGS.output} from {FLAGS.torch_checkpoint} (sha256 {config['source_sha256']})."
    )
    scale = config["model_out_ab_scale"]
    print(
        f"model_out.weight = bin_centers() / {scale:g}: channel order matches pts_in_hull.npy (not loaded; "
        "our decoders use the bin table in ab units)."
    )
    print(config["assumption"])
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
