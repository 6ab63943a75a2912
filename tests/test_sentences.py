"""corpora.sentences: the shipped open-text sentence pool, its lexicon labels, builder and phoneme coverage."""

from __future__ import annotations

import json
import shutil

import pytest

from corpora.sentences import (
    FORTUNE_CATEGORIES,
    FORTUNE_DIR,
    MAX_WORDS,
    MIN_WORDS,
    POOL_PATH,
    WORDINGS,
    WORDLIST,
    build_sentence_pool,
    check_sentence,
    fortune_passages,
    label_emotion,
    load_sentence_pool,
    normalise_sentence,
    phoneme_coverage,
    sentence_id,
)
from ground.errors import BadInputError, MissingComponentError
from ground.messages import EMOTIONS, NEUTRAL
from perception.text import phonemize_many

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
_SOURCES_MISSING = [str(FORTUNE_DIR / c) for c in FORTUNE_CATEGORIES if not (FORTUNE_DIR / c).is_file()]
if not WORDLIST.is_file():
    _SOURCES_MISSING.append(str(WORDLIST))
needs_sources = pytest.mark.skipif(
    bool(_SOURCES_MISSING),
    reason="Debian fortunes, fortunes-min and wamerican are needed to build the pool "
    f"(missing: {', '.join(_SOURCES_MISSING[:3])})",
)


@pytest.fixture(scope="module")
def pool():
    return load_sentence_pool()


def test_shipped_pool_has_thousands_of_distinct_sentences(pool):
    normalised = {normalise_sentence(s.text) for s in pool}
    assert len(normalised) == len(pool) >= 5000
    assert all(MIN_WORDS <= len(s.text.split()) <= MAX_WORDS for s in pool)
    assert len({s.id for s in pool}) == len(pool)
    assert all(s.id == sentence_id(s.text) for s in pool)
    assert all(s.licence and s.source.startswith(("fortunes/", "generated")) for s in pool)
    assert POOL_PATH.stat().st_size < 3_000_000


def test_shipped_labels_are_documented_classes(pool):
    assert {s.wording for s in pool} <= set(WORDINGS)
    for s in pool:
        if s.wording == "neutral":
            assert s.emotion is None
        else:
            assert s.emotion in EMOTIONS and s.emotion != NEUTRAL
        assert 0.0 <= s.confidence <= 1.0 and -1.0 <= s.valence <= 1.0
    counts = {e: sum(s.emotion == e for s in pool) for e in EMOTIONS if e != NEUTRAL}
    assert all(c >= 50 for c in counts.values()), counts  # every class has material, scarce ones too
    neutral_share = sum(s.wording == "neutral" for s in pool) / len(pool)
    assert 0.3 < neutral_share < 0.95


@pytest.mark.parametrize(
    ("text", "emotion"),
    [
        ("I hate you, get out!", "angry"),
        ("I miss her so much.", "sad"),
        ("I'm so scared, please help me.", "fear"),
        ("What a wonderful day, I love it!", "happy"),
        ("That smell is disgusting.", "disgust"),
        ("Wow, I never expected that!", "surprise"),
        ("You pathetic little fool.", "contempt"),
    ],
)
def test_labeller_on_clear_lines(text, emotion):
    label = label_emotion(text)
    assert (label.wording, label.emotion) == ("emotional", emotion), label
    assert label.confidence > 0.3


@pytest.mark.parametrize(
    "text", ["The train leaves at seven.", "Put the box on the table.", "I am not happy about it at all."]
)
def test_labeller_flat_or_negated_lines_are_neutral(text):
    label = label_emotion(text)
    assert label.wording == "neutral" and label.emotion is None, label


def test_normalise_sentence():
    assert normalise_sentence("  Don't   STOP, now!! ") == "dont stop now"
    assert normalise_sentence("Don't stop now.") == normalise_sentence("dont  stop -- now?")
    assert normalise_sentence("Café au lait, 2 cups") == "cafe au lait 2 cups"
    assert normalise_sentence("well-known") == "well known"
    assert normalise_sentence("...") == ""


def test_fortune_cleaning_and_sentence_filter():
    fortune = "A gentleman never strikes a lady.\n\t\t-- Fred Allen\n\t[ And why not?  Ed.]\n"
    assert fortune_passages(fortune) == ["A gentleman never strikes a lady."]
    dialogue = '\t"That\'s quite a pig you have there, sir," said the salesman.\n'
    assert fortune_passages(dialogue)[0] == "That's quite a pig you have there, sir."
    verse = "Roses are red,\nViolets are blue,\nSugar is sweet,\nAnd so are you.\n"
    assert fortune_passages(verse) == []
    vocab = frozenset(("the", "cat", "sat", "on", "mat", "a"))
    assert check_sentence("The cat sat on the mat.", vocab) is None
    assert check_sentence("The cat sat.", vocab) is None
    assert check_sentence("The cat.", vocab) == "length"
    assert check_sentence("The CAT sat on the mat.", vocab) == "all capitals"
    assert check_sentence("The cat sat on 3 mats.", vocab) == "symbols or digits"
    assert check_sentence("the cat sat on the mat.", vocab) == "not a whole sentence"


def test_loader_errors(tmp_path):
    with pytest.raises(MissingComponentError):
        load_sentence_pool(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "s1", "text": "Hi there you."}\n', encoding="utf-8")
    with pytest.raises(BadInputError, match="line 1"):
        load_sentence_pool(bad)
    rec = {"id": "s1", "text": "Hi there you.", "source": "generated", "licence": "CC0-1.0",
           "wording": "neutral", "emotion": "angry", "confidence": 1, "valence": 0}  # fmt: skip
    bad.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="wording"):
        load_sentence_pool(bad)


@needs_sources
def test_builder_is_deterministic_and_matches_the_shipped_pool(tmp_path):
    a = build_sentence_pool(tmp_path / "a.jsonl")
    b = build_sentence_pool(tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert a["sentences"] == b["sentences"] >= 5000
    assert (tmp_path / "a.jsonl").read_bytes() == POOL_PATH.read_bytes(), (
        "assets/corpus/sentences.jsonl is out of date: rebuild it with "
        "`dubber corpus sentences --out assets/corpus/sentences.jsonl --card assets/corpus/SENTENCES.md --coverage`"
    )


@needs_espeak
def test_batched_phonemes_match_the_project_phonemizer(pool):
    from perception.text import normalise_text, phonemize

    texts = [normalise_text(s.text) for s in pool[:: len(pool) // 12]][:12] + ["I am a liar, sure, oh dear!"]
    assert phonemize_many(texts) == [phonemize(t) for t in texts]


@needs_espeak
def test_phoneme_coverage_reports_inventory_and_diphones(tmp_path):
    texts = ["The liar was here.", "Our fire burned, and the poor tour was over!"]
    report = phoneme_coverage(texts, cache_dir=tmp_path, reference=False)
    assert report["texts"] == 2 and report["phoneme_count"] == len(report["phonemes"])
    assert report["rhotic"]["aɪɚ"] >= 2  # liar, fire
    assert report["rhotic"]["ʊɹ"] >= 1  # poor / tour
    assert 0 < report["diphones_seen"] <= report["diphones_possible"] == report["phoneme_count"] ** 2
    assert report["diphones_ge5"] <= report["diphones_seen"]
    assert list(tmp_path.glob("phonemes-*.json")) and not report["cached"]
    again = phoneme_coverage(texts, cache_dir=tmp_path, reference=False)
    assert again.pop("cached") and again == {k: v for k, v in report.items() if k != "cached"}
