"""Training throughput of one precision on one accelerator; run by bench/gpu_train.sh.

    KERAS_BACKEND=tensorflow|jax python bench/gpu_train.py --data_dir=photos --precision=bfloat16

Photos are decoded and centre-cropped on the host with Pillow into a pool of
uint8 batches, so the timing is the training step (host-to-device copy of the
uint8 batch included), not JPEG decoding. The step is the real one:

* TensorFlow: `keras_colorize.trainer.make_train_step` (the trainer's
  distributed step, optionally XLA-compiled).
* JAX: `keras_colorize.jax_step.JaxTrainStep`, the same computation (the
  same loss, model and optimizer code), a `jax.jit` step over `stateless_call`
  of the logits network, the loss layer and `optimizer.stateless_apply`. This
  path imports no TensorFlow.

Prints images/s, the model TFLOP/s achieved (forward FLOPs from the layer
shapes, x3 for training) and peak accelerator memory; --output appends a
JSON line.
"""

import json
import os
import sys
import time

import keras
import numpy as np
from absl import app, flags
from PIL import Image, ImageOps

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flops import forward_flops, training_flops

from keras_colorize.losses import make_loss
from keras_colorize.model import build_model
from keras_colorize.optimizer import make_optimizer
from keras_colorize.rebalance import rebalancing_weights, smooth_prior

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Folder of photos (searched recursively).")
flags.DEFINE_enum(
    "precision", "float32", ["float32", "bfloat16"], "Compute dtype (softmax and loss stay float32)."
)
flags.DEFINE_string("variant", "full", "Network variant.")
flags.DEFINE_float("width", 1.0, "Channel multiplier.")
flags.DEFINE_integer("image_size", 256, "Crop size.")
flags.DEFINE_integer("batch_size", 32, "Batch size.")
flags.DEFINE_integer("steps", 50, "Timed steps.")
flags.DEFINE_integer("warmup", 5, "Untimed steps first (compilation).")
flags.DEFINE_integer("pool_batches", 4, "Distinct host batches cycled through.")
flags.DEFINE_boolean("jit", True, "TensorFlow: XLA-compile the forward/backward pass (JAX always compiles).")
flags.DEFINE_string("output", None, "Append the result as a JSON line to this file.")
flags.mark_flag_as_required("data_dir")

PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
LEARNING_RATE, BETA_1, BETA_2, WEIGHT_DECAY = 3e-5, 0.9, 0.99, 1e-3  # the paper's


def host_batches(folder: str, size: int, batch_size: int, pool_batches: int) -> list[np.ndarray]:
    """Centre crops of the first photos in `folder` as uint8 [batch, size, size, 3] batches."""
    paths = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(folder)
        for name in names
        if name.lower().endswith(PHOTO_EXTENSIONS)
    )
    if not paths:
        raise SystemExit(f"--data_dir {folder!r}: no photos ({', '.join(PHOTO_EXTENSIONS)}) found.")
    crops = []
    for path in paths[: batch_size * pool_batches]:
        with Image.open(path) as image:
            photo = ImageOps.exif_transpose(image).convert("RGB")
            crops.append(np.asarray(ImageOps.fit(photo, (size, size), Image.Resampling.BILINEAR)))
    while len(crops) < batch_size * pool_batches:  # few photos: repeat them
        crops += crops[: batch_size * pool_batches - len(crops)]
    return list(np.stack(crops).reshape(pool_batches, batch_size, size, size, 3))


def make_step(model: keras.Model, loss_layer):
    """A step (uint8 batch -> loss) for the running backend."""
    optimizer = make_optimizer(LEARNING_RATE, BETA_1, BETA_2, (), 1.0, loss_scaling=False)
    optimizer.build(model.trainable_variables)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        from keras_colorize.trainer import make_train_step

        step = make_train_step(
            tf.distribute.get_strategy(),
            model,
            loss_layer,
            optimizer,
            FLAGS.batch_size,
            WEIGHT_DECAY,
            FLAGS.jit,
        )
        one = tf.constant(1.0)
        index = tf.range(FLAGS.batch_size, dtype=tf.int64)
        return lambda rgb: float(step({"index": index, "rgb": tf.constant(rgb)}, one)[0])
    if keras.backend.backend() == "jax":
        return _jax_step(model, loss_layer, optimizer)
    raise SystemExit(f"Backend {keras.backend.backend()!r} is not supported here; use tensorflow or jax.")


def _jax_step(model: keras.Model, loss_layer, optimizer):
    from keras_colorize.jax_step import JaxTrainStep

    return JaxTrainStep(model, loss_layer, optimizer, WEIGHT_DECAY)


def peak_memory_bytes() -> int | None:
    """Peak accelerator memory of this process, None on CPU."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        stats = device.memory_stats() if device.platform != "cpu" else None
        return stats.get("peak_bytes_in_use") if stats else None
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"]


def device_name() -> str:
    if keras.backend.backend() == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU"


def main(argv):
    del argv
    batches = host_batches(FLAGS.data_dir, FLAGS.image_size, FLAGS.batch_size, FLAGS.pool_batches)
    if FLAGS.precision == "bfloat16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    model = build_model(FLAGS.variant, FLAGS.width)
    loss_layer = make_loss("rebalanced", rebalancing_weights(smooth_prior(np.ones(313))))
    step = make_step(model, loss_layer)
    for i in range(FLAGS.warmup):
        step(batches[i % len(batches)])
    start = time.perf_counter()
    for i in range(FLAGS.steps):
        loss = step(batches[i % len(batches)])  # float(): waits for the device
    elapsed = time.perf_counter() - start
    images_per_s = FLAGS.steps * FLAGS.batch_size / elapsed
    peak = peak_memory_bytes()
    result = {
        "backend": keras.backend.backend(),
        "device": device_name(),
        "precision": FLAGS.precision,
        "variant": FLAGS.variant,
        "width": FLAGS.width,
        "image_size": FLAGS.image_size,
        "batch_size": FLAGS.batch_size,
        "steps": FLAGS.steps,
        "jit": FLAGS.jit or keras.backend.backend() == "jax",
        "images_per_s": images_per_s,
        "forward_gflop_per_image": forward_flops(model, FLAGS.image_size) / 1e9,
        "model_tflops": images_per_s * training_flops(model, FLAGS.image_size) / 1e12,
        "peak_memory_gib": None if peak is None else peak / 2**30,
        "last_loss": loss,
    }
    memory = "n/a (no GPU)" if peak is None else f"{peak / 2**30:.2f} GiB"
    print(
        f"[{result['backend']} on {result['device']}, {FLAGS.precision}] {FLAGS.variant} x{FLAGS.width} "
        f"{FLAGS.image_size}px batch {FLAGS.batch_size}: {images_per_s:.1f} images/s, "
        f"{result['model_tflops']:.2f} model TFLOP/s ({result['forward_gflop_per_image']:.1f} GFLOP forward "
        f"per image, x3 for training), peak memory {memory}, loss {loss:.3f}",
        flush=True,
    )
    if FLAGS.output:
        with open(FLAGS.output, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    app.run(main)
