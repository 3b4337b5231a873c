"""The human test's state in SQLite: stimuli, participants, their trials and every answer.

One file, `<test folder>/humantest.sqlite`, survives restarts. Each answer
is one transaction (`BEGIN IMMEDIATE`) that checks the trial id: the trial
must be the participant's, unanswered and the next one in their sequence, so
a double click, a resent form or two tabs store an answer once and never
lose one. Write-ahead logging lets many participants read while one writes.

Standard library only (no TensorFlow): `keras_colorize.humantest_app` serves
it, `keras_colorize.humantest` fills it.
"""

import contextlib
import dataclasses
import json
import math
import random
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator

from keras_colorize.fooling import SANITY, Answer, Results, most_fooling, results

DATABASE = "humantest.sqlite"
SIDES = ("left", "right")
PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_RESPONSE_MS = 3_600_000.0  # an hour: anything longer is not a response time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stimuli (
    id INTEGER PRIMARY KEY,
    photo TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('real', 'fake', 'sanity')),
    method TEXT,
    file TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS participants (
    id TEXT PRIMARY KEY,
    started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    participant TEXT NOT NULL REFERENCES participants (id),
    position INTEGER NOT NULL,
    phase TEXT NOT NULL CHECK (phase IN ('practice', 'test')),
    real INTEGER NOT NULL REFERENCES stimuli (id),
    fake INTEGER NOT NULL REFERENCES stimuli (id),
    real_side TEXT NOT NULL CHECK (real_side IN ('left', 'right')),
    shown_at REAL,
    views INTEGER NOT NULL DEFAULT 0,
    choice TEXT CHECK (choice IN ('left', 'right')),
    response_ms REAL,
    answered_at REAL,
    UNIQUE (participant, position)
);
"""


class AnswerRefusedError(Exception):
    """An answer that is not stored, with the HTTP status that says why (400 bad, 409 conflict).

    Args:
        status: 400 (not this participant's trial, no such trial) or 409 (already answered, not next).
        message: one line naming the problem.
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Settings:
    """How each participant's session runs.

    Args:
        display_ms: how long the two photos are shown.
        practice: practice trials (with feedback) before the test.
        trials: test trials (without feedback), sanity trials included.
        sanity_fraction: the share of test trials that are sanity checks.
        sanity_threshold: the share of sanity trials a participant must pass.
        size: the photos' side in pixels.
    """

    display_ms: int = 1000
    practice: int = 10
    trials: int = 40
    sanity_fraction: float = 0.1
    sanity_threshold: float = 0.75
    size: int = 256

    @property
    def sanity_trials(self) -> int:
        """How many of the test trials are sanity checks (at least one when the fraction is > 0)."""
        if self.sanity_fraction <= 0:
            return 0
        return min(self.trials, max(1, round(self.sanity_fraction * self.trials)))


@dataclasses.dataclass(frozen=True)
class Trial:
    """One trial of one participant, as the web page needs it.

    Args:
        id: the trial's id (the form sends it back).
        participant: whose trial.
        position: 0-based place in the participant's sequence.
        phase: "practice" or "test".
        method: the colorization's method (`SANITY` for a sanity trial).
        photo: the photo's name.
        left: the image file shown on the left.
        right: the image file shown on the right.
        real_side: "left" or "right".
        choice: the side picked, None until answered.
        response_ms: time from the photos' onset to the click.
        views: how often its page was served (a reload shows the photos only the first time).
    """

    id: int
    participant: str
    position: int
    phase: str
    method: str
    photo: str
    left: str
    right: str
    real_side: str
    choice: str | None
    response_ms: float | None
    views: int

    @property
    def correct(self) -> bool | None:
        """The real photo was picked (None until answered)."""
        return None if self.choice is None else self.choice == self.real_side


_TRIAL_QUERY = """
SELECT t.id, t.participant, t.position, t.phase, f.method, r.photo,
       CASE t.real_side WHEN 'left' THEN r.file ELSE f.file END,
       CASE t.real_side WHEN 'left' THEN f.file ELSE r.file END,
       t.real_side, t.choice, t.response_ms, t.views
FROM trials t JOIN stimuli r ON r.id = t.real JOIN stimuli f ON f.id = t.fake
"""


class Store:
    """The test's SQLite database (one connection per call, so any thread may use it).

    Args:
        path: the database file (created with its tables if missing).

    Example:
    >>> import tempfile, os
    >>> store = Store(os.path.join(tempfile.mkdtemp(), DATABASE))
    >>> store.create(Settings(practice=1, trials=2, sanity_fraction=0.5), {"a.png": {
    ...     "real": "r.png", "sanity": "s.png", "fakes": {"m": "f.png"}}})
    >>> participant = store.new_participant()
    >>> trial = store.current_trial(participant)
    >>> trial.phase, store.answer(participant, trial.id, "left", 812.0).choice
    ('practice', 'left')
    >>> len(store.answers()), store.progress(participant)
    (0, (1, 3))
    """

    def __init__(self, path: str):
        self.path = path
        connection = self._connect()
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute("PRAGMA busy_timeout=30000")
        return connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside `BEGIN IMMEDIATE`: committed on success, rolled back on any error."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            connection.close()

    def _query(self, sql: str, parameters: tuple = ()) -> list[tuple]:
        connection = self._connect()
        try:
            return connection.execute(sql, parameters).fetchall()
        finally:
            connection.close()

    # -- the test ---------------------------------------------------------------

    def create(self, settings: Settings, photos: dict[str, dict], sources: dict | None = None) -> None:
        """Store the settings and every photo's images in one transaction.

        Args:
            settings: how each session runs.
            photos: photo name -> {"real": file, "sanity": file, "fakes": {method: file}}.
            sources: what the test was made from (--photos, --models), kept to refuse another test here.
        """
        with self.transaction() as connection:
            if connection.execute("SELECT COUNT(*) FROM settings").fetchone()[0]:
                raise ValueError(f"{self.path} already holds a test")
            values = {"settings": dataclasses.asdict(settings), "sources": sources or {}}
            connection.executemany(
                "INSERT INTO settings (key, value) VALUES (?, ?)",
                [(key, json.dumps(value, sort_keys=True)) for key, value in values.items()],
            )
            for photo, files in photos.items():
                rows = [(photo, "real", None, files["real"]), (photo, "sanity", SANITY, files["sanity"])]
                rows += [(photo, "fake", method, file) for method, file in files["fakes"].items()]
                connection.executemany(
                    "INSERT INTO stimuli (photo, kind, method, file) VALUES (?, ?, ?, ?)", rows
                )

    def _setting(self, key: str) -> dict | None:
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def settings(self) -> Settings | None:
        """The stored settings (None while the folder holds no test)."""
        stored = self._setting("settings")
        return None if stored is None else Settings(**stored)

    def sources(self) -> dict:
        """What the test was made from ({"photos": ..., "models": [...]})."""
        return self._setting("sources") or {}

    def methods(self) -> list[str]:
        """The colorization methods, in the order they were given."""
        return [
            row[0]
            for row in self._query(
                "SELECT method FROM stimuli WHERE kind = 'fake' GROUP BY method ORDER BY MIN(id)"
            )
        ]

    def is_image(self, file: str) -> bool:
        """`file` is one of the test's images (the only files the web application serves)."""
        return bool(self._query("SELECT 1 FROM stimuli WHERE file = ?", (file,)))

    def image_of(self, stimulus: int) -> str | None:
        """The file of stimulus `stimulus` (None if there is none)."""
        rows = self._query("SELECT file FROM stimuli WHERE id = ?", (stimulus,))
        return rows[0][0] if rows else None

    def most_fooling(self, count: int) -> list[dict]:
        """The "fools humans" gallery: the colorizations taken for real most often (`fooling.most_fooling`).

        Returns:
            {"photo", "method", "fooled", "answers", "real": stimulus id, "fake": stimulus id} each.

        Args:
            count: how many at most.
        """
        gallery = []
        for photo, method, fooled, answers in most_fooling(self.answers(), count):
            real, fake = self._query(
                "SELECT r.id, f.id FROM stimuli r JOIN stimuli f ON f.photo = r.photo "
                "WHERE r.photo = ? AND r.kind = 'real' AND f.method = ?",
                (photo, method),
            )[0]
            gallery.append(
                {
                    "photo": photo,
                    "method": method,
                    "fooled": fooled,
                    "answers": answers,
                    "real": real,
                    "fake": fake,
                }
            )
        return gallery

    # -- participants -------------------------------------------------------------

    def new_participant(self, rng: random.Random | None = None) -> str:
        """A new anonymous participant with their whole sequence of trials (one transaction); their id.

        Practice trials come first; the sanity trials are placed at random among the test trials.
        Photos repeat only once every photo has been used, the methods take turns, and the real
        photo's side is random.

        Args:
            rng: the sequence's randomness (default: a fresh, unseeded one).
        """
        rng = rng or random.Random(secrets.randbits(64))
        settings = self.settings()
        if settings is None:
            raise ValueError(f"{self.path} holds no test")
        reals = dict(self._query("SELECT photo, id FROM stimuli WHERE kind = 'real'"))
        sanity = dict(self._query("SELECT photo, id FROM stimuli WHERE kind = 'sanity'"))
        fakes = {
            (photo, method): id_
            for photo, method, id_ in self._query("SELECT photo, method, id FROM stimuli WHERE kind = 'fake'")
        }
        methods = self.methods()
        photos = _cycle(sorted(reals), rng)
        colorized = settings.practice + settings.trials - settings.sanity_trials
        turns = [methods[i % len(methods)] for i in range(colorized)]
        rng.shuffle(turns)
        pairs = []
        for method in turns:
            photo = next(photos)
            pairs.append((reals[photo], fakes[photo, method]))
        practice, test = pairs[: settings.practice], pairs[settings.practice :]
        for _ in range(settings.sanity_trials):
            photo = next(photos)
            test.insert(rng.randrange(len(test) + 1), (reals[photo], sanity[photo]))
        participant = secrets.token_urlsafe(16)
        rows = [
            (
                participant,
                position,
                "practice" if position < settings.practice else "test",
                real,
                fake,
                rng.choice(SIDES),
            )
            for position, (real, fake) in enumerate(practice + test)
        ]
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO participants (id, started_at) VALUES (?, ?)", (participant, time.time())
            )
            connection.executemany(
                "INSERT INTO trials (participant, position, phase, real, fake, real_side) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return participant

    def is_participant(self, participant: str | None) -> bool:
        """`participant` is a well-formed id of a stored participant."""
        return bool(
            participant
            and PARTICIPANT_ID.match(participant)
            and self._query("SELECT 1 FROM participants WHERE id = ?", (participant,))
        )

    def progress(self, participant: str) -> tuple[int, int]:
        """(trials answered, trials in all) of `participant`."""
        answered, total = self._query(
            "SELECT COUNT(choice), COUNT(*) FROM trials WHERE participant = ?", (participant,)
        )[0]
        return answered, total

    def current_trial(self, participant: str) -> Trial | None:
        """The participant's next unanswered trial (None when they are done), counting this view."""
        rows = self._query(
            _TRIAL_QUERY + "WHERE t.participant = ? AND t.choice IS NULL ORDER BY t.position LIMIT 1",
            (participant,),
        )
        if not rows:
            return None
        trial = Trial(*rows[0])
        with self.transaction() as connection:
            connection.execute(
                "UPDATE trials SET shown_at = COALESCE(shown_at, ?), views = views + 1 WHERE id = ?",
                (time.time(), trial.id),
            )
        return dataclasses.replace(trial, views=trial.views + 1)

    def trial(self, trial_id: int) -> Trial | None:
        """Trial `trial_id` (None if there is none)."""
        rows = self._query(_TRIAL_QUERY + "WHERE t.id = ?", (trial_id,))
        return Trial(*rows[0]) if rows else None

    def answer(self, participant: str, trial_id: int, choice: str, response_ms: float) -> Trial:
        """Store one answer in one transaction; returns the answered trial, or raises `AnswerRefusedError`.

        Args:
            participant: who answers.
            trial_id: the trial the page showed.
            choice: "left" or "right".
            response_ms: time from the photos' onset to the click (0..MAX_RESPONSE_MS).
        """
        if choice not in SIDES:
            raise AnswerRefusedError(400, f"choice must be left or right, got {choice!r}")
        if not (math.isfinite(response_ms) and 0 <= response_ms <= MAX_RESPONSE_MS):
            raise AnswerRefusedError(
                400, f"response_ms must be 0..{MAX_RESPONSE_MS:.0f}, got {response_ms!r}"
            )
        with self.transaction() as connection:
            row = connection.execute(
                "SELECT participant, position, choice FROM trials WHERE id = ?", (trial_id,)
            ).fetchone()
            if row is None or row[0] != participant:
                raise AnswerRefusedError(400, f"trial {trial_id} is not one of this participant's trials")
            if row[2] is not None:
                raise AnswerRefusedError(409, f"trial {trial_id} is already answered")
            (current,) = connection.execute(
                "SELECT MIN(position) FROM trials WHERE participant = ? AND choice IS NULL", (participant,)
            ).fetchone()
            if row[1] != current:
                raise AnswerRefusedError(409, f"trial {trial_id} is not this participant's next trial")
            connection.execute(
                "UPDATE trials SET choice = ?, response_ms = ?, answered_at = ? WHERE id = ?",
                (choice, float(response_ms), time.time(), trial_id),
            )
        return self.trial(trial_id)

    # -- results ----------------------------------------------------------------

    def answers(self) -> list[Answer]:
        """Every answered test trial (practice left out), in the order they were answered."""
        rows = self._query(
            "SELECT t.participant, f.method, r.photo, t.choice != t.real_side, t.response_ms "
            "FROM trials t JOIN stimuli r ON r.id = t.real JOIN stimuli f ON f.id = t.fake "
            "WHERE t.phase = 'test' AND t.choice IS NOT NULL ORDER BY t.answered_at, t.id"
        )
        return [
            Answer(participant, method, photo, bool(fooled), ms)
            for participant, method, photo, fooled, ms in rows
        ]

    def results(self) -> Results:
        """The fooling rates and sanity checks of the stored answers (`fooling.results`)."""
        return results(self.answers(), self.methods(), self.settings().sanity_threshold)

    def answered_trials(self) -> list[Trial]:
        """Every answered trial, practice included, in the order of their ids."""
        return [Trial(*row) for row in self._query(_TRIAL_QUERY + "WHERE t.choice IS NOT NULL ORDER BY t.id")]


def _cycle(items: list[str], rng: random.Random) -> Iterator[str]:
    """The items in a random order, again in a new random order, and so on (each once per round)."""
    while True:
        round_ = list(items)
        rng.shuffle(round_)
        yield from round_
