"""The real-vs-fake human test (issue 15): its numbers, its database, its web pages, a real browser.

The test folders are made from the fixture photos and two folders of
"colorizations" written here (a gray and a warm-tinted copy of each photo,
named as `keras-colorize colorize` names its outputs), so no test needs a
trained model or ../shared; the command-line test colorizes with a tiny
random model. The browser test runs Debian's chromium through Selenium; it
is skipped without chromium only outside CI (CI=true makes it fail).
"""

import contextlib
import csv
import doctest
import html
import http.client
import math
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

import numpy as np
import pytest
import requests
from fixtures.extras import needs
from PIL import Image
from test_cli import ENV
from test_cli import one_error as one_usage_error
from test_cli import run as run_command

needs("flask", "humantest")

from keras_colorize import fooling, humantest_app, humantest_stimuli, humantest_store  # noqa: E402
from keras_colorize.command import UsageError  # noqa: E402
from keras_colorize.fooling import SANITY, Answer  # noqa: E402
from keras_colorize.humantest import load_methods  # noqa: E402
from keras_colorize.humantest_app import COOKIE, create_app  # noqa: E402
from keras_colorize.humantest_stimuli import IMAGES, prepare  # noqa: E402
from keras_colorize.humantest_store import DATABASE, AnswerRefusedError, Settings, Store  # noqa: E402

ROOT = pathlib.Path(__file__).parent.parent
PHOTOS = ROOT / "tests" / "fixtures" / "photos"
SCREENSHOTS = os.environ.get(
    "HUMANTEST_SCREENSHOTS"
)  # e.g. docs/humantest: where the browser test saves its PNGs
TINTS = {"gray": (1 / 3, 1 / 3, 1 / 3), "warm": (1.0, 0.85, 0.6)}


def colorized_folders(folder: pathlib.Path) -> list[str]:
    """Two folders of stand-in colorizations of the fixture photos: gray and warm-tinted copies."""
    made = []
    for name, tint in TINTS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for photo in sorted(PHOTOS.iterdir()):
            rgb = np.asarray(Image.open(photo).convert("RGB"), np.float64)
            if name == "gray":
                rgb = np.repeat(rgb @ np.asarray(tint)[:, None], 3, axis=-1)
            else:
                rgb = rgb * np.asarray(tint)
            Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(folder / name / f"{photo.stem}.png")
        made.append(str(folder / name))
    return made


@pytest.fixture(scope="module")
def methods(tmp_path_factory) -> list[str]:
    return colorized_folders(tmp_path_factory.mktemp("colorized"))


def make_test(folder: pathlib.Path, methods: list[str], settings: Settings) -> Store:
    photos, skips = prepare(str(PHOTOS), load_methods(methods, str(PHOTOS)), str(folder), settings.size)
    assert len(photos) == 12 and not skips.entries, skips.summary()
    store = Store(str(folder / DATABASE))
    store.create(settings, photos, {"photos": str(PHOTOS), "models": methods})
    return store


@contextlib.contextmanager
def serving(folder: pathlib.Path):
    """The test's web application on a free loopback port (threaded, as the command serves it)."""
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, create_app(str(folder)), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def start(client) -> str:
    """A new participant through the test client; their id."""
    response = client.post("/start")
    assert response.status_code == 303
    return client.get_cookie(COOKIE).value


# -- the numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [fooling, humantest_store, humantest_stimuli, humantest_app])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


def test_bootstrap_error_matches_the_binomial_one_for_independent_participants():
    rng = np.random.default_rng(3)
    counts = [(int(rng.binomial(10, 0.3)), 10) for _ in range(200)]
    expected = math.sqrt(0.3 * 0.7 / 2000)  # 2,000 independent trials
    assert bootstrap_ratio(counts, expected) == pytest.approx(1.0, abs=0.15)


def bootstrap_ratio(counts, expected) -> float:
    return fooling.bootstrap_standard_error(counts) / expected


