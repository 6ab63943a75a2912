"""Many looks for the synthetic corpus: drawing styles, framing and head turns, scene palettes and clutter,
and a mouth driven by phone timings. The faces are read with the real dlib models (no mocks)."""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np
import pytest

from corpora.clip import ClipSpec, mouth_from_audio, mouth_from_phones, render_clip, viseme
from corpora.faces import (
    DRAWINGS,
    FacePose,
    FaceRenderer,
    FaceStyle,
    draw_face,
    emotion_pose,
    render_background,
)
from corpora.scenes import SCENE_PALETTES, palette_light, scene_mood
from perception.face import FaceTracker, lip_features

SR, FPS = 16000, 25.0
MOUTHS = (0.0, 0.35, 0.7, 1.0)


@pytest.fixture(scope="module")
def detector() -> FaceTracker:
    return FaceTracker(detect_every=1)  # every frame on its own: a detection rate, not a tracking one


def _looks(drawing: str, framed: bool) -> tuple[np.ndarray, np.ndarray]:
    """4 random characters of ``drawing`` x 4 mouth openings: frames (16, H, W, 3) and mouth_open (16,).

    ``framed``: each character's own framing and head turn, four expressions and cluttered palette scenes
    (the corpus's looks); otherwise the default framing facing the camera over a plain palette scene."""
    rng = np.random.default_rng([zlib.crc32(drawing.encode()), int(framed)])
    frames, opening = [], []
    for c in range(4):
        style = FaceStyle.random(rng, drawing=drawing)
        if not framed:
            style = replace(style, scale=1.0, x=0.0, y=0.0)
        light = palette_light(SCENE_PALETTES[(c + 3 * framed) % len(SCENE_PALETTES)], rng)
        bg = render_background(*light, t=0.0, seed=c, clutter=0.3 * c if framed else 0.0)
        renderer = FaceRenderer(style)
        emotion = ("neutral", "happy", "sad", "angry")[c]
        yaw = float(rng.uniform(-style.turn, style.turn)) if framed else 0.0
        for m in MOUTHS:
            pose = FacePose(mouth_open=m, yaw=yaw, tilt=float(rng.uniform(-5, 5)))
            frames.append(renderer.render(emotion_pose(emotion, 0.8, pose), bg))
            opening.append(m)
    return np.stack(frames), np.array(opening)


def _read(detector: FaceTracker, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    track = detector.track(frames)
    return track.has_face, lip_features(frames, track, crop_size=32).inner_opening


def test_every_drawing_is_read_by_dlib(detector: FaceTracker) -> None:
    """Facing the camera, every drawing is found and its inner-lip gap follows the drawn mouth."""
    assert DRAWINGS[0] == "shaded" and len(DRAWINGS) >= 4
    for drawing in DRAWINGS:
        frames, opening = _looks(drawing, framed=False)
        found, gap = _read(detector, frames)
        assert found.sum() >= 14, f"{drawing}: face found on {found.sum()}/16 frames"
        r = np.corrcoef(gap[found], opening[found])[0, 1]
        assert r >= 0.8, f"{drawing}: inner-lip gap vs drawn mouth_open r={r:.2f}"
        # Wide open reads wider than closed, character by character (where both were found).
        by_char = np.nan_to_num(gap.reshape(4, len(MOUTHS)), nan=-1.0)
        opens = (by_char[:, -1] > by_char[:, 0] + 0.08) | (by_char[:, [0, -1]].min(axis=1) < 0)
        assert opens.all(), f"{drawing}: {by_char.round(2)}"


def test_framing_turns_and_clutter_still_read(detector: FaceTracker) -> None:
    """With each character's own size, position and head turn, over furnished scenes, most frames of
    every drawing are found and the lips still track, all drawings together."""
    all_found, all_gap, all_opening = [], [], []
    for drawing in DRAWINGS:
        frames, opening = _looks(drawing, framed=True)
        found, gap = _read(detector, frames)
        assert found.sum() >= 12, f"{drawing}: face found on {found.sum()}/16 frames"
        all_found.append(found)
        all_gap.append(gap)
        all_opening.append(opening)
    found, gap, opening = np.concatenate(all_found), np.concatenate(all_gap), np.concatenate(all_opening)
    assert found.mean() >= 0.9
    r = np.corrcoef(gap[found], opening[found])[0, 1]
    assert r >= 0.8, f"inner-lip gap vs drawn mouth_open over all drawings r={r:.2f}"


def _head_stats(frame: np.ndarray) -> list[float]:
    """Of the head: saturation, contrast, hard edges, near-black share (ink lines), soft gradients
    (modelling) and how many colours (a flat palette or a shaded one)."""
    crop = frame[40:190, 70:186]
    rgb = crop.astype(np.float64)
    mx, mn = rgb.max(axis=-1), rgb.min(axis=-1)
    grey = rgb.mean(axis=-1)
    step = np.abs(np.diff(grey, axis=1))
    q = (crop // 16).astype(int)
    colours = len(np.unique(q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]))
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0).mean()
    return [
        sat,
        grey.std(),
        (step > 40).mean(),
        (mx < 50).mean(),
        ((step > 1.5) & (step < 12)).mean(),
        colours,
    ]


