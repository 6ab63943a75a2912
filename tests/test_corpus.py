"""The synthetic corpus builder: deterministic plan, layout, resume after interruption, perceivable faces."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from corpora.records import SPLITS
from corpora.synth import build_corpus, plan_corpus
from ground.errors import BadInputError
from tests.conftest import SMALL_CORPUS_VOICES as VOICES


def test_plan_is_deterministic_and_balanced():
    a = plan_corpus(64, seed=5, voices=VOICES, design="standard")
    b = plan_corpus(64, seed=5, voices=VOICES, design="standard")
    c = plan_corpus(64, seed=6, voices=VOICES, design="standard")
    assert [p.spec for p in a] == [p.spec for p in b]
    assert [p.spec.text for p in a] != [p.spec.text for p in c]
    counts = {e: sum(p.spec.emotion == e for p in a) for e in {p.spec.emotion for p in a}}
    assert len(counts) == 8 and set(counts.values()) == {8}
    unseen = {p.speaker for p in a if p.split == "test-unseen-speakers"}
    seen = {p.speaker for p in a if p.split != "test-unseen-speakers"}
    assert len(unseen) == 2 and not unseen & seen
    assert any(p.wording == "neutral" for p in a), "some lines must be neutral-worded"


def test_scene_tones_design_keeps_new_films_out_of_training_and_scenes_on_their_tone():
    """The retrieval test bed: new films' lines are only library references or their own test split, a
    scene's lines mostly share one emotion, faces are reserved and the light is the scene's own look."""
    from corpora.synth import SceneTones

    standard = plan_corpus(400, seed=3, voices=VOICES, design="standard")
    tones = plan_corpus(400, seed=3, voices=VOICES, design="scene-tones")
    assert {p.spec.film for p in tones} == {p.spec.film for p in standard}  # the same films and scenes
    assert all(p.spec.face_intensity is None and p.spec.scene_intensity is None for p in standard)
    assert {p.split for p in standard} <= {"train", "valid", "test-seen-speakers", "test-unseen-speakers"}
    design = SceneTones()
    by_split: dict[str, set] = {}
    for p in tones:
        by_split.setdefault(p.split, set()).add(p.spec.film)
        assert p.spec.face_intensity == pytest.approx(design.face_intensity * p.spec.intensity, abs=1e-3)
    new_films = by_split["reference"] | by_split["test-new-films"]
    assert by_split["test-new-films"] <= by_split["reference"]  # every new film tested has library footage
    assert not new_films & (by_split["train"] | by_split["valid"] | by_split["test-seen-speakers"])
    scenes: dict[tuple, list[str]] = {}
    for p in tones:
        scenes.setdefault((p.spec.film, p.spec.scene_seed), []).append(p.spec.emotion)
        looks = {
            (q.spec.scene_emotion, q.spec.scene_intensity)
            for q in tones
            if q.spec.scene_seed == p.spec.scene_seed
        }
        assert len(looks) == 1  # one look per scene, whatever the line's emotion
    on_tone = sum(max(e.count(x) for x in set(e)) for e in scenes.values()) / len(tones)
    assert on_tone > 0.7, on_tone
    with pytest.raises(BadInputError, match="unknown corpus design"):
        plan_corpus(10, seed=0, voices=VOICES, design="nope")


def test_layout_and_manifest(small_corpus):
    out, summary = small_corpus
    assert summary["clips_ok"] == 8 and summary["clips_failed"] == 0
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["split"] for r in rows} <= set(SPLITS)
    for r in rows:
        clip = out / r["dir"]
        for name in ("video.mp4", "audio.wav", "line.txt", "meta.json"):
            assert (clip / name).is_file(), clip / name
        audio, sr = sf.read(clip / "audio.wav")
        assert sr == 16000 and abs(len(audio) / sr - r["duration_s"]) < 0.05
        assert (clip / "line.txt").read_text().strip() == r["text"]
    assert "| voice | engine |" in (out / "corpus_card.md").read_text()


def test_resume_renders_only_what_is_missing(small_corpus, tmp_path):
    out, _ = small_corpus
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    victim = sorted((copy / "clips").iterdir())[2]
    before = (victim / "audio.wav").read_bytes()
    shutil.rmtree(victim)
    (copy / "clips" / (victim.name + ".partial")).mkdir()  # what a killed render leaves behind
    untouched = sorted((copy / "clips").iterdir())[0]
    mtime = (untouched / "video.mp4").stat().st_mtime_ns
    summary = build_corpus(
        copy, num_clips=8, seed=3, workers=1, voice_ids=VOICES, progress=False, design="standard"
    )
    assert summary["clips_ok"] == 8
    assert (victim / "audio.wav").read_bytes() == before, "a re-rendered clip must be identical"
    assert (untouched / "video.mp4").stat().st_mtime_ns == mtime, "finished clips are not redone"
    assert not (copy / "clips" / (victim.name + ".partial")).exists()


def test_other_settings_in_same_folder_refused(small_corpus):
    from ground.errors import BadInputError

    out, _ = small_corpus
    with pytest.raises(BadInputError, match="other settings"):
        build_corpus(out, num_clips=9, seed=3, workers=1, voice_ids=VOICES, progress=False, design="standard")


def test_perception_finds_the_drawn_faces(small_corpus):
    from perception.face import FaceTracker
    from perception.video import read_video

    out, _ = small_corpus
    tracker = FaceTracker()
    found = total = 0
    for clip in sorted((out / "clips").iterdir()):
        track = tracker.track(read_video(clip / "video.mp4").frames)
        found += int(track.has_face.sum())
        total += len(track.has_face)
    assert found / total >= 0.98, f"face found in {found}/{total} frames"


def test_same_line_in_two_emotions_differs(tmp_path):
    from corpora.clip import ClipSpec, render_clip

    text = "The train leaves at seven."
    metas = {}
    for emotion in ("angry", "sad"):
        metas[emotion] = render_clip(
            ClipSpec(clip_id=emotion, text=text, voice_id="flite_awb", emotion=emotion, seed=1),
            tmp_path / emotion,
        )
    a, _ = sf.read(tmp_path / "angry" / "audio.wav")
    s, _ = sf.read(tmp_path / "sad" / "audio.wav")
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    assert rms(a) > rms(s) * 1.2
    assert metas["angry"]["duration_s"] < metas["sad"]["duration_s"]
