"""Audio-visual sync of a take against its video, and its duration error.

Lip opening per video frame (from the landmarks; NaN where no face) is cross-correlated with the speech
loudness envelope (dB per video frame, ``perception.audio.loudness_envelope``) over lags -5..+5 frames.

Sign convention: a lag ``k`` pairs lip frame ``t`` with audio frame ``t + k``. A **positive offset means
the audio lags the video** (the sound comes ``k`` frames after the mouth movement); negative means it leads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_OVERLAP = 5  # fewer valid frame pairs than this and a lag gets no correlation


@dataclass(frozen=True)
class SyncResult:
    offset_frames: int  # lag of the peak correlation; > 0: audio lags video
    confidence: float  # peak correlation minus the median over all lags (0 when nothing could be measured)
    correlation_at_0: float  # Pearson correlation at lag 0 (NaN when it cannot be measured)
    lags: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    correlations: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # NaN where unmeasured

    @property
    def measured(self) -> bool:
        return bool(np.isfinite(self.correlations).any())


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    out = np.full(x.shape, np.nan)
    if valid.sum() < 2:
        return out
    mu, sd = x[valid].mean(), x[valid].std()
    if sd < 1e-12:
        return out  # a constant curve carries no timing information
    out[valid] = (x[valid] - mu) / sd
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < MIN_OVERLAP:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else float("nan")


def av_sync(lip_opening: np.ndarray, loudness_db: np.ndarray, max_offset: int = 5) -> SyncResult:
    """Offset (frames) and confidence of the lip/loudness alignment.

    Both curves are z-scored ignoring NaN; if their lengths differ the common prefix is used. For each lag
    ``k`` in ``-max_offset..max_offset`` the Pearson correlation of ``lip[t]`` with ``loudness[t + k]`` is
    taken over the frames where both are defined. ``offset_frames`` is the lag of the highest correlation,
    ``confidence`` that peak minus the median correlation over lags.
    """
    n = min(len(lip_opening), len(loudness_db))
    lip = _zscore(np.asarray(lip_opening, dtype=np.float64)[:n])
    aud = _zscore(np.asarray(loudness_db, dtype=np.float64)[:n])
    lags = np.arange(-max_offset, max_offset + 1)
    corr = np.full(len(lags), np.nan)
    for idx, k in enumerate(lags):
        if k >= 0:
            corr[idx] = _pearson(lip[: n - k], aud[k:])
        else:
            corr[idx] = _pearson(lip[-k:], aud[: n + k])
    at0 = float(corr[max_offset])
    if not np.isfinite(corr).any():
        return SyncResult(offset_frames=0, confidence=0.0, correlation_at_0=at0, lags=lags, correlations=corr)
    best = int(np.nanargmax(corr))
    confidence = float(corr[best] - np.nanmedian(corr))
    return SyncResult(
        offset_frames=int(lags[best]),
        confidence=confidence,
        correlation_at_0=at0,
        lags=lags,
        correlations=corr,
    )


def duration_error_frames(audio_len_s: float, video_frames: int, fps: float) -> float:
    """Audio length minus video length, in video frames (> 0: the audio runs longer than the video)."""
    return float(audio_len_s) * float(fps) - float(video_frames)
