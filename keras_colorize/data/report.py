"""What an epoch delivered: every photo not seen is named with its reason.

The pipeline drops undecodable photos (and, optionally, grayscale ones)
inside tf.data, so the only trace of a skip is an index that never comes
out. The pipeline keeps its visiting order (deterministic maps), and that
order is known from the seed, so at the end of an epoch `finish_epoch` can
tell, from the indices the trainer saw:

- a photo missing *before* the last one delivered was skipped: it is
  re-decoded with the pipeline's own functions to find why;
- the photos after the last one delivered are the partial batch that
  `drop_remainder` left out (fewer good photos than a batch, not skips),
  mixed with skipped ones, unless a full batch of good photos follows, in
  which case the epoch was cut short (e.g. a step limit) and they were not
  reached.

An unordered epoch (tf.data service workers deliver photos in the order
they finish) has no positions to go by. Every photo it did not deliver is
re-decoded: the unreadable (or grayscale) ones are skips, and fewer good
ones than a batch are the partial batch `drop_remainder` left out; more are
photos that should have come. So an unordered report is only meaningful for
a complete epoch.

Decoding is deterministic, so each photo's verdict is cached and read at
most once per report.
"""

from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

from keras_colorize.data.reading import verdict

MAX_NAMED = 20


class EpochReport:
    """Counts and names the photos an epoch skipped.

    Attributes: `num_sources` (photos/records in this shard), `paths` (the
    files, None for TFRecords), `skipped` (name -> reason, over all finished
    epochs), `skip_counts` (name -> epochs it was skipped), `epochs`, and for
    the last epoch: `last_skipped` (name -> reason), `last_dropped` (good
    photos of the final partial batch left out by drop_remainder),
    `last_not_reached` (photos after the point where the epoch was cut) and
    `last_not_delivered` (good photos that should have come but did not: the
    indices given to `finish_epoch` were incomplete).

    Args:
        catalog: the photos (`sources.FileCatalog` or `sources.RecordCatalog`).
        order: returns the global indices in the order an epoch visits them.
        batch_size: photos per batch.
        drop_remainder: whether the last partial batch is dropped.
        skip_grayscale: whether the pipeline drops grayscale photos.
        ordered: whether the epoch keeps `order` (False for tf.data service).

    Example:

    >>> from keras_colorize.data import make_dataset
    >>> dataset, report = make_dataset("tests/fixtures/photos", 32, 5, training=True)
    >>> seen = [i for batch in dataset for i in batch["index"].numpy()]
    >>> report.finish_epoch(seen), report.last_dropped
    (None, 2)
    """

    def __init__(
        self,
        catalog,
        order: Callable[[], np.ndarray],
        batch_size: int,
        drop_remainder: bool,
        skip_grayscale: bool,
        ordered: bool = True,
    ):
        self._catalog = catalog
        self._order = order
        self._visiting_order: np.ndarray | None = None
        self._batch_size = batch_size
        self._drop_remainder = drop_remainder
        self._skip_grayscale = skip_grayscale
        self._ordered = ordered
        self._verdicts: dict[int, str | None] = {}  # index -> reason it is dropped, None if kept
        self.skipped: dict[str, str] = {}
        self.skip_counts: Counter[str] = Counter()
        self.epochs = 0
        self.last_skipped: dict[str, str] = {}
        self.last_dropped = 0
        self.last_not_reached = 0
        self.last_not_delivered: list[str] = []

    @property
    def num_sources(self) -> int:
        return len(self._catalog.indices)

    @property
    def paths(self) -> list[str] | None:
        return self._catalog.paths

    def finish_epoch(self, seen_indices: Iterable[int]) -> str | None:
        """Account for one epoch given the indices it delivered; a message if photos were skipped."""
        if self._visiting_order is None:
            self._visiting_order = np.asarray(self._order(), dtype=np.int64)
        order = self._visiting_order
        seen = np.unique(np.fromiter((int(i) for i in seen_indices), dtype=np.int64))
        delivered = np.isin(order, seen)
        strangers = np.setdiff1d(seen, order)
        if strangers.size:
            raise ValueError(f"Indices {strangers[:10].tolist()} do not belong to this dataset (shard).")
        if self._ordered:
            skipped, not_delivered = self._account_in_order(order, delivered)
        else:
            skipped, not_delivered = self._account_unordered(order[~delivered])

        self.epochs += 1
        self.last_not_delivered = [self._catalog.name(i) for i in not_delivered]
        self.last_skipped = {self._catalog.name(i): self._verdicts[i] for i in sorted(skipped)}
        self.skipped.update(self.last_skipped)
        self.skip_counts.update(self.last_skipped.keys())
        return self._message(len(order))

    def _account_in_order(self, order: np.ndarray, delivered: np.ndarray) -> tuple[list, list]:
        """(skipped, not delivered) of an epoch that kept `order`; sets last_dropped / last_not_reached."""
        last = int(np.flatnonzero(delivered)[-1]) if delivered.any() else -1
        head = order[: last + 1][~delivered[: last + 1]]
        self._classify(head)
        skipped = [i for i in head if self._verdicts[i] is not None]
        not_delivered = [i for i in head if self._verdicts[i] is None]

        # After the last delivered photo: skips, then fewer good photos than a batch, unless cut short.
        tail, good, tail_skipped = order[last + 1 :], 0, []
        limit = self._batch_size if self._drop_remainder else 1
        for start in range(0, len(tail), 4 * self._batch_size):
            chunk = tail[start : start + 4 * self._batch_size]
            self._classify(chunk)
            for index in chunk:
                if self._verdicts[index] is not None:
                    tail_skipped.append(index)
                elif (good := good + 1) == limit:
                    break
            if good == limit:
                break
        cut = good == limit
        self.last_dropped = 0 if cut else good
        self.last_not_reached = len(tail) if cut else 0
        if not cut:
            skipped += tail_skipped
        return skipped, not_delivered

    def _account_unordered(self, unseen: np.ndarray) -> tuple[list, list]:
        """(skipped, not delivered) of a complete epoch in an unknown order, from the photos not seen."""
        self._classify(unseen)
        skipped = [i for i in unseen if self._verdicts[i] is not None]
        good = [i for i in unseen if self._verdicts[i] is None]
        limit = self._batch_size if self._drop_remainder else 1
        self.last_not_reached = 0
        self.last_dropped = len(good) if len(good) < limit else 0
        return skipped, ([] if len(good) < limit else good)

    def _classify(self, indices: Iterable[int]) -> None:
        """Cache the verdict of photos not yet judged (reads them once)."""
        unknown = [int(i) for i in indices if int(i) not in self._verdicts]
        if not unknown:
            return
        data = self._catalog.read(unknown)
        for index in unknown:
            self._verdicts[index] = verdict(data[index], self._catalog.name(index), self._skip_grayscale)

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
                f"{len(self.last_not_delivered)} readable photos were not among the indices given "
                "to finish_epoch: " + ", ".join(self.last_not_delivered[:MAX_NAMED])
            )
        return ". ".join(parts) or None
