"""`TrainConfig`: everything a training run needs, and `validate` for it.

A library module (the command line is `keras_colorize.train`, which turns
flags into a TrainConfig; the study and tests build one directly).
"""

import dataclasses
import os

from keras_colorize.choices import (
    LOSSES,
    PRETRAINED_VARIANT_NAMES,
    STRATEGIES,
    TRAIN_PRECISIONS,
    VARIANT_NAMES,
)


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; defaults are the paper's.

    `epochs`, `max_steps` and `max_train_time_s` all bound the run (whichever
    comes first; `epochs` or `max_steps` must be set). `max_train_time_s`
    counts wall time over all sessions of a resumed run and stops after the
    step that crosses it, with a checkpoint and the final model as usual.
    `steps_per_epoch` caps an epoch (None: one pass over the training data).
    `data_service` ("grpc://HOST:PORT"): read, decode and crop the training
    photos on tf.data service workers (see `keras_colorize.data.service`).
    `pretrained_encoder`, `encoder_weights` and `encoder_lr_multiplier` are
    for `mobilenet_v2_unet`: start its encoder from the ImageNet weights (the
    bundled .tflite, or the one named) or from scratch, and let it learn at
    that multiple of the learning rate (0: frozen).
    `inject_nan_at_step` is for testing only: it multiplies that step's loss
    by NaN to exercise the NaN guard.
    """

    train_data: list[str] = dataclasses.field(default_factory=list)
    model_dir: str = ""
    val_data: list[str] = dataclasses.field(default_factory=list)
    image_size: int = 256
    batch_size: int = 40
    epochs: int | None = None
    steps_per_epoch: int | None = None
    max_steps: int | None = 450_000
    max_train_time_s: float | None = None
    variant: str = "full"
    width: float = 1.0
    pretrained_encoder: bool = True
    encoder_weights: str | None = None
    encoder_lr_multiplier: float = 1.0
    loss: str = "rebalanced"
    prior: str | None = None
    prior_max_images: int | None = None
    rebalance_lambda: float = 0.5
    learning_rate: float = 3e-5
    beta_1: float = 0.9
    beta_2: float = 0.99
    weight_decay: float = 1e-3
    lr_decay_steps: tuple[int, ...] = (200_000, 375_000)
    lr_decay_factor: float = 0.316
    seed: int = 0
    skip_grayscale: bool = False
    checkpoint_every_steps: int = 1000
    keep_checkpoints: int = 3
    log_every_steps: int = 100
    val_images: int = 8
    strategy: str = "default"
    mixed_precision: str = "auto"
    jit: bool = False
    progress: bool = True
    data_service: str | None = None
    inject_nan_at_step: int | None = None


def _check_sources(name: str, sources: list[str]) -> None:
    import tensorflow as tf

    for source in sources:
        if os.path.isdir(source) or os.path.isfile(source):
            continue
        if not tf.io.gfile.glob(source):
            raise ValueError(f"--{name} {source!r}: no such folder or file, and no file matches the pattern.")


def _check_encoder(config: TrainConfig) -> None:
    """The pretrained encoder's settings, and its weights file read in full (nothing written yet)."""
    if config.variant not in PRETRAINED_VARIANT_NAMES:
        if config.encoder_weights:
            raise ValueError(
                f"--encoder_weights is for a pretrained-encoder variant, not --variant {config.variant}."
            )
        return
    if config.image_size % 32:
        raise ValueError(
            f"--image_size must be a multiple of 32 for --variant {config.variant} (its encoder "
            f"downsamples five times), got {config.image_size}."
        )
    if config.encoder_lr_multiplier < 0:
        raise ValueError(f"--encoder_lr_multiplier must not be negative, got {config.encoder_lr_multiplier}.")
    if config.encoder_weights and not config.pretrained_encoder:
        raise ValueError("--encoder_weights was given with --nopretrained_encoder: drop one of them.")
    if config.pretrained_encoder:
        from keras_colorize.mobilenet_v2 import WEIGHTS_FILE, check_weights_file

        check_weights_file(config.encoder_weights or WEIGHTS_FILE)  # EncoderWeightsError is a ValueError


def validate(config: TrainConfig) -> None:
    """Raise ValueError naming the first bad setting."""
    if config.variant not in VARIANT_NAMES:
        choices = ", ".join(VARIANT_NAMES)
        raise ValueError(f"--variant {config.variant!r} is unknown; choose one of {choices}.")
    if config.loss not in LOSSES:
        raise ValueError(f"--loss {config.loss!r} is unknown; choose one of {', '.join(LOSSES)}.")
    if (config.loss == "l2") != (config.variant == "l2"):
        raise ValueError(
            f"--loss {config.loss} does not fit --variant {config.variant}: the l2 loss needs the l2 "
            "variant (ab regression head) and the l2 variant needs the l2 loss."
        )
    if config.strategy not in STRATEGIES:
        raise ValueError(f"--strategy {config.strategy!r} is unknown; choose one of {', '.join(STRATEGIES)}.")
    if config.mixed_precision not in TRAIN_PRECISIONS:
        raise ValueError(
            f"--mixed_precision {config.mixed_precision!r} is unknown; "
            f"choose one of {', '.join(TRAIN_PRECISIONS)}."
        )
    if not config.model_dir:
        raise ValueError("--model_dir is required.")
    if not config.train_data:
        raise ValueError("--train_data is required (folders of photos or TFRecord patterns).")
    _check_sources("train_data", config.train_data)
    _check_sources("val_data", config.val_data)
    if config.data_service:
        from keras_colorize.data.pipeline import service_address

        service_address(config.data_service)  # ValueError naming a bad address
        if config.strategy == "multi_worker":
            raise ValueError(
                "--data_service works with one input pipeline: use --strategy=default or mirrored."
            )
    if config.prior and not os.path.isfile(config.prior):
        raise ValueError(f"--prior {config.prior!r}: no such file.")
    if config.image_size < 8 or config.image_size % 8:
        raise ValueError(f"--image_size must be a positive multiple of 8, got {config.image_size}.")
    _check_encoder(config)
    if config.epochs is None and config.max_steps is None:
        raise ValueError("Set --epochs or --max_steps (or both): otherwise training never ends.")
    positive = {
        "batch_size": config.batch_size,
        "epochs": config.epochs,
        "steps_per_epoch": config.steps_per_epoch,
        "max_steps": config.max_steps,
        "max_train_time_s": config.max_train_time_s,
        "checkpoint_every_steps": config.checkpoint_every_steps,
        "keep_checkpoints": config.keep_checkpoints,
        "log_every_steps": config.log_every_steps,
        "learning_rate": config.learning_rate,
        "width": config.width,
    }
    for name, value in positive.items():
        if value is not None and value <= 0:
            raise ValueError(f"--{name} must be positive, got {value}.")
    if config.val_images < 0 or config.weight_decay < 0:
        raise ValueError("--val_images and --weight_decay must not be negative.")
    if not 0.0 <= config.rebalance_lambda <= 1.0:
        raise ValueError(f"--rebalance_lambda must be in [0, 1], got {config.rebalance_lambda}.")
    if list(config.lr_decay_steps) != sorted(set(config.lr_decay_steps)):
        raise ValueError(f"--lr_decay_steps must be increasing, got {list(config.lr_decay_steps)}.")
