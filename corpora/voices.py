"""The voice bank of the synthetic corpus: free Debian TTS engines plus WORLD speaker transforms.

Each ``VoiceSpec`` names an engine (``flite`` or ``espeak-ng``; ``festival`` for optional extra voices),
run as a subprocess, that engine's voice and its own settings, and a WORLD speaker transform (F0 scale,
spectral-envelope frequency warp, optional spectral tilt and breathiness, applied by ``corpora.prosody``)
that turns one engine voice into further, clearly different speakers.

The bank was tuned with ``benchmarks/voice_bank.py``: every pair of voices in ``VOICE_BANK`` has a
resemblyzer cosine below 0.85 (mean d-vector of 3 neutral sentences; max 0.835), and every voice has a
Whisper tiny.en WER of at most 0.15, neutral and emotional. Voices that are distinct but miss the WER cut
live in ``EXTRA_VOICES``. Transforms of flite's diphone voice kal, and festival's ked, lose too much
intelligibility, so the transforms are of the clustergen voices slt, awb and rms.

Engines return float32 mono audio at the project sample rate (16 kHz) and, where the engine gives them
cheaply, phoneme timings (flite ``-psdur``, festival ``utt.save.segs``); espeak-ng gives none without
mbrola, so it returns None.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
import soxr

from dubber.config import get_config
from dubber.errors import BadInputError, MissingComponentError

PhoneTimings = tuple[tuple[str, float, float], ...]
"""(phone, start s, end s) per segment, in the engine's phone set (flite: CMU ARPAbet, ``pau`` = pause)."""

FLITE_LICENCE = "CMU Flite licence (BSD-style, free for any use); voice from CMU ARCTIC / CMU Kal"
FESTVOX_LICENCE = "Festvox/CSTR diphone licence (free use, modification and redistribution with notice)"
ESPEAK_LICENCE = "GPL-3.0-or-later (espeak-ng)"

_TIMEOUT_S = 60


@dataclass(frozen=True)
class VoiceSpec:
    """One speaker of the bank."""

    id: str
    engine: str  # key of ENGINES
    engine_voice: str  # flite -voice NAME, or espeak-ng -v NAME (language+variant)
    engine_params: tuple[tuple[str, float], ...] = ()  # e.g. (("pitch", 40), ("speed", 165))
    f0_scale: float = 1.0  # WORLD speaker transform: F0 multiplier
    warp: float = 1.0  # WORLD speaker transform: spectral envelope warp (>1 raises formants)
    tilt_db_oct: float = 0.0  # WORLD speaker transform: spectral tilt (voice quality: - dark/lax, + bright)
    breathiness: float = 0.0  # WORLD speaker transform: 0..1 aperiodicity raise (breathy/husky voice)
    gender: str = "male"  # rough perceived label (F0 above ~160 Hz after the transform: female)
    licence: str = ""
    binary: str = ""  # engine executable; empty means the engine's default

    @property
    def params(self) -> dict[str, float]:
        return dict(self.engine_params)

    @property
    def has_speaker_transform(self) -> bool:
        return (
            abs(self.f0_scale - 1.0) > 1e-6
            or abs(self.warp - 1.0) > 1e-6
            or abs(self.tilt_db_oct) > 1e-6
            or self.breathiness > 1e-6
        )


class VoiceEngine(Protocol):
    """A text-to-speech engine that can say a line with a voice of the bank."""

    name: str
    binary: str
    rate_share: float  # share of an emotion's rate change the engine carries (WORLD does the rest)
    pitch_share: float  # share of an emotion's F0 level shift the engine carries

    def synthesize(
        self, text: str, voice: VoiceSpec, rate_scale: float = 1.0, pitch_shift_st: float = 0.0
    ) -> tuple[np.ndarray, PhoneTimings | None]:
        """Float32 mono audio at the project sample rate, and phoneme timings or None."""
        ...


def _check_text(text: str) -> str:
    text = " ".join(str(text).split())
    if not any(ch.isalnum() for ch in text):
        raise BadInputError(f"nothing to say in line {text!r}")
    return text


