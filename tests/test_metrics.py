"""evaluation: WER (with Whisper tiny.en), SECS, MCD-DTW-SL, audio-visual sync, duration error."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from evaluation.mcd import dtw_path, mcd_details, mcd_dtw_sl
from evaluation.text_norm import normalise_for_wer
from evaluation.wer import WhisperTranscriber, wer_of, word_error_rate, word_errors
from perception.audio import load_audio, loudness_envelope
from perception.speaker import secs
from perception.sync import av_sync, duration_error_frames

SR = 16000
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank today."


@pytest.fixture(scope="module")
def flite_speech(tmp_path_factory):
    if shutil.which("flite") is None:
        pytest.skip("flite not installed")
    path = tmp_path_factory.mktemp("metrics") / "slt.wav"
    subprocess.run(
        ["flite", "-voice", "slt", "-t", SENTENCE, "-o", str(path)], check=True, capture_output=True
    )
    return load_audio(path)


@pytest.fixture(scope="module")
def whisper():
    return WhisperTranscriber(beam_size=1)


# ------------------------------------------------------------------------------------------- WER


def test_wer_identical_and_known_cases():
    assert word_error_rate("the cat sat on the mat", "the cat sat on the mat") == 0.0
    # one substitution (sat -> sit) and one deletion (the) over six reference words
    errs = word_errors("the cat sat on the mat", "the cat sit on mat")
    assert (errs.substitutions, errs.deletions, errs.insertions) == (1, 1, 0)
    assert word_error_rate("the cat sat on the mat", "the cat sit on mat") == pytest.approx(2 / 6)
    assert word_error_rate("hello world", "hello big world") == pytest.approx(1 / 2)  # one insertion
    assert word_error_rate("a b", "") == 1.0
    assert word_error_rate("", "") == 0.0


def test_wer_normalises_numbers_case_and_punctuation():
    assert normalise_for_wer("Mr. Smith paid $5, didn't he?") == "mister smith paid five dollars didnt he"
    assert (
        word_error_rate(
            "Mr. Smith paid $5 in 1999.", "mister smith paid five dollars in nineteen ninety-nine"
        )
        == 0
    )
    assert word_error_rate("Mr. Smith", "mister smith", normalise=False) == 1.0


def test_whisper_transcribes_flite_speech(flite_speech, whisper):
    text = whisper.transcribe(flite_speech, SR)
    assert word_error_rate(SENTENCE, text) <= 0.3, text
    assert wer_of(flite_speech, SR, SENTENCE, transcriber=whisper) <= 0.3
    # and a wrong reference is caught
    assert wer_of(flite_speech, SR, "Nothing like what was said at all here", transcriber=whisper) > 0.7


# ------------------------------------------------------------------------------------------ SECS


def test_secs_of_a_take_with_itself_is_one(flite_speech, tmp_path):
    assert secs(flite_speech, flite_speech, SR) == pytest.approx(1.0, abs=1e-4)
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    path = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SENTENCE], check=True, capture_output=True)
    assert secs(flite_speech, load_audio(path), SR) < 0.9  # another voice saying the same words


# ------------------------------------------------------------------------------------------- MCD


def test_mcd_is_zero_for_itself_and_grows_with_distortion(flite_speech):
    x = flite_speech
    assert mcd_dtw_sl(x, x, SR) == pytest.approx(0.0, abs=1e-6)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(x)).astype(np.float32)
    light = mcd_dtw_sl(x, x + 0.002 * noise, SR)
    heavy = mcd_dtw_sl(x, x + 0.05 * noise, SR)
    assert 0 < light < heavy


def test_mcd_sl_penalises_a_wrong_length(flite_speech):
    x = flite_speech
    short = x[: int(len(x) * 0.8)]
    res = mcd_details(x, short, SR)
    assert res.sl_factor == pytest.approx(len(x) / len(short), rel=0.02)
    assert res.mcd_dtw_sl == pytest.approx(res.mcd_dtw * res.sl_factor)
    assert res.mcd_dtw_sl > res.mcd_dtw > 0


def test_dtw_path_follows_a_repeated_frame():
    a = np.array([[0.0], [1.0], [2.0], [3.0]])
    b = np.array([[0.0], [1.0], [1.0], [2.0], [3.0]])
    assert dtw_path(a, b) == [(0, 0), (1, 1), (1, 2), (2, 3), (3, 4)]


# ------------------------------------------------------------------------------------------ sync


def _smooth_curve(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.convolve(rng.standard_normal(n + 4), np.ones(3) / 3, mode="valid")[:n]


def test_av_sync_recovers_an_injected_lag():
    lip = _smooth_curve(150, seed=3)
    aligned = av_sync(lip, 10 * lip - 40)  # loudness in dB: scale and offset do not matter
    assert aligned.offset_frames == 0 and aligned.confidence > 0.3
    assert aligned.correlation_at_0 == pytest.approx(1.0)

    lagged_audio = np.concatenate([np.full(2, lip.mean()), lip[:-2]])  # the sound comes 2 frames late
    res = av_sync(lip, lagged_audio)
    assert res.offset_frames == 2 and res.confidence > 0.3
    assert res.correlation_at_0 < res.correlations[res.lags.tolist().index(2)]

    leading_audio = np.concatenate([lip[3:], np.full(3, lip.mean())])  # 3 frames early
    assert av_sync(lip, leading_audio).offset_frames == -3


def test_av_sync_ignores_frames_without_a_face():
    lip = _smooth_curve(150, seed=4)
    audio = np.concatenate([np.full(2, lip.mean()), lip[:-2]])
    lip_nan = lip.copy()
    lip_nan[20:40] = np.nan
    lip_nan[100:105] = np.nan
    assert av_sync(lip_nan, audio).offset_frames == 2
    nothing = av_sync(np.full(150, np.nan), audio)
    assert not nothing.measured and nothing.confidence == 0.0


def test_av_sync_on_a_loudness_envelope():
    fps = 25
    rng = np.random.default_rng(5)
    opening = np.clip(_smooth_curve(100, seed=6), 0, None)  # mouth opening per video frame
    spf = SR // fps
    audio = np.concatenate([o * rng.standard_normal(spf) for o in opening]).astype(np.float32)
    delayed = np.concatenate([np.zeros(2 * spf, np.float32), audio[: -2 * spf]])
    env = loudness_envelope(delayed, SR, fps, num_frames=100)
    assert av_sync(opening, env).offset_frames == 2


def test_duration_error_frames():
    assert duration_error_frames(2.0, 48, 25) == pytest.approx(2.0)
    assert duration_error_frames(1.92, 48, 25) == pytest.approx(0.0)
    assert duration_error_frames(1.8, 48, 25) == pytest.approx(-3.0)


def test_paired_emotion_counts_the_discordant_clips_and_tests_them():
    from evaluation.report import markdown_paired, paired_emotion

    def result(name, right):
        clips = [{"clip_id": f"c{i}", "emotion_correct": r} for i, r in enumerate(right)]
        return {"name": name, "clips": clips + [{"clip_id": "gone", "emotion_correct": None}]}

    base = result("k0", [True] * 10 + [False] * 10)
    better = result("full", [True] * 10 + [True] * 9 + [False])
    c = paired_emotion(base, better)
    assert (c["clips"], c["only_other_right"], c["only_baseline_right"]) == (20, 9, 0)
    assert c["other_acc"] == 0.95 and c["baseline_acc"] == 0.5
    assert c["p_value"] < 0.01  # 9 of 9 discordant clips one way: 2 * 0.5**9
    assert paired_emotion(base, base)["p_value"] == 1.0
    assert "| full | 20 | 95.0 | 50.0 | 9 | 0 |" in markdown_paired([base, better])
