"""Photo files in, PNG files out: the bookkeeping shared by the CLI and the serving client.

Outputs mirror the inputs' folder layout, inputs are never overwritten, and
every skipped file is reported with its reason.
"""

import collections
import os

from keras_colorize.images import list_images

# Words in an UnreadableImageError message -> the kind shown in the summary.
_KINDS = (
    ("too large", "too large"),
    ("not an image", "not an image"),
    ("empty", "empty file"),
    ("cannot read", "unreadable"),
    ("corrupt", "corrupt or truncated"),
    ("Invalid", "corrupt or truncated"),  # TF decoders, e.g. "Invalid JPEG data"
)


def skip_kind(message: str) -> str:
    return next((kind for words, kind in _KINDS if words in message), "failed")


def plan_outputs(inputs: list[str], output: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(input file, output PNG) pairs keeping folder layouts, and the inputs that do not exist.

    Raises ValueError if an output would overwrite an input file.
    """
    pairs, missing, taken = [], [], set()
    for given in inputs:
        try:
            files = list_images(given)
        except FileNotFoundError:
            missing.append(given)
            continue
        for path in files:
            relative = os.path.relpath(path, given) if os.path.isdir(given) else os.path.basename(path)
            stem = os.path.join(output, os.path.splitext(relative)[0])
            target, n = stem + ".png", 1
            while os.path.realpath(target) in taken:  # a.jpg and a.png both -> a.png, a-1.png
                target, n = f"{stem}-{n}.png", n + 1
            taken.add(os.path.realpath(target))
            pairs.append((path, target))
    sources = {os.path.realpath(path) for path, _ in pairs}
    clashes = [target for _, target in pairs if os.path.realpath(target) in sources]
    if clashes:
        raise ValueError(
            f"--output={output} would overwrite {len(clashes)} input file(s), e.g. {clashes[0]}; "
            "choose another output folder"
        )
    return pairs, missing


def print_summary(done: int, total: int, skipped: list[tuple[str, str]], output: str) -> None:
    print(f"Colorized {done} of {total} photo(s) into {output}")
    if skipped:
        kinds = collections.Counter(skip_kind(reason) for _, reason in skipped)
        print(f"Skipped {len(skipped)}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
        for path, reason in skipped:
            print(f"  {path}: {reason}")
