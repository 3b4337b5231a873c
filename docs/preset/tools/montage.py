"""Side-by-side PNGs (input | colorized) -> one sheet, `cols` pairs a row, each `height` px high."""

import glob
import sys

from PIL import Image

folder, out, cols, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tiles = []
for path in sorted(glob.glob(f"{folder}/**/*.png", recursive=True)):
    im = Image.open(path).convert("RGB")
    tiles.append(im.resize((round(im.width * height / im.height), height), Image.LANCZOS))
width = max(t.width for t in tiles)
rows = (len(tiles) + cols - 1) // cols
sheet = Image.new("RGB", (cols * (width + 6), rows * (height + 6)), "white")
for i, t in enumerate(tiles):
    sheet.paste(t, ((i % cols) * (width + 6) + (width - t.width) // 2, (i // cols) * (height + 6)))
sheet.save(out, quality=90) if out.endswith(".jpg") else sheet.save(out, optimize=True)
print(out, sheet.size)
