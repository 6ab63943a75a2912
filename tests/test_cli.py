"""The `dubber` command as a user meets it: help, the perception summary, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from tests.conftest import run_dubber


def test_help_lists_every_command_with_one_line():
    res = run_dubber("--help")
    assert res.returncode == 0
    for name in ("demo", "perceive", "corpus"):
        lines = [ln for ln in res.stdout.splitlines() if ln.strip().startswith(name + " ")]
        assert lines, f"{name} missing from --help"


def test_perceive_json_summary_of_a_speaking_clip(speaking_clip):
    res = run_dubber(
        "perceive",
        str(speaking_clip / "video.mp4"),
        "--audio",
        str(speaking_clip / "audio.wav"),
        "--text-file",
        str(speaking_clip / "line.txt"),
        "--json",
    )
    assert res.returncode == 0, res.stderr
    s = json.loads(res.stdout)
    meta = json.loads((speaking_clip / "meta.json").read_text())
    assert s["frames"] == meta["num_frames"]
    assert s["face"]["share"] >= 0.98
    assert s["lips"]["inner_opening"]["max"] > s["lips"]["inner_opening"]["min"]
    assert abs(sum(s["expression"]["probabilities"].values()) - 1) < 0.01
    assert 0 <= s["scene"]["brightness_mean"] <= 1
    assert s["audio"]["voiced_share"] > 0.2 and s["audio"]["egemaps_count"] == 88
    assert s["audio"]["has_speaker_embedding"]
    # The drawn mouth is driven by the speech: opening and loudness move together, in sync.
    assert s["av_sync"]["lip_loudness_correlation"] > 0.5
    assert abs(s["av_sync"]["offset_frames"]) <= 1
    assert s["text"]["num_phonemes"] > 20 and "never" in s["text"]["normalised"]


def _assert_one_line_error(res, *fragments: str) -> None:
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    err_lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(err_lines) == 1, res.stderr
    for f in fragments:
        assert f in err_lines[0], err_lines[0]


def test_corrupt_video_is_one_line_error(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    _assert_one_line_error(run_dubber("perceive", str(bad)), "broken.mp4")


def test_empty_and_missing_video(tmp_path):
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    _assert_one_line_error(run_dubber("perceive", str(empty)), "empty.mkv")
    _assert_one_line_error(run_dubber("perceive", str(tmp_path / "nope.mp4")), "nope.mp4")


def test_clip_without_a_face(tmp_path):
    from perception.video import write_video

    rng = np.random.default_rng(0)
    frames = (rng.random((20, 96, 96, 3)) * 60).astype(np.uint8)
    path = tmp_path / "noface.mp4"
    write_video(path, frames, 25.0)
    _assert_one_line_error(run_dubber("perceive", str(path)), "noface.mp4", "no face")


def test_silent_and_empty_audio(speaking_clip, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 2, np.float32), 16000)
    video = str(speaking_clip / "video.mp4")
    _assert_one_line_error(run_dubber("perceive", video, "--audio", str(silent)), "silent.wav", "silent")
    empty = tmp_path / "zero.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    _assert_one_line_error(run_dubber("perceive", video, "--audio", str(empty)), "zero.wav")


def test_line_that_is_not_utf8(speaking_clip, tmp_path):
    bad = tmp_path / "line.txt"
    bad.write_bytes(b"caf\xe9 au lait")
    res = run_dubber("perceive", str(speaking_clip / "video.mp4"), "--text-file", str(bad))
    _assert_one_line_error(res, "line.txt", "UTF-8")
