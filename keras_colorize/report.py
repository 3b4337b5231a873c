"""metrics.json, report.md and the figures of an evaluation.

The first table follows the paper's Table 1: one row per method or
baseline, the AuC of the cumulative ab-error curve (raw and class-rebalanced,
each per photo and pooled), the classifier's top-1/top-5 on the colorized
photos, each model's own loss and any columns the caller adds (the study's
training results). The second holds the modern protocol: PSNR, SSIM,
colourfulness CF, both ΔCF, FID / KID (Inception-v3) and the offline FD / KID
on MobileNet v2 features, and colour bleeding. The Metrics section defines
every metrics.json key.
"""

import json
import os

import numpy as np

from keras_colorize import figures, literature, metrics
from keras_colorize.images import UnreadableImageError
from keras_colorize.preprocessing import lightness_from_uint8 as lightness

COLUMNS = (
    ("auc", "AuC % raw, per photo", "{:.1f}"),
    ("auc_pooled", "AuC % raw, pooled", "{:.1f}"),
    ("auc_rebal", "AuC % rebal., per photo", "{:.1f}"),
    ("auc_rebal_pooled", "AuC % rebal., pooled", "{:.1f}"),
    ("top1", "Top-1 %", "{:.1f}"),
    ("top5", "Top-5 %", "{:.1f}"),
    ("loss", "Own loss", "{:.4f}"),
)
MODERN_COLUMNS = (
    ("psnr", "PSNR dB", "{:.2f}"),
    ("ssim", "SSIM", "{:.3f}"),
    ("colourfulness", "CF", "{:.2f}"),
    ("delta_cf_set", "ΔCF (set means)", "{:.2f}"),
    ("delta_cf_photo", "ΔCF (per photo)", "{:.2f}"),
    ("fid", "FID", "{:.2f}"),
    ("kid", "KID", "{:.4f}"),
    ("fd_mobilenet", "FD-MobileNet (not FID)", "{:.3f}"),
    ("kid_mobilenet", "KID-MobileNet", "{:.4f}"),
    ("bleeding", "Bleeding", "{:.2f}"),
)
GALLERY_PHOTOS = 6
RANKED_PHOTOS = 4
# "Could fool a person" candidates: the original is colourful (CF >= FOOL_MIN_CF), the colorization
# keeps at least FOOL_CF_SHARE of its colourfulness and, on labelled photos, the classifier's top-1
# is still right; ranked by SSIM to the original.
FOOL_MIN_CF = 15.0
FOOL_CF_SHARE = 0.8


def _cell(value, form: str = "{}") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return form.format(value) if np.isfinite(value) else "-"
    return str(value)


