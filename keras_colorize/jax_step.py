"""The training step under `KERAS_BACKEND=jax`: the TensorFlow step's computation, jitted by JAX.

`keras_colorize.trainer.make_train_step` is the TensorFlow step (every
tf.distribute strategy); this is the same computation for one JAX device,
built from the same pieces: `preprocessing.training_pair` (L and the ab
targets from uint8 crops, on the device), the network's logits
(`model.logits_model`), the loss layer of `losses.make_loss`, the Caffe-style
weight decay of `optimizer.weight_decay_loss` and a Keras optimizer, applied
with `stateless_call` / `stateless_apply` inside one `jax.jit`. It imports no
TensorFlow. `bench/gpu_train.py` times it against the TensorFlow step.
"""

import keras

from keras_colorize.model import logits_model
from keras_colorize.optimizer import is_decayed, weight_decay_loss
from keras_colorize.preprocessing import training_pair


class JaxTrainStep:
    """A jitted training step on uint8 crops: `step(rgb) -> loss` (a Python float).

    The model's and the optimizer's variables live in `state` between calls;
    `sync()` writes them back into the Keras variables (to save the model).

    Args:
        model: a `kc.Backbone` (any variant), built under the JAX backend.
        loss_fn: the loss layer (`losses.make_loss`), per-image losses from
            (ab targets, logits or ab).
        optimizer: a Keras optimizer (`optimizer.make_optimizer`); built here
            if it is not yet.
        weight_decay: the Caffe-style L2 factor on the kernels (0: none).

    Example:

    >>> import numpy as np, keras  # with KERAS_BACKEND=jax
    >>> import keras_colorize as kc
    >>> from keras_colorize.losses import make_loss
    >>> model = kc.build_model("4block", width=0.125)
    >>> step = JaxTrainStep(model, make_loss("plain"), keras.optimizers.Adam(1e-3))  # doctest: +SKIP
    >>> loss = step(np.zeros((2, 32, 32, 3), "uint8"))  # doctest: +SKIP
    """

    def __init__(self, model: keras.Model, loss_fn, optimizer: keras.optimizers.Optimizer, weight_decay=0.0):
        import jax

        if keras.backend.backend() != "jax":
            raise RuntimeError(f"JaxTrainStep needs KERAS_BACKEND=jax, not {keras.backend.backend()!r}")
        self.net = logits_model(model)
        self.optimizer = optimizer
        if not optimizer.built:
            optimizer.build(self.net.trainable_variables)
        decayed = [is_decayed(v) for v in self.net.trainable_variables]
        net = self.net

        def loss_of(trainable, non_trainable, rgb):
            lightness, ab = training_pair(rgb)
            prediction, non_trainable = net.stateless_call(trainable, non_trainable, lightness, training=True)
            loss = keras.ops.mean(loss_fn(ab, prediction))
            total = loss
            if weight_decay:
                kernels = [value for value, decay in zip(trainable, decayed, strict=True) if decay]
                total = total + weight_decay_loss(kernels, weight_decay)
            return total, (loss, non_trainable)

        gradient_of = jax.value_and_grad(loss_of, has_aux=True)

        @jax.jit
        def train_step(state, rgb):
            trainable, non_trainable, optimizer_state = state
            (_, (loss, non_trainable)), grads = gradient_of(trainable, non_trainable, rgb)
            trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
            return loss, (trainable, non_trainable, optimizer_state)

        self._train_step = train_step
        self.state = (
            [v.value for v in net.trainable_variables],
            [v.value for v in net.non_trainable_variables],
            [v.value for v in optimizer.variables],
        )

    def __call__(self, rgb) -> float:
        loss, self.state = self._train_step(self.state, rgb)
        return float(loss)  # waits for the device

    def sync(self) -> None:
        """Write the step's state back into the model's and the optimizer's variables."""
        trainable, non_trainable, optimizer_state = self.state
        for variable, value in zip(self.net.trainable_variables, trainable, strict=True):
            variable.assign(value)
        for variable, value in zip(self.net.non_trainable_variables, non_trainable, strict=True):
            variable.assign(value)
        for variable, value in zip(self.optimizer.variables, optimizer_state, strict=True):
            variable.assign(value)
