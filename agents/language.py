"""Which languages the director can read, and the check that refuses a line it cannot.

The director's emotion cues are English-bound: the LLM's label prompt and its calibration, the MiniLM
prototypes and the caption templates are all English, so a French or Japanese line would get a confident
but meaningless decision. A line is refused when the language it declares, or the language it is clearly
written in, is not one the director supports (``llm.languages`` in the config).

Detection is langid.py (``py3langid``, 97 languages, its model ships in the wheel). Short lines ("Ok.",
"No way!") are ambiguous to any detector, so only a confident detection, or a script that none of the
supported languages is written in, counts as evidence against the line.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ground.errors import BadInputError
from ground.runtime import process_wide

# langid probability above which a detection is trusted; measured: all 3,600 English corpus lines are
# detected as English, and no non-English detection of them exceeds 0.2.
CONFIDENT = 0.5
LATIN_LANGUAGES = frozenset(
    [
        "af",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "en",
        "eo",
        "es",
        "et",
        "eu",
        "fi",
        "fo",
        "fr",
        "ga",
        "gl",
        "hr",
        "ht",
        "hu",
        "id",
        "is",
        "it",
        "lb",
        "lt",
        "lv",
        "ms",
        "mt",
        "nb",
        "nl",
        "nn",
        "no",
        "oc",
        "pl",
        "pt",
        "qu",
        "ro",
        "rw",
        "sk",
        "sl",
        "sq",
        "sv",
        "sw",
        "tl",
        "tr",
        "vi",
        "vo",
        "wa",
        "xh",
        "zu",
    ]
)
LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ru": "Russian", "ja": "Japanese", "zh": "Chinese", "ko": "Korean", "ar": "Arabic",
    "hi": "Hindi", "pl": "Polish", "tr": "Turkish", "sv": "Swedish", "uk": "Ukrainian", "el": "Greek",
}  # fmt: skip


class UnsupportedLanguageError(BadInputError):
    """The line is in a language the director's backend and cues cannot read."""


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    confidence: float
    script: str  # "latin", "cyrillic", "cjk", ... the script most letters are written in


def name(code: str) -> str:
    return f"{LANGUAGE_NAMES.get(code, code)} ({code})"


def script_of(text: str) -> str:
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        try:
            word = unicodedata.name(ch).split()[0]
        except ValueError:
            continue
        script = {"CJK": "cjk", "HIRAGANA": "cjk", "KATAKANA": "cjk", "HANGUL": "hangul"}.get(
            word, word.lower()
        )
        counts[script] = counts.get(script, 0) + 1
    return max(counts, key=counts.get) if counts else "none"


@process_wide
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> LanguageGuess:
    language, confidence = _identifier().classify(text)
    return LanguageGuess(str(language), float(confidence), script_of(text))


def check_language(text: str, supported: tuple[str, ...], declared: str | None = None) -> LanguageGuess:
    """Refuse ``text`` unless it can be in one of ``supported``; return what was detected."""
    supported_names = ", ".join(name(c) for c in supported)
    if declared is not None and declared.split("-")[0].lower() not in supported:
        raise UnsupportedLanguageError(
            f"the line is declared as {name(declared)}, but the director reads only {supported_names}; "
            "set llm.model to a model for that language and add it to llm.languages"
        )
    guess = detect(text)
    latin_only = all(c in LATIN_LANGUAGES for c in supported)
    foreign_script = latin_only and guess.script not in ("latin", "none")
    if guess.language not in supported and (guess.confidence >= CONFIDENT or foreign_script):
        seen = f"{guess.script} script" if foreign_script else f"{guess.confidence:.0%} sure"
        raise UnsupportedLanguageError(
            f"the line looks like {name(guess.language)} ({seen}), but the director reads only "
            f"{supported_names}; translate the line, or set llm.model and llm.languages for that language"
        )
    return guess
