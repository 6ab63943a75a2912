"""Render one synthetic audiovisual clip: a voice says a line with an emotion, a drawn face mouths it with
the matching expression, and the scene is lit either by the mood (the first corpus) or by a named palette
that knows nothing of the emotion.

The mouth follows the engine's phone timings where it gives them (visemes: lips closed on m/b/p, wide on
open vowels, rounded on w/uw...), blended across neighbours (coarticulation) and gated by the loudness;
without timings it follows the loudness and spectral centroid alone.

A clip folder holds ``video.mp4`` (silent, 25 fps), ``audio.wav`` (16 kHz mono PCM16), ``line.txt`` and
``meta.json``. The same layout is what the corpus readers yield and what ``assets/demo`` ships.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from ground.config import get_config

if TYPE_CHECKING:
    from corpora.faces import FacePose, FaceStyle

LEAD_IN_S = 0.24  # silence before speech, so the first mouth movement is visible
TAIL_S = 0.24
_PALETTE_TAG, _TURN_TAG = 0x5CE7E, 0x7A2  # side streams of a clip's seed: palette jitter, head turn


@dataclass
class ClipSpec:
    clip_id: str
    text: str
    voice_id: str
    emotion: str = "neutral"
    intensity: float = 1.0
    character: str = "character"
    film: str = "film"
    scene_emotion: str | None = None  # the scene may carry the emotion when the words do not
    scene_intensity: float | None = None  # how strongly the scene's light shows it (None: ``intensity``)
    face_intensity: float | None = None  # how strongly the face shows the emotion (None: ``intensity``)
    scene_seed: int | None = None  # fixes the scene's layout, so a film's scenes recur across clips
    face_style: dict = field(default_factory=dict)  # FaceStyle.to_dict(); random from the seed if empty
    seed: int = 0
    size: int = 256
    scene_palette: str | None = None  # a named palette (scenes.SCENE_PALETTES) lights the scene, not the mood
    scene_clutter: float = 0.0  # furniture in the scene, 0 (none, the first corpus) .. 1


def mouth_from_audio(
    audio: np.ndarray, sr: int, fps: float, num_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Mouth opening (0..1) and width (0..1) per video frame from the speech itself.

    Opening follows loudness (dB above a floor 30 dB under the loudest frame); width follows the spectral
    centroid (front vowels and fricatives spread the lips, back rounded vowels purse them).
    """
    from perception.audio import loudness_envelope

    loud = loudness_envelope(audio, sr, fps, num_frames=num_frames)
    top = float(np.nanmax(loud)) if np.isfinite(loud).any() else -20.0
    opening = np.clip((loud - (top - 30.0)) / 30.0, 0.0, 1.0) ** 1.3
    hop = int(round(sr / fps))
    width = np.full(num_frames, 0.5, dtype=np.float64)
    freqs = np.fft.rfftfreq(hop, 1.0 / sr)
    for i in range(num_frames):
        seg = audio[i * hop : (i + 1) * hop]
        if seg.size < hop or opening[i] < 0.05:
            continue
        spec = np.abs(np.fft.rfft(seg * np.hanning(hop)))
        centroid = float((freqs * spec).sum() / (spec.sum() + 1e-9))
        width[i] = np.clip((centroid - 500.0) / 2500.0, 0.0, 1.0)
    # A little temporal smoothing: lips do not jump between video frames.
    kernel = np.array([0.25, 0.5, 0.25])
    opening = np.convolve(np.pad(opening, 1, mode="edge"), kernel, mode="valid")
    width = np.convolve(np.pad(width, 1, mode="edge"), kernel, mode="valid")
    return opening, width


