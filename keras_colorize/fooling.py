"""The numbers of the real-vs-fake human test: fooling rates, bootstrap errors and sanity checks.

In each trial a participant sees a real photo and a colorization of it side
by side and picks the one they think is real. A colorization *fools* them
when they pick it. A method's fooling rate is the share of its test trials
in which it was picked; a perfect colorization, indistinguishable from the
photo, would be picked half of the time: 50% is the chance level (the
ground-truth row), not 100%.

The bootstrap resamples participants (each with all of their answers), as
answers of one person are not independent. Sanity trials pair the photo with
random colours; a participant who picks the random colours in more than the
allowed share of them has *failed the sanity checks* and can be left out.

Pure Python and NumPy: the web application and the command read their
answers from `keras_colorize.humantest_store` and compute everything here.
"""

import collections
import csv
import dataclasses
import io
import math
from collections.abc import Iterable

import numpy as np

BOOTSTRAP_SAMPLES = 1000
GROUND_TRUTH = "Ground truth (chance)"
SANITY = "random colours (sanity)"


@dataclasses.dataclass(frozen=True)
class Answer:
    """One answered test trial.

    Args:
        participant: the participant's anonymous id.
        method: the colorization's method (`SANITY` for a sanity trial).
        photo: the photo's name.
        fooled: the colorization was picked as the real photo.
        response_ms: time from the photos' onset to the click.
    """

    participant: str
    method: str
    photo: str
    fooled: bool
    response_ms: float = 0.0


@dataclasses.dataclass(frozen=True)
class Rate:
    """A method's fooling rate over a group of participants.

    Args:
        method: the method.
        fooled: trials in which the colorization was picked.
        trials: answered test trials.
        participants: participants with at least one such trial.
        standard_error: bootstrap standard error of `rate` (NaN with fewer than 2 participants).
    """

    method: str
    fooled: int
    trials: int
    participants: int
    standard_error: float

    @property
    def rate(self) -> float:
        """fooled / trials (NaN without trials)."""
        return self.fooled / self.trials if self.trials else math.nan


