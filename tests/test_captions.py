"""Per-modality emotion captions (retrieval.captions): descriptors from real perception, LLM captions, cache.

Everything runs the real components: drawn faces are written to short clips and perceived by
``ClipPerceiver``; audio features come from ``analyse_audio`` on a synthetic voiced signal; captions come
from the shipped Gemma 3 270M on CPU (loaded once per module, float32: this CPU has no native bf16, and
float32 runs the few-shot prompt about 3x faster). Counting generate calls wraps the real backend in a
proxy that delegates every call to it; nothing is mocked.
"""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from corpora.faces import FaceRenderer, FaceStyle, emotion_pose, render_backgrounds
from corpora.scenes import scene_mood
from ground.config import get_config
from perception.descriptions import describe_audio, describe_face, describe_scene, describe_text
from retrieval.captions import (
    _EXAMPLES,
    MODALITIES,
    CaptionWriter,
    caption_prompt,
    caption_stem,
    contradiction,
    example_caption,
    rules_caption,
    validate_caption,
)

HAPPY_SCENE = "bright, warm yellowish light, rich colours, little motion"
NEUTRAL_FACE = "features close to a relaxed face; the expression model reads neutral 0.61"
SAD_LINE = '"I miss the old house, it feels empty now." (plain statement)'


# ---------------------------------------------------------------- perceived inputs
def _perceived_clip(tmp_path, emotion: str, perceiver):
    """Six frames of a drawn face posed for ``emotion`` over that emotion's scene mood, perceived."""
    from dataclasses import replace

    from perception.features import from_perception
    from perception.video import write_video

    rgb, light = scene_mood(emotion, 1.0)
    times = np.arange(6) / 25.0
    backgrounds = render_backgrounds(rgb, light, times, seed=5)
    renderer = FaceRenderer(FaceStyle())
    pose = emotion_pose(emotion, 1.0)
    frames = np.stack(
        [renderer.render(replace(pose, mouth_open=0.2 * (i % 3)), bg) for i, bg in enumerate(backgrounds)]
    )
    path = tmp_path / f"{emotion}.mp4"
    write_video(path, frames, fps=25.0)
    return from_perception(perceiver.perceive(path, require_face=True))


@pytest.fixture(scope="module")
def visuals(tmp_path_factory):
    from perception.pipeline import ClipPerceiver

    tmp = tmp_path_factory.mktemp("caption_clips")
    perceiver = ClipPerceiver()
    return {e: _perceived_clip(tmp, e, perceiver) for e in ("angry", "happy")}


def _voice(f0: float, gain: float, seconds: float = 1.6, sr: int = 16000, vibrato: float = 0.0) -> np.ndarray:
    """A voiced, vowel-like harmonic signal with syllable-like loudness bumps (4 per second)."""
    t = np.arange(int(seconds * sr)) / sr
    freq = f0 * (1 + vibrato * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4 * t) ** 2
    return (gain * envelope * wave / np.abs(wave).max()).astype(np.float32)


# ---------------------------------------------------------------- descriptors (no LLM)
def test_scene_descriptor_follows_the_light(visuals):
    angry, happy = describe_scene(visuals["angry"]), describe_scene(visuals["happy"])
    assert angry != happy
    assert re.search(r"\b(dark|dim)\b", angry) and "reddish" in angry, angry
    assert "bright" in happy and "yellow" in happy, happy
    assert "motion" in angry and "colours" in happy


def test_face_descriptor_follows_the_expression(visuals):
    angry, happy = describe_face(visuals["angry"]), describe_face(visuals["happy"])
    assert angry != happy
    assert "smile" in happy and "smile" not in angry, (angry, happy)
    assert "lip corners down" in angry or "lip corners pulled down" in angry, angry
    assert "the expression model reads" in angry and re.search(r"\d\.\d\d", angry)
    # the FER readings listed are the model's own leading classes
    top = max(visuals["happy"].expression, key=visuals["happy"].expression.get)
    assert f"reads {top} " in happy


def test_face_descriptor_without_a_face(visuals):
    from dataclasses import replace

    faceless = replace(
        visuals["angry"], face_share=0.0, geometry=dict.fromkeys(visuals["angry"].geometry, float("nan"))
    )
    assert describe_face(faceless) == "no face is visible"


def test_text_descriptor_punctuation_cues():
    assert describe_text("The bus stops at the corner.") == '"The bus stops at the corner." (plain statement)'
    shout = describe_text("I told you NEVER to come back here!!")
    assert "several exclamations" in shout and "all-caps words: NEVER" in shout
    assert "I " in shout and "all-caps words: I" not in shout
    assert "question" in describe_text("You did what?")
    assert "ellipsis" in describe_text("I thought... never mind") and "ellipsis" in describe_text(
        "Well\u2026"
    )
    assert "stammer" in describe_text("I-I don't know")
    assert len(describe_text("word " * 200)) < 300


