"""perception.audio and perception.speaker on real espeak-ng / flite speech (no mocks)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ground.config import get_config
from ground.errors import BadInputError
from perception.audio import analyse_audio, check_audio, egemaps, load_audio, loudness_envelope, prosody
from perception.records import AudioFeatures
from perception.speaker import cosine, get_speaker_encoder

SR = 16000
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
OTHER_SENTENCE = "Please call Stella and ask her to bring these things with her from the store."

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


def espeak(path: Path, text: str, *args: str) -> Path:
    subprocess.run(["espeak-ng", *args, "-w", str(path), text], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("speech")
    return {
        "default": espeak(d / "default.wav", SENTENCE),
        "high": espeak(d / "high.wav", SENTENCE, "-p", "90"),
        "low": espeak(d / "low.wav", SENTENCE, "-p", "20"),
        "default_other": espeak(d / "default_other.wav", OTHER_SENTENCE),
        "f3": espeak(d / "f3.wav", SENTENCE, "-v", "en-us+f3"),
    }


@pytest.fixture(scope="module")
def encoder():
    return get_speaker_encoder()


def test_load_resamples_to_16k_mono_float32(speech):
    info = sf.info(str(speech["default"]))
    assert info.samplerate != SR  # espeak-ng writes 22050 Hz, so this really resamples
    audio = load_audio(speech["default"])
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - info.duration * SR) <= 2
    assert np.abs(audio).max() <= 1.0
    half = load_audio(speech["default"], sample_rate=8000)
    assert abs(len(half) - len(audio) / 2) <= 2


def test_load_falls_back_to_pyav_for_m4a(speech, tmp_path):
    import av

    audio = load_audio(speech["default"])
    path = tmp_path / "speech.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=SR, layout="mono")
        frame = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
        frame.sample_rate = SR
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(path))
    decoded = load_audio(path)
    assert abs(len(decoded) - len(audio)) < 0.15 * SR  # AAC adds priming and padding (up to 2 x 1024)
    f0_a = prosody(audio, SR)[0]
    f0_b = prosody(decoded, SR)[0]
    assert abs(np.median(f0_a[f0_a > 0]) - np.median(f0_b[f0_b > 0])) < 10


def test_prosody_finds_voiced_frames_with_plausible_f0(speech):
    audio = load_audio(speech["default"])
    f0, voiced, energy = prosody(audio, SR)
    assert len(f0) == len(voiced) == len(energy) == int(len(audio) / SR * 100) + 1
    assert 0.3 < voiced.mean() < 0.95
    assert np.all(f0[~voiced] == 0)
    assert 70 < np.median(f0[voiced]) < 250
    # voiced frames are speech, so they are louder than the unvoiced ones (pauses, fricatives)
    assert energy[voiced].mean() > energy[~voiced].mean() + 6


def test_higher_espeak_pitch_gives_higher_f0(speech):
    def mean_f0(key):
        f0, voiced, _ = prosody(load_audio(speech[key]), SR)
        return f0[voiced].mean()

    assert mean_f0("high") > 1.2 * mean_f0("low")


def test_loudness_envelope_is_aligned_to_video_frames():
    fps = 25
    audio = np.zeros(SR * 2, dtype=np.float32)
    spf = SR // fps  # 640 samples per 40 ms video frame
    audio[10 * spf : 11 * spf] = 0.5  # exactly video frame 10
    env = loudness_envelope(audio, SR, fps)
    assert env.shape == (50,)
    assert env[10] == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert np.all(np.delete(env, 10) <= -99)
    padded = loudness_envelope(audio, SR, fps, num_frames=60)
    assert padded.shape == (60,) and np.all(padded[50:] <= -99)
    assert np.array_equal(padded[:50], env)


def test_egemaps_has_88_finite_functionals(speech):
    feats = egemaps(load_audio(speech["default"]), SR)
    assert len(feats) == 88
    assert all(np.isfinite(v) for v in feats.values())
    key = "F0semitoneFrom27.5Hz_sma3nz_amean"
    assert egemaps(load_audio(speech["high"]), SR)[key] > egemaps(load_audio(speech["low"]), SR)[key]


def _bad_files(d: Path) -> dict[str, Path]:
    sf.write(d / "silent.wav", np.zeros(SR, dtype=np.float32), SR)
    (d / "zero_bytes.wav").write_bytes(b"")
    sf.write(d / "no_samples.wav", np.zeros(0, dtype=np.float32), SR)
    rng = np.random.default_rng(0)
    sf.write(d / "too_short.wav", (0.3 * rng.standard_normal(SR // 10)).astype(np.float32), SR)
    (d / "garbage.wav").write_bytes(b"this is not audio at all" * 50)
    return {
        "silent": d / "silent.wav",
        "zero_bytes": d / "zero_bytes.wav",
        "no_samples": d / "no_samples.wav",
        "too_short": d / "too_short.wav",
        "garbage": d / "garbage.wav",
        "missing": d / "does_not_exist.wav",
    }


@pytest.mark.parametrize(
    "kind, words",
    [
        ("silent", "silent"),
        ("zero_bytes", "empty"),
        ("no_samples", "empty"),
        ("too_short", "too short"),
        ("garbage", "not a readable"),
        ("missing", "not found"),
    ],
)
def test_bad_audio_files_are_refused_naming_the_file(tmp_path, kind, words):
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(BadInputError) as info:
        load_audio(path)
    assert info.value.source == str(path)
    assert str(path) in str(info.value)
    assert words in info.value.problem


def test_check_audio_on_arrays():
    rng = np.random.default_rng(1)
    good = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    assert check_audio(good, SR, "x").dtype == np.float32
    bad = good.copy()
    bad[5] = np.nan
    with pytest.raises(BadInputError, match="NaN"):
        check_audio(bad, SR, "x")
    with pytest.raises(BadInputError, match="silent"):
        check_audio(good * 1e-5, SR, "x")  # about -100 dBFS
    min_s = get_config().media.min_audio_seconds
    with pytest.raises(BadInputError, match="too short"):
        check_audio(good[: int(SR * min_s) - 1], SR, "x")
    stereo = np.stack([good, good], axis=1)
    assert check_audio(stereo, SR, "x").shape == (SR,)


def test_same_voice_is_closer_than_different_voices(speech, encoder):
    a = encoder.embed(load_audio(speech["default"]), SR)
    b = encoder.embed(load_audio(speech["default_other"]), SR)
    c = encoder.embed(load_audio(speech["f3"]), SR)
    assert a.shape == (256,) and abs(np.linalg.norm(a) - 1) < 1e-5
    same, different = cosine(a, b), cosine(a, c)
    assert same > different + 0.05, (same, different)


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_flite_voices_are_told_apart(tmp_path, encoder):
    def flite(voice, text):
        path = tmp_path / f"{voice}_{len(text)}.wav"
        subprocess.run(
            ["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True, capture_output=True
        )
        return encoder.embed(load_audio(path), SR)

    slt1, slt2, kal = flite("slt", SENTENCE), flite("slt", OTHER_SENTENCE), flite("kal", SENTENCE)
    assert cosine(slt1, slt2) > cosine(slt1, kal) + 0.05


def test_analyse_audio_from_path_and_array(speech, encoder):
    feats = analyse_audio(speech["default"])
    assert isinstance(feats, AudioFeatures)
    assert feats.sample_rate == SR and feats.duration > 2
    assert len(feats.egemaps) == 88
    assert feats.speaker_embedding is not None and feats.speaker_embedding.shape == (256,)
    summary = feats.summary()
    assert 70 < summary["f0_mean_hz"] < 250 and 0.3 < summary["voiced_share"] < 0.95

    audio, sr = sf.read(str(speech["high"]), dtype="float32")
    light = analyse_audio(audio, sr, with_egemaps=False, with_speaker=False)
    assert light.egemaps == {} and light.speaker_embedding is None
    assert light.summary()["f0_mean_hz"] > summary["f0_mean_hz"]
    with pytest.raises(ValueError):
        analyse_audio(audio)
