"""Evaluating colorizers with the paper's metrics (Table 1) and the modern ones, with baselines: the library.

`python -m keras_colorize.evaluate` is its command line; the study uses it too.
Every photo goes through the users' path (`Colorizer.colorize`, the layers of
`keras_colorize.layers`, or an exported SavedModel's `ab` signature), and every
row of the table, the baselines included, is scored on the uint8 RGB photo it
delivers: ground truth (the photo itself), gray (ab = 0) and random (the ab of
another photo of the set, resized), both recombined by the same
postprocessing layer.

Every row's class-rebalanced AuC uses one prior (`EvalPrior`): by default the
reference prior shipped with the package (`keras_colorize/assets/
reference_prior.npy`, see `reference_prior`), so that rows and reports are on
one scale whatever each model was trained on. A photo that cannot be read,
is too large or is refused is skipped and counted (`keras_colorize.skipping`).
"""

import dataclasses
import io
import json
import os
import re

import keras
import numpy as np
from absl import logging
from PIL import Image

from keras_colorize import metrics
from keras_colorize.choices import EVAL_PROTOCOLS
from keras_colorize.classifier import (
    BUNDLED,
    EFFICIENTNET,
    Classifier,
    bundled_labels,
    read_class_names,
    read_labels,
)
from keras_colorize.colorizer import Colorizer
from keras_colorize.data.pipeline import center_crop
from keras_colorize.feature_distances import frechet_distance, kernel_distance
from keras_colorize.images import UnreadableImageError, list_images, load_image
from keras_colorize.layers import ColorizerPostprocessor, resize_uint8
from keras_colorize.losses import make_loss
from keras_colorize.preprocessing import lightness_from_uint8 as lightness
from keras_colorize.preprocessing import training_pair
from keras_colorize.rebalance import rebalancing_weights
from keras_colorize.skipping import SKIPPABLE, Skips

BASELINES = ("Ground truth", "Gray", "Random")
SEED = 1234
DEFAULT_CLASSIFIER_LABELS = "imagenet_labels.txt"
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")
REFERENCE_PRIOR = os.path.join(ASSETS, "reference_prior.npy")
REFERENCE_PRIOR_INFO = os.path.join(ASSETS, "reference_prior.json")
IMAGENET5K_COUNT = 5000
IMAGENET5K_SIZE = 256
_IMAGENET_VAL = re.compile(r"ILSVRC2012_val_(\d{8})\.", re.IGNORECASE)


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The photo saved as JPEG at `quality` (Pillow, 4:2:0 chroma) and decoded: a floor for every metric.

    Args:
        rgb: uint8 RGB [H, W, 3].
        quality: JPEG quality, 1..100.
    """
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as image:
        return np.asarray(image.convert("RGB"))


def jpeg_row(quality: int) -> str:
    """The JPEG baseline's row name."""
    return f"JPEG q{quality} round trip"


def _compiled(function, *shapes):
    """`function` as one TensorFlow graph for inputs of any size (the plain function under other backends)."""
    if keras.backend.backend() != "tensorflow":
        return function
    import tensorflow as tf

    signature = [tf.TensorSpec(shape, dtype) for shape, dtype in shapes]
    return tf.function(function, input_signature=signature)


# The baselines' and the SavedModel's recombination, and L, for one photo [1, H, W, C] at a time.
recombine = _compiled(
    ColorizerPostprocessor.recombine, ([1, None, None, 1], "float32"), ([1, None, None, 2], "float32")
)
lightness = _compiled(lightness, ([1, None, None, 3], "uint8"))


@dataclasses.dataclass
class EvalPrior:
    """The prior of every row's rebalanced AuC: its values and what it is."""

    values: np.ndarray
    name: str
    description: str


def reference_prior() -> EvalPrior:
    """The reference prior shipped with the package (its provenance: assets/reference_prior.json)."""
    info = _read_json(REFERENCE_PRIOR_INFO)
    description = (
        f"{info['description']} Crop: {info['crop']}; {info['sampling']}; smoothing: {info['smoothing']} "
        "(keras_colorize/assets/reference_prior.json)"
    )
    return EvalPrior(np.load(REFERENCE_PRIOR), info["name"], description)


