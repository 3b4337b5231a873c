"""Presets: a Colorizer in a folder, keras-hub's layout.

    <folder>/config.json        the Colorizer's Keras config (backbone recipe,
                                temperature, working size, decoding, prior,
                                metadata)
    <folder>/model.weights.h5   its weights (float32, or float16 to halve the file)
    <folder>/metadata.json      provenance: description, variant, width, training
                                data, steps, wall time, precision, metrics,
                                versions, weights dtype

Named presets are package data: `keras_colorize/presets/<name>/`, each with
those three files (its metadata.json's "description" is the one-line entry
of `Colorizer.presets`). `DEFAULT_PRESET` names the one `from_preset()` and
`python -m keras_colorize.colorize` use when no model is given.
"""

import json
import os
import tempfile

import keras
import numpy as np

from keras_colorize.choices import WEIGHTS_DTYPES

# The bundled preset used when no model is named (None: none is bundled yet).
DEFAULT_PRESET: str | None = "full_w05_cpu2h"

PRESETS_DIR = os.path.dirname(os.path.abspath(__file__))
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"


def bundled_presets() -> dict[str, str]:
    """{name: one-line description} of the presets shipped in this package."""
    found = {}
    for name in sorted(os.listdir(PRESETS_DIR)):
        metadata = os.path.join(PRESETS_DIR, name, METADATA_FILE)
        if os.path.isfile(metadata):
            with open(metadata, encoding="utf-8") as file:
                description = str(json.load(file).get("description") or name)
            found[name] = description.splitlines()[0]
    return found


def is_preset(folder: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(folder, CONFIG_FILE))


def resolve(name_or_path: str | os.PathLike | None) -> str:
    """The preset folder or .keras file meant by a name, a folder or a file (nothing is guessed)."""
    if name_or_path is None:
        if DEFAULT_PRESET is None:
            raise ValueError(
                "No default preset: keras_colorize.presets.DEFAULT_PRESET is None (no pretrained preset is "
                "bundled yet); pass a preset folder or a .keras file."
            )
        name_or_path = DEFAULT_PRESET
        if not is_preset(os.path.join(PRESETS_DIR, name_or_path)):
            raise ValueError(
                f"The default preset {name_or_path!r} is missing: no {CONFIG_FILE} in "
                f"{os.path.join(PRESETS_DIR, name_or_path)}."
            )
    path = os.fspath(name_or_path)
    if os.path.isfile(path):
        if not path.endswith(".keras"):
            raise ValueError(
                f"{path}: not a .keras file (a model is a preset name, a preset folder or .keras)"
            )
        return path
    if os.path.isdir(path):
        if not is_preset(path):
            raise ValueError(f"{path}: a folder but not a preset (no {CONFIG_FILE} in it)")
        return path
    bundled = os.path.join(PRESETS_DIR, path)
    if os.sep not in path and "/" not in path and is_preset(bundled):
        return bundled
    names = ", ".join(bundled_presets()) or "none bundled"
    raise FileNotFoundError(
        f"{path}: no such preset, preset folder or .keras file (bundled presets: {names}); check the path"
    )


def load_colorizer(name_or_path: str | os.PathLike | None = None, **overrides):
    """`Colorizer.from_preset`: see there."""
    path = resolve(name_or_path)
    if os.path.isfile(path):
        colorizer = keras.models.load_model(path, compile=False)
    else:
        with open(os.path.join(path, CONFIG_FILE), encoding="utf-8") as file:
            colorizer = keras.saving.deserialize_keras_object(json.load(file))
        colorizer.load_weights(os.path.join(path, WEIGHTS_FILE))  # float16 files load into float32
    return colorizer.with_settings(**overrides) if overrides else colorizer


def _to_float16(source: str, target: str) -> None:
    """Copy a weights file with every float32 array stored as float16."""
    import h5py

    with h5py.File(source, "r") as original, h5py.File(target, "w") as copy:

        def visit(name, item):
            if isinstance(item, h5py.Group):
                copy.require_group(name).attrs.update(item.attrs)
                return
            data = item[()]
            if item.dtype == np.float32:
                if np.any(np.abs(data) > np.finfo(np.float16).max):
                    raise ValueError(
                        f"{name}: values beyond float16's range; save with weights_dtype=float32"
                    )
                data = data.astype(np.float16)
            copy.create_dataset(name, data=data).attrs.update(item.attrs)

        copy.attrs.update(original.attrs)
        original.visititems(visit)


def preset_metadata(colorizer, weights_dtype: str) -> dict:
    """metadata.json: the model's provenance plus what the folder itself records."""
    from keras_colorize import __version__

    metadata = colorizer.metadata
    backbone = colorizer.backbone
    return {
        "description": metadata.get("description")
        or f"{backbone.variant} colorizer, width {backbone.width:g}, working size {colorizer.work_size}",
        **metadata,
        "variant": backbone.variant,
        "width": backbone.width,
        "work_size": colorizer.work_size,
        "temperature": colorizer.temperature,
        "decoding": colorizer.decoding,
        "has_prior": colorizer.prior is not None,
        "parameter_count": int(backbone.count_params()),
        "weights_dtype": weights_dtype,
        "keras_colorize_version": __version__,
        "keras_version": keras.__version__,
    }


def save_preset(colorizer, folder: str | os.PathLike, weights_dtype: str = "float32") -> str:
    """`Colorizer.save_to_preset`: see there."""
    from keras_colorize.checkpointing import atomic_write, atomic_write_json

    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"weights_dtype must be one of {WEIGHTS_DTYPES}, got {weights_dtype!r}")
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)

    def write_weights(path: str) -> None:
        if weights_dtype == "float32":
            colorizer.save_weights(path)
            return
        with tempfile.TemporaryDirectory() as scratch:
            full = os.path.join(scratch, WEIGHTS_FILE)
            colorizer.save_weights(full)
            _to_float16(full, path)

    atomic_write(os.path.join(folder, WEIGHTS_FILE), write_weights)
    atomic_write_json(os.path.join(folder, CONFIG_FILE), keras.saving.serialize_keras_object(colorizer))
    atomic_write_json(os.path.join(folder, METADATA_FILE), preset_metadata(colorizer, weights_dtype))
    return folder
