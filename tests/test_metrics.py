"""Metrics on constructed cases with known answers."""

import math

import numpy as np
import pytest

from keras_colorize import metrics
from keras_colorize.bins import bin_centers, nearest_bin
from keras_colorize.colorspace import lab_to_rgb


def _uint8_from_lab(lab: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(lab_to_rgb(lab.astype(np.float32))) * 255).astype(np.uint8)


@pytest.mark.parametrize("d", [0.0, 1.0, 10.0, 10.5, 37.2, 149.9, 150.0, 151.0, 400.0])
def test_constant_error_auc(d):
    ab_true = np.random.default_rng(0).uniform(-60, 60, (20, 30, 2))
    direction = np.array([0.6, 0.8])  # unit vector: every pixel is exactly d away
    errors = metrics.ab_error(ab_true + d * direction, ab_true)
    np.testing.assert_allclose(errors, d, atol=1e-9)
    expected = 100.0 * max(0, 151 - math.ceil(d)) / 151
    assert metrics.auc(metrics.cumulative_curve(errors)) == pytest.approx(expected, abs=1e-6)


def test_curve_counts_the_threshold_itself_and_mixes_linearly():
    errors = np.array([0.0, 5.0, 5.0, 200.0])
    curve = metrics.cumulative_curve(errors)
    assert curve[0] == 0.25 and curve[4] == 0.25 and curve[5] == 0.75 and curve[150] == 0.75
    # AuC of a mixture is the mixture of the AuCs.
    expected = (100.0 + 2 * 100.0 * 146 / 151 + 0.0) / 4
    assert metrics.auc(curve) == pytest.approx(expected)


def test_rebalancing_upweights_rare_colours():
    centers = bin_centers()
    common, rare = 150, 20
    prior = np.full(313, 1e-4)
    prior[common] = 1.0
    prior /= prior.sum()
    # 90 pixels of the common colour predicted exactly, 10 of the rare colour off by 100.
    ab_true = np.concatenate([np.tile(centers[common], (90, 1)), np.tile(centers[rare], (10, 1))])[None]
    ab_pred = ab_true.copy()
    ab_pred[0, 90:] += [100.0, 0.0]
    errors = metrics.ab_error(ab_pred, ab_true)
    weights = metrics.rebalancing_pixel_weights(ab_true, prior)
    np.testing.assert_allclose(weights[0, :90], 1 / prior[common], rtol=1e-6)
    np.testing.assert_allclose(weights[0, 90:], 1 / prior[rare], rtol=1e-6)
    raw = metrics.auc(metrics.cumulative_curve(errors))
    rebal = metrics.auc(metrics.cumulative_curve(errors, weights))
    rare_share = 10 / prior[rare] / (10 / prior[rare] + 90 / prior[common])
    assert raw == pytest.approx(100 * (0.9 + 0.1 * 51 / 151))
    assert rebal == pytest.approx(100 * ((1 - rare_share) + rare_share * 51 / 151))
    assert rebal < raw - 20


def test_uniform_prior_rebalanced_equals_raw():
    rng = np.random.default_rng(1)
    ab_true = rng.uniform(-80, 80, (16, 16, 2))
    errors = metrics.ab_error(ab_true + rng.normal(0, 20, ab_true.shape), ab_true)
    weights = metrics.rebalancing_pixel_weights(ab_true, np.full(313, 1 / 313))
    np.testing.assert_allclose(
        metrics.cumulative_curve(errors, weights), metrics.cumulative_curve(errors), atol=1e-12
    )


def test_prior_floor_bounds_the_weight_of_unseen_colours():
    prior = np.zeros(313)
    prior[0] = 1.0
    ab = bin_centers()[None, 100:101]
    assert int(np.asarray(nearest_bin(ab))[0, 0]) == 100
    assert metrics.rebalancing_pixel_weights(ab, prior)[0, 0] == pytest.approx(1 / metrics.PRIOR_FLOOR)


def test_perfect_prediction(photos):
    rgb = photos[0]
    truth = metrics.reference(rgb, np.full(313, 1 / 313))
    row = metrics.photo_metrics(rgb, truth)
    assert row["auc"] == 100.0 and row["auc_rebal"] == 100.0
    assert row["psnr"] == metrics.PSNR_CAP and row["ab_error"] == 0.0
    assert row["colourfulness"] > 10
    assert row["bleeding"] == 0.0


def test_psnr_known_value():
    a = np.zeros((4, 4, 3))
    assert metrics.psnr(a + 0.1, a) == pytest.approx(20.0)
    assert metrics.psnr(a, a) == metrics.PSNR_CAP


def test_colourfulness():
    gray = np.tile(np.linspace(0, 1, 50)[:, None, None], (1, 40, 3))
    assert metrics.colourfulness(gray) == pytest.approx(0.0, abs=1e-12)
    # Half red, half green: rg = +-255, yb = 127.5 everywhere.
    image = np.zeros((10, 10, 3))
    image[:5, :, 0] = 1.0
    image[5:, :, 1] = 1.0
    expected = math.sqrt(255.0**2 + 0.0) + 0.3 * math.sqrt(0.0 + 127.5**2)
    assert metrics.colourfulness(image) == pytest.approx(expected)
    assert metrics.colourfulness(image) > metrics.colourfulness(0.5 * image + 0.25)


