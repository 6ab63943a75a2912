"""Text normalisation for WER: both the reference and the ASR hypothesis go through the same function.

Lower case, numbers/currency/abbreviations written out (``perception.text.normalise_text``), apostrophes
dropped inside words (``it's`` -> ``its``), hyphens and every other punctuation mark turned into spaces.
"""

from __future__ import annotations

import re
import unicodedata

from perception.text import normalise_text


def normalise_for_wer(text: str) -> str:
    """'Mr. Smith paid $5!' -> 'mister smith paid five dollars'."""
    text = normalise_text(text or "", "en").lower()
    text = re.sub(r"(?<=\w)'(?=\w)", "", text)
    text = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in unicodedata.normalize("NFKC", text))
    return " ".join(text.split())


def words_for_wer(text: str) -> list[str]:
    return normalise_for_wer(text).split()
