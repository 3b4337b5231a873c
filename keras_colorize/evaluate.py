"""Evaluate colorizers with the paper's metrics (Table 1), with baselines.

    python -m keras_colorize.evaluate --model=runs/full --data_dir=photos/ --output=eval/ \\
        --classifier=classifier/mobilenet_v2_1.0_224_quant.tflite

--model is a preset name, a preset folder or a .keras file; its prior and
loss travel inside it (--prior replaces the prior, e.g. for a converted
model, which has none). Writes metrics.json (per photo and aggregated),
report.md and PNG figures to --output; `keras_colorize.evaluation` does the
work.
"""

import os
import sys

from absl import app, flags

from keras_colorize.evaluation import evaluate, find_labels, load_classifier, load_entry

FLAGS = flags.FLAGS


def define_flags() -> None:
    """CLI flags (defined on demand, so importing this module defines none)."""
    flags.DEFINE_string("model", None, "A preset name, a preset folder or a .keras file.")
    flags.DEFINE_string("data_dir", None, "Colour photos to evaluate on (searched recursively).")
    flags.DEFINE_string("output", None, "Report folder (metrics.json, report.md, figures).")
    flags.DEFINE_string("prior", None, "Prior over the 313 bins, .npy (default: the model's own).")
    flags.DEFINE_string(
        "labels", None, "labels.csv (file,wnid,class_index,name); default <data_dir>/labels.csv."
    )
    flags.DEFINE_string(
        "classifier",
        "resnet50",
        "'resnet50' (Keras, ImageNet weights), a .tflite or a .keras "
        "classifier; empty to skip the semantic test.",
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


def main(argv):
    del argv
    for name in ("model", "data_dir", "output"):
        if not getattr(FLAGS, name):
            sys.exit(f"--{name} is required")
    if not os.path.isdir(FLAGS.data_dir):
        sys.exit(f"--data_dir: {FLAGS.data_dir} is not a folder")
    if FLAGS.temperature is not None and FLAGS.temperature <= 0:
        sys.exit(f"--temperature must be > 0, got {FLAGS.temperature}")
    try:
        entry = load_entry(FLAGS.model, FLAGS.name, FLAGS.prior, FLAGS.work_size)
        labels = find_labels(FLAGS.data_dir, FLAGS.labels)
        classifier, names = load_classifier(FLAGS.classifier if labels else None, FLAGS.classifier_labels)
        results = evaluate(
            [entry],
            FLAGS.data_dir,
            FLAGS.output,
            entry.prior,
            labels,
            classifier,
            names,
            FLAGS.temperature,
            FLAGS.max_images,
            title=f"Evaluation of {entry.name}",
        )
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"Error: {error}")
    print(
        f"{results['num_photos']} photos evaluated, {results['num_unreadable']} unreadable; "
        f"report in {os.path.join(FLAGS.output, 'report.md')}"
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