def test_bleeding_measures_error_at_edges():
    L = np.full((60, 60), 30.0)
    L[:, 30:] = 70.0  # one vertical edge
    band = metrics.edge_band(L)
    assert band[:, 27:33].all() and not band[:, :27].any() and not band[:, 33:].any()
    at_edge = np.where(band, 10.0, 0.0)
    assert metrics.bleeding(at_edge, band) == pytest.approx(1 / band.mean())
    assert metrics.bleeding(np.ones_like(L), band) == pytest.approx(1.0)
    assert metrics.bleeding(np.where(band, 0.0, 1.0), band) == 0.0
    assert not metrics.edge_band(np.full((20, 20), 50.0)).any()


def test_gray_output_of_a_photo(photos):
    rgb = photos[3]
    lab = np.asarray(metrics.rgb_uint8_to_lab(rgb))
    gray = _uint8_from_lab(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], axis=-1))
    truth = metrics.reference(rgb, np.full(313, 1 / 313))
    row = metrics.photo_metrics(gray, truth)
    assert row["colourfulness"] < 1.0
    # Gray's error is the photo's own chroma (up to uint8 rounding).
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    assert row["ab_error"] == pytest.approx(chroma.mean(), abs=0.5)
    assert 0 < row["auc"] < 100


def test_topk_hits():
    scores = np.arange(10.0)
    assert metrics.topk_hits(scores, 9) == (True, True)
    assert metrics.topk_hits(scores, 5) == (False, True)
    assert metrics.topk_hits(scores, 4) == (False, False)


def test_pooled_and_per_photo_auc_agree_for_equal_photos():
    """Same size, same errors, same weights in every photo: the two protocols are one number."""
    rng = np.random.default_rng(1)
    errors, weights = rng.uniform(0, 60, (12, 16)), rng.uniform(0.5, 3, (12, 16))
    photos = [(errors, weights)] * 4
    for w in (None, weights):
        per_photo = np.mean(
            [metrics.auc(metrics.cumulative_curve(e, w if w is None else ws)) for e, ws in photos]
        )
        pooled = metrics.auc(metrics.pooled_curve(sum(metrics.cumulative_mass(e, w if w is None else ws)
                                                      for e, ws in photos)))  # fmt: skip
        assert pooled == pytest.approx(per_photo, abs=1e-9)


def test_pooled_and_per_photo_auc_by_hand():
    # Raw: photo A is 1 exact pixel, photo B 3 pixels off by 200 (never within 150).
    a, b = np.array([0.0]), np.array([200.0, 200.0, 200.0])
    per_photo = np.mean([metrics.auc(metrics.cumulative_curve(x)) for x in (a, b)])
    pooled = metrics.auc(metrics.pooled_curve(metrics.cumulative_mass(a) + metrics.cumulative_mass(b)))
    assert per_photo == pytest.approx(50.0) and pooled == pytest.approx(25.0)  # 1 of 4 pixels exact
    # Rebalanced: A = errors [0, 200] weighted [3, 1]; B = [0, 200] weighted [1, 1].
    errors, wa, wb = np.array([0.0, 200.0]), np.array([3.0, 1.0]), np.array([1.0, 1.0])
    per_photo = np.mean([metrics.auc(metrics.cumulative_curve(errors, w)) for w in (wa, wb)])
    pooled_mass = metrics.cumulative_mass(errors, wa) + metrics.cumulative_mass(errors, wb)
    assert per_photo == pytest.approx((75.0 + 50.0) / 2)  # each photo normalised on its own
    assert metrics.auc(metrics.pooled_curve(pooled_mass)) == pytest.approx(100.0 * 4 / 6)  # weight 4 of 6


def test_delta_cf_both_definitions():
    truth = np.array([20.0, 20.0, 50.0])
    assert metrics.delta_cf(truth, truth) == {"delta_cf_set": 0.0, "delta_cf_photo": 0.0}
    # Photo gaps -10, +10, 0 cancel in the set means but not per photo.
    gaps = metrics.delta_cf(np.array([10.0, 30.0, 50.0]), truth)
    assert gaps["delta_cf_set"] == pytest.approx(0.0) and gaps["delta_cf_photo"] == pytest.approx(20 / 3)
    gray = metrics.delta_cf(np.zeros(3), truth)
    assert gray["delta_cf_set"] == gray["delta_cf_photo"] == pytest.approx(30.0)


def test_ssim_is_scikit_image_and_1_for_identical(photos):
    from skimage.metrics import structural_similarity

    rgb = photos[0]
    noisy = np.clip(rgb + np.random.default_rng(0).normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(rgb, rgb) == pytest.approx(1.0)
    expected = structural_similarity(rgb, noisy, channel_axis=-1, data_range=255)
    assert metrics.ssim(noisy, rgb) == pytest.approx(expected, abs=1e-5) and expected < 0.9
    assert np.isnan(metrics.ssim(rgb[:5, :5], rgb[:5, :5]))


def test_grid_nearest_bins_equal_the_exhaustive_search():
    ab = np.random.default_rng(2).uniform(-130, 130, (20000, 2)).astype(np.float32)
    np.testing.assert_array_equal(metrics.nearest_bins(ab), np.asarray(nearest_bin(ab)))
    np.testing.assert_array_equal(metrics.nearest_bins(bin_centers()), np.arange(313))
