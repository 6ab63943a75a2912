"""One entry point for perceiving a clip: video -> face track -> lips, expression, scene; audio; text.

``ClipPerceiver`` loads each model once and is reused for every clip (the director, the library build and
the corpus all go through it), so the per-clip cost is only the work itself.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ground.config import DubberConfig, get_config
from ground.errors import NoFaceError
from perception.records import ClipPerception, VideoClip

if TYPE_CHECKING:
    from perception.expression import ExpressionRecognizer
    from perception.face import FaceTracker

log = logging.getLogger(__name__)


class ClipPerceiver:
    def __init__(self, config: DubberConfig | None = None):
        self.config = config or get_config()

    # Models load on first use: `dubber perceive` without --text never loads MiniLM, and so on.
    @cached_property
    def face_tracker(self) -> FaceTracker:
        from perception.face import FaceTracker

        return FaceTracker()

    @cached_property
    def expression_recognizer(self) -> ExpressionRecognizer:
        from perception.expression import ExpressionRecognizer

        return ExpressionRecognizer()

    def perceive(
        self,
        video: str | Path | VideoClip,
        *,
        audio: str | Path | np.ndarray | None = None,
        audio_sample_rate: int | None = None,
        text: str | bytes | None = None,
        require_face: bool = True,
        with_egemaps: bool = True,
        with_speaker: bool = True,
        with_text_embedding: bool = True,
    ) -> ClipPerception:
        from perception.face import lip_features
        from perception.scene import scene_stats
        from perception.video import read_video

        timings: dict[str, float] = {}
        with _timed(timings, "read_video"):
            clip = (
                video
                if isinstance(video, VideoClip)
                else read_video(
                    video, fps=self.config.media.fps, max_seconds=self.config.media.max_video_seconds
                )
            )
        with _timed(timings, "face_track"):
            track = self.face_tracker.track(clip.frames)
        if require_face and not track.has_face.any():
            raise NoFaceError(f"no face found in any of its {clip.num_frames} frames", source=clip.source)
        if not track.has_face.any():
            log.warning("%s: no face found; lip features are empty", clip.source)
        with _timed(timings, "lips"):
            lips = lip_features(clip.frames, track, self.config.perception.mouth_crop_size)
        with _timed(timings, "expression"):
            expression = self.expression_recognizer.predict(clip.frames, track)
        with _timed(timings, "scene"):
            scene = scene_stats(clip.frames)

        result = ClipPerception(
            source=clip.source,
            num_frames=clip.num_frames,
            fps=clip.fps,
            face=track,
            lips=lips,
            expression=expression,
            scene=scene,
            timings=timings,
        )
        if audio is not None:
            self._add_audio(result, audio, audio_sample_rate, with_egemaps, with_speaker)
        if text is not None:
            from perception.text import analyse_text, decode_line

            with _timed(timings, "text"):
                result.text = analyse_text(decode_line(text), with_embedding=with_text_embedding)
        return result

    def _add_audio(
        self,
        result: ClipPerception,
        audio: str | Path | np.ndarray,
        sample_rate: int | None,
        with_egemaps: bool,
        with_speaker: bool,
    ) -> None:
        from perception.audio import analyse_audio, check_audio, load_audio, loudness_envelope, resample
        from perception.sync import av_sync

        sr = self.config.media.sample_rate
        with _timed(result.timings, "audio"):
            if isinstance(audio, np.ndarray):
                samples = resample(
                    check_audio(audio, sample_rate or sr, source="audio"), sample_rate or sr, sr
                )
            else:
                samples = load_audio(audio, sample_rate=sr)
            result.audio = analyse_audio(samples, sr, with_egemaps=with_egemaps, with_speaker=with_speaker)
        loudness = loudness_envelope(samples, sr, result.fps, num_frames=result.num_frames)
        sync = av_sync(result.lips.inner_opening, loudness)
        if not sync.measured:
            return
        result.extras["av_sync"] = {
            "offset_frames": int(sync.offset_frames),
            "confidence": round(float(sync.confidence), 4),
            "lip_loudness_correlation": round(float(sync.correlation_at_0), 4),
            "audio_minus_video_s": round(result.audio.duration - result.num_frames / result.fps, 3),
        }


@contextmanager
def _timed(timings: dict[str, float], name: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
