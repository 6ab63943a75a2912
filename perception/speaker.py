"""Speaker identity: GE2E d-vectors from resemblyzer (weights ship inside its wheel), on CPU.

Used for the actor's timbre input and for SECS (speaker similarity of a take to its timbre prompt).
"""

from __future__ import annotations

import threading
import warnings

import numpy as np

from ground.errors import BadInputError, MissingComponentError
from ground.runtime import process_wide

EMBEDDING_DIM = 256
_RESEMBLYZER_RATE = 16000


class SpeakerEncoder:
    """resemblyzer ``VoiceEncoder`` on CPU, loaded on first use and then kept."""

    def __init__(self) -> None:
        self._encoder = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._encoder is None:
                try:
                    with warnings.catch_warnings():  # resemblyzer imports pkg_resources
                        warnings.simplefilter("ignore")
                        from resemblyzer import VoiceEncoder
                except ImportError as exc:
                    raise MissingComponentError(
                        "resemblyzer is not installed",
                        hint="pip install resemblyzer webrtcvad-wheels 'setuptools<81'",
                    ) from exc
                self._encoder = VoiceEncoder(device="cpu", verbose=False)
            return self._encoder

    def embed(self, audio: np.ndarray, sr: int, source: str | None = None) -> np.ndarray:
        """(256,) float32 L2-normalised d-vector of one utterance at any sample rate.

        Long pauses are trimmed first (resemblyzer's webrtcvad preprocessing); audio with no speech left
        after that is refused.
        """
        from perception.audio import resample

        encoder = self._load()
        from resemblyzer import preprocess_wav

        wav = resample(np.asarray(audio, dtype=np.float32).reshape(-1), sr, _RESEMBLYZER_RATE)
        wav = preprocess_wav(wav)
        if wav.size < _RESEMBLYZER_RATE // 10:
            raise BadInputError("no speech found for a speaker embedding", source=source or "audio")
        import torch

        with self._lock:
            # one LSTM over one utterance gains nothing from a second thread, and two threads on a busy
            # 2-core machine made an embedding 60x slower (8 s instead of 0.12 s)
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                vec = encoder.embed_utterance(wav.astype(np.float32))
            finally:
                torch.set_num_threads(before)
        vec = np.asarray(vec, dtype=np.float32)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)


@process_wide
def get_speaker_encoder() -> SpeakerEncoder:
    """The process-wide encoder (one model in memory)."""
    return SpeakerEncoder()


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"vectors differ in size: {a.shape} vs {b.shape}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def secs(
    audio: np.ndarray,
    prompt_audio: np.ndarray,
    sr: int,
    prompt_sr: int | None = None,
    encoder: SpeakerEncoder | None = None,
) -> float:
    """SECS: the cosine of the d-vectors of ``audio`` and ``prompt_audio`` (``prompt_sr`` defaults to ``sr``),
    in [-1, 1]; the paper reports it x100."""
    enc = encoder or get_speaker_encoder()
    a = enc.embed(audio, sr, source="generated audio")
    b = enc.embed(prompt_audio, prompt_sr or sr, source="timbre prompt")
    return cosine(a, b)
