"""The human test's images: each photo, its colorization by each method and a random-colour decoy.

A method is a model (a preset name, a preset folder or a .keras file), whose
colorizations come from `Colorizer.colorize` on the whole photo, or a folder
of colorizations already made, named as `keras-colorize colorize
--input=PHOTOS --output=FOLDER` names them (`photo_files.plan_outputs`).
Every image is then cut the same way: the central square at the test's size
(`evaluation.center_square`, the evaluation crop). The sanity decoy keeps the
photo's lightness and paints it with a few random saturated colours, blended
smoothly (`ColorizerPostprocessor`, as a colorization is finished).

Photos that cannot be read, or that a method cannot colorize or lacks, are
skipped with their reason (`skipping.Skips`) and left out for every method,
so that each method is judged on the same photos. Image files get random
names, so a participant cannot tell the real photo from its URL.
"""

import os
import secrets

import numpy as np

from keras_colorize.fooling import SANITY
from keras_colorize.images import list_images

IMAGES = "images"
IMAGE_NAME = r"[0-9a-f]{16}\.png"
DECOY_COLOURS = 3  # the decoy's random colours: a 3 x 3 grid, blended bilinearly
DECOY_CHROMA = (40.0, 75.0)  # their saturation in Lab (ab distance from gray)


def is_colorized_folder(method: str) -> bool:
    """A folder of colorizations, not a preset folder (config.json) or a SavedModel (saved_model.pb).

    Args:
        method: a --models entry.
    """
    return os.path.isdir(method) and not any(
        os.path.isfile(os.path.join(method, name)) for name in ("config.json", "saved_model.pb")
    )


def method_name(method: str) -> str:
    """The name of a --models entry in the results: its folder or file name, or the preset's name.

    Args:
        method: a --models entry.

    Example:
    >>> method_name("runs/full/"), method_name("models/tiny.keras"), method_name("full_w05_cpu2h")
    ('full', 'tiny', 'full_w05_cpu2h')
    """
    return os.path.basename(os.path.normpath(method)).removesuffix(".keras")


def random_colours(rgb: np.ndarray, seed: int) -> np.ndarray:
    """The photo's lightness painted with random saturated colours: an obviously wrong colorization.

    Args:
        rgb: uint8 [H, W, 3].
        seed: the colours' seed.

    Example:
    >>> rgb = np.full((8, 8, 3), 128, np.uint8)
    >>> decoy = random_colours(rgb, seed=0)
    >>> decoy.shape, bool(np.abs(decoy.astype(int) - rgb).max() > 20)
    ((8, 8, 3), True)
    """
    from keras import ops

    from keras_colorize.layers import ColorizerPostprocessor, ColorizerPreprocessor

    rng = np.random.default_rng(seed)
    hue = rng.uniform(0.0, 2.0 * np.pi, (1, DECOY_COLOURS, DECOY_COLOURS))
    chroma = rng.uniform(*DECOY_CHROMA, hue.shape)
    ab = np.stack([chroma * np.cos(hue), chroma * np.sin(hue)], axis=-1).astype(np.float32)
    lightness = ColorizerPreprocessor().lightness(rgb[None])
    return ops.convert_to_numpy(ColorizerPostprocessor()(lightness, ab))[0]


def _write(folder: str, rgb: np.ndarray) -> str:
    """Write `rgb` as a PNG with a random name in `folder`; returns the name."""
    from PIL import Image

    from keras_colorize.checkpointing import atomic_write

    name = f"{secrets.token_hex(8)}.png"
    atomic_write(
        os.path.join(folder, name), lambda temporary: Image.fromarray(rgb).save(temporary, format="PNG")
    )
    return name


def photo_files(photos_folder: str) -> list[str]:
    """The photos of the test's --photos folder (recursive, sorted); a ValueError naming the flag if none.

    Args:
        photos_folder: the --photos flag.

    Example:
    >>> photo_files("/nonexistent")
    Traceback (most recent call last):
    ...
    ValueError: --photos=/nonexistent is not a folder; give a folder of colour photos
    """
    if not os.path.isdir(photos_folder):
        raise ValueError(f"--photos={photos_folder} is not a folder; give a folder of colour photos")
    files = list_images(photos_folder)
    if not files:
        raise ValueError(f"--photos={photos_folder} holds no photos; give a folder of colour photos")
    return files