def bootstrap_standard_error(
    counts: list[tuple[int, int]], samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> float:
    """Standard error of sum(fooled) / sum(trials), resampling participants with replacement.

    Args:
        counts: (fooled, trials) of each participant.
        samples: bootstrap resamples.
        seed: the resampling's seed (the same answers always give the same error).

    Example:
    >>> round(bootstrap_standard_error([(1, 4), (3, 4), (2, 4), (2, 4)]), 2)
    0.09
    >>> bootstrap_standard_error([(1, 4)])
    nan
    """
    if len(counts) < 2:
        return math.nan
    table = np.asarray(counts, np.float64)
    picks = np.random.default_rng(seed).integers(0, len(table), (samples, len(table)))
    fooled, trials = table[picks, 0].sum(axis=1), table[picks, 1].sum(axis=1)
    return float(np.std(fooled / np.maximum(trials, 1), ddof=1))


def sanity_scores(answers: Iterable[Answer]) -> dict[str, tuple[int, int]]:
    """participant -> (sanity trials passed, sanity trials answered); passed = picked the real photo.

    Args:
        answers: test answers of every kind.

    Example:
    >>> sanity_scores([Answer("a", SANITY, "x", fooled=False), Answer("a", SANITY, "y", fooled=True)])
    {'a': (1, 2)}
    """
    scores: dict[str, list[int]] = {}
    for answer in answers:
        if answer.method == SANITY:
            score = scores.setdefault(answer.participant, [0, 0])
            score[0] += not answer.fooled
            score[1] += 1
    return {participant: (passed, total) for participant, (passed, total) in scores.items()}


def failed_sanity(answers: Iterable[Answer], threshold: float) -> set[str]:
    """Participants who passed less than `threshold` of their sanity trials.

    Args:
        answers: test answers of every kind.
        threshold: the share of sanity trials a participant must pass (0..1).

    Example:
    >>> answers = [Answer("a", SANITY, "x", fooled=True), Answer("b", SANITY, "x", fooled=False)]
    >>> sorted(failed_sanity(answers, 0.75))
    ['a']
    """
    return {
        participant
        for participant, (passed, total) in sanity_scores(answers).items()
        if passed < threshold * total
    }


def fooling_rates(
    answers: Iterable[Answer], methods: list[str], excluded: set[str] = frozenset()
) -> list[Rate]:
    """The fooling rate of each method (sanity trials not counted), leaving out `excluded` participants.

    Args:
        answers: test answers.
        methods: the methods, in the table's order.
        excluded: participants to leave out.

    Example:
    >>> answers = [Answer("a", "m", "x", True), Answer("a", "m", "y", False), Answer("b", "m", "x", True)]
    >>> rate = fooling_rates(answers, ["m"])[0]
    >>> (rate.fooled, rate.trials, rate.participants, round(rate.rate, 3))
    (2, 3, 2, 0.667)
    """
    counts: dict[str, dict[str, list[int]]] = {
        method: collections.defaultdict(lambda: [0, 0]) for method in methods
    }
    for answer in answers:
        if answer.participant in excluded or answer.method not in counts:
            continue
        count = counts[answer.method][answer.participant]
        count[0] += answer.fooled
        count[1] += 1
    rates = []
    for method in methods:
        per_participant = [tuple(count) for _, count in sorted(counts[method].items())]
        rates.append(
            Rate(
                method,
                sum(fooled for fooled, _ in per_participant),
                sum(trials for _, trials in per_participant),
                len(per_participant),
                bootstrap_standard_error(per_participant),
            )
        )
    return rates


@dataclasses.dataclass(frozen=True)
class Results:
    """The test's results for all participants and without those who failed the sanity checks.

    Args:
        methods: the methods compared.
        everyone: a `Rate` per method over all participants.
        passed: a `Rate` per method without the participants who failed the sanity checks.
        participants: participants with at least one test answer.
        failed: the participants who failed the sanity checks.
        sanity_everyone: (sanity trials passed, answered) over all participants.
        sanity_passed: the same without those who failed.
        threshold: the share of sanity trials a participant must pass.
    """

    methods: list[str]
    everyone: list[Rate]
    passed: list[Rate]
    participants: int
    failed: set[str]
    sanity_everyone: tuple[int, int]
    sanity_passed: tuple[int, int]
    threshold: float


def results(answers: list[Answer], methods: list[str], threshold: float) -> Results:
    """Fooling rates and sanity pass rates, with and without the participants who failed the checks.

    Args:
        answers: every answered test trial (sanity trials included).
        methods: the colorization methods, in the table's order.
        threshold: the share of sanity trials a participant must pass.

    Example:
    >>> answers = [Answer("a", "m", "x", True), Answer("a", SANITY, "x", True), Answer("b", "m", "x", False)]
    >>> summary = results(answers, ["m"], threshold=0.75)
    >>> summary.everyone[0].rate, summary.passed[0].rate, sorted(summary.failed), summary.sanity_everyone
    (0.5, 0.0, ['a'], (0, 1))
    """
    failed = failed_sanity(answers, threshold)
    scores = sanity_scores(answers)
    kept = [score for participant, score in scores.items() if participant not in failed]

    def total(group: list[tuple[int, int]]) -> tuple[int, int]:
        return sum(passed for passed, _ in group), sum(count for _, count in group)

    return Results(
        methods=list(methods),
        everyone=fooling_rates(answers, methods),
        passed=fooling_rates(answers, methods, failed),
        participants=len({answer.participant for answer in answers}),
        failed=failed,
        sanity_everyone=total(list(scores.values())),
        sanity_passed=total(kept),
        threshold=threshold,
    )


def share(passed_and_total: tuple[int, int]) -> float:
    """passed / total of a (passed, total) pair (NaN when total is 0).

    Args:
        passed_and_total: (passed, total).

    Example:
    >>> share((7, 8)), share((0, 0))
    (0.875, nan)
    """
    passed, count = passed_and_total
    return passed / count if count else math.nan


CSV_COLUMNS = (
    "method",
    "participants_group",
    "fooling_rate",
    "bootstrap_se",
    "fooled",
    "trials",
    "participants",
    "sanity_pass_rate",
)


def csv_rows(summary: Results) -> list[dict]:
    """The rows of results.csv: each method for both groups, and the ground truth's chance level.

    Args:
        summary: from `results`.
    """
    rows = []
    groups = (
        ("all", summary.everyone, summary.sanity_everyone),
        ("passed sanity", summary.passed, summary.sanity_passed),
    )
    for group, rates, sanity in groups:
        for rate in rates:
            rows.append(
                {
                    "method": rate.method,
                    "participants_group": group,
                    "fooling_rate": _number(rate.rate),
                    "bootstrap_se": _number(rate.standard_error),
                    "fooled": rate.fooled,
                    "trials": rate.trials,
                    "participants": rate.participants,
                    "sanity_pass_rate": _number(share(sanity)),
                }
            )
        rows.append(
            {"method": GROUND_TRUTH, "participants_group": group, "fooling_rate": "0.5", "bootstrap_se": "0"}
            | dict.fromkeys(CSV_COLUMNS[4:], "")
        )
    return rows


def results_csv(summary: Results) -> str:
    """results.csv's text (`CSV_COLUMNS`, one row per method and group).

    Args:
        summary: from `results`.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(summary))
    return buffer.getvalue()


def percent(value: float, standard_error: float = math.nan) -> str:
    """ "41.0% ± 3.2" (no ± without an error, "n/a" without a value).

    Args:
        value: a share in 0..1.
        standard_error: its standard error (NaN: none).

    Example:
    >>> percent(0.41, 0.032), percent(0.5), percent(float("nan"))
    ('41.0% ± 3.2', '50.0%', 'n/a')
    """
    if math.isnan(value):
        return "n/a"
    text = f"{100 * value:.1f}%"
    return text if math.isnan(standard_error) else f"{text} ± {100 * standard_error:.1f}"


def _number(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.4f}"


def most_fooling(
    answers: Iterable[Answer], count: int, minimum_answers: int = 1
) -> list[tuple[str, str, int, int]]:
    """The (photo, method) pairs people took for real most often: (photo, method, fooled, answers).

    Sanity trials are left out; ties go to the pair with more answers.

    Args:
        answers: test answers.
        count: how many pairs.
        minimum_answers: pairs with fewer answers are left out.

    Example:
    >>> answers = [Answer("a", "m", "x", True), Answer("b", "m", "x", True), Answer("a", "m", "y", False)]
    >>> most_fooling(answers, 2)
    [('x', 'm', 2, 2), ('y', 'm', 0, 1)]
    """
    tally: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0])
    for answer in answers:
        if answer.method != SANITY:
            pair = tally[answer.photo, answer.method]
            pair[0] += answer.fooled
            pair[1] += 1
    ranked = sorted(
        ((photo, method, fooled, total) for (photo, method), (fooled, total) in tally.items()),
        key=lambda item: (-item[2] / item[3], -item[3], item[0], item[1]),
    )
    return [item for item in ranked if item[3] >= minimum_answers][:count]