def test_results_with_and_without_the_participants_who_failed_the_sanity_checks():
    answers = [
        *(Answer("careful", "m", f"p{i}", fooled=i < 2) for i in range(8)),  # fooled 2 of 8
        *(Answer("careful", SANITY, f"p{i}", fooled=False) for i in range(2)),
        *(Answer("random", "m", f"p{i}", fooled=i < 4) for i in range(8)),  # fooled 4 of 8
        *(Answer("random", SANITY, f"p{i}", fooled=True) for i in range(2)),
    ]
    summary = fooling.results(answers, ["m"], threshold=0.75)
    assert summary.failed == {"random"} and summary.participants == 2
    assert (summary.everyone[0].fooled, summary.everyone[0].trials) == (6, 16)
    assert (summary.passed[0].fooled, summary.passed[0].trials, summary.passed[0].participants) == (2, 8, 1)
    assert summary.sanity_everyone == (2, 4) and summary.sanity_passed == (2, 2)
    rows = list(csv.DictReader(fooling.results_csv(summary).splitlines()))
    assert [(row["method"], row["participants_group"], row["fooling_rate"]) for row in rows] == [
        ("m", "all", "0.3750"),
        (fooling.GROUND_TRUTH, "all", "0.5"),
        ("m", "passed sanity", "0.2500"),
        (fooling.GROUND_TRUTH, "passed sanity", "0.5"),
    ]
    assert rows[0]["sanity_pass_rate"] == "0.5000" and rows[2]["sanity_pass_rate"] == "1.0000"


def test_models_colorize_through_the_colorizer_and_photos_missing_anywhere_are_left_out(tmp_path):
    from fixtures.tiny import tiny_colorizer

    from keras_colorize.evaluation import center_square

    colorizer = tiny_colorizer(work_size=64)
    colorizer.save(tmp_path / "tiny.keras")
    folder = tmp_path / "made"
    folder.mkdir()
    for photo in sorted(PHOTOS.iterdir())[1:]:  # no colorization of the first photo
        shape = (8, 8, 3) if photo.name.startswith("photo_05") else (*Image.open(photo).size[::-1], 3)
        Image.fromarray(np.zeros(shape, np.uint8)).save(folder / f"{photo.stem}.png")
    methods = load_methods([str(tmp_path / "tiny.keras"), str(folder)], str(PHOTOS))
    assert list(methods) == ["tiny", "made"] and methods["made"] == str(folder)
    with pytest.raises(UsageError, match=r"^--models: .*no_such_preset"):
        load_methods(["no_such_preset"], str(PHOTOS))
    photos, skips = prepare(str(PHOTOS), methods, str(tmp_path / "test"), 64)
    assert sorted(photos) == [
        p.name for p in sorted(PHOTOS.iterdir()) if p.name[:8] not in ("photo_00", "photo_05")
    ]
    assert [entry["file"] for entry in skips.entries] == [
        str(PHOTOS / "photo_00_n01440764.jpg"),
        str(PHOTOS / "photo_05_n03394916.jpg"),
    ]
    assert (
        "no colorization" in skips.entries[0]["reason"]
        and "is 8x8, not 192x192" in skips.entries[1]["reason"]
    )
    name = "photo_01_n02102040.jpg"
    shown = np.asarray(Image.open(tmp_path / "test" / IMAGES / photos[name]["fakes"]["tiny"]))
    expected = center_square(colorizer.colorize(str(PHOTOS / name)), 64)
    np.testing.assert_array_equal(shown, expected)  # the Colorizer's photo, then the evaluation crop
    assert len(os.listdir(tmp_path / "test" / IMAGES)) == 4 * len(photos)  # real, decoy, two methods


# -- the database -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_test(methods, tmp_path_factory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("small")
    make_test(folder, methods, Settings(practice=2, trials=10, sanity_fraction=0.2, size=64))
    return folder


def test_a_participants_sequence_follows_the_protocol(methods, tmp_path):
    store = make_test(tmp_path, methods, Settings(practice=10, trials=40, size=32))
    participant = store.new_participant(random.Random(0))
    rows = store._query(
        "SELECT t.phase, f.kind, f.method, r.photo, t.real_side FROM trials t "
        "JOIN stimuli r ON r.id = t.real JOIN stimuli f ON f.id = t.fake "
        "WHERE t.participant = ? ORDER BY t.position",
        (participant,),
    )
    phases = [row[0] for row in rows]
    assert phases == ["practice"] * 10 + ["test"] * 40
    assert sum(row[1] == "sanity" for row in rows) == 4 and all(
        row[0] == "test" for row in rows if row[1] == "sanity"
    )
    colorized = [row[2] for row in rows if row[1] == "fake"]
    assert abs(colorized.count("gray") - colorized.count("warm")) <= 1
    photos = [row[3] for row in rows]
    assert len(set(photos[:12])) == 12  # a photo comes back only after every photo was shown
    assert {row[4] for row in rows} == {"left", "right"}
    assert store.progress(participant) == (0, 50)