# Viseme targets per phone: (mouth opening 0..1, mouth width 0..1 with 0 rounded and 1 spread, dominance).
# Dominance is how strongly a phone holds its own mouth shape against its neighbours: lips must close for
# m/b/p and touch the teeth for f/v whatever surrounds them, while t/d/k/h take the shape of the vowels
# around them (coarticulation).
_CLOSED, _SILENT = (0.0, 0.45, 5.0), (0.0, 0.5, 2.0)
_VISEME_GROUPS: tuple[tuple[tuple[str, ...], tuple[float, float, float]], ...] = (
    (("m", "b", "p", "em"), _CLOSED),
    (("f", "v"), (0.08, 0.5, 3.0)),
    (("th", "dh", "θ", "ð"), (0.2, 0.55, 1.5)),
    (("s", "z"), (0.12, 0.68, 1.2)),
    (("sh", "zh", "ch", "jh", "ʃ", "ʒ", "tʃ", "dʒ", "ʧ", "ʤ"), (0.18, 0.25, 2.0)),
    (("t", "d", "n", "en", "dx", "ɾ", "nx"), (0.2, 0.6, 0.6)),
    (("l", "el", "ɫ"), (0.25, 0.55, 0.7)),
    (("k", "g", "ng", "ŋ", "x", "ɡ"), (0.3, 0.5, 0.5)),
    (("hh", "h"), (0.4, 0.5, 0.4)),
    (("w", "ʍ"), (0.12, 0.08, 2.5)),
    (("r", "ɹ", "ɻ"), (0.25, 0.3, 1.2)),
    (("y", "j"), (0.2, 0.72, 1.0)),
    # ARPAbet vowels (flite, festival)
    (("aa",), (0.95, 0.55, 1.0)),
    (("ae",), (0.85, 0.75, 1.0)),
    (("ah",), (0.65, 0.55, 1.0)),
    (("ao",), (0.8, 0.3, 1.0)),
    (("aw",), (0.8, 0.45, 1.0)),
    (("ay",), (0.85, 0.65, 1.0)),
    (("ax", "ə"), (0.45, 0.5, 0.8)),
    (("axr", "er", "ɚ", "ɝ", "ɜ"), (0.4, 0.35, 1.0)),
    (("eh", "ɛ"), (0.65, 0.7, 1.0)),
    (("ey", "e"), (0.55, 0.75, 1.0)),
    (("ih", "ɪ", "ɨ"), (0.45, 0.7, 1.0)),
    (("iy", "i"), (0.3, 0.85, 1.0)),
    (("ow", "o"), (0.55, 0.2, 1.0)),
    (("oy", "ɔ"), (0.7, 0.3, 1.0)),
    (("uh", "ʊ"), (0.4, 0.3, 1.0)),
    (("uw", "u", "ʉ"), (0.3, 0.1, 1.0)),
    # IPA vowels (neural engines)
    (("a", "ɑ", "ä"), (0.95, 0.55, 1.0)),
    (("æ",), (0.85, 0.75, 1.0)),
    (("ɐ", "ʌ"), (0.65, 0.55, 1.0)),
    (("ɒ",), (0.8, 0.3, 1.0)),
    (("pau", "sil", "h#", "#", "_", "sp", "spn", "brth", ""), _SILENT),
)
VISEMES: dict[str, tuple[float, float, float]] = {p: v for names, v in _VISEME_GROUPS for p in names}
_UNKNOWN_PHONE = (0.35, 0.5, 0.5)
COARTICULATION_S = 0.02  # how far (s) a phone's shape reaches into its neighbours' time (exp decay)
_HOLD = 0.8  # share of a phone's own time at its full dominance
_STRIP = str.maketrans("", "", "ˈˌːˑ͡‿0123456789")


def viseme(phone: str) -> tuple[float, float, float]:
    """(opening, width, dominance) for one phone of ARPAbet (any case, stress digits) or IPA (stress and
    length marks, diacritics and diphthong second parts ignored)."""
    p = phone.strip().lower().translate(_STRIP)
    p = "".join(c for c in unicodedata.normalize("NFD", p) if not unicodedata.combining(c))
    if p in VISEMES:
        return VISEMES[p]
    for k in (2, 1):  # an affricate or a diphthong: its first part
        if p[:k] in VISEMES:
            return VISEMES[p[:k]]
    return _UNKNOWN_PHONE


