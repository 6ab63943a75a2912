"""An open-text sentence pool for the synthetic corpus: thousands of real English sentences, each with an
emotion *wording* label from a lexicon that knows nothing of where the sentence came from.

Why
---
The first corpus drew its lines from 67 templates shared by every split, and every learned part memorised
them (DESIGN section 7). This pool gives the ``open`` corpus design (``corpora.open_design``) about ten
thousand distinct sentences to deal out, so held-out splits can hold out *sentences*.

Source
------
Debian's ``fortunes`` and ``fortunes-min`` packages (BSD licence, see ``/usr/share/doc/fortunes/copyright``;
files under ``/usr/share/games/fortunes``). Only categories of everyday prose are read (``FORTUNE_CATEGORIES``;
the dropped ones and why are in ``DROPPED_CATEGORIES``). Each fortune loses its attribution ("-- Author")
and editor notes, poems and tables are dropped whole, quoted speech becomes sentences of its own, and the
text is written out for speech with ``perception.text.normalise_text``. A sentence is kept when it has 3 to
20 words, starts with a capital, ends in ``. ! ?``, uses only letters and basic punctuation, has no
all-capitals word, few names, no offensive word, and nearly all its words are in Debian's ``wamerican``
word list (SCOWL: so espeak-ng says real English words, and foreign or nonsense lines go).

Labels
------
``label_emotion`` is independent of the source: the NRC Emotion Lexicon (Mohammad & Turney 2013, as shipped
in the ``nrclex`` wheel: research use, cite the paper) votes for anger, disgust, fear, joy, sadness and
surprise; a small table of prototype emotion words after Shaver et al. (1987, J. Pers. Soc. Psychol. 52,
1061) fills the gaps of that lexicon for common words (``sad``, ``scared``, ``miss``...); VADER (Hutto &
Gilbert 2014, MIT) gives the valence that gates every class (a negative class needs a negative sentence).
NRC has no contempt: contempt is scored from words that *derogate a person* (Fischer & Roseman 2007: contempt
excludes and belittles its target; Rozin et al. 1999) and dismissive phrases, again only in a negative
sentence. A line without a clear winner is worded ``neutral`` (it may be spoken with any emotion later).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ground.config import REPO_ROOT
from ground.errors import BadInputError, MissingComponentError
from ground.messages import EMOTIONS, NEUTRAL

POOL_PATH = REPO_ROOT / "assets" / "corpus" / "sentences.jsonl"
CARD_PATH = REPO_ROOT / "assets" / "corpus" / "SENTENCES.md"
FORTUNE_DIR = Path("/usr/share/games/fortunes")
WORDLIST = Path("/usr/share/dict/american-english")
APT_PACKAGES = ("fortunes", "fortunes-min", "wamerican")
# debian/copyright of fortunes: the 4.4BSD licence with its advertising clause deleted
FORTUNES_LICENCE = "BSD-3-Clause"
WORDINGS = ("neutral", "emotional")
MIN_WORDS, MAX_WORDS = 3, 20

# Categories of everyday prose, dialogue and aphorisms. Others are dropped for the reason given.
FORTUNE_CATEGORIES: tuple[str, ...] = (
    "art", "cookie", "education", "food", "fortunes", "humorists", "kids", "law", "literature", "love",
    "magic", "medicine", "men-women", "miscellaneous", "news", "paradoxum", "people", "pets", "platitudes",
    "politics", "pratchett", "riddles", "science", "sports", "startrek", "wisdom", "work", "zippy",
)  # fmt: skip
DROPPED_CATEGORIES: dict[str, str] = {
    "ascii-art": "pictures drawn in characters",
    "computers": "program code and computing jargon",
    "debian": "computing jargon",
    "definitions": "dictionary layout ('Word, n.: ...')",
    "disclaimer": "legal boilerplate",
    "drugs": "recipes and tables",
    "ethnic": "ethnic jokes (offensive)",
    "goedel": "mathematical notation",
    "knghtbrd": "IRC logs, computing jargon",
    "linux": "computing jargon",
    "linuxcookie": "computing jargon",
    "perl": "program code",
    "songs-poems": "verse layout",
    "tao": "computing parables",
    "translate-me": "not English",
}

# --------------------------------------------------------------------------------------- normalisation


def normalise_sentence(text: str) -> str:
    """The form two sentences are compared in: lower case, accents removed, apostrophes dropped (so "don't"
    equals "dont"), every other run of non-letters/digits one space, trimmed."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"['`]", "", text)
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def sentence_id(text: str) -> str:
    """A stable id from the normalised text (not from the position, so ids survive a filter change)."""
    return "s" + hashlib.blake2b(normalise_sentence(text).encode(), digest_size=5).hexdigest()


# ------------------------------------------------------------------------------------------- labelling

# Prototype emotion words after Shaver et al. (1987), in the project's classes, with the adjective and
# verb forms people say (the NRC word list lacks e.g. "sad", "scared", "amazed", "miss").
CORE_WORDS: dict[str, tuple[str, ...]] = {
    "happy": (
        "happy", "happier", "happiest", "happiness", "joy", "joyful", "joyous", "glad", "delighted",
        "delightful", "delight", "cheerful", "glee", "gleeful", "jolly", "elated", "ecstatic", "euphoric",
        "thrilled", "excited", "exciting", "enjoy", "enjoyed", "enjoying", "pleasure", "pleased",
        "contented", "satisfied", "proud", "triumph", "hopeful", "optimistic", "relieved", "love", "loved",
        "loving", "lovely", "adore", "adored", "wonderful", "fantastic", "marvelous", "laugh", "laughed",
        "laughing", "smile", "smiled", "smiling", "fun", "amused", "enthusiastic", "eager", "bliss",
        "blissful", "celebrate", "hooray", "yay",
    ),
    "surprise": (
        "surprise", "surprised", "surprising", "amazed", "amazing", "amazement", "astonished",
        "astonishing", "astonishment", "astounded", "astounding", "stunned", "shocked", "startled", "wow",
        "whoa", "unbelievable", "incredible", "unexpected", "unexpectedly", "suddenly", "gosh",
    ),
    "angry": (
        "angry", "angrier", "anger", "mad", "furious", "fury", "rage", "raging", "enraged", "outrage",
        "outraged", "wrath", "hostile", "irritated", "irritating", "annoyed", "annoying", "annoyance",
        "aggravated", "exasperated", "frustrated", "frustrating", "grumpy", "bitter", "hate", "hated",
        "hates", "hating", "hatred", "loathe", "loathing", "resent", "resentment", "spite", "spiteful",
        "vengeance", "revenge", "jealous", "jealousy", "damn", "damned",
    ),
    "disgust": (
        "disgust", "disgusted", "disgusting", "revolting", "revulsion", "repulsive", "repelled", "gross",
        "sickening", "nauseating", "nauseous", "vile", "filthy", "foul", "nasty", "yuck", "ugh", "rotten",
        "stink", "stinks", "stinking", "stench", "slimy", "vomit", "putrid", "greasy",
    ),
    "fear": (
        "afraid", "fear", "feared", "fearful", "scared", "scary", "frightened", "frightening", "terrified",
        "terrifying", "terror", "horrified", "panic", "panicked", "alarmed", "anxious", "anxiety",
        "nervous", "worried", "worry", "dread", "dreadful", "uneasy", "tense", "hysterical",
    ),
    "sad": (
        "sad", "sadder", "saddest", "sadness", "unhappy", "sorrow", "grief", "grieve", "grieving", "mourn",
        "mourning", "miserable", "misery", "depressed", "depressing", "despair", "hopeless", "gloomy",
        "melancholy", "heartbroken", "lonely", "loneliness", "miss", "missed", "cry", "cried", "crying",
        "weep", "wept", "tears", "regret", "sorry", "disappointed", "disappointing", "hurt", "suffering",
        "agony", "anguish", "woe", "homesick", "ashamed", "shame", "guilty",
    ),
    "contempt": (
        "contempt", "contemptible", "scorn", "scornful", "disdain", "despise", "despised", "sneer",
        "sneered", "mock", "mocked", "mocking", "ridicule", "ridiculous", "pathetic", "beneath", "inferior",
        "worthless",
    ),
}  # fmt: skip
# Words that belittle a person (their wits, worth or nerve): the target-derogation side of contempt.
DEROGATION_WORDS: frozenset[str] = frozenset(
    (
        "idiot", "idiots", "idiotic", "fool", "fools", "foolish", "moron", "morons", "moronic",
        "stupid", "stupidity", "imbecile", "imbeciles", "dimwit", "nitwit", "halfwit", "dunce", "twit",
        "buffoon", "clown", "clowns", "loser", "losers", "incompetent", "useless", "lame", "petty",
        "mediocre", "ignorant", "clueless", "dumb", "coward", "cowards", "cowardly", "weakling",
        "pitiful", "laughable", "snob", "snobs", "vulgar", "pompous", "jerk", "jerks", "creep",
        "peasant",
    )
)  # fmt: skip
DISMISSIVE_PHRASES: tuple[str, ...] = (
    "who cares", "big deal", "as if", "so what", "spare me", "give me a break", "oh please", "whatever",
    "how pathetic", "get lost",
)  # fmt: skip
_NRC_TO_CLASS = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
}
_NEGATORS = frozenset(
    ("not", "no", "never", "nobody", "nothing", "neither", "nor", "without", "hardly", "cannot")
)
_NEGATIVE_CLASSES = ("angry", "disgust", "fear", "sad", "contempt")
_VALENCE_GATE = 0.05  # VADER's own threshold between neutral and positive/negative
_STRONG_VALENCE = 0.5
_CORE_INDEX = {w: cls for cls, words in CORE_WORDS.items() for w in words}


