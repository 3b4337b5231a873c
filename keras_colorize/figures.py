"""Report figures drawn with Pillow: cumulative-error curves and captioned image grids.

Pillow is already a dependency, so the reports need no plotting library.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = (
    (0, 0, 0),
    (150, 150, 150),
    (200, 160, 0),
    (214, 39, 40),
    (31, 119, 180),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (23, 190, 207),
    (140, 86, 75),
)
BACKGROUND = (255, 255, 255)


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def curves_figure(
    panels: dict[str, dict[str, np.ndarray]], x: np.ndarray, x_label: str, y_label: str, path: str
) -> None:
    """Side-by-side line charts, one per panel title, one line per series.

    `panels` maps a panel title to {series name: y values in [0, 1]}.
    """
    width, height, margin = 460, 370, (62, 34, 34, 52)  # left, top, right, bottom
    legend_rows = max(len(series) for series in panels.values())
    legend_height = 18 * legend_rows + 12
    canvas = Image.new("RGB", (width * len(panels), height + legend_height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font, small = _font(14), _font(12)
    left, top, right, bottom = margin
    x0, x1 = float(x[0]), float(x[-1])
    for p, (title, series) in enumerate(panels.items()):
        ox = p * width
        plot = (ox + left, top, ox + width - right, height - bottom)

        def to_px(xs, ys, plot=plot):
            px = plot[0] + (np.asarray(xs) - x0) / (x1 - x0) * (plot[2] - plot[0])
            py = plot[3] - np.clip(np.asarray(ys), 0, 1) * (plot[3] - plot[1])
            return list(zip(px.tolist(), py.tolist(), strict=True))

        draw.text((ox + width // 2, 4), title, fill=(0, 0, 0), font=font, anchor="ma")
        for tick in np.linspace(0, 1, 6):
            ((_, py),) = to_px([x0], [tick])
            draw.line([(plot[0], py), (plot[2], py)], fill=(230, 230, 230))
            draw.text((plot[0] - 6, py), f"{tick * 100:.0f}%", fill=(0, 0, 0), font=small, anchor="rm")
        for tick in np.linspace(x0, x1, 6):
            ((px, _),) = to_px([tick], [0])
            draw.line([(px, plot[3]), (px, plot[3] + 4)], fill=(0, 0, 0))
            draw.text((px, plot[3] + 6), f"{tick:g}", fill=(0, 0, 0), font=small, anchor="ma")
        draw.rectangle(plot, outline=(0, 0, 0))
        draw.text(((plot[0] + plot[2]) / 2, height - 22), x_label, fill=(0, 0, 0), font=small, anchor="ma")
        draw.text((ox + 4, plot[1] - 18), y_label, fill=(0, 0, 0), font=small)
        for i, (name, ys) in enumerate(series.items()):
            colour = PALETTE[i % len(PALETTE)]
            draw.line(to_px(x, ys), fill=colour, width=2)
            ly = height + 6 + 18 * i
            draw.line([(ox + left, ly + 7), (ox + left + 24, ly + 7)], fill=colour, width=3)
            draw.text((ox + left + 32, ly), name, fill=(0, 0, 0), font=small)
    canvas.save(path, optimize=True)


def shorten(text: str, width: int = 20) -> str:
    """Cut a caption to `width` characters, marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def thumbnail(rgb: np.ndarray, size: int) -> Image.Image:
    """uint8 RGB -> a Pillow image fitting in size x size."""
    image = Image.fromarray(np.asarray(rgb, np.uint8))
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return image


def image_grid(
    rows: list[list[tuple[np.ndarray, str]]],
    column_titles: list[str],
    path: str,
    cell: int = 160,
    caption_lines: int = 1,
) -> None:
    """A grid of (image, caption) cells with column titles, saved as PNG.

    Captions may hold several lines ("\\n"); `caption_lines` reserves room.
    """
    small = _font(12)
    title_height, caption_height, pad = 20, 15 * caption_lines + 4, 6
    columns = max(len(row) for row in rows)
    cell_width, cell_height = cell + pad, cell + caption_height + pad
    canvas = Image.new(
        "RGB", (columns * cell_width + pad, title_height + len(rows) * cell_height + pad), BACKGROUND
    )
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(column_titles):
        draw.text((pad + c * cell_width + cell // 2, 3), title, fill=(0, 0, 0), font=_font(13), anchor="ma")
    for r, row in enumerate(rows):
        for c, (rgb, caption) in enumerate(row):
            image = thumbnail(rgb, cell)
            x = pad + c * cell_width + (cell - image.width) // 2
            y = title_height + r * cell_height + (cell - image.height) // 2
            canvas.paste(image, (x, y))
            draw.multiline_text(
                (pad + c * cell_width, title_height + r * cell_height + cell + 2),
                caption,
                fill=(0, 0, 0),
                font=small,
                spacing=2,
            )
    canvas.save(path, optimize=True)
