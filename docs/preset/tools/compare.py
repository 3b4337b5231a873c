"""Presets side by side: one row per photo, columns input (gray) | each preset | ground truth.

    python docs/preset/tools/compare.py OUT.jpg PHOTOS_DIR N PRESET [PRESET ...]

Takes the first N photos of PHOTOS_DIR (sorted, searched recursively), colorizes
each with every preset through `Colorizer.colorize` (the CLI's path, the
presets' own working size and temperature), and writes one sheet, each tile
`HEIGHT` px high with the column names on top. The last column is the photo
as given: its colours where it has them (the ground truth), gray for a real
black-and-white photo.
"""

import glob
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

import keras_colorize as kc
from keras_colorize.colorizer import load_photo

HEIGHT = 180
GAP = 6
EXTENSIONS = (".jpg", ".jpeg", ".png")


def main(out: str, folder: str, count: int, presets: list[str]) -> None:
    paths = sorted(
        path
        for path in glob.glob(os.path.join(folder, "**", "*"), recursive=True)
        if path.lower().endswith(EXTENSIONS)
    )[:count]
    photos = [load_photo(path) for path in paths]
    gray = [np.repeat(np.asarray(Image.fromarray(p).convert("L"))[..., None], 3, axis=-1) for p in photos]
    columns = {"input (gray)": gray}
    for preset in presets:
        columns[preset] = kc.Colorizer.from_preset(preset).colorize(gray)
    columns["photo as given"] = photos
    tiles = {name: [_tile(rgb) for rgb in rgbs] for name, rgbs in columns.items()}
    widths = [max(t.width for t in column) for column in tiles.values()]
    header = 22
    sheet = Image.new("RGB", (sum(widths) + GAP * len(widths), header + len(paths) * (HEIGHT + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for width, (name, column) in zip(widths, tiles.items(), strict=True):
        draw.text((x + 4, 4), name, fill="black")
        for row, tile in enumerate(column):
            sheet.paste(tile, (x + (width - tile.width) // 2, header + row * (HEIGHT + GAP)))
        x += width + GAP
    sheet.save(out, quality=88)
    print(out, sheet.size, f"{len(paths)} photos:", ", ".join(os.path.basename(p) for p in paths))


def _tile(rgb: np.ndarray) -> Image.Image:
    image = Image.fromarray(rgb)
    return image.resize((round(image.width * HEIGHT / image.height), HEIGHT), Image.LANCZOS)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:])
