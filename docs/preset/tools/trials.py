"""The equal-time trials of the pretrained-encoder network, then their table.

    python docs/preset/tools/trials.py run TRIALS.json STEPS.json BASELINE BASE_STEPS
    python docs/preset/tools/trials.py table TRIALS.json

`run` trains each trial of TRIALS.json (name -> extra flags on top of configs/mobilenet_trial.cfg) into
runs/trials/<name> for the steps that cost what BASE_STEPS steps of BASELINE cost in CPU time
(STEPS.json from trial_steps.py; a trial with the baseline's network and trained variables, which only
changes the encoder's learning-rate multiplier or its starting weights, has the baseline's cost by
construction), then evaluates it on ../shared/data/semantic with both classifiers and on the first 100
photos of ../shared/data/val, at working size 224. `table` prints the Markdown table of the results.
"""

import json
import subprocess
import sys

SAME_COST_FLAGS = ("--encoder_lr_multiplier", "--nopretrained_encoder")


def steps_for(flags: str, name: str, costs: dict, baseline: str, base_steps: int) -> int:
    """Steps of `name` that cost the CPU time of `base_steps` steps of `baseline`."""
    frozen = "--encoder_lr_multiplier=0" in flags.split()  # no encoder gradients: cheaper
    same = not frozen and all(flag.split("=")[0] in SAME_COST_FLAGS for flag in flags.split())
    cost = costs[baseline if same else name]["cpu_s_per_step"]
    return round(base_steps * costs[baseline]["cpu_s_per_step"] / cost)


def run(trials: dict, costs: dict, baseline: str, base_steps: int) -> None:
    for name, flags in trials.items():
        steps = steps_for(flags, name, costs, baseline, base_steps)
        folder = f"runs/trials/{name}"
        evaluate = f"python -m keras_colorize.evaluate --model={folder} --work_size=224 --fid=none"
        script = (
            f"rm -rf {folder} && mkdir -p runs/trials && "
            f"python -m keras_colorize.train --flagfile=configs/mobilenet_trial.cfg --model_dir={folder} "
            f"--prior=runs/train_prior.npy --max_steps={steps} --max_train_time_s=0 {flags} "
            f"> {folder}.train.log 2>&1 && "
            f"{evaluate} --data_dir=../shared/data/semantic --output={folder}/eval_semantic "
            f"> {folder}.eval.log 2>&1 && "
            f"{evaluate} --data_dir=../shared/data/semantic --classifier=efficientnet_lite0 "
            f"--output={folder}/eval_semantic_eff >> {folder}.eval.log 2>&1 && "
            f"{evaluate} --data_dir=../shared/data/val --max_images=100 --classifier= "
            f"--output={folder}/eval_val >> {folder}.eval.log 2>&1"
        )
        print(name, steps, flush=True)
        subprocess.run(script, shell=True, check=True)


def model_row(path: str) -> tuple[dict, dict]:
    with open(path, encoding="utf-8") as f:
        summary = json.load(f)["summary"]
    model = next(name for name in summary if name not in ("Ground truth", "Gray", "Random"))
    return summary[model], summary["Gray"]


def table(trials: dict) -> None:
    print(
        "| trial | flags | steps | train s | semantic rebal. AuC / pooled | top-1 MobileNet v2 | "
        "top-1 EfficientNet-Lite0 | CF | val (100) rebal. AuC / pooled | CF |\n|" + " --- |" * 10
    )
    for name, flags in trials.items():
        folder = f"runs/trials/{name}"
        with open(f"{folder}/training.json", encoding="utf-8") as f:
            training = json.load(f)
        semantic, _ = model_row(f"{folder}/eval_semantic/metrics.json")
        efficientnet, _ = model_row(f"{folder}/eval_semantic_eff/metrics.json")
        val, _ = model_row(f"{folder}/eval_val/metrics.json")
        print(
            f"| {name} | `{flags or '(the preset recipe)'}` | {training['steps']:,} | "
            f"{training['wall_time_s']:.0f} | "
            f"{semantic['auc_rebal']:.2f} / {semantic['auc_rebal_pooled']:.2f} | {semantic['top1']:.1f} | "
            f"{efficientnet['top1']:.1f} | {semantic['colourfulness']:.1f} | "
            f"{val['auc_rebal']:.2f} / {val['auc_rebal_pooled']:.2f} | {val['colourfulness']:.1f} |"
        )


if __name__ == "__main__":
    with open(sys.argv[2], encoding="utf-8") as file:
        trial_flags = json.load(file)
    if sys.argv[1] == "run":
        with open(sys.argv[3], encoding="utf-8") as file:
            step_costs = json.load(file)
        run(trial_flags, step_costs, sys.argv[4], int(sys.argv[5]))
    else:
        table(trial_flags)