def test_drawings_differ_in_colour_and_line() -> None:
    """A nearest-centroid rule on six simple image statistics tells the drawings apart: they differ in
    colour, contrast, line weight and shading, not only in a detail."""
    feats, labels = [], []
    for d, drawing in enumerate(DRAWINGS):
        rng = np.random.default_rng(7 + d)
        for _ in range(8):
            style = replace(FaceStyle.random(rng, drawing=drawing), x=0.0, y=0.0, scale=1.0)
            frame = draw_face(style, FacePose(mouth_open=0.3), background=(128, 128, 128))
            feats.append(_head_stats(frame))
            labels.append(d)
    x, y = np.array(feats), np.array(labels)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    right = 0
    for i in range(len(x)):  # leave one out
        keep = np.arange(len(x)) != i
        centroids = np.stack([x[keep & (y == d)].mean(axis=0) for d in range(len(DRAWINGS))])
        right += int(np.argmin(((centroids - x[i]) ** 2).sum(axis=1)) == y[i])
    assert right / len(x) >= 0.8, f"drawings told apart on {right}/{len(x)}"


def test_old_random_styles_are_unchanged() -> None:
    """The first corpus's plan draws styles with FaceStyle.random(rng): same draws, same styles."""
    rng = np.random.default_rng(0)
    style = FaceStyle.random(rng)
    assert int(rng.integers(1 << 30)) == 783290967  # the same number of draws as before drawings existed
    assert style == FaceStyle(
        skin=(127, 82, 52),
        hair=(85, 51, 24),
        hair_style="long",
        eye=(90, 90, 100),
        lip=(159, 70, 72),
        shirt=(120, 70, 150),
        face_ratio=0.7852349989758507,
        nose_size=1.2207825907044958,
        eye_size=1.0794877819067372,
        brow_thickness=0.8013692500850741,
        glasses=False,
    )
    assert (style.drawing, style.scale, style.x, style.y, style.turn) == ("shaded", 1.0, 0.0, 0.0, 0.0)
    rng = np.random.default_rng(7)
    assert FaceStyle.random(rng).hair == (173, 80, 29) and int(rng.integers(1 << 30)) == 881787299
    # A dict written before drawings existed reads as that shaded face in the default framing.
    old = {k: v for k, v in style.to_dict().items() if k in FaceStyle.__dataclass_fields__}
    for key in ("drawing", "scale", "x", "y", "turn", "line", "light"):
        old.pop(key)
    assert FaceStyle.from_dict(old) == style
    # With a drawing: that drawing, deterministic in the rng, its own framing.
    a = FaceStyle.random(np.random.default_rng(3), drawing="ink")
    assert a == FaceStyle.random(np.random.default_rng(3), drawing="ink") and a.drawing == "ink"
    assert a.scale != 1.0 and a.turn > 0
    with pytest.raises(ValueError, match="unknown face drawing"):
        FaceStyle.random(np.random.default_rng(0), drawing="oil")


def test_turn_and_framing_move_the_detected_face(detector: FaceTracker) -> None:
    style = FaceStyle.random(np.random.default_rng(1), drawing="flat")
    style = replace(style, x=0.0, y=0.0, scale=1.0)
    frames = np.stack(
        [draw_face(style, FacePose(yaw=yaw)) for yaw in (-18.0, 0.0, 18.0)]
        + [draw_face(replace(style, x=0.08, scale=0.85))]
    )
    track = detector.track(frames)
    assert track.has_face.all()
    lm = track.landmarks
    # The nose tip (30) slides towards the turn against the jaw outline (0..16) behind it.
    nose = lm[:3, 30, 0] - lm[:3, 0:17, 0].mean(axis=1)
    assert nose[0] < nose[1] - 2 and nose[2] > nose[1] + 2, nose
    # Framing: the face moves right by about 0.08 of 256 px and shrinks with the scale.
    assert 12 < lm[3, :, 0].mean() - lm[1, :, 0].mean() < 30
    assert np.ptp(lm[3, :, 0]) < 0.92 * np.ptp(lm[1, :, 0])


def test_clutter_is_seeded_and_off_by_default() -> None:
    plain = render_background((120, 140, 160), 1.0, 0.5, seed=3)
    assert np.array_equal(plain, render_background((120, 140, 160), 1.0, 0.5, seed=3, clutter=0.0))
    busy = render_background((120, 140, 160), 1.0, 0.5, seed=3, clutter=1.0)
    assert np.array_equal(busy, render_background((120, 140, 160), 1.0, 0.5, seed=3, clutter=1.0))
    assert not np.array_equal(busy, render_background((120, 140, 160), 1.0, 0.5, seed=4, clutter=1.0))
    # Furniture adds edges to the soft scene.
    edges = lambda img: (np.abs(np.diff(img.astype(int).mean(axis=-1), axis=1)) > 20).mean()  # noqa: E731
    assert edges(busy) > edges(plain) + 0.01


