"""Photo files in, PNG files out: the bookkeeping shared by the CLI and the serving client.

Outputs mirror the inputs' folder layout, inputs are never overwritten, and
every skipped file is reported with its reason. Every run writes
`<output>/manifest.csv` (input, output, status), so renamed outputs
(`coffee.jpg` and `coffee.png` -> `coffee.png`, `coffee-1.png`) are on record,
and outputs that already exist are skipped unless `--overwrite`, which makes an
interrupted run over a large collection resumable.
"""

import collections
import csv
import io
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


def output_names(relatives: list[str], output: str, join=os.path.join, key=os.path.realpath) -> list[str]:
    """The output PNG of each input, in order: `<output>/<its path relative to what was given, .png>`.

    A second input with the same stem gets `-1`, the next `-2` (a.jpg and a.png become a.png and a-1.png).

    Args:
        relatives: each input's path relative to the folder given (its file name for a file given).
        output: the output folder.
        join: how paths are joined (`os.path.join`, or a Beam filesystem's for URLs).
        key: what makes two outputs the same file (`os.path.realpath` locally).

    Example:

    >>> output_names(["a.jpg", "b/c.jpg", "a.png"], "out")
    ['out/a.png', 'out/b/c.png', 'out/a-1.png']
    """
    targets, taken = [], set()
    for relative in relatives:
        stem = join(output, os.path.splitext(relative)[0])
        target, n = stem + ".png", 1
        while key(target) in taken:
            target, n = f"{stem}-{n}.png", n + 1
        taken.add(key(target))
        targets.append(target)
    return targets


def refuse_output_among_inputs(inputs: list[str], output: str) -> None:
    """ValueError when `output` is an input folder or inside one: its PNGs would be read as inputs next time.

    Args:
        inputs: the --input files and folders.
        output: the --output folder.
    """
    target = os.path.realpath(output)
    for given in inputs:
        folder = os.path.realpath(given)
        if os.path.isdir(folder) and (target == folder or target.startswith(folder + os.sep)):
            where = "is" if target == folder else "is inside"
            raise ValueError(
                f"--output={output} {where} --input={given}: the next run would read its PNGs as photos; "
                "choose an output folder outside the inputs"
            )


def plan_outputs(inputs: list[str], output: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(input file, output PNG) pairs keeping folder layouts, and the inputs that do not exist.

    Raises ValueError if the output folder is an input folder or inside one, or if an output would
    overwrite an input file.
    """
    refuse_output_among_inputs(inputs, output)
    paths, relatives, missing = [], [], []
    for given in inputs:
        try:
            files = list_images(given)
        except FileNotFoundError:
            missing.append(given)
            continue
        for path in files:
            paths.append(path)
            relatives.append(os.path.relpath(path, given) if os.path.isdir(given) else os.path.basename(path))
    pairs = list(zip(paths, output_names(relatives, output), strict=True))
    sources = {os.path.realpath(path) for path, _ in pairs}
    clashes = [target for _, target in pairs if os.path.realpath(target) in sources]
    if clashes:
        raise ValueError(
            f"--output={output} would overwrite {len(clashes)} input file(s), e.g. {clashes[0]}; "
            "choose another output folder"
        )
    return pairs, missing


MANIFEST = "manifest.csv"
ALREADY_DONE = "already done"


def renamed(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The pairs whose output is not named after the input (two inputs with one stem)."""
    return [
        (path, target)
        for path, target in pairs
        if os.path.splitext(os.path.basename(target))[0] != os.path.splitext(os.path.basename(path))[0]
    ]


def split_done(pairs: list[tuple[str, str]], overwrite: bool) -> tuple[list[tuple[str, str]], list[str]]:
    """(pairs still to do, inputs whose output already exists); with `overwrite`, everything is to do.

    Args:
        pairs: (input, output) from `plan_outputs`.
        overwrite: redo outputs that exist.
    """
    if overwrite:
        return list(pairs), []
    todo = [(path, target) for path, target in pairs if not os.path.isfile(target)]
    return todo, [path for path, target in pairs if os.path.isfile(target)]


def write_manifest(output: str, pairs: list[tuple[str, str]], status: dict[str, str]) -> str:
    """Write `<output>/manifest.csv`: input, output and status (colorized, already done, or the reason).

    Written to a temporary name and renamed. Returns the manifest's path.

    Args:
        output: the output folder.
        pairs: (input, output) of every photo of the run.
        status: input -> its status; inputs not in it are "not done".
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["input", "output", "status"])
    for path, target in pairs:
        writer.writerow([path, target, status.get(path, "not done")])
    path = os.path.join(output, MANIFEST)
    os.makedirs(output, exist_ok=True)
    temporary = os.path.join(output, f".tmp-{os.getpid()}-{MANIFEST}")
    with open(temporary, "w", encoding="utf-8", newline="") as file:
        file.write(buffer.getvalue())
    os.replace(temporary, path)
    return path


def print_summary(done: int, skipped: list[tuple[str, str]], output: str, already: int = 0) -> None:
    """The run's last lines: how many were colorized, already done and skipped, then each skip's reason.

    Args:
        done: photos colorized now.
        skipped: (input, reason) of each that failed (or does not exist).
        output: the output folder.
        already: photos whose output existed and were left alone.

    Example:

    >>> print_summary(0, [("a.jpg", "empty file")], "out", already=3)
    0 colorized, 3 already done, 1 skipped; outputs in out
    --overwrite redoes the 3 already done (their outputs exist)
    Skipped 1: 1 empty file
      a.jpg: empty file
    """
    print(f"{done} colorized, {already} already done, {len(skipped)} skipped; outputs in {output}")
    if already:
        print(f"--overwrite redoes the {already} already done (their outputs exist)")
    if skipped:
        kinds = collections.Counter(skip_kind(reason) for _, reason in skipped)
        print(f"Skipped {len(skipped)}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
        for path, reason in skipped:
            print(f"  {path}: {reason}")
