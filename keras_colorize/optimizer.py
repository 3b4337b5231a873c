"""The paper's optimiser: Adam (beta1 0.9, beta2 0.99), lr 3e-5 with step drops, weight decay 1e-3.

Weight decay is the Caffe kind the paper used: an L2 penalty
0.5 * decay * ||w||^2 on the convolution kernels (not biases or batch-norm
parameters) added to the loss, so its gradient decay * w goes through Adam
with the data gradient. (Keras' `weight_decay` argument is the decoupled
AdamW kind, which at lr 3e-5 would shrink weights by only 3e-8 per step.)
The learning rate is multiplied by `decay_factor` at each of `decay_steps`;
the paper went 3e-5 -> 1e-5 -> 3e-6, i.e. about 0.316 (sqrt(0.1)) per drop.

A pretrained encoder can learn more slowly than the decoder it feeds
(`ScaledAdam`: its variables' learning rate times a multiplier), so its
ImageNet features survive fine-tuning.
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


@keras.saving.register_keras_serializable(package="keras_colorize")
class ScaledAdam(keras.optimizers.Adam):
    """Adam whose learning rate is `multiplier` times smaller or larger for some variables.

    Adam's update does not scale with the gradient, so a slower encoder needs
    its own learning rate, not a scaled gradient.

    Args:
        multiplier: the learning-rate factor of the scaled variables.
        scaled_paths: `variable.path` of each variable the factor applies to
            (paths, not objects, so the optimizer's config stays plain data).
        **kwargs: `keras.optimizers.Adam`'s arguments.

    Example:

    >>> import keras
    >>> from keras_colorize.optimizer import ScaledAdam
    >>> slow, fast = keras.Variable(1.0, name="slow"), keras.Variable(1.0, name="fast")
    >>> optimizer = ScaledAdam(learning_rate=0.1, multiplier=0.1, scaled_paths=[slow.path])
    >>> _ = optimizer.apply_gradients([(keras.ops.ones(()), slow), (keras.ops.ones(()), fast)])
    >>> [round(1.0 - float(v.numpy()), 4) for v in (slow, fast)]
    [0.01, 0.1]
    """

    def __init__(self, multiplier: float = 1.0, scaled_paths: Sequence[str] = (), **kwargs):
        super().__init__(**kwargs)
        self.multiplier = float(multiplier)
        self.scaled_paths = tuple(scaled_paths)
        self._scaled_indices = frozenset()

    def build(self, variables) -> None:
        super().build(variables)
        paths = set(self.scaled_paths)
        self._scaled_indices = frozenset(i for i, v in enumerate(variables) if v.path in paths)

    def update_step(self, gradient, variable, learning_rate):
        # The TF backend passes the backing tf.Variable here: look it up by index, not by path.
        if self._get_variable_index(variable) in self._scaled_indices:
            learning_rate = ops.multiply(learning_rate, self.multiplier)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        scaled = {"multiplier": self.multiplier, "scaled_paths": list(self.scaled_paths)}
        return {**super().get_config(), **scaled}


def make_optimizer(
    learning_rate: float,
    beta_1: float,
    beta_2: float,
    decay_steps: Sequence[int],
    decay_factor: float,
    loss_scaling: bool,
    scaled_paths: Sequence[str] = (),
    multiplier: float = 1.0,
) -> keras.optimizers.Optimizer:
    """Adam with the step schedule; wrapped for dynamic loss scaling (float16).

    `scaled_paths` (variable paths) learn at `multiplier` times the rate (`ScaledAdam`).
    """
    optimizer = ScaledAdam(
        learning_rate=learning_rate_schedule(learning_rate, decay_steps, decay_factor),
        beta_1=beta_1,
        beta_2=beta_2,
        multiplier=multiplier,
        scaled_paths=scaled_paths,
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