def test_every_answer_is_checked_and_stored_once(small_test):
    store = Store(str(small_test / DATABASE))
    first, second = store.new_participant(), store.new_participant()
    trial = store.current_trial(first)
    with pytest.raises(AnswerRefusedError) as refused:
        store.answer(second, trial.id, "left", 100.0)
    assert refused.value.status == 400  # not their trial
    following = store.trial(trial.id + 1)
    with pytest.raises(AnswerRefusedError) as refused:
        store.answer(first, following.id, "left", 100.0)
    assert refused.value.status == 409  # not the next one
    assert store.answer(first, trial.id, "right", 432.5).choice == "right"
    with pytest.raises(AnswerRefusedError) as refused:
        store.answer(first, trial.id, "left", 100.0)
    assert refused.value.status == 409  # already answered: the first answer stays
    assert store.trial(trial.id).choice == "right" and store.trial(trial.id).response_ms == 432.5
    assert store.progress(first) == (1, 12) and store.progress(second) == (0, 12)


# -- the web application: bad form data and path traversal --------------------------------------------


@pytest.mark.parametrize(
    "form, words",
    [
        ({}, "missing form field(s): trial, choice, response_ms"),
        ({"trial": "one", "choice": "left", "response_ms": "5"}, "trial must be a trial id"),
        ({"trial": "-3", "choice": "left", "response_ms": "5"}, "positive"),
        ({"trial": "9" * 30, "choice": "left", "response_ms": "5"}, "positive"),
        ({"trial": "9" * 5000, "choice": "left", "response_ms": "5"}, "trial must be a trial id"),
        ({"trial": "CURRENT", "choice": "up", "response_ms": "5"}, "choice must be left or right"),
        ({"trial": "CURRENT", "choice": "left", "response_ms": "soon"}, "response_ms must be a number"),
        ({"trial": "CURRENT", "choice": "left", "response_ms": "nan"}, "response_ms must be 0..3600000"),
        ({"trial": "CURRENT", "choice": "left", "response_ms": "-1"}, "response_ms must be"),
        ({"trial": "CURRENT", "choice": "left", "response_ms": "1e400"}, "response_ms must be"),
        ({"trial": "OTHER", "choice": "left", "response_ms": "5"}, "not one of this participant's trials"),
        ({"trial": "99999", "choice": "left", "response_ms": "5"}, "not one of this participant's trials"),
    ],
)
def test_bad_form_data_is_a_400_naming_the_problem(small_test, form, words):
    store = Store(str(small_test / DATABASE))
    other = store.current_trial(store.new_participant())
    client = create_app(str(small_test)).test_client()
    current = store.current_trial(start(client))
    ids = {"CURRENT": str(current.id), "OTHER": str(other.id)}
    form = {key: ids.get(value, value) for key, value in form.items()}
    response = client.post("/answer", data=form)
    assert response.status_code == 400, response.data
    assert words in html.unescape(response.get_data(as_text=True))
    assert Store(str(small_test / DATABASE)).trial(current.id).choice is None


def test_the_gallery_shows_the_colorizations_taken_for_real_most_often(methods, tmp_path):
    store = make_test(tmp_path, methods, Settings(practice=0, trials=4, sanity_fraction=0, size=32))
    participant = store.new_participant()
    for number in range(4):
        trial = store.current_trial(participant)
        fake_side = "right" if trial.real_side == "left" else "left"
        store.answer(participant, trial.id, fake_side if number == 0 else trial.real_side, 500.0)
        if number == 0:
            fooled = trial
    best = store.most_fooling(6)
    assert len(best) == 4 and (best[0]["photo"], best[0]["method"], best[0]["fooled"]) == (
        fooled.photo,
        fooled.method,
        1,
    )
    assert store.image_of(best[0]["fake"]) == (fooled.right if fooled.real_side == "left" else fooled.left)
    page = create_app(str(tmp_path)).test_client().get("/results").get_data(as_text=True)
    assert f'/results/image/{best[0]["fake"]}"' in page and "fooled 1 / 1" in page


def test_a_reloaded_trial_does_not_show_its_photos_again(small_test):
    client = create_app(str(small_test)).test_client()
    participant = start(client)
    first, again = client.get("/trial").get_data(as_text=True), client.get("/trial").get_data(as_text=True)
    assert first.count("/image/") == 2 and "/image/" not in again and "shown once already" in again
    trial = Store(str(small_test / DATABASE)).current_trial(participant)
    assert trial.views == 3 and f'value="{trial.id}"' in again
    response = client.post("/answer", data={"trial": trial.id, "choice": "left", "response_ms": "2500"})
    assert response.status_code == 200  # the practice feedback
    assert Store(str(small_test / DATABASE)).trial(trial.id).choice == "left"


def test_answers_without_a_participant_and_odd_requests_are_never_a_500(small_test):
    app = create_app(str(small_test))
    client = app.test_client()
    assert (
        client.post("/answer", data={"trial": "1", "choice": "left", "response_ms": "5"}).status_code == 400
    )
    client.set_cookie(COOKIE, "not-a-participant-id-but-long-enough")
    assert (
        client.post("/answer", data={"trial": "1", "choice": "left", "response_ms": "5"}).status_code == 400
    )
    start(client)
    assert client.post("/answer", json={"trial": 1}).status_code == 400
    assert (
        client.post(
            "/answer", data="\xff\xfe garbage", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 400
    )
    assert client.post("/answer", data={"trial": "1" * 70000}).status_code == 413
    assert client.get("/answer").status_code == 405
    rng = random.Random(0)
    alphabet = "0123456789.-+eE_ ,;'\"\\/%\x00é∞leftright"
    for _ in range(200):
        form = {
            key: "".join(rng.choices(alphabet, k=rng.randrange(0, 12)))
            for key in ("trial", "choice", "response_ms")
        }
        assert client.post("/answer", data=form).status_code < 500, form


TRAVERSALS = [
    f"/image/../{DATABASE}",
    f"/image/..%2f{DATABASE}",
    f"/image/%2e%2e%2f{DATABASE}",
    f"/image/..%5c{DATABASE}",
    "/image/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/image/%2fetc%2fpasswd",
    "/image//etc/passwd",
    f"/image/{DATABASE}",
    f"/image/{IMAGES}/../{DATABASE}",
    "/results/image/..%2f1",
    "/results/image/-1",
    "/results/image/99999999999999999999999999",
    "/image/0123456789abcdef.png",  # well-formed but not one of the test's images
]


def test_image_urls_cannot_reach_other_files(small_test):
    orphan = small_test / IMAGES / "0123456789abcdef.png"
    shutil.copy(next((small_test / IMAGES).iterdir()), orphan)  # a file in images/ that is no stimulus
    client = create_app(str(small_test)).test_client()
    for url in TRAVERSALS:
        response = client.get(url)
        assert response.status_code in (308, 404), url
        assert b"SQLite format 3" not in response.data and b"root:" not in response.data, url
    real = Store(str(small_test / DATABASE)).image_of(1)
    assert client.get(f"/image/{real}").status_code == 200
    assert client.get("/results/image/1").status_code == 200
    with serving(small_test) as url:  # and over HTTP, where the raw path reaches the server unnormalised
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=10)
        for path in TRAVERSALS:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            assert response.status in (308, 400, 404), path
            assert b"SQLite format 3" not in body and b"root:" not in body, path
        connection.close()


# -- many participants at once over loopback ----------------------------------------------------------


def test_twenty_participants_at_once_every_answer_stored_exactly_once(methods, tmp_path):
    """20 participants answer as fast as they can for ~3 s; each answer is also sent twice at once."""
    make_test(tmp_path, methods, Settings(practice=2, trials=30, sanity_fraction=0.1, size=32))
    acknowledged, refused, errors = {}, [], []
    lock = threading.Lock()
    began = time.monotonic()
    deadline = began + 3.0

    def participant(number: int, url: str) -> None:
        session = requests.Session()
        try:
            session.post(f"{url}/start", allow_redirects=False, timeout=30).raise_for_status()
            for n in range(1000):
                page = session.get(f"{url}/trial", timeout=30).text
                if 'id="done"' in page or (time.monotonic() > deadline and n >= 3):  # 3 each at least
                    return
                trial = re.search(r'name="trial" id="trial" value="(\d+)"', page).group(1)
                form = {
                    "trial": trial,
                    "choice": random.choice(["left", "right"]),
                    "response_ms": f"{number}.{n:03d}",
                }
                replies = [None, None]

                def send(slot: int, form=form, replies=replies) -> None:
                    replies[slot] = session.post(
                        f"{url}/answer", data=form, allow_redirects=False, timeout=30
                    )

                twins = [threading.Thread(target=send, args=(slot,)) for slot in (0, 1)]
                for twin in twins:
                    twin.start()
                for twin in twins:
                    twin.join()
                statuses = sorted(reply.status_code for reply in replies)
                with lock:
                    if statuses[0] in (200, 303):
                        acknowledged[int(trial)] = (form["choice"], float(form["response_ms"]))
                    refused.extend(statuses[1:])
                    if statuses[0] not in (200, 303) or statuses[1] != 409:
                        errors.append((trial, statuses))
        except Exception as error:  # reported below, with the participant's number
            with lock:
                errors.append((number, repr(error)))

    with serving(tmp_path) as url:
        threads = [threading.Thread(target=participant, args=(number, url)) for number in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors[:5]
    store = Store(str(tmp_path / DATABASE))  # a restarted server reads the same file
    stored = {trial.id: (trial.choice, trial.response_ms) for trial in store.answered_trials()}
    assert stored == acknowledged  # every acknowledged answer, exactly as sent, and nothing else
    assert len(store._query("SELECT DISTINCT participant FROM trials WHERE choice IS NOT NULL")) == 20
    assert refused == [409] * len(acknowledged)  # each twin was refused, not counted twice
    assert len(acknowledged) >= 60, len(acknowledged)
    print(
        f"{len(acknowledged)} answers by 20 participants in {time.monotonic() - began:.1f} s, each sent twice"
    )


# -- one participant in a real browser ------------------------------------------------------------------


def browser():
    """Headless Debian chromium through Selenium; skipped when missing, except in CI (CI=true)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        webdriver = None
    if webdriver is None or not chromium or not driver:
        missing = (
            "selenium (pip install -e '.[humantest]')"
            if webdriver is None
            else "chromium and chromium-driver"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing} must be installed in CI (.ci/run installs them)")
        pytest.skip(f"needs {missing}: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=760,640"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_one_participant_in_a_real_browser(methods, tmp_path):
    """Practice with feedback, then test trials; the stored answers and fooling rates are the clicks made."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    settings = Settings(display_ms=1000, practice=2, trials=8, sanity_fraction=0.25)
    # The README's screenshots show the bundled preset beside the gray copies; the suite, two stand-ins.
    store = make_test(tmp_path, ["full_w05_cpu2h", methods[0]] if SCREENSHOTS else methods, settings)
    shots = pathlib.Path(SCREENSHOTS) if SCREENSHOTS else tmp_path / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    driver = browser()
    clicks, previous, waited = {}, None, None

    def next_trial_shown(driver) -> str | bool:
        """The id of a new trial once both of its photos are on screen (False until then)."""
        try:
            shown = "shown" in (driver.find_element(By.TAG_NAME, "body").get_attribute("class") or "")
            value = driver.find_element(By.ID, "trial").get_attribute("value")
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return shown and value != previous and value

    try:
        wait = WebDriverWait(driver, 20)
        with serving(tmp_path) as url:
            driver.get(url + "/")
            driver.find_element(By.ID, "start").click()
            for number in range(settings.practice + settings.trials):
                previous = wait.until(next_trial_shown)
                trial = store.trial(int(previous))
                assert trial.position == number
                left = driver.find_element(By.CSS_SELECTOR, "#choose-left img")
                assert left.is_displayed() and left.get_attribute("naturalWidth") == str(settings.size)
                if waited is None and trial.phase == "test" and trial.method == store.methods()[0]:
                    waited = trial.id  # its screenshot, then the photos vanish after the display time
                    driver.save_screenshot(str(shots / "trial.png"))
                    time.sleep(settings.display_ms / 1000 + 0.3)
                    assert not left.is_displayed()
                # The colorization every third trial, the real photo otherwise (and in the sanity trials).
                fooled = number % 3 == 0 and trial.method != SANITY
                other = "right" if trial.real_side == "left" else "left"
                side = other if fooled else trial.real_side
                driver.find_element(By.ID, f"choose-{side}").click()
                clicks[trial.id] = side
                if trial.phase == "practice":
                    verdict = wait.until(
                        expected_conditions.presence_of_element_located((By.ID, "verdict"))
                    ).text
                    assert verdict.startswith("Wrong" if fooled else "Right") and trial.real_side in verdict
                    driver.find_element(By.ID, "next").click()
            wait.until(expected_conditions.presence_of_element_located((By.ID, "done")))
            driver.set_window_size(760, 1180)
            driver.get(url + "/results")
            table = driver.find_element(By.ID, "rates").text
            driver.save_screenshot(str(shots / "results.png"))
    finally:
        driver.quit()
    answered = store.answered_trials()
    assert {trial.id: trial.choice for trial in answered} == clicks
    assert all(0 <= trial.response_ms < 60_000 for trial in answered)
    assert store.trial(waited).response_ms >= settings.display_ms  # clicked after the photos had gone
    expected = {}
    for trial in answered:
        if trial.phase == "test" and trial.method != SANITY:
            fooled, total = expected.get(trial.method, (0, 0))
            expected[trial.method] = (fooled + (clicks[trial.id] != trial.real_side), total + 1)
    summary = store.results()
    assert {rate.method: (rate.fooled, rate.trials) for rate in summary.everyone} == expected
    sanity = [trial for trial in answered if trial.method == SANITY]
    assert len(sanity) == settings.sanity_trials == 2
    assert summary.sanity_everyone == (2, 2)
    for rate in summary.everyone:
        assert f"{rate.method} {fooling.percent(rate.rate)} {rate.fooled} / {rate.trials} 1" in table, table
    for name in ("trial.png", "results.png"):  # small PNGs for the README
        Image.open(shots / name).convert("RGB").quantize(256).save(shots / name, optimize=True)


# -- the command line -------------------------------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess:
    """`keras-colorize humantest args...` as a user runs it (tests/test_cli.py's runner)."""
    return run_command("humantest", *args)


def one_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """A usage error: exit status 2 and one `error:` line with `words` (tests/test_cli.py's check)."""
    return one_usage_error(result, 2, *words)


def test_usage_errors_are_one_line(tmp_path):
    one_error(run(f"--output={tmp_path}", "--export=x.csv"), "holds no human test", "--photos and --models")
    one_error(run(f"--output={tmp_path}", "--models=gray"), "--photos is required")
    one_error(run(f"--output={tmp_path}", f"--photos={tmp_path}/none", "--models=x"), "is not a folder")
    one_error(run(f"--output={tmp_path}", f"--photos={PHOTOS}", "--models=a/x,b/x"), "must differ")
    result = run("--help")
    assert result.returncode == 0 and "--sanity_threshold" in result.stdout, result.stderr


@pytest.mark.slow
def test_the_command_colorizes_serves_restarts_and_exports(methods, tmp_path):
    """A tiny model and a folder of colorizations; a restart keeps the answers; --export and --gallery."""
    from fixtures.tiny import tiny_colorizer

    model = str(tmp_path / "tiny.keras")
    tiny_colorizer(work_size=64).save(model)
    flags = [
        f"--photos={PHOTOS}",
        f"--models={model},{methods[1]}",
        f"--output={tmp_path / 'test'}",
        "--port=0",
    ]
    flags += ["--practice=1", "--trials=4", "--sanity_fraction=0.25"]
    answered = []
    for _ in range(2):  # the second run goes on with the same test
        server = subprocess.Popen(
            [sys.executable, "-m", "keras_colorize.humantest", *flags],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=ENV,
        )
        try:
            lines = []
            for line in server.stdout:
                lines.append(line)
                if line.startswith("Serving the test on "):
                    break
            assert lines and lines[-1].startswith("Serving the test on "), "".join(lines)[-3000:]
            url = re.search(r"http://127\.0\.0\.1:\d+", lines[-1]).group(0)  # loopback by default
            session = requests.Session()
            session.post(f"{url}/start", timeout=30)
            for _ in range(5):
                trial = re.search(
                    r'id="trial" value="(\d+)"', session.get(f"{url}/trial", timeout=30).text
                ).group(1)
                reply = session.post(
                    f"{url}/answer", data={"trial": trial, "choice": "left", "response_ms": "300"}, timeout=30
                )
                assert reply.status_code == 200, reply.text
                answered.append(trial)
        finally:
            server.terminate()
            server.wait(timeout=30)
        assert "".join(lines).count("Going on with the test") == (len(answered) > 5), lines
    store = Store(str(tmp_path / "test" / DATABASE))
    assert len(store.answered_trials()) == 10 and store.methods() == ["tiny", "warm"]
    one_error(run(*flags[:-3], "--trials=5"), "holds a test made with other flags", "--trials=5")
    result = run(
        f"--output={tmp_path / 'test'}",
        f"--export={tmp_path / 'results.csv'}",
        f"--gallery={tmp_path / 'g.png'}",
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "results.csv").read_text(encoding="utf-8").splitlines()))
    assert [row["method"] for row in rows[:3]] == ["tiny", "warm", fooling.GROUND_TRUTH]
    assert sum(int(row["trials"]) for row in rows[:2]) == 2 * 3  # 4 test trials each, one of them sanity
    assert Image.open(tmp_path / "g.png").size[0] > 0