def test_audio_descriptor_follows_pitch_and_loudness():
    from perception.audio import analyse_audio

    low_loud = analyse_audio(_voice(105, 0.5, vibrato=0.2), 16000, with_egemaps=True, with_speaker=False)
    high_soft = analyse_audio(_voice(250, 0.02), 16000, with_egemaps=True, with_speaker=False)
    a, b = describe_audio(low_loud), describe_audio(high_soft)
    assert a != b
    assert "low pitch" in a and "loud voice" in a, a
    assert "high pitch" in b and re.search(r"quiet|soft", b), b
    assert "pace" in a  # eGeMAPS loudness peaks give the pace
    noise = np.random.default_rng(0).normal(0, 0.01, 16000).astype(np.float32)  # breath-like, unvoiced
    silence = analyse_audio(noise, 16000, with_egemaps=False, with_speaker=False)
    assert describe_audio(silence) == "no voiced speech detected"


# ---------------------------------------------------------------- validation and rules (no LLM)
def test_validation_rejects_garbage_and_contradictions():
    assert validate_caption(" A cold, dark scene heavy with dread.\nLook: more") == (
        "A cold, dark scene heavy with dread."
    )
    assert validate_caption("A calm, quiet room") == "A calm, quiet room."
    for bad in ["", "   ", "!!! ??? ...", "1234 5678 90", "A dark, dark room.", "sad " * 5, "x" * 250,
                "A wide, still face: angry 0.50, neutral 0.30."]:  # fmt: skip
        with pytest.raises(ValueError):
            validate_caption(bad)
    loud = "low pitch (about 110 Hz), lively intonation, loud voice, fast pace"
    assert contradiction("audio", loud, "A soft, quiet voice with a low pitch.")
    assert contradiction("audio", loud, "Low, loud and fast: forceful anger.") is None
    assert contradiction("scene", "very dark, cyan light, rich colours", "Dark red light: rage.")
    face = "eyes narrowed, lip corners down; the expression model reads sad 0.45, neutral 0.33"
    assert contradiction("face", face, "Lowered brows and a hard mouth.")  # brows are not described
    assert contradiction("face", face, "Narrowed eyes: an angry glare.")  # FER does not read angry
    assert contradiction("face", face, "Narrowed eyes and a downturned mouth: sadness.") is None
    with pytest.raises(ValueError, match="cut short"):
        validate_caption("A very long reply that ran into the token limit and", truncated=True)
    assert validate_caption("Dark red light, busy motion, a scene of", truncated=True) == (
        "Dark red light, busy motion."
    )
    assert contradiction("text", '"How cute." (plain statement)', "A simple question.")  # no question mark
    assert contradiction("text", '"Go!" (exclamation)', "A plain statement: a warning.")
    # the few-shot examples themselves pass, so the prompt never teaches what validation rejects
    for modality, (_, _, examples) in _EXAMPLES.items():
        for descriptor, written in examples:
            assert validate_caption(written, modality, descriptor) == example_caption(
                modality, descriptor, written
            )


def test_guided_caption_keeps_the_descriptor_words():
    assert caption_stem("audio", "low pitch (about 113 Hz), loud voice") == "Low pitch, loud voice"
    assert caption_stem("face", "brows raised; the expression model reads fear 0.40") == "Brows raised"
    assert caption_stem("text", '"Hi." (plain statement)') is None
    assert validate_caption(" a scene of joy\nLook:", "scene", HAPPY_SCENE) == (
        "Bright, warm yellowish light, rich colours, little motion: a scene of joy."
    )
    with pytest.raises(ValueError, match="contradicts"):
        validate_caption("calm and neutral", "audio", "low pitch (about 120 Hz), loud voice, fast pace")
    with pytest.raises(ValueError, match="expression model reads"):
        validate_caption("an angry glare", "face", NEUTRAL_FACE)


def test_prompt_and_rules_sentence():
    prompt = caption_prompt("scene", HAPPY_SCENE)
    assert prompt.endswith(
        f"Look: {HAPPY_SCENE}\nMood: Bright, warm yellowish light, rich colours, little motion:"
    )
    assert prompt.count("Mood:") == len(_EXAMPLES["scene"][2]) + 1
    text_prompt = caption_prompt("text", '"Hi." (plain statement)')
    assert text_prompt.endswith('Line: "Hi." (plain statement)\nFeeling:')
    # the nearest example comes last
    assert text_prompt.split("\n\n")[-2].startswith('Line: "The train leaves at nine." (plain statement)')
    assert rules_caption("audio", "low pitch, loud voice") == "Voice: low pitch, loud voice."
    with pytest.raises(ValueError, match="unknown caption modality"):
        rules_caption("smell", "x")


