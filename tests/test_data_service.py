"""tf.data service on loopback: a dispatcher and 2 workers in this process feed `make_dataset` and `train`."""

import json
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

from keras_colorize.data import make_dataset
from keras_colorize.data.pipeline import service_address
from keras_colorize.data.service import start_servers
from keras_colorize.trainer import run_training
from tests.test_resume import ROOT, kill_after_first_checkpoint, losses, train_command
from tests.test_train import PHOTOS, tiny


@pytest.fixture(scope="module")
def service():
    address, servers = start_servers(dispatcher_port=0, workers=2)
    yield address
    for server in reversed(servers):  # stopping waits for the workers' jobs to time out (~20 s)
        server.stop()


def crops(dataset) -> dict[int, bytes]:
    pairs = ((i, rgb) for b in dataset for i, rgb in zip(b["index"].numpy(), b["rgb"].numpy(), strict=True))
    return {int(i): rgb.tobytes() for i, rgb in pairs}


@pytest.mark.slow
def test_data_service_epoch_has_the_local_photos_and_crops(service):
    local, _ = make_dataset(PHOTOS, 32, 4, training=True, seed=3, epoch=1)
    remote, _ = make_dataset(PHOTOS, 32, 4, training=True, seed=3, epoch=1, data_service=service)
    assert crops(remote) == crops(local)  # the same 12 photos, each with the same crop, bitwise
    resumed, _ = make_dataset(PHOTOS, 32, 2, training=True, seed=3, epoch=1, drop_remainder=False,
                              data_service=service, exclude=[0, 5, 7])  # fmt: skip
    # What a resumed epoch does (trainer: exclude the photos the checkpoint says were seen).
    assert sorted(crops(resumed)) == sorted(set(range(12)) - {0, 5, 7})


@pytest.mark.slow
def test_data_service_training_loss_equals_the_local_pipeline(service, tmp_path):
    # One batch of all 12 photos per epoch: the service changes the order within the batch only,
    # and the loss (a mean) and batch norm do not depend on it, up to float rounding.
    runs = {}
    for name, address in (("local", None), ("service", service)):
        config = tiny(tmp_path / name, batch_size=12, epochs=3, data_service=address)
        run_training(config)
        lines = pathlib.Path(config.model_dir, "train_log.jsonl").read_text().splitlines()
        runs[name] = [json.loads(line)["loss"] for line in lines]
    assert len(runs["service"]) == 3
    np.testing.assert_allclose(runs["service"], runs["local"], rtol=1e-4)


@pytest.mark.slow
def test_data_service_epoch_end_names_skipped_photos(service, tmp_path, capsys):
    photos = tmp_path / "photos"
    shutil.copytree(PHOTOS, photos)
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    config = tiny(tmp_path / "run", train_data=[str(photos)], epochs=2, loss="plain", data_service=service)
    assert run_training(config)["steps"] == 6  # 12 good photos, batch 4
    output = capsys.readouterr().out
    for epoch in (0, 1):
        assert f"Epoch {epoch}: Skipped 1 of 13 photos" in output
    assert "broken.jpg (unreadable" in output and "not among the indices" not in output


@pytest.mark.slow
def test_data_service_sigkill_mid_epoch_resume(service, tmp_path):
    # The resumed epoch leaves out the photos the checkpoint says were seen; the order is the workers'.
    command = [*train_command(tmp_path), f"--data_service={service}"]
    assert kill_after_first_checkpoint(command, tmp_path) < 12

    rerun = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = re.search(r"Resuming from step (\d+) \(epoch 0, batch (\d+) of the epoch\)", rerun.stdout)
    assert resumed and int(resumed[1]) == int(resumed[2]) > 0, rerun.stdout
    assert "Epoch 0 done at step 12" in rerun.stdout and "Epoch 1 done at step 24" in rerun.stdout
    assert "not among the indices" not in rerun.stdout  # each photo once in the resumed epoch
    assert sorted(losses(tmp_path)) == list(range(1, 25))
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["steps"] == 24 and summary["epochs"] == 2


@pytest.mark.parametrize("address", ["localhost", "grpc://:5050", "host:port", "http://a/b:1"])
def test_data_service_bad_address_is_named(address):
    with pytest.raises(ValueError, match="expected grpc://HOST:PORT"):
        service_address(address)
