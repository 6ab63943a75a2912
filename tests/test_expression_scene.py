"""Expression probabilities (FER tflite, real model) and scene statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpora.faces import FacePose, FaceStyle, draw_face, emotion_pose, render_background
from ground.errors import MissingComponentError
from perception.expression import ExpressionRecognizer
from perception.face import FaceTracker
from perception.records import EXPRESSION_LABELS
from perception.scene import scene_stats

HAPPY = EXPRESSION_LABELS.index("happy")


@pytest.fixture(scope="module")
def tracker() -> FaceTracker:
    return FaceTracker()


@pytest.fixture(scope="module")
def recognizer() -> ExpressionRecognizer:
    return ExpressionRecognizer(stride=2)


def _clip(style: FaceStyle, pose: FacePose, n: int, seed: int) -> np.ndarray:
    bg = render_background((110, 140, 170), 1.0, 0.0, seed)
    return np.stack(
        [
            draw_face(style, FacePose(**{**pose.__dict__, "mouth_open": (i % 3) * 0.2}), background=bg)
            for i in range(n)
        ]
    )


def test_probabilities_sum_to_one_and_nan_without_face(tracker, recognizer) -> None:
    style = FaceStyle.random(np.random.default_rng(3))
    frames = _clip(style, FacePose(), 6, seed=1)
    frames = np.concatenate([frames, np.full((2, 256, 256, 3), 70, dtype=np.uint8)])
    track = tracker.track(frames)
    probs = recognizer.predict(frames, track)
    assert probs.per_frame.shape == (8, len(EXPRESSION_LABELS))
    face = track.has_face
    assert face[:6].all() and not face[6:].any()
    assert np.allclose(probs.per_frame[face].sum(axis=1), 1.0, atol=1e-4)
    assert (probs.per_frame[face] >= 0).all()
    assert np.isnan(probs.per_frame[~face]).all()
    assert probs.clip.sum() == pytest.approx(1.0, abs=1e-4)
    assert set(probs.as_dict()) == set(EXPRESSION_LABELS)


def test_smile_reads_happier_than_frown(tracker, recognizer) -> None:
    rng = np.random.default_rng(7)
    smiles, frowns = [], []
    for k in range(4):
        style = FaceStyle.random(rng)
        for target, pose in ((smiles, emotion_pose("happy", 1.0)), (frowns, emotion_pose("sad", 1.0))):
            frames = _clip(style, pose, 3, seed=k)
            target.append(recognizer.predict(frames, tracker.track(frames)).clip[HAPPY])
    assert np.mean(smiles) > np.mean(frowns) + 0.1
    assert sum(s > f for s, f in zip(smiles, frowns, strict=True)) >= 3


def test_no_face_gives_uniform_clip(recognizer) -> None:
    from perception.records import FaceTrack

    frames = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    track = FaceTrack(
        landmarks=np.full((3, 68, 2), np.nan, np.float32),
        boxes=np.full((3, 4), np.nan, np.float32),
        has_face=np.zeros(3, bool),
    )
    probs = recognizer.predict(frames, track)
    assert np.isnan(probs.per_frame).all()
    assert np.allclose(probs.clip, 1 / len(EXPRESSION_LABELS))


def test_missing_model_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MissingComponentError):
        ExpressionRecognizer(model_path=tmp_path / "missing.tflite")


def test_scene_brightness_colour_and_motion() -> None:
    bright = np.stack([render_background((200, 150, 90), 1.2, t / 25, seed=4) for t in range(10)])
    dark = np.stack([render_background((200, 150, 90), 0.3, t / 25, seed=4) for t in range(10)])
    s_bright, s_dark = scene_stats(bright), scene_stats(dark)
    assert s_dark.brightness_mean < s_bright.brightness_mean - 0.2
    assert 0.0 <= s_dark.brightness_mean <= 1.0 and 0.0 <= s_bright.saturation_mean <= 1.0
    assert s_bright.warmth > 0.1  # orange scene: red above blue

    still = np.repeat(bright[:1], 10, axis=0)
    moving = still.copy()
    for i in range(10):  # a white square sweeping across the frame
        moving[i, 100:160, 20 * i : 20 * i + 60] = 255
    assert scene_stats(still).motion_mean == pytest.approx(0.0, abs=1e-6)
    assert scene_stats(moving).motion_mean > scene_stats(still).motion_mean + 0.005
    assert scene_stats(moving).motion_std >= 0.0

    blue = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    blue[..., 2] = 220
    red = np.zeros_like(blue)
    red[..., 0] = 220
    s_blue, s_red = scene_stats(blue), scene_stats(red)
    assert s_blue.warmth < 0 < s_red.warmth
    assert s_blue.hue_mean == pytest.approx(2 / 3, abs=0.02) and s_red.hue_mean == pytest.approx(
        0.0, abs=0.02
    )
    assert s_red.colour_mean[0] == pytest.approx(220 / 255, abs=1e-3)
    assert set(s_red.as_dict()) >= {"brightness_mean", "motion_mean", "colour_mean"}
