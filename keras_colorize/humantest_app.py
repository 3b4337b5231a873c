"""The human test's web application (Flask): trials, practice feedback, results and the gallery.

    GET  /                  what the test is; start (or continue) as an anonymous participant
    POST /start             a new participant: a random id in a cookie and their sequence of trials
    GET  /trial             the next trial: two photos side by side, shown for the display time
    POST /answer            trial, choice (left | right), response_ms: stored at once, in one transaction
    GET  /image/<name>      a trial's image (only the test's own images, by their random names)
    GET  /results           fooling rates, sanity checks and the "fools humans" gallery
    GET  /results.csv       the same table as `--export`

Bad form data is a 400 with one line naming the problem, an answer to a
trial that is already answered or not the next one a 409; nothing a
participant sends is a 500. The page measures the response time from the
moment both photos are on screen to the click. A trial's photos are shown
once: reloading its page (or coming back to it later) shows the two gray
boxes only.
"""

import os
import re

import flask

from keras_colorize import fooling
from keras_colorize.humantest_stimuli import IMAGE_NAME, IMAGES
from keras_colorize.humantest_store import DATABASE, AnswerRefusedError, Store

COOKIE = "kc_participant"
COOKIE_DAYS = 30
MAX_TRIAL_ID = 2**62
GALLERY = 6
PAPER_FOOLING = "32%"  # the paper's full model on Amazon Mechanical Turk (Sec. 3.1)
PAPER_SANITY = "87%"  # the share of sanity checks the paper's participants caught

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: sans-serif; max-width: 46rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; }
.pair { display: flex; gap: 1.5rem; justify-content: center; margin: 1rem 0; }
.photo { width: {{ size + 8 }}px; height: {{ size + 8 }}px; padding: 2px; border: 2px solid #999;
         background: #777; cursor: pointer; color: #fff; font-size: 1.1rem; }
.photo img { display: block; visibility: hidden; }
body.shown .photo img { visibility: visible; }
body.hidden .photo img { display: none; }
.photo span { display: none; }
body.hidden .photo span { display: inline; }
figure { margin: 0; text-align: center; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #bbb; padding: .3rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.gallery { display: grid; grid-template-columns: repeat(2, auto); gap: .6rem 1.2rem;
           justify-content: center; }
.note { color: #555; font-size: .92rem; }
</style></head>
<body>{% block body %}{% endblock %}</body></html>
"""

_PAGES = {
    "index": """<h1>Which photo is real?</h1>
<p>Each trial shows two photos side by side for {{ seconds }} s. One is a real colour photo; the other
was coloured by a computer from a black-and-white version. After they disappear, click where the one you
think is <b>real</b> was (you may also click while they are shown).</p>
<p>The first {{ settings.practice }} trials are practice and tell you whether you were right; the
{{ settings.trials }} after them are the test and do not. You can stop at any time: every answer is stored
as you give it. Nothing about you is recorded except a random id kept in a cookie.</p>
{% if progress %}<p><a id="continue" href="/trial">Continue where you stopped</a>
({{ progress[0] }} of {{ progress[1] }} answered)</p>{% endif %}
<form method="post" action="/start"><input type="hidden" name="new" value="1">
<button id="start" type="submit">{{ "Start as a new participant" if progress else "Start" }}</button></form>
""",
    "trial": """<p id="progress">{{ phase }} {{ number }} of {{ count }}</p>
<p>{% if trial.views > 1 %}These photos were shown once already: click where the one you think is
<b>real</b> was.{% else %}Click the photo you think is <b>real</b>.{% endif %}</p>
<form id="answer" method="post" action="/answer">
<input type="hidden" name="trial" id="trial" value="{{ trial.id }}">
<input type="hidden" name="choice" id="choice" value="">
<input type="hidden" name="response_ms" id="response_ms" value="">
<div class="pair">
{% for side, file in [("left", trial.left), ("right", trial.right)] %}
<button type="button" class="photo" id="choose-{{ side }}" data-side="{{ side }}">
{% if trial.views == 1 %}
<img src="/image/{{ file }}" width="{{ size }}" height="{{ size }}" alt="">{% endif %}
<span>{{ side }}</span></button>
{% endfor %}
</div></form>
<noscript>The test needs JavaScript to time the photos.</noscript>
<script>
(function () {
  var display = {{ settings.display_ms }}, onset = null, sent = false;
  var images = document.querySelectorAll(".photo img"), waiting = images.length;
  function show() {
    onset = performance.now();
    document.body.classList.add("shown");
    setTimeout(function () {
      document.body.classList.remove("shown");
      document.body.classList.add("hidden");
    }, display);
  }
  function loaded() { waiting -= 1; if (waiting === 0) { show(); } }
  if (waiting === 0) {  // a reload: the photos are not shown again; timed from this page
    onset = performance.now();
    document.body.classList.add("hidden");
  }
  images.forEach(function (image) {
    if (image.complete && image.naturalWidth) { loaded(); } else { image.addEventListener("load", loaded); }
  });
  document.querySelectorAll("button.photo").forEach(function (button) {
    button.addEventListener("click", function () {
      if (onset === null || sent) { return; }
      sent = true;
      document.getElementById("choice").value = button.dataset.side;
      document.getElementById("response_ms").value = (performance.now() - onset).toFixed(1);
      document.getElementById("answer").submit();
    });
  });
})();
</script>
""",
    "feedback": """<p id="progress">Practice {{ number }} of {{ count }}</p>
<h2 id="verdict">{{ "Right" if trial.correct else "Wrong" }}:
the real photo was on the {{ trial.real_side }}.</h2>
<div class="pair">
{% for side, file in [("left", trial.left), ("right", trial.right)] %}
<figure><img src="/image/{{ file }}" width="{{ size }}" height="{{ size }}" alt="">
<figcaption>{{ "real" if side == trial.real_side else "colorized" }}</figcaption></figure>
{% endfor %}
</div>
<p><a id="next" href="/trial">{{ "Start the test" if last else "Next practice trial" }}</a></p>
""",
    "done": """<h1 id="done">Thank you!</h1>
<p>You answered all {{ count }} trials.</p>
<form method="post" action="/start"><input type="hidden" name="new" value="1">
<button id="start" type="submit">Start as a new participant</button></form>
""",
    "results": """<h1>Results: which photo is real?</h1>
<p>{{ summary.participants }} participant(s), {{ answers }} test answer(s).
The <b>fooling rate</b> is the share of test trials in which the colorization was picked as the real
photo (practice and sanity trials are not counted), with its bootstrap standard error over participants
(needs two or more).</p>
<table id="rates">
<tr><th rowspan="2">Method</th><th colspan="3">All participants</th>
<th colspan="3">Without those who failed the sanity checks</th></tr>
<tr>{% for _ in range(2) %}<th>Fooling rate</th><th>Fooled / trials</th><th>Participants</th>{% endfor %}</tr>
{% for row in rows %}<tr id="rate-{{ loop.index0 }}"><td>{{ row.method }}</td>
{% for cell in row.cells %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}
<tr><td>Ground truth</td>{% for _ in range(2) %}<td>50%</td><td colspan="2">chance level</td>{% endfor %}</tr>
</table>
<p class="note"><b>Ground truth, 50%:</b> a colorization people cannot tell from the real photo is picked
half of the time, as a coin flip would: 50% is the chance level and the best a method can reach, not 100%.
The paper's full model fooled {{ paper_fooling }} of its participants' trials (Amazon Mechanical Turk,
photos shown 1 s).</p>
<p id="sanity"><b>Sanity checks</b> ({{ settings.sanity_trials }} of each participant's test trials
pair the photo with random colours): passed {{ sanity_all }} over all participants,
{{ sanity_kept }} without the {{ summary.failed|length }} participant(s) who passed less than
{{ threshold }} of theirs. The paper's participants caught {{ paper_sanity }}.</p>
<p><a href="/results.csv">results.csv</a></p>
<h2>Fools humans</h2>
{% if gallery %}<p class="note">The colorizations picked as real most often (fooled / answers).</p>
<div class="gallery">
{% for item in gallery %}
<figure><img src="/results/image/{{ item.real }}" width="{{ thumb }}" height="{{ thumb }}" alt="">
<figcaption>real: {{ item.photo }}</figcaption></figure>
<figure><img src="/results/image/{{ item.fake }}" width="{{ thumb }}" height="{{ thumb }}" alt="">
<figcaption>{{ item.method }}: fooled {{ item.fooled }} / {{ item.answers }}</figcaption></figure>
{% endfor %}</div>
{% else %}<p>No test answers yet.</p>{% endif %}
""",
    "error": """<h1>{{ code }}</h1><p id="error">{{ message }}</p><p><a href="/">Back to the start</a></p>""",
}


def create_app(folder: str) -> flask.Flask:
    """The web application of the test in `folder` (its humantest.sqlite and images/).

    Args:
        folder: a test folder made by `python -m keras_colorize.humantest`.

    Example:
    >>> create_app("/nonexistent")
    Traceback (most recent call last):
    ...
    ValueError: /nonexistent holds no human test (humantest.sqlite); make one with --photos and --models
    """
    database = os.path.join(folder, DATABASE)
    if not os.path.isfile(database):
        raise ValueError(f"{folder} holds no human test ({DATABASE}); make one with --photos and --models")
    store = Store(database)
    settings = store.settings()
    if settings is None:
        raise ValueError(f"{database} holds no test; make one with --photos and --models")
    images = os.path.join(folder, IMAGES)
    app = flask.Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # an answer is a few dozen bytes
    templates = {
        name: app.jinja_env.from_string(_LAYOUT.replace("{% block body %}{% endblock %}", body))
        for name, body in _PAGES.items()
    }

    def page(name: str, title: str, status: int = 200, **context) -> tuple[str, int]:
        return templates[name].render(title=title, size=settings.size, settings=settings, **context), status

    def participant() -> str | None:
        given = flask.request.cookies.get(COOKIE)
        return given if store.is_participant(given) else None

    @app.errorhandler(400)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(409)
    @app.errorhandler(413)
    def error(failure):
        return page(
            "error",
            failure.name,
            failure.code,
            code=f"{failure.code} {failure.name}",
            message=failure.description,
        )

    @app.get("/")
    def index():
        known = participant()
        progress = store.progress(known) if known else None
        unfinished = progress if progress and progress[0] < progress[1] else None
        return page(
            "index", "Which photo is real?", progress=unfinished, seconds=f"{settings.display_ms / 1000:g}"
        )

    @app.post("/start")
    def start():
        response = flask.redirect("/trial", 303)
        response.set_cookie(
            COOKIE, store.new_participant(), max_age=COOKIE_DAYS * 86400, httponly=True, samesite="Lax"
        )
        return response

    @app.get("/trial")
    def trial():
        known = participant()
        if known is None:
            return flask.redirect("/", 303)
        current = store.current_trial(known)
        if current is None:
            _, total = store.progress(known)
            return page("done", "Thank you", count=total)
        if current.phase == "practice":
            phase, number, count = "Practice", current.position + 1, settings.practice
        else:
            phase, number, count = "Trial", current.position + 1 - settings.practice, settings.trials
        return page("trial", "Which photo is real?", trial=current, phase=phase, number=number, count=count)

    @app.post("/answer")
    def answer():
        known = participant()
        if known is None:
            flask.abort(400, "no participant cookie (or an unknown one); start the test at /")
        trial_id, choice, response_ms = _answer_form(flask.request.form)
        try:
            answered = store.answer(known, trial_id, choice, response_ms)
        except AnswerRefusedError as refused:
            flask.abort(refused.status, str(refused))
        if answered.phase == "test":
            return flask.redirect("/trial", 303)
        number = answered.position + 1
        return page(
            "feedback",
            "Practice",
            trial=answered,
            number=number,
            count=settings.practice,
            last=number == settings.practice,
        )

    @app.get("/image/<name>")
    def image(name: str):
        if not re.fullmatch(IMAGE_NAME, name) or not store.is_image(name):
            flask.abort(404, "no such image")
        return flask.send_from_directory(images, name, max_age=3600)

    @app.get("/results/image/<int:stimulus>")
    def results_image(stimulus: int):
        file = store.image_of(stimulus) if stimulus < MAX_TRIAL_ID else None
        if file is None:
            flask.abort(404, "no such image")
        return flask.send_from_directory(images, file, max_age=3600)

    @app.get("/results")
    def results():
        answers = store.answers()
        summary = fooling.results(answers, store.methods(), settings.sanity_threshold)
        rows = []
        for everyone, passed in zip(summary.everyone, summary.passed, strict=True):
            cells = []
            for rate in (everyone, passed):
                cells += [
                    fooling.percent(rate.rate, rate.standard_error),
                    f"{rate.fooled} / {rate.trials}",
                    rate.participants,
                ]
            rows.append({"method": everyone.method, "cells": cells})
        return page(
            "results",
            "Results",
            summary=summary,
            answers=len(answers),
            rows=rows,
            sanity_all=_passed(summary.sanity_everyone),
            sanity_kept=_passed(summary.sanity_passed),
            threshold=f"{summary.threshold:.0%}",
            gallery=store.most_fooling(GALLERY),
            thumb=min(settings.size, 192),
            paper_fooling=PAPER_FOOLING,
            paper_sanity=PAPER_SANITY,
        )

    @app.get("/results.csv")
    def results_table():
        return flask.Response(
            fooling.results_csv(store.results()),
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=results.csv"},
        )

    return app


def _passed(passed_and_total: tuple[int, int]) -> str:
    """ "87.5% (7 of 8)"."""
    return (
        f"{fooling.percent(fooling.share(passed_and_total))} ({passed_and_total[0]} of {passed_and_total[1]})"
    )


def _answer_form(form) -> tuple[int, str, float]:
    """(trial id, choice, response_ms) of an answer's form; a 400 naming the first problem."""
    missing = [name for name in ("trial", "choice", "response_ms") if not form.get(name)]
    if missing:
        flask.abort(400, f"missing form field(s): {', '.join(missing)}")
    try:
        trial_id = int(form["trial"])
    except ValueError:
        flask.abort(400, f"trial must be a trial id (a whole number), got {form['trial'][:40]!r}")
    if not 0 < trial_id < MAX_TRIAL_ID:
        flask.abort(400, f"trial must be a trial id (a positive number), got {trial_id}")
    try:
        response_ms = float(form["response_ms"])
    except ValueError:
        flask.abort(400, f"response_ms must be a number of milliseconds, got {form['response_ms'][:40]!r}")
    return trial_id, form["choice"], response_ms
