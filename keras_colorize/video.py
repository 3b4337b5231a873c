"""Colorize films: frames streamed through the photo path, log-probabilities smoothed along time.

Reading and writing use PyAV, whose wheels carry FFmpeg (the `video` extra:
`pip install -e ".[video]"` in the repository).

* The same maths as photos (`FrameColorizer`): each batch of frames goes
  through the Colorizer's own layers (working-size L, `run_network` on
  whatever runtime the Colorizer uses, the decoder, `finish` with the frame's
  own L at full resolution). Between the network and the decoder the
  per-pixel log-probabilities are smoothed along time and restarted at scene
  cuts (`keras_colorize.temporal`); optionally the state follows the motion
  (dense optical flow, OpenCV's Farneback).
* Bounded memory: frames are decoded, colorized and encoded a batch at a
  time; the film is never held in memory.
* Resume by chunks (`colorize_video`): the output is made in chunks of
  `chunk_frames` frames, each an encoded file in a `.<output name>.parts/`
  folder beside the output, written with the smoothing state after its last
  frame (each to a temporary name, then renamed). A run that is killed keeps
  its finished chunks; the next run with the same settings decodes the
  input up to the first missing chunk, restores the state and goes on, so
  the result is the one an uninterrupted run gives. At the end the chunks'
  packets are remuxed (not re-encoded) with the input's audio packets
  (copied, not re-encoded) into a temporary file that is renamed to the
  output, and the parts folder is removed.
* Kept from the input: the frame count, each frame's timestamp (so the
  frame rate, also a variable one), the size, the rotation (display matrix),
  the container's and the streams' metadata, and every audio stream.
  Subtitle and data streams are not copied.
* A corrupt or truncated input: the frames decoded before the problem are
  written as a valid output and `VideoReport.problem` says what went wrong.
"""

import dataclasses
import hashlib
import heapq
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
from keras import ops

from keras_colorize.checkpointing import atomic_write, atomic_write_json
from keras_colorize.choices import VIDEO_CHUNK_FRAMES, VIDEO_CODEC, VIDEO_CRF, VIDEO_PIX_FMT
from keras_colorize.colorizer import Colorizer
from keras_colorize.decoding import log_probabilities
from keras_colorize.layers import check_temperature
from keras_colorize.temporal import (
    DEFAULT_CUT_THRESHOLD,
    DEFAULT_TEMPORAL,
    histogram_distance,
    lightness_histograms,
    optical_flow,
    require_opencv,
    smooth,
    warp,
)

DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PIX_FMT = VIDEO_CODEC, VIDEO_CRF, VIDEO_PIX_FMT
DEFAULT_CHUNK_FRAMES = VIDEO_CHUNK_FRAMES
_CRF_CODECS = ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1")
_SUGGESTED_CODECS = ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "mpeg4")
_MUXER_TAGS = ("major_brand", "minor_version", "compatible_brands", "encoder")  # the muxer writes its own


class VideoError(ValueError):
    """A film that cannot be read or written; the message names the file and the problem."""


def require_av():
    """The `av` module (PyAV), or an ImportError that says how to install it.

    Example:

    >>> require_av().__name__
    'av'
    """
    try:
        import av
    except ImportError:
        raise ImportError('video needs PyAV (FFmpeg): pip install -e ".[video]" in the repository') from None
    return av


# -- the frames: the photo path with smoothing between network and decoder ---------------------


