"""The line to be spoken: decoding, normalisation, IPA phonemes (espeak-ng) and a sentence embedding.

Phonemes come from the espeak-ng program with the voice as a parameter (``perception.espeak_voice``), so a
new target language is a matter of data. English normalisation (numbers, currency, ordinals, years,
percentages, abbreviations) is written here without extra dependencies; for other languages the text is
only tidied and espeak-ng reads the digits itself.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
import threading
import unicodedata
from pathlib import Path

import numpy as np

from ground.config import get_config
from ground.errors import BadInputError, MissingComponentError
from ground.runtime import process_wide
from perception.records import TextFeatures

# ----------------------------------------------------------------------------------------------- decoding


def decode_line(data: bytes | str, source: str | Path | None = None) -> str:
    """A script line as text: strict UTF-8, not empty, at most ``perception.max_line_chars`` characters.

    A leading BOM and surrounding whitespace are removed.
    """
    src = source if source is not None else "line"
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError(
                f"line is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at position {exc.start})",
                source=src,
            ) from exc
    elif isinstance(data, str):
        text = data
    else:
        raise BadInputError(f"line must be text or bytes, got {type(data).__name__}", source=src)
    text = text.lstrip("\ufeff").strip()
    if not text:
        raise BadInputError("line is empty", source=src)
    if "\x00" in text:
        raise BadInputError("line contains a NUL character", source=src)
    limit = get_config().perception.max_line_chars
    if len(text) > limit:
        raise BadInputError(f"line is too long ({len(text)} characters; at most {limit})", source=src)
    return text


# ------------------------------------------------------------------------------------ number to words

_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> str:
    words = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words.append(f"{_ONES[hundreds]} hundred")
    if rest:
        if rest < 20:
            words.append(_ONES[rest])
        else:
            tens, ones = divmod(rest, 10)
            words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    return " ".join(words)


def number_to_words(n: int) -> str:
    """Cardinal English words: 21 -> 'twenty-one', 1500000 -> 'one million five hundred thousand'."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n >= 10**15:
        return " ".join(_ONES[int(d)] for d in str(n))
    words = []
    for value, name in _SCALES:
        if n >= value:
            count, n = divmod(n, value)
            words.append(f"{_below_thousand(count)} {name}")
    if n:
        words.append(_below_thousand(n))
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """21 -> 'twenty-first', 100 -> 'one hundredth', 12 -> 'twelfth'."""
    words = number_to_words(n)
    head, sep, last = max(words.rpartition(" "), words.rpartition("-"), key=lambda p: len(p[0]))
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def year_to_words(n: int) -> str:
    """1984 -> 'nineteen eighty-four', 1900 -> 'nineteen hundred', 2005 -> 'two thousand five'."""
    if 2000 <= n <= 2009 or n % 1000 == 0:
        return number_to_words(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{number_to_words(high)} hundred"
    if low < 10:
        return f"{number_to_words(high)} oh {_ONES[low]}"
    return f"{number_to_words(high)} {number_to_words(low)}"


def _digits(s: str) -> str:
    return " ".join(_ONES[int(d)] for d in s)


def _decimal_to_words(int_part: str, frac: str | None) -> str:
    words = number_to_words(int(int_part.replace(",", "") or "0"))
    if frac:
        words += " point " + _digits(frac)
    return words


# ------------------------------------------------------------------------------------- normalisation

_ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miz",
    "dr": "doctor",
    "prof": "professor",
    "jr": "junior",
    "sr": "senior",
    "capt": "captain",
    "lt": "lieutenant",
    "sgt": "sergeant",
    "col": "colonel",
    "gen": "general",
    "gov": "governor",
    "rev": "reverend",
    "mt": "mount",
    "ft": "fort",
    "vs": "versus",
    "etc": "et cetera",
    "approx": "approximately",
    "dept": "department",
    "ave": "avenue",
    "blvd": "boulevard",
}
# titles and street words only when capitalised ("5 ft." is not "fort"); these also in lower case:
_LOWER_CASE_OK = ("vs", "etc", "approx")
_ABBREVIATION_RE = (
    r"\b("
    + "|".join([k.capitalize() for k in (*_ABBREVIATIONS, "st")] + list(_LOWER_CASE_OK))
    + r")\.(?=\s|$|,)"
)
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
             "€": ("euro", "euros", "cent", "cents")}  # fmt: skip
_SCALE_WORDS = ("thousand", "million", "billion", "trillion")

