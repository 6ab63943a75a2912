"""Face tracking and lip geometry on drawn faces, with the real dlib models (no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpora.faces import EMOTION_POSES, FacePose, FaceStyle, draw_face, emotion_pose, render_background
from ground.errors import MissingComponentError
from perception.face import FaceTracker, lip_features

EMOTIONS = list(EMOTION_POSES)


@pytest.fixture(scope="module")
def tracker() -> FaceTracker:
    return FaceTracker()


@pytest.fixture(scope="module")
def sequence() -> tuple[np.ndarray, np.ndarray]:
    """10 characters x 24 frames: random styles, every emotion, dark to bright scenes, speech-like mouths."""
    rng = np.random.default_rng(2024)
    frames, opening = [], []
    brightness = [0.2, 0.5, 1.0, 1.35]
    for c in range(10):
        style = FaceStyle.random(rng)
        emotion = EMOTIONS[c % len(EMOTIONS)]
        intensity = rng.uniform(0.5, 1.0)
        mood = tuple(int(v) for v in rng.integers(0, 256, 3))
        phase = rng.uniform(0, 2 * np.pi, 3)
        for i in range(24):
            t = i / 25
            mouth = float(rng.uniform(0, 1)) if rng.random() < 0.85 else 0.0
            blink = rng.random() < 0.05
            base = FacePose(
                mouth_open=mouth,
                eye_open=0.0 if blink else 0.75,
                dx=0.04 * np.sin(2.0 * t + phase[0]),
                dy=0.03 * np.sin(1.5 * t + phase[1]),
                tilt=7 * np.sin(1.2 * t + phase[2]),
            )
            background = render_background(mood, brightness[c % len(brightness)], t, seed=c)
            frames.append(draw_face(style, emotion_pose(emotion, intensity, base), background=background))
            opening.append(mouth)
    return np.stack(frames), np.array(opening)


def test_drawn_faces_are_detected(tracker: FaceTracker, sequence) -> None:
    frames, _ = sequence
    track = tracker.track(frames)
    assert track.landmarks.shape == (len(frames), 68, 2)
    assert track.face_share >= 0.98
    valid = track.has_face
    assert np.isfinite(track.landmarks[valid]).all() and np.isfinite(track.boxes[valid]).all()
    # The face is where it was drawn: centred horizontally, in the upper-middle of the frame.
    centres = track.landmarks[valid].mean(axis=1)
    assert np.all(np.abs(centres[:, 0] - 128) < 40) and np.all(np.abs(centres[:, 1] - 130) < 45)


def test_inner_opening_follows_mouth_open(tracker: FaceTracker, sequence) -> None:
    frames, opening = sequence
    track = tracker.track(frames)
    lips = lip_features(frames, track, crop_size=32)
    ok = track.has_face
    r = np.corrcoef(lips.inner_opening[ok], opening[ok])[0, 1]
    assert r >= 0.8, f"inner opening vs drawn mouth_open: r={r:.3f}"
    assert np.corrcoef(lips.outer_opening[ok], opening[ok])[0, 1] > 0.5
    assert lips.mouth_crops.shape == (len(frames), 32, 32)
    assert lips.as_matrix().shape == (len(frames), 3)
    # Widths are normalised by the eye distance: about 1 for a human-like mouth, whatever the face size.
    assert 0.5 < float(np.nanmedian(lips.width)) < 1.6


def test_frames_without_a_face_are_nan(tracker: FaceTracker, sequence) -> None:
    frames, _ = sequence
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    blank = np.full((3, 256, 256, 3), 90, dtype=np.uint8)
    # Faces, then a cut to empty frames: the tracker must not carry the face over.
    clip = np.concatenate([frames[:7], blank, noise, frames[24:27]])
    track = tracker.track(clip)
    lips = lip_features(clip, track)
    empty = slice(7, 13)
    assert track.has_face[:7].all() and track.has_face[13:].all()
    assert not track.has_face[empty].any()
    assert np.isnan(track.landmarks[empty]).all() and np.isnan(track.boxes[empty]).all()
    assert np.isnan(lips.inner_opening[empty]).all() and np.isnan(lips.width[empty]).all()
    assert not lips.mouth_crops[empty].any()
    assert lips.mouth_crops[:7].any(axis=(1, 2)).all()


def test_detection_every_frame_agrees_with_tracking(sequence) -> None:
    frames, _ = sequence
    sub = frames[:48]
    every = FaceTracker(detect_every=1).track(sub)
    tracked = FaceTracker(detect_every=5).track(sub)
    both = every.has_face & tracked.has_face
    assert both.mean() >= 0.95
    # Following the face with the shape predictor alone lands where full detection does (pixels).
    err = np.abs(every.landmarks[both] - tracked.landmarks[both]).mean()
    assert err < 3.0


def test_draw_face_sizes_and_backgrounds() -> None:
    style = FaceStyle.random(np.random.default_rng(5))
    wide = draw_face(style, FacePose(), size=(240, 320), background=(10, 20, 30))
    assert wide.shape == (240, 320, 3) and wide.dtype == np.uint8
    assert tuple(wide[2, 2]) == (10, 20, 30)
    bg = render_background((200, 120, 60), 0.8, t=1.0, seed=3, size=(128, 160))
    assert bg.shape == (128, 160, 3)
    face = draw_face(style, FacePose(mouth_open=1.0), size=(128, 160), background=bg)
    assert face.shape == (128, 160, 3)
    # Deterministic: same inputs, same pixels; a different pose changes them.
    assert np.array_equal(face, draw_face(style, FacePose(mouth_open=1.0), size=(128, 160), background=bg))
    assert not np.array_equal(face, draw_face(style, FacePose(), size=(128, 160), background=bg))


def test_missing_landmark_model_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MissingComponentError, match="landmark"):
        FaceTracker(predictor_path=tmp_path / "nope.dat")
