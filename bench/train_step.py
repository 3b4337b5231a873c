"""Training-step time against the FLOP floor on this machine (CPU).

    python bench/train_step.py [--steps=3] [--jit] [--precision=float32,bfloat16]

Times the trainer's own distributed step (`keras_colorize.trainer.make_train_step`:
on-device Lab targets, the rebalanced loss, Adam) for the `full` network at 256 px,
batch 8, on one fixed synthetic batch (no input pipeline), and compares it with
the floor: the step's FLOPs (from the layer shapes, `flops.py`) divided by the
float32 rate of a large `tf.matmul` measured just before each step. For
reference it also times a plain Keras step on the same network and batch
(`train_on_batch` of the logits model with a dense soft-target cross-entropy),
interleaved with ours. Each precision of --precision (Keras mixed policies; the
first is the reference) gets its own copy of both steps, and every timing round
runs them all in turn, so the speedups are ratios measured side by side. Prints a
table and writes bench/results/train_step.json.
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
from keras_colorize.precision import PRECISIONS, cpu_flags, dtype_policy
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
flags.DEFINE_list(
    "precision", ["float32", "bfloat16"], "Precisions timed side by side (the first is the reference)."
)
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


# --precision names -> Keras policies (the trainer's table; its "none" is float32 here).
POLICIES = {
    name: PRECISIONS["none" if name == "float32" else name] for name in ("float32", "bfloat16", "float16")
}


def build_steps(precision: str, rgb: tf.Tensor) -> dict:
    """Our trainer step and the plain-Keras step for one precision (built under its policy)."""
    with dtype_policy(POLICIES[precision]):
        model = build_model(FLAGS.variant, FLAGS.width)
        optimizer = make_optimizer(3e-5, 0.9, 0.99, (), 1.0, loss_scaling=precision == "float16")
        optimizer.build(model.trainable_variables)
        loss_fn = make_loss("rebalanced", rebalancing_weights(smooth_prior(np.ones(313))))
        strategy = tf.distribute.get_strategy()
        step = make_train_step(strategy, model, loss_fn, optimizer, FLAGS.batch_size, 1e-3, FLAGS.jit)
        plain = plain_keras_step(FLAGS.variant, FLAGS.width, rgb)
    batch = {"index": tf.range(FLAGS.batch_size, dtype=tf.int64), "rgb": rgb}
    one = tf.constant(1.0)
    return {"model": model, "ours": lambda: float(step(batch, one)[0]), "plain": plain}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv):
    del argv
    unknown = [p for p in FLAGS.precision if p not in POLICIES]
    if unknown:
        raise app.UsageError(f"--precision: unknown {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    size = FLAGS.image_size
    rgb = tf.constant(rng.integers(0, 256, (FLAGS.batch_size, size, size, 3), dtype=np.uint8))
    steps = {p: build_steps(p, rgb) for p in FLAGS.precision}
    for _ in range(FLAGS.warmup):
        for built in steps.values():
            built["ours"]()
            built["plain"]()
    # On a shared machine the cores' availability changes from second to second, so
    # every round takes a matmul probe, then each precision's step and plain Keras
    # step in turn: all figures of one round are measured side by side.
    rates = []
    times = {p: {"ours": [], "plain": []} for p in steps}
    for _ in range(FLAGS.steps):
        rates.append(matmul_rate(FLAGS.matmul_size, repeats=3))
        for precision, built in steps.items():
            times[precision]["ours"].append(timed(built["ours"]))
            times[precision]["plain"].append(timed(built["plain"]))
    model = steps[FLAGS.precision[0]]["model"]
    per_image = training_flops(model, size)
    step_flops = per_image * FLAGS.batch_size
    rate = float(np.median(rates))
    floor = step_flops / rate
    reference = FLAGS.precision[0]
    result = {
        "variant": FLAGS.variant,
        "width": FLAGS.width,
        "image_size": size,
        "batch_size": FLAGS.batch_size,
        "jit": FLAGS.jit,
        "forward_gflop_per_image": forward_flops(model, size) / 1e9,
        "training_gflop_per_image": per_image / 1e9,
        "matmul_gflops": rate / 1e9,
        "matmul_gflops_per_round": [r / 1e9 for r in rates],
        "floor_s": floor,
        "precisions": {},
        "cpu_count": os.cpu_count(),
        "cpu_bf16": sorted({"avx512_bf16", "amx_bf16"} & cpu_flags()),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
    }
    print(f"{FLAGS.variant} x{FLAGS.width:g}, {size}px, batch {FLAGS.batch_size}; {FLAGS.steps} rounds")
    print(f"{'step':<40} {'seconds':>8} {'x floor':>8} {f'{reference} / it':>16}")
    print(f"{'floor (FLOPs / float32 matmul rate)':<40} {floor:>8.2f} {1.0:>8.2f} {'':>16}")
    for precision, measured in times.items():
        ours, plain = np.array(measured["ours"]), np.array(measured["plain"])
        speedup = np.array(times[reference]["ours"]) / ours  # per round, then the median
        result["precisions"][precision] = {
            "step_times_s": ours.tolist(),
            "step_time_s": float(np.median(ours)),
            "plain_keras_step_times_s": plain.tolist(),
            "ratio_to_floor": float(np.median(ours / floor)),
            "ratio_to_plain_keras": float(np.median(ours / plain)),
            f"speedup_over_{reference}_per_round": speedup.tolist(),
            f"speedup_over_{reference}": float(np.median(speedup)),
        }
        for name, values, ratio in (
            (f"keras-colorize step, {precision}", ours, speedup),
            (f"plain Keras train_on_batch, {precision}", plain, np.array(times[reference]["plain"]) / plain),
        ):
            seconds = float(np.median(values))
            print(f"{name:<40} {seconds:>8.2f} {seconds / floor:>8.2f} {float(np.median(ratio)):>15.2f}x")
    print(f"load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    app.run(main)
