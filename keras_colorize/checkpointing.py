"""Crash-safe checkpoints and output files: the package's one set of atomic writes.

`atomic_write` (a file), `atomic_write_json` and `atomic_directory` (a
folder) write to a temporary name beside the target and rename it.

A checkpoint is written into a temporary directory, flushed to disk and then
renamed to `ckpt-<step>`: a rename within one POSIX file system is atomic, so
a run killed at any moment leaves either the complete new checkpoint or none
(a leftover `.tmp-*` directory, which is ignored and cleaned up). Only the
newest `keep` checkpoints are kept. Atomicity relies on `os.rename`, so the
model directory must be on a local or POSIX file system.
"""

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable

import numpy as np
import tensorflow as tf

_CKPT_DIR = re.compile(r"^ckpt-(\d+)$")
_PREFIX = "ckpt"  # file prefix inside a checkpoint directory
_STATE = "state.json"


def _fsync_tree(path: str) -> None:
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(path)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call `write(temporary_path)` and rename the result onto `path`.

    The temporary file keeps `path`'s suffix (Keras insists on `.keras`).
    """
    directory, name = os.path.split(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{name}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _fsync_dir(directory)


@contextlib.contextmanager
def atomic_directory(path: str):
    """Yield a temporary folder beside `path`; when the block succeeds it is renamed to `path`.

    The rename fails (and the folder is removed) if `path` exists by then, so
    a complete folder is never replaced and a half-written one never seen.
    """
    parent, name = os.path.split(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent)
    try:
        yield staging
        _fsync_tree(staging)
        os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(parent)


def atomic_write_json(path: str, data: dict) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)

    atomic_write(path, write)


class CheckpointManager:
    """Atomic `tf.train.Checkpoint` directories plus a small JSON state.

    Args:
        checkpoint: what to save (model, optimizer, counters, RNG...).
        directory: where the `ckpt-<step>` directories live.
        keep: how many of the newest checkpoints to keep.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, keep: int = 3):
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}.")
        self.checkpoint = checkpoint
        self.directory = directory
        self.keep = keep

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, oldest first."""
        if not os.path.isdir(self.directory):
            return []
        found = (_CKPT_DIR.match(name) for name in os.listdir(self.directory))
        return sorted(int(m.group(1)) for m in found if m)

    def path(self, step: int) -> str:
        return os.path.join(self.directory, f"ckpt-{step:09d}")

    def save(self, step: int, state: dict, arrays: dict[str, np.ndarray] | None = None) -> str:
        """Write checkpoint `step` with `state` (JSON-serialisable) and `arrays` atomically."""
        os.makedirs(self.directory, exist_ok=True)
        final = self.path(step)
        tmp = os.path.join(self.directory, f".tmp-ckpt-{step:09d}-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        self.checkpoint.write(os.path.join(tmp, _PREFIX))
        with open(os.path.join(tmp, _STATE), "w", encoding="utf-8") as f:
            json.dump({**state, "step": step}, f)
        for name, array in (arrays or {}).items():
            np.save(os.path.join(tmp, f"{name}.npy"), array)
        _fsync_tree(tmp)
        if os.path.exists(final):  # the same step saved again after a resume
            self._discard(final)
        os.rename(tmp, final)
        _fsync_dir(self.directory)
        for old in self.steps()[: -self.keep]:
            self._discard(self.path(old))
        return final

    def restore_latest(self) -> dict | None:
        """Restore the newest checkpoint; its state, or None if there is none."""
        steps = self.steps()
        if not steps:
            return None
        path = self.path(steps[-1])
        self.checkpoint.read(os.path.join(path, _PREFIX)).assert_existing_objects_matched()
        with open(os.path.join(path, _STATE), encoding="utf-8") as f:
            return json.load(f)

    def load_array(self, step: int, name: str) -> np.ndarray:
        """An array saved with checkpoint `step`."""
        return np.load(os.path.join(self.path(step), f"{name}.npy"))

    def remove_stale_temporaries(self) -> None:
        """Delete half-written checkpoints left by a killed run."""
        if os.path.isdir(self.directory):
            for name in os.listdir(self.directory):
                if name.startswith(".tmp-"):
                    shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def _discard(self, path: str) -> None:
        # Rename first so a crash mid-delete never leaves a partial ckpt-<step>.
        doomed = os.path.join(self.directory, f".tmp-del-{os.path.basename(path)}-{os.getpid()}")
        os.rename(path, doomed)
        shutil.rmtree(doomed)
