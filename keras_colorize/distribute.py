"""Distribution strategies for training, and who may write to the model directory.

All strategies run the same custom training step (`trainer.py`). We do not
use `model.fit`: with Keras 3 on TensorFlow 2.21 it fails under
`MultiWorkerMirroredStrategy` (keras-team/keras issues 20585 and 20329), and
one hand-written step keeps every strategy on one code path.
"""

import json
import os
import shutil
import tempfile

import tensorflow as tf

from keras_colorize.choices import STRATEGIES


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy named "default", "mirrored", "multi_worker" (TF_CONFIG) or "tpu".

    `tpu` follows the TensorFlow guide (TPUClusterResolver, initialize the TPU
    system) but has not been tested on a TPU.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs TF_CONFIG (the cluster and this task).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")


def worker_info(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(number of workers, this worker's index); (1, 0) without multi-worker training."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return 1, 0
    workers = len(resolver.cluster_spec().as_dict().get("worker", [])) or 1
    return workers, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """The chief (worker 0 unless TF_CONFIG names a "chief" task) writes the outputs."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    tf_config = json.loads(os.environ["TF_CONFIG"])
    task, cluster = tf_config.get("task", {}), tf_config.get("cluster", {})
    if "chief" in cluster:
        return task.get("type") == "chief"
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0


class WriteDir:
    """The chief writes to `model_dir`; other workers write the same files to a
    temporary directory deleted afterwards (saving may need every worker's
    collective ops, so everyone must write, but only the chief's copy counts).
    """

    def __init__(self, model_dir: str, chief: bool):
        self.chief = chief
        self.path = model_dir if chief else tempfile.mkdtemp(prefix="colorize_worker_")

    def cleanup(self) -> None:
        if not self.chief:
            shutil.rmtree(self.path, ignore_errors=True)