@dataclass(frozen=True)
class EmotionLabel:
    """How a sentence is worded: ``emotion`` is None when ``wording`` is neutral."""

    wording: str
    emotion: str | None
    confidence: float  # 0..1: the winner's share of the evidence times the strength of the valence
    valence: float  # VADER compound, -1..1
    scores: dict[str, float] = field(default_factory=dict, compare=False)  # non-zero class evidence


@functools.cache
def _nrc_lexicon() -> dict[str, tuple[str, ...]]:
    try:
        from nrclex.core import _load_bundled_lexicon
    except ImportError as exc:
        raise MissingComponentError(
            "nrclex (NRC Emotion Lexicon) is not installed", hint="pip install nrclex==4.1.0"
        ) from exc
    # the six NRC emotions that have a class here; trust, anticipation and the polarities are not used
    return {
        w: tuple(t for t in tags if t in _NRC_TO_CLASS)
        for w, tags in _load_bundled_lexicon().items()
        if any(t in _NRC_TO_CLASS for t in tags)
    }


@functools.cache
def _vader():
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise MissingComponentError(
            "vaderSentiment is not installed", hint="pip install vaderSentiment==3.3.2"
        ) from exc
    return SentimentIntensityAnalyzer()


def _stems(word: str) -> Iterable[str]:
    """The word and its likely dictionary forms (the NRC list has lemmas; nltk's lemmatiser needs a
    download, so a few suffix rules do)."""
    yield word
    for suffix, repl in (("'s", ""), ("ies", "y"), ("ied", "y"), ("es", ""), ("s", ""), ("ed", ""),
                         ("ed", "e"), ("ing", ""), ("ing", "e"), ("ly", ""), ("ness", "")):  # fmt: skip
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            yield stem + repl
            if suffix in ("ed", "ing") and len(stem) > 3 and stem[-1] == stem[-2]:
                yield stem[:-1]  # "stopped" -> "stop"