class FrameColorizer:
    """Colorize a film's frames in order, smoothing the log-probabilities along time.

    Call it on consecutive batches of frames (uint8 RGB [N, H, W, 3], one
    size); it keeps the smoothing state between calls. With `temporal=0`
    every frame is colorized exactly as `Colorizer.colorize` colorizes a
    photo.

    Args:
        colorizer: a `kc.Colorizer` (its runtime, e.g. bfloat16, runs the network).
        temporal: the smoothing strength s in [0, 1) (`temporal.smooth`); 0 is frame by frame.
        cut_threshold: the L-histogram distance (0..1) above which a frame starts a new shot
            and the smoothing restarts (`temporal.histogram_distance`).
        temperature: None (the colorizer's) or an annealed-mean temperature > 0.
        flow: move the state with the motion before each step (`temporal.optical_flow` between
            the working-size L of consecutive frames, `temporal.warp`; needs OpenCV).

    Example:

    >>> import numpy as np, keras_colorize as kc
    >>> from keras_colorize.video import FrameColorizer
    >>> frames = FrameColorizer(kc.Colorizer(kc.build_model("4block", width=0.125), work_size=64))
    >>> frames(np.zeros((3, 48, 64, 3), "uint8")).shape
    (3, 48, 64, 3)
    >>> frames(np.full((2, 48, 64, 3), 255, "uint8")).shape
    (2, 48, 64, 3)
    >>> frames.seen, frames.cuts
    (5, [3])
    """

    def __init__(
        self,
        colorizer: Colorizer,
        temporal: float = DEFAULT_TEMPORAL,
        cut_threshold: float = DEFAULT_CUT_THRESHOLD,
        temperature: float | None = None,
        flow: bool = False,
    ):
        if not 0.0 <= temporal < 1.0:
            raise ValueError(f"temporal must be in [0, 1) (0: frame by frame), got {temporal:g}")
        if temporal > 0 and colorizer.regression:
            raise ValueError(
                "temporal smoothing needs a model that predicts a distribution over the 313 bins; "
                "the l2 model predicts ab directly: use temporal 0"
            )
        if not 0.0 < cut_threshold <= 1.0:
            raise ValueError(f"cut threshold must be in (0, 1] (a histogram distance), got {cut_threshold:g}")
        temperature = colorizer.temperature if temperature is None else temperature
        check_temperature(temperature)
        if flow:
            require_opencv()
        self.colorizer = colorizer
        self.temporal = float(temporal)
        self.cut_threshold = float(cut_threshold)
        self.temperature = float(temperature)
        self.flow = bool(flow)
        self.seen = 0  # frames colorized so far
        self.cuts: list[int] = []  # frames (0-based) where a new shot started, after the first
        self._state = None  # smoothed log-probabilities [h, w, 313] after the last frame
        self._previous = None  # working-size L [1, s, s, 1] of the last frame

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Colorize the next frames: uint8 RGB [N, H, W, 3] -> uint8 RGB [N, H, W, 3]."""
        frames = np.asarray(frames)
        ab = self.decoded_ab(frames)
        return np.stack([self.colorizer.finish(frame, ab[i : i + 1]) for i, frame in enumerate(frames)])

    def decoded_ab(self, frames: np.ndarray):
        """The next frames' smoothed, decoded ab [N, h, w, 2] at the network's resolution.

        What `__call__` upsamples and recombines with each frame's own L; the
        smoothing state moves on by the frames, as in `__call__`. A film's
        flicker before it is rendered to 8-bit RGB and encoded (bench/video.py).

        Args:
            frames: uint8 RGB [N, H, W, 3], the frames after those seen so far.
        """
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 RGB [N, H, W, 3], got {frames.dtype} {frames.shape}")
        colorizer = self.colorizer
        small = colorizer.preprocessor.work_lightness(frames)
        before = ops.concatenate(
            [small[:1] if self._previous is None else self._previous, small[:-1]], axis=0
        )
        distances = histogram_distance(lightness_histograms(before), lightness_histograms(small))
        starts = ops.convert_to_numpy(distances) > self.cut_threshold
        starts[0] |= self._previous is None
        self.cuts += [self.seen + int(i) for i in np.flatnonzero(starts) if self.seen + i > 0]
        prediction = colorizer.run_network(small)
        temperatures = np.full((len(frames),), self.temperature, np.float32)
        if colorizer.regression:
            ab = colorizer.decoder(prediction)
        else:
            log_probs = log_probabilities(prediction)
            smoothed = []
            for i in range(len(frames)):  # along time: one step per frame, every pixel at once
                if starts[i] or self.temporal == 0:
                    self._state = log_probs[i]
                else:
                    if self.flow:
                        self._state = warp(self._state, self._state_flow(small[i], before[i]))
                    self._state = smooth(self._state, log_probs[i], self.temporal)
                smoothed.append(self._state)
            ab = colorizer.decoder.decode_log_probabilities(ops.stack(smoothed), temperatures)
        self._previous = small[-1:]
        self.seen += len(frames)
        return ab

    def _state_flow(self, current, previous) -> np.ndarray:
        """The flow between two frames' working-size L [s, s, 1], at the state's resolution [h, w, 2]."""
        flow = optical_flow(ops.convert_to_numpy(current)[..., 0], ops.convert_to_numpy(previous)[..., 0])
        rows, cols = self._state.shape[0], self._state.shape[1]
        factor = flow.shape[0] // rows  # the backbone's stride (4)
        return flow.reshape(rows, factor, cols, factor, 2).mean(axis=(1, 3)) / factor

    def state(self) -> dict[str, np.ndarray]:
        """What `restore` needs to go on after the last frame (NumPy arrays, for `np.savez`)."""
        empty = np.zeros((0,), np.float32)
        return {
            "seen": np.asarray(self.seen),
            "cuts": np.asarray(self.cuts, np.int64),
            "log_probs": empty if self._state is None else ops.convert_to_numpy(self._state),
            "previous": empty if self._previous is None else ops.convert_to_numpy(self._previous),
        }

    def restore(self, state: dict[str, np.ndarray]) -> None:
        """Go on from a `state()` (e.g. loaded back with `np.load`)."""
        self.seen = int(state["seen"])
        self.cuts = [int(i) for i in state["cuts"]]
        self._state = ops.convert_to_tensor(state["log_probs"]) if state["log_probs"].size else None
        self._previous = ops.convert_to_tensor(state["previous"]) if state["previous"].size else None


# -- files --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What `probe` reads of a film's first video stream.

    Attributes:
        width: pixels.
        height: pixels.
        frames: the frame count in the header (0 when the container has none).
        rate: the average frame rate (frames per second).
        time_base: the unit of the frames' timestamps (seconds).
        codec: the decoder's name.
        rotation: the display matrix's counter-clockwise rotation in degrees (0: none).
        audio_streams: the number of audio streams.
    """

    width: int
    height: int
    frames: int
    rate: Fraction
    time_base: Fraction
    codec: str
    rotation: int
    audio_streams: int


