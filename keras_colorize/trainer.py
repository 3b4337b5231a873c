"""The training loop behind `keras_colorize.train`.

One custom step serves every strategy (default, mirrored, multi_worker,
tpu): `strategy.run` of a replica step that turns uint8 crops into
(L, ab) on the device (`preprocessing.training_pair`), runs the network to
its float32 logits, takes the per-image loss of the loss layer, averages it
over the GLOBAL batch (`tf.nn.compute_average_loss`) and lets the Keras
optimizer all-reduce and apply the gradients.

Resume is exact. Everything random is a pure function of (seed, epoch):
weights are initialised from the seed, and the data pipeline shuffles and
crops with stateless randomness keyed by (seed, epoch). So there is no RNG
state to save; a checkpoint holds the model, the optimizer (slots, step
count, loss scale) and the data position (epoch, batches consumed). On
restart the epoch's dataset is rebuilt with the same (seed, epoch) and the
consumed batches are skipped, which replays the same crops in the same order.
"""

import dataclasses
import json
import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from keras_colorize.checkpointing import CheckpointManager, atomic_write_json
from keras_colorize.colorizer import Colorizer
from keras_colorize.data import make_dataset
from keras_colorize.distribute import WriteDir, is_chief, make_strategy, worker_info
from keras_colorize.layers import ColorizerPostprocessor
from keras_colorize.losses import make_loss
from keras_colorize.mobilenet_v2 import WEIGHTS_FILE, load_imagenet_weights
from keras_colorize.model import build_model, logits_model
from keras_colorize.optimizer import current_learning_rate, is_decayed, make_optimizer, weight_decay_loss
from keras_colorize.precision import PRECISIONS, dtype_policy, resolve_precision
from keras_colorize.preprocessing import training_pair
from keras_colorize.rebalance import rebalancing_weights
from keras_colorize.train_config import TrainConfig, validate

LOG_FILE = "train_log.jsonl"  # one line per step: {"step", "epoch", "loss"}; a resumed run appends


class NonFiniteLossError(RuntimeError):
    """The loss or the gradients became NaN/Inf; the last good checkpoint is kept."""