def test_rules_only_mode_never_loads_a_model(visuals, tmp_path):
    writer = CaptionWriter(use_llm=False, cache_dir=tmp_path)
    caps = writer.caption_clip(visuals["angry"], "Get out!", None)
    assert set(caps) == {"scene", "face", "text"}
    assert all(c.source == "rules" and c.modality == m for m, c in caps.items())
    assert caps["text"].text == 'Line: "Get out!" (exclamation).'
    assert writer._backend is None and writer.llm_calls == 0
    assert not any(tmp_path.iterdir())  # rules sentences are not worth caching
    # no evidence, no LLM: even an LLM writer answers with the rules sentence without asking the model
    llm_writer = CaptionWriter(cache_dir=tmp_path)
    assert llm_writer.caption("face", "no face is visible").text == "Face: no face is visible."
    assert llm_writer._backend is None and llm_writer.llm_calls == 0
    assert set(MODALITIES) == {"scene", "face", "text", "audio"}


# ---------------------------------------------------------------- real LLM
class CountingBackend:
    """Delegates everything to a real backend and counts ``generate`` calls (the model still runs)."""

    def __init__(self, inner):
        self.inner = inner
        self.generate_calls = 0

    def generate(self, *args, **kwargs):
        self.generate_calls += 1
        return self.inner.generate(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def gemma():
    from llm import clear_backends, get_backend

    cfg = get_config().llm.model_copy(
        update={"backend": "transformers", "model": None, "dtype": "float32", "threads": 1}
    )
    yield get_backend(cfg)
    clear_backends()


@pytest.mark.slow
def test_llm_captions_are_short_single_lines(gemma, tmp_path):
    writer = CaptionWriter(backend=gemma, cache_dir=tmp_path)
    asked = [("scene", HAPPY_SCENE), ("face", NEUTRAL_FACE), ("text", SAD_LINE)]
    caps = [writer.caption(m, d) for m, d in asked]
    for (modality, descriptor), c in zip(asked, caps, strict=True):
        assert c.modality == modality and c.source in ("llm", "rules")
        assert c.text and "\n" not in c.text and len(c.text) <= 200 and c.text[-1] in ".!?"
        if c.source == "rules":
            assert c.text == rules_caption(modality, descriptor)
            continue
        stem = caption_stem(modality, descriptor)
        written = c.text[len(stem) + 2 :] if stem else c.text
        assert not stem or c.text.startswith(stem + ": ")
        assert len(gemma.tokenizer(written)["input_ids"]) <= writer._token_limit(modality) + 2
        assert validate_caption(c.text) == c.text
    assert sum(c.source == "llm" for c in caps) >= 2, caps  # the LLM path works on these
    assert writer.llm_calls == 3


@pytest.mark.slow
def test_cache_returns_the_caption_without_the_llm(gemma, tmp_path):
    first = CountingBackend(gemma)
    caption = CaptionWriter(backend=first, cache_dir=tmp_path).caption("scene", HAPPY_SCENE)
    assert first.generate_calls == 1
    entries = list(tmp_path.rglob("*.json"))
    assert len(entries) == 1 and json.loads(entries[0].read_text())["text"] == caption.text

    again = CountingBackend(gemma)
    writer = CaptionWriter(backend=again, cache_dir=tmp_path)
    assert writer.caption("scene", HAPPY_SCENE) == caption
    assert again.generate_calls == 0 and writer.cache_hits == 1
    # the key holds the descriptor: another one asks the model
    writer.caption("scene", HAPPY_SCENE.replace("little", "steady"))
    assert again.generate_calls == 1


@pytest.mark.slow
def test_timeout_falls_back_to_rules_and_is_not_cached(gemma, tmp_path, caplog):
    counting = CountingBackend(gemma)
    writer = CaptionWriter(backend=counting, timeout_s=0.001, cache_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="retrieval.captions"):
        caption = writer.caption("face", NEUTRAL_FACE)
    assert caption.source == "rules" and caption.text == rules_caption("face", NEUTRAL_FACE)
    assert counting.generate_calls == 1 and writer.fallbacks == 1
    assert "LLMTimeoutError" in caplog.text and "face caption" in caplog.text
    assert not list(tmp_path.rglob("*.json"))  # a timeout is transient: the next build asks again
