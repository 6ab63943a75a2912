"""The actor's acoustic frames: WORLD analysis of speech into the vectors the model predicts.

One float32 vector per 10 ms frame (``MediaConfig.hop_ms``), laid out as

    [coded spectral envelope (ActorConfig.spectral_dims) | log-F0 | voicing | coded band aperiodicity]

* the envelope is CheapTrick's, reduced with ``pyworld.code_spectral_envelope`` (mel-cepstrum-like);
* log-F0 is continuous: natural log of Hz on voiced frames, linearly interpolated (in log Hz) through
  unvoiced stretches and held flat before the first / after the last voiced frame, so the model never
  has to predict a jump to a "0 Hz" value;
* voicing is 0/1 (the vocoder switches pulses on where it is above 0.5);
* aperiodicity is D4C's, coded into ``pyworld.get_num_aperiodicities(sr)`` bands (1 at 16 kHz, in dB).

F0 comes from DIO + StoneMask, as in ``perception.audio.prosody`` and the corpus renderer (see the
speed / accuracy note there), with the actor's own floor and ceiling. ``actors.vocoder`` turns these
frames back into audio.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ground.config import get_config

with warnings.catch_warnings():  # pyworld imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    import pyworld

STATS_VERSION = 1
_MIN_STD = 1e-3  # a constant dimension (e.g. silence-only data) must not blow up normalisation


@dataclass(frozen=True)
class FeatureLayout:
    """Where each WORLD parameter lives in an acoustic frame vector.

    ``FeatureLayout()`` is the configured one (``ActorConfig.spectral_dims``, WORLD's band count at
    ``MediaConfig.sample_rate``); pass both numbers to describe another.
    """

    spectral_dims: int = None  # type: ignore[assignment]  # None: from the configuration
    ap_dims: int = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.spectral_dims is None or self.ap_dims is None:
            cfg = get_config()
            if self.spectral_dims is None:
                object.__setattr__(self, "spectral_dims", int(cfg.actor.spectral_dims))
            if self.ap_dims is None:
                object.__setattr__(self, "ap_dims", _num_aperiodicities(int(cfg.media.sample_rate)))
        if self.spectral_dims < 1 or self.ap_dims < 1:
            raise ValueError(
                f"spectral_dims and ap_dims must be >= 1, got {self.spectral_dims}, {self.ap_dims}"
            )

    @classmethod
    def from_config(cls, sample_rate: int | None = None) -> FeatureLayout:
        """The layout for ``ActorConfig.spectral_dims`` at ``sample_rate`` (default: the media rate)."""
        cfg = get_config()
        return _layout(int(cfg.actor.spectral_dims), int(sample_rate or cfg.media.sample_rate))

    @property
    def sp(self) -> slice:
        return slice(0, self.spectral_dims)

    @property
    def lf0(self) -> slice:
        return slice(self.spectral_dims, self.spectral_dims + 1)

    @property
    def vuv(self) -> slice:
        return slice(self.spectral_dims + 1, self.spectral_dims + 2)

    @property
    def ap(self) -> slice:
        return slice(self.spectral_dims + 2, self.spectral_dims + 2 + self.ap_dims)

    @property
    def lf0_index(self) -> int:
        return self.spectral_dims

    @property
    def vuv_index(self) -> int:
        return self.spectral_dims + 1

    @property
    def dim(self) -> int:
        return self.spectral_dims + 2 + self.ap_dims

    def describe(self) -> str:
        sd, ad = self.spectral_dims, self.ap_dims
        return (
            f"{self.dim} columns = coded spectral envelope [0:{sd}], log-F0 [{sd}], voicing [{sd + 1}], "
            f"coded aperiodicity [{sd + 2}:{sd + 2 + ad}]"
        )

    def check(self, features: Any, what: str = "acoustic features") -> np.ndarray:
        """``features`` as a finite float array of shape (frames, dim), or a ValueError saying what is wrong."""
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{what} have shape {x.shape}; expected (frames, {self.dim}): {self.describe()}")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        if not np.isfinite(x).all():
            bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
            raise ValueError(f"{what} contain NaN or infinite values (first at frame {bad})")
        return x


def _num_aperiodicities(sample_rate: int) -> int:
    return int(pyworld.get_num_aperiodicities(sample_rate))


@lru_cache(maxsize=8)
def _layout(spectral_dims: int, sample_rate: int) -> FeatureLayout:
    return FeatureLayout(spectral_dims, _num_aperiodicities(sample_rate))


def continuous_log_f0(f0: np.ndarray, default_hz: float | None = None) -> np.ndarray:
    """log(F0) on voiced frames (F0 > 0), linearly interpolated in log Hz across unvoiced ones.

    Before the first and after the last voiced frame the nearest voiced value is held. Without any voiced
    frame every value is log(``default_hz``) (default: the geometric middle of the actor's F0 range).
    """
    f0 = np.asarray(f0, dtype=np.float64).reshape(-1)
    voiced = np.flatnonzero(f0 > 0)
    if voiced.size == 0:
        if default_hz is None:
            cfg = get_config().actor
            default_hz = float(np.sqrt(cfg.f0_floor * cfg.f0_ceil))
        return np.full(f0.shape, np.log(default_hz))
    return np.interp(np.arange(f0.size), voiced, np.log(f0[voiced]))


def _fit_length(feats: np.ndarray, num_frames: int) -> np.ndarray:
    if feats.shape[0] >= num_frames:
        return feats[:num_frames]
    return np.pad(feats, ((0, num_frames - feats.shape[0]), (0, 0)), mode="edge")


def extract_acoustics(audio: np.ndarray, sr: int, num_frames: int | None = None) -> np.ndarray:
    """WORLD acoustic frames of mono ``audio`` at rate ``sr``: float32 (num_frames, layout.dim).

    Audio at another rate is resampled to ``MediaConfig.sample_rate`` first. Frame ``i`` is centred on
    ``i * hop``; ``num_frames`` (default ``round(len(audio) / hop)``, so that vocoding gives back the same
    length) is met exactly: extra analysis frames are dropped, missing ones repeat the last frame. For
    training targets pass ``frames_per_video_frame * video frames``.
    """
    from perception.audio import resample

    cfg = get_config()
    rate = int(cfg.media.sample_rate)
    hop = int(cfg.media.hop_length)
    x = np.asarray(audio)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {x.shape}")
    if x.size == 0:
        raise ValueError("audio is empty (0 samples)")
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or infinite samples")
    if num_frames is not None and int(num_frames) < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    x = resample(x.astype(np.float32), int(sr), rate)
    x = np.ascontiguousarray(x, dtype=np.float64)
    if num_frames is None:
        num_frames = max(1, int(round(x.size / hop)))
    layout = FeatureLayout.from_config(rate)
    act = cfg.actor
    frame_period = 1000.0 * hop / rate

    f0, times = pyworld.dio(x, rate, f0_floor=act.f0_floor, f0_ceil=act.f0_ceil, frame_period=frame_period)
    f0 = pyworld.stonemask(x, f0, times, rate)
    sp = pyworld.cheaptrick(x, f0, times, rate, fft_size=act.fft_size)
    ap = pyworld.d4c(x, f0, times, rate, fft_size=act.fft_size)

    feats = np.empty((f0.size, layout.dim), dtype=np.float64)
    feats[:, layout.sp] = pyworld.code_spectral_envelope(sp, rate, layout.spectral_dims)
    feats[:, layout.lf0_index] = continuous_log_f0(f0)
    feats[:, layout.vuv_index] = (f0 > 0).astype(np.float64)
    feats[:, layout.ap] = pyworld.code_aperiodicity(ap, rate)
    return np.ascontiguousarray(_fit_length(feats, int(num_frames)), dtype=np.float32)


@dataclass
class FeatureStats:
    """Per-dimension mean / std of acoustic frames over a training set, for normalising model targets.

    Voicing is left as it is (mean 0, std 1): it is a 0/1 target the model predicts with a sigmoid.
    ``normalise`` / ``denormalise`` work on numpy arrays and torch tensors of shape (..., dim).
    """

    mean: np.ndarray
    std: np.ndarray
    layout: FeatureLayout
    frames: int = 0

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float32).reshape(-1)
        self.std = np.asarray(self.std, dtype=np.float32).reshape(-1)
        if self.mean.shape != (self.layout.dim,) or self.std.shape != (self.layout.dim,):
            raise ValueError(
                f"stats have {self.mean.size} means and {self.std.size} stds; "
                f"expected {self.layout.dim} each: {self.layout.describe()}"
            )
        if not (np.isfinite(self.mean).all() and np.isfinite(self.std).all()) or (self.std <= 0).any():
            raise ValueError("stats must be finite with positive std")

    @classmethod
    def fit(cls, arrays: Iterable[np.ndarray], layout: FeatureLayout | None = None) -> FeatureStats:
        """Mean and std over every frame of every array (each (frames, dim)); float64 accumulation."""
        layout = layout or FeatureLayout.from_config()
        total = np.zeros(layout.dim)
        total_sq = np.zeros(layout.dim)
        count = 0
        shift: np.ndarray | None = None  # first frame, subtracted for numerical stability
        for i, a in enumerate(arrays):
            x = layout.check(a, what=f"acoustic features #{i}").astype(np.float64)
            if x.shape[0] == 0:
                continue
            if shift is None:
                shift = x[0].copy()
            d = x - shift
            total += d.sum(axis=0)
            total_sq += np.square(d).sum(axis=0)
            count += x.shape[0]
        if count == 0 or shift is None:
            raise ValueError("no acoustic frames to compute statistics from")
        mean_d = total / count
        std = np.sqrt(np.maximum(total_sq / count - mean_d**2, 0.0))
        mean = mean_d + shift
        std = np.maximum(std, _MIN_STD)
        mean[layout.vuv] = 0.0
        std[layout.vuv] = 1.0
        return cls(mean=mean, std=std, layout=layout, frames=count)

    def _cast(self, x: Any) -> tuple[Any, Any]:
        if hasattr(x, "new_tensor"):  # torch tensor: same device and dtype, without importing torch here
            return x.new_tensor(self.mean), x.new_tensor(self.std)
        return self.mean, self.std

    def _check_last_dim(self, x: Any) -> None:
        if x.shape[-1] != self.layout.dim:
            raise ValueError(
                f"features have last dimension {x.shape[-1]}; expected {self.layout.dim}: {self.layout.describe()}"
            )

    def normalise(self, features: Any) -> Any:
        self._check_last_dim(features)
        mean, std = self._cast(features)
        return (features - mean) / std

    def denormalise(self, normalised: Any) -> Any:
        self._check_last_dim(normalised)
        mean, std = self._cast(normalised)
        return normalised * std + mean

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATS_VERSION,
            "spectral_dims": self.layout.spectral_dims,
            "ap_dims": self.layout.ap_dims,
            "frames": int(self.frames),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureStats:
        try:
            version = int(data.get("version", STATS_VERSION))
            layout = FeatureLayout(int(data["spectral_dims"]), int(data["ap_dims"]))
            mean, std = data["mean"], data["std"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not acoustic feature statistics ({exc!r} missing or malformed)") from exc
        if version != STATS_VERSION:
            raise ValueError(
                f"acoustic feature statistics version {version}; this code reads {STATS_VERSION}"
            )
        return cls(
            mean=np.asarray(mean), std=np.asarray(std), layout=layout, frames=int(data.get("frames", 0))
        )


def features_from_model(pred: np.ndarray, stats: FeatureStats, postfilter_beta: float = 0.0) -> np.ndarray:
    """The actor's output frames (normalised, voicing as a logit) -> WORLD features for the vocoder."""
    vuv = stats.layout.vuv
    feats = stats.denormalise(pred.copy())
    feats[:, vuv] = (pred[:, vuv] > 0).astype(np.float32)
    if postfilter_beta:
        feats = cepstral_postfilter(feats, postfilter_beta, stats.layout)
    return feats


def cepstral_postfilter(
    feats: np.ndarray, beta: float, layout: FeatureLayout | None = None, sample_rate: int | None = None
) -> np.ndarray:
    """Sharpen an over-smoothed envelope: the coded cepstrum from index 2 on scaled by ``1 + beta``, each
    frame's power kept (the mel-cepstral postfilter of HTS / Merlin-style WORLD synthesis).

    A model trained with an L1/L2 loss predicts the mean of its targets, which flattens formant peaks; a
    recogniser hears that as mumbling. Per frame only, so streaming chunks are filtered exactly as the
    whole line is.
    """
    layout = layout or FeatureLayout()
    rate = int(sample_rate or get_config().media.sample_rate)
    fft_size = int(get_config().actor.fft_size)
    out = np.array(feats, dtype=np.float32, copy=True)
    coded = np.ascontiguousarray(out[:, layout.sp], dtype=np.float64)
    if len(coded) == 0:
        return out
    sharp = coded.copy()
    sharp[:, 2:] *= 1.0 + beta
    power = decode_envelope(coded, rate, fft_size).sum(1)
    power_sharp = decode_envelope(sharp, rate, fft_size).sum(1)
    sharp[:, 0] += np.log(power / np.maximum(power_sharp, 1e-30)) / _c0_log_gain(
        rate, fft_size, layout.spectral_dims
    )
    out[:, layout.sp] = sharp
    return out


def decode_envelope(coded: np.ndarray, sample_rate: int, fft_size: int) -> np.ndarray:
    """The coded envelope (frames, spectral_dims) -> WORLD's power envelope (frames, fft_size // 2 + 1)."""
    return pyworld.decode_spectral_envelope(
        np.ascontiguousarray(coded, dtype=np.float64), sample_rate, fft_size
    )


@lru_cache(maxsize=8)
def _c0_log_gain(rate: int, fft_size: int, dims: int) -> float:
    """How much the decoded envelope's natural-log power moves per unit of coded c0 (a constant of WORLD's
    coding), so a power correction can be written back into c0."""
    coded = np.zeros((2, dims))
    coded[1, 0] = 1.0
    sp = decode_envelope(coded, rate, fft_size)
    return float(np.log(sp[1].sum() / sp[0].sum()))