@dataclasses.dataclass
class VideoReport:
    """What `colorize_video` did.

    Attributes:
        frames: frames in the output.
        cuts: frames (0-based) where a new shot started and the smoothing restarted.
        resumed_at: the first frame colorized by this run (0: it started from the beginning).
        problem: None, or what was wrong with the input (corrupt or truncated after `frames` frames).
    """

    frames: int
    cuts: list[int]
    resumed_at: int
    problem: str | None = None


def _open_input(path: str):
    """(container, its first video stream) of a readable film, else VideoError / FileNotFoundError."""
    av = require_av()
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file; check the path")
    if os.path.isdir(path):
        raise VideoError(f"{path} is a folder; give one video file")
    try:
        container = av.open(path)
    except av.FFmpegError as error:
        raise VideoError(f"{path}: not a video FFmpeg can read ({_reason(error)})") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        container.close()
        raise VideoError(
            f"{path}: its video codec is not supported (no decoder in this FFmpeg, PyAV {av.__version__}); "
            "convert it to H.264 first"
        )
    return container, stream


def _reason(error) -> str:
    """FFmpeg's words for an error, without PyAV's errno and file name."""
    return getattr(error, "strerror", None) or str(error)


def probe(path: str | os.PathLike) -> VideoInfo:
    """The size, frame count, frame rate, time base, codec, rotation and audio streams of a film.

    Args:
        path: a video file.

    Raises:
        FileNotFoundError: no such file.
        VideoError: not a readable video (the message says why).

    Example: see `colorize_video`.
    """
    av = require_av()
    container, stream = _open_input(os.fspath(path))
    with container:
        rotation = 0
        try:
            first = next(container.decode(stream), None)
            rotation = round(first.rotation) if first is not None else 0
        except av.FFmpegError:
            pass  # the frame count and size are still known; colorize_video reports the damage
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            frames=int(stream.frames or 0),
            rate=Fraction(rate) if rate else Fraction(0),
            time_base=Fraction(stream.time_base),
            codec=stream.codec_context.name,
            rotation=rotation,
            audio_streams=len(container.streams.audio),
        )


