"""Package a training run's preset as a bundled one: settings chosen on val, float16 weights, metrics.

    python docs/preset/tools/package_preset.py RUN OUT WORK_SIZE TEMPERATURE DESCRIPTION CONFIG \\
        [name=metrics.json ...]

RUN is the folder `python -m keras_colorize.train` wrote (a preset itself);
OUT the package folder (keras_colorize/presets/<name>). Each name=path pair
adds the model's, gray's and the ground truth's summary rows of one
`evaluate` run to metadata["metrics"][name].
"""

import json
import sys

import keras_colorize as kc

ROWS = ("auc", "auc_pooled", "auc_rebal", "auc_rebal_pooled", "colourfulness", "psnr", "ssim", "top1", "top5")


def rows(path: str) -> dict:
    with open(path) as file:
        report = json.load(file)
    summary = report["summary"]
    model = next(k for k in summary if k not in ("Ground truth", "Gray", "Random"))
    pick = {"preset": model, "gray": "Gray", "ground_truth": "Ground truth"}
    out = {
        key: {m: round(summary[row][m], 3) for m in ROWS if summary[row].get(m) is not None}
        for key, row in pick.items()
    }
    return {"photos": report["num_photos"], "classifier": report["settings"].get("classifier"), **out}


def main(
    run: str, out: str, work_size: int, temperature: float, description: str, config: str, extra: list[str]
) -> None:
    trained = kc.Colorizer.from_preset(run)
    metadata = {**trained.metadata, "description": description, "config": config}
    metadata["metrics"] = {
        "protocol": f"python -m keras_colorize.evaluate --model=<preset> --data_dir=<set> (reference prior; "
        f"work size {work_size}, T {temperature:g})",
        **{name: rows(path) for name, path in (pair.split("=", 1) for pair in extra)},
    }
    colorizer = trained.with_settings(work_size=work_size, temperature=temperature, metadata=metadata)
    colorizer.save_to_preset(out, weights_dtype="float16")
    print("saved", out)


if __name__ == "__main__":
    a = sys.argv
    main(a[1], a[2], int(a[3]), float(a[4]), a[5], a[6], a[7:])
