"""Video and audio container I/O with PyAV (bundled ffmpeg: h264 + aac).

Everything downstream works on frames at one fixed rate (``MediaConfig.fps``), so ``read_video`` resamples
by timestamp instead of trusting the container's nominal rate: for every output time it takes the source
frame shown at (or just before) that time, the way a player would.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ground.config import get_config
from ground.errors import BadInputError
from perception.records import VideoClip

# av.FFmpegError covers corrupt data, unknown formats and I/O failures inside ffmpeg; the others are what
# PyAV raises around it for truncated or odd files.
_AV_ERRORS = (av.FFmpegError, EOFError, ValueError, IndexError, UnicodeDecodeError)


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise BadInputError("video file not found", source=path)
    if not path.is_file():
        raise BadInputError("not a regular file", source=path)
    if path.stat().st_size == 0:
        raise BadInputError("video file is empty (0 bytes)", source=path)
    try:
        return av.open(str(path), mode="r")
    except _AV_ERRORS as exc:
        raise BadInputError(
            f"cannot read this file as a video container ({type(exc).__name__}: {exc})",
            source=path,
            hint="expected an mp4, mkv, mov or webm file",
        ) from exc


def _stream_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def read_video(
    path: str | Path,
    fps: float | None = None,
    with_audio: bool = True,
    max_seconds: float | None = None,
) -> VideoClip:
    """Decode ``path`` into RGB frames at ``fps`` (default: config) and, optionally, its mono audio."""
    path = Path(path)
    fps = float(fps if fps is not None else get_config().media.fps)
    if fps <= 0:
        raise BadInputError(f"frame rate must be positive, got {fps}", source=path)
    if max_seconds is None:
        max_seconds = get_config().media.max_video_seconds
    container = _open_input(path)
    try:
        if not container.streams.video:
            raise BadInputError("the file has no video stream", source=path)
        vstream = container.streams.video[0]
        # A cheap early refusal from the header; the decode loop below checks real timestamps too.
        declared = _stream_duration(container, vstream)
        if declared is not None and declared > max_seconds + 1e-3:
            raise BadInputError(
                f"video is {declared:.1f} s long, more than the {max_seconds:g} s allowed",
                source=path,
                hint="cut it into shorter clips",
            )
        frames = _decode_resampled(container, vstream, fps, max_seconds, path)
        has_audio = bool(container.streams.audio)
    except _AV_ERRORS as exc:
        raise BadInputError(
            f"video data is corrupt or truncated ({type(exc).__name__}: {exc})", source=path
        ) from exc
    finally:
        container.close()
    if not frames:
        raise BadInputError("no video frame could be decoded", source=path)
    audio, sample_rate = (None, None)
    if with_audio and has_audio:
        audio, sample_rate = read_audio_track(path)
    return VideoClip(frames=np.stack(frames), fps=fps, source=str(path), audio=audio, sample_rate=sample_rate)


def _decode_resampled(
    container: av.container.InputContainer,
    vstream: av.stream.Stream,
    fps: float,
    max_seconds: float,
    path: Path,
) -> list[np.ndarray]:
    """Stream-decode and emit, for each output time k/fps, the source frame at or just before it.

    Only frames that are actually emitted are converted to RGB, so a 60 fps source read at 25 fps costs
    ~25 conversions per second, and memory holds only the output.
    """
    vstream.thread_type = "AUTO"  # frame threading: decoding is the slow part for big sources
    nominal = float(vstream.average_rate or vstream.guessed_rate or fps)
    # Timestamps are rounded to the stream time base (1 ms in mkv/webm): compare within half a tick.
    eps = max(1e-6, 0.5 * float(vstream.time_base or 0))
    out: list[np.ndarray] = []
    prev_frame: av.VideoFrame | None = None
    prev_t = 0.0
    t0: float | None = None
    deltas: list[float] = []
    index = 0
    for frame in container.decode(vstream):
        # Timestamps relative to the first frame, so containers with a start offset begin at 0.
        t_abs = frame.time if frame.time is not None else index / nominal
        index += 1
        if t0 is None:
            t0 = t_abs
        t = t_abs - t0
        if t >= max_seconds - eps:
            raise BadInputError(
                f"video is longer than the {max_seconds:g} s allowed",
                source=path,
                hint="cut it into shorter clips",
            )
        if prev_frame is not None:
            if t <= prev_t:  # duplicate/out-of-order timestamp (broken muxer): keep the newest picture
                prev_frame = frame
                continue
            deltas.append(t - prev_t)
            _emit_until(out, prev_frame, t - eps, fps)
        prev_frame, prev_t = frame, t
    if prev_frame is not None:
        # The last frame lasts one typical frame interval; the clip then holds round(duration * fps)
        # frames, so 1 s of 30 fps gives 25 frames at 25 fps whatever the timestamp rounding.
        step = float(np.median(deltas[-50:])) if deltas else 1.0 / nominal
        total = max(1, int(round((prev_t + step) * fps)))
        _emit_until(out, prev_frame, (total - 0.5) / fps, fps)
    return out


def _emit_until(out: list[np.ndarray], frame: av.VideoFrame, t_end: float, fps: float) -> None:
    """Append ``frame`` for every output time k/fps < t_end that is not covered yet."""
    rgb: np.ndarray | None = None
    while len(out) / fps < t_end:
        if rgb is None:
            rgb = frame.to_ndarray(format="rgb24")
        out.append(rgb)


def read_audio_track(path: str | Path) -> tuple[np.ndarray | None, int | None]:
    """The first audio stream as float32 mono at its native rate, or (None, None) if there is none."""
    path = Path(path)
    container = _open_input(path)
    try:
        if not container.streams.audio:
            return None, None
        astream = container.streams.audio[0]
        rate = int(astream.rate or astream.codec_context.sample_rate)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        for frame in container.decode(astream):
            for res in resampler.resample(frame):
                chunks.append(res.to_ndarray().reshape(-1))
        for res in resampler.resample(None):
            chunks.append(res.to_ndarray().reshape(-1))
        declared = _stream_duration(container, astream)
    except _AV_ERRORS as exc:
        raise BadInputError(f"audio track is corrupt ({type(exc).__name__}: {exc})", source=path) from exc
    finally:
        container.close()
    if not chunks:
        return None, None
    audio = np.clip(np.concatenate(chunks).astype(np.float32), -1.0, 1.0)
    # aac pads its last 1024-sample frame; the stream duration says how much of it is real audio.
    if declared is not None and declared > 0:
        audio = audio[: int(round(declared * rate))]
    return audio, rate


def _rate_fraction(fps: float) -> Fraction:
    # 29.97 -> 30000/1001; integral rates stay integral.
    return Fraction(fps).limit_denominator(1001)


def _even_pad(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even width and height: repeat the last row/column when odd."""
    h, w = frame.shape[:2]
    ph, pw = h % 2, w % 2
    if ph or pw:
        frame = np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return frame


def _add_aac_stream(container: av.container.OutputContainer, sample_rate: int) -> av.stream.Stream:
    astream = container.add_stream("aac", rate=int(sample_rate))
    astream.layout = "mono"
    astream.bit_rate = 96000
    return astream


def _encode_audio(
    container: av.container.OutputContainer, astream: av.stream.Stream, audio: np.ndarray, sample_rate: int
) -> None:
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2:  # (N, C) or (C, N): mix down to mono
        samples = samples.mean(axis=1 if samples.shape[0] > samples.shape[1] else 0)
    samples = np.clip(samples.reshape(-1), -1.0, 1.0)
    # The aac encoder wants planar float in 1024-sample frames: PyAV's encode() reframes and converts.
    block = 1024
    for start in range(0, len(samples), block):
        chunk = samples[start : start + block]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
        frame.sample_rate = int(sample_rate)
        frame.pts = start
        frame.time_base = Fraction(1, int(sample_rate))
        container.mux(astream.encode(frame))
    container.mux(astream.encode(None))


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    *,
    crf: int = 18,
    preset: str = "fast",
    threads: int = 0,
) -> None:
    """Write RGB uint8 frames (T, H, W, 3) as h264/yuv420p mp4, with optional mono aac audio.

    ``crf`` / ``preset`` are x264's quality and speed settings: crf 18 keeps small drawn faces crisp for
    landmark detection, ``fast`` keeps encoding cheap. ``threads=0`` lets x264 choose; pass 1 where one
    process per core already keeps the machine busy (corpus builds).
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (T, H, W, 3) array, got shape {frames.shape}")
    if audio is not None and not sample_rate:
        raise ValueError("sample_rate is required with audio")
    if frames.dtype != np.uint8:
        frames = np.clip(frames, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames.shape[1] + frames.shape[1] % 2, frames.shape[2] + frames.shape[2] % 2
    rate = _rate_fraction(fps)
    with av.open(str(path), mode="w", format="mp4") as container:
        vstream = container.add_stream("libx264", rate=rate)
        vstream.width, vstream.height = w, h
        vstream.pix_fmt = "yuv420p"
        vstream.options = {"crf": str(int(crf)), "preset": preset}
        vstream.codec_context.thread_count = max(0, int(threads))
        vstream.codec_context.time_base = 1 / rate
        astream = _add_aac_stream(container, sample_rate) if audio is not None else None
        for i, frame in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(_even_pad(np.ascontiguousarray(frame)), format="rgb24")
            vf.pts = i
            vf.time_base = 1 / rate
            container.mux(vstream.encode(vf))
        container.mux(vstream.encode(None))
        if astream is not None:
            _encode_audio(container, astream, audio, int(sample_rate))


def mux_audio(video_path: str | Path, audio: np.ndarray, sample_rate: int, out_path: str | Path) -> None:
    """Copy the video stream of ``video_path`` untouched and set ``audio`` as the only (aac) track."""
    video_path, out_path = Path(video_path), Path(out_path)
    if video_path.resolve() == out_path.resolve():
        raise ValueError("out_path must differ from video_path (the input is read while writing)")
    src = _open_input(video_path)
    try:
        if not src.streams.video:
            raise BadInputError("the file has no video stream", source=video_path)
        in_v = src.streams.video[0]
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(out_path), mode="w", format="mp4") as dst:
            out_v = dst.add_stream_from_template(in_v)
            astream = _add_aac_stream(dst, sample_rate)
            # Remux packets: no decode/encode, so the pictures are bit-identical to the input.
            for packet in src.demux(in_v):
                if packet.dts is None:  # the demuxer's final flush packet
                    continue
                packet.stream = out_v
                dst.mux(packet)
            _encode_audio(dst, astream, audio, int(sample_rate))
    except _AV_ERRORS as exc:
        raise BadInputError(
            f"cannot remux the video ({type(exc).__name__}: {exc})", source=video_path
        ) from exc
    finally:
        src.close()


def probe(path: str | Path) -> dict:
    """Container facts without decoding: duration (s), fps, width, height, has_audio, codec names."""
    path = Path(path)
    container = _open_input(path)
    try:
        info: dict = {
            "path": str(path),
            "format": container.format.name,
            "duration": (container.duration / av.time_base) if container.duration is not None else None,
            "has_video": bool(container.streams.video),
            "has_audio": bool(container.streams.audio),
            "fps": None,
            "width": None,
            "height": None,
            "video_codec": None,
            "audio_codec": None,
            "sample_rate": None,
            "audio_channels": None,
        }
        if container.streams.video:
            v = container.streams.video[0]
            rate = v.average_rate or v.guessed_rate
            info.update(
                fps=float(rate) if rate else None,
                width=int(v.codec_context.width),
                height=int(v.codec_context.height),
                video_codec=v.codec_context.name,
            )
            if info["duration"] is None:
                info["duration"] = _stream_duration(container, v)
        if container.streams.audio:
            a = container.streams.audio[0]
            info.update(
                audio_codec=a.codec_context.name,
                sample_rate=int(a.rate or 0) or None,
                audio_channels=int(a.codec_context.channels),
            )
    except _AV_ERRORS as exc:
        raise BadInputError(f"cannot probe the file ({type(exc).__name__}: {exc})", source=path) from exc
    finally:
        container.close()
    return info