def check_encoder(codec: str, crf: int, pix_fmt: str, width: int = 2, height: int = 2) -> None:
    """ValueError naming the problem unless FFmpeg can encode `codec` at `crf`, `pix_fmt` and the size.

    Args:
        codec: FFmpeg's encoder name.
        crf: the constant rate factor (checked for the codecs that take one).
        pix_fmt: the pixel format to encode.
        width: the frames' width.
        height: the frames' height.

    Example:

    >>> check_encoder("libx264", 18, "yuv420p", 854, 480)
    >>> check_encoder("h266x", 18, "yuv420p")
    Traceback (most recent call last):
    ...
    keras_colorize.video.VideoError: codec 'h266x' is not supported: this FFmpeg (PyAV ...) has no encoder ...
    """
    av = require_av()
    try:
        encoder = av.Codec(codec, "w")
    except ValueError:  # av.codec.codec.UnknownCodecError
        known = [name for name in _SUGGESTED_CODECS if name in av.codecs_available]
        raise VideoError(
            f"codec {codec!r} is not supported: this FFmpeg (PyAV {av.__version__}) has no encoder of that "
            f"name; use one of {', '.join(known)}"
        ) from None
    if encoder.type != "video":
        raise VideoError(f"codec {codec!r} encodes {encoder.type}, not video; use {DEFAULT_CODEC}")
    formats = [f.name for f in encoder.video_formats or ()]
    if formats and pix_fmt not in formats:
        raise VideoError(
            f"codec {codec!r} does not encode pix_fmt {pix_fmt!r}; it takes {', '.join(formats)}"
        )
    if codec in _CRF_CODECS and not 0 <= crf <= 51:
        raise VideoError(f"crf must be 0..51 (0 lossless, {DEFAULT_CRF} the default), got {crf}")
    if pix_fmt in ("yuv420p", "yuv422p", "nv12") and (width % 2 or height % 2):
        raise VideoError(
            f"{width}x{height}: pix_fmt {pix_fmt} needs an even width and height; use pix_fmt yuv444p"
        )


def parts_folder(output: str | os.PathLike) -> str:
    """Where `colorize_video` keeps the finished chunks of `output` until the whole film is done.

    Args:
        output: the film being made.

    Example:

    >>> parts_folder("/films/out.mp4")
    '/films/.out.mp4.parts'
    """
    directory, name = os.path.split(os.path.abspath(output))
    return os.path.join(directory, f".{name}.parts")


class _Decoder:
    """The input's frames in order as (index, uint8 RGB, timestamp); `problem` says why it stopped early."""

    def __init__(self, container, stream, info: VideoInfo):
        self.container, self.stream, self.info = container, stream, info
        self.problem: str | None = None
        self.count = 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray, int]]:
        av = require_av()
        step = 1 / (self.info.rate * self.info.time_base) if self.info.rate else 1
        try:
            for frame in self.container.decode(self.stream):
                pts = frame.pts if frame.pts is not None else round(self.count * step)
                yield self.count, frame.to_ndarray(format="rgb24"), pts
                self.count += 1
        except av.FFmpegError as error:
            self.problem = f"corrupt after frame {self.count} ({_reason(error)})"
            return
        if self.info.frames and self.count < self.info.frames:
            self.problem = f"truncated: {self.count} of the {self.info.frames} frames its header lists"


class _ChunkWriter:
    """One chunk of the output, encoded into a file of the output's container format.

    Its timestamps start at 0 (a container such as MP4 stores a later start
    in an edit list at millisecond precision, which would move the frames);
    `start` is the first frame's time in the film, in seconds, added back by
    `_assemble`.
    """

    def __init__(self, path: str, info: VideoInfo, codec: str, crf: int, pix_fmt: str):
        av = require_av()
        self.path = path
        self.container = av.open(path, "w")
        self.stream = self.container.add_stream(codec, rate=info.rate or None)
        self.stream.width, self.stream.height, self.stream.pix_fmt = info.width, info.height, pix_fmt
        self.stream.time_base = self.stream.codec_context.time_base = info.time_base
        if codec in _CRF_CODECS:
            self.stream.options = {"crf": str(crf)}
        self.time_base = info.time_base
        self.first_pts: int | None = None

    @property
    def start(self) -> Fraction:
        return (self.first_pts or 0) * self.time_base

    def write(self, rgb: np.ndarray, pts: int) -> None:
        av = require_av()
        if self.first_pts is None:
            self.first_pts = pts
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts - self.first_pts, self.time_base
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


