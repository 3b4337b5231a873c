"""Films (issue 14): the photo path per frame, smoothing along time, cuts, files, damage and resume.

The fixture film is made here from two fixture photos (tests/fixtures/film.py:
a pan and zoom, a hard cut, silent audio); the model is a tiny random
Colorizer, so every check is about the pipeline, not about colours.
"""

import doctest
import os
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction

import numpy as np
import pytest
from fixtures.extras import needs

av = needs("av", "video")
needs("cv2", "video")

from fixtures.film import colour_frames, make_film  # noqa: E402
from fixtures.tiny import tiny_colorizer  # noqa: E402

import keras_colorize as kc  # noqa: E402
from keras_colorize import command, decoding, metrics, temporal, video  # noqa: E402
from keras_colorize.video import FrameColorizer, VideoError, colorize_video, probe  # noqa: E402

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    return make_film(tmp_path_factory.mktemp("film") / "film.mp4", rotation=90)


@pytest.fixture(scope="module")
def colorizer():
    return tiny_colorizer("4block", seed=4, work_size=64)


@pytest.fixture(scope="module")
def colorized(film, colorizer, tmp_path_factory):
    """(the colorized fixture film, its report), in chunks of 8 frames, 4 per forward pass."""
    output = tmp_path_factory.mktemp("colorized") / "colour.mp4"
    return output, colorize_video(colorizer, film.path, output, chunk_frames=8, batch_size=4)


class NoisyNetwork:
    """A stand-in network (a `Colorizer.use_runtime` runner) whose distributions change at random from
    frame to frame, as a real network's do where two colours are nearly tied: it flickers. The same seed
    gives the same sequence of outputs."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def __call__(self, small: np.ndarray) -> np.ndarray:
        side = small.shape[1] // 4
        logits = 2.0 * self.rng.standard_normal((small.shape[0], side, side, 313)).astype("float32")
        probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return probs / probs.sum(axis=-1, keepdims=True)


def noisy(colorizer, seed: int = 0):
    """The colorizer's layers around a `NoisyNetwork`."""
    return colorizer.with_settings().use_runtime(NoisyNetwork(seed))