def _nrc_tags(word: str) -> tuple[str, ...]:
    """NRC emotions of a word that VADER also rates with the matching sign (negative for anger, disgust,
    fear, sadness; positive for joy; either for surprise). NRC lists *associations* ("stone": anger),
    VADER's list holds words that carry valence themselves, so the pair keeps the words that express."""
    lexicon, valences = _nrc_lexicon(), _vader().lexicon
    for form in _stems(word):
        if form in lexicon:
            sign = valences.get(form, valences.get(word, 0.0))
            return tuple(
                t
                for t in lexicon[form]
                if (t == "joy" and sign > 0)
                or (t == "surprise" and sign != 0)
                or (t not in ("joy", "surprise") and sign < 0)
            )
    return ()


def _gate(scores: Counter[str], valence: float, happy_above: float, negative_below: float) -> None:
    """Drop happy unless valence > ``happy_above``, the negative classes unless valence < ``negative_below``."""
    if valence <= happy_above:
        scores.pop("happy", None)
    if valence >= negative_below:
        for cls in _NEGATIVE_CLASSES:
            scores.pop(cls, None)


def label_emotion(text: str) -> EmotionLabel:
    """The emotion a sentence's *wording* carries, from lexicons only (see the module docstring).

    Evidence per class: 1 for each prototype word (``CORE_WORDS``), person-derogating word or dismissive
    phrase (contempt); 1/k for each of a word's k NRC emotions (kept where VADER agrees on the word's
    sign). Words within three words after a negator give none. The sentence's VADER compound gates the
    classes: NRC and derogation evidence for a negative class needs < -0.05, for happy > 0.05; a prototype
    word is dropped only by a compound of 0.5 or more against it. Emotional when the best class has 1 or
    more (0.5 or more when |compound| >= 0.4) and beats the second; otherwise neutral wording.
    """
    valence = float(_vader().polarity_scores(text)["compound"])
    lowered = text.lower().replace("\u2019", "'")
    core: Counter[str] = Counter()  # explicit emotion words and contempt markers
    nrc: Counter[str] = Counter()  # NRC associations
    for clause in re.split(r"[,;:.!?]+", lowered):
        words = re.findall(r"[a-z]+(?:'[a-z]+)?", clause)
        negated_until = -1
        for i, word in enumerate(words):
            if word in _NEGATORS or word.endswith("n't"):
                negated_until = i + 3  # a negator reverses the next few words: they are no evidence
                continue
            if i <= negated_until:
                continue
            if word in _CORE_INDEX:
                core[_CORE_INDEX[word]] += 1.0
            elif word in DEROGATION_WORDS:  # an insult, not an emotion word: gated like NRC evidence
                nrc["contempt"] += 1.0
            else:
                tags = _nrc_tags(word)
                for tag in tags:  # a word tagged with k emotions gives each 1/k
                    nrc[_NRC_TO_CLASS[tag]] += 1.0 / len(tags)
    plain = " ".join(re.findall(r"[a-z]+", lowered))
    if any(re.search(rf"\b{p}\b", plain) for p in DISMISSIVE_PHRASES):
        core["contempt"] += 1.0

    # valence gate: a negative class needs a negative sentence, joy a positive one, surprise either. An
    # explicit emotion word ("scared" in "I'm scared, please help") only yields to a strongly opposite one.
    _gate(nrc, valence, _VALENCE_GATE, -_VALENCE_GATE)
    _gate(core, valence, -_STRONG_VALENCE, _STRONG_VALENCE)
    scores = core + nrc
    rounded = {k: round(v, 2) for k, v in sorted(scores.items()) if v > 0}
    strength = abs(valence)
    ranked = sorted(rounded.items(), key=lambda kv: -kv[1])
    top_class, top = ranked[0] if ranked else (NEUTRAL, 0.0)
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    clear = (top >= 1.0 or (top >= 0.5 and strength >= 0.4)) and top > second
    if not clear:
        return EmotionLabel("neutral", None, round(1.0 - strength, 3), round(valence, 3), rounded)
    # the winner's share of the evidence, scaled by how strongly the sentence is valenced
    confidence = top / sum(rounded.values()) * min(1.0, 0.4 + strength)
    return EmotionLabel("emotional", top_class, round(confidence, 3), round(valence, 3), rounded)