def _settings_key(colorizer: Colorizer, input_path: str, frames: FrameColorizer, encoding: dict) -> dict:
    """What must match for a run to resume another's chunks: the input file, the model, every setting."""
    stat = os.stat(input_path)
    weights = hashlib.sha256()  # the weights themselves: layer names differ from process to process
    for array in colorizer.backbone.get_weights():
        weights.update(np.ascontiguousarray(array).tobytes())
    runner = colorizer.runner
    return {
        "input": os.path.abspath(input_path),
        "input_size": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "weights": weights.hexdigest(),
        "variant": f"{colorizer.backbone.variant} x{colorizer.backbone.width}",
        "work_size": colorizer.work_size,
        "decoding": colorizer.decoding,
        "runtime": None if runner is None else f"{type(runner).__name__} {getattr(runner, 'precision', '')}",
        "temporal": frames.temporal,
        "cut_threshold": frames.cut_threshold,
        "temperature": frames.temperature,
        "flow": frames.flow,
        **encoding,
    }


def _finished_chunks(parts: str, settings: dict, extension: str) -> int:
    """How many chunks (from the first on, with the state after the last) an earlier run left for these
    settings; other runs' parts are removed."""
    try:
        with open(os.path.join(parts, "settings.json"), encoding="utf-8") as file:
            same = json.load(file) == settings
    except (OSError, ValueError):
        same = False
    if not same:
        shutil.rmtree(parts, ignore_errors=True)
        os.makedirs(parts)
        atomic_write_json(os.path.join(parts, "settings.json"), settings)
        return 0
    done = 0
    while os.path.exists(os.path.join(parts, f"chunk-{done:06d}{extension}")):
        done += 1
    while done and not os.path.exists(os.path.join(parts, f"state-{done - 1:06d}.npz")):
        done -= 1
    return done


def colorize_video(
    colorizer: Colorizer,
    input: str | os.PathLike,
    output: str | os.PathLike,
    temporal: float = DEFAULT_TEMPORAL,
    cut_threshold: float = DEFAULT_CUT_THRESHOLD,
    temperature: float | None = None,
    flow: bool = False,
    codec: str = DEFAULT_CODEC,
    crf: int = DEFAULT_CRF,
    pix_fmt: str = DEFAULT_PIX_FMT,
    batch_size: int = 8,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    progress: bool = False,
) -> VideoReport:
    """Colorize a film file into another, resuming an interrupted run with the same settings.

    Args:
        colorizer: a `kc.Colorizer` (e.g. `Colorizer.from_preset()`, any runtime and precision).
        input: a video file FFmpeg reads (the colours it has are ignored: only L is used).
        output: the colorized film; its extension chooses the container (.mp4, .mkv, .mov, ...).
        temporal: the smoothing strength in [0, 1) (0: frame by frame).
        cut_threshold: the L-histogram distance that starts a new shot.
        temperature: None (the colorizer's) or an annealed-mean temperature > 0.
        flow: move the smoothing state with the motion (optical flow; needs OpenCV).
        codec: the video encoder (FFmpeg's name; H.264 by default).
        crf: the constant rate factor of x264 / x265 / VP9 / AV1 (lower is better and larger).
        pix_fmt: the encoded pixel format.
        batch_size: frames per forward pass (memory grows with it, not with the film).
        chunk_frames: frames per resumable chunk (an interruption loses at most one chunk's work).
        progress: show a progress bar with frames/s and ETA (drawn only on a terminal).

    Returns:
        A `VideoReport`; `problem` is set when the input was corrupt or truncated (the frames before the
        problem are in the output).

    Raises:
        FileNotFoundError: no input file.
        VideoError: an unreadable input, an unknown codec, or an output that would replace the input.
        ValueError: a bad setting.

    Example (a 6-frame film, a tiny random network; `Colorizer.from_preset()` for real colours):

    >>> import av, numpy as np, keras_colorize as kc
    >>> with av.open("film.mp4", "w") as film:
    ...     stream = film.add_stream("libx264", rate=24)
    ...     stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    ...     for i in range(6):
    ...         frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, "uint8"), format="rgb24")
    ...         frame.pts = i
    ...         film.mux(stream.encode(frame))
    ...     film.mux(stream.encode(None))
    >>> colorizer = kc.Colorizer(kc.build_model("4block", width=0.125), work_size=64)
    >>> colorize_video(colorizer, "film.mp4", "film_color.mp4", temporal=0.5)
    VideoReport(frames=6, cuts=[...], resumed_at=0, problem=None)
    >>> info = probe("film_color.mp4")
    >>> info.frames, info.rate, (info.width, info.height)
    (6, Fraction(24, 1), (64, 48))
    """
    input_path, output_path = os.fspath(input), os.fspath(output)
    if batch_size < 1 or chunk_frames < 1:
        raise ValueError(f"batch_size and chunk_frames must be >= 1, got {batch_size} and {chunk_frames}")
    frames = FrameColorizer(colorizer, temporal, cut_threshold, temperature, flow)
    info = probe(input_path)
    if os.path.exists(output_path) and os.path.samefile(input_path, output_path):
        raise VideoError(f"{output_path} is the input; choose another output")
    check_encoder(codec, crf, pix_fmt, info.width, info.height)
    extension = os.path.splitext(output_path)[1].lower() or ".mp4"
    encoding = {"codec": codec, "crf": crf, "pix_fmt": pix_fmt, "chunk_frames": chunk_frames}
    parts = parts_folder(output_path)
    done = _finished_chunks(parts, _settings_key(colorizer, input_path, frames, encoding), extension)
    start = done * chunk_frames
    if done:
        with np.load(os.path.join(parts, f"state-{done - 1:06d}.npz")) as state:
            frames.restore(dict(state))
    container, stream = _open_input(input_path)
    with container:
        decoder = _Decoder(container, stream, info)
        _colorize_chunks(frames, decoder, parts, extension, start, info, encoding, batch_size, progress)
    chunks = sorted(
        name for name in os.listdir(parts) if name.startswith("chunk-") and name.endswith(extension)
    )
    if not chunks:
        raise VideoError(f"{input_path}: no frame could be decoded ({decoder.problem or 'empty'})")
    _assemble([os.path.join(parts, name) for name in chunks], input_path, output_path, info)
    shutil.rmtree(parts, ignore_errors=True)
    return VideoReport(frames.seen, list(frames.cuts), start, decoder.problem)


