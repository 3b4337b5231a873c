"""The training flags: one per `TrainConfig` field, and flags -> `TrainConfig`.

A library module importable without TensorFlow (`keras-colorize train --help`
is fast): the `train` command and the study runner both define these flags.

Example:

>>> from absl import flags
>>> from keras_colorize.train_flags import config_from_flags, define_flags
>>> flag_values = flags.FlagValues()
>>> define_flags(flag_values)
>>> _ = flag_values(["train", "--train_data=photos/", "--model_dir=runs/x", "--max_steps=0", "--epochs=2"])
>>> config = config_from_flags(flag_values)
>>> (config.train_data, config.max_steps, config.epochs)
(['photos/'], None, 2)
"""

import dataclasses

from absl import flags

from keras_colorize.choices import LOSSES, STRATEGIES, TRAIN_PRECISIONS, VARIANT_NAMES
from keras_colorize.train_config import TrainConfig


def define_flags(flag_values: flags.FlagValues) -> None:
    """Define one flag per `TrainConfig` field (the paper's defaults) on `flag_values`.

    Args:
        flag_values: a registry (the train command's own, or flags.FLAGS for the study).
    """
    d = TrainConfig()
    fv = {"flag_values": flag_values}
    data = "folders (recursive), photo files or TFRecord patterns; repeatable; on the command line they "
    data += "replace a flagfile's"
    flags.DEFINE_multi_string("train_data", [], f"Training photos: {data}.", **fv)
    flags.DEFINE_multi_string("val_data", [], f"Validation photos: {data}.", **fv)
    flags.DEFINE_string("model_dir", None, "Checkpoints, logs and the final model go here.", **fv)
    flags.DEFINE_integer("image_size", d.image_size, "Square training crop size (multiple of 8).", **fv)
    flags.DEFINE_integer("batch_size", d.batch_size, "Global batch size (all replicas).", **fv)
    flags.DEFINE_integer("epochs", 0, "Number of epochs (0: until --max_steps).", **fv)
    flags.DEFINE_integer("steps_per_epoch", 0, "Cap on steps per epoch (0: a full pass).", **fv)
    flags.DEFINE_integer("max_steps", d.max_steps, "Total training steps (0: --epochs bounds).", **fv)
    flags.DEFINE_float("max_train_time_s", 0, "Stop after this much training wall time (0: no limit).", **fv)
    flags.DEFINE_enum("variant", d.variant, list(VARIANT_NAMES), "Network variant.", **fv)
    flags.DEFINE_float("width", d.width, "Channel multiplier (1.0 = the paper's).", **fv)
    flags.DEFINE_boolean(
        "pretrained_encoder",
        d.pretrained_encoder,
        "mobilenet_v2_unet: start the encoder from ImageNet weights (--nopretrained_encoder: from scratch).",
        **fv,
    )
    flags.DEFINE_string(
        "encoder_weights", None, "mobilenet_v2_unet: the encoder's .tflite (default: the bundled one).", **fv
    )
    flags.DEFINE_float(
        "encoder_lr_multiplier",
        d.encoder_lr_multiplier,
        "mobilenet_v2_unet: the encoder's learning rate as a multiple of --learning_rate (0: frozen).",
        **fv,
    )
    flags.DEFINE_enum("loss", d.loss, list(LOSSES), "rebalanced / plain cross-entropy, or l2.", **fv)
    flags.DEFINE_string("prior", d.prior, "Smoothed ab prior (.npy); computed if absent.", **fv)
    flags.DEFINE_integer("prior_max_images", None, "Photos used to compute the prior (None: all).", **fv)
    flags.DEFINE_float("rebalance_lambda", d.rebalance_lambda, "Prior/uniform mixing lambda.", **fv)
    flags.DEFINE_float("learning_rate", d.learning_rate, "Adam learning rate.", **fv)
    flags.DEFINE_float("beta_1", d.beta_1, "Adam beta1.", **fv)
    flags.DEFINE_float("beta_2", d.beta_2, "Adam beta2.", **fv)
    flags.DEFINE_float("weight_decay", d.weight_decay, "L2 weight decay on kernels (Caffe-style).", **fv)
    flags.DEFINE_list("lr_decay_steps", [str(s) for s in d.lr_decay_steps], "Steps where lr drops.", **fv)
    flags.DEFINE_float("lr_decay_factor", d.lr_decay_factor, "lr multiplier at each drop.", **fv)
    flags.DEFINE_integer("seed", d.seed, "Seed of weights, data order and crops.", **fv)
    flags.DEFINE_boolean("skip_grayscale", d.skip_grayscale, "Drop photos without colour.", **fv)
    flags.DEFINE_integer("checkpoint_every_steps", d.checkpoint_every_steps, "Checkpoint period.", **fv)
    flags.DEFINE_integer("keep_checkpoints", d.keep_checkpoints, "Checkpoints kept.", **fv)
    flags.DEFINE_integer("log_every_steps", d.log_every_steps, "Logging period (steps).", **fv)
    flags.DEFINE_integer("val_images", d.val_images, "Validation photos shown in TensorBoard.", **fv)
    flags.DEFINE_enum("strategy", d.strategy, list(STRATEGIES), "Distribution strategy.", **fv)
    flags.DEFINE_enum(
        "mixed_precision",
        d.mixed_precision,
        list(TRAIN_PRECISIONS),
        "Compute dtype (auto: bfloat16 on CPUs with AVX512_BF16/AMX, else float32).",
        **fv,
    )
    flags.DEFINE_boolean("jit", d.jit, "XLA-compile the forward/backward computation.", **fv)
    flags.DEFINE_string(
        "data_service",
        None,
        "grpc://HOST:PORT of a tf.data service dispatcher: decode and crop training photos on its workers.",
        **fv,
    )
    flags.DEFINE_boolean("progress", d.progress, "Show a progress bar.", **fv)
    flags.DEFINE_integer("inject_nan_at_step", None, "TESTING ONLY: make this step's loss NaN.", **fv)


def config_from_flags(flag_values: flags.FlagValues) -> TrainConfig:
    """The parsed flags as a `TrainConfig` (0 for epochs / steps / time means "no limit").

    Args:
        flag_values: a registry `define_flags` filled, already parsed.
    """
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(TrainConfig)}
    values["lr_decay_steps"] = tuple(int(s) for s in values["lr_decay_steps"])
    values["model_dir"] = values["model_dir"] or ""
    for name in ("epochs", "steps_per_epoch", "max_steps", "max_train_time_s"):
        values[name] = values[name] or None  # 0 on the command line means "no limit"
    return TrainConfig(**values)
