"""WORLD-based reshaping: speaker transform + emotional prosody in one analysis/synthesis pass.

``render_line`` is the voice side of the synthetic corpus: the engine says the line (carrying its share of
the emotion's rate and pitch change), then one WORLD pass (dio + stonemask, cheaptrick, d4c at 16 kHz,
5 ms frames) applies the voice's speaker transform and the rest of the emotion:

* time: speaking-rate change, longer/shorter internal pauses and phrase-final lengthening, by resampling the
  F0 / envelope / aperiodicity frame sequences in time (edge silences are trimmed to 0.1 s);
* F0: level shift and range scaling around the utterance median in the log domain, a terminal rise or fall,
  tremor (sinusoidal F0 modulation with slight amplitude modulation), jitter for creak;
* spectrum: formant shift by frequency-warping the envelope, spectral tilt (power-neutral), energy gain;
* voice quality: breathiness and creak by raising the aperiodicity.

Every render goes through WORLD, neutral ones included, so that vocoder artefacts never tell emotions apart.
Output is level-normalised (neutral speech at about -23 dBFS RMS), then the emotion's gain is applied and a
soft limiter keeps peaks below 1. The same arguments always give the same samples.
"""

from __future__ import annotations

import time
import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np

from corpora.emotions import ProsodyProfile, profile_at
from corpora.voices import PhoneTimings, VoiceSpec, get_engine
from ground.config import get_config
from ground.messages import EMOTIONS

with warnings.catch_warnings():  # pyworld imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    import pyworld

FRAME_PERIOD_MS = 5.0
TARGET_RMS_DBFS = -23.0  # level of neutral speech (RMS over active frames)
EDGE_SILENCE_S = 0.1  # leading/trailing silence kept
FINAL_REGION_S = 0.35  # phrase-final lengthening applies to this much speech before a pause or the end
FINAL_F0_REGION_S = 0.4  # terminal F0 contour ramps over this much voiced speech at the end
MIN_PAUSE_S = 0.06  # silent stretches shorter than this are stop closures, not pauses
F0_FLOOR, F0_CEIL = 55.0, 600.0
_LIMIT_KNEE = 0.7
_LN_ST = np.log(2.0) / 12.0  # one semitone in natural-log units


@dataclass(frozen=True, eq=False)
class RenderedLine:
    """One rendered line: the audio and what is known about it."""

    audio: np.ndarray  # float32 mono, peak < 1
    sample_rate: int
    duration: float  # seconds
    phoneme_timings: PhoneTimings | None  # (phone, start, end) in seconds of ``audio``, or None
    f0_mean: float  # Hz, over voiced frames of the synthesised F0 track
    f0_std_st: float  # standard deviation of the voiced F0 track, semitones
    rms_dbfs: float  # RMS over active frames, dBFS
    f0: np.ndarray  # synthesised F0 track (0 = unvoiced), one value per ``frame_period_ms``
    frame_period_ms: float
    text: str
    voice_id: str
    emotion: str
    intensity: float
    seed: int
    render_seconds: float = field(default=0.0, compare=False)


def render_line(
    text: str, voice: VoiceSpec, emotion: str = "neutral", intensity: float = 1.0, seed: int = 0
) -> RenderedLine:
    """Say ``text`` with ``voice`` and ``emotion`` at ``intensity`` (0..1). Deterministic."""
    t0 = time.perf_counter()
    profile = profile_at(emotion, intensity)
    engine = get_engine(voice)
    engine_rate = profile.rate**engine.rate_share
    engine_pitch = profile.f0_shift_st * engine.pitch_share
    audio, phones = engine.synthesize(text, voice, rate_scale=engine_rate, pitch_shift_st=engine_pitch)
    sr = get_config().media.sample_rate
    world = _WorldPass(audio, sr)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(f"{voice.id}|{emotion}|{text}".encode())])
    out, f0, time_map = world.transform(
        f0_scale=voice.f0_scale,
        warp=voice.warp,
        speaker_tilt_db_oct=voice.tilt_db_oct,
        speaker_breathiness=voice.breathiness,
        profile=profile,
        world_rate=profile.rate / engine_rate,
        world_pitch_st=profile.f0_shift_st - engine_pitch,
        rng=rng,
    )
    if phones is not None:
        phones = tuple((p, round(time_map(s), 4), round(time_map(e), 4)) for p, s, e in phones)
    voiced = f0[f0 > 0]
    return RenderedLine(
        audio=out,
        sample_rate=sr,
        duration=out.size / sr,
        phoneme_timings=phones,
        f0_mean=float(voiced.mean()) if voiced.size else 0.0,
        f0_std_st=float(np.std(12 * np.log2(voiced))) if voiced.size else 0.0,
        rms_dbfs=active_rms_dbfs(out, sr),
        f0=f0.astype(np.float32),
        frame_period_ms=FRAME_PERIOD_MS,
        text=text,
        voice_id=voice.id,
        emotion=emotion,
        intensity=float(intensity),
        seed=int(seed),
        render_seconds=time.perf_counter() - t0,
    )