def _colorize_chunks(
    frames: FrameColorizer,
    decoder: _Decoder,
    parts: str,
    extension: str,
    start: int,
    info: VideoInfo,
    encoding: dict,
    batch_size: int,
    progress: bool,
) -> None:
    """Decode, colorize and encode from frame `start` on, a batch at a time, one chunk file per
    `chunk_frames` frames, each with the smoothing state after its last frame."""
    chunk_frames = encoding["chunk_frames"]
    bar = _progress_bar(info.frames, start) if progress else None
    began, writer, batch = time.perf_counter(), None, []

    def flush() -> None:
        nonlocal writer
        if not batch:
            return
        first = batch[0][0]
        if writer is None:
            chunk = first // chunk_frames
            writer = _ChunkWriter(
                os.path.join(parts, f".tmp-chunk-{chunk:06d}{extension}"),
                info,
                encoding["codec"],
                encoding["crf"],
                encoding["pix_fmt"],
            )
        for (_, _, pts), rgb in zip(batch, frames(np.stack([rgb for _, rgb, _ in batch])), strict=True):
            writer.write(rgb, pts)
        last = batch[-1][0]
        batch.clear()
        if bar is not None:
            elapsed = max(time.perf_counter() - began, 1e-9)
            bar.update(last + 1, values=[("frames/s", (last + 1 - start) / elapsed)])
        if (last + 1) % chunk_frames == 0:
            _close_chunk(writer, frames, parts, last // chunk_frames, extension)
            writer = None

    for index, rgb, pts in decoder:
        if index < start:
            continue  # done by an earlier run
        batch.append((index, rgb, pts))
        if len(batch) == batch_size or (index + 1) % chunk_frames == 0:
            flush()
    flush()
    if writer is not None:
        _close_chunk(writer, frames, parts, (frames.seen - 1) // chunk_frames, extension)
    if bar is not None and frames.seen != info.frames:
        print()  # the bar ends its line itself only when it reaches the header's frame count


def _close_chunk(writer: _ChunkWriter, frames: FrameColorizer, parts: str, chunk: int, extension: str):
    """Finish a chunk: its start time and the smoothing state first, then the chunk's rename (a chunk file
    is always complete, with its start and state); the previous state is no longer needed."""
    writer.close()
    name = os.path.join(parts, f"chunk-{chunk:06d}")
    atomic_write_json(f"{name}.json", {"start_seconds": str(writer.start)})
    state = frames.state()
    atomic_write(os.path.join(parts, f"state-{chunk:06d}.npz"), lambda path: np.savez(path, **state))
    os.replace(writer.path, f"{name}{extension}")
    previous = os.path.join(parts, f"state-{chunk - 1:06d}.npz")
    if os.path.exists(previous):
        os.remove(previous)


def _progress_bar(total: int, start: int):
    """A Keras progress bar with frames/s and ETA on a terminal, else None."""
    if not sys.stdout.isatty():
        return None
    import keras

    bar = keras.utils.Progbar(total or None, unit_name="frame", stateful_metrics=["frames/s"])
    bar.update(start)
    return bar


def _packets(path: str, kind: str) -> Iterator[tuple[int, object]]:
    """(stream index, packet) of one kind of stream of a file, in file order; stops at damage (a corrupt
    input's audio ends where it is unreadable). Matroska stores no decode times: its first packets of
    a film with B-frames come with a pts and no dts."""
    av = require_av()
    with av.open(path) as container:
        streams = [s for s in container.streams if s.type == kind]
        if not streams:
            return
        try:
            for packet in container.demux(streams):
                if packet.size:  # not the demuxer's flush packets
                    yield streams.index(packet.stream), packet
        except av.FFmpegError:
            return


def _timed(packets: Iterator[tuple[int, object]], kind: int) -> Iterator[tuple[float, int, int, object]]:
    """(decode time in seconds, kind, stream index, packet): what `_assemble` interleaves by."""
    for index, packet in packets:
        time = packet.pts if packet.dts is None else packet.dts
        yield float((time or 0) * packet.time_base), kind, index, packet


def _chunk_packets(chunks: list[str]) -> Iterator[tuple[int, object]]:
    """The video packets of every chunk in order, at their times in the film, decode times always going
    forward (what muxers require)."""
    last = None

    def forward(packet) -> None:
        nonlocal last
        if last is not None and packet.dts <= last:  # a variable frame rate's B-frame delay overlapping
            packet.dts = last + 1
            packet.pts = max(packet.pts, packet.dts)
        last = packet.dts

    for chunk in chunks:
        with open(f"{os.path.splitext(chunk)[0]}.json", encoding="utf-8") as file:
            start = Fraction(json.load(file)["start_seconds"])
        waiting = []  # Matroska: packets before the first with a decode time (the B-frame delay)
        for index, packet in _packets(chunk, "video"):
            shift = round(start / packet.time_base)
            packet.pts += shift
            if packet.dts is None:
                waiting.append((index, packet))
                continue
            packet.dts += shift
            for k, (_, early) in enumerate(waiting):  # just before the first known decode time
                early.dts = packet.dts - (len(waiting) - k)
            for early_index, early in [*waiting, (index, packet)]:
                forward(early)
                yield early_index, early
            waiting = []
        for index, packet in waiting:  # no packet had a decode time: decode in presentation order
            packet.dts = packet.pts
            forward(packet)
            yield index, packet


def _assemble(chunks: list[str], input_path: str, output_path: str, info: VideoInfo) -> None:
    """Remux the chunks' video and the input's audio into `output_path` (written to a temporary name)."""
    av = require_av()

    def write(temporary: str) -> None:
        with av.open(chunks[0]) as first, av.open(input_path) as source, av.open(temporary, "w") as out:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            if info.rotation:
                video.set_display_rotation(info.rotation)
            video.metadata.update(
                {k: v for k, v in source.streams.video[0].metadata.items() if k not in _MUXER_TAGS}
            )
            audio = []
            for stream in source.streams.audio:
                copy = out.add_stream_from_template(stream)
                copy.metadata.update(stream.metadata)
                audio.append(copy)
            out.metadata.update({k: v for k, v in source.metadata.items() if k not in _MUXER_TAGS})
            extradata = template.codec_context.extradata
            for chunk in chunks[1:]:
                with av.open(chunk) as other:
                    if other.streams.video[0].codec_context.extradata != extradata:
                        raise VideoError(f"{chunk}: encoded with other parameters; remove {chunk} and rerun")
            merged = heapq.merge(
                _timed(_chunk_packets(chunks), 0),
                _timed(_packets(input_path, "audio"), 1),
                key=lambda item: (item[0], item[1]),
            )
            for _, kind, index, packet in merged:
                packet.stream = video if kind == 0 else audio[index]
                out.mux(packet)

    atomic_write(output_path, write)
