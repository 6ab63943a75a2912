"""SECS: speaker-encoder cosine similarity of a take to its timbre prompt (resemblyzer GE2E d-vectors).

The paper reports it x100 (84.40); ``secs`` returns the plain cosine in [-1, 1].
"""

from __future__ import annotations

import numpy as np

from perception.speaker import SpeakerEncoder, cosine, get_speaker_encoder


def secs(
    audio: np.ndarray,
    prompt_audio: np.ndarray,
    sr: int,
    prompt_sr: int | None = None,
    encoder: SpeakerEncoder | None = None,
) -> float:
    """Cosine of the d-vectors of ``audio`` and ``prompt_audio`` (``prompt_sr`` defaults to ``sr``)."""
    enc = encoder or get_speaker_encoder()
    a = enc.embed(audio, sr, source="generated audio")
    b = enc.embed(prompt_audio, prompt_sr or sr, source="timbre prompt")
    return cosine(a, b)