def apply_speaker_transform(
    audio: np.ndarray,
    sr: int,
    f0_scale: float = 1.0,
    warp: float = 1.0,
    tilt_db_oct: float = 0.0,
    breathiness: float = 0.0,
) -> np.ndarray:
    """Scale F0 by ``f0_scale``, frequency-warp the spectral envelope by ``warp`` (>1 raises formants)
    and, optionally, change voice quality (spectral tilt, breathiness). Timing is left as it is."""
    out, _, _ = _WorldPass(audio, sr, normalise=False, trim=False).transform(
        f0_scale=f0_scale, warp=warp, speaker_tilt_db_oct=tilt_db_oct, speaker_breathiness=breathiness
    )
    return out


def apply_emotion(audio: np.ndarray, sr: int, profile: ProsodyProfile, seed: int = 0) -> np.ndarray:
    """Reshape neutral speech with ``profile`` entirely in WORLD (rate included)."""
    rng = np.random.default_rng(int(seed) & 0xFFFFFFFF)
    out, _, _ = _WorldPass(audio, sr, normalise=False, trim=False).transform(
        profile=profile, world_rate=profile.rate, world_pitch_st=profile.f0_shift_st, rng=rng
    )
    return out


def active_rms_dbfs(audio: np.ndarray, sr: int, floor_db: float = -35.0) -> float:
    """RMS level (dBFS) over 20 ms frames within ``floor_db`` of the loudest frame (speech, not silence)."""
    n = max(1, int(0.02 * sr))
    frames = audio[: audio.size // n * n].astype(np.float64).reshape(-1, n)
    if frames.size == 0:
        return -120.0
    power = (frames**2).mean(axis=1) + 1e-12
    db = 10 * np.log10(power)
    active = power[db > db.max() + floor_db]
    return float(10 * np.log10(active.mean()))


def soft_limit(audio: np.ndarray, knee: float = _LIMIT_KNEE) -> np.ndarray:
    """Identity below ``knee``; above it, a tanh curve that approaches (never reaches) 1."""
    a = np.abs(audio)
    over = a > knee
    if not over.any():
        return audio
    out = audio.copy()
    room = 1.0 - knee
    out[over] = np.sign(audio[over]) * (knee + room * np.tanh((a[over] - knee) / room))
    return out


class _WorldPass:
    """WORLD analysis of one utterance; ``transform`` does everything else and synthesises once."""

    def __init__(self, audio: np.ndarray, sr: int, normalise: bool = True, trim: bool = True):
        x = np.asarray(audio, dtype=np.float64).reshape(-1)
        if normalise:
            x = x * 10 ** ((TARGET_RMS_DBFS - active_rms_dbfs(x, sr)) / 20)
        self.sr = sr
        self.trim = trim
        fp = FRAME_PERIOD_MS
        f0, t = pyworld.dio(x, sr, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=fp)
        self.f0 = pyworld.stonemask(x, f0, t, sr)
        self.sp = pyworld.cheaptrick(x, self.f0, t, sr, f0_floor=F0_FLOOR)
        self.ap = pyworld.d4c(x, self.f0, t, sr)
        self.freqs = np.linspace(0, sr / 2, self.sp.shape[1])

    # ---- time -------------------------------------------------------------------------------------------
    def _frame_weights(self, profile: ProsodyProfile, world_rate: float) -> np.ndarray:
        """Output frames per input frame: rate, pause scaling, phrase-final lengthening, edge trimming."""
        n = self.f0.size
        fp_s = FRAME_PERIOD_MS / 1000
        power_db = 10 * np.log10(self.sp.mean(axis=1) + 1e-20)
        silent = (power_db < power_db.max() - 40) & (self.f0 <= 0)
        # silent runs of at least MIN_PAUSE_S are pauses; shorter ones are closures
        pause = np.zeros(n, bool)
        i = 0
        while i < n:
            if silent[i]:
                j = i
                while j < n and silent[j]:
                    j += 1
                if (j - i) * fp_s >= MIN_PAUSE_S:
                    pause[i:j] = True
                i = j
            else:
                i += 1
        speech = np.flatnonzero(~pause)
        w = np.full(n, 1.0 / world_rate)
        if speech.size == 0:
            return w
        first, last = speech[0], speech[-1]
        internal = pause.copy()
        internal[:first] = False
        internal[last + 1 :] = False
        w[internal] *= profile.pause_scale
        # phrase-final lengthening before each internal pause and the end
        ends = [k - 1 for k in range(first + 1, last + 1) if pause[k] and not pause[k - 1]] + [last]
        span = int(round(FINAL_REGION_S / fp_s))
        for e in ends:
            w[max(first, e - span + 1) : e + 1] *= profile.final_lengthening
        if self.trim:
            keep = int(round(EDGE_SILENCE_S / fp_s))
            w[: max(0, first - keep)] = 1e-6
            w[last + 1 + keep :] = 1e-6
        return w

    # ---- spectrum ---------------------------------------------------------------------------------------
    @staticmethod
    def _warp(env: np.ndarray, alpha: float) -> np.ndarray:
        """env'(f) = env(f / alpha) along the frequency axis (linear interpolation)."""
        bins = env.shape[1]
        src = np.arange(bins) / alpha
        i0 = np.clip(np.floor(src).astype(int), 0, bins - 1)
        i1 = np.clip(i0 + 1, 0, bins - 1)
        frac = np.clip(src - i0, 0.0, 1.0)
        return env[:, i0] * (1 - frac) + env[:, i1] * frac

    def transform(
        self,
        f0_scale: float = 1.0,
        warp: float = 1.0,
        speaker_tilt_db_oct: float = 0.0,
        speaker_breathiness: float = 0.0,
        profile: ProsodyProfile | None = None,
        world_rate: float = 1.0,
        world_pitch_st: float = 0.0,
        rng: np.random.Generator | None = None,
    ):
        """Synthesised audio (float32), its F0 track, and a function mapping input to output seconds."""
        profile = profile or ProsodyProfile()
        rng = rng or np.random.default_rng(0)
        fp_s = FRAME_PERIOD_MS / 1000
        n = self.f0.size

        # time map: cumulative output position of each input frame boundary
        w = self._frame_weights(profile, world_rate)
        cum = np.concatenate([[0.0], np.cumsum(w)])
        n_out = max(1, int(round(cum[-1])))
        pos = np.interp(np.arange(n_out) + 0.5, cum, np.arange(n + 1)) - 0.5
        pos = np.clip(pos, 0, n - 1)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, n - 1)
        a = (pos - i0)[:, None]
        sp = np.exp(np.log(self.sp[i0] + 1e-20) * (1 - a) + np.log(self.sp[i1] + 1e-20) * a)
        ap = self.ap[i0] * (1 - a) + self.ap[i1] * a
        f0a, f0b = self.f0[i0], self.f0[i1]
        near = np.where(a[:, 0] < 0.5, f0a, f0b)
        both = (f0a > 0) & (f0b > 0)
        f0 = np.where(
            both,
            np.exp(np.log(np.maximum(f0a, 1)) * (1 - a[:, 0]) + np.log(np.maximum(f0b, 1)) * a[:, 0]),
            near,
        )

        def time_map(t_in: float) -> float:
            return float(np.interp(t_in / fp_s, np.arange(n + 1), cum)) * fp_s

        voiced = f0 > 0
        t_out = np.arange(n_out) * fp_s

        # ---- F0: speaker scale, level, range, terminal contour, tremor, jitter
        lf = np.log(np.maximum(f0, 1.0)) + np.log(f0_scale)
        if voiced.any():
            med = np.median(lf[voiced])
            lf = med + profile.f0_range * (lf - med) + world_pitch_st * _LN_ST
            vidx = np.flatnonzero(voiced)
            region = int(round(FINAL_F0_REGION_S / fp_s))
            tail = vidx[-region:]
            if tail.size and profile.final_f0_st:
                ramp = np.linspace(0.0, 1.0, tail.size) ** 1.5
                lf[tail] += profile.final_f0_st * _LN_ST * ramp
            if profile.tremor_st > 0 and profile.tremor_hz > 0:
                phase = rng.uniform(0, 2 * np.pi)
                wobble = 1.0 + 0.25 * np.sin(2 * np.pi * 0.7 * t_out + rng.uniform(0, 2 * np.pi))
                lf += (
                    profile.tremor_st
                    * _LN_ST
                    * wobble
                    * np.sin(2 * np.pi * profile.tremor_hz * t_out + phase)
                )
            if profile.creak > 0:
                lf += rng.normal(0.0, 1.2 * profile.creak, n_out) * _LN_ST
        f0 = np.where(voiced, np.clip(np.exp(lf), 40.0, 800.0), 0.0)

        # ---- spectrum: warp, tilt (power-neutral), energy gain, tremor AM
        if abs(warp - 1.0) > 1e-6:
            power_before = sp.sum(axis=1)
            sp = self._warp(sp, warp)
            ap = self._warp(ap, warp)
            sp *= (power_before / np.maximum(sp.sum(axis=1), 1e-30))[:, None]
        tilt = profile.tilt_db_oct + speaker_tilt_db_oct
        if tilt:
            gain_db = tilt * np.log2(np.clip(self.freqs, 250.0, 7000.0) / 1000.0)
            power_before = sp[voiced].sum() if voiced.any() else sp.sum()
            sp = sp * 10 ** (gain_db / 10)[None, :]
            power_after = sp[voiced].sum() if voiced.any() else sp.sum()
            sp *= power_before / max(power_after, 1e-30)
        gain = 10 ** (profile.energy_db / 10)
        if profile.tremor_st > 0 and profile.tremor_hz > 0:
            am_db = 0.8 * profile.tremor_st * np.sin(2 * np.pi * profile.tremor_hz * t_out + 1.0)
            sp = sp * (10 ** (am_db / 10))[:, None]
        sp = sp * gain

        # ---- voice quality: breathiness (mostly high band), creak (low band)
        breath = 1.0 - (1.0 - profile.breathiness) * (1.0 - speaker_breathiness)
        if breath > 0:
            weight = np.clip((self.freqs - 300.0) / 1700.0, 0.25, 1.0)
            ap = ap + breath * weight[None, :] * (1 - ap)
        if profile.creak > 0:
            weight = np.clip(1.0 - self.freqs / 2000.0, 0.0, 1.0)
            ap = ap + 0.35 * profile.creak * weight[None, :] * (1 - ap)
        ap = np.clip(ap, 0.0, 1.0 - 1e-6)

        y = pyworld.synthesize(
            np.ascontiguousarray(f0),
            np.ascontiguousarray(sp),
            np.ascontiguousarray(ap),
            self.sr,
            frame_period=FRAME_PERIOD_MS,
        )
        y = soft_limit(np.nan_to_num(y))
        return y.astype(np.float32), f0, time_map


def render_all_emotions(text: str, voice: VoiceSpec, intensity: float = 1.0, seed: int = 0):
    """Renders of one line in every emotion, keyed by emotion name."""
    return {e: render_line(text, voice, e, intensity, seed) for e in EMOTIONS}
