"""Evaluating colorizers with the paper's metrics (Table 1), with baselines: the library.

`python -m keras_colorize.evaluate` is its command line; the study uses it too.
Every photo goes through the users' path (`Colorizer.colorize`, the layers of
`keras_colorize.layers`), and every row of the table, the baselines included,
is scored on the uint8 RGB photo it delivers: ground truth (the photo
itself), gray (ab = 0) and random (the ab of another photo of the set,
resized), both recombined by the same postprocessing layer.
"""

import dataclasses
import os

import keras
import numpy as np
from absl import logging

from keras_colorize import metrics
from keras_colorize.classifier import Classifier, read_class_names, read_labels
from keras_colorize.colorizer import Colorizer
from keras_colorize.images import UnreadableImageError, list_images, load_image, readable_images
from keras_colorize.layers import ColorizerPostprocessor, resize_uint8
from keras_colorize.losses import make_loss
from keras_colorize.preprocessing import lightness_from_uint8 as lightness
from keras_colorize.preprocessing import training_pair
from keras_colorize.rebalance import rebalancing_weights

BASELINES = ("Ground truth", "Gray", "Random")
recombine = ColorizerPostprocessor.recombine
SEED = 1234
DEFAULT_CLASSIFIER_LABELS = "imagenet_labels.txt"


@dataclasses.dataclass
class ModelEntry:
    """A model under evaluation: how to colorize and how to score its own loss."""

    name: str
    colorizer: Colorizer
    loss_kind: str | None
    loss: keras.layers.Layer | None
    prior: np.ndarray | None
    info: dict


def load_entry(
    model: str, name: str | None = None, prior_path: str | None = None, work_size: int | None = None
) -> ModelEntry:
    """A model to evaluate: a preset name, a preset folder or a .keras file.

    The prior (for the rebalanced metrics and loss) and the loss kind come
    from the model itself (`Colorizer.prior`, `metadata["loss"]`); `prior_path`
    (a .npy) replaces the prior, `work_size` the model's working size.
    """
    colorizer = Colorizer.from_preset(model, **({"work_size": work_size} if work_size else {}))
    prior = np.load(prior_path) if prior_path else colorizer.prior
    info = colorizer.metadata
    kind = info.get("loss") or ("l2" if colorizer.regression else None)
    loss = None
    if kind == "rebalanced" and prior is None:
        logging.warning(
            "%s: holds no prior (and no --prior), so its rebalanced loss cannot be computed", model
        )
    elif kind is not None:
        weights = rebalancing_weights(prior) if kind == "rebalanced" else None
        loss = make_loss(kind, weights, from_logits=False)
    name = name or os.path.basename(os.path.normpath(str(model))).removesuffix(".keras")
    return ModelEntry(name, colorizer, kind, loss, prior, info)


def model_loss(entry: ModelEntry, rgb: np.ndarray) -> float | None:
    """The model's own training objective on the photo at its working size (as training sees it)."""
    if entry.loss is None:
        return None
    size = entry.colorizer.work_size
    L, ab = training_pair(resize_uint8(rgb[None], size, size))
    prediction = entry.colorizer.backbone(L, training=False)
    return float(np.asarray(entry.loss(ab, prediction))[0])


class Evaluation:
    """Scores the rows (baselines + models) of one photo set; writes the report."""

    def __init__(
        self,
        entries: list[ModelEntry],
        files: list[str],
        prior: np.ndarray | None,
        labels: dict[str, int] | None = None,
        classifier: Classifier | None = None,
        class_names: list[str] | None = None,
        temperature: float | None = None,
    ):
        self.entries = entries
        self.files = files
        self.labels = labels or {}
        self.classifier = classifier
        self.class_names = class_names
        self.temperature = temperature
        if prior is None:
            raise ValueError(
                "The rebalanced AuC needs a prior: the model holds none; pass --prior=prior.npy."
            )
        self.prior = np.asarray(prior, np.float64)
        self.rows = [*BASELINES, *(e.name for e in entries)]
        rng = np.random.default_rng(SEED)
        # Random baseline: each photo takes the ab of another photo of the set.
        count = len(files)
        offsets = rng.integers(1, count, count) if count > 1 else np.zeros(count, np.int64)
        self.sources = (np.arange(count) + offsets) % max(count, 1)

    def label_of(self, path: str) -> int | None:
        return self.labels.get(os.path.basename(path))

    def outputs(self, index: int, rgb: np.ndarray) -> dict[str, np.ndarray]:
        """uint8 RGB delivered by every row for one photo."""
        L = np.asarray(lightness(rgb[None]))
        gray = np.asarray(recombine(L, np.zeros((*L.shape[:-1], 2), np.float32)))[0]
        out = {"Ground truth": rgb, "Gray": gray, "Random": self.random_output(index, L)}
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
                source_rgb = load_image(self.files[source])
            except UnreadableImageError:
                continue
            ab = ColorizerPostprocessor.upsample(metrics.ab_of(source_rgb)[None], *L.shape[1:3])
            return np.asarray(recombine(L, ab))[0]
        return np.asarray(recombine(L, np.zeros((*L.shape[:-1], 2), np.float32)))[0]

    def photo(self, index: int, rgb: np.ndarray) -> tuple[dict, dict]:
        """Per-photo metrics of every row, and the rows' (raw, rebalanced) curves."""
        truth = metrics.reference(rgb, self.prior)
        label = self.label_of(self.files[index])
        record = {
            "file": self.files[index],
            "height": rgb.shape[0],
            "width": rgb.shape[1],
            "label": label,
            "rows": {},
        }
        curves = {}
        for name, out in self.outputs(index, rgb).items():
            row = metrics.photo_metrics(out, truth)
            curves[name] = (row.pop("curve"), row.pop("curve_rebal"))
            if label is not None and self.classifier is not None:
                scores = self.classifier.scores(out)
                row["top1"], row["top5"] = metrics.topk_hits(scores, label)
                top = np.argsort(-scores)[:5]
                row["top5_classes"] = [[int(c), float(scores[c])] for c in top]
            record["rows"][name] = row
        for entry in self.entries:
            record["rows"][entry.name]["loss"] = model_loss(entry, rgb)
        return record, curves

    def run(self, progress: bool = True) -> dict:
        """Evaluate every photo; returns the metrics.json content."""
        photos, unreadable = [], []
        sums = {
            name: [np.zeros(len(metrics.THRESHOLDS)), np.zeros(len(metrics.THRESHOLDS))] for name in self.rows
        }
        bar = keras.utils.Progbar(len(self.files), unit_name="photo") if progress else None
        for index, _, rgb in readable_images(self.files, unreadable):
            record, curves = self.photo(index, rgb)
            photos.append(record)
            for name, (raw, rebal) in curves.items():
                sums[name][0] += raw
                sums[name][1] += rebal
            if bar is not None:
                bar.update(index + 1)
        if bar is not None:
            bar.update(len(self.files))
        if not photos:
            raise ValueError("No readable photo to evaluate.")
        curves = {
            name: {"raw": (raw / len(photos)).tolist(), "rebalanced": (rebal / len(photos)).tolist()}
            for name, (raw, rebal) in sums.items()
        }
        return {
            "settings": self.settings(),
            "num_photos": len(photos),
            "num_unreadable": len(unreadable),
            "unreadable": unreadable,
            "num_labelled": sum(p["label"] is not None for p in photos),
            "summary": {name: aggregate([p["rows"][name] for p in photos]) for name in self.rows},
            "curves": curves,
            "photos": photos,
        }

    def settings(self) -> dict:
        return {
            "temperature": self.temperature,
            "thresholds": [0, 150, 1],
            "psnr_cap_db": metrics.PSNR_CAP,
            "prior_floor": metrics.PRIOR_FLOOR,
            "rebalanced_auc": "per-pixel weight 1/max(prior[nearest bin of ground truth], floor), "
            "normalised per photo; AuC averaged over photos",
            "bleeding": f"edges: Sobel |grad L| above the photo's {metrics.EDGE_PERCENTILE:g}th percentile "
            f"and > 1 L/px, band {metrics.EDGE_RADIUS} px",
            "classifier": self.classifier.name if self.classifier else None,
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
    for key in ("auc", "auc_rebal", "ab_error", "psnr", "colourfulness", "bleeding", "loss"):
        values = [r[key] for r in rows if r.get(key) is not None]
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
    if labels_path is None and spec.endswith(".tflite"):
        beside = os.path.join(os.path.dirname(spec), DEFAULT_CLASSIFIER_LABELS)
        labels_path = beside if os.path.isfile(beside) else None
    if labels_path is None and spec == "resnet50":
        # Keras ships the class names only through decode_predictions (downloaded with the weights).
        names = keras.applications.imagenet_utils.decode_predictions(np.eye(1000), top=1)
        return classifier, [n[0][1] for n in names]
    return classifier, read_class_names(labels_path) if labels_path else None


def evaluate(
    entries: list[ModelEntry],
    data_dir: str,
    output: str,
    prior: np.ndarray | None = None,
    labels: dict[str, int] | None = None,
    classifier: Classifier | None = None,
    class_names: list[str] | None = None,
    temperature: float | None = None,
    max_images: int | None = None,
    title: str = "Evaluation",
    extra: dict | None = None,
    notes: str = "",
    progress: bool = True,
) -> dict:
    """Evaluate `entries` on the photos under `data_dir`; write the report to `output`.

    `extra` maps row names to additional table columns (the study's training
    results) and is stored in metrics.json.
    """
    from keras_colorize.report import write_report

    files = list_images(data_dir)
    if max_images:
        files = files[:max_images]
    if not files:
        raise ValueError(f"No photos found under {data_dir}")
    if prior is None:
        prior = next((e.prior for e in entries if e.prior is not None), None)
    evaluation = Evaluation(entries, files, prior, labels, classifier, class_names, temperature)
    results = evaluation.run(progress)
    results["settings"]["data_dir"] = data_dir
    results["extra"] = extra or {}
    write_report(results, evaluation, output, title, notes)
    return results