def mouth_from_phones(
    phones: list | tuple,
    audio: np.ndarray,
    sr: int,
    fps: float,
    num_frames: int,
    offset_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Mouth opening (0..1) and width (0..1) per video frame from phone timings (phone, start s, end s)
    that start ``offset_s`` into ``audio``.

    Each phone pulls the mouth towards its viseme with its dominance, fading over ``COARTICULATION_S``
    outside its own time; the blend is averaged over each video frame. The loudness then scales the
    opening (louder speech opens wider) and gates it (no open mouth over silence, whatever the timings).
    """
    from perception.audio import loudness_envelope

    duration = num_frames / fps
    step = 0.005
    t = (np.arange(int(np.ceil(duration / step))) + 0.5) * step
    segments = [("pau", 0.0, offset_s)]
    segments += [
        (str(p), float(s) + offset_s, float(e) + offset_s) for p, s, e in phones if float(e) > float(s)
    ]
    last = max(e for _, _, e in segments)
    segments.append(("pau", last, max(duration, last)))
    num = np.zeros((2, t.size))
    den = np.full(t.size, 1e-9)
    for phone, start, end in segments:
        opening, width, dominance = viseme(phone)
        centre, half = (start + end) / 2, (end - start) / 2
        w = dominance * np.exp(-np.maximum(np.abs(t - centre) - _HOLD * half, 0.0) / COARTICULATION_S)
        num[0] += w * opening
        num[1] += w * width
        den += w
    track = num / den
    frame_of = np.minimum((t * fps).astype(int), num_frames - 1)
    counts = np.maximum(np.bincount(frame_of, minlength=num_frames), 1)
    shape = np.stack([np.bincount(frame_of, weights=track[k], minlength=num_frames) / counts for k in (0, 1)])

    loud = loudness_envelope(audio, sr, fps, num_frames=num_frames)
    top = float(np.nanmax(loud)) if np.isfinite(loud).any() else -20.0
    level = np.clip((loud - (top - 30.0)) / 30.0, 0.0, 1.0)
    gate = np.clip((loud - (top - 40.0)) / 12.0, 0.0, 1.0)  # silence 40 dB under the peak closes the mouth
    level, gate = np.nan_to_num(level), np.nan_to_num(gate)
    # Louder speech opens wider: loud open vowels reach a wide-open mouth, as the loudness-driven mouth does.
    opening = shape[0] * (0.9 + 0.35 * level) * gate
    kernel = np.array([0.25, 0.5, 0.25])
    opening = np.convolve(np.pad(opening, 1, mode="edge"), kernel, mode="valid")
    width = np.convolve(np.pad(shape[1], 1, mode="edge"), kernel, mode="valid")
    return np.clip(opening, 0.0, 1.0), np.clip(width, 0.0, 1.0)


def _blinks(num_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Eye openness multiplier: 1, dipping to ~0 for a 3-frame blink every 2-5 seconds."""
    eye = np.ones(num_frames)
    t = rng.uniform(0.3, 2.0)
    while t * fps < num_frames:
        i = int(t * fps)
        for k, v in enumerate((0.4, 0.0, 0.5)):
            if i + k < num_frames:
                eye[i + k] = v
        t += rng.uniform(2.0, 5.0)
    return eye


def _smooth_walk(num_frames: int, rng: np.random.Generator, scale: float) -> np.ndarray:
    steps = rng.normal(0.0, 1.0, num_frames)
    walk = np.cumsum(steps)
    walk = np.convolve(walk, np.ones(9) / 9, mode="same")
    walk -= walk.mean()
    peak = np.abs(walk).max() or 1.0
    return walk / peak * scale


BACKGROUND_STEP = 4  # render the drifting scene every 4th frame and blend between
HEAD_TURN_WALK = 3.0  # degrees of slow head turning around a clip's base turn (characters that turn)
# h264 for the corpus: x264 'veryfast' at crf 20 costs ~0.6x of 'fast' at crf 18 per frame, files are ~25%
# smaller (~36 dB PSNR on these frames) and the face tracker reads them as it reads the raw frames. One
# encoder thread: a corpus build already runs one worker process per core.
VIDEO_ENCODING = {"crf": 20, "preset": "veryfast", "threads": 1}


def render_frames(
    style: FaceStyle,
    poses: list[FacePose],
    mood_rgb: tuple[float, float, float],
    brightness: float,
    bg_seed: int,
    fps: float,
    size: tuple[int, int],
    chunk: int = 64,
    clutter: float = 0.0,
) -> np.ndarray:
    """The clip's video frames (T, H, W, 3) uint8: one character in ``poses`` over its drifting scene
    (furnished by ``clutter``, 0..1)."""
    from corpora.faces import FaceRenderer, render_backgrounds

    renderer = FaceRenderer(style, size)
    frames = np.empty((len(poses), *size, 3), dtype=np.uint8)
    # Scenes in chunks (bounded memory); a chunk's last frame is rendered exactly, so chunks join cleanly.
    for start in range(0, len(poses), chunk):
        stop = min(start + chunk, len(poses))
        times = np.arange(start, stop) / fps
        scenes = render_backgrounds(
            mood_rgb, brightness, times, bg_seed, size, step=BACKGROUND_STEP, clutter=clutter
        )
        for i in range(start, stop):
            frames[i] = renderer.render(poses[i], scenes[i - start])
    return frames


def render_clip(spec: ClipSpec, out_dir: str | Path, audio: np.ndarray | None = None) -> dict:
    """Render ``spec`` into ``out_dir`` and return its meta record. ``audio`` skips the voice render."""
    from corpora.faces import FacePose, FaceStyle, emotion_pose
    from corpora.prosody import render_line
    from corpora.scenes import palette_light, scene_mood
    from corpora.voices import get_voice
    from perception.video import write_video

    cfg = get_config().media
    fps, sr = cfg.fps, cfg.sample_rate
    rng = np.random.default_rng(spec.seed)
    phonemes = None
    if audio is None:
        rendered = render_line(spec.text, get_voice(spec.voice_id), spec.emotion, spec.intensity, spec.seed)
        audio, phonemes = rendered.audio, rendered.phoneme_timings
    lead, tail = int(LEAD_IN_S * sr), int(TAIL_S * sr)
    speech = np.concatenate(
        [np.zeros(lead, np.float32), audio.astype(np.float32), np.zeros(tail, np.float32)]
    )
    num_frames = int(np.ceil(speech.size / sr * fps))
    speech = np.pad(speech, (0, int(round(num_frames / fps * sr)) - speech.size))

    style = FaceStyle.from_dict(spec.face_style) if spec.face_style else FaceStyle.random(rng)
    if phonemes:
        opening, width = mouth_from_phones(phonemes, speech, sr, fps, num_frames, offset_s=LEAD_IN_S)
    else:
        opening, width = mouth_from_audio(speech, sr, fps, num_frames)
    eye = _blinks(num_frames, fps, rng)
    dx, dy = _smooth_walk(num_frames, rng, 0.03), _smooth_walk(num_frames, rng, 0.02)
    tilt = _smooth_walk(num_frames, rng, 4.0)
    scene_k = spec.intensity if spec.scene_intensity is None else spec.scene_intensity
    mood_rgb, brightness = scene_mood(spec.scene_emotion or spec.emotion, scene_k, rng)
    bg_seed = int(rng.integers(1 << 30)) if spec.scene_seed is None else spec.scene_seed
    if spec.scene_palette is not None:
        # Drawn apart from the clip's own draws (whose count follows the speech length, hence the
        # emotion): a palette scene has the same light whatever the line, and the same across its clips.
        light_seed = spec.seed if spec.scene_seed is None else spec.scene_seed
        mood_rgb, brightness = palette_light(
            spec.scene_palette, np.random.default_rng([light_seed, _PALETTE_TAG])
        )
    # Head turn, from its own stream so that clips of characters that never turn keep their first-corpus
    # draws: a base turn for the clip within the character's range, and a slow drift around it.
    turn_rng = np.random.default_rng([spec.seed, _TURN_TAG])
    yaw = np.zeros(num_frames)
    if style.turn > 0:
        yaw = turn_rng.uniform(-style.turn, style.turn) + _smooth_walk(num_frames, turn_rng, HEAD_TURN_WALK)
    size = (spec.size, spec.size)

    expression = emotion_pose(
        spec.emotion, spec.intensity if spec.face_intensity is None else spec.face_intensity
    )
    poses = [
        FacePose(
            mouth_open=float(opening[i]),
            # Speech moves the mouth width around the expression's own width.
            mouth_width=float(np.clip(expression.mouth_width + 0.5 * (width[i] - 0.5), 0, 1)),
            smile=expression.smile,
            brow_raise=expression.brow_raise,
            brow_furrow=expression.brow_furrow,
            eye_open=expression.eye_open * float(eye[i]),
            dx=float(dx[i]),
            dy=float(dy[i]),
            tilt=float(tilt[i]),
            yaw=float(yaw[i]),
        )
        for i in range(num_frames)
    ]
    frames = render_frames(style, poses, mood_rgb, brightness, bg_seed, fps, size, clutter=spec.scene_clutter)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / "video.mp4", frames, fps, **VIDEO_ENCODING)
    sf.write(out / "audio.wav", speech, sr, subtype="PCM_16")
    (out / "line.txt").write_text(spec.text + "\n", encoding="utf-8")
    meta = asdict(spec)
    meta.update(
        face_style=style.to_dict(),
        num_frames=num_frames,
        fps=fps,
        sample_rate=sr,
        duration_s=round(num_frames / fps, 3),
        speech_start_s=LEAD_IN_S,
        phoneme_timings=[(p, round(s + LEAD_IN_S, 4), round(e + LEAD_IN_S, 4)) for p, s, e in phonemes]
        if phonemes
        else None,
        mouth_open=[round(float(v), 3) for v in opening],
        mouth_source="phones" if phonemes else "audio",
        scene_light={"rgb": list(mood_rgb), "brightness": round(float(brightness), 4)},
        head_turn=round(float(yaw.mean()), 2),
    )
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta
