"""What an epoch delivered: every photo not seen is named with its reason.

The pipeline drops undecodable photos (and, optionally, grayscale ones)
inside tf.data, so the only trace of a skip is an index that never comes
out. At the end of an epoch `finish_epoch` takes the indices the trainer
saw, re-decodes just the missing photos with the pipeline's own functions,
and sorts them into skipped (with the reason) and photos of the final
partial batch that `drop_remainder` left out, which are not skips. Decoding
is deterministic, so once one full epoch has been classified, later epochs
need no re-reading: any missing photo not already known to be bad is a
dropped remainder.
"""

from collections import Counter
from collections.abc import Iterable

from keras_colorize.data.reading import verdict

MAX_NAMED = 20


class EpochReport:
    """Counts and names the photos an epoch skipped.

    Attributes: `num_sources` (photos/records in this shard), `paths` (the
    files, None for TFRecords), `skipped` (name -> reason, over all finished
    epochs), `skip_counts` (name -> epochs it was skipped), `epochs`,
    `last_skipped` (name -> reason, last epoch), `last_dropped` (photos in the
    final partial batch that drop_remainder left out, last epoch) and
    `last_not_delivered` (good photos that never came although the epoch
    should have held them: the epoch was cut short).
    """

    def __init__(self, catalog, batch_size: int, drop_remainder: bool, skip_grayscale: bool):
        self._catalog = catalog
        self._batch_size = batch_size
        self._drop_remainder = drop_remainder
        self._skip_grayscale = skip_grayscale
        self._bad: dict[int, str] = {}
        self._all_bad_known = False
        self.skipped: dict[str, str] = {}
        self.skip_counts: Counter[str] = Counter()
        self.epochs = 0
        self.last_skipped: dict[str, str] = {}
        self.last_dropped = 0
        self.last_not_delivered: list[str] = []

    @property
    def num_sources(self) -> int:
        return len(self._catalog.indices)

    @property
    def paths(self) -> list[str] | None:
        return self._catalog.paths

    def finish_epoch(self, seen_indices: Iterable[int]) -> str | None:
        """Account for one epoch given the indices it delivered; a message if photos were skipped."""
        expected = {int(i) for i in self._catalog.indices}
        seen = {int(i) for i in seen_indices}
        strangers = seen - expected
        if strangers:
            raise ValueError(f"Indices {sorted(strangers)[:10]} do not belong to this dataset (shard).")
        missing = expected - seen
        unknown = sorted(missing - self._bad.keys())
        kept = unknown
        if unknown and not (self._all_bad_known and self._is_remainder(len(unknown))):
            data = self._catalog.read(unknown)
            names = {i: self._catalog.name(i) for i in unknown}
            reasons = {i: verdict(data[i], names[i], self._skip_grayscale) for i in unknown}
            self._bad.update({i: r for i, r in reasons.items() if r is not None})
            kept = [i for i in unknown if reasons[i] is None]

        self.epochs += 1
        if self._is_remainder(len(kept)):
            self.last_dropped, self.last_not_delivered = len(kept), []
            self._all_bad_known = True
        else:
            self.last_dropped, self.last_not_delivered = 0, [self._catalog.name(i) for i in kept]
        self.last_skipped = {self._catalog.name(i): self._bad[i] for i in sorted(missing & self._bad.keys())}
        self.skipped.update(self.last_skipped)
        self.skip_counts.update(self.last_skipped.keys())
        return self._message(len(expected))

    def _is_remainder(self, count: int) -> bool:
        return count == 0 or (self._drop_remainder and count < self._batch_size)

    def _message(self, total: int) -> str | None:
        parts = []
        if self.last_skipped:
            named = [f"{name} ({reason})" for name, reason in list(self.last_skipped.items())[:MAX_NAMED]]
            more = len(self.last_skipped) - MAX_NAMED
            if more > 0:
                named.append(f"and {more} more (see EpochReport.skipped)")
            count = len(self.last_skipped)
            parts.append(f"Skipped {count} of {total} photos this epoch: " + ", ".join(named))
        if self.last_not_delivered:
            parts.append(
                f"{len(self.last_not_delivered)} readable photos were not delivered (epoch stopped early?): "
                + ", ".join(self.last_not_delivered[:MAX_NAMED])
            )
        return ". ".join(parts) or None
