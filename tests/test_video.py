"""Video I/O round trips with real PyAV encoding/decoding (no mocks)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from ground.errors import BadInputError
from perception.video import mux_audio, probe, read_video, write_video

SR = 16000


def _tone(freq: float, seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _dominant_freq(audio: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1.0 / sr)[np.argmax(spec)])


def _numbered_frames(count: int, h: int = 64, w: int = 96) -> np.ndarray:
    """Flat frames whose grey level encodes the frame index (index * 4), easy to identify after h264."""
    frames = np.zeros((count, h, w, 3), dtype=np.uint8)
    for i in range(count):
        frames[i] = min(255, i * 4)
    return frames


def test_round_trip_with_audio(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 255, (1, 8, 12, 3), dtype=np.uint8), 8, axis=1).repeat(8, axis=2)
    frames = np.repeat(frames, 50, axis=0)  # 2 s at 25 fps of blocky content
    frames[:, 10:20, :, :] = np.arange(50, dtype=np.uint8)[:, None, None, None] * 5
    audio = _tone(440, 2.0)
    path = tmp_path / "clip.mp4"
    write_video(path, frames, 25, audio=audio, sample_rate=SR)

    clip = read_video(path)
    assert clip.frames.shape == frames.shape and clip.frames.dtype == np.uint8
    assert clip.fps == 25
    # Lossy h264 with 4:2:0 chroma: close on average, and the per-frame band proves the order is kept.
    assert np.abs(clip.frames.astype(int) - frames.astype(int)).mean() < 8
    assert np.abs(clip.frames[:, 15, 40, 0].astype(int) - np.arange(50) * 5).max() <= 4
    assert clip.sample_rate == SR
    assert clip.audio is not None and clip.audio.dtype == np.float32
    assert abs(len(clip.audio) - len(audio)) < SR * 0.05
    n = min(len(audio), len(clip.audio))
    assert np.corrcoef(clip.audio[:n], audio[:n])[0, 1] > 0.95  # aligned, not just the same length

    info = probe(path)
    assert info["has_audio"] and info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert (info["width"], info["height"]) == (96, 64)
    assert info["fps"] == pytest.approx(25.0)
    assert info["duration"] == pytest.approx(2.0, abs=0.1)

    silent = read_video(path, with_audio=False)
    assert silent.audio is None and silent.sample_rate is None


def test_odd_size_is_padded(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    write_video(path, np.full((5, 33, 41, 3), 128, dtype=np.uint8), 25)
    clip = read_video(path)
    assert clip.frames.shape == (5, 34, 42, 3)


def test_30fps_input_is_resampled_to_25(tmp_path: Path) -> None:
    path = tmp_path / "thirty.mp4"
    write_video(path, _numbered_frames(60), 30)  # 2 s at 30 fps
    assert probe(path)["fps"] == pytest.approx(30.0)
    clip = read_video(path, fps=25)
    assert clip.num_frames == 50
    assert clip.duration == pytest.approx(2.0)
    # Output frame k shows the source frame at or just before k/25 s: index floor(k * 30 / 25).
    got = clip.frames[:, 32, 48, 0].astype(int)
    expected = np.minimum(255, (np.arange(50) * 30 // 25) * 4)
    assert np.abs(got - expected).max() <= 3


def test_24fps_input_is_resampled_to_25(tmp_path: Path) -> None:
    path = tmp_path / "film.mp4"
    write_video(path, _numbered_frames(48), 24)
    clip = read_video(path, fps=25)
    assert clip.num_frames == 50
    got = clip.frames[:, 32, 48, 0].astype(int)
    expected = np.minimum(255, (np.arange(50) * 24 // 25) * 4)
    assert np.abs(got - expected).max() <= 3


def test_mkv_with_millisecond_timestamps(tmp_path: Path) -> None:
    # Matroska stores times in ms (30 fps -> 33/67/100 ms...): 1 s must still give exactly 25 frames.
    path = tmp_path / "clip.mkv"
    with av.open(str(path), "w", format="matroska") as c:
        stream = c.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            c.mux(stream.encode(frame))
        c.mux(stream.encode(None))
    clip = read_video(path, fps=25)
    assert clip.num_frames == 25
    got = clip.frames[:, 24, 32, 0].astype(int)
    assert np.abs(got - (np.arange(25) * 30 // 25) * 8).max() <= 4


def test_mux_audio_replaces_audio_and_keeps_frames(tmp_path: Path) -> None:
    src = tmp_path / "src.mp4"
    out = tmp_path / "dubbed.mp4"
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (40, 48, 64, 3), dtype=np.uint8)
    write_video(src, frames, 25, audio=_tone(440, 1.6), sample_rate=SR)
    mux_audio(src, _tone(1000, 1.6, 22050), 22050, out)

    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1 and len(c.streams.video) == 1
    before, after = read_video(src), read_video(out)
    # Remuxed, not re-encoded: decoded pictures are bit-identical.
    assert np.array_equal(before.frames, after.frames)
    assert after.sample_rate == 22050
    assert after.audio is not None
    assert _dominant_freq(after.audio, 22050) == pytest.approx(1000, abs=15)


def test_max_seconds_is_enforced(tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    write_video(path, _numbered_frames(50), 25)
    with pytest.raises(BadInputError, match="long.mp4"):
        read_video(path, max_seconds=0.5)


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage", "truncated", "audio_only"])
def test_bad_files_raise_bad_input_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}_input.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        good = tmp_path / "good.mp4"
        write_video(good, _numbered_frames(25), 25)
        path.write_bytes(good.read_bytes()[:1500])
    elif kind == "audio_only":
        with av.open(str(path), "w", format="mp4") as c:
            stream = c.add_stream("aac", rate=SR)
            stream.layout = "mono"
            frame = av.AudioFrame.from_ndarray(_tone(300, 0.5)[None, :], format="flt", layout="mono")
            frame.sample_rate = SR
            c.mux(stream.encode(frame))
            c.mux(stream.encode(None))
    with pytest.raises(BadInputError) as err:
        read_video(path)
    assert str(path) in str(err.value)
    assert err.value.source == str(path)
