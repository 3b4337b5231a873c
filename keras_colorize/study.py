"""The paper's ablation in small: train several variants alike, evaluate them in one table.

    python -m keras_colorize.study --flagfile=configs/small_study.cfg

Trains `full` (rebalanced loss), `full_plain` (plain cross-entropy), `l2`
(Euclidean regression), `5block_dilated` and `4block` (both rebalanced) on
the same data, budget and seed (every training flag is forwarded), each in
<study_dir>/<name>/, then evaluates them with the baselines on one held-out
folder and writes one report (<study_dir>/report/ by default). The ab prior
is computed once and shared. Rerunning resumes: finished models (their
training.json exists) are skipped, unfinished ones resume from their
checkpoints.
"""

import dataclasses
import json
import os

from absl import flags, logging

from keras_colorize import command
from keras_colorize.choices import BUNDLED_CLASSIFIER
from keras_colorize.train_config import TrainConfig, validate
from keras_colorize.train_flags import config_from_flags
from keras_colorize.train_flags import define_flags as define_training_flags

# name -> (network variant, loss)
MODELS = {
    "full": ("full", "rebalanced"),
    "full_plain": ("full", "plain"),
    "l2": ("l2", "l2"),
    "5block_dilated": ("5block_dilated", "rebalanced"),
    "4block": ("4block", "rebalanced"),
}

FLAGS = flags.FLAGS


def define_flags() -> None:
    define_training_flags(FLAGS)
    flags.DEFINE_string("study_dir", None, "One folder per model, plus the shared prior and the report.")
    flags.DEFINE_string("test_data", None, "Held-out colour photos for the metrics.")
    flags.DEFINE_string(
        "semantic_data", None, "Labelled photos (labels.csv) for the classifier columns; default --test_data."
    )
    flags.DEFINE_string(
        "classifier",
        BUNDLED_CLASSIFIER,
        f"'{BUNDLED_CLASSIFIER}' (bundled, offline), 'vgg16', 'resnet50', 'efficientnet_lite0' (the eval "
        "extra), a .tflite or a .keras ImageNet classifier.",
    )
    flags.DEFINE_string("classifier_labels", None, "Class names for the classifier (optional).")
    flags.DEFINE_list("models", list(MODELS), f"Models to train and compare, among {', '.join(MODELS)}.")
    flags.DEFINE_float("temperature", None, "Annealed-mean temperature (default: each model's).")
    flags.DEFINE_integer("max_test_images", None, "Evaluate on the first N test photos only.")
    flags.DEFINE_string("report_dir", None, "Where the report goes (default <study_dir>/report).")


def shared_prior(config: TrainConfig, study_dir: str) -> str:
    """The training prior every model uses: --prior, or computed once into study_dir."""
    if config.prior:
        return config.prior
    from keras_colorize.empirical_prior import cached_prior

    path = os.path.join(study_dir, "prior.npy")
    cached_prior(path, config.train_data, config.image_size, config.batch_size, config.prior_max_images)
    return path


def train_models(config: TrainConfig, study_dir: str, names: list[str]) -> dict[str, dict]:
    """Train (or resume, or skip when finished) each model; returns training.json per model."""
    from keras_colorize.trainer import run_training

    prior = shared_prior(config, study_dir)
    done = {}
    for name in names:
        variant, loss = MODELS[name]
        model_dir = os.path.join(study_dir, name)
        summary_path = os.path.join(model_dir, "training.json")
        if os.path.isfile(summary_path):
            logging.info("%s: finished earlier, skipping its training", name)
        else:
            print(f"== Training {name} ({variant}, {loss} loss) in {model_dir}", flush=True)
            model_config = dataclasses.replace(
                config, model_dir=model_dir, variant=variant, loss=loss, prior=prior
            )
            run_training(model_config)
        with open(summary_path, encoding="utf-8") as file:
            done[name] = json.load(file)
    return done


def training_columns(summary: dict) -> dict:
    return {
        "Variant": summary.get("variant"),
        "Loss": summary.get("loss"),
        "Steps": summary.get("steps"),
        "Epochs": summary.get("epochs"),
        "Wall s": round(float(summary.get("wall_time_s") or 0.0)),
        "Train loss": summary.get("train_loss"),
        "Val loss": summary.get("val_loss"),
    }


