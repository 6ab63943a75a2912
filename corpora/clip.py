"""Render one synthetic audiovisual clip: a voice says a line with an emotion, a drawn face mouths it with
the matching expression, and the scene's light follows the mood.

A clip folder holds ``video.mp4`` (silent, 25 fps), ``audio.wav`` (16 kHz mono PCM16), ``line.txt`` and
``meta.json``. The same layout is what the corpus readers yield and what ``assets/demo`` ships.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from dubber.config import get_config

if TYPE_CHECKING:
    from corpora.faces import FacePose, FaceStyle

LEAD_IN_S = 0.24  # silence before speech, so the first mouth movement is visible
TAIL_S = 0.24


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
) -> np.ndarray:
    """The clip's video frames (T, H, W, 3) uint8: one character in ``poses`` over its drifting scene."""
    from corpora.faces import FaceRenderer, render_backgrounds

    renderer = FaceRenderer(style, size)
    frames = np.empty((len(poses), *size, 3), dtype=np.uint8)
    # Scenes in chunks (bounded memory); a chunk's last frame is rendered exactly, so chunks join cleanly.
    for start in range(0, len(poses), chunk):
        stop = min(start + chunk, len(poses))
        times = np.arange(start, stop) / fps
        scenes = render_backgrounds(mood_rgb, brightness, times, bg_seed, size, step=BACKGROUND_STEP)
        for i in range(start, stop):
            frames[i] = renderer.render(poses[i], scenes[i - start])
    return frames


def render_clip(spec: ClipSpec, out_dir: str | Path, audio: np.ndarray | None = None) -> dict:
    """Render ``spec`` into ``out_dir`` and return its meta record. ``audio`` skips the voice render."""
    from corpora.faces import FacePose, FaceStyle, emotion_pose
    from corpora.prosody import render_line
    from corpora.scenes import scene_mood
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
    opening, width = mouth_from_audio(speech, sr, fps, num_frames)
    eye = _blinks(num_frames, fps, rng)
    dx, dy = _smooth_walk(num_frames, rng, 0.03), _smooth_walk(num_frames, rng, 0.02)
    tilt = _smooth_walk(num_frames, rng, 4.0)
    scene_k = spec.intensity if spec.scene_intensity is None else spec.scene_intensity
    mood_rgb, brightness = scene_mood(spec.scene_emotion or spec.emotion, scene_k, rng)
    bg_seed = int(rng.integers(1 << 30)) if spec.scene_seed is None else spec.scene_seed
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
        )
        for i in range(num_frames)
    ]
    frames = render_frames(style, poses, mood_rgb, brightness, bg_seed, fps, size)

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
    )
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta
