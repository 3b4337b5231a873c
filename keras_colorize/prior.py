"""The empirical distribution of training colours over the 313 ab bins.

    python -m keras_colorize.prior --data_dir=photos/train --output=prior.npy

For each photo: the evaluation crop (short side scaled to image_size, centre
square), the ab values at every 4th pixel exactly as the training targets
see them (`training_pair`), each assigned to its nearest bin and counted.
The counts are smoothed (`rebalance.smooth_prior`) and saved as float64
[313] summing to 1: the prior from which the rebalancing weights come.

Exit status: 0 saved, 2 usage error (one `error:` line, e.g. no readable photos).
"""

from absl import flags

from keras_colorize import command

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags, defined only when run as a program (importers have their own flags)."""
    flags.DEFINE_multi_string("data_dir", None, "Photo folder, photo file or TFRecord pattern (repeatable).")
    flags.DEFINE_string("output", "prior.npy", "Where to save the smoothed prior (.npy, float64 [313]).")
    flags.DEFINE_integer("image_size", 256, "Crop size, as in training.", lower_bound=8)
    flags.DEFINE_integer("batch_size", 32, "Photos per batch.", lower_bound=1)
    flags.DEFINE_integer("max_images", None, "Use about this many photos (every k-th).", lower_bound=1)


REQUIRED = ("data_dir",)


@command.handles_errors
def main(argv: list[str]) -> int:
    """Count, smooth and save the prior of --data_dir; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    from keras_colorize.empirical_prior import count_bins, save_prior, summary
    from keras_colorize.rebalance import smooth_prior

    counted = count_bins(FLAGS.data_dir, FLAGS.image_size, FLAGS.batch_size, FLAGS.max_images)
    if not counted.photos:
        raise command.UsageError(
            f"no readable photos in --data_dir={','.join(FLAGS.data_dir)}; check the path"
        )
    prior = smooth_prior(counted.counts)
    save_prior(FLAGS.output, prior)
    print(summary(counted, prior))
    print(f"Saved {FLAGS.output}")
    return command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
