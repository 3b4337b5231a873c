"""Evaluate colorization models with the paper's metrics (Table 1), with baselines.

    python -m keras_colorize.evaluate --model=runs/full/model.keras \\
        --data_dir=photos/ --output=eval/ \\
        --classifier=classifier/mobilenet_v2_1.0_224_quant.tflite

Every photo goes through the users' path (`Colorizer.colorize`: L at the
working size, ab upsampled to the photo's size, recombined with its own L),
and every row of the table, the baselines included, is scored on the uint8
RGB photo it delivers: ground truth (the photo itself), gray (ab = 0) and
random (the ab of another photo of the set, resized). Writes metrics.json
(per photo and aggregated), report.md and PNG figures to --output.
"""

import dataclasses
import json
import os
import sys

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags, logging

from keras_colorize import metrics
from keras_colorize.classifier import Classifier, read_class_names, read_labels
from keras_colorize.colorizer import Colorizer
from keras_colorize.decoding import DEFAULT_TEMPERATURE
from keras_colorize.images import UnreadableImageError, list_images, load_image
from keras_colorize.inference import WORK_SIZE, recombine
from keras_colorize.losses import make_loss
from keras_colorize.preprocessing import lightness_from_uint8 as lightness
from keras_colorize.preprocessing import training_pair
from keras_colorize.rebalance import rebalancing_weights

BASELINES = ("Ground truth", "Gray", "Random")
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


def model_folder(path: str) -> str:
    """Where prior.npy and training.json of a model are: beside a .keras file,
    in a model folder, or in a SavedModel's assets/ (of its highest version)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"--model: {path} does not exist")
    if not os.path.isdir(path):
        return os.path.dirname(os.path.abspath(path))
    versions = [v for v in os.listdir(path) if v.isdigit() and os.path.isdir(os.path.join(path, v))]
    if versions and not os.path.isfile(os.path.join(path, "saved_model.pb")):
        path = os.path.join(path, max(versions, key=int))
    assets = os.path.join(path, "assets")
    return assets if os.path.isfile(os.path.join(assets, "training.json")) else path


def load_entry(
    path: str, name: str | None = None, prior_path: str | None = None, work_size: int | None = None
) -> ModelEntry:
    """Load a model with the prior and training.json found beside it.

    The working size defaults to the training image size (a model trained on
    small crops sees objects at that scale), else 256 as in the paper; a
    SavedModel has its own, fixed at export.
    """
    folder = model_folder(path)
    info_path = os.path.join(folder, "training.json")
    info = {}
    if os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as file:
            info = json.load(file)
    work_size = work_size or int(info.get("image_size") or WORK_SIZE)
    colorizer = Colorizer(path, work_size=work_size)
    if colorizer.model is None and not colorizer.regression:
        # The SavedModel resizes to its own size: read it off its output.
        probe = colorizer.distribution(np.zeros((1, 8, 8, 1), np.float32))
        colorizer.work_size = 4 * probe.shape[1]
    prior_path = prior_path or os.path.join(folder, "prior.npy")
    prior = np.load(prior_path) if os.path.isfile(prior_path) else None
    kind = info.get("loss") or ("l2" if colorizer.regression else None)
    loss = None
    if kind == "rebalanced" and prior is None:
        logging.warning("%s: no prior.npy, so its rebalanced loss cannot be computed", path)
    elif kind is not None:
        weights = rebalancing_weights(prior) if kind == "rebalanced" else None
        loss = make_loss(kind, weights, from_logits=False)
    name = name or os.path.basename(os.path.normpath(path if os.path.isdir(path) else folder))
    return ModelEntry(name, colorizer, kind, loss, prior, info)


def resize_uint8(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    out = tf.image.resize(rgb[None], (height, width), method="bilinear", antialias=True)[0]
    return np.clip(np.round(out.numpy()), 0, 255).astype(np.uint8)


def model_loss(entry: ModelEntry, rgb: np.ndarray) -> float | None:
    """The model's own training objective on the photo at its working size."""
    if entry.loss is None:
        return None
    size = entry.colorizer.work_size
    L, ab = training_pair(resize_uint8(rgb, size, size)[None])
    if entry.colorizer.regression:
        if entry.colorizer.model is None:
            return None
        prediction = entry.colorizer.model(L, training=False)
    else:
        prediction = entry.colorizer.distribution(np.asarray(L))
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
        temperature: float = DEFAULT_TEMPERATURE,
    ):
        self.entries = entries
        self.files = files
        self.labels = labels or {}
        self.classifier = classifier
        self.class_names = class_names
        self.temperature = temperature
        if prior is None:
            raise ValueError("The rebalanced AuC needs a prior (prior.npy beside the model, or --prior).")
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
            ab = tf.image.resize(metrics.ab_of(source_rgb)[None], L.shape[1:3], method="bilinear").numpy()
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
        for index, path in enumerate(self.files):
            try:
                rgb = load_image(path)
            except UnreadableImageError as error:
                logging.warning("Skipping unreadable photo: %s", error)
                unreadable.append(str(error))
            else:
                record, curves = self.photo(index, rgb)
                photos.append(record)
                for name, (raw, rebal) in curves.items():
                    sums[name][0] += raw
                    sums[name][1] += rebal
            if bar is not None:
                bar.update(index + 1)
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
                e.name: {"work_size": e.colorizer.work_size, "loss": e.loss_kind, **e.info}
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
    temperature: float = DEFAULT_TEMPERATURE,
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


FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand: the study imports this module with its own flags)."""
    flags.DEFINE_string("model", None, "A .keras model, a model folder or a SavedModel directory.")
    flags.DEFINE_string("data_dir", None, "Colour photos to evaluate on (searched recursively).")
    flags.DEFINE_string("output", None, "Report folder (metrics.json, report.md, figures).")
    flags.DEFINE_string("prior", None, "Prior over the 313 bins (default: prior.npy beside the model).")
    flags.DEFINE_string(
        "labels", None, "labels.csv (file,wnid,class_index,name); default <data_dir>/labels.csv."
    )
    flags.DEFINE_string(
        "classifier",
        "resnet50",
        "'resnet50' (Keras, ImageNet weights), a .tflite or a .keras "
        "classifier; empty to skip the semantic test.",
    )
    flags.DEFINE_string(
        "classifier_labels",
        None,
        "Class names for the classifier (1000 or 1001 lines); default: imagenet_labels.txt beside a .tflite.",
    )
    flags.DEFINE_float("temperature", DEFAULT_TEMPERATURE, "Annealed-mean temperature.")
    flags.DEFINE_integer("max_images", None, "Evaluate only the first N photos.")
    flags.DEFINE_integer("work_size", None, "Working size (default: training image_size, else 256).")
    flags.DEFINE_string("name", None, "Row name of the model in the table (default: its folder name).")


def main(argv):
    del argv
    for name in ("model", "data_dir", "output"):
        if not getattr(FLAGS, name):
            sys.exit(f"--{name} is required")
    if not os.path.isdir(FLAGS.data_dir):
        sys.exit(f"--data_dir: {FLAGS.data_dir} is not a folder")
    if FLAGS.temperature <= 0:
        sys.exit(f"--temperature must be > 0, got {FLAGS.temperature}")
    try:
        entry = load_entry(FLAGS.model, FLAGS.name, FLAGS.prior, FLAGS.work_size)
        labels = find_labels(FLAGS.data_dir, FLAGS.labels)
        classifier, names = load_classifier(FLAGS.classifier if labels else None, FLAGS.classifier_labels)
        results = evaluate(
            [entry],
            FLAGS.data_dir,
            FLAGS.output,
            entry.prior,
            labels,
            classifier,
            names,
            FLAGS.temperature,
            FLAGS.max_images,
            title=f"Evaluation of {entry.name}",
        )
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"Error: {error}")
    print(
        f"{results['num_photos']} photos evaluated, {results['num_unreadable']} unreadable; "
        f"report in {os.path.join(FLAGS.output, 'report.md')}"
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
