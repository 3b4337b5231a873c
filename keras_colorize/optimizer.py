"""The paper's optimiser: Adam (beta1 0.9, beta2 0.99), lr 3e-5 with step drops, weight decay 1e-3.

Weight decay is the Caffe kind the paper used: an L2 penalty
0.5 * decay * ||w||^2 on the convolution kernels (not biases or batch-norm
parameters) added to the loss, so its gradient decay * w goes through Adam
with the data gradient. (Keras' `weight_decay` argument is the decoupled
AdamW kind, which at lr 3e-5 would shrink weights by only 3e-8 per step.)
The learning rate is multiplied by `decay_factor` at each of `decay_steps`;
the paper went 3e-5 -> 1e-5 -> 3e-6, i.e. about 0.316 (sqrt(0.1)) per drop.
"""

from collections.abc import Sequence

import keras
from keras import ops


def learning_rate_schedule(
    learning_rate: float, decay_steps: Sequence[int], decay_factor: float
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    if not decay_steps:
        return learning_rate
    values = [learning_rate * decay_factor**i for i in range(len(decay_steps) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(list(decay_steps), values)


def make_optimizer(
    learning_rate: float,
    beta_1: float,
    beta_2: float,
    decay_steps: Sequence[int],
    decay_factor: float,
    loss_scaling: bool,
) -> keras.optimizers.Optimizer:
    """Adam with the step schedule; wrapped for dynamic loss scaling (float16)."""
    optimizer = keras.optimizers.Adam(
        learning_rate_schedule(learning_rate, decay_steps, decay_factor), beta_1=beta_1, beta_2=beta_2
    )
    return keras.optimizers.LossScaleOptimizer(optimizer) if loss_scaling else optimizer


def current_learning_rate(optimizer: keras.optimizers.Optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return float(keras.ops.convert_to_numpy(inner.learning_rate))


def is_decayed(variable: keras.Variable) -> bool:
    """Weight decay applies to convolution kernels only."""
    return variable.path.endswith("kernel")


def weight_decay_loss(kernels: Sequence, decay: float):
    """0.5 * decay * sum of the squared `kernels` (variables or, in a stateless step, their values)."""
    return 0.5 * decay * sum(ops.sum(ops.square(ops.cast(k, "float32"))) for k in kernels)