def table(results: dict, columns=COLUMNS, with_extra: bool = True) -> str:
    """A Markdown table of the summary: the caller's extra columns (if any), then `columns`.

    Columns whose every cell is empty (e.g. FID when it was not computed) are left out.

    Args:
        results: the metrics.json content.
        columns: (summary key, title, format) triples.
        with_extra: include `results["extra"]` columns (the study's training results).
    """
    extra = results.get("extra", {}) if with_extra else {}
    extra_columns = list(dict.fromkeys(key for row in extra.values() for key in row))
    summaries = results["summary"]
    columns = [c for c in columns if any(s.get(c[0]) is not None for s in summaries.values())]
    header = ["Method", *extra_columns, *(title for _, title, _ in columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, summary in summaries.items():
        cells = [name, *(_cell(extra.get(name, {}).get(c), "{:.4g}") for c in extra_columns)]
        cells += [_cell(summary.get(key), form) for key, _, form in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def literature_table(results: dict) -> str:
    """--protocol=imagenet5k: the published numbers, then ours, on the same columns."""
    keys = (("fid", "FID"), ("colourfulness", "CF"), ("delta_cf_set", "ΔCF"), ("psnr", "PSNR dB"))
    keys += (("ssim", "SSIM"),)
    lines = [
        "| Method | Source / photos | " + " | ".join(t for _, t in keys) + " |",
        "|" + "---|" * (len(keys) + 2),
    ]
    for entry in literature.IMAGENET5K:
        cells = [_cell(entry.get(key), "{:.2f}") for key, _ in keys]
        lines.append(f"| {entry['method']} | {entry['source']} | " + " | ".join(cells) + " |")
    source = f"ours: {results['num_photos']} photos of `{results['settings'].get('data_dir')}`"
    for name, summary in results["summary"].items():
        cells = [_cell(summary.get(key), "{:.3f}" if key == "ssim" else "{:.2f}") for key, _ in keys]
        lines.append(f"| {name} | {source} | " + " | ".join(cells) + " |")
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
            rgb = self.evaluation.load(path)
        except UnreadableImageError:
            return None
        return rgb, self.evaluation.outputs(self.index[path], rgb)


def fooling_candidates(photos: list[dict], model: str) -> list[dict]:
    """Photos whose colorization by `model` could pass for real, best first (a proxy, not a human test).

    Args:
        photos: metrics.json's per-photo records.
        model: the row to judge.

    Example:
    >>> def photo(name, cf, ssim):
    ...     truth = {"colourfulness": 40.0}
    ...     return {"file": name, "rows": {"Ground truth": truth, "m": {"colourfulness": cf, "ssim": ssim}}}
    >>> [p["file"] for p in fooling_candidates([photo("gray", 10.0, 0.99), photo("vivid", 36.0, 0.9)], "m")]
    ['vivid']
    """
    kept = []
    for photo in photos:
        truth, out = photo["rows"]["Ground truth"], photo["rows"][model]
        if (
            truth["colourfulness"] >= FOOL_MIN_CF
            and out["colourfulness"] >= FOOL_CF_SHARE * truth["colourfulness"]
            and out.get("top1") is not False
            and out.get("ssim") is not None
        ):
            kept.append(photo)
    return sorted(kept, key=lambda p: -p["rows"][model]["ssim"])


def write_figures(results: dict, evaluation, output: str) -> dict[str, str]:
    """Draw every figure; returns {figure key: file name}."""
    written = {}
    curves = results["curves"]
    panels = {}
    for key, title in (
        ("raw", "Raw, per photo"),
        ("raw_pooled", "Raw, pooled"),
        ("rebalanced", "Rebalanced, per photo"),
        ("rebalanced_pooled", "Rebalanced, pooled"),
    ):
        panels[title] = {
            f"{name} (AuC {100 * np.mean(c[key]):.1f})": np.array(c[key]) for name, c in curves.items()
        }
    figures.curves_figure(
        panels,
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
    ranked_grid(fooling_candidates(photos, main)[:RANKED_PHOTOS], "ssim", "fool.png")

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


def performance_section(results: dict) -> list[str]:
    """The seed's performance table (model, epochs, test loss, validation loss), for trained rows."""
    extra = results.get("extra", {})
    rows = [n for n in results["summary"] if "Epochs" in extra.get(n, {})]
    if not rows:
        return []
    lines = [
        "## Performance",
        "",
        "Test loss: the model's own objective on the test photos; validation loss: on the validation crops "
        "at the end of training (losses of different kinds are not comparable).",
        "",
        "| Model | Epochs | Steps | Test loss | Validation loss |",
        "|---|---|---|---|---|",
    ]
    for name in rows:
        columns = extra[name]
        loss = results["summary"][name].get("loss")
        lines.append(
            f"| {name} | {_cell(columns.get('Epochs'))} | {_cell(columns.get('Steps'))} | "
            f"{_cell(loss, '{:.4f}')} | {_cell(columns.get('Val loss'), '{:.4f}')} |"
        )
    return [*lines, ""]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Cannot store {type(value).__name__} in JSON")


def metrics_section() -> list[str]:
    """The report's Metrics section: every metrics.json summary key, defined."""
    table1 = ", ".join(
        f"{row['method']} {row['auc']:g} / {row['auc_rebal']:g}" for row in literature.PAPER_TABLE1
    )
    third = literature.THIRD_PARTY_AUC_REBAL
    return [
        "## Metrics",
        "",
        "Every row is scored on the uint8 RGB photo it delivers, at the photo's own size (the model runs "
        "at its working size; ab is upsampled and recombined with the photo's L). metrics.json holds, per "
        "row, under `summary`:",
        "",
        "- `auc` (**AuC % raw, per photo**): for thresholds t = 0, 1, ..., 150 the share of the photo's "
        "pixels whose ab error (Euclidean distance in ab between output and ground truth) is <= t; the mean "
        "of this cumulative curve over the 151 thresholds, in percent (100 = exact; a constant error d "
        "scores 100 (151 - ceil d) / 151); then the mean over photos.",
        "- `auc_pooled` (**AuC % raw, pooled**): the same curve over every pixel of the set at once (large "
        "photos weigh more). Equal to `auc` when every photo has the same size and the same errors.",
        "- `auc_rebal` (**AuC % rebal., per photo**): each pixel weighted by 1 / p(q), q the nearest of the "
        "313 bins to its true ab and p the report's prior (one prior for every row, named above; "
        f"floored at {metrics.PRIOR_FLOOR:.2g}); weights normalised within each photo, AuC averaged over "
        "photos.",
        "- `auc_rebal_pooled` (**AuC % rebal., pooled**): the weighted curve over every pixel of the set, "
        "weights not normalised per photo, so the rare (saturated) pixels of colourful photos weigh on the "
        "whole set.",
        "- Which protocol is the paper's Table 1? We believe the **pooled** one: the paper counts the "
        "share of predicted pixel colours within a threshold of the ground truth, sweeps the threshold to "
        "get a cumulative mass function (after Larsson et al., whom it cites) and re-weights the pixels by "
        "the inverse probability of their colour class: one function over the test set's pixels, with no "
        "mention of per-image normalisation. The numbers point the same way: in Table 1 gray falls far "
        "below the full model on the "
        f"rebalanced AuC (raw / rebalanced: {table1}), as in a third-party run of the released model on "
        f"1,000 ImageNet val photos (gray {third['Gray']:g}, model {third['released model']:g}), whereas "
        "per-photo normalisation lets the few saturated pixels of a dull photo count for little, so gray "
        "scores about as well as a model per photo. Compare pooled numbers with Table 1, and remember that "
        "its prior was ImageNet's.",
        "- `top1`, `top5` (**Top-1 / Top-5 %**): the ImageNet classifier's accuracy on the output photo "
        "(labelled photos only; central 87.5% crop resized to the classifier's input). The paper's "
        "semantic-interpretability test (it used VGG-16: `--classifier=vgg16`).",
        "- `loss` (**Own loss**): each model's training objective on the photo resized to its working size "
        "(targets ab at stride 4), as in validation; losses of different kinds are not comparable.",
        f"- `psnr` (**PSNR dB**): on RGB in [0, 1], capped at {metrics.PSNR_CAP:g} dB (the ground-truth "
        "row); mean over photos.",
        "- `ssim` (**SSIM**): `skimage.metrics.structural_similarity` of output and truth, uint8 RGB "
        "(data_range 255, 7 x 7 uniform window, per channel, averaged); mean over photos.",
        "- `colourfulness` (**CF**): Hasler & Süsstrunk (2003), sqrt(var rg + var yb) + "
        "0.3 sqrt(mean rg² + mean yb²) on 0..255 RGB with rg = R - G, yb = (R + G)/2 - B; mean over "
        "photos. Gray is 0; compare with the ground-truth row.",
        "- `delta_cf_set` (**ΔCF (set means)**): |mean CF of the row - mean CF of the ground truth|, the "
        "gap between the set means. DDColor's table uses this one: the paper's model's ΔCF there (6.61) is "
        "the gap between its CF (31.60) and the ground truth's set mean.",
        "- `delta_cf_photo` (**ΔCF (per photo)**): the mean over photos of |CF(output) - CF(truth)|, never "
        "below `delta_cf_set`. We take CT2 (Weng et al., ECCV 2022) to use this per-image gap (not "
        "checked against its code, which we could not read offline). Both are 0 for the ground truth.",
        "- `fid` (**FID**), `kid`, `kid_std`: Fréchet and kernel Inception distances between the row's "
        "outputs and the ground-truth photos, on the 2,048 pool_3 features of FID's standard network (the "
        "2015 TensorFlow Inception-v3 of TTUR / pytorch-fid / clean-fid, `keras_colorize.fid_inception`) "
        "of the whole photo resized to 299 x 299 by that graph's bilinear resize; KID is the unbiased "
        "squared MMD with the kernel (x·y/d + 1)³, mean (`kid`) and standard deviation (`kid_std`) over "
        "subsets of at most 1,000 photos. With `--fid=inception|both`, or `auto` when the fid extra is "
        "installed. FID is biased upwards on small sets (a few hundred photos), so it is comparable only "
        "between rows of one report or sets of the same size (not with val5k figures); KID is not biased "
        "and is the one to compare across set sizes. The ground-truth row has FID 0 and no KID (a set "
        "against itself is not two samples, and the unbiased estimate goes negative).",
        "- `fd_mobilenet`, `kid_mobilenet`, `kid_mobilenet_std` (**FD-MobileNet (not FID)**, "
        "**KID-MobileNet**): the same two distances on the bundled uint8 MobileNet v2's 1,280 pool "
        "features (whole photo, bicubic to 224 x 224). Offline and comparable between rows of one "
        "report; not comparable with any published FID.",
        f"- `bleeding` (**Bleeding**): strong edges are pixels whose Sobel gradient of L is above the "
        f"photo's {metrics.EDGE_PERCENTILE:g}th percentile (and above 1 L unit/px); the edge band is them "
        f"dilated by {metrics.EDGE_RADIUS} px. Bleeding = (share of the photo's ab-error mass in the band) / "
        "(share of pixels in the band): 1 means errors ignore edges, above 1 they pile up along object "
        "boundaries.",
        "- `ab_error`: mean per-pixel ab error (metrics.json only).",
        "- Baselines: **Ground truth** is the photo itself, **Gray** has ab = 0, **Random** takes the ab of "
        "another photo of the set, resized to this one; **JPEG q<Q> round trip** (`--jpeg_quality=Q`) is the "
        "photo saved as JPEG at quality Q (Pillow, 4:2:0) and read back: what compression alone costs, a "
        "floor for the models' rows.",
        "- Top level: `num_photos`, `num_skipped` (also under its old name `num_unreadable`), "
        "`skipped_by_kind`, `skipped` (file, kind, reason), `num_labelled`, `settings` (prior, protocol, "
        "classifier, feature networks, models), `curves` (the four cumulative curves per row) and "
        "`photos` (per-photo rows).",
        "",
    ]


def write_report(results: dict, evaluation, output: str, title: str, notes: str = "") -> None:
    """metrics.json + figures + report.md in `output`."""
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "metrics.json"), "w", encoding="utf-8") as file:
        json.dump(results, file, indent=1, default=_json_default)
    written = write_figures(results, evaluation, output)
    settings = results["settings"]
    skipped = results["skipped"]
    skip_line = f"**{results['num_skipped']} skipped**" + (
        ""
        if not skipped
        else " ("
        + ", ".join(f"{n} {kind}" for kind, n in results["skipped_by_kind"].items())
        + "; listed below and in metrics.json)"
    )
    classifier = settings["classifier"] or settings.get("classifier_status") or "none"
    protocol = (
        "the first 5,000 ImageNet val photos protocol (central square, resized to 256 x 256)"
        if settings["protocol"] == "imagenet5k"
        else "each photo at its own size"
    )
    lines = [
        f"# {title}",
        "",
        f"{results['num_photos']} photos from `{settings.get('data_dir')}` "
        f"({results['num_labelled']} with ImageNet labels), {protocol}; {skip_line}. "
        f"Annealed-mean temperature {settings['temperature'] or 'each model its own'}. "
        f"Rebalancing prior (every row): `{settings['prior']['name']}`, {settings['prior']['description']}. "
        f"Classifier: {classifier}. "
        f"Feature networks: {', '.join(settings['features']) or 'none (--fid=none)'}.",
        "",
        notes,
        "",
        "## The paper's metrics (Table 1)",
        "",
        table(results),
        "",
        "## The modern protocol",
        "",
        table(results, MODERN_COLUMNS, with_extra=False),
        "",
    ]
    if settings["protocol"] == "imagenet5k":
        lines += [
            "## Beside the literature",
            "",
            "Published numbers for the paper's released model (not measured by us), then ours. "
            "FID is comparable only when computed on FID's Inception (`--fid=inception`, the 2015 "
            "TensorFlow graph of pytorch-fid) and on the same number of photos (FID is biased upwards "
            "on fewer).",
            "",
            literature_table(results),
            "",
        ]
    lines += performance_section(results)
    lines += metrics_section()
    if skipped:
        lines += ["## Skipped photos", "", *(f"- {entry['reason']}" for entry in skipped[:50]), ""]
        if len(skipped) > 50:
            lines += [f"- ... and {len(skipped) - 50} more (metrics.json)", ""]
    lines += [
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
        "fool": "Could fool a person (a proxy until the human test): originals with colourfulness >= "
        f"{FOOL_MIN_CF:g}, colorized keeping >= {FOOL_CF_SHARE:.0%} of it with the classifier still right, "
        "highest SSIM first.",
        "semantic": "Classifier top-5 (score, class; * = true label) on ground truth, colorization and gray "
        f"({written.get('semantic_labels', '')}).",
    }
    for key, caption in captions.items():
        if key in written:
            lines += [f"{caption}", "", f"![{key}]({written[key]})", ""]
    with open(os.path.join(output, "report.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines))
