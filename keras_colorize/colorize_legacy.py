"""Colorize legacy grayscale photos into galleries (no ground truth, so no metrics).

    python -m keras_colorize.colorize_legacy [--model=runs/full] --data_dir=legacy/ --output=legacy_out/

--model is a preset name, a preset folder or a .keras file (default: the
bundled default preset).

Writes gallery_001.png, ... (grayscale input beside its colorization) and
index.md listing the photos of each gallery and every skipped file with its
reason (unreadable, truncated, over the megapixel limit, refused): a bad photo
never stops the run.
"""

import os
import sys

from absl import flags

from keras_colorize import command

FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string(
        "model",
        None,
        "A preset name, a preset folder or a .keras file (default: the bundled default preset).",
    )
    flags.DEFINE_string("data_dir", None, "Grayscale (or colour) photos, searched recursively.")
    flags.DEFINE_string("output", None, "Folder for the gallery PNGs and index.md.")
    flags.DEFINE_float("temperature", None, "Annealed-mean temperature (default: the model's).")
    flags.DEFINE_integer("work_size", None, "Working size (default: the model's).")
    flags.DEFINE_integer("per_gallery", 8, "Photos per gallery PNG.")
    flags.DEFINE_integer("cell", 240, "Thumbnail size in the galleries (px).")
    flags.DEFINE_integer("max_images", None, "Colorize only the first N photos.")


def colorize_folder(
    model: str | None,
    data_dir: str,
    output: str,
    temperature: float | None = None,
    work_size: int | None = None,
    per_gallery: int = 8,
    cell: int = 240,
    max_images: int | None = None,
) -> dict:
    """Colorize every photo under `data_dir` into galleries.

    Args:
        model: a preset name, a preset folder or a .keras file (None: the bundled default preset).
        data_dir: photos, searched recursively.
        output: folder for the galleries and index.md.
        temperature: None (the model's) or > 0.
        work_size: None (the model's) or a working size.
        per_gallery: photos per gallery PNG.
        cell: thumbnail size (px).
        max_images: only the first N photos.

    Returns:
        {"galleries": file names, "photos": count colorized, "unreadable": the
        skipped files' reasons, "num_skipped", "skipped_by_kind", "skipped":
        [{file, kind, reason}]}.
    """
    import keras

    from keras_colorize.figures import image_grid, shorten
    from keras_colorize.images import list_images
    from keras_colorize.skipping import SKIPPABLE, Skips

    colorizer = command.load_model(model, **({"work_size": work_size} if work_size else {}))
    temperature = temperature or colorizer.temperature
    files = list_images(data_dir)[:max_images]
    if not files:
        raise ValueError(f"No photos found under {data_dir}")
    os.makedirs(output, exist_ok=True)
    galleries, skips, page = [], Skips(), []

    def flush():
        name = f"gallery_{len(galleries) + 1:03d}.png"
        rows = [[(rgb, shorten(os.path.basename(path), cell // 7)), (out, "")] for path, rgb, out in page]
        image_grid(rows, ["Input", "Colorized"], os.path.join(output, name), cell=cell)
        galleries.append((name, [os.path.relpath(path, data_dir) for path, _, _ in page]))
        page.clear()

    bar = keras.utils.Progbar(len(files), verbose=1 if sys.stdout.isatty() else 0, unit_name="photo")
    for index, path, rgb in skips.readable(files):
        try:
            page.append((path, rgb, colorizer.colorize(rgb, temperature)))
        except SKIPPABLE as error:
            skips.add(path, error)
            continue
        if len(page) == per_gallery:
            flush()
        bar.update(index + 1)
    bar.update(len(files))
    if page:
        flush()
    lines = [
        "# Colorized legacy photos",
        "",
        f"Model `{command.model_name(model)}`, temperature {temperature}, "
        f"working size {colorizer.work_size}. "
        f"{sum(len(p) for _, p in galleries)} photos colorized from `{data_dir}`, "
        f"{skips.summary()}.",
        "",
    ]
    for name, paths in galleries:
        lines += [f"## {name}", "", ", ".join(f"`{p}`" for p in paths), "", f"![{name}]({name})", ""]
    if skips.entries:
        lines += ["## Skipped files", "", *(f"- {message}" for message in skips.messages), ""]
    with open(os.path.join(output, "index.md"), "w", encoding="utf-8") as file:
        file.write("\n".join(lines))
    return {
        "galleries": [name for name, _ in galleries],
        "photos": sum(len(p) for _, p in galleries),
        "unreadable": skips.messages,
        **skips.to_json(),
    }


REQUIRED = ("data_dir", "output")


@command.handles_errors
def main(argv: list[str]) -> int:
    """Colorize --data_dir into galleries in --output; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    command.check_temperature_flag(FLAGS.temperature)
    if FLAGS.per_gallery < 1:
        raise command.UsageError(f"--per_gallery must be >= 1, got {FLAGS.per_gallery}")
    result = colorize_folder(
        FLAGS.model,
        FLAGS.data_dir,
        FLAGS.output,
        FLAGS.temperature,
        FLAGS.work_size,
        FLAGS.per_gallery,
        FLAGS.cell,
        FLAGS.max_images,
    )
    galleries = len(result["galleries"])
    print(
        f"{command.count(result['photos'], 'photo')} in {command.count(galleries, 'gallery', 'galleries')}, "
        f"{result['num_skipped']} skipped; see {os.path.join(FLAGS.output, 'index.md')}"
    )
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
