"""Which ImageNet classes a colorizer helps or hurts a classifier on: top-1 per class, gray vs each preset.

    python docs/preset/tools/class_changes.py CLASSIFIER:PRESET=metrics.json [...]

Each argument names a classifier, a preset and the `metrics.json` of one `evaluate` run on
../shared/data/semantic with that classifier. Prints, per classifier, one Markdown table with a row per
class (photos, top-1 % on the ground truth, on gray, and on each preset's colorizations with its change
against gray), sorted by the last preset's change, and writes nothing.
"""

import collections
import json
import sys

LABELS = "keras_colorize/assets/mobilenet_v2_labels.txt"


def per_class(path: str) -> tuple[str, dict[int, dict[str, list[bool]]]]:
    """The preset's row name and, per class, each row's top-1 hits photo by photo."""
    with open(path, encoding="utf-8") as f:
        photos = json.load(f)["photos"]
    model = next(name for name in photos[0]["rows"] if name not in ("Ground truth", "Gray", "Random"))
    hits: dict[int, dict[str, list[bool]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for photo in photos:
        for row in ("Ground truth", "Gray", model):
            hits[photo["label"]][row].append(bool(photo["rows"][row]["top1"]))
    return model, hits


def main(specs: list[str]) -> None:
    with open(LABELS, encoding="utf-8") as f:
        names = [line.strip() for line in f]
    offset = 1 if len(names) == 1001 else 0  # the tflite's labels start with "background"
    runs: dict[str, list[tuple[str, dict]]] = collections.defaultdict(list)
    for spec in specs:
        key, path = spec.split("=", 1)
        classifier = key.split(":", 1)[0]
        runs[classifier].append(per_class(path))
    percent = lambda flags: 100.0 * sum(flags) / len(flags)  # noqa: E731
    for classifier, models in runs.items():
        header = ["class", "photos", "truth", "gray"] + [m for m, _ in models]
        print(f"\n{classifier}\n\n| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
        classes = models[0][1]
        last_model, last_hits = models[-1]
        change = {c: percent(last_hits[c][last_model]) - percent(last_hits[c]["Gray"]) for c in classes}
        order = sorted(classes, key=change.__getitem__)
        for label in order:
            gray = percent(classes[label]["Gray"])
            truth = percent(classes[label]["Ground truth"])
            cells = [names[label + offset], str(len(classes[label]["Gray"])), f"{truth:.0f}", f"{gray:.0f}"]
            for model, hits in models:
                top1 = percent(hits[label][model])
                cells.append(f"{top1:.0f} ({top1 - gray:+.0f})")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