# ------------------------------------------------------------------------------------------ extraction

_OFFENSIVE = re.compile(
    r"\b(fuck\w*|shit\w*|cunt\w*|cock|cocks|dick|dicks|pussy|nigg\w*|negro\w*|fag|fags|faggot\w*|dyke\w*|"
    r"kike\w*|spic|spics|chink\w*|wop|wops|retard\w*|whore\w*|slut\w*|bitch\w*|bastard\w*|twat\w*|wank\w*|"
    r"rape\w*|rapist\w*|penis\w*|vagina\w*|orgasm\w*|masturbat\w*|porn\w*|sex\w*|nude\w*|naked|horny|"
    r"boob\w*|tits|ass|asses|asshole\w*|butt|crap\w*|piss\w*|screw\w*|hooker\w*|prostitut\w*|virgin\w*|"
    r"gay|gays|queer\w*|lesbian\w*|homosexual\w*|jew|jews|nazi\w*|hitler|suicide\w*)\b",
    re.IGNORECASE,
)
_ATTRIBUTION = re.compile(r"^\s*--\s*\S|^\s+-\s+[A-Z]")  # "\t\t-- Mark Twain" ends the fortune's text
_EDITOR_NOTE = re.compile(r"\[[^\]]*\]")
_QA_PREFIX = re.compile(r"^\s*[QA]:\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_ALLOWED = re.compile(r"[A-Za-z ,.!?'\-]+")


def read_fortunes(path: Path) -> list[str]:
    """The fortunes of one file (separated by ``%`` lines), as raw text."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [chunk for chunk in re.split(r"^%\s*$", text, flags=re.MULTILINE) if chunk.strip()]


def _is_verse_or_table(lines: list[str]) -> bool:
    """Poems, lists and tables: several short lines, or columns aligned by runs of spaces/tabs."""
    body = [ln for ln in lines if ln.strip()]
    if any(re.search(r"\S(\t| {3,})\S", ln) for ln in body):
        return True
    if len(body) >= 3:
        short = sum(len(ln.strip()) < 48 for ln in body[:-1])  # the last line of a paragraph may be short
        return short >= 0.6 * (len(body) - 1)
    return False


def fortune_passages(raw: str) -> list[str]:
    """The prose of one fortune as passages (one per quoted speech, one for the narration around them),
    without attribution, editor notes or Q:/A: prefixes; nothing for verse, tables and code."""
    lines = raw.strip("\n").split("\n")
    for i, line in enumerate(lines):
        if i and _ATTRIBUTION.match(line):
            lines = lines[:i]
            break
    lines = [_QA_PREFIX.sub("", ln) for ln in lines]
    if not lines or _is_verse_or_table(lines):
        return []
    text = "\n".join(lines)
    text = _EDITOR_NOTE.sub(" ", text)
    text = re.sub(r"\s+", " ", text.replace("``", '"').replace("''", '"')).strip()
    if re.search(r"https?:|www\.|@|[{}<>|\\=#^~*_]", text):
        return []
    passages = []
    # quoted speech is dialogue: its own passage; the narration between quotes is another
    parts = text.split('"')
    if len(parts) % 2 == 0:  # unbalanced quotes: keep the text whole, quotes removed
        parts = [text.replace('"', " ")]
    for k, part in enumerate(parts):
        part = part.strip()
        if not part:
            continue
        if k % 2 == 1 and part[-1] == ",":  # "I'm tired," she said.  ->  I'm tired.
            part = part[:-1] + "."
        elif k % 2 == 1 and part[-1].isalnum():
            part += "."
        passages.append(part)
    return passages


def _tidy(sentence: str) -> str:
    s = sentence.strip()
    s = re.sub(r"^[\s.,;:'\-]+", "", s)  # leading "... " or dashes
    s = re.sub(r"\s*--+\s*", ", ", s)  # a dash between clauses reads as a comma pause
    s = re.sub(r"\s*\.\.\.+\s*(?=\S)", ", ", s)
    s = re.sub(r"\.\.\.+$", ".", s)
    s = s.replace(";", ",")
    s = re.sub(r"([!?])[!?]+", r"\1", s)
    s = re.sub(r"\s*,\s*(,\s*)*", ", ", s)
    s = re.sub(r",\s*([.!?])", r"\1", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s


@functools.cache
def _vocabulary(path: Path) -> frozenset[str]:
    if not path.is_file():
        raise MissingComponentError(f"no English word list at {path}", hint="sudo apt-get install wamerican")
    return frozenset(
        w.strip().lower() for w in path.read_text(encoding="utf-8", errors="replace").split("\n") if w.strip()
    )


def _known(word: str, vocab: frozenset[str]) -> bool:
    w = word.lower().strip("'-")
    if not w:
        return True
    if w in vocab:
        return True
    if w.endswith("'s") and w[:-2] in vocab:
        return True
    return all(part in vocab for part in w.split("-") if part)  # "well-known"


def check_sentence(sentence: str, vocab: frozenset[str]) -> str | None:
    """Why ``sentence`` cannot be in the pool, or None when it can."""
    if not _ALLOWED.fullmatch(sentence):
        return "symbols or digits"
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return "length"
    if not sentence[0].isupper() or sentence[-1] not in ".!?" or re.search(r"[.!?].", sentence):
        return "not a whole sentence"
    if re.search(r"(^|[^A-Za-z])'|'($|[^A-Za-z])", sentence):
        return "quote marks"
    letters = [w.strip(",.!?'-") for w in words]
    if any(len(w) >= 2 and w.isupper() for w in letters):
        return "all capitals"
    if sum(sentence.count(c) for c in ",.!?-") > max(3, len(words) // 2) or sentence.count(",") > 3:
        return "heavy punctuation"
    if sum(w[:1].isupper() for w in letters[1:] if w not in ("I", "I'm", "I'll", "I'd", "I've")) > 2:
        return "names"
    if _OFFENSIVE.search(sentence):
        return "offensive"
    unknown = sum(not _known(w, vocab) for w in letters if w)
    if unknown > max(1, len(letters) // 10):
        return "unknown words"
    return None


def split_sentences(passage: str) -> list[str]:
    """Sentences of a passage, each written out for speech (numbers, abbreviations) and tidied."""
    from perception.text import normalise_text

    spoken = normalise_text(passage)
    return [_tidy(s) for s in _SENTENCE_END.split(spoken) if s.strip()]


# --------------------------------------------------------------------------------------------- the pool


@dataclass(frozen=True)
class PoolSentence:
    """One sentence of the pool (a line of ``sentences.jsonl``)."""

    id: str
    text: str
    source: str  # "fortunes/<category>" or "generated"
    licence: str
    wording: str  # "neutral" (say it with any emotion) or "emotional" (its words carry ``emotion``)
    emotion: str | None
    confidence: float
    valence: float
    scores: dict[str, float] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "source": self.source,
            "licence": self.licence,
            "wording": self.wording,
            "emotion": self.emotion,
            "confidence": self.confidence,
            "valence": self.valence,
            "scores": self.scores,
        }


def _check_sources(fortune_dir: Path, wordlist: Path) -> None:
    missing = [c for c in FORTUNE_CATEGORIES if not (fortune_dir / c).is_file()]
    if missing:
        raise MissingComponentError(
            f"fortune files missing in {fortune_dir}: {', '.join(missing[:5])}",
            hint="sudo apt-get install fortunes fortunes-min",
        )
    _vocabulary(wordlist)


def collect_sentences(
    fortune_dir: Path = FORTUNE_DIR, wordlist: Path = WORDLIST
) -> tuple[list[tuple[str, str]], Counter[str]]:
    """(source, sentence) pairs that pass every filter, first occurrence of each normalised form kept
    (categories in name order, fortunes in file order); and the count of each reason a sentence was
    dropped."""
    _check_sources(fortune_dir, wordlist)
    vocab = _vocabulary(wordlist)
    kept: list[tuple[str, str]] = []
    seen: set[str] = set()
    dropped: Counter[str] = Counter()
    for category in sorted(FORTUNE_CATEGORIES):
        for raw in read_fortunes(fortune_dir / category):
            passages = fortune_passages(raw)
            if not passages:
                dropped["verse, table, code or link"] += 1
            for passage in passages:
                for sentence in split_sentences(passage):
                    reason = check_sentence(sentence, vocab)
                    if reason is None:
                        key = normalise_sentence(sentence)
                        if key in seen:
                            reason = "duplicate"
                        else:
                            seen.add(key)
                            kept.append((f"fortunes/{category}", sentence))
                            continue
                    dropped[reason] += 1
    return kept, dropped


def _package_version(name: str) -> str | None:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _pip_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def build_sentence_pool(
    out_path: str | Path | None = None,
    *,
    fortune_dir: str | Path = FORTUNE_DIR,
    wordlist: str | Path = WORDLIST,
    card_path: str | Path | None = None,
    coverage: bool = False,
) -> dict:
    """Build the pool from the Debian files into ``out_path`` (default: the shipped file) and return a
    summary. Deterministic: the same package versions give the same bytes. ``coverage`` also phonemises
    every sentence (cached) for the card; ``card_path`` writes the card."""
    from ground.files import atomic_write_text

    started = time.perf_counter()
    out = Path(out_path) if out_path is not None else POOL_PATH
    pairs, dropped = collect_sentences(Path(fortune_dir), Path(wordlist))
    pool: list[PoolSentence] = []
    ids: dict[str, str] = {}
    for source, text in pairs:
        sid = sentence_id(text)
        if sid in ids:  # 40-bit ids: a collision would silently merge two sentences
            raise BadInputError(f"sentence id collision {sid}: {text!r} / {ids[sid]!r}")
        ids[sid] = text
        label = label_emotion(text)
        pool.append(
            PoolSentence(
                id=sid,
                text=text,
                source=source,
                licence=FORTUNES_LICENCE,
                wording=label.wording,
                emotion=label.emotion,
                confidence=label.confidence,
                valence=label.valence,
                scores=label.scores,
            )
        )
    pool.sort(key=lambda s: s.id)
    body = "".join(json.dumps(s.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n" for s in pool)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, body)
    summary = summarise_pool(pool)
    summary.update(
        out=str(out),
        bytes=len(body.encode("utf-8")),
        dropped=dict(sorted(dropped.items(), key=lambda kv: -kv[1])),
        versions={
            **{p: _package_version(p) for p in APT_PACKAGES},
            **{p: _pip_version(p) for p in ("nrclex", "vaderSentiment")},
        },
    )
    summary["build_seconds"] = round(time.perf_counter() - started, 1)
    if coverage:
        t0 = time.perf_counter()
        summary["coverage"] = phoneme_coverage([s.text for s in pool])
        summary["coverage_seconds"] = round(time.perf_counter() - t0, 1)
    if card_path is not None:
        atomic_write_text(card_path, render_card(summary))
    return summary


def summarise_pool(pool: Sequence[PoolSentence]) -> dict:
    """Counts a card reports: sentences, wordings, classes, sources, word lengths."""
    lengths = Counter(len(s.text.split()) for s in pool)
    return {
        "sentences": len(pool),
        "distinct_normalised": len({normalise_sentence(s.text) for s in pool}),
        "wording": dict(Counter(s.wording for s in pool)),
        "emotion": {e: sum(s.emotion == e for s in pool) for e in EMOTIONS if e != NEUTRAL},
        "sources": dict(sorted(Counter(s.source for s in pool).items())),
        "words": {str(n): lengths[n] for n in range(MIN_WORDS, MAX_WORDS + 1)},
    }


def load_sentence_pool(path: str | Path | None = None) -> list[PoolSentence]:
    """The sentences of a pool file (default: the shipped ``assets/corpus/sentences.jsonl``)."""
    src = Path(path) if path is not None else POOL_PATH
    if not src.is_file():
        raise MissingComponentError(
            f"no sentence pool at {src}", hint="dubber corpus sentences --out assets/corpus/sentences.jsonl"
        )
    pool = []
    for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            item = PoolSentence(
                id=str(rec["id"]),
                text=str(rec["text"]),
                source=str(rec["source"]),
                licence=str(rec["licence"]),
                wording=str(rec["wording"]),
                emotion=rec["emotion"],
                confidence=float(rec["confidence"]),
                valence=float(rec["valence"]),
                scores={str(k): float(v) for k, v in rec.get("scores", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(f"line {n} is not a pool sentence ({exc})", source=src) from exc
        if item.wording not in WORDINGS or (item.emotion is None) != (item.wording == "neutral"):
            raise BadInputError(
                f"line {n}: wording {item.wording!r} with emotion {item.emotion!r}", source=src
            )
        if item.emotion is not None and item.emotion not in EMOTIONS:
            raise BadInputError(f"line {n}: unknown emotion {item.emotion!r}", source=src)
        pool.append(item)
    if not pool:
        raise BadInputError("sentence pool is empty", source=src)
    return pool


# -------------------------------------------------------------------------------------------- coverage

# Rhotic vowels and diphthongs of espeak's American English (the word "liar" needs aɪɚ).
RHOTIC_PHONEMES: tuple[str, ...] = ("ɚ", "ɜː", "aɪɚ", "aʊɚ", "ɪɹ", "ɛɹ", "ʊɹ", "ɔːɹ", "ɑːɹ", "oːɹ")


def _cached_phonemes(
    texts: Sequence[str], voice: str, cache_dir: Path | None
) -> tuple[list[list[str]], bool]:
    """``phonemize_many`` with its result kept on disk, keyed by the texts, voice and espeak-ng version."""
    from ground.config import default_cache_dir

    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
    key = hashlib.blake2b(
        json.dumps([voice, version, list(texts)], ensure_ascii=False).encode(), digest_size=10
    ).hexdigest()
    path = (cache_dir or default_cache_dir() / "sentences") / f"phonemes-{key}.json"
    if path.is_file():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if len(cached) == len(texts):
                return [c.split("|") if c else [] for c in cached], True
        except (OSError, ValueError):
            pass  # a broken cache file is rebuilt
    from perception.text import phonemize_many

    result = phonemize_many(list(texts), voice)
    from ground.files import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(["|".join(t) for t in result], ensure_ascii=False))
    return result, False


def _phoneme_runs(tokens: list[str]) -> list[list[str]]:
    """Phonemes only, in runs broken at clause punctuation (stress marks and word gaps are not phonemes;
    sounds join across a word gap, not across a pause)."""
    from perception.text import PUNCTUATION_TOKENS, STRESS_MARKS, WORD_BOUNDARY

    runs: list[list[str]] = [[]]
    for tok in tokens:
        if tok in PUNCTUATION_TOKENS:
            runs.append([])
        elif tok not in STRESS_MARKS and tok != WORD_BOUNDARY:
            runs[-1].append(tok)
    return [r for r in runs if r]


def reference_inventory(
    voice: str | None = None, wordlist: Path = WORDLIST, cache_dir: Path | None = None
) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """espeak-ng's English phoneme set as it is used: every phoneme (and within-word diphone) espeak-ng
    gives the words of Debian's ``wamerican`` list (about 100k words). Cached."""
    from ground.config import get_config

    voice = voice or get_config().perception.espeak_voice
    words = sorted(w for w in _vocabulary(wordlist) if re.fullmatch(r"[a-z]+", w))
    phonemes: Counter[str] = Counter()
    diphones: Counter[tuple[str, str]] = Counter()
    for tokens in _cached_phonemes(words, voice, cache_dir)[0]:
        for run in _phoneme_runs(tokens):
            phonemes.update(run)
            diphones.update(zip(run, run[1:], strict=False))
    return phonemes, diphones


def phoneme_coverage(
    texts: Sequence[str], voice: str | None = None, cache_dir: Path | None = None, reference: bool = True
) -> dict:
    """What the texts give an acoustic model to learn, in the project's own phonemes (espeak-ng IPA as
    ``perception.text.phonemize`` tokenises it): the phoneme inventory and counts, diphone coverage
    (distinct pairs of consecutive phonemes, across word gaps but not pauses, out of all pairs of the
    phonemes seen, and how many occur 5 times or more), the rhotic vowels, and, with ``reference``, the
    phonemes and within-word diphones of espeak-ng's English (``reference_inventory``) the texts never
    use. Phonemes are cached per text set."""
    from ground.config import get_config
    from perception.text import normalise_text

    voice = voice or get_config().perception.espeak_voice
    spoken = [normalise_text(t) for t in texts]
    phonemes: Counter[str] = Counter()
    diphones: Counter[tuple[str, str]] = Counter()
    phonemised, cached = _cached_phonemes(spoken, voice, cache_dir)
    for tokens in phonemised:
        for run in _phoneme_runs(tokens):
            phonemes.update(run)
            diphones.update(zip(run, run[1:], strict=False))
    n = len(phonemes)
    report = {
        "voice": voice,
        "texts": len(texts),
        "cached": cached,
        "phoneme_tokens": sum(phonemes.values()),
        "phonemes": dict(phonemes.most_common()),
        "phoneme_count": n,
        "diphones_possible": n * n,
        "diphones_seen": len(diphones),
        "diphone_coverage": round(len(diphones) / (n * n), 4) if n else 0.0,
        "diphones_ge5": sum(c >= 5 for c in diphones.values()),
        "rhotic": {p: phonemes.get(p, 0) for p in RHOTIC_PHONEMES},
    }
    if reference:
        ref_phonemes, ref_diphones = reference_inventory(voice, cache_dir=cache_dir)
        report["reference_phonemes"] = len(ref_phonemes)
        report["reference_set"] = sorted(ref_phonemes)
        # with how often each occurs in the word list: the ones missing here are loan-word sounds
        report["missing_phonemes"] = {p: ref_phonemes[p] for p in sorted(set(ref_phonemes) - set(phonemes))}
        report["reference_diphones"] = len(ref_diphones)
        report["reference_diphones_seen"] = sum(d in diphones for d in ref_diphones)
        # the within-word diphones the texts lack, most frequent in the word list first
        missing = sorted((d for d in ref_diphones if d not in diphones), key=lambda d: (-ref_diphones[d], d))
        report["missing_diphones_top"] = {" ".join(d): ref_diphones[d] for d in missing[:25]}
    return report


# ------------------------------------------------------------------------------------------------ card


def render_card(summary: dict) -> str:
    """The pool's card (``assets/corpus/SENTENCES.md``) from a build summary."""
    n = summary["sentences"]
    emotional = summary["wording"].get("emotional", 0)
    lines = [
        "# Sentence pool (`assets/corpus/sentences.jsonl`)",
        "",
        "Built by `dubber corpus sentences --out assets/corpus/sentences.jsonl --card assets/corpus/SENTENCES.md "
        "--coverage` (`corpora.sentences.build_sentence_pool`): deterministic for the same Debian package "
        "versions. One JSON object a line: `id` (hash of the normalised text), `text`, `source`, `licence`, "
        "`wording` (`neutral` or `emotional`), `emotion` (null when neutral), `confidence`, `valence` "
        "(VADER compound) and `scores` (lexicon evidence per class).",
        "",
        "## Sources and licences",
        "",
        "| what | package (version) | licence |",
        "|---|---|---|",
    ]
    v = summary.get("versions", {})
    lines += [
        f"| sentences | Debian `fortunes` ({v.get('fortunes')}), `fortunes-min` ({v.get('fortunes-min')}) "
        "| BSD-3-Clause (4.4BSD licence, advertising clause deleted; `/usr/share/doc/fortunes/copyright`) |",
        f"| English word filter, phoneme reference | Debian `wamerican` ({v.get('wamerican')}, SCOWL) "
        "| SCOWL permissive licence (use, copy, modify, distribute, sell) |",
        f"| emotion lexicon | NRC Emotion Lexicon via `nrclex` ({v.get('nrclex')}; wrapper MIT) | NRC terms: "
        "free for research and non-commercial use, cite Mohammad & Turney (2013); commercial use needs a "
        "licence from NRC Canada. Only derived labels ship here, not the lexicon |",
        f"| valence | VADER via `vaderSentiment` ({v.get('vaderSentiment')}) | MIT |",
        "",
        f"Categories read: {', '.join(FORTUNE_CATEGORIES)}.",
        "",
        "Categories dropped: " + "; ".join(f"{k} ({why})" for k, why in DROPPED_CATEGORIES.items()) + ".",
        "",
        "## Filter rules",
        "",
        "Per fortune: the attribution (`-- Author`) and what follows it, `[... Ed.]` notes and `Q:`/`A:` "
        "prefixes are removed; verse, lists and tables (mostly short lines, or columns) and anything with "
        "code characters, e-mail or links are dropped whole. Quoted speech becomes its own passage (a "
        "closing comma becomes a full stop). Passages are written out for speech with "
        "`perception.text.normalise_text` (numbers, abbreviations) and split into sentences; `--` and "
        "`...` become commas, `;` a comma, `!!` one `!`. A sentence is kept when it has "
        f"{MIN_WORDS} to {MAX_WORDS} words, starts with a capital and ends in `. ! ?` with no stop inside, "
        "uses only letters, spaces and `, . ! ? ' -` (apostrophes inside words only), has no all-capitals "
        "word, at most 2 capitalised words after the first (names), at most 3 commas and few marks, no "
        "word of the offensive list, and at most one unknown word in ten (`wamerican`). Duplicates are "
        "removed on `normalise_sentence` (lower case, letters and digits, collapsed spaces).",
        "",
        "| dropped because | sentences (fortunes for verse/table) |",
        "|---|---|",
    ]
    lines += [f"| {k} | {c} |" for k, c in summary.get("dropped", {}).items()]
    lines += [
        "",
        "## Emotion wording (independent of the source)",
        "",
        "`corpora.sentences.label_emotion`: per class, evidence 1 for each prototype emotion word (after "
        "Shaver et al. 1987, with their adjective and verb forms: `CORE_WORDS`) and 1/k for each of the k "
        "NRC emotions of a word (anger, disgust, fear, joy, sadness, surprise) that VADER's lexicon also "
        "rates with the matching sign; nothing from the three words after a negator. The sentence's VADER "
        "compound gates the classes (negative classes need < -0.05, happy > 0.05; an explicit emotion "
        "word only yields to an opposite compound of 0.5 or more). **Contempt** has no NRC class: it is "
        "scored from words that belittle a person (`DEROGATION_WORDS`: idiot, fool, pathetic...; contempt "
        "as derogation of its target, Fischer & Roseman 2007), from contempt words (scorn, despise, "
        "sneer...) and dismissive phrases (who cares, big deal, as if...), in a negative sentence. A "
        "sentence is `emotional` when its best class has 1 or more (0.5 or more when |compound| >= 0.4) "
        "and beats the second; otherwise `neutral` wording, to be spoken with any emotion.",
        "",
        f"{n} sentences ({summary['distinct_normalised']} distinct normalised): {emotional} emotional, "
        f"{summary['wording'].get('neutral', 0)} neutral wording.",
        "",
        "| emotion | emotional sentences |",
        "|---|---|",
    ]
    lines += [f"| {e} | {c} |" for e, c in summary["emotion"].items()]
    scarce = [e for e, c in summary["emotion"].items() if c < 200]
    if scarce:
        lines += [
            "",
            f"Scarce: {', '.join(scarce)} (fewer than 200 sentences; aphorisms rarely word these "
            "emotions). No generated sentences are added: a generated source that fills a class would let "
            "a model tell the label from the style.",
        ]
    lines += ["", "## Sentence length", "", "| words | sentences |", "|---|---|"]
    lines += [f"| {k} | {c} |" for k, c in summary["words"].items()]
    lines += ["", "| source | sentences |", "|---|---|"]
    lines += [f"| {k} | {c} |" for k, c in summary["sources"].items()]
    cov = summary.get("coverage")
    if cov:
        lines += [
            "",
            f"## Phoneme coverage (espeak-ng {cov['voice']}, `perception.text.phonemize` tokens)",
            "",
            f"- {cov['phoneme_tokens']} phonemes in {cov['texts']} sentences; {cov['phoneme_count']} distinct "
            f"phonemes (espeak-ng's English over the {len(_vocabulary(WORDLIST))}-entry `wamerican` list uses "
            f"{cov.get('reference_phonemes', '?')}).",
            f"- Diphones (consecutive phonemes, across word gaps, not across pauses): {cov['diphones_seen']} of "
            f"the {cov['diphones_possible']} pairs of seen phonemes ({100 * cov['diphone_coverage']:.1f}%); "
            f"{cov['diphones_ge5']} occur 5 times or more.",
            f"- Within-word diphones of the word list covered: {cov.get('reference_diphones_seen', '?')} of "
            f"{cov.get('reference_diphones', '?')}.",
            "- Never used (count in the word list): "
            + ", ".join(f"`{p}` ({c})" for p, c in cov.get("missing_phonemes", {}).items())
            + ".",
            "- Rhotic vowels (`liar` needs `aɪɚ`): "
            + ", ".join(
                f"`{p}` {c}"
                + ("" if p in cov.get("reference_set", [p]) else " (not in espeak-ng's en-us set)")
                for p, c in cov["rhotic"].items()
            )
            + ".",
            "- Most frequent word-list diphones missing: "
            + ", ".join(f"`{d}` ({c})" for d, c in list(cov.get("missing_diphones_top", {}).items())[:12])
            + ".",
            "",
            "| phoneme | count |",
            "|---|---|",
        ]
        lines += [f"| `{p}` | {c} |" for p, c in cov["phonemes"].items()]
    timing = f"Build: {summary.get('build_seconds')} s"
    if cov:
        timing += f"; coverage {summary.get('coverage_seconds')} s" + (
            " (phonemes from the cache)"
            if cov.get("cached")
            else " (cold: the pool and the word-list reference through espeak-ng in batches of 400 clauses)"
        )
    lines += ["", timing + ".", ""]
    return "\n".join(lines)