def check_method_names(methods: list[str], photos_folder: str) -> list[str]:
    """The results' names of --models entries; a ValueError if two share one or a folder is --photos.

    Args:
        methods: the --models entries.
        photos_folder: the --photos flag.

    Example:
    >>> check_method_names(["runs/full", "colorized/"], "photos")
    ['full', 'colorized']
    """
    names = [method_name(method) for method in methods]
    if len(set(names)) < len(names) or SANITY in names:
        raise ValueError(f"--models names {names} must differ; rename a folder or a file")
    for method in methods:
        if is_colorized_folder(method) and os.path.realpath(method) == os.path.realpath(photos_folder):
            raise ValueError(f"--models={method} is the --photos folder; give a folder of colorizations")
    return names


def _colorizations(source, photos_folder: str, files: list[str], skips):
    """(photo file, uint8 colorization at the photo's size) of each photo that `source` colorizes."""
    if isinstance(source, str):  # a folder of colorizations
        from keras_colorize.photo_files import plan_outputs

        made = dict(plan_outputs([photos_folder], source)[0])
        for path in files:
            target = made[path]
            if not os.path.isfile(target):
                skips.add(path, FileNotFoundError(f"no colorization {target} in --models={source}"))
                continue
            for _, _, colorized in skips.readable([target]):
                yield path, colorized
        return
    from keras_colorize.skipping import SKIPPABLE

    for _, path, rgb in skips.readable(files):
        try:
            yield path, source.colorize(rgb)
        except SKIPPABLE as error:  # one photo the model refuses (or runs out of memory on) is skipped
            skips.add(path, error)


def prepare(photos_folder: str, methods: dict, folder: str, size: int, seed: int = 0):
    """Cut every photo and its images for the test into `<folder>/images`; returns (photos, skips).

    Args:
        photos_folder: the real photos (searched recursively).
        methods: method name -> a `kc.Colorizer`, or the path of a folder of its colorizations.
        folder: the test's folder.
        size: the side of the square images.
        seed: the decoys' colours.

    Returns:
        photos: photo name (its path under `photos_folder`) -> {"real": file, "sanity": file,
            "fakes": {method name: file}}, for the photos every method colorized.
        skips: a `skipping.Skips` of the photos left out, with their reasons.
    """
    files = photo_files(photos_folder)
    from keras_colorize.evaluation import center_square  # TensorFlow: after the checks
    from keras_colorize.skipping import Skips

    images = os.path.join(folder, IMAGES)
    os.makedirs(images, exist_ok=True)
    skips, made, shapes = Skips(), {}, {}
    for index, path, rgb in skips.readable(files):
        real = center_square(rgb, size)
        sanity = random_colours(real, seed + index)
        made[path] = {"real": _write(images, real), "sanity": _write(images, sanity), "fakes": {}}
        shapes[path] = rgb.shape[:2]
    for done, (name, source) in enumerate(methods.items()):
        kept = [path for path in files if len(made.get(path, {}).get("fakes", ())) == done]
        how = f"reading {source}" if isinstance(source, str) else "colorizing"
        print(f"{name}: {how}, {len(kept)} photo(s)", flush=True)
        for path, colorized in _colorizations(source, photos_folder, kept, skips):
            if colorized.shape[:2] != shapes[path]:
                height, width = shapes[path]
                got = f"{colorized.shape[1]}x{colorized.shape[0]}"
                skips.add(path, ValueError(f"its colorization by {name} is {got}, not {width}x{height}"))
                continue
            made[path]["fakes"][name] = _write(images, center_square(colorized, size))
    photos = {}
    for path, files_of in made.items():
        if len(files_of["fakes"]) == len(methods):
            photos[os.path.relpath(path, photos_folder)] = files_of
        else:
            for file in [files_of["real"], files_of["sanity"], *files_of["fakes"].values()]:
                os.remove(os.path.join(images, file))
    return photos, skips