_QUOTES = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": " - "}
)
_NUM = r"\d{1,3}(?:,\d{3})+|\d+"


def _money(match: re.Match) -> str:
    symbol, whole, frac, scale = match.group(1), match.group(2), match.group(3), match.group(4)
    one, many, cent, cents = _CURRENCY[symbol]
    if scale:  # "$5 million" / "$2.5 billion": the scale word comes before the unit
        return f"{_decimal_to_words(whole, frac)} {scale.lower()} {many}"
    n = int(whole.replace(",", "") or "0")
    c = int((frac + "0")[:2]) if frac else 0
    if n == 0 and c:
        return f"{number_to_words(c)} {cent if c == 1 else cents}"
    words = f"{number_to_words(n)} {one if n == 1 else many}"
    if c:
        words += f" {number_to_words(c)} {cent if c == 1 else cents}"
    return words


def _abbreviation(match: re.Match) -> str:
    word = match.group(1)
    key = word.lower()
    before = match.string[: match.start()]
    after = match.string[match.end() :]
    if key == "st":  # "St. Louis", "at St. Mary's" (saint) vs "Baker St." (street)
        prev = before.split()[-1] if before.split() else ""
        saint = re.match(r"\s+[A-Z]", after) and not prev[:1].isupper()
        expanded = "saint" if saint else "street"
    else:
        expanded = _ABBREVIATIONS[key]
    if word[0].isupper():
        expanded = expanded[0].upper() + expanded[1:]
    # the abbreviation's dot also ends the sentence when nothing, or (after "etc.") a new sentence, follows
    if not after.strip() or (key == "etc" and re.match(r"\s+[A-Z]", after)):
        expanded += "."
    return expanded


def _time(match: re.Match) -> str:
    hours, minutes = int(match.group(1)), match.group(2)
    words = number_to_words(hours)
    if minutes == "00":
        return words
    if minutes[0] == "0":
        return f"{words} oh {_ONES[int(minutes)]}"
    return f"{words} {number_to_words(int(minutes))}"


def _number(match: re.Match) -> str:
    whole, frac = match.group(1), match.group(2)
    plain = whole.replace(",", "")
    if frac is None and "," not in whole and len(plain) == 4 and 1100 <= int(plain) <= 2099:
        return year_to_words(int(plain))
    if frac is None and len(plain) > 1 and plain.startswith("0"):
        return _digits(plain)  # "007", zip codes
    return _decimal_to_words(whole, frac)