def resolve_prior(spec: "str | np.ndarray | EvalPrior | None") -> EvalPrior:
    """The evaluation prior: None or "reference" (the bundled one), a .npy path, an array or an EvalPrior.

    Args:
        spec: what to use; a file or array must hold 313 non-negative numbers summing to 1.
    """
    if isinstance(spec, EvalPrior):
        return spec
    if spec is None or (isinstance(spec, str) and spec == "reference"):
        return reference_prior()
    if isinstance(spec, str):
        if not os.path.isfile(spec):
            raise FileNotFoundError(f"--prior: {spec} does not exist")
        values, name, description = np.load(spec), os.path.basename(spec), f"from {spec}"
    else:
        values, name, description = spec, "given", "passed by the caller"
    values = np.asarray(values, np.float64)
    if values.shape != (313,) or np.any(values < 0) or not np.isclose(values.sum(), 1.0, atol=1e-4):
        raise ValueError(f"prior {name}: expected 313 non-negative numbers summing to 1, got {values.shape}")
    return EvalPrior(values, name, description)


def _read_json(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as file:
        return json.load(file)


class SavedModelColorizer:
    """An exported SavedModel (`python -m keras_colorize.export`) seen as a colorizer.

    It runs the SavedModel's own `ab` signature (the Colorizer's layers inside
    the graph) and recombines with the photo's L like the Colorizer does. The
    settings and provenance come from the SavedModel's assets/config.json and
    metadata.json; the own loss is not computed (no backbone in Python).

    Args:
        path: the version folder (holding saved_model.pb).
    """

    backbone = None

    def __init__(self, path: str):
        import tensorflow as tf

        self.path = path
        self._model = tf.saved_model.load(path)
        if "ab" not in self._model.signatures:
            raise ValueError(f"{path}: a SavedModel without the `ab` signature of keras_colorize.export")
        config = _read_json(os.path.join(path, "assets", "config.json")).get("config", {})
        metadata = _read_json(os.path.join(path, "assets", "metadata.json"))
        self.temperature = float(config.get("temperature", 0.38))
        self.work_size = int(config.get("work_size", 256))
        self.prior = None if config.get("prior") is None else np.asarray(config["prior"], np.float64)
        self.metadata = {**config.get("metadata", {}), **metadata, "source_saved_model": path}
        self.regression = metadata.get("variant") == "l2"

    def colorize(self, rgb: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """uint8 RGB [H, W, 3] -> the SavedModel's colorization, uint8 RGB [H, W, 3]."""
        t = self.temperature if temperature is None else temperature
        ab = self._model.signatures["ab"](images=rgb[None], temperature=np.array([t], np.float32))["ab"]
        return np.asarray(recombine(lightness(rgb[None]), ab))[0]


@dataclasses.dataclass
class ModelEntry:
    """A model under evaluation: how to colorize and how to score its own loss."""

    name: str
    colorizer: "Colorizer | SavedModelColorizer"
    loss_kind: str | None
    loss: keras.layers.Layer | None
    prior: np.ndarray | None
    info: dict


def load_entry(
    model: str | None, name: str | None = None, prior_path: str | None = None, work_size: int | None = None
) -> ModelEntry:
    """A model to evaluate: a preset name, a preset folder, a .keras file or an exported SavedModel.

    The loss kind and the prior of the model's own loss come from the model
    (`metadata["loss"]`, `Colorizer.prior`); `prior_path` (a .npy) replaces
    that prior, `work_size` the model's working size. The rebalanced AuC uses
    the evaluation's prior (`resolve_prior`), not this one.

    Args:
        model: what to load; a folder with saved_model.pb is a SavedModel (None: the bundled default
            preset).
        name: the row name (default: the folder or file name, or the default preset's name).
        prior_path: a .npy prior for the model's own rebalanced loss.
        work_size: working size override (Keras models only).
    """
    from keras_colorize.presets import DEFAULT_PRESET

    path = os.fspath(DEFAULT_PRESET if model is None else model)
    if model is not None and os.path.isfile(os.path.join(path, "saved_model.pb")):
        colorizer = SavedModelColorizer(path)
    else:
        colorizer = Colorizer.from_preset(model, **({"work_size": work_size} if work_size else {}))
        if colorizer.runner is None:  # the backbone through Keras' compiled predict function, not eager
            from keras_colorize.runtimes.runners import TensorFlowRunner

            colorizer.use_runtime(TensorFlowRunner(colorizer.backbone))
    prior = np.load(prior_path) if prior_path else colorizer.prior
    info = colorizer.metadata
    kind = info.get("loss") or ("l2" if colorizer.regression else None)
    loss = None
    if colorizer.backbone is None:
        kind = None
    elif kind == "rebalanced" and prior is None:
        logging.warning("%s: holds no prior, so its own rebalanced loss is not computed", model)
    elif kind is not None:
        weights = rebalancing_weights(prior) if kind == "rebalanced" else None
        loss = make_loss(kind, weights, from_logits=False)
    name = name or os.path.basename(os.path.normpath(path)).removesuffix(".keras")
    return ModelEntry(name, colorizer, kind, loss, prior, info)


def model_loss(entry: ModelEntry, rgb: np.ndarray) -> float | None:
    """The model's own training objective on the photo at its working size (as training sees it)."""
    if entry.loss is None:
        return None
    size = entry.colorizer.work_size
    L, ab = training_pair(resize_uint8(rgb[None], size, size))
    prediction = entry.colorizer.backbone(L, training=False)
    return float(np.asarray(entry.loss(ab, prediction))[0])


def center_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W, 3] -> the central square at size x size: the data pipeline's evaluation crop."""
    return np.asarray(center_crop(rgb, size))


def imagenet5k_files(files: list[str]) -> list[str]:
    """The files named ILSVRC2012_val_<n> with n <= 5000, in ImageNet's order (--protocol=imagenet5k)."""
    numbered = []
    for path in files:
        match = _IMAGENET_VAL.search(os.path.basename(path))
        if match and 1 <= int(match.group(1)) <= IMAGENET5K_COUNT:
            numbered.append((int(match.group(1)), path))
    if not numbered:
        raise ValueError(
            "--protocol=imagenet5k: no photo named ILSVRC2012_val_<n> with n <= 5000 "
            "(the first 5,000 ImageNet validation photos) found"
        )
    return [path for _, path in sorted(numbered)]


class Evaluation:
    """Scores the rows (baselines + models) of one photo set; writes the report.

    Args:
        entries: the models.
        files: the photo files.
        prior: the prior of every row's rebalanced AuC (see `resolve_prior`; None: the reference prior).
        labels: {file name: ImageNet class} for the classifier test.
        classifier: the classifier, or None.
        class_names: its 1000 class names (figures only).
        temperature: one temperature for every model (None: each its own).
        features: feature networks for FID / KID (`feature_distances.feature_networks`).
        protocol: "photos" (each at its own size) or "imagenet5k" (central square at 256 px).
        jpeg_quality: add the JPEG round-trip baseline at this quality (None: no such row).
    """

    def __init__(
        self,
        entries: list[ModelEntry],
        files: list[str],
        prior=None,
        labels: dict[str, int] | None = None,
        classifier: Classifier | None = None,
        class_names: list[str] | None = None,
        temperature: float | None = None,
        features: list | None = None,
        protocol: str = "photos",
        jpeg_quality: int | None = None,
    ):
        if protocol not in EVAL_PROTOCOLS:
            raise ValueError(f"protocol must be one of {EVAL_PROTOCOLS}, got {protocol!r}")
        if jpeg_quality is not None and not 1 <= jpeg_quality <= 100:
            raise ValueError(f"--jpeg_quality must be in 1..100, got {jpeg_quality}")
        self.jpeg_quality = jpeg_quality
        self.entries = entries
        self.files = files
        self.labels = labels or {}
        self.classifier = classifier
        self.class_names = class_names
        self.temperature = temperature
        self.features = list(features or [])
        self.protocol = protocol
        self.eval_prior = resolve_prior(prior)
        self.prior = self.eval_prior.values
        jpeg = [jpeg_row(jpeg_quality)] if jpeg_quality is not None else []
        self.rows = [*BASELINES, *jpeg, *(e.name for e in entries)]
        rng = np.random.default_rng(SEED)
        # Random baseline: each photo takes the ab of another photo of the set.
        count = len(files)
        offsets = rng.integers(1, count, count) if count > 1 else np.zeros(count, np.int64)
        self.sources = (np.arange(count) + offsets) % max(count, 1)

    def load(self, path: str) -> np.ndarray:
        """A photo as this protocol scores it: as read, or its central square at 256 px (imagenet5k)."""
        rgb = load_image(path)
        return center_square(rgb, IMAGENET5K_SIZE) if self.protocol == "imagenet5k" else rgb

    def label_of(self, path: str) -> int | None:
        return self.labels.get(os.path.basename(path))

    def outputs(self, index: int, rgb: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 RGB delivered by every row for one photo."""
        L = np.asarray(lightness(rgb[None]))
        gray = np.asarray(recombine(L, np.zeros((*L.shape[:-1], 2), np.float32)))[0]
        out = {"Ground truth": rgb, "Gray": gray, "Random": self.random_output(index, L)}
        if self.jpeg_quality is not None:
            out[jpeg_row(self.jpeg_quality)] = jpeg_round_trip(rgb, self.jpeg_quality)
        for entry in self.entries:
            out[entry.name] = entry.colorizer.colorize(rgb, self.temperature)
        return out

    def random_output(self, index: int, L: np.ndarray) -> np.ndarray:
        """L of this photo with the (resized) ab of the next readable source photo."""
        count = len(self.files)
        for step in range(count):
            source = (self.sources[index] + step) % count
            if source == index and count > 1:
                continue
            try:
                source_rgb = self.load(self.files[source])
            except UnreadableImageError:
                continue
            ab = ColorizerPostprocessor.upsample(metrics.ab_of(source_rgb)[None], *L.shape[1:3])
            return np.asarray(recombine(L, ab))[0]
        return np.asarray(recombine(L, np.zeros((*L.shape[:-1], 2), np.float32)))[0]

    def photo(self, index: int, rgb: np.ndarray) -> tuple[dict, dict, dict]:
        """Per-photo metrics of every row, the rows' (raw, rebalanced) masses and their features."""
        truth = metrics.reference(rgb, self.prior)
        label = self.label_of(self.files[index])
        record = {
            "file": self.files[index],
            "height": rgb.shape[0],
            "width": rgb.shape[1],
            "label": label,
            "rows": {},
        }
        masses, features = {}, {net.key: {} for net in self.features}
        for name, out in self.outputs(index, rgb).items():
            row = metrics.photo_metrics(out, truth, identical=name == "Ground truth")
            masses[name] = (row.pop("mass"), row.pop("mass_rebal"))
            if label is not None and self.classifier is not None:
                scores = self.classifier.scores(out)
                row["top1"], row["top5"] = metrics.topk_hits(scores, label)
                top = np.argsort(-scores)[:5]
                row["top5_classes"] = [[int(c), float(scores[c])] for c in top]
            for net in self.features:
                features[net.key][name] = net(out)
            record["rows"][name] = row
        for entry in self.entries:
            record["rows"][entry.name]["loss"] = model_loss(entry, rgb)
        return record, masses, features

    def run(self, progress: bool = True) -> dict:
        """Evaluate every photo; returns the metrics.json content."""
        photos, skips = [], Skips()
        size = len(metrics.THRESHOLDS) + 1
        masses = {name: [np.zeros(size), np.zeros(size)] for name in self.rows}
        curve_sums = {name: [np.zeros(size - 1), np.zeros(size - 1)] for name in self.rows}
        features = {net.key: {name: [] for name in self.rows} for net in self.features}
        bar = keras.utils.Progbar(len(self.files), unit_name="photo") if progress else None
        for index, path, rgb in skips.readable(self.files, self.load):
            try:
                record, photo_masses, photo_features = self.photo(index, rgb)
            except SKIPPABLE as error:
                skips.add(path, error)
                continue
            photos.append(record)
            for name, (raw, rebal) in photo_masses.items():
                masses[name][0] += raw
                masses[name][1] += rebal
                curve_sums[name][0] += metrics.pooled_curve(raw)
                curve_sums[name][1] += metrics.pooled_curve(rebal)
            for key, rows in photo_features.items():
                for name, vector in rows.items():
                    features[key][name].append(vector)
            if bar is not None:
                bar.update(index + 1)
        if bar is not None:
            bar.update(len(self.files))
        if not photos:
            reasons = "; ".join(skips.messages[:3])
            raise ValueError(f"No photo could be evaluated ({skips.summary()}: {reasons})")
        count = len(photos)
        summary = {name: aggregate([p["rows"][name] for p in photos]) for name in self.rows}
        truth_cf = [p["rows"]["Ground truth"]["colourfulness"] for p in photos]
        for name in self.rows:
            pooled_raw, pooled_rebal = (metrics.pooled_curve(m) for m in masses[name])
            summary[name]["auc_pooled"] = metrics.auc(pooled_raw)
            summary[name]["auc_rebal_pooled"] = metrics.auc(pooled_rebal)
            summary[name].update(
                metrics.delta_cf([p["rows"][name]["colourfulness"] for p in photos], truth_cf)
            )
            for net in self.features:
                truth, row = np.array(features[net.key]["Ground truth"]), np.array(features[net.key][name])
                prefix = "" if net.key == "inception" else "_" + net.key
                summary[name]["fid" if not prefix else "fd" + prefix] = frechet_distance(row, truth)
                # The unbiased KID of a set against itself is not an estimate of anything (the two
                # samples are one, so it is negative); the ground-truth row has FID 0 and no KID.
                kid, kid_std = (None, None) if name == "Ground truth" else kernel_distance(row, truth)
                summary[name][f"kid{prefix}"], summary[name][f"kid{prefix}_std"] = kid, kid_std
        curves = {
            name: {
                "raw": (curve_sums[name][0] / count).tolist(),
                "rebalanced": (curve_sums[name][1] / count).tolist(),
                "raw_pooled": metrics.pooled_curve(masses[name][0]).tolist(),
                "rebalanced_pooled": metrics.pooled_curve(masses[name][1]).tolist(),
            }
            for name in self.rows
        }
        return {
            "settings": self.settings(),
            "num_photos": count,
            **skips.to_json(),
            "num_unreadable": len(skips),
            "unreadable": skips.messages,
            "num_labelled": sum(p["label"] is not None for p in photos),
            "summary": summary,
            "curves": curves,
            "photos": photos,
        }

    def settings(self) -> dict:
        return {
            "temperature": self.temperature,
            "protocol": self.protocol,
            "jpeg_quality": self.jpeg_quality,
            "thresholds": [0, 150, 1],
            "psnr_cap_db": metrics.PSNR_CAP,
            "prior_floor": metrics.PRIOR_FLOOR,
            "prior": {"name": self.eval_prior.name, "description": self.eval_prior.description},
            "rebalanced_auc": "per-pixel weight 1/max(prior[nearest bin of ground truth], floor); "
            "auc_rebal: weights normalised per photo, AuC averaged over photos; "
            "auc_rebal_pooled: every pixel of the set in one curve",
            "bleeding": f"edges: Sobel |grad L| above the photo's {metrics.EDGE_PERCENTILE:g}th percentile "
            f"and > 1 L/px, band {metrics.EDGE_RADIUS} px",
            "classifier": self.classifier.name if self.classifier else None,
            "features": [net.name for net in self.features],
            "models": {
                e.name: {
                    **e.info,
                    "work_size": e.colorizer.work_size,
                    "temperature": self.temperature or e.colorizer.temperature,
                    "loss": e.loss_kind,
                }
                for e in self.entries
            },
        }


def aggregate(rows: list[dict]) -> dict:
    """Means over photos; classifier accuracies in percent over labelled photos."""
    summary = {}
    for key in ("auc", "auc_rebal", "ab_error", "psnr", "ssim", "colourfulness", "bleeding", "loss"):
        values = [r[key] for r in rows if r.get(key) is not None and np.isfinite(r[key])]
        summary[key] = float(np.mean(values)) if values else None
    for key in ("top1", "top5"):
        values = [r[key] for r in rows if key in r]
        summary[key] = 100.0 * float(np.mean(values)) if values else None
    return summary


def find_labels(data_dir: str, labels_path: str | None) -> dict[str, int]:
    path = labels_path or os.path.join(data_dir, "labels.csv")
    if labels_path and not os.path.isfile(labels_path):
        raise FileNotFoundError(f"--labels: {labels_path} does not exist")
    return read_labels(path) if os.path.isfile(path) else {}


def load_classifier(spec: str | None, labels_path: str | None) -> tuple[Classifier | None, list[str] | None]:
    """The classifier and its class names (None, None when spec is empty)."""
    if not spec:
        return None, None
    classifier = Classifier(spec)
    if labels_path is None and spec in (BUNDLED, EFFICIENTNET):  # both in synset order
        labels_path = bundled_labels()
    if labels_path is None and spec.endswith(".tflite"):
        beside = os.path.join(os.path.dirname(spec), DEFAULT_CLASSIFIER_LABELS)
        labels_path = beside if os.path.isfile(beside) else None
    if labels_path is None and spec in ("resnet50", "vgg16"):
        # Keras ships the class names only through decode_predictions (downloaded with the weights).
        try:
            names = keras.applications.imagenet_utils.decode_predictions(np.eye(1000), top=1)
        except Exception:  # offline: the figures show class indices instead of names
            return classifier, None
        return classifier, [n[0][1] for n in names]
    return classifier, read_class_names(labels_path) if labels_path else None


def classifier_note(spec: str | None, labels: dict, data_dir: str, labels_path: str | None) -> str:
    """What the report says about the semantic test when it was not run (empty when it was)."""
    if not spec:
        return "not run (--classifier is empty)"
    if not labels:
        where = labels_path or os.path.join(data_dir, "labels.csv")
        return f"not run: the photos have no ImageNet labels (no {where}; pass --labels=labels.csv)"
    return ""


def evaluate(
    entries: list[ModelEntry],
    data_dir: str,
    output: str,
    prior=None,
    labels: dict[str, int] | None = None,
    classifier: Classifier | None = None,
    class_names: list[str] | None = None,
    temperature: float | None = None,
    max_images: int | None = None,
    title: str = "Evaluation",
    extra: dict | None = None,
    notes: str = "",
    progress: bool = True,
    features: list | None = None,
    protocol: str = "photos",
    classifier_status: str = "",
    jpeg_quality: int | None = None,
) -> dict:
    """Evaluate `entries` on the photos under `data_dir`; write the report to `output`.

    Args:
        entries: the models (`load_entry`).
        data_dir: photo folder (searched recursively).
        output: report folder (created).
        prior: the rebalanced AuC's prior for every row (`resolve_prior`; None: the reference prior).
        labels: {file name: ImageNet class}.
        classifier: the semantic test's classifier, or None.
        class_names: its class names (figures).
        temperature: one temperature for every model (None: each its own).
        max_images: evaluate only the first N photos.
        title: the report's title.
        extra: row name -> additional table columns (the study's training results), stored in metrics.json.
        notes: a paragraph for the report.
        progress: show a progress bar.
        features: feature networks for FID / KID (`feature_distances.feature_networks`).
        protocol: "photos" or "imagenet5k".
        classifier_status: why the semantic test did not run (`classifier_note`), for the report.
        jpeg_quality: add the JPEG round-trip baseline row at this quality (None: no such row).
    """
    from keras_colorize.report import write_report

    files = list_images(data_dir)
    if protocol == "imagenet5k":
        files = imagenet5k_files(files)
    if max_images:
        files = files[:max_images]
    if not files:
        raise ValueError(f"No photos found under {data_dir}")
    evaluation = Evaluation(
        entries, files, prior, labels, classifier, class_names, temperature, features, protocol, jpeg_quality
    )
    results = evaluation.run(progress)
    results["settings"]["data_dir"] = data_dir
    results["settings"]["classifier_status"] = classifier_status
    results["extra"] = extra or {}
    write_report(results, evaluation, output, title, notes)
    return results
