"""Package the preset run (written by the pre-refactor trainer: model.keras + training.json + prior.npy)."""

import json
import sys

import keras
import numpy as np

import keras_colorize as kc

run, out, work_size, temperature = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
with open(f"{run}/training.json") as file:
    info = json.load(file)
old = keras.models.load_model(f"{run}/model.keras", compile=False)
backbone = kc.build_model(info["variant"], info["width"])
backbone.set_weights(old.get_weights())
c = info["config"]
metadata = {
    "description": extra.pop("description", f"{info['variant']} x{info['width']:g}"),
    "loss": info["loss"],
    "training_image_size": info["image_size"],
    "precision": info.get("precision", c["mixed_precision"]),
    "steps": info["steps"],
    "epochs": info["epochs"],
    "wall_time_s": round(info["wall_time_s"], 1),
    "train_loss": info["train_loss"],
    "val_loss": info["val_loss"],
    "train_data": c["train_data"],
    "val_data": c["val_data"],
    "batch_size": c["batch_size"],
    "learning_rate": c["learning_rate"],
    "lr_decay_steps": c["lr_decay_steps"],
    "weight_decay": c["weight_decay"],
    "seed": c["seed"],
    "config": "configs/preset.cfg",
    **extra,
}
colorizer = kc.Colorizer(
    backbone,
    temperature=temperature,
    work_size=work_size,
    prior=np.load(f"{run}/prior.npy"),
    metadata=metadata,
)
colorizer.save_to_preset(out, weights_dtype="float16")
print("saved", out)
