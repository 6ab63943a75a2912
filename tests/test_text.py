"""perception.text: decoding, English normalisation, espeak-ng phonemes, MiniLM sentence embeddings."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ground.config import get_config
from ground.errors import BadInputError, MissingComponentError
from perception.records import TextFeatures
from perception.text import (
    STRESS_MARKS,
    WORD_BOUNDARY,
    analyse_text,
    decode_line,
    get_sentence_embedder,
    normalise_text,
    number_to_words,
    ordinal_to_words,
    phonemize,
    year_to_words,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def embedder():
    return get_sentence_embedder()


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (13, "thirteen"),
        (21, "twenty-one"),
        (100, "one hundred"),
        (1001, "one thousand one"),
        (1_250_000, "one million two hundred fifty thousand"),
        (-7, "minus seven"),
    ],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_ordinals_and_years():
    assert [ordinal_to_words(n) for n in (1, 2, 3, 5, 12, 20, 21, 100)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty-first", "one hundredth",
    ]  # fmt: skip
    assert year_to_words(1984) == "nineteen eighty-four"
    assert year_to_words(1900) == "nineteen hundred"
    assert year_to_words(2005) == "two thousand five"
    assert year_to_words(1805) == "eighteen oh five"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mr. Smith paid $5.", "Mister Smith paid five dollars."),
        ("It cost $3.50, not $1.", "It cost three dollars fifty cents, not one dollar."),
        ("Only $0.99!", "Only ninety-nine cents!"),
        ("On the 21st of May, 2024?", "On the twenty-first of May, twenty twenty-four?"),
        (
            "Pi is 3.14 and 50% of 1,200 is 600.",
            "Pi is three point one four and fifty percent of one thousand two hundred is six hundred.",
        ),
        ("Dr. Jones vs. Mrs. Lee, etc.", "Doctor Jones versus Missus Lee, et cetera."),
        ("Meet me at St. Paul's on Baker St.", "Meet me at Saint Paul's on Baker Street."),
        ("He won $2.5 million in 1999.", "He won two point five million dollars in nineteen ninety-nine."),
        ("At 3:05, -5 degrees, pages 5-10.", "At three oh five, minus five degrees, pages five to ten."),
        ("Room No. 7 & agent 007", "Room Number seven and agent zero zero seven"),
        ("He is 6 ft. tall, etc. Gen. Lee is not.", "He is six ft. tall, et cetera. General Lee is not."),
        ("\u201cWait\u2026\u201d  she said", '"Wait..." she said'),
    ],
)
def test_normalise_text_english(text, expected):
    assert normalise_text(text) == expected


def test_normalise_leaves_other_languages_to_espeak():
    assert normalise_text("Il a  21 ans.", language="fr") == "Il a 21 ans."


def test_decode_line():
    assert decode_line("  hello there \n") == "hello there"
    assert decode_line("\ufeffcafé".encode()) == "café"
    with pytest.raises(BadInputError) as info:
        decode_line(b"abc\xffdef", source="line.txt")
    assert "0xff" in str(info.value) and "position 3" in str(info.value) and "line.txt" in str(info.value)
    for empty in (b"", "   \n\t"):
        with pytest.raises(BadInputError, match="empty"):
            decode_line(empty)
    limit = get_config().perception.max_line_chars
    assert len(decode_line("a" * limit)) == limit
    with pytest.raises(BadInputError, match="too long"):
        decode_line("a" * (limit + 1))


@needs_espeak
def test_phonemize_gives_ipa_tokens_with_word_boundaries():
    tokens = phonemize("hello big world")
    assert tokens.count(WORD_BOUNDARY) == 2
    assert tokens[0] != WORD_BOUNDARY and tokens[-1] != WORD_BOUNDARY
    assert any(t in STRESS_MARKS for t in tokens)
    assert all("_" not in t and "\u200d" not in t and t == t.strip() or t == " " for t in tokens)
    assert "ə" in tokens and "b" in tokens and "oʊ" in tokens  # IPA symbols; the diphthong is one token
    assert "tʃ" in phonemize("church")  # affricate as one token


@needs_espeak
def test_phonemize_keeps_clause_punctuation_and_caches():
    tokens = phonemize("Wait, what? No.")
    assert [t for t in tokens if t in ",.!?"] == [",", "?", "."]
    again = phonemize("Wait, what? No.")
    assert again == tokens
    again.append("x")  # callers get their own list; the cache is not changed
    assert phonemize("Wait, what? No.") == tokens


@needs_espeak
def test_phonemize_other_language_and_unknown_voice():
    fr = phonemize("Bonjour tout le monde", voice="fr")
    assert fr and "ʒ" in fr and fr != phonemize("Bonjour tout le monde", voice="en-us")
    with pytest.raises(BadInputError, match="does not know"):
        phonemize("hello", voice="xx-notalanguage")


def test_phonemize_without_espeak_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where espeak-ng cannot be found
    with pytest.raises(MissingComponentError) as info:
        phonemize("a line never phonemised before 12345")
    assert "apt-get install espeak-ng" in str(info.value)


def test_sentence_embeddings_follow_meaning(embedder):
    emb = embedder.embed(["I am furious", "I am so angry", "What a lovely day"])
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2
    assert embedder.embed("one").shape == (1, 384)


@needs_espeak
def test_analyse_text(embedder):
    feats = analyse_text(b"Dr. Who is 900 years old!")
    assert isinstance(feats, TextFeatures)
    assert feats.raw == "Dr. Who is 900 years old!"
    assert feats.normalised == "Doctor Who is nine hundred years old!"
    assert feats.language == "en" and feats.phonemes[-1] == "!"
    assert feats.embedding is not None and feats.embedding.shape == (384,)
    assert analyse_text("Hi there.", with_embedding=False).embedding is None
    with pytest.raises(BadInputError):
        analyse_text(b"\xff\xfe")
