"""The JAX training step computes what the TensorFlow step computes (same weights, same crops)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf
from fixtures.extras import requires

from keras_colorize.losses import make_loss
from keras_colorize.model import build_model
from keras_colorize.optimizer import make_optimizer
from keras_colorize.rebalance import rebalancing_weights
from keras_colorize.trainer import make_train_step

STEPS, DECAY = 3, 1e-3


@requires("jax", "jax")
def test_jax_step_matches_the_tensorflow_step(tmp_path, photos):
    import keras
    from fixtures.tiny import PRIOR

    rgb = np.stack([p[:32, :32] for p in photos[:4]])
    np.save(tmp_path / "rgb.npy", rgb)
    np.save(tmp_path / "prior.npy", PRIOR)
    keras.utils.set_random_seed(7)
    model = build_model("4block", width=0.125)
    model.save_weights(tmp_path / "start.weights.h5")
    loss = make_loss("rebalanced", rebalancing_weights(PRIOR))
    optimizer = make_optimizer(1e-3, 0.9, 0.99, (), 1.0, loss_scaling=False)
    optimizer.build(model.trainable_variables)
    step = make_train_step(tf.distribute.get_strategy(), model, loss, optimizer, 4, DECAY, jit=False)
    batch = {"rgb": tf.constant(rgb), "index": tf.range(4, dtype=tf.int64)}
    tf_losses = [float(step(batch, tf.constant(1.0))[0]) for _ in range(STEPS)]

    script = textwrap.dedent(f"""
        import json, sys, numpy as np
        from keras_colorize.jax_step import JaxTrainStep
        from keras_colorize.losses import make_loss
        from keras_colorize.model import build_model
        from keras_colorize.optimizer import make_optimizer
        from keras_colorize.rebalance import rebalancing_weights
        model = build_model("4block", width=0.125)
        model.load_weights({str(tmp_path / "start.weights.h5")!r})
        loss = make_loss("rebalanced", rebalancing_weights(np.load({str(tmp_path / "prior.npy")!r})))
        optimizer = make_optimizer(1e-3, 0.9, 0.99, (), 1.0, loss_scaling=False)
        step = JaxTrainStep(model, loss, optimizer, {DECAY})
        rgb = np.load({str(tmp_path / "rgb.npy")!r})
        losses = [step(rgb) for _ in range({STEPS})]
        assert "tensorflow" not in sys.modules
        print(json.dumps(losses))
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jax_losses = json.loads(result.stdout.strip().splitlines()[-1])
    # float32 on two backends' CPU kernels: the same numbers up to summation order.
    np.testing.assert_allclose(jax_losses, tf_losses, rtol=1e-4)
    assert tf_losses[-1] < tf_losses[0]  # it trains
