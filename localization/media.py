"""Film media for a localisation job: cutting each line's span, the dialogue track, the mix and the mux.

Uses the project's PyAV helpers (``perception.video``: ``probe``, ``write_video``, ``mux_audio``, the same
ones ``dubber dub --mp4`` uses) and ``perception.audio.load_audio`` for the music-and-effects track.
Frame times follow ``perception.video.read_video``: output frame ``i`` shows the source frame on screen at
``i / fps`` (timestamps relative to the first frame), so a span cut here is the clip perception would read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ground.errors import BadInputError
from ground.files import replacing

log = logging.getLogger(__name__)


def film_info(video: str | Path) -> dict:
    """Duration and stream facts; a missing, empty or corrupt file is a ``BadInputError`` naming it."""
    from perception.video import probe

    info = probe(video)
    if not info["has_video"]:
        raise BadInputError("the file has no video stream", source=video)
    if not info["duration"] or info["duration"] <= 0:
        raise BadInputError("the video has no duration (empty or damaged)", source=video)
    return info


def frame_span(start_s: float, end_s: float, fps: float) -> tuple[int, int]:
    """The video frames [a, b) of a span (the rounding ``retrieval.extract`` uses for subtitle cuts)."""
    return int(round(start_s * fps)), max(int(round(end_s * fps)), int(round(start_s * fps)) + 1)


def cut_spans(
    video: str | Path,
    spans: dict[str, tuple[int, int]],
    out: Callable[[str], Path],
    fps: float,
    on_done: Callable[[str], None] = lambda _: None,
) -> None:
    """Decode the film once, front to back, and write each span's frames [a, b) as its own mp4 at
    ``out(line_id)`` (temporary name, then renamed). Only frames inside some span are converted to RGB."""
    import av

    from perception.video import _AV_ERRORS, write_video

    if not spans:
        return
    starts = sorted(spans.items(), key=lambda kv: kv[1][0])
    last = max(b for _, b in spans.values())
    pending = {k: [] for k in spans}
    written: set[str] = set()

    def emit(i: int, frame) -> None:
        rgb = None
        for key, (a, b) in starts:
            if a > i:
                break
            if key in written or i >= b:
                continue
            if rgb is None:
                rgb = frame.to_ndarray(format="rgb24")
            pending[key].append(rgb)
            if i == b - 1:
                flush(key)

    def flush(key: str) -> None:
        frames = pending.pop(key)
        path = out(key)
        with replacing(path) as tmp:
            write_video(tmp, np.stack(frames), fps, crf=18, preset="fast", threads=1)
        written.add(key)
        on_done(key)

    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            t0, prev, i = None, None, 0
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t0 = frame.time if t0 is None else t0
                t = frame.time - t0
                while prev is not None and i < last and i / fps < t - 1e-6:
                    emit(i, prev)
                    i += 1
                prev = frame
                if i >= last:
                    break
            while prev is not None and i < last:  # the last frame stays on screen to the end
                emit(i, prev)
                i += 1
    except _AV_ERRORS as exc:
        raise BadInputError(f"cannot decode the film ({type(exc).__name__}: {exc})", source=video) from exc
    for key in [k for k in pending if k not in written]:
        if pending[key]:
            flush(key)  # a span running past the last frame: what there is of it


def place_lines(total_samples: int, placed: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """The dialogue track: each line's audio added at its start sample (overlapping lines sum)."""
    track = np.zeros(total_samples, dtype=np.float32)
    for start, audio in placed:
        start = max(0, int(start))
        n = max(0, min(len(audio), total_samples - start))
        track[start : start + n] += audio[:n]
    return track


def mix(dialogue: np.ndarray, me: np.ndarray | None, dialogue_gain: float, me_gain: float) -> np.ndarray:
    """Dialogue over the (optional) music-and-effects track; scaled down only if it would clip."""
    out = dialogue * dialogue_gain
    if me is not None:
        bed = np.zeros_like(out)
        n = min(len(me), len(out))
        bed[:n] = me[:n] * me_gain
        out = out + bed
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return (out / peak * 0.99 if peak > 0.99 else out).astype(np.float32)


def load_me_track(path: str | Path, sample_rate: int) -> np.ndarray:
    """The music-and-effects track (any audio file, or a video's audio), mono at ``sample_rate``."""
    from perception.audio import load_audio

    return load_audio(path, sample_rate=sample_rate)


def write_dubbed(film: str | Path, audio: np.ndarray, sample_rate: int, out: Path) -> None:
    """The film's pictures, untouched, with ``audio`` as its only track (temporary name, then renamed)."""
    from perception.video import mux_audio

    with replacing(out) as tmp:
        mux_audio(film, audio, sample_rate, tmp)
