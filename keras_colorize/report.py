"""metrics.json, report.md and the figures of an evaluation.

The table follows the paper's Table 1: one row per method or baseline, the
AuC of the cumulative ab-error curve (raw and class-rebalanced), PSNR,
colourfulness and the classifier's top-1/top-5 on the colorized photos,
plus each model's own loss and any columns the caller adds (the study's
training results).
"""

import json
import os

import numpy as np

from keras_colorize import figures, metrics
from keras_colorize.images import UnreadableImageError, load_image
from keras_colorize.preprocessing import lightness_from_uint8 as lightness

COLUMNS = (
    ("auc", "AuC % (raw)", "{:.1f}"),
    ("auc_rebal", "AuC % (rebal.)", "{:.1f}"),
    ("psnr", "PSNR dB", "{:.2f}"),
    ("colourfulness", "Colourful.", "{:.1f}"),
    ("bleeding", "Bleeding", "{:.2f}"),
    ("top1", "Top-1 %", "{:.1f}"),
    ("top5", "Top-5 %", "{:.1f}"),
    ("loss", "Own loss", "{:.4f}"),
)
GALLERY_PHOTOS = 6
RANKED_PHOTOS = 4


def _cell(value, form: str = "{}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return form.format(value) if np.isfinite(value) else "-"
    return str(value)


def table(results: dict) -> str:
    """The Markdown performance table: extra columns, then the metrics."""
    extra = results.get("extra", {})
    extra_columns = list(dict.fromkeys(key for row in extra.values() for key in row))
    header = ["Method", *extra_columns, *(title for _, title, _ in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, summary in results["summary"].items():
        cells = [name, *(_cell(extra.get(name, {}).get(c), "{:.4g}") for c in extra_columns)]
        cells += [_cell(summary.get(key), form) for key, _, form in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _error_map(rgb_out: np.ndarray, rgb_true: np.ndarray) -> np.ndarray:
    """Per-pixel ab error as gray (white = 50+ ab units), the edge band tinted red."""
    errors = metrics.ab_error(metrics.ab_of(rgb_out), metrics.ab_of(rgb_true))
    L = np.asarray(lightness(rgb_true[None]))[0, ..., 0]
    band = metrics.edge_band(L)
    gray = np.clip(errors / 50.0 * 255.0, 0, 255)
    image = np.stack([gray, gray, gray], axis=-1)
    image[band] = 0.6 * image[band] + 0.4 * np.array([255.0, 0.0, 0.0])
    return image.astype(np.uint8)


class _Renderer:
    """Re-colorizes the few photos the figures show (cheaper than keeping all)."""

    def __init__(self, evaluation):
        self.evaluation = evaluation
        self.index = {path: i for i, path in enumerate(evaluation.files)}

    def __call__(self, path: str) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
        try:
            rgb = load_image(path)
        except UnreadableImageError:
            return None
        return rgb, self.evaluation.outputs(self.index[path], rgb)


def write_figures(results: dict, evaluation, output: str) -> dict[str, str]:
    """Draw every figure; returns {figure key: file name}."""
    written = {}
    curves = results["curves"]
    figures.curves_figure(
        {
            "Non-rebalanced": {
                f"{name} (AuC {100 * np.mean(c['raw']):.1f})": np.array(c["raw"])
                for name, c in curves.items()
            },
            "Class-rebalanced": {
                f"{name} (AuC {100 * np.mean(c['rebalanced']):.1f})": np.array(c["rebalanced"])
                for name, c in curves.items()
            },
        },
        metrics.THRESHOLDS,
        "threshold on ab error",
        "pixels within threshold",
        os.path.join(output, "auc_curves.png"),
    )
    written["curves"] = "auc_curves.png"
    render = _Renderer(evaluation)
    photos = results["photos"]
    models = [e.name for e in evaluation.entries]

    gallery = []
    for record in photos[:GALLERY_PHOTOS]:
        rendered = render(record["file"])
        if rendered is None:
            continue
        _, outs = rendered
        row = [(outs["Gray"], figures.shorten(os.path.basename(record["file"]), 24))]
        row += [(outs[m], f"AuC {record['rows'][m]['auc']:.1f}") for m in models]
        row.append((outs["Ground truth"], ""))
        gallery.append(row)
    if gallery:
        figures.image_grid(
            gallery, ["Input (L)", *models, "Ground truth"], os.path.join(output, "gallery.png")
        )
        written["gallery"] = "gallery.png"
    if not models:
        return written
    main = models[0]

    def ranked_grid(records, key, file_name, with_error_map=False):
        rows = []
        for record in records:
            rendered = render(record["file"])
            if rendered is None:
                continue
            rgb, outs = rendered
            value = record["rows"][main][key]
            row = [
                (outs["Gray"], figures.shorten(os.path.basename(record["file"]), 24)),
                (outs[main], f"{key} {value:.2f}"),
                (rgb, ""),
            ]
            if with_error_map:
                row.append((_error_map(outs[main], rgb), "ab error; red: edge band"))
            rows.append(row)
        titles = ["Input (L)", main, "Ground truth"] + (["Error map"] if with_error_map else [])
        if rows:
            figures.image_grid(rows, titles, os.path.join(output, file_name))
            written[file_name[:-4]] = file_name

    by_error = sorted(photos, key=lambda p: p["rows"][main]["ab_error"])
    ranked_grid(by_error[:RANKED_PHOTOS], "ab_error", "best.png")
    ranked_grid(by_error[::-1][:RANKED_PHOTOS], "ab_error", "worst.png")
    by_bleeding = sorted(photos, key=lambda p: -p["rows"][main]["bleeding"])
    ranked_grid(by_bleeding[:RANKED_PHOTOS], "bleeding", "bleeding.png", with_error_map=True)

    names = evaluation.class_names
    labelled = [p for p in photos if p["label"] is not None and "top5_classes" in p["rows"][main]]
    if labelled and names:
        rows, shown = [], []
        for record in labelled[:RANKED_PHOTOS]:
            rendered = render(record["file"])
            if rendered is None:
                continue
            shown.append(record)
            _, outs = rendered
            row = []
            for column in ("Ground truth", main, "Gray"):
                top = record["rows"][column]["top5_classes"]
                lines = [
                    f"{s * 100:4.0f}% {figures.shorten(names[c])}" + (" *" if c == record["label"] else "")
                    for c, s in top
                ]
                row.append((outs[column], "\n".join(lines)))
            rows.append(row)
    if labelled and names and rows:
        figures.image_grid(
            rows, ["Ground truth", main, "Gray"], os.path.join(output, "semantic.png"), caption_lines=5
        )
        written["semantic"] = "semantic.png"
        written["semantic_labels"] = ", ".join(names[p["label"]] for p in shown)
    return written


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot store {type(value).__name__} in JSON")


def write_report(results: dict, evaluation, output: str, title: str, notes: str = "") -> None:
    """metrics.json + figures + report.md in `output`."""
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "metrics.json"), "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1, default=_json_default)
    written = write_figures(results, evaluation, output)
    settings = results["settings"]
    lines = [
        f"# {title}",
        "",
        f"{results['num_photos']} photos from `{settings.get('data_dir')}` "
        f"({results['num_labelled']} with ImageNet labels); "
        f"**{results['num_unreadable']} unreadable** (skipped, listed in metrics.json"
        + ("" if not results["unreadable"] else ": " + "; ".join(results["unreadable"][:10]))
        + "). "
        f"Annealed-mean temperature {settings['temperature'] or 'each model its own'}. "
        f"Classifier: {settings['classifier'] or 'none'}.",
        "",
        notes,
        "",
        table(results),
        "",
        "## Metrics",
        "",
        "Every row is scored on the uint8 RGB photo it delivers, at the photo's own size (the model runs "
        "at its working size; ab is upsampled and recombined with the photo's L). Means are over photos.",
        "",
        "- **AuC (raw)**: for thresholds t = 0, 1, ..., 150 the share of pixels whose ab error "
        "(Euclidean distance in ab between output and ground truth) is <= t; the mean of this cumulative "
        "curve over the 151 thresholds, in percent (100 = exact; a constant error d scores "
        "100 (151 - ceil d) / 151).",
        f"- **AuC (rebal.)**: the same curve with each pixel weighted by 1 / p(q), q the nearest of the 313 "
        "bins to the pixel's true ab and p the smoothed training prior "
        f"(floored at {metrics.PRIOR_FLOOR:.2g}); "
        "weights normalised per photo, so rare colours count as much as common ones.",
        f"- **PSNR**: on RGB in [0, 1], capped at {metrics.PSNR_CAP:g} dB (the ground-truth row).",
        "- **Colourful.**: Hasler & Süsstrunk (2003), sqrt(var rg + var yb) + 0.3 sqrt(mean rg² + mean yb²) "
        "on 0..255 RGB with rg = R - G, yb = (R + G)/2 - B. Gray is 0; compare with the ground-truth row.",
        f"- **Bleeding**: strong edges are pixels whose Sobel gradient of L is above the photo's "
        f"{metrics.EDGE_PERCENTILE:g}th percentile (and above 1 L unit/px); the edge band is them dilated by "
        f"{metrics.EDGE_RADIUS} px. Bleeding = (share of the photo's ab-error mass in the band) / (share of "
        "pixels in the band): 1 means errors ignore edges, above 1 they pile up along object boundaries, "
        "which is what colour leaking across an edge produces.",
        "- **Top-1 / Top-5**: the ImageNet classifier's accuracy on the output photo (labelled photos only; "
        "central 87.5% crop resized to 224 px). The paper's semantic-interpretability test.",
        "- **Own loss**: each model's training objective on the photo resized to its working size (targets "
        "ab at stride 4), as in validation; losses of different kinds are not comparable with each other.",
        "- Baselines: **Ground truth** is the photo itself, **Gray** has ab = 0, **Random** takes the ab of "
        "another photo of the set, resized to this one.",
        "",
        "## Figures",
        "",
        f"![AuC curves]({written['curves']})",
        "",
    ]
    captions = {
        "gallery": "Input lightness, each model's colorization (per-photo raw AuC) and the ground truth.",
        "best": "Lowest mean ab error of the first model.",
        "worst": "Highest mean ab error of the first model.",
        "bleeding": "Highest bleeding ratio of the first model; the error map shows ab error (white = 50) "
        "with the edge band in red.",
        "semantic": "Classifier top-5 (score, class; * = true label) on ground truth, colorization and gray "
        f"({written.get('semantic_labels', '')}).",
    }
    for key, caption in captions.items():
        if key in written:
            lines += [f"{caption}", "", f"![{key}]({written[key]})", ""]
    with open(os.path.join(output, "report.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines))
