"""Pack photo folders into TFRecord shards for `make_dataset`.

    python -m keras_colorize.data.make_tfrecords --input=photos/train --output=/data/train --num_shards=16

writes /data/train-00000-of-00016.tfrecord ... (read them back with the
pattern "/data/train-*.tfrecord"). Each record is a tf.train.Example with
"image" (the file's own bytes, or a PNG re-encoding when TensorFlow cannot
decode the original, e.g. TIFF), "index" (the photo's position in the sorted
file list, the same index `make_dataset` gives when reading the folders) and
"name" (its path relative to its input folder). Photos are spread over the
shards in a seeded random order, so each shard mixes all folders. Unreadable
files are left out and listed.

Exit status: 0 written, 1 some photos were unreadable (listed), 2 usage
error (one `error:` line, e.g. no photos in --input).
"""

from absl import flags

from keras_colorize import command

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags, defined only when run as a program (importers have their own flags)."""
    flags.DEFINE_multi_string(
        "input", None, "Photo folder or file (repeatable; folders searched recursively)."
    )
    flags.DEFINE_string("output", None, "Output prefix: writes <output>-SSSSS-of-NNNNN.tfrecord.")
    flags.DEFINE_integer("num_shards", 16, "Number of shard files.", lower_bound=1)
    flags.DEFINE_integer("seed", 0, "Seed of the order in which photos are spread over the shards.")


REQUIRED = ("input", "output")


@command.handles_errors
def main(argv: list[str]) -> int:
    """Write --input's photos to --num_shards shards; returns the exit status.

    Args:
        argv: leftover arguments (none are accepted).
    """
    del argv
    from keras_colorize.data.tfrecords import write_tfrecords

    summary = write_tfrecords(FLAGS.input, FLAGS.output, FLAGS.num_shards, FLAGS.seed)
    print(summary.message())
    if not summary.written:
        raise command.UsageError(f"no readable photos in --input={','.join(FLAGS.input)}; check the path")
    return command.EXIT_SOME_FAILED if summary.skipped else command.EXIT_OK


if __name__ == "__main__":
    command.run(main, define_flags, __doc__, REQUIRED)