def _require(binary: str, engine: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise MissingComponentError(
            f"voice engine {engine!r} is not installed (no {binary!r} on PATH)",
            hint=f"apt-get install {package}",
        )
    return path


def _run(cmd: list[str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BadInputError(f"{cmd[0]} took more than {_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise BadInputError(
            f"{Path(cmd[0]).name} failed (exit {done.returncode}): {done.stderr.strip()[:300]}"
        )
    return done.stdout


def _load_16k(path: Path, engine: str) -> np.ndarray:
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable output is the engine's failure
        raise BadInputError(f"voice engine {engine!r} wrote no readable audio: {exc}") from exc
    audio = audio.mean(axis=1)
    target = get_config().media.sample_rate
    if sr != target:
        audio = soxr.resample(audio, sr, target, quality="HQ").astype(np.float32)
    if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-4:
        raise BadInputError(f"voice engine {engine!r} produced silence")
    return np.ascontiguousarray(audio, dtype=np.float32)


class FliteEngine:
    """CMU flite. Rate through ``duration_stretch``; phoneme end times through ``-psdur``.

    ``int_f0_target_mean`` is honoured by some flite voices and ignored by others (rms), so pitch is
    left to WORLD (pitch_share 0). Voice params: ``stretch`` (base duration_stretch).
    """

    name = "flite"
    package = "flite"
    rate_share = 1.0
    pitch_share = 0.0

    def __init__(self, binary: str = "flite"):
        self.binary = binary

    def synthesize(
        self, text: str, voice: VoiceSpec, rate_scale: float = 1.0, pitch_shift_st: float = 0.0
    ) -> tuple[np.ndarray, PhoneTimings | None]:
        exe = _require(voice.binary or self.binary, self.name, self.package)
        text = _check_text(text)
        stretch = float(voice.params.get("stretch", 1.0)) / max(rate_scale, 1e-3)
        with tempfile.TemporaryDirectory(prefix="flite-") as tmp:
            txt, wav = Path(tmp) / "line.txt", Path(tmp) / "line.wav"
            txt.write_text(text + "\n", encoding="utf-8")
            cmd = [exe, "-voice", voice.engine_voice, "--setf", f"duration_stretch={stretch:.4f}", "-psdur"]
            cmd += ["-f", str(txt), "-o", str(wav)]
            out = _run(cmd)
            audio = _load_16k(wav, self.name)
        return audio, _parse_psdur(out)


def _parse_psdur(out: str) -> PhoneTimings | None:
    """flite prints ``phone:end`` per phone; each sentence's ends restart from 0. Its audio follows the
    previous sentence's, whose final pause is rendered about half long (measured: 0.10 of 0.20 s), so a time
    that goes backwards starts a new sentence half-way through the last pause."""
    segs: list[tuple[str, float, float]] = []
    start = offset = 0.0
    for tok in out.split():
        phone, sep, end = tok.rpartition(":")
        if not sep:
            continue
        try:
            t = float(end)
        except ValueError:
            continue
        if t + offset < start - 1e-6:
            last = segs[-1] if segs else ("", start, start)
            offset = start - (0.5 * (last[2] - last[1]) if last[0] == "pau" else 0.0)
            if segs and last[0] == "pau":
                segs[-1] = (last[0], last[1], offset)
            start = offset
        segs.append((phone, start, t + offset))
        start = t + offset
    return tuple(segs) or None


class EspeakEngine:
    """espeak-ng (formant synthesis). Rate through ``-s`` (words per minute), pitch through ``-p``.

    Voice params: ``pitch`` (0..99, default 50), ``speed`` (wpm, default 175), ``gap`` (word gap, 10 ms units).
    ``-p`` moves F0 by about 0.16 semitone per step around 50 (measured on en-us), which is how an
    emotion's share of pitch shift is turned into a ``-p`` value. No phoneme timings without mbrola.
    """

    name = "espeak-ng"
    package = "espeak-ng"
    rate_share = 1.0
    pitch_share = 0.5
    semitones_per_pitch_step = 0.16

    def __init__(self, binary: str = "espeak-ng"):
        self.binary = binary

    def synthesize(
        self, text: str, voice: VoiceSpec, rate_scale: float = 1.0, pitch_shift_st: float = 0.0
    ) -> tuple[np.ndarray, PhoneTimings | None]:
        exe = _require(voice.binary or self.binary, self.name, self.package)
        text = _check_text(text)
        p = voice.params
        pitch = float(p.get("pitch", 50)) + pitch_shift_st / self.semitones_per_pitch_step
        speed = float(p.get("speed", 175)) * rate_scale
        cmd = [exe, "-v", voice.engine_voice, "-p", str(int(round(min(max(pitch, 0), 99))))]
        cmd += ["-s", str(int(round(min(max(speed, 80), 450))))]
        if "gap" in p:
            cmd += ["-g", str(int(p["gap"]))]
        with tempfile.TemporaryDirectory(prefix="espeak-") as tmp:
            wav = Path(tmp) / "line.wav"
            # SSML on stdin: the text can never be read as an option, and markup in it is escaped
            _run([*cmd, "-m", "--stdin", "-w", str(wav)], stdin=f"<speak>{escape(text)}</speak>")
            audio = _load_16k(wav, self.name)
        return audio, None


class FestivalEngine:
    """Festival (diphone voices from Debian festvox-* packages), driven by a generated Scheme script.

    Rate through ``Duration_Stretch``; phoneme end times from ``utt.save.segs``. Pitch is left to WORLD
    (the LR intonation targets are voice-specific). Voice params: ``stretch`` (base Duration_Stretch).
    """

    name = "festival"
    rate_share = 1.0
    pitch_share = 0.0

    def __init__(self, binary: str = "festival"):
        self.binary = binary

    package = "festival festvox-kdlpc16k"

    def synthesize(
        self, text: str, voice: VoiceSpec, rate_scale: float = 1.0, pitch_shift_st: float = 0.0
    ) -> tuple[np.ndarray, PhoneTimings | None]:
        exe = _require(voice.binary or self.binary, self.name, self.package)
        text = _check_text(text)
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        quoted = ascii_text.replace("\\", " ").replace('"', "'")
        stretch = float(voice.params.get("stretch", 1.0)) / max(rate_scale, 1e-3)
        if not re.fullmatch(r"[A-Za-z0-9_]+", voice.engine_voice):
            raise BadInputError(f"bad festival voice name {voice.engine_voice!r}")
        with tempfile.TemporaryDirectory(prefix="festival-") as tmp:
            wav, segs, scm = Path(tmp) / "line.wav", Path(tmp) / "line.segs", Path(tmp) / "line.scm"
            scm.write_text(
                f"(voice_{voice.engine_voice})\n"
                f"(Parameter.set 'Duration_Stretch {stretch:.4f})\n"
                f'(set! utt1 (Utterance Text "{quoted}"))\n'
                "(utt.synth utt1)\n"
                f'(utt.save.wave utt1 "{wav}" \'riff)\n'
                f'(utt.save.segs utt1 "{segs}")\n',
                encoding="ascii",
            )
            _run([exe, "-b", str(scm)])
            if not wav.exists():
                raise MissingComponentError(
                    f"festival voice {voice.engine_voice!r} is not installed",
                    hint=f"apt-get install {self.package}",
                )
            audio = _load_16k(wav, self.name)
            phones = _parse_segs(segs.read_text(errors="replace")) if segs.exists() else None
        return audio, phones


def _parse_segs(text: str) -> PhoneTimings | None:
    """Festival label file: a header ending in '#', then 'end_time colour phone' per segment."""
    segs: list[tuple[str, float, float]] = []
    body = text.split("#", 1)[1] if "#" in text else text
    start = 0.0
    for line in body.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        try:
            end = float(parts[0])
        except ValueError:
            continue
        segs.append((parts[-1], start, end))
        start = end
    return tuple(segs) or None


ENGINES: dict[str, type] = {"flite": FliteEngine, "espeak-ng": EspeakEngine, "festival": FestivalEngine}


def get_engine(voice: VoiceSpec) -> VoiceEngine:
    """The engine object that renders ``voice`` (checks that its program is installed)."""
    try:
        cls = ENGINES[voice.engine]
    except KeyError:
        raise MissingComponentError(
            f"voice engine {voice.engine!r} is not known", hint="one of " + ", ".join(ENGINES)
        ) from None
    engine = cls(voice.binary) if voice.binary else cls()
    _require(engine.binary, engine.name, engine.package)
    return engine


def _spec(
    engine: str,
    licence: str,
    vid: str,
    name: str,
    gender: str,
    f0: float = 1.0,
    warp: float = 1.0,
    tilt: float = 0.0,
    breath: float = 0.0,
    **params: float,
) -> VoiceSpec:
    return VoiceSpec(
        id=vid,
        engine=engine,
        engine_voice=name,
        engine_params=tuple(sorted(params.items())),
        f0_scale=f0,
        warp=warp,
        tilt_db_oct=tilt,
        breathiness=breath,
        gender=gender,
        licence=licence,
    )


_flite = partial(_spec, "flite", FLITE_LICENCE)
_festival = partial(_spec, "festival", FESTVOX_LICENCE)
_espeak = partial(_spec, "espeak-ng", ESPEAK_LICENCE)

VOICE_BANK: tuple[VoiceSpec, ...] = (
    # the four flite voices as they are
    _flite("flite_slt", "slt", "female"),
    _flite("flite_awb", "awb", "male"),
    _flite("flite_rms", "rms", "male"),
    _flite("flite_kal", "kal16", "male"),
    # WORLD speaker transforms of the clustergen voices (kal's own transforms lose intelligibility)
    _flite("slt_deep", "slt", "male", f0=0.72, warp=0.86),
    _flite("slt_child", "slt", "female", f0=1.35, warp=1.18),
    _flite("slt_bright", "slt", "female", f0=1.15, warp=0.9, tilt=3.0),
    _flite("awb_deep", "awb", "male", f0=0.72, warp=0.86),
    _flite("awb_high", "awb", "female", f0=1.35, warp=1.18),
    _flite("awb_tenor", "awb", "male", f0=1.3, warp=0.88),
    _flite("awb_small", "awb", "male", f0=0.75, warp=1.15),
    _flite("rms_high", "rms", "male", f0=1.35, warp=1.15),
    _flite("rms_deep", "rms", "male", f0=0.75, warp=0.88),
    _flite("rms_bright", "rms", "male", f0=1.3, warp=0.9, tilt=3.0),
    # espeak-ng formant synthesis: a different engine family
    _espeak("esp_us", "en-us", "male"),
)
"""Voices of the corpus: pairwise resemblyzer cosine < 0.85 and Whisper tiny.en WER <= 0.15 each."""

EXTRA_VOICES: tuple[VoiceSpec, ...] = (
    _espeak("esp_f2", "en-us+f2", "female"),
    _espeak("esp_f4", "en-us+f4", "female", pitch=60, speed=150),
    _espeak("esp_klatt", "en-us+klatt", "male", speed=150),
    _festival("fest_ked", "ked_diphone", "male"),
)
"""Further distinct speakers that miss the WER cut (0.16-0.21 with Whisper tiny.en); festival ones need
``apt-get install festival festvox-kdlpc16k``. Not used by the corpus unless asked for."""

VOICES_BY_ID: dict[str, VoiceSpec] = {v.id: v for v in VOICE_BANK + EXTRA_VOICES}
assert len(VOICES_BY_ID) == len(VOICE_BANK) + len(EXTRA_VOICES), "voice ids must be unique"


def get_voice(voice_id: str) -> VoiceSpec:
    try:
        return VOICES_BY_ID[voice_id]
    except KeyError:
        raise BadInputError(f"unknown voice {voice_id!r}", hint="one of " + ", ".join(VOICES_BY_ID)) from None
