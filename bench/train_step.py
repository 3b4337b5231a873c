"""Training-step time against the FLOP floor on this machine (CPU).

    python bench/train_step.py [--steps=3] [--jit]

Times the trainer's own distributed step (`keras_colorize.trainer.make_train_step`:
on-device Lab targets, the rebalanced loss, Adam) for the `full` network at 256 px,
batch 8, on one fixed synthetic batch (no input pipeline), and compares it with
the floor: the step's FLOPs (from the layer shapes, `flops.py`) divided by the
float32 rate of a large `tf.matmul` measured just before each step. For
reference it also times a plain Keras step on the same network and batch
(`train_on_batch` of the logits model with a dense soft-target cross-entropy),
interleaved with ours. Prints a table and writes bench/results/train_step.json.
"""

import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flops import forward_flops, training_flops

from keras_colorize.bins import soft_encode
from keras_colorize.losses import make_loss
from keras_colorize.model import build_model, logits_model
from keras_colorize.optimizer import make_optimizer
from keras_colorize.preprocessing import training_pair
from keras_colorize.rebalance import rebalancing_weights, smooth_prior
from keras_colorize.trainer import make_train_step

FLAGS = flags.FLAGS
flags.DEFINE_string("variant", "full", "Network variant.")
flags.DEFINE_float("width", 1.0, "Channel multiplier.")
flags.DEFINE_integer("image_size", 256, "Crop size.")
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("steps", 3, "Timed steps (each takes tens of seconds on 2 CPU cores).")
flags.DEFINE_integer("warmup", 1, "Untimed steps first (tracing, allocation).")
flags.DEFINE_boolean("jit", False, "XLA-compile the forward/backward pass.")
flags.DEFINE_integer("matmul_size", 4096, "n for the n x n float32 matmul that measures the peak rate.")
flags.DEFINE_string(
    "output", os.path.join(os.path.dirname(__file__), "results", "train_step.json"), "JSON out."
)


def matmul_rate(n: int, repeats: int = 5) -> float:
    """Best-of-`repeats` float32 FLOP/s of an n x n matmul."""
    a = tf.random.normal([n, n], dtype=tf.float32)
    b = tf.random.normal([n, n], dtype=tf.float32)
    matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
    float(matmul(a, b))
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        float(matmul(a, b))
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def plain_keras_step(variant: str, width: float, rgb: tf.Tensor):
    """One `train_on_batch` of a separately built copy of the network: the plain-Keras reference."""
    model = logits_model(build_model(variant, width))
    model.compile(
        optimizer=keras.optimizers.Adam(3e-5, beta_1=0.9, beta_2=0.99),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    lightness, ab = training_pair(rgb)
    targets = soft_encode(ab)
    return lambda: model.train_on_batch(lightness, targets)


def main(argv):
    del argv
    load_before = os.getloadavg()
    strategy = tf.distribute.get_strategy()
    model = build_model(FLAGS.variant, FLAGS.width)
    optimizer = make_optimizer(3e-5, 0.9, 0.99, (), 1.0, loss_scaling=False)
    optimizer.build(model.trainable_variables)
    loss_fn = make_loss("rebalanced", rebalancing_weights(smooth_prior(np.ones(313))))
    step = make_train_step(strategy, model, loss_fn, optimizer, FLAGS.batch_size, 1e-3, FLAGS.jit)
    rng = np.random.default_rng(0)
    size = FLAGS.image_size
    batch = {
        "index": tf.range(FLAGS.batch_size, dtype=tf.int64),
        "rgb": tf.constant(rng.integers(0, 256, (FLAGS.batch_size, size, size, 3), dtype=np.uint8)),
    }
    one = tf.constant(1.0)
    plain = plain_keras_step(FLAGS.variant, FLAGS.width, batch["rgb"])
    for _ in range(FLAGS.warmup):
        float(step(batch, one)[0])
        plain()
    # On a shared machine the cores' availability changes from second to second, so
    # each step is paired with a matmul probe taken just before it, and the plain
    # Keras step runs right after ours.
    times, rates, plain_times = [], [], []
    for _ in range(FLAGS.steps):
        rates.append(matmul_rate(FLAGS.matmul_size, repeats=3))
        start = time.perf_counter()
        float(step(batch, one)[0])
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain()
        plain_times.append(time.perf_counter() - start)
    per_image = training_flops(model, size)
    step_flops = per_image * FLAGS.batch_size
    ratios = [t * r / step_flops for t, r in zip(times, rates, strict=True)]
    step_time = float(np.median(times))
    rate = float(np.median(rates))
    floor = step_flops / rate
    result = {
        "variant": FLAGS.variant,
        "width": FLAGS.width,
        "image_size": size,
        "batch_size": FLAGS.batch_size,
        "jit": FLAGS.jit,
        "forward_gflop_per_image": forward_flops(model, size) / 1e9,
        "training_gflop_per_image": per_image / 1e9,
        "step_times_s": times,
        "step_time_s": step_time,
        "achieved_gflops": step_flops / step_time / 1e9,
        "matmul_gflops": rate / 1e9,
        "matmul_gflops_per_step": [r / 1e9 for r in rates],
        "floor_s": floor,
        "ratio_to_floor_per_step": ratios,
        "ratio_to_floor": float(np.median(ratios)),
        "plain_keras_step_times_s": plain_times,
        "ratio_to_plain_keras_per_step": [t / p for t, p in zip(times, plain_times, strict=True)],
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "note": "shared machine: other jobs were running; the load average shows how busy it was",
    }
    plain_time = float(np.median(plain_times))
    print(f"{'step':<34} {'seconds':>8} {'GFLOP/s':>8} {'x floor':>8}")
    for name, seconds in (("floor (FLOPs / matmul rate)", floor), ("plain Keras train_on_batch", plain_time),
                          ("keras-colorize trainer step", step_time)):  # fmt: skip
        print(f"{name:<34} {seconds:>8.2f} {step_flops / seconds / 1e9:>8.1f} {seconds / floor:>8.2f}")
    print(
        f"{FLAGS.variant} {size}px batch {FLAGS.batch_size}: training {per_image / 1e9:.1f} GFLOP/image "
        f"(forward {result['forward_gflop_per_image']:.1f}), step {step_time:.2f} s "
        f"= {result['achieved_gflops']:.1f} GFLOP/s; matmul {rate / 1e9:.1f} GFLOP/s -> floor {floor:.2f} s; "
        f"step / floor = {result['ratio_to_floor']:.2f} (per step {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"load {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}); ours / plain Keras = "
        f"{float(np.median(result['ratio_to_plain_keras_per_step'])):.2f}"
    )
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    app.run(main)