def decoded(path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame of a film as uint8 RGB, and its timestamps."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [f.to_ndarray(format="rgb24") for f in frames], [f.pts for f in frames]


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


@pytest.mark.parametrize("module", [command, decoding, metrics, temporal, video], ids=lambda m: m.__name__)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


def test_film_keeps_frames_rate_size_rotation_metadata_and_audio(film, colorized):
    output, report = colorized
    assert (report.frames, report.resumed_at, report.problem) == (film.frames, 0, None)
    before, after = probe(film.path), probe(output)
    assert (after.frames, after.width, after.height) == (film.frames, film.width, film.height)
    assert after.rate == before.rate == film.fps and after.rotation == before.rotation == 90
    assert after.audio_streams == 1
    frames, stamps = decoded(output)
    originals, original_stamps = decoded(film.path)
    assert len(frames) == film.frames and stamps == original_stamps  # every timestamp kept
    assert audio_packets(output) == audio_packets(film.path)  # copied, not re-encoded
    with av.open(str(output)) as container:
        assert container.metadata["title"] == "keras-colorize fixture film"
    # The output keeps each frame's own L (up to the codec): only ab is predicted.
    lightness = np.abs(metrics.lab_of(np.stack(frames))[..., 0] - metrics.lab_of(np.stack(originals))[..., 0])
    assert lightness.mean() < 2.0, lightness.mean()
    assert not os.path.exists(video.parts_folder(output))


def test_temporal_zero_is_the_photo_path(colorizer):
    frames, _ = colour_frames(64, 48, fps=4, seconds=2.0, cut_seconds=1.0)
    films = FrameColorizer(colorizer, temporal=0.0)(np.stack(frames))
    photos = colorizer.colorize(frames)
    for film_frame, photo in zip(films, photos, strict=True):
        difference = np.abs(film_frame.astype(int) - photo)
        assert difference.max() <= 1 and np.mean(difference > 0) <= 0.005


def test_frames_run_on_the_colorizers_runtime(colorizer, tmp_path):
    bf16 = kc.Colorizer.from_preset(colorizer.save_to_preset(tmp_path / "preset"), precision="bfloat16")
    assert bf16.runner.precision == "bfloat16"
    frames, _ = colour_frames(64, 48, fps=4, seconds=1.0, cut_seconds=1.0)
    films = FrameColorizer(bf16, temporal=0.0)(np.stack(frames))
    for film_frame, photo in zip(films, bf16.colorize(frames), strict=True):
        assert np.abs(film_frame.astype(int) - photo).max() <= 1


def test_smoothing_restarts_at_the_cut(colorizer):
    frames, cut = colour_frames(64, 48, fps=6, seconds=3.0, cut_seconds=2.0)
    frames = np.stack(frames)

    def run(strength: float, cut_threshold: float = temporal.DEFAULT_CUT_THRESHOLD):
        colorize = FrameColorizer(noisy(colorizer), strength, cut_threshold)
        out = np.concatenate([colorize(frames[i : i + 5]) for i in range(0, len(frames), 5)])  # cut mid-batch
        return out.astype(int), colorize.cuts

    independent, cuts = run(0.0)
    smoothed, smoothed_cuts = run(0.9)
    assert cuts == smoothed_cuts == [cut]
    # Smoothing changes the frames after the first of each shot ...
    assert np.abs(smoothed[cut - 1] - independent[cut - 1]).max() > 2
    # ... and none of the first shot reaches the first frame of the second.
    assert np.abs(smoothed[cut] - independent[cut]).max() <= 1
    carried, no_cuts = run(0.9, cut_threshold=1.0)  # the same film with cut detection off
    assert no_cuts == [] and np.abs(carried[cut] - independent[cut]).max() > 2


def test_smoothing_lowers_flicker_on_still_pixels(colorizer):
    frames, _ = colour_frames(64, 48, fps=6, seconds=2.0, cut_seconds=2.0)
    frames = np.stack(frames)
    lightness = metrics.lab_of(frames)[..., 0]

    def film_flicker(strength: float) -> float:
        ab = metrics.ab_of(FrameColorizer(noisy(colorizer), strength)(frames))
        sums = [metrics.flicker(ab[i], ab[i + 1], lightness[i], lightness[i + 1]) for i in range(len(ab) - 1)]
        return sum(s for s, _ in sums) / sum(n for _, n in sums)

    assert film_flicker(0.8) < 0.5 * film_flicker(0.0)


def test_decoded_ab_is_what_the_frames_are_made_of(colorizer):
    frames, _ = colour_frames(64, 48, fps=6, seconds=1.0, cut_seconds=1.0)
    frames = np.stack(frames)
    whole, parts = FrameColorizer(noisy(colorizer), 0.8), FrameColorizer(noisy(colorizer), 0.8)
    expected = np.concatenate([whole(frames[:3]), whole(frames[3:])])
    ab = np.concatenate([parts.decoded_ab(frames[:3]), parts.decoded_ab(frames[3:])])  # the state moves on
    assert ab.shape == (len(frames), 16, 16, 2) and parts.seen == whole.seen == len(frames)
    rendered = np.stack([parts.colorizer.finish(frame, ab[i : i + 1]) for i, frame in enumerate(frames)])
    np.testing.assert_array_equal(rendered, expected)


def test_flow_moves_the_state_with_the_pan(colorizer):
    frames, _ = colour_frames(64, 48, fps=6, seconds=1.0, cut_seconds=1.0)
    frames = np.stack(frames)
    plain, moving = FrameColorizer(noisy(colorizer), 0.8), FrameColorizer(noisy(colorizer), 0.8, flow=True)
    first, second = plain(frames[:4]), moving(frames[:4])
    np.testing.assert_array_equal(first[0], second[0])  # nothing to warp before the second frame
    assert np.abs(first[1:].astype(int) - second[1:]).max() > 2
    # The state after a batch carries what the next needs (the last frame's L for the flow).
    resumed = FrameColorizer(noisy(colorizer), 0.8, flow=True)
    resumed.restore(moving.state())
    resumed.colorizer.runner.rng = np.random.default_rng(1)
    moving.colorizer.runner.rng = np.random.default_rng(1)
    np.testing.assert_array_equal(resumed(frames[4:]), moving(frames[4:]))


def test_variable_frame_rate_keeps_its_timestamps(colorizer, tmp_path):
    frames, _ = colour_frames(64, 48, fps=12, seconds=2.0, cut_seconds=2.0)
    milliseconds = np.cumsum([0] + [120 if i % 3 == 0 else 40 for i in range(len(frames) - 1)])
    uneven = tmp_path / "uneven.mp4"
    with av.open(str(uneven), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for rgb, pts in zip(frames, milliseconds, strict=True):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = int(pts), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    output = tmp_path / "colour.mp4"
    report = colorize_video(colorizer, uneven, output, chunk_frames=7, batch_size=3)
    assert report.frames == len(frames)

    def seconds(path) -> list[float]:
        with av.open(str(path)) as container:
            return [round(float(f.pts * f.time_base), 3) for f in container.decode(video=0)]

    assert seconds(output) == seconds(uneven) == [m / 1000 for m in milliseconds]


def test_matroska_output_keeps_every_frame_across_chunks(film, colorizer, tmp_path):
    # Matroska stores no decode times: the first packets of each H.264 chunk come back without one.
    output = tmp_path / "colour.mkv"
    report = colorize_video(colorizer, film.path, output, chunk_frames=5, batch_size=4)
    frames, stamps = decoded(output)
    _, original_stamps = decoded(film.path)
    with av.open(str(output)) as container, av.open(str(film.path)) as source:
        seconds = np.array(stamps) * float(container.streams.video[0].time_base)
        original = np.array(original_stamps) * float(source.streams.video[0].time_base)
    assert report.frames == len(frames) == film.frames
    # Every frame at its time, up to Matroska's milliseconds and one constant shift (FFmpeg moves every
    # stream so that the audio's priming, -64 ms, is not negative).
    offset = seconds - original
    assert np.ptp(offset) <= 0.0015 and 0 <= offset[0] <= 0.07, offset
    assert audio_packets(output) == audio_packets(film.path)


def test_truncated_film_keeps_the_frames_before_the_damage(film, colorizer, tmp_path):
    data = film.path.read_bytes()
    damaged = tmp_path / "cut_off.mp4"
    damaged.write_bytes(data[: len(data) * 3 // 5])
    output = tmp_path / "colour.mp4"
    report = colorize_video(colorizer, damaged, output, chunk_frames=8)
    assert report.problem and ("truncated" in report.problem or "corrupt" in report.problem)
    assert 0 < report.frames < film.frames
    kept = probe(output)  # a valid file with those frames
    assert kept.frames == report.frames and kept.rate == film.fps
    assert len(decoded(output)[0]) == report.frames


def test_bad_inputs_and_settings_are_named(film, colorizer, tmp_path):
    garbage = tmp_path / "noise.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match=r"noise\.mp4: not a video FFmpeg can read"):
        colorize_video(colorizer, garbage, tmp_path / "out.mp4")
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4: no such file"):
        colorize_video(colorizer, tmp_path / "missing.mp4", tmp_path / "out.mp4")
    # A film whose video codec this FFmpeg has no decoder for: a Matroska file with an unknown CodecID.
    known = tmp_path / "known.mkv"
    with av.open(str(known), "w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    unknown = tmp_path / "unknown.mkv"
    unknown.write_bytes(known.read_bytes().replace(b"V_MPEG4/ISO/AVC", b"V_KERAS/NO/CODC"))
    with pytest.raises(VideoError, match=r"unknown\.mkv: its video codec is not supported \(no decoder"):
        colorize_video(colorizer, unknown, tmp_path / "out.mp4")
    with pytest.raises(VideoError, match="codec 'h266x' is not supported"):
        colorize_video(colorizer, film.path, tmp_path / "out.mp4", codec="h266x")
    with pytest.raises(VideoError, match="is the input"):
        colorize_video(colorizer, film.path, film.path)
    with pytest.raises(ValueError, match=r"temporal must be in \[0, 1\)"):
        colorize_video(colorizer, film.path, tmp_path / "out.mp4", temporal=1.0)
    l2 = tiny_colorizer("l2", seed=1, work_size=64)
    with pytest.raises(ValueError, match="l2 model predicts ab directly"):
        FrameColorizer(l2, temporal=0.5)
    assert not (tmp_path / "out.mp4").exists() and not os.path.exists(
        video.parts_folder(tmp_path / "out.mp4")
    )


class StoppedError(Exception):
    """Stands for a run stopped half-way (the kill itself is the slow test below)."""


def test_resume_after_an_interruption_gives_the_uninterrupted_film(film, colorizer, colorized, tmp_path):
    straight = colorized[0]

    failing = colorizer.with_settings()  # the same weights; its network stops in the third chunk
    calls = []

    def network(small):
        calls.append(len(small))
        if len(calls) == 5:
            raise StoppedError
        return colorizer.run_network(small)

    failing.run_network = network
    output = tmp_path / "resumed.mp4"
    with pytest.raises(StoppedError):
        colorize_video(failing, film.path, output, chunk_frames=8, batch_size=4)
    assert not output.exists()
    report = colorize_video(colorizer, film.path, output, chunk_frames=8, batch_size=4)
    assert (report.resumed_at, report.frames, report.cuts) == (16, film.frames, [film.cut])
    resumed_frames, resumed_stamps = decoded(output)
    straight_frames, straight_stamps = decoded(straight)
    assert resumed_stamps == straight_stamps
    np.testing.assert_array_equal(np.stack(resumed_frames), np.stack(straight_frames))


CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
from fixtures.tiny import tiny_colorizer
from keras_colorize.video import colorize_video

colorizer = tiny_colorizer("4block", seed=4, work_size=64)
network = colorizer.run_network
colorizer.run_network = lambda small: (time.sleep(0.3), network(small))[1]  # slow enough to be killed
colorize_video(colorizer, {film!r}, {output!r}, chunk_frames=4, batch_size=2)
"""


@pytest.mark.slow
def test_resume_after_kill_gives_the_uninterrupted_film(film, colorizer, tmp_path):
    output = tmp_path / "resumed.mp4"
    parts = video.parts_folder(output)
    script = textwrap.dedent(CHILD).format(tests=TESTS, film=str(film.path), output=str(output))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    chunks = []
    while time.monotonic() < deadline and child.poll() is None:
        chunks = (
            [n for n in os.listdir(parts) if n.endswith(".mp4") and n.startswith("chunk-")]
            if (os.path.isdir(parts))
            else []
        )
        if len(chunks) >= 2:
            break
        time.sleep(0.02)
    assert child.poll() is None, child.stderr.read().decode()[-3000:]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    child.stderr.close()
    assert not output.exists() and len(chunks) >= 2

    report = colorize_video(colorizer, film.path, output, chunk_frames=4, batch_size=2)
    assert report.resumed_at >= 8 and report.resumed_at % 4 == 0 and report.frames == film.frames
    assert report.cuts == [film.cut] and not os.path.exists(parts)

    straight = tmp_path / "straight.mp4"
    colorize_video(colorizer, film.path, straight, chunk_frames=4, batch_size=2)
    resumed_frames, resumed_stamps = decoded(output)
    straight_frames, straight_stamps = decoded(straight)
    assert resumed_stamps == straight_stamps
    difference = np.abs(np.stack(resumed_frames).astype(int) - np.stack(straight_frames))
    assert difference.mean() < 0.05, difference.mean()


@pytest.mark.slow
def test_video_command(film, tmp_path):
    preset = tiny_colorizer("4block", seed=4, work_size=64).save_to_preset(tmp_path / "preset")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "keras_colorize.cli", "video", f"--model={preset}", *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)

    output = tmp_path / "colour.mp4"
    done = run(f"--input={film.path}", f"--output={output}", "--chunk_frames=8")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{film.frames} frames, scene cuts at frames: {film.cut}" in done.stdout
    assert probe(output).frames == film.frames
    again = run(f"--input={film.path}", f"--output={output}")
    assert again.returncode == 0 and "already exists" in again.stdout

    data = film.path.read_bytes()
    damaged = tmp_path / "cut_off.mp4"
    damaged.write_bytes(data[: len(data) * 3 // 5])
    for args, status, words in [
        ([f"--input={damaged}", f"--output={tmp_path / 'partial.mp4'}"], 1, "is damaged"),
        ([f"--input={film.path}", f"--output={tmp_path / 'x.mp4'}", "--codec=h266x"], 2, "'h266x'"),
        ([f"--input={tmp_path / 'nothing.mp4'}", f"--output={tmp_path / 'x.mp4'}"], 2, "no such file"),
        ([f"--input={film.path}", f"--output={tmp_path / 'x.mp4'}", "--temporal=1"], 2, "--temporal"),
    ]:
        result = run(*args)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == status and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert len(errors) == 1 and words in errors[0], result.stderr[-3000:]
    assert probe(tmp_path / "partial.mp4").frames > 0
