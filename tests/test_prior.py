"""The empirical colour prior over the 313 bins (fixtures only)."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from keras_colorize.bins import NUM_BINS, bin_centers
from keras_colorize.data import make_dataset
from keras_colorize.data.tfrecords import write_tfrecords
from keras_colorize.empirical_prior import compute_prior, count_bins
from keras_colorize.rebalance import rebalancing_weights, smooth_prior

SIZE = 64


@pytest.fixture(scope="module")
def folder(photo_paths) -> str:
    return str(photo_paths[0].parent)


def test_counts_are_the_nearest_bins_of_the_target_ab(folder, photo_paths):
    counted = count_bins([folder], image_size=SIZE, batch_size=5)
    assert counted.photos == len(photo_paths) and not counted.skipped
    assert counted.counts.sum() == len(photo_paths) * (SIZE // 4) ** 2

    # Brute force on the same crops: scikit-image Lab at every 4th pixel, nearest of all 313 bins.
    crops = np.concatenate([b["rgb"].numpy() for b in make_dataset([folder], SIZE, 4, False)[0]])
    ab = rgb2lab(crops[:, ::4, ::4])[..., 1:].reshape(-1, 2)
    nearest = np.argmin(((ab[:, None] - bin_centers()[None]) ** 2).sum(-1), axis=1)
    expected = np.bincount(nearest, minlength=NUM_BINS)
    assert np.abs(counted.counts - expected).sum() <= 0.002 * expected.sum()  # ties at bin borders only


def test_prior_is_smoothed_distribution(folder):
    counted = count_bins([folder], image_size=SIZE)
    prior = compute_prior([folder], image_size=SIZE)
    np.testing.assert_allclose(prior, smooth_prior(counted.counts))
    assert prior.shape == (NUM_BINS,) and prior.dtype == np.float64
    assert prior.sum() == pytest.approx(1.0) and np.all(prior >= 0)
    empirical = counted.counts / counted.counts.sum()
    assert np.count_nonzero(prior > 1e-6) > np.count_nonzero(empirical)  # smoothing spreads mass
    assert prior.max() < empirical.max()
    weights = rebalancing_weights(prior)
    assert np.sum(prior * weights) == pytest.approx(1.0, rel=1e-5)
    assert weights[np.argmin(prior)] > weights[np.argmax(prior)]


def test_solid_colour_photos_land_in_their_bin(tmp_path):
    colour = np.array([200, 40, 30], np.uint8)
    for i in range(3):
        Image.fromarray(np.tile(colour, (40 + i, 50, 1))).save(tmp_path / f"red{i}.png")
    counted = count_bins([str(tmp_path)], image_size=SIZE)
    ab = rgb2lab(colour[None, None] / 255.0)[0, 0, 1:]
    assert np.argmax(counted.counts) == np.argmin(((bin_centers() - ab) ** 2).sum(-1))
    assert counted.counts.max() == counted.counts.sum()


def test_tfrecords_subsets_and_bad_files(folder, photo_paths, tmp_path):
    summary = write_tfrecords([folder], str(tmp_path / "records" / "p"), 2)
    from_records = count_bins([summary.pattern], image_size=SIZE)
    np.testing.assert_array_equal(from_records.counts, count_bins([folder], image_size=SIZE).counts)

    subset = count_bins([folder], image_size=SIZE, max_images=5)
    assert 0 < subset.photos <= 5

    shutil.copytree(folder, tmp_path / "with_bad")
    (tmp_path / "with_bad" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    counted = count_bins([str(tmp_path / "with_bad")], image_size=SIZE)
    assert counted.photos == len(photo_paths)
    assert [name.rsplit("/", 1)[-1] for name in counted.skipped] == ["broken.jpg"]


def test_prior_cli(folder, photo_paths, tmp_path):
    output = tmp_path / "prior.npy"
    flagfile = tmp_path / "prior.flags"
    flagfile.write_text(f"--data_dir={folder}\n--image_size={SIZE}\n")
    result = subprocess.run(
        [sys.executable, "-m", "keras_colorize.prior", f"--flagfile={flagfile}", f"--output={output}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    prior = np.load(output)
    assert prior.shape == (NUM_BINS,) and prior.dtype == np.float64
    assert prior.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(prior, compute_prior([folder], image_size=SIZE))
    assert f"Photos used: {len(photo_paths)}, skipped: 0" in result.stdout
    top = np.argsort(prior)[::-1][:5]
    assert f"Most frequent bins: #{top[0]} " in result.stdout