@dataclasses.dataclass
class _Position:
    """Where training stands; saved with every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    epoch_loss_sum: float = 0.0
    epoch_steps: int = 0
    epochs_done: int = 0
    train_loss: float | None = None
    val_loss: float | None = None
    wall_time_s: float = 0.0


def make_train_step(
    strategy: tf.distribute.Strategy,
    model: keras.Model,
    loss_fn: keras.layers.Layer,
    optimizer: keras.optimizers.Optimizer,
    global_batch_size: int,
    weight_decay: float,
    jit: bool,
    check_gradients: bool = True,
):
    """The distributed training step.

    (batch, poison) -> (mean loss, non-finite flag, indices seen by all replicas,
    images per replica). `poison` multiplies the loss (1.0; NaN only to test the
    NaN guard). With `jit` the forward and backward pass is one XLA cluster; the
    optimizer update stays outside it because its cross-replica all-reduce cannot
    be compiled. A replica whose worker has run out of data gets an empty batch
    (tf.distribute's handling of uneven shards): it contributes zero gradients
    and never runs the network, whose batch norm would turn an empty batch into NaN.
    """
    net = logits_model(model)
    # A pretrained encoder is not decayed towards zero: that would only wear its ImageNet weights away.
    encoder = {id(v) for v in model.encoder.variables} if getattr(model, "encoder", None) else set()
    kernels = [v for v in model.trainable_variables if is_decayed(v) and id(v) not in encoder]

    def gradients(rgb, poison):
        lightness, ab = training_pair(rgb)
        with tf.GradientTape() as tape:
            per_image = loss_fn(ab, net(lightness, training=True))
            data_loss = tf.nn.compute_average_loss(per_image, global_batch_size=global_batch_size) * poison
            total = data_loss
            if weight_decay:
                total += tf.nn.scale_regularization_loss(weight_decay_loss(kernels, weight_decay))
            scaled = optimizer.scale_loss(total)
        return data_loss, tape.gradient(scaled, model.trainable_variables)

    if jit:
        gradients = tf.function(gradients, jit_compile=True)

    def no_data():
        return tf.constant(0.0), [tf.zeros_like(v.value) for v in model.trainable_variables]

    def replica_step(batch, poison):
        rgb = batch["rgb"]
        data_loss, grads = tf.cond(tf.shape(rgb)[0] > 0, lambda: gradients(rgb, poison), no_data)
        bad = tf.constant(0.0)
        if check_gradients:  # float16 loss scaling skips inf steps itself: no reduction needed then
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            bad = tf.cast(tf.logical_not(finite), tf.float32)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return data_loss, bad, tf.shape(rgb)[:1]

    @tf.function
    def train_step(batch, poison):
        data_loss, bad, count = strategy.run(replica_step, args=(batch, poison))
        total = strategy.reduce(tf.distribute.ReduceOp.SUM, data_loss, axis=None)
        bad = strategy.reduce(tf.distribute.ReduceOp.SUM, bad, axis=None)
        return total, bad, strategy.gather(batch["index"], axis=0), strategy.gather(count, axis=0)

    return train_step


def make_eval_step(strategy: tf.distribute.Strategy, model: keras.Model, loss_fn: keras.layers.Layer):
    """batch -> (sum of per-image losses, number of images), over all replicas."""
    net = logits_model(model)

    def evaluate(rgb):
        lightness, ab = training_pair(rgb)
        return tf.reduce_sum(loss_fn(ab, net(lightness, training=False)))

    def replica_eval(batch):
        rgb = batch["rgb"]
        total = tf.cond(tf.shape(rgb)[0] > 0, lambda: evaluate(rgb), lambda: tf.constant(0.0))
        return total, tf.cast(tf.shape(rgb)[0], tf.float32)

    @tf.function
    def eval_step(batch):
        total, count = strategy.run(replica_eval, args=(batch,))
        return (
            strategy.reduce(tf.distribute.ReduceOp.SUM, total, axis=None),
            strategy.reduce(tf.distribute.ReduceOp.SUM, count, axis=None),
        )

    return eval_step


def run_training(config: TrainConfig) -> dict:
    """Train (or resume) as configured; returns model_path, steps, epochs,
    wall_time_s, train_loss (mean of the last epoch), val_loss and model_dir.

    Re-entrant: it reads no global flags and clears the Keras session, so one
    process can train several models in turn (the study does).

    Args:
        config: the run's settings; checked first (`train_config.validate`: a
            bad setting raises ValueError naming its flag).

    Example:

    >>> import keras_colorize as kc
    >>> config = kc.TrainConfig(train_data=["tests/fixtures/photos"], model_dir="/tmp/tiny_run",
    ...                         image_size=32, batch_size=4, max_steps=2, variant="4block", width=0.125,
    ...                         progress=False)
    >>> kc.run_training(config)["steps"]  # doctest: +SKIP
    2
    """
    validate(config)
    return Trainer(config).run()


class Trainer:
    """Runs one `TrainConfig`; `run_training` is the usual entry point.

    Args:
        config: the run's settings (validated by `run_training`, or call
            `keras_colorize.train_config.validate` first).

    Example:

    >>> from keras_colorize.train_config import TrainConfig
    >>> config = TrainConfig(train_data=["tests/fixtures/photos"], model_dir="/tmp/tiny_run",
    ...                      image_size=32, batch_size=4, max_steps=2, variant="4block", width=0.125,
    ...                      progress=False)
    >>> results = Trainer(config).run()  # doctest: +SKIP
    >>> results["model_path"]  # a preset folder  # doctest: +SKIP
    '/tmp/tiny_run'
    """

    config: TrainConfig
    strategy: tf.distribute.Strategy
    model: keras.Model
    inference_model: keras.Model
    optimizer: keras.optimizers.Optimizer
    loss_fn: keras.layers.Layer
    precision: str

    def __init__(self, config: TrainConfig):
        self.config = config

    def run(self) -> dict:
        # A multi-worker strategy must exist before TensorFlow's runtime starts.
        self.strategy = make_strategy(self.config.strategy)
        keras.backend.clear_session()
        self.precision, why = resolve_precision(self.config.mixed_precision)
        with dtype_policy(PRECISIONS[self.precision]):
            keras.utils.set_random_seed(self.config.seed)
            self.out = WriteDir(self.config.model_dir, is_chief(self.strategy))
            try:
                return self._run(why)
            finally:
                self.out.cleanup()

    # -- setup --------------------------------------------------------------

    def _run(self, precision_reason: str) -> dict:
        c = self.config
        started = time.time()
        self.chief = self.out.chief
        self.num_workers, self.worker_index = worker_info(self.strategy)
        self._say(f"Precision: {self.precision} ({precision_reason}).")
        self.replicas = self.strategy.num_replicas_in_sync
        if c.batch_size % self.replicas:
            raise ValueError(f"--batch_size {c.batch_size} is not divisible by the {self.replicas} replicas.")
        os.makedirs(self.out.path, exist_ok=True)
        prior = self._prior()
        with self.strategy.scope():
            self.model = build_model(c.variant, c.width)
            encoder_paths = self._prepare_encoder()
            self.optimizer = make_optimizer(
                c.learning_rate,
                c.beta_1,
                c.beta_2,
                c.lr_decay_steps,
                c.lr_decay_factor,
                loss_scaling=self.precision == "float16",
                scaled_paths=encoder_paths,
                multiplier=c.encoder_lr_multiplier,
            )
            self.optimizer.build(self.model.trainable_variables)
            weights = rebalancing_weights(prior, c.rebalance_lambda) if c.loss == "rebalanced" else None
            self.loss_fn = make_loss(c.loss, weights)
        self.inference_model = self._float32_copy()
        self.counters = {
            name: tf.Variable(0, dtype=tf.int64, trainable=False)
            for name in ("step", "epoch", "batch_in_epoch")
        }
        checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, **self.counters)
        self.checkpoints = CheckpointManager(
            checkpoint, os.path.join(self.out.path, "checkpoints"), c.keep_checkpoints
        )
        position, seen = self._restore(checkpoint)
        self._build_steps()
        self._open_logs()
        self.val_batch = self._val_preview()
        self._train(position, seen, started)
        return self._finish(position)

    def _prior(self) -> np.ndarray:
        from keras_colorize.empirical_prior import compute_prior, save_prior

        c = self.config
        saved = os.path.join(c.model_dir, "prior.npy")
        source = c.prior or (saved if os.path.exists(saved) else None)
        if source:
            try:
                prior = np.load(source)
                rebalancing_weights(prior)  # raises on anything but a distribution over the bins
            except (OSError, ValueError) as error:
                raise ValueError(f"prior {source!r}: {error}") from error
        else:
            self._say(f"Computing the ab prior of {', '.join(c.train_data)} ...")
            prior = compute_prior(
                c.train_data, image_size=c.image_size, batch_size=c.batch_size, max_images=c.prior_max_images
            )
        prior = np.asarray(prior, np.float64)
        if c.prior or not os.path.exists(saved):
            save_prior(os.path.join(self.out.path, "prior.npy"), prior)
        return prior

    def _prepare_encoder(self) -> list[str]:
        """Load the encoder's ImageNet weights, freeze it at multiplier 0; its trainable variables' paths."""
        c = self.config
        encoder = self.model.encoder
        if encoder is None:
            return []
        if c.pretrained_encoder:
            load_imagenet_weights(encoder, c.encoder_weights or WEIGHTS_FILE)
        if c.encoder_lr_multiplier == 0:
            encoder.trainable = False
        return [v.path for v in encoder.trainable_variables]

    def _encoder_source(self) -> str:
        c = self.config
        if self.model.encoder is None:
            return "none"
        if not c.pretrained_encoder:
            return "from scratch"
        where = os.path.basename(c.encoder_weights or WEIGHTS_FILE)
        rate = "frozen" if c.encoder_lr_multiplier == 0 else f"learning rate x{c.encoder_lr_multiplier:g}"
        return f"ImageNet MobileNetV2 1.0/224 ({where}), {rate}"

    def _float32_copy(self) -> keras.Model:
        """An undistributed float32 twin of the model for previews and the saved model."""
        with dtype_policy("float32"):
            return build_model(self.config.variant, self.config.width)

    def _restore(self, checkpoint) -> tuple[_Position, list[tuple]]:
        """Resume from the newest checkpoint in model_dir (every worker reads the chief's)."""
        reader = CheckpointManager(checkpoint, os.path.join(self.config.model_dir, "checkpoints"))
        if self.chief:
            reader.remove_stale_temporaries()
        state = reader.restore_latest()
        if state is None:
            return _Position(), []
        position = _Position(**state["position"])
        position.step = int(self.counters["step"].numpy())
        position.epoch = int(self.counters["epoch"].numpy())
        position.batch_in_epoch = int(self.counters["batch_in_epoch"].numpy())
        counts = reader.load_array(position.step, "seen_counts")
        steps = np.split(reader.load_array(position.step, "seen"), np.cumsum(counts.sum(axis=1))[:-1])
        seen = list(zip(steps, counts, strict=True)) if len(counts) else []
        self._say(
            f"Resuming from step {position.step} (epoch {position.epoch}, "
            f"batch {position.batch_in_epoch} of the epoch)."
        )
        return position, seen

    def _build_steps(self) -> None:
        c = self.config
        self.train_step = make_train_step(
            self.strategy,
            self.model,
            self.loss_fn,
            self.optimizer,
            c.batch_size,
            c.weight_decay,
            c.jit,
            check_gradients=self.precision != "float16",  # loss scaling skips inf steps itself
        )
        self.eval_step = make_eval_step(self.strategy, self.model, self.loss_fn)

    def _open_logs(self) -> None:
        logs = os.path.join(self.config.model_dir, "logs")
        if self.chief:
            self.train_writer = tf.summary.create_file_writer(os.path.join(logs, "train"))
            self.val_writer = tf.summary.create_file_writer(os.path.join(logs, "val"))
        else:
            self.train_writer = self.val_writer = tf.summary.create_noop_writer()

    # -- data ---------------------------------------------------------------

    def _dataset(self, sources, training: bool, epoch: int = 0, skip_steps: int = 0, seen=()):
        """A distributed one-epoch dataset (this worker's shard) and its EpochReport.

        With --data_service the training photos come in the workers' order, so a
        resumed epoch leaves out the photos it has `seen` instead of skipping batches.
        """
        c, found = self.config, {}
        service = c.data_service if training else None
        exclude = self._local_indices(seen) if service and skip_steps else None
        replicas_per_pipeline = self.replicas // self.num_workers

        def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
            pipelines = context.num_input_pipelines
            ds, found["report"] = make_dataset(
                sources,
                c.image_size,
                context.get_per_replica_batch_size(c.batch_size),
                training,
                seed=c.seed,
                skip_grayscale=c.skip_grayscale,
                shard=(pipelines, context.input_pipeline_id) if pipelines > 1 else None,
                # Workers must agree on the number of steps, so multi-worker drops partial batches.
                drop_remainder=training or pipelines > 1,
                epoch=epoch,
                data_service=service,
                exclude=exclude,
            )
            if training and c.steps_per_epoch:
                ds = ds.take((c.steps_per_epoch - (skip_steps if service else 0)) * replicas_per_pipeline)
            if not service:
                ds = ds.skip(skip_steps * replicas_per_pipeline)
            # Decoding errors make the length unknown to tf.data; the photo count bounds it.
            batches = found["report"].num_sources // context.get_per_replica_batch_size(c.batch_size)
            if training and c.steps_per_epoch:
                batches = min(batches, c.steps_per_epoch * replicas_per_pipeline)
            found["steps"] = batches // replicas_per_pipeline
            return ds

        dataset = self.strategy.distribute_datasets_from_function(dataset_fn)
        return dataset, found

    def _val_preview(self) -> np.ndarray | None:
        """The first --val_images validation crops (uint8), shown colorized every epoch."""
        c = self.config
        if not (self.chief and c.val_data and c.val_images):
            return None
        ds, _ = make_dataset(c.val_data, c.image_size, c.val_images, training=False, drop_remainder=False)
        return next(iter(ds))["rgb"].numpy()

    # -- training -----------------------------------------------------------

    def _train(self, position: _Position, seen: list[tuple], started: float) -> None:
        c = self.config
        self.wall_offset, self.started = position.wall_time_s, started
        if c.val_data:
            self.val_dataset, _ = self._dataset(c.val_data, training=False)
        while not self._done(position):
            dataset, found = self._dataset(c.train_data, True, position.epoch, position.batch_in_epoch, seen)
            # Drawn only on a terminal (no escape codes in logs); it shows the epoch's running mean
            # loss, the number the epoch line reports at the end.
            show = self.chief and c.progress and sys.stdout.isatty()
            bar = keras.utils.Progbar(found["steps"], verbose=1 if show else 0, stateful_metrics=["loss"])
            pending: list[tuple] = []
            for batch in dataset:
                poison = math.nan if position.step + 1 == c.inject_nan_at_step else 1.0
                loss, bad, indices, counts = self.train_step(batch, tf.constant(poison, tf.float32))
                position.step += 1
                position.batch_in_epoch += 1
                pending.append((position.step, loss, bad))
                seen.append((indices, counts))
                checkpoint_now = position.step % c.checkpoint_every_steps == 0
                if position.step % c.log_every_steps == 0 or checkpoint_now:
                    self._flush(pending, position, bar)
                if checkpoint_now:
                    self._save(position, seen)
                if (c.max_steps and position.step >= c.max_steps) or self._out_of_time(position):
                    break
            self._flush(pending, position, bar)
            if position.batch_in_epoch == 0:
                raise ValueError(
                    f"--train_data {', '.join(c.train_data)}: no full batch of {c.batch_size} usable photos "
                    f"in an epoch ({found['report'].num_sources} photos found; see the messages above)."
                )
            capped = bool(c.steps_per_epoch and position.batch_in_epoch >= c.steps_per_epoch)
            self._end_epoch(position, seen, found["report"], cut_short=capped or self._done(position))
            seen.clear()
            self._save(position, seen)

    def _done(self, position: _Position) -> bool:
        epochs, max_steps = self.config.epochs, self.config.max_steps
        return bool(
            (epochs and position.epoch >= epochs)
            or (max_steps and position.step >= max_steps)
            or self._out_of_time(position)
        )

    def _out_of_time(self, position: _Position) -> bool:
        """Past --max_train_time_s (over all sessions); a fresh run makes at least one step."""
        budget = self.config.max_train_time_s
        spent = self.wall_offset + time.time() - self.started
        return bool(budget and position.step > 0 and spent >= budget)

    def _flush(self, pending: list[tuple], position: _Position, bar: keras.utils.Progbar) -> None:
        """Fetch the pending losses (one device sync), stop on NaN/Inf, log them."""
        if not pending:
            return
        records = [(step, float(loss), float(bad)) for step, loss, bad in pending]
        pending.clear()
        if self.chief:
            with open(os.path.join(self.config.model_dir, LOG_FILE), "a", encoding="utf-8") as log:
                for step, loss, _ in records:
                    log.write(json.dumps({"step": step, "epoch": position.epoch, "loss": loss}) + "\n")
        for step, loss, bad in records:
            if not math.isfinite(loss) or bad:
                raise NonFiniteLossError(self._nan_message(step, position.epoch, loss, bad))
        losses = [loss for _, loss, _ in records]
        position.epoch_loss_sum += sum(losses)
        position.epoch_steps += len(losses)
        learning_rate = current_learning_rate(self.optimizer)
        with self.train_writer.as_default(step=position.step):
            tf.summary.scalar("loss", float(np.mean(losses)))
            tf.summary.scalar("learning_rate", learning_rate)
        bar.update(position.batch_in_epoch, [("loss", position.epoch_loss_sum / position.epoch_steps)])

    def _nan_message(self, step: int, epoch: int, loss: float, bad: float) -> str:
        what = f"the loss is {loss}" if not math.isfinite(loss) else "the gradients are not finite"
        steps = self.checkpoints.steps()
        kept = (
            f"The last good checkpoint (step {steps[-1]}) is intact in {self.checkpoints.path(steps[-1])}"
            if steps
            else "No checkpoint had been written yet"
        )
        return (
            f"Training stopped at step {step} (epoch {epoch}): {what}. {kept}. "
            "Lower --learning_rate or check the data, then rerun to resume from the checkpoint."
        )

    def _end_epoch(self, position: _Position, seen: list, report, cut_short: bool) -> None:
        """Report skipped photos, validate, write summaries, advance the epoch.

        An epoch we cut short (--steps_per_epoch, --max_steps) did not deliver
        the rest of its photos by design; the report would re-read all of them to
        tell skipped from undelivered, so skips are reported for complete epochs.
        """
        c = self.config
        message = None if cut_short else report.finish_epoch(self._local_indices(seen))
        if message:
            self._say(f"Epoch {position.epoch}: {message}", always=True)
        position.train_loss = position.epoch_loss_sum / max(position.epoch_steps, 1)
        position.val_loss = self._validate() if c.val_data else None
        self.inference_model.set_weights(self.model.get_weights())
        with self.train_writer.as_default(step=position.step):
            tf.summary.scalar("epoch_loss", position.train_loss)
        with self.val_writer.as_default(step=position.step):
            if position.val_loss is not None:
                tf.summary.scalar("loss", position.val_loss)
            if self.val_batch is not None:
                tf.summary.image("colorized", self._preview(), max_outputs=len(self.val_batch))
        val = "" if position.val_loss is None else f", val loss {position.val_loss:.4f}"
        train = f"train loss {position.train_loss:.4f}"
        self._say(f"Epoch {position.epoch} done at step {position.step}: {train}{val}")
        position.epoch += 1
        position.epochs_done += 1
        position.batch_in_epoch = 0
        position.epoch_loss_sum, position.epoch_steps = 0.0, 0

    def _local_indices(self, seen: list) -> np.ndarray:
        """This worker's share of the gathered indices: its replicas' slices of each step."""
        per_worker = self.replicas // self.num_workers
        first = self.worker_index * per_worker
        local = [np.zeros([0], np.int64)]
        for indices, counts in seen:
            per_replica = np.split(np.asarray(indices), np.cumsum(np.asarray(counts))[:-1])
            local += per_replica[first : first + per_worker]
        return np.concatenate(local)

    def _validate(self) -> float:
        total = count = 0.0
        for batch in self.val_dataset:
            batch_total, batch_count = self.eval_step(batch)
            total, count = total + float(batch_total), count + float(batch_count)
        return total / count if count else math.nan

    def _preview(self) -> np.ndarray:
        """[gray input | colorized | original] for each preview photo, through the Colorizer's layers."""
        rgb = self.val_batch
        colorizer = self._colorizer()
        colorized = np.asarray(colorizer(rgb))
        gray = ColorizerPostprocessor.recombine(
            colorizer.preprocessor.lightness(rgb), np.zeros((*rgb.shape[:-1], 2), np.float32)
        )
        return np.concatenate([np.asarray(gray), colorized, rgb], axis=2)

    def _colorizer(self, **settings) -> Colorizer:
        """The float32 twin as a Colorizer that sees photos at the training crop size."""
        return Colorizer(self.inference_model, work_size=self.config.image_size, **settings)

    def _save(self, position: _Position, seen: list) -> None:
        """Checkpoint (every worker writes; only the chief's copy is kept)."""
        position.wall_time_s = self.wall_offset + time.time() - self.started
        for name in self.counters:
            self.counters[name].assign(getattr(position, name))
        state = {"position": dataclasses.asdict(position)}
        arrays = {
            "seen": np.concatenate([np.zeros([0], np.int64)] + [np.asarray(i) for i, _ in seen]),
            "seen_counts": np.array([np.asarray(c) for _, c in seen], np.int64).reshape(
                len(seen), self.replicas
            ),
        }
        self.checkpoints.save(position.step, state, arrays)

    # -- results ------------------------------------------------------------

    def _finish(self, position: _Position) -> dict:
        """Write the trained Colorizer as a preset into model_dir (with training.json, the run's record)."""
        c = self.config
        self.inference_model.set_weights(self.model.get_weights())
        position.wall_time_s = self.wall_offset + time.time() - self.started
        results = {
            "model_path": c.model_dir,  # a preset folder: Colorizer.from_preset(model_path)
            "model_dir": c.model_dir,
            "steps": position.step,
            "epochs": position.epochs_done,
            "wall_time_s": position.wall_time_s,
            "train_loss": position.train_loss,
            "val_loss": position.val_loss,
        }
        if self.chief:
            summary = {
                "variant": c.variant,
                "loss": c.loss,
                "width": c.width,
                "image_size": c.image_size,
                "precision": self.precision,
                **results,
                "config": dataclasses.asdict(c),
            }
            metadata = {
                "description": f"{c.variant} colorizer (width {c.width:g}, {c.loss} loss), trained "
                f"{position.step} steps on {', '.join(c.train_data)}",
                **{k: v for k, v in summary.items() if k not in ("model_path", "model_dir", "config")},
                "encoder": self._encoder_source(),
                "train_data": list(c.train_data),
                "val_data": list(c.val_data),
                "batch_size": c.batch_size,
                "learning_rate": c.learning_rate,
                "seed": c.seed,
            }
            prior = np.load(os.path.join(c.model_dir, "prior.npy"))  # written by _prior() at the start
            self._colorizer(prior=prior, metadata=metadata).save_to_preset(c.model_dir)
            atomic_write_json(os.path.join(c.model_dir, "training.json"), summary)
            took = f"{position.step} steps ({position.wall_time_s:.0f} s)"
            self._say(f"Saved the preset {c.model_dir} after {took}.")
        self.train_writer.flush()
        self.val_writer.flush()
        return results

    def _say(self, message: str, always: bool = False) -> None:
        if self.chief or always:
            prefix = f"[worker {self.worker_index}] " if self.num_workers > 1 else ""
            print(prefix + message, flush=True)