def run_study(
    config: TrainConfig,
    study_dir: str,
    test_data: str,
    semantic_data: str | None = None,
    classifier: str | None = BUNDLED_CLASSIFIER,
    classifier_labels: str | None = None,
    names: list[str] | None = None,
    temperature: float | None = None,
    max_test_images: int | None = None,
    report_dir: str | None = None,
) -> dict:
    """Train every model, then write the combined report; returns the test metrics.

    Every row's rebalanced AuC uses the package's reference prior (as `evaluate` does), so the study's
    numbers sit on the same scale as any other report; the models train with the shared training prior.
    Photos that cannot be used are skipped and counted in both reports.
    """
    from keras_colorize.evaluation import classifier_note, evaluate, find_labels, load_classifier, load_entry

    names = list(names or MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"Unknown models {unknown}; choose among {list(MODELS)}.")
    summaries = train_models(config, study_dir, names)
    report_dir = report_dir or os.path.join(study_dir, "report")
    entries = [load_entry(os.path.join(study_dir, n), name=n) for n in names]  # train wrote presets there
    extra = {n: training_columns(summaries[n]) for n in names}
    semantic_data = semantic_data or test_data
    labels = find_labels(semantic_data, None)
    model, class_names = load_classifier(classifier if labels else None, classifier_labels)
    status = classifier_note(classifier, labels, semantic_data, None)
    if semantic_data != test_data and labels:
        semantic = evaluate(
            entries,
            semantic_data,
            os.path.join(report_dir, "semantic"),
            None,
            labels,
            model,
            class_names,
            temperature,
            title="Study: semantic interpretability",
        )
        for row, summary in semantic["summary"].items():
            extra.setdefault(row, {}).update(
                {"Sem. top-1 %": summary["top1"], "Sem. top-5 %": summary["top5"]}
            )
        labels, model = {}, None
        status = f"run on the labelled photos of {semantic_data} (the Sem. columns; report in semantic/)"
    total_wall = sum(float(s.get("wall_time_s") or 0.0) for s in summaries.values())
    notes = (
        f"Models trained on {', '.join(config.train_data)} "
        f"(validation: {', '.join(config.val_data) or 'none'}) "
        f"with the same budget and seed: image size {config.image_size}, width {config.width}, batch "
        f"{config.batch_size}, max steps {config.max_steps}, epochs {config.epochs}, learning rate "
        f"{config.learning_rate}, seed {config.seed}. Total training wall time {total_wall / 60:.1f} min. "
        "Val loss: each model's own objective on the validation crops at the end of training; "
        "Own loss: the same objective on the test photos (comparable only between models of the same loss)."
    )
    return evaluate(
        entries,
        test_data,
        report_dir,
        None,
        labels,
        model,
        class_names,
        temperature,
        max_test_images,
        title="Study: variants of Colorful Image Colorization",
        extra=extra,
        notes=notes,
        classifier_status=status,
    )


REQUIRED = ("study_dir", "test_data")


@command.handles_errors
def main(argv: list[str]) -> int:
    """Train, evaluate and report as the flags say; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    for name in ("test_data", "semantic_data"):
        path = getattr(FLAGS, name)
        if path and not os.path.isdir(path):
            raise command.UsageError(f"--{name}: {path} is not a folder")
    config = config_from_flags(FLAGS)
    validate(dataclasses.replace(config, model_dir=FLAGS.study_dir))
    results = run_study(
        config,
        FLAGS.study_dir,
        FLAGS.test_data,
        FLAGS.semantic_data,
        FLAGS.classifier,
        FLAGS.classifier_labels,
        FLAGS.models,
        FLAGS.temperature,
        FLAGS.max_test_images,
        FLAGS.report_dir,
    )
    report_dir = FLAGS.report_dir or os.path.join(FLAGS.study_dir, "report")
    print(f"Study report ({results['num_photos']} test photos): {os.path.join(report_dir, 'report.md')}")
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