def normalise_text(text: str, language: str = "en") -> str:
    """Text as it should be spoken: English numbers and abbreviations written out, punctuation kept.

    Covers cardinals (with thousands separators and decimals), negative numbers, ordinals (21st), years
    (1984, 2005), currency ($5, $3.50, £2, €1.2 million), percentages, times (3:30), ranges (1990-1995)
    and common abbreviations (Mr., Mrs., Dr., St. as saint or street, vs., etc., e.g., i.e., No. 5, &).
    Clause punctuation (, . ! ? ; :) stays for the prosody of the phonemiser. For ``language`` other than
    English only quotes, dashes and whitespace are tidied.
    """
    text = unicodedata.normalize("NFC", text).translate(_QUOTES).replace("\u2026", "...")
    if language.split("-")[0].lower() != "en":
        return re.sub(r"\s+", " ", text).strip()

    text = re.sub(r"\b[Ee]\.g\.(?=\s|$|,)", "for example", text)
    text = re.sub(r"\b[Ii]\.e\.(?=\s|$|,)", "that is", text)
    text = re.sub(r"\b(No|no)\.\s*(?=\d)", lambda m: "Number " if m.group(1) == "No" else "number ", text)
    text = re.sub(
        _ABBREVIATION_RE,
        _abbreviation,
        text,
    )
    text = text.replace("&", " and ")
    # currency, with an optional scale word: $5, $3.50, £1,200, €2.5 million
    text = re.sub(
        r"([$£€])\s?(" + _NUM + r")(?:\.(\d+))?(?:\s+(" + "|".join(_SCALE_WORDS) + r")\b)?",
        _money,
        text,
        flags=re.IGNORECASE,
    )
    # percentages
    text = re.sub(
        r"(" + _NUM + r")(?:\.(\d+))?\s?%",
        lambda m: _decimal_to_words(m.group(1), m.group(2)) + " percent",
        text,
    )
    # ordinals: 1st 2nd 3rd 4th 21st
    text = re.sub(
        r"\b(\d+)(st|nd|rd|th)\b", lambda m: ordinal_to_words(int(m.group(1))), text, flags=re.IGNORECASE
    )
    # times: 3:30, 10:05
    text = re.sub(r"\b(\d{1,2}):(\d{2})\b", _time, text)
    # ranges between numbers: 1990-1995, 5-10
    text = re.sub(r"(?<=\d)\s?-\s?(?=\d)", " to ", text)
    # negative numbers: a minus sign not joined to a preceding word
    text = re.sub(r"(?<![\w.])-(?=\d)", "minus ", text)
    # plain numbers, decimals and years
    text = re.sub(r"(?<![\w.])(" + _NUM + r")(?:\.(\d+))?(?![\d])", _number, text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


# ------------------------------------------------------------------------------------------ phonemes

PUNCTUATION_TOKENS: tuple[str, ...] = (",", ".", "!", "?")
WORD_BOUNDARY = " "
STRESS_MARKS = ("ˈ", "ˌ")
_CLAUSE_SPLIT = re.compile(r"([,;:!?.]+(?=\s|$)|\s-\s)")
_SEPARATOR = "_"
_ESPEAK_BATCH = 400  # clauses per espeak-ng run in phonemize_many


def _espeak_binary() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise MissingComponentError(
            "espeak-ng is not installed (needed for phonemes)", hint="sudo apt-get install espeak-ng"
        )
    return exe


@functools.lru_cache(maxsize=64)
def _check_voice(voice: str) -> None:
    exe = _espeak_binary()
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", voice):
        raise BadInputError("not an espeak-ng voice name", source=voice)
    proc = subprocess.run([exe, "-q", "-v", voice, "a"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0 or "does not exist" in proc.stderr:
        raise BadInputError(
            "espeak-ng does not know this language/voice (see `espeak-ng --voices` for the list)",
            source=voice,
        )


def _ipa_words(output: str) -> list[list[str]]:
    """espeak-ng ``--ipa --sep=_`` output of one clause as words of phoneme tokens (stress marks separate)."""
    words = []
    for word in output.split():
        tokens: list[str] = []
        for piece in word.split(_SEPARATOR):
            piece = piece.replace("\u200d", "")
            while piece and piece[0] in STRESS_MARKS:
                tokens.append(piece[0])
                piece = piece[1:]
            if piece:
                tokens.append(piece)
        if tokens:
            words.append(tokens)
    return words


def _espeak_ipa(chunk: str, voice: str) -> list[list[str]]:
    """Phonemes of one clause: a list of words, each a list of phoneme tokens (stress marks separate)."""
    proc = subprocess.run(
        [_espeak_binary(), "-q", "--ipa", f"--sep={_SEPARATOR}", "-v", voice, "--stdin"],
        input=chunk,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise BadInputError(f"espeak-ng failed: {proc.stderr.strip()[:200]}", source=voice)
    return _ipa_words(proc.stdout)


def _espeak_clauses(clauses: list[str], voice: str) -> dict[str, list[list[str]]]:
    """IPA words of many clauses, a few hundred per espeak-ng run (one run per clause costs ~15 ms, a pool
    of thousands of sentences minutes). Clauses are separated by blank lines, at which espeak-ng ends a
    clause; a batch whose output does not have one line per clause is redone a clause at a time."""
    out: dict[str, list[list[str]]] = {}
    for start in range(0, len(clauses), _ESPEAK_BATCH):
        batch = clauses[start : start + _ESPEAK_BATCH]
        proc = subprocess.run(
            [_espeak_binary(), "-q", "--ipa", f"--sep={_SEPARATOR}", "-v", voice, "--stdin"],
            input="\n\n".join(batch) + "\n",
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = [ln for ln in proc.stdout.split("\n") if ln.strip()]
        if proc.returncode == 0 and len(lines) == len(batch):
            out.update((c, _ipa_words(ln)) for c, ln in zip(batch, lines, strict=True))
        else:
            out.update((c, _espeak_ipa(c, voice)) for c in batch)
    return out


def _punctuation_token(run: str) -> str:
    if "?" in run:
        return "?"
    if "!" in run:
        return "!"
    if "." in run:
        return "."
    return ","


def _clause_tokens(text: str, ipa_of) -> list[str]:
    """The token list of ``text``: its clauses' words (``ipa_of(clause)``) joined by word boundaries, one
    punctuation token where the text has clause punctuation."""
    tokens: list[str] = []
    for part in _CLAUSE_SPLIT.split(text):
        if not part or not part.strip():
            continue
        if _CLAUSE_SPLIT.fullmatch(part):
            if tokens and tokens[-1] not in PUNCTUATION_TOKENS:
                tokens.append(_punctuation_token(part))
            continue
        for word in ipa_of(part.strip()):
            if tokens:
                tokens.append(WORD_BOUNDARY)
            tokens.extend(word)
    return tokens


@functools.lru_cache(maxsize=4096)
def _phonemize_cached(text: str, voice: str) -> tuple[str, ...]:
    _check_voice(voice)
    return tuple(_clause_tokens(text, lambda clause: _espeak_ipa(clause, voice)))


def phonemize(text: str, voice: str | None = None) -> list[str]:
    """IPA phoneme tokens of ``text`` from espeak-ng.

    Tokens are single phonemes as espeak-ng separates them (affricates and diphthongs stay one token, e.g.
    ``tʃ``, ``oʊ``; length marks stay on their vowel), stress marks ``ˈ``/``ˌ`` as their own tokens, ``" "``
    between words and one of ``, . ! ?`` where the text has clause punctuation. ``voice`` is any espeak-ng
    voice (``en-us``, ``en-gb``, ``fr``, ``de``...; default ``perception.espeak_voice``); unknown ones raise
    ``BadInputError``. Results are cached by (text, voice).
    """
    voice = voice or get_config().perception.espeak_voice
    if not text or not text.strip():
        return []
    return list(_phonemize_cached(text.strip(), voice))


def phonemize_many(texts: list[str] | tuple[str, ...], voice: str | None = None) -> list[list[str]]:
    """``phonemize`` for many texts at once: the same tokens, with espeak-ng run on batches of clauses
    (what a sentence pool of thousands needs)."""
    voice = voice or get_config().perception.espeak_voice
    _check_voice(voice)
    clauses = sorted(
        {
            p.strip()
            for t in texts
            for p in _CLAUSE_SPLIT.split(t.strip())
            if p.strip() and not _CLAUSE_SPLIT.fullmatch(p)
        }
    )
    ipa = _espeak_clauses(clauses, voice)
    return [_clause_tokens(t.strip(), ipa.__getitem__) for t in texts]


# ------------------------------------------------------------------------------------ sentence embedding


def _find_model_folder(name: str, marker: str) -> Path:
    """A model folder given as a path, or found inside an installed pip package (name with - or _)."""
    as_path = Path(name).expanduser()
    if as_path.is_dir():
        return as_path
    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise MissingComponentError(f"model package {name!r} is not installed", hint=f"pip install {name}")
    for location in spec.submodule_search_locations:
        for hit in sorted(Path(location).rglob(marker)):
            return hit.parent
    raise MissingComponentError(
        f"no {marker} found inside the {name!r} package", hint=f"pip install --force-reinstall {name}"
    )


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (sentence-transformers) on CPU from the local package; loaded on first use."""

    def __init__(self, model: str | None = None) -> None:
        self.model_name = model or get_config().perception.sentence_model
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                folder = _find_model_folder(self.model_name, "modules.json")
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(folder), device="cpu")
            return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def embed(self, texts: str | list[str]) -> np.ndarray:
        """(N, 384) float32 L2-normalised embeddings (a single string gives N = 1)."""
        if isinstance(texts, str):
            texts = [texts]
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = model.encode(list(texts), convert_to_numpy=True, normalize_embeddings=True, batch_size=32)
        return np.asarray(out, dtype=np.float32)


@process_wide
def get_sentence_embedder() -> SentenceEmbedder:
    """The process-wide embedder (one model in memory)."""
    return SentenceEmbedder()


# ---------------------------------------------------------------------------------------------- all


def analyse_text(text: str | bytes, with_embedding: bool = True, voice: str | None = None) -> TextFeatures:
    """Decode, normalise and phonemise a line; embed the line as written (MiniLM reads digits itself)."""
    raw = decode_line(text)
    voice = voice or get_config().perception.espeak_voice
    language = re.split(r"[-+]", voice)[0].lower()
    normalised = normalise_text(raw, language)
    phonemes = phonemize(normalised, voice)
    if not phonemes:
        raise BadInputError("line has nothing to pronounce", source=raw[:40])
    embedding = get_sentence_embedder().embed([raw])[0] if with_embedding else None
    return TextFeatures(
        raw=raw, normalised=normalised, phonemes=phonemes, language=language, embedding=embedding
    )