def test_palettes_light_the_scene_whatever_the_emotion(tmp_path) -> None:
    assert len(SCENE_PALETTES) >= 8
    for name in SCENE_PALETTES:
        rgb, light = palette_light(name, np.random.default_rng(1))
        assert len(rgb) == 3 and 0.3 < light < 1.5
    # A palette clip's light is the same for any emotion, intensity or line length; the mood design's is not.
    rng = np.random.default_rng(0)
    metas = {}
    for k, (emotion, seconds) in enumerate((("happy", 0.6), ("sad", 1.0), ("fear", 0.8))):
        audio = (0.1 * rng.normal(0, 1, int(seconds * SR))).astype(np.float32)
        for palette in ("neon", None):
            spec = ClipSpec(
                clip_id=f"{k}{palette}",
                text="x",
                voice_id="flite_awb",
                emotion=emotion,
                seed=11,
                scene_seed=5,
                scene_palette=palette,
                scene_clutter=0.5 if palette else 0.0,
                face_style=FaceStyle.random(np.random.default_rng(2), drawing="round").to_dict(),
            )
            metas[(emotion, palette)] = render_clip(spec, tmp_path / f"{k}{palette}", audio=audio)
    neon = [m["scene_light"] for (_, p), m in metas.items() if p == "neon"]
    assert all(light == neon[0] for light in neon)
    mood = [m["scene_light"] for (_, p), m in metas.items() if p is None]
    assert len({str(light) for light in mood}) == 3
    assert neon[0]["rgb"] != list(scene_mood("happy", 1.0)[0])
    assert {m["mouth_source"] for m in metas.values()} == {"audio"}  # no timings given: loudness drives


def _loud_audio(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.2 * rng.normal(0, 1, int(seconds * SR))).astype(np.float32)


def test_phone_timings_drive_the_mouth() -> None:
    # "mama, see you": lips shut on m, wide on aa, spread on iy, rounded on uw; steady loudness throughout.
    phones = [("pau", 0.0, 0.1), ("m", 0.1, 0.22), ("aa1", 0.22, 0.42), ("m", 0.42, 0.54), ("aa", 0.54, 0.74)]
    phones += [
        ("s", 0.74, 0.86),
        ("iy", 0.86, 1.06),
        ("y", 1.06, 1.14),
        ("uw", 1.14, 1.36),
        ("pau", 1.36, 1.5),
    ]
    audio = _loud_audio(1.5)
    n = int(1.5 * FPS)
    opening, width = mouth_from_phones(phones, audio, SR, FPS, n)
    at = lambda t: int(t * FPS)  # noqa: E731
    assert opening[at(0.16)] < 0.2 and opening[at(0.48)] < 0.2  # m
    assert opening[at(0.32)] > 0.6 and opening[at(0.64)] > 0.6  # aa
    assert width[at(0.96)] > 0.65 and width[at(1.25)] < 0.3  # iy spread, uw rounded
    assert opening[at(0.32)] > opening[at(0.96)] > opening[at(0.16)]
    # Silence closes the mouth whatever the timings say.
    quiet = audio.copy()
    quiet[int(0.5 * SR) :] = 0
    opening_q, _ = mouth_from_phones(phones, quiet, SR, FPS, n)
    assert opening_q[at(0.64)] < 0.05 and opening_q[at(0.32)] > 0.6
    # IPA phones work the same way; an offset shifts them into the clip.
    ipa = [("m", 0.1, 0.22), ("ˈɑː", 0.22, 0.42), ("m", 0.42, 0.54)]
    opening_i, _ = mouth_from_phones(ipa, audio, SR, FPS, n, offset_s=0.2)
    assert opening_i[at(0.36)] < 0.2 and opening_i[at(0.52)] > 0.6
    assert viseme("AA1") == viseme("aa") and viseme("aɪ") == viseme("a") and viseme("tʃ") == viseme("ch")
    assert viseme("b")[0] == 0.0 and viseme("???")[0] > 0
    # The fallback without timings still moves with loudness.
    fallback, _ = mouth_from_audio(quiet, SR, FPS, n)
    assert fallback[at(0.3)] > 0.5 and fallback[at(1.0)] < 0.05


def test_render_clip_mouths_the_voice_phones(tmp_path) -> None:
    """With a real engine's timings (flite), the clip's mouth shuts on m/b/p and opens on open vowels."""
    meta = render_clip(
        ClipSpec(clip_id="m", text="Mama made a map of Bombay.", voice_id="flite_awb", seed=3), tmp_path
    )
    assert meta["mouth_source"] == "phones"
    opening, fps = np.array(meta["mouth_open"]), meta["fps"]
    at = {"closed": [], "open": []}
    for phone, start, end in meta["phoneme_timings"]:
        kind = "closed" if phone in ("m", "b", "p") else "open" if phone in ("aa", "ae") else None
        if kind:
            at[kind].append(opening[int((start + end) / 2 * fps)])
    assert max(at["closed"]) < 0.25 and np.mean(at["open"]) > 0.45, at
