"""CPU seconds per training step of each trial recipe, robust to other work on the machine.

    python docs/preset/tools/trial_steps.py TRIALS.json OUT.json

TRIALS.json maps a trial's name to its extra flags (on top of configs/mobilenet_trial.cfg). Each recipe
trains 40 steps into /tmp/trial_steps/<name>; the training process's user + system time between step 10
and step 40 (read from /proc while it trains), divided by 30, is its cost per step; wall seconds per
step are written beside it (they depend on what else runs, the CPU time much less).
"""

import json
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def last_step(path: str) -> int:
    """The last step logged in a run's train_log.jsonl (0 before the first)."""
    try:
        with open(path, encoding="utf-8") as log:
            lines = log.read().strip().splitlines()
        return json.loads(lines[-1])["step"] if lines else 0
    except (OSError, ValueError):
        return 0


def measure(name: str, extra_flags: str) -> dict[str, float]:
    folder = f"/tmp/trial_steps/{name}"
    subprocess.run(["rm", "-rf", folder], check=True)
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    command = (
        f"exec python -m keras_colorize.train --flagfile=configs/mobilenet_trial.cfg --model_dir={folder} "
        "--prior=runs/train_prior.npy --max_steps=40 --max_train_time_s=0 --val_images=0 "
        f"--checkpoint_every_steps=1000 --log_every_steps=5 {extra_flags} > {folder}.log 2>&1"
    )
    process = subprocess.Popen(command, shell=True)
    marks: dict[int, tuple[float, float]] = {}
    while process.poll() is None:
        step = last_step(f"{folder}/train_log.jsonl")
        for mark in (10, 40):
            if step >= mark and mark not in marks:
                marks[mark] = (cpu_seconds(process.pid), time.time())
        time.sleep(0.05)
    return {
        "cpu_s_per_step": (marks[40][0] - marks[10][0]) / 30,
        "wall_s_per_step": (marks[40][1] - marks[10][1]) / 30,
    }


def main(trials_file: str, out: str) -> None:
    with open(trials_file, encoding="utf-8") as f:
        trials = json.load(f)
    results = {}
    for name, extra_flags in trials.items():
        results[name] = measure(name, extra_flags)
        print(name, {key: round(value, 3) for key, value in results[name].items()}, flush=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
