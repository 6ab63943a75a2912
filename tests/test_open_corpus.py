"""The ``open`` corpus design: held-out splits that really hold (no test sentence, held-out voice, drawing or
palette reaches training), light independent of the emotion on most films, many looks, and a real build."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from corpora.open_design import TEST_SPLITS_OPEN, leakage_report
from corpora.synth import build_corpus, plan_corpus, planned_as_dict

FAST_VOICES = ["flite_slt", "flite_awb", "flite_rms", "flite_kal", "esp_us"]


def _rows(plan) -> list[dict]:
    return [
        {
            **planned_as_dict(p),
            "drawing": p.spec.face_style.get("drawing", "shaded"),
            "palette": p.spec.scene_palette,
        }
        for p in plan
    ]


@pytest.fixture(scope="module")
def bank_plan():
    from corpora.voices import VOICE_BANK

    return plan_corpus(1200, seed=1, voices=[v.id for v in VOICE_BANK], design="open")


def test_open_plan_holds_out_sentences_voices_and_looks(bank_plan):
    from corpora.faces import DRAWINGS
    from corpora.scenes import SCENE_PALETTES
    from corpora.sentences import normalise_sentence

    rows = _rows(bank_plan)
    splits = Counter(r["split"] for r in rows)
    assert set(splits) == {"train", "valid", *TEST_SPLITS_OPEN}, splits
    assert all(splits[s] >= 50 for s in TEST_SPLITS_OPEN), splits
    report = leakage_report(rows)
    assert all(not v for found in report.values() for v in found.values()), report

    fit = [r for r in rows if r["split"] in ("train", "valid")]
    new_look = [r for r in rows if r["split"] == "test-new-look"]
    assert {r["drawing"] for r in new_look} == {DRAWINGS[-1]}
    assert {r["palette"] for r in new_look} == {SCENE_PALETTES[-1]}
    assert {r["drawing"] for r in fit} == set(DRAWINGS[:-1])  # every other drawing style is trained on
    # test sentences are each their own; training lines are nearly all distinct sentences too
    for split in TEST_SPLITS_OPEN:
        texts = [normalise_sentence(r["text"]) for r in rows if r["split"] == split]
        assert len(set(texts)) == len(texts), split
    # a training sentence is said at most twice (scarce emotional wording); most are said once
    assert len({normalise_sentence(r["text"]) for r in fit}) > 0.8 * len(fit)
    unseen = {r["speaker"] for r in rows if r["split"] == "test-unseen-speakers"}
    assert len(unseen) >= 5 and len({r["speaker"] for r in fit}) >= 20


def test_open_plan_light_wording_and_faces_do_not_give_the_emotion_away(bank_plan):
    from ground.messages import EMOTIONS

    rows = [r for r in _rows(bank_plan) if r["split"] in ("train", "valid")]
    # most films light their scenes with a palette, whatever the line's emotion
    by_film = Counter(r["film"] for r in rows if r["palette"])
    films = {r["film"] for r in rows}
    assert len(by_film) >= 0.5 * len(films), (len(by_film), len(films))
    palette_rows = [r for r in rows if r["palette"]]
    for palette in {r["palette"] for r in palette_rows}:
        emotions = {r["emotion"] for r in palette_rows if r["palette"] == palette}
        assert len(emotions) >= 6, (palette, emotions)  # a palette is no emotion's colour
    emotional = [r for r in rows if r["emotion"] != "neutral"]
    neutral_face = sum(r["face_intensity"] == 0 for r in emotional) / len(emotional)
    neutral_words = sum(r["wording"] == "neutral" for r in emotional) / len(emotional)
    assert 0.1 < neutral_face < 0.35 and 0.2 < neutral_words < 0.6, (neutral_face, neutral_words)
    counts = Counter(r["emotion"] for r in rows)
    assert set(counts) == set(EMOTIONS) and max(counts.values()) - min(counts.values()) <= len(rows) * 0.03


def test_open_plan_is_deterministic():
    voices = FAST_VOICES
    a = plan_corpus(120, seed=4, voices=voices, design="open")
    b = plan_corpus(120, seed=4, voices=voices, design="open")
    c = plan_corpus(120, seed=5, voices=voices, design="open")
    assert [p.spec for p in a] == [p.spec for p in b]
    assert [p.spec.text for p in a] != [p.spec.text for p in c]


def test_leakage_report_catches_a_leak(bank_plan):
    rows = _rows(bank_plan)
    test_row = next(r for r in rows if r["split"] == "test-new-look")
    leaked = [*rows, {**test_row, "split": "train", "clip_id": "leak"}]
    report = leakage_report(leaked)
    assert report["test-new-look"]["sentences"] == [test_row["text"]]
    assert report["test-new-look"]["drawings"] and report["test-new-look"]["palettes"]


@pytest.fixture(scope="module")
def open_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("open-corpus")
    summary = build_corpus(out, num_clips=40, seed=2, workers=2, voice_ids=FAST_VOICES, progress=False)
    return out, summary


def test_open_corpus_builds_with_its_card_and_leakage_check(open_corpus):
    tmp_path, summary = open_corpus
    assert summary["clips_failed"] == 0 and summary["clips_ok"] == 40
    assert all(not v for found in summary["leakage"].values() for v in found.values())
    rows = [json.loads(x) for x in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} >= set(TEST_SPLITS_OPEN)
    assert all(r["sentence_id"] and r["drawing"] for r in rows)
    card = (tmp_path / "corpus_card.md").read_text()
    assert "Leakage into train/valid" in card and "| source | licence | lines |" in card
    assert json.loads((tmp_path / "corpus.json").read_text())["design"] == "open"


def test_the_director_stacks_its_cues_out_of_look_and_reports_every_held_out_split(open_corpus, tmp_path):
    """``dubber direct train`` on an open corpus: the fusion is stacked on predictions each trained cue made
    of looks it was not fit on, is measured on every test split, and loads with and without the LLM."""
    import numpy as np

    from agents.fusion import EmotionFusion
    from agents.training import look_of, train_director
    from corpora.readers import read_corpus

    corpus, _ = open_corpus
    train = [r for r in read_corpus(corpus) if r.split == "train"]
    assert len({look_of(r, "face") for r in train}) >= 2  # the manifest's drawing reaches the record
    report = train_director(corpus, tmp_path / "director", use_llm=False, progress=False)
    assert set(report["accuracy"]) - {"valid"} == {"train (out of look)", *TEST_SPLITS_OPEN}
    for split, acc in report["accuracy"].items():
        assert 0.0 <= acc["fused"] <= 1.0, split
    fusion = EmotionFusion.load(tmp_path / "director", use_llm=False)
    assert fusion.stacker is not None and fusion.face.familiar_rms is not None
    # a face vector far from every training face is heard less: its probabilities flatten
    x = np.zeros((1, len(fusion.face.model[0].mean_)))
    far = fusion.face.model[0].mean_ + 50 * fusion.face.model[0].scale_
    assert (
        fusion.face.familiarity(far[None])[0]
        < 1e-3
        < fusion.face.familiarity(x + fusion.face.model[0].mean_)[0]
    )
    flat = fusion.face.probabilities_from_vectors(far[None])[0]
    assert flat.max() - flat.min() < 1e-2
