"""Drawn cartoon faces for the synthetic audiovisual corpus and the demo clip.

The faces are deliberately drawn with human proportions (eyes about halfway down the head, dark pupils
and lids, brows, a shaded nose, two lips around a dark mouth interior with teeth) because the same
perception code that reads real footage (dlib's HOG detector + 68-point landmarks, the FER expression
model) must read them too: the mouth opening measured from the landmarks has to follow the drawn
``mouth_open``, and a smile has to look like a smile.

Everything is drawn as polygons in face-local units (1.0 = face height) that are rotated and placed by one
transform, on a supersampled transparent canvas that is box-filtered down (anti-aliasing helps the HOG
detector) and laid over the scene. ``FaceRenderer`` draws a character frame after frame and keeps what
does not change within a clip; ``draw_face`` draws one frame. ``size`` arguments are ``(height, width)``,
like the arrays returned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[int, int, int]

SKIN_TONES: tuple[RGB, ...] = (
    (255, 226, 204),
    (245, 205, 175),
    (234, 186, 150),
    (214, 160, 122),
    (189, 133, 96),
    (158, 104, 72),
    (125, 82, 56),
    (98, 64, 44),
)
HAIR_COLOURS: tuple[RGB, ...] = (
    (28, 22, 20),
    (58, 38, 26),
    (96, 62, 36),
    (150, 102, 58),
    (214, 176, 110),
    (166, 72, 36),
    (170, 170, 176),
    (60, 70, 140),
    (150, 60, 120),
)
EYE_COLOURS: tuple[RGB, ...] = ((70, 45, 25), (110, 75, 40), (60, 110, 150), (70, 120, 80), (90, 90, 100))
LIP_COLOURS: tuple[RGB, ...] = ((190, 90, 90), (170, 80, 85), (200, 105, 110), (150, 70, 70), (120, 60, 60))
SHIRT_COLOURS: tuple[RGB, ...] = (
    (60, 90, 160),
    (170, 50, 50),
    (50, 130, 80),
    (220, 190, 80),
    (90, 90, 90),
    (230, 230, 230),
    (120, 70, 150),
)
HAIR_STYLES: tuple[str, ...] = ("short", "long", "bob", "curly", "bun", "spiky", "bald")


SUPERSAMPLE = 2  # face canvas supersampling: enough anti-aliasing for the HOG detector and landmarks


def _jitter(rng: np.random.Generator, colour: RGB, amount: int = 10) -> RGB:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)  # type: ignore[return-value]


@dataclass(frozen=True)
class FaceStyle:
    """How one character looks; fixed for all of that character's clips."""

    skin: RGB = (234, 186, 150)
    hair: RGB = (58, 38, 26)
    hair_style: str = "short"
    eye: RGB = (70, 45, 25)
    lip: RGB = (190, 90, 90)
    shirt: RGB = (60, 90, 160)
    face_ratio: float = 0.78  # face width / face height
    nose_size: float = 1.0
    eye_size: float = 1.0
    brow_thickness: float = 1.0
    glasses: bool = False

    @classmethod
    def random(cls, rng: np.random.Generator) -> FaceStyle:
        skin = SKIN_TONES[int(rng.integers(len(SKIN_TONES)))]
        return cls(
            skin=_jitter(rng, skin, 8),
            hair=_jitter(rng, HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))], 12),
            hair_style=HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))],
            eye=EYE_COLOURS[int(rng.integers(len(EYE_COLOURS)))],
            lip=_jitter(rng, LIP_COLOURS[int(rng.integers(len(LIP_COLOURS)))], 10),
            shirt=SHIRT_COLOURS[int(rng.integers(len(SHIRT_COLOURS)))],
            face_ratio=float(rng.uniform(0.72, 0.84)),
            nose_size=float(rng.uniform(0.8, 1.25)),
            eye_size=float(rng.uniform(0.9, 1.12)),
            brow_thickness=float(rng.uniform(0.8, 1.3)),
            glasses=bool(rng.random() < 0.25),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FaceStyle:
        known = {f.name for f in fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in known}
        return cls(**kw)


@dataclass(frozen=True)
class FacePose:
    """One frame's expression and head position. Neutral by default."""

    mouth_open: float = 0.0  # 0 closed .. 1 wide open (jaw drops with it)
    mouth_width: float = 0.5  # 0 rounded/pursed .. 1 stretched
    smile: float = 0.0  # -1 corners down .. 1 corners up
    brow_raise: float = 0.0  # -1 lowered .. 1 raised
    brow_furrow: float = 0.0  # 0 relaxed .. 1 inner ends pulled down and together
    eye_open: float = 0.75  # 0 closed (blink) .. 0.75 normal .. 1 wide
    dx: float = 0.0  # head offset, fraction of frame width
    dy: float = 0.0  # head offset, fraction of frame height
    tilt: float = 0.0  # head roll in degrees (keep within about +-10)

    def clipped(self) -> FacePose:
        def clamp(v: float, lo: float, hi: float) -> float:
            return min(max(float(v), lo), hi)

        return FacePose(
            mouth_open=clamp(self.mouth_open, 0, 1),
            mouth_width=clamp(self.mouth_width, 0, 1),
            smile=clamp(self.smile, -1, 1),
            brow_raise=clamp(self.brow_raise, -1, 1),
            brow_furrow=clamp(self.brow_furrow, 0, 1),
            eye_open=clamp(self.eye_open, 0, 1),
            dx=clamp(self.dx, -0.25, 0.25),
            dy=clamp(self.dy, -0.2, 0.2),
            tilt=clamp(self.tilt, -20, 20),
        )


# Expression targets at full intensity, for the emotions the corpus uses (FER's seven plus the extra
# labels that V2C-style data sets carry). Mouth opening comes from speech and is not part of these.
EMOTION_POSES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"smile": 1.0, "brow_raise": 0.25, "mouth_width": 0.8, "eye_open": 0.65},
    "sad": {"smile": -0.9, "brow_raise": 0.35, "brow_furrow": 0.6, "eye_open": 0.5, "mouth_width": 0.35},
    "angry": {"smile": -0.45, "brow_raise": -0.9, "brow_furrow": 1.0, "eye_open": 0.85, "mouth_width": 0.7},
    "fear": {"smile": -0.35, "brow_raise": 0.9, "brow_furrow": 0.6, "eye_open": 1.0, "mouth_width": 0.75},
    "surprise": {"smile": 0.0, "brow_raise": 1.0, "eye_open": 1.0, "mouth_width": 0.25},
    "disgust": {"smile": -0.7, "brow_raise": -0.5, "brow_furrow": 0.7, "eye_open": 0.55, "mouth_width": 0.6},
    "contempt": {"smile": -0.2, "brow_raise": -0.2, "eye_open": 0.6, "mouth_width": 0.6},
}


def emotion_pose(emotion: str, intensity: float = 1.0, base: FacePose | None = None) -> FacePose:
    """Blend ``base`` (neutral by default) towards the emotion's target pose by ``intensity`` (0..1)."""
    base = base or FacePose()
    target = EMOTION_POSES.get(emotion, {})
    k = float(np.clip(intensity, 0.0, 1.0))
    changes = {
        name: getattr(base, name) + k * (value - getattr(base, name)) for name, value in target.items()
    }
    return replace(base, **changes)


# --------------------------------------------------------------------------------------------------
# geometry helpers (face-local units: x right, y down, 1.0 = face height, origin = face centre)


_UNIT_CIRCLES: dict[int, np.ndarray] = {}


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> np.ndarray:
    unit = _UNIT_CIRCLES.get(n)
    if unit is None:
        a = np.linspace(0, 2 * np.pi, n, endpoint=False)
        unit = _UNIT_CIRCLES[n] = np.stack([np.cos(a), np.sin(a)], axis=1)
    return unit * (rx, ry) + (cx, cy)


def _shade(colour: RGB, k: float) -> RGB:
    """k < 1 darkens, k > 1 lightens towards white."""
    if k <= 1:
        return tuple(int(c * k) for c in colour)  # type: ignore[return-value]
    return tuple(int(c + (255 - c) * (k - 1)) for c in colour)  # type: ignore[return-value]


def _lerp(a: RGB, b: RGB, k: float) -> RGB:
    return tuple(int(round(x + (y - x) * k)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _ribbon(xy: np.ndarray, half: float) -> np.ndarray:
    """The outline of a polyline stroked ``2 * half`` wide, as one polygon (mitred joints, capped at 2x)."""
    d = np.diff(xy, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], axis=1)
    n /= np.sqrt((n * n).sum(axis=1, keepdims=True)) + 1e-12
    vn = np.empty_like(xy)
    vn[0], vn[-1] = n[0], n[-1]
    m = n[:-1] + n[1:]
    vn[1:-1] = 2.0 * m / np.maximum((m * m).sum(axis=1, keepdims=True), 1.0)
    return np.vstack([xy + half * vn, (xy - half * vn)[::-1]])


class _Pen:
    """Draws face-local polygons onto the supersampled canvas through one similarity transform.

    The canvas is premultiplied RGBA ("RGBa") and starts transparent: every drawn pixel is opaque, so a
    box-filtered reduction gives the layer's colour and coverage, composited over the scene afterwards.
    """

    def __init__(self, img: Image.Image, centre: tuple[float, float], scale: float, tilt_deg: float):
        self.img = img
        self.draw = ImageDraw.Draw(img)
        self.centre = np.asarray(centre, dtype=np.float64)
        self.scale = scale
        a = math.radians(tilt_deg)
        self.rot_t = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) * scale

    def map(self, pts: np.ndarray) -> np.ndarray:
        return np.asarray(pts, dtype=np.float64) @ self.rot_t + self.centre

    def poly(self, pts: np.ndarray, fill: RGB, outline: RGB | None = None, width: float = 0.0) -> None:
        self.fill_mapped(self.map(pts), fill)
        if outline is not None and width > 0:
            self.line(np.vstack([pts, pts[:1]]), outline, width)

    def line(self, pts: np.ndarray, fill: RGB, width: float) -> None:
        self.stroke_mapped(self.map(pts), fill, width)

    def fill_mapped(self, xy: np.ndarray, fill: RGB) -> None:
        self.draw.polygon(xy.ravel().tolist(), fill=fill)

    def stroke_mapped(self, xy: np.ndarray, fill: RGB, width: float) -> None:
        w = max(1, int(round(width * self.scale)))
        if w > 4 and len(xy) > 2:
            # Thick polyline: one polygon with mitred joints (PIL's own round joints cost a Python loop
            # per vertex).
            self.draw.polygon(_ribbon(xy, w / 2).ravel().tolist(), fill=fill)
        else:
            self.draw.line(xy.ravel().tolist(), fill=fill, width=w)
        # Round caps: PIL lines end square, which looks jagged on thick strokes.
        r = w / 2
        for x, y in (xy[0], xy[-1]):
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def clipped(self, clip: np.ndarray, painter) -> None:
        """Run ``painter(pen)`` but keep only what falls inside polygon ``clip`` (e.g. iris inside the eye)."""
        xy = self.map(clip)
        pad = 4
        left, top = np.floor(xy.min(axis=0)).astype(int) - pad
        r, b = np.ceil(xy.max(axis=0)).astype(int) + pad
        left, top = max(left, 0), max(top, 0)
        r, b = min(r, self.img.width), min(b, self.img.height)
        if r <= left or b <= top:
            return
        region = self.img.crop((left, top, r, b))
        sub = _Pen(region, tuple(self.centre - (left, top)), self.scale, 0.0)
        sub.rot_t = self.rot_t
        painter(sub)
        mask = Image.new("1", region.size, 0)  # a bilevel mask pastes without blending: faster
        ImageDraw.Draw(mask).polygon((xy - (left, top)).ravel().tolist(), fill=1)
        self.img.paste(region, (left, top), mask)


class _Sketch:
    """Polygons and strokes in face-local units, recorded once and replayed through any pen's transform.

    The parts of a face that depend only on the character (hair, ears, nose, glasses) are recorded once
    per style; each frame maps all their points in one matrix product instead of rebuilding them.
    """

    def __init__(self, *painters) -> None:
        self.items: list[tuple[bool, RGB, float]] = []  # (is_polygon, colour, stroke width)
        chunks: list[np.ndarray] = []
        self._chunks = chunks
        for paint in painters:
            paint(self)
        self.points = np.vstack(chunks) if chunks else np.zeros((0, 2))
        self.ends = np.cumsum([len(c) for c in chunks]).tolist()
        del self._chunks

    def poly(self, pts: np.ndarray, fill: RGB, outline: RGB | None = None, width: float = 0.0) -> None:
        self.items.append((True, fill, 0.0))
        self._chunks.append(np.asarray(pts, dtype=np.float64))
        if outline is not None and width > 0:
            self.line(np.vstack([pts, pts[:1]]), outline, width)

    def line(self, pts: np.ndarray, fill: RGB, width: float) -> None:
        self.items.append((False, fill, width))
        self._chunks.append(np.asarray(pts, dtype=np.float64))

    def replay(self, pen: _Pen) -> None:
        xy = pen.map(self.points)
        start = 0
        for (is_polygon, fill, width), end in zip(self.items, self.ends, strict=True):
            if is_polygon:
                pen.fill_mapped(xy[start:end], fill)
            else:
                pen.stroke_mapped(xy[start:end], fill, width)
            start = end


def _curve(x0: float, x1: float, y_edge: float, y_mid: float, n: int = 24, power: float = 2.2) -> np.ndarray:
    """y(x) from (x0, y_edge) through (mid, y_mid) to (x1, y_edge); higher power = flatter middle."""
    x = np.linspace(x0, x1, n)
    s = (x - (x0 + x1) / 2) / ((x1 - x0) / 2)
    y = y_edge + (y_mid - y_edge) * (1 - np.abs(s) ** power)
    return np.stack([x, y], axis=1)


# --------------------------------------------------------------------------------------------------
# the parts of a face


def _head_outline(hw: float, jaw: float, n: int = 72) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = hw * np.cos(a), 0.5 * np.sin(a)
    lower = np.clip(np.sin(a), 0, None)
    x = x * (1 - 0.24 * lower**1.6)  # narrower jaw and chin than forehead: an egg, not an ellipse
    y = y + jaw * np.clip((y - 0.1) / 0.4, 0, None) ** 2
    return np.stack([x, y], axis=1)


def _hair_back(pen: _Pen, style: FaceStyle, hw: float) -> None:
    c = style.hair
    if style.hair_style == "long":
        pts = np.vstack([_ellipse(0, -0.08, hw * 1.16, 0.5, 40)[20:], [[hw * 1.2, 0.62], [-hw * 1.2, 0.62]]])
        pen.poly(np.vstack([[[-hw * 1.16, -0.08]], pts]), c)
    elif style.hair_style == "bob":
        pts = np.vstack([_ellipse(0, -0.05, hw * 1.14, 0.48, 40)[20:], [[hw * 1.1, 0.28], [-hw * 1.1, 0.28]]])
        pen.poly(np.vstack([[[-hw * 1.14, -0.05]], pts]), c)
    elif style.hair_style == "bun":
        pen.poly(_ellipse(0, -0.56, 0.11, 0.09), _shade(c, 0.9))


def _hair_front(pen: _Pen, style: FaceStyle, hw: float) -> None:
    if style.hair_style == "bald":
        # A little hair over the ears keeps the head outline readable on any background.
        for side in (-1, 1):
            pen.poly(_ellipse(side * hw * 0.93, -0.12, hw * 0.12, 0.09, 24), style.hair)
        return
    c = style.hair
    # Cap: the top of an ellipse a little larger than the head, cut by a hairline above the brows.
    a = np.linspace(np.pi, 2 * np.pi, 40)
    outer = np.stack([hw * 1.07 * np.cos(a), -0.07 + 0.47 * np.sin(a)], axis=1)
    hairline = _curve(hw * 1.0, -hw * 1.0, -0.1, -0.33, 30, power=1.6)
    if style.hair_style in ("short", "spiky", "curly"):
        # Side part: a fringe that dips towards one temple.
        hairline[:, 1] += 0.04 * np.clip(hairline[:, 0] / hw, 0, 1)
    pen.poly(np.vstack([outer, hairline]), c)
    if style.hair_style == "spiky":
        for i in range(7):
            ang = np.pi + (i + 0.5) * np.pi / 7
            base = np.array([hw * 1.05 * np.cos(ang), -0.07 + 0.46 * np.sin(ang)])
            tip = base * np.array([1.2, 1.0]) + np.array([0, -0.07])
            side = np.array([-np.sin(ang), np.cos(ang)]) * 0.05
            pen.poly(np.array([base - side, tip, base + side]), c)
    elif style.hair_style == "curly":
        for ang in np.linspace(np.pi * 1.02, np.pi * 1.98, 11):
            centre = np.array([hw * 1.03 * np.cos(ang), -0.08 + 0.45 * np.sin(ang)])
            pen.poly(_ellipse(centre[0], centre[1], 0.055, 0.055, 20), c)
    # A slightly lighter streak gives the hair some volume.
    pen.line(_curve(-hw * 0.55, hw * 0.35, -0.38, -0.46, 16), _shade(c, 1.25), 0.012)


def _ears(pen: _Pen, style: FaceStyle, hw: float) -> None:
    for side in (-1, 1):
        pen.poly(_ellipse(side * hw * 0.98, 0.02, 0.045, 0.085), _shade(style.skin, 0.93))
        pen.poly(_ellipse(side * hw * 0.99, 0.02, 0.022, 0.05), _shade(style.skin, 0.78))


def _eye(pen: _Pen, style: FaceStyle, pose: FacePose, cx: float, cy: float, ew: float, side: int) -> None:
    """One eye: white, iris, pupil, highlight (clipped to the lids), then lid lines and lashes."""
    openness = pose.eye_open
    # Smiles push the cheeks up into the lower lid: a "smiling eye".
    squint = 0.25 * max(pose.smile, 0.0)
    up_h = ew * 0.30 * min(1.25, openness / 0.75)
    lo_h = ew * 0.18 * min(1.2, openness / 0.75) * (1 - squint)
    x0, x1 = cx - ew / 2, cx + ew / 2
    upper = _curve(x0, x1, cy, cy - up_h, 20, power=2.0)
    lower = _curve(x1, x0, cy, cy + lo_h, 20, power=2.0)
    lid_dark = (32, 22, 20)
    if openness < 0.08:  # closed: a lid line and lashes only
        pen.line(_curve(x0, x1, cy, cy + ew * 0.06, 16), lid_dark, 0.012)
        return
    shape = np.vstack([upper, lower])
    pen.poly(shape, (246, 244, 240))
    r_iris = ew * 0.24

    def paint(sub: _Pen) -> None:
        iy = cy - up_h * 0.15
        sub.poly(_ellipse(cx, iy, r_iris, r_iris, 32), style.eye)
        sub.poly(_ellipse(cx, iy, r_iris * 0.5, r_iris * 0.5, 24), (12, 10, 10))
        sub.poly(
            _ellipse(cx + r_iris * 0.35, iy - r_iris * 0.35, r_iris * 0.2, r_iris * 0.2, 12), (250, 250, 250)
        )
        # Shadow of the upper lid on the eyeball.
        sub.line(upper + (0, 0.006), _shade((246, 244, 240), 0.7), 0.01)

    pen.clipped(shape, paint)
    pen.line(upper, lid_dark, 0.014)
    pen.line(lower, _shade(style.skin, 0.55), 0.006)
    # Outer-corner lash flick, and a lid crease above the eye.
    corner = x1 if side > 0 else x0
    pen.line(
        np.array(
            [[corner - side * ew * 0.08, cy - up_h * 0.2], [corner + side * ew * 0.1, cy - up_h * 0.45]]
        ),
        lid_dark,
        0.01,
    )
    pen.line(
        _curve(x0 + ew * 0.1, x1 - ew * 0.1, cy - up_h * 1.15, cy - up_h * 1.5, 16),
        _shade(style.skin, 0.72),
        0.006,
    )


def _brow(
    pen: _Pen, style: FaceStyle, pose: FacePose, eye_x: float, eye_y: float, ew: float, side: int
) -> None:
    raise_ = 0.035 * pose.brow_raise
    furrow = pose.brow_furrow
    inner_x = eye_x - side * ew * (0.58 - 0.12 * furrow)
    outer_x = eye_x + side * ew * 0.62
    base_y = eye_y - 0.085 - raise_
    # Furrow pulls the inner end down; raised (sad/fear) brows lift the inner end more than the outer.
    inner_y = base_y + 0.03 * furrow - 0.012 * max(pose.brow_raise, 0) * furrow
    outer_y = base_y + 0.012
    mid_y = min(inner_y, outer_y) - 0.018 - 0.01 * max(pose.brow_raise, 0)
    t = np.linspace(0, 1, 18)
    x = inner_x + (outer_x - inner_x) * t
    # Quadratic through the two ends with an arch peak two thirds of the way out.
    peak = 0.62
    y = inner_y + (outer_y - inner_y) * t
    y += (mid_y - (inner_y + (outer_y - inner_y) * peak)) * (
        1 - ((t - peak) / np.where(t < peak, peak, 1 - peak)) ** 2
    )
    thick = 0.028 * style.brow_thickness * (1.0 - 0.45 * t)  # thick inner head, thin tail
    top = np.stack([x, y - thick / 2], axis=1)
    bot = np.stack([x, y + thick / 2], axis=1)[::-1]
    # Brows are always much darker than the skin: they are one of the strongest cues a detector uses.
    colour = _lerp(style.hair, (22, 15, 12), 0.75) if style.hair_style != "bald" else (40, 30, 25)
    pen.poly(np.vstack([top, bot]), colour)


def _nose(pen: _Pen, style: FaceStyle, ns: float) -> None:
    shadow = _shade(style.skin, 0.78)
    tip_y = 0.15 + 0.02 * (ns - 1)
    # Bridge shading down one side, the tip's underside and the two nostrils.
    pen.poly(
        np.array([[0.018, -0.03], [0.045 * ns, tip_y - 0.02], [0.02, tip_y - 0.01], [0.008, -0.02]]), shadow
    )
    pen.poly(_ellipse(0, tip_y + 0.004, 0.05 * ns, 0.018, 32), _shade(style.skin, 0.86))
    pen.poly(_ellipse(0, tip_y - 0.012, 0.03 * ns, 0.02, 24), _shade(style.skin, 1.08))
    for s in (-1, 1):
        pen.poly(_ellipse(s * 0.026 * ns, tip_y + 0.012, 0.013 * ns, 0.008, 16), _shade(style.skin, 0.45))
    pen.line(
        _curve(-0.058 * ns, 0.058 * ns, tip_y, tip_y + 0.02, 16, power=2.5), _shade(style.skin, 0.62), 0.006
    )


_MAX_GAP = 0.16  # inner-lip gap at mouth_open=1, in face heights (about 0.45 inter-ocular distances)


def _mouth(pen: _Pen, style: FaceStyle, pose: FacePose, hw: float) -> None:
    """Two lips around a dark interior with upper teeth; the chin drop is applied by the head outline."""
    gap = _MAX_GAP * pose.mouth_open
    mw = hw * (0.66 + 0.3 * pose.mouth_width + 0.12 * max(pose.smile, 0) - 0.1 * pose.mouth_open)
    my = 0.305
    # An open mouth pulls the corners towards the jaw line, flattening smiles and frowns.
    # Frowns are drawn milder than smiles: strongly drooping corners make landmark fits unstable.
    corner_y = my - (0.05 if pose.smile > 0 else 0.035) * pose.smile * (1 - 0.5 * pose.mouth_open)
    up_mid = my - 0.25 * gap  # the upper lip barely moves; the jaw carries the lower lip
    lo_mid = my + 0.75 * gap
    x0, x1 = -mw / 2, mw / 2
    n = 28
    inner_up = _curve(x0, x1, corner_y, up_mid, n, power=2.4)
    inner_lo = _curve(x0, x1, corner_y, lo_mid, n, power=2.0)
    # With corners raised the closed line bows down (a smile), with corners lowered it bows up.
    bow = 0.018 * pose.smile
    inner_up[:, 1] += bow * (1 - np.abs(np.linspace(-1, 1, n)) ** 2)
    inner_lo[:, 1] += bow * (1 - np.abs(np.linspace(-1, 1, n)) ** 2)
    s = np.linspace(-1, 1, n)
    taper = (1 - np.abs(s) ** 2.2) ** 0.6
    cupid = 1 - 0.3 * np.exp(-((s / 0.13) ** 2))
    outer_up = inner_up.copy()
    outer_up[:, 1] -= 0.04 * taper * cupid
    outer_lo = inner_lo.copy()
    outer_lo[:, 1] += 0.05 * taper
    lip = style.lip
    if gap > 0.004:
        interior = np.vstack([inner_up, inner_lo[::-1]])
        pen.poly(interior, (48, 14, 20))

        def paint(sub: _Pen) -> None:
            # Upper teeth only in the middle of the mouth (the corners show the dark interior), and a
            # tongue low in the mouth when it is wide open; no lower teeth, as in most speech frames.
            th_up = min(0.022, 0.35 * gap)
            mid = inner_up[4:-4]
            sub.poly(np.vstack([mid, (mid + (0, th_up))[::-1]]), (236, 234, 226))
            if gap > 0.06:
                sub.poly(_ellipse(0, lo_mid + 0.01, mw * 0.26, gap * 0.22, 28), (125, 45, 55))

        pen.clipped(interior, paint)
    pen.poly(np.vstack([outer_up, inner_up[::-1]]), _shade(lip, 0.92))
    pen.poly(np.vstack([inner_lo, outer_lo[::-1]]), lip)
    # Highlight on the lower lip and a dark line where the lips meet.
    pen.line(_curve(-mw * 0.18, mw * 0.18, lo_mid + 0.028, lo_mid + 0.032, 10), _shade(lip, 1.25), 0.007)
    # Closed lips meet in a distinct dark line (landmark models put both inner lips on it).
    pen.line(inner_up, _shade(lip, 0.4), max(0.004, 0.011 - gap * 0.3))
    # Smile / frown creases beside the mouth.
    if abs(pose.smile) > 0.3:
        k = (abs(pose.smile) - 0.3) / 0.7
        col = _lerp(style.skin, _shade(style.skin, 0.65), k)
        for side in (-1, 1):
            cx = side * (mw / 2 + 0.035)
            if pose.smile > 0:
                pts = np.array([[side * mw * 0.42, 0.2], [cx, 0.26], [cx + side * 0.005, corner_y + 0.02]])
            else:
                pts = np.array([[cx - side * 0.01, corner_y + 0.01], [cx, corner_y + 0.06]])
            pen.line(pts, col, 0.006)


@lru_cache(maxsize=64)
def _gain_tables(colour: RGB) -> tuple[list[int], ...]:
    """Per channel: ``colour`` times gain / 128 for every gain 0..255 (a lookup table for Image.point)."""
    return tuple([min((c * g) >> 7, 255) for g in range(256)] for c in colour)


def _modelling(
    pen: _Pen, style: FaceStyle, hw: float, outline: np.ndarray, eye_x: float, eye_y: float, ew: float
) -> None:
    """The head's skin under light and shade: darker eye sockets, brighter forehead, nose bridge, cheekbones.

    This is what a photographed face looks like to a HOG detector (a dark band across the eyes, a bright
    T-zone). Flat colour on a dark skin tone leaves almost no gradients there, so the shading deepens as
    the skin darkens. It is a blurred multiplicative light map (computed at a quarter of the canvas
    resolution: it is soft anyway) applied to the skin colour inside the head ``outline``, before the
    features are drawn on top.
    """
    skin = style.skin
    pen.poly(outline, skin)
    lum = (0.299 * skin[0] + 0.587 * skin[1] + 0.114 * skin[2]) / 255
    dark = float(np.clip((0.9 - lum) / 0.6, 0.0, 1.0))  # 0 for the lightest skin, 1 for the darkest
    socket = 0.8 - 0.3 * dark
    lift = 1.06 + 0.1 * dark
    box = pen.map(_ellipse(0, 0, hw, 0.5, 24))
    q = 4
    left, top = np.floor(box.min(axis=0)).astype(int)
    r, b = np.ceil(box.max(axis=0)).astype(int)
    left, top = max(int(left), 0), max(int(top), 0)
    r, b = min(int(r), pen.img.width), min(int(b), pen.img.height)
    if r - left < 2 * q or b - top < 2 * q:
        return
    small = Image.new("L", ((r - left) // q, (b - top) // q), 128)
    d = ImageDraw.Draw(small)

    def blob(cx: float, cy: float, rx: float, ry: float, gain: float) -> None:
        xy = (pen.map(_ellipse(cx, cy, rx, ry, 32)) - (left, top)) / q
        d.polygon(xy.ravel().tolist(), fill=min(max(int(128 * gain), 0), 255))

    blob(0, -0.3, hw * 0.5, 0.09, lift)
    blob(0, 0.04, 0.03, 0.11, lift)
    for side in (-1, 1):
        blob(side * eye_x, eye_y - 0.02, ew * 0.85, 0.085, socket)
        blob(side * hw * 0.55, 0.11, 0.075, 0.04, lift)
    small = small.filter(ImageFilter.GaussianBlur(0.018 * pen.scale / q))
    # Only where the light map differs from 1 (128); one small pixel of margin covers the bilinear spread.
    lit_map = np.asarray(small) != 128
    rows, cols = np.flatnonzero(lit_map.any(axis=1)), np.flatnonzero(lit_map.any(axis=0))
    if not rows.size:
        return
    sx0, sy0 = max(int(cols[0]) - 1, 0), max(int(rows[0]) - 1, 0)
    sx1, sy1 = min(int(cols[-1]) + 2, small.width), min(int(rows[-1]) + 2, small.height)
    size = ((sx1 - sx0) * q, (sy1 - sy0) * q)
    gain = small.resize(size, Image.BILINEAR, box=(sx0, sy0, sx1, sy1))
    # Skin colour times gain / 128 through per-channel lookup tables, kept to the inside of the outline.
    bands = [gain.point(table) for table in _gain_tables(tuple(skin))]
    lit = Image.merge("RGBa", [*bands, Image.new("L", size, 255)])
    x0, y0 = left + sx0 * q, top + sy0 * q
    mask = Image.new("1", size, 0)
    ImageDraw.Draw(mask).polygon((pen.map(outline) - (x0, y0)).ravel().tolist(), fill=1)
    pen.img.paste(lit, (x0, y0), mask)


def _glasses(pen: _Pen, eye_x: float, eye_y: float, ew: float) -> None:
    frame = (30, 30, 40)
    for side in (-1, 1):
        cx = side * eye_x
        rect = _ellipse(cx, eye_y + 0.005, ew * 0.72, ew * 0.5, 40)
        pen.line(np.vstack([rect, rect[:1]]), frame, 0.008)
    pen.line(_curve(-eye_x + ew * 0.72, eye_x - ew * 0.72, eye_y - 0.01, eye_y - 0.02, 8), frame, 0.008)


# --------------------------------------------------------------------------------------------------
# public drawing API


def _background_image(background, size: tuple[int, int]) -> Image.Image:
    """The scene as a new RGB image of ``size`` (a copy: the character is pasted onto it)."""
    h, w = size
    if background is None:
        return Image.new("RGB", (w, h), (120, 130, 140))
    if isinstance(background, Image.Image):
        img = background.convert("RGB")  # always a new image
    elif isinstance(background, np.ndarray) and background.ndim == 3:
        img = Image.fromarray(np.ascontiguousarray(background[..., :3]).astype(np.uint8, copy=False))
    else:
        return Image.new("RGB", (w, h), tuple(int(c) for c in background)[:3])
    return img if img.size == (w, h) else img.resize((w, h), Image.BILINEAR)


def _draw_body(pen: _Pen, style: FaceStyle, hw: float) -> None:
    """Shoulders and neck: not tilted with the head (the neck bends, the body does not)."""
    pen.poly(_ellipse(0, 0.98, hw * 2.3, 0.42, 60), style.shirt)
    pen.poly(
        np.array([[-hw * 0.42, 0.2], [hw * 0.42, 0.2], [hw * 0.46, 0.66], [-hw * 0.46, 0.66]]),
        _shade(style.skin, 0.82),
    )
    pen.poly(_ellipse(0, 0.64, hw * 0.5, 0.07, 40), _shade(style.skin, 0.82))
    pen.line(_curve(-hw * 0.5, hw * 0.5, 0.64, 0.7, 20), _shade(style.shirt, 0.7), 0.012)


@lru_cache(maxsize=32)
def _style_parts(style: FaceStyle) -> tuple[_Sketch, _Sketch, _Sketch]:
    """The pose-independent parts of ``style``'s head: under the face, the nose, over the face."""
    hw = 0.5 * style.face_ratio
    eye_x, eye_y = hw * 0.46, -0.055
    ew = hw * 0.46 * style.eye_size
    under = _Sketch(lambda p: _hair_back(p, style, hw), lambda p: _ears(p, style, hw))
    nose = _Sketch(lambda p: _nose(p, style, style.nose_size))
    over = _Sketch(
        lambda p: _hair_front(p, style, hw),
        *([lambda p: _glasses(p, eye_x, eye_y, ew)] if style.glasses else []),
    )
    return under, nose, over


def _draw_head(pen: _Pen, style: FaceStyle, pose: FacePose, hw: float) -> None:
    under, nose, over = _style_parts(style)
    under.replay(pen)
    jaw = 0.6 * _MAX_GAP * pose.mouth_open
    outline = _head_outline(hw, jaw)
    eye_x, eye_y = hw * 0.46, -0.055
    ew = hw * 0.46 * style.eye_size
    _modelling(pen, style, hw, outline, eye_x, eye_y, ew)
    pen.line(np.vstack([outline, outline[:1]]), _lerp(_shade(style.skin, 0.5), (30, 20, 15), 0.5), 0.012)
    for side in (-1, 1):  # a touch of colour on the cheeks
        pen.poly(_ellipse(side * hw * 0.55, 0.17, 0.06, 0.032), _lerp(style.skin, (215, 110, 110), 0.1))
    for side in (-1, 1):
        _eye(pen, style, pose, side * eye_x, eye_y, ew, side)
        _brow(pen, style, pose, side * eye_x, eye_y, ew, side)
    nose.replay(pen)
    _mouth(pen, style, pose, hw)
    over.replay(pen)


def _head_extent(style: FaceStyle) -> tuple[float, float, float, float]:
    """Face-local box (x0, y0, x1, y1) that holds everything ``_draw_head`` can draw for ``style``."""
    hw = 0.5 * style.face_ratio
    half = {"long": hw * 1.2, "bob": hw * 1.14, "spiky": hw * 1.27 + 0.03, "curly": hw * 1.03 + 0.055}
    top = {"spiky": -0.61, "curly": -0.59, "bun": -0.65, "bald": -0.5}
    bottom = 0.62 if style.hair_style == "long" else 0.5 + 0.6 * _MAX_GAP
    x = max(half.get(style.hair_style, hw * 1.07), hw * 0.98 + 0.045)
    m = 0.03  # stroke widths and round caps
    return -x - m, top.get(style.hair_style, -0.54) - m, x + m, bottom + m


class FaceRenderer:
    """Draws one character frame after frame; what does not change within a clip is drawn once.

    The shoulders and neck do not move with the head's tilt, only with its offset: they are drawn once per
    sub-pixel phase (offsets are kept to 1/supersample of a pixel) and pasted. The head is drawn every
    frame on a supersampled canvas just big enough for it, box-filtered down (anti-aliasing helps the HOG
    detector) and laid over the scene; the scene itself is never supersampled.
    """

    def __init__(self, style: FaceStyle, size: tuple[int, int] = (256, 256), supersample: int = SUPERSAMPLE):
        self.style = FaceStyle.from_dict(style.to_dict())  # colours as tuples: the style is a cache key
        self.size = (int(size[0]), int(size[1]))
        self.ss = max(1, int(supersample))
        h, w = self.size
        self.unit = 0.6 * min(h, w) * self.ss  # face height in canvas pixels
        self.hw = 0.5 * style.face_ratio
        self._extent = _head_extent(style)
        self._body: dict[tuple[int, int], tuple[Image.Image, int, int]] = {}

    def _body_layer(self, phase_x: int, phase_y: int) -> tuple[Image.Image, int, int]:
        """RGBA body layer for this sub-pixel phase, and its top-left corner relative to the centre."""
        key = (phase_x, phase_y)
        if key not in self._body:
            h, w = self.size
            ss, hw = self.ss, self.hw
            uf = self.unit / ss  # face height in output pixels
            # Below the neck's top, down to the lowest row the frame can show (head offset clipped to 0.2).
            lx = hw * 2.3 + 0.02
            ly0, ly1 = 0.2 - 0.02, min(1.42, (0.74 * h) / uf + 0.02)
            ox, oy = math.floor(-lx * uf) - 1, math.floor(ly0 * uf) - 1
            bw, bh = math.ceil(lx * uf) + 1 - ox, math.ceil(ly1 * uf) + 1 - oy
            canvas = Image.new("RGBa", (bw * ss, bh * ss), (0, 0, 0, 0))
            _draw_body(_Pen(canvas, (phase_x - ox * ss, phase_y - oy * ss), self.unit, 0.0), self.style, hw)
            out = canvas.reduce(ss) if ss > 1 else canvas
            self._body[key] = (out.convert("RGBA"), ox, oy)
        return self._body[key]

    def render(
        self,
        pose: FacePose | None = None,
        background: np.ndarray | tuple[int, int, int] | Image.Image | None = None,
    ) -> np.ndarray:
        """One frame: the character in ``pose`` over ``background``; returns (H, W, 3) uint8."""
        pose = (pose or FacePose()).clipped()
        h, w = self.size
        ss = self.ss
        frame = _background_image(background, self.size)
        cx, cy = w * ss * (0.5 + pose.dx), h * ss * (0.46 + pose.dy)  # face centre, canvas pixels

        qx, qy = int(round(cx)), int(round(cy))
        body, ox, oy = self._body_layer(qx % ss, qy % ss)
        frame.paste(body, (qx // ss + ox, qy // ss + oy), body)

        # Head canvas: the tilted extent box, on whole output pixels so the reduction lines up.
        x0, y0, x1, y1 = self._extent
        a = math.radians(pose.tilt)
        ca, sa = math.cos(a) * self.unit, math.sin(a) * self.unit
        xs = [cx + ca * x - sa * y for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
        ys = [cy + sa * x + ca * y for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
        left, top = math.floor(min(xs) / ss), math.floor(min(ys) / ss)
        right, bottom = math.ceil(max(xs) / ss), math.ceil(max(ys) / ss)
        canvas = Image.new("RGBa", ((right - left) * ss, (bottom - top) * ss), (0, 0, 0, 0))
        pen = _Pen(canvas, (cx - left * ss, cy - top * ss), self.unit, pose.tilt)
        _draw_head(pen, self.style, pose, self.hw)
        # The canvas is premultiplied; the reduced layer is made straight RGBA to paste with its own alpha.
        head = (canvas.reduce(ss) if ss > 1 else canvas).convert("RGBA")
        frame.paste(head, (left, top), head)
        return np.asarray(frame)


def draw_face(
    style: FaceStyle,
    pose: FacePose | None = None,
    size: tuple[int, int] = (256, 256),
    background: np.ndarray | tuple[int, int, int] | Image.Image | None = None,
    supersample: int = SUPERSAMPLE,
) -> np.ndarray:
    """Draw one frame: the character (head and shoulders) over ``background``; returns (H, W, 3) uint8.

    For many frames of one character use ``FaceRenderer``, which keeps what does not change between them.
    """
    return FaceRenderer(style, size, supersample).render(pose, background)


def render_background(
    mood_rgb: tuple[int, int, int] | tuple[float, float, float],
    brightness: float = 1.0,
    t: float = 0.0,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
) -> np.ndarray:
    """A simple scene: vertical gradient in the mood colour plus a few soft drifting shapes.

    ``mood_rgb`` is 0..255 (or 0..1 floats), ``brightness`` scales the light (0.2 = night, 1.3 = bright
    day), ``t`` is seconds (shapes drift slowly, so consecutive frames differ a little), ``seed`` fixes
    the layout. Rendered at quarter resolution and blurred: it is meant to be soft.
    """
    return render_backgrounds(mood_rgb, brightness, [t], seed, size)[0]


def render_backgrounds(
    mood_rgb: tuple[int, int, int] | tuple[float, float, float],
    brightness: float = 1.0,
    times: np.ndarray | list[float] = (0.0,),
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    step: int = 1,
) -> np.ndarray:
    """``render_background`` at every time in ``times``: (T, H, W, 3) uint8.

    With ``step`` > 1 only every ``step``-th time (and the last) is rendered and the frames between are
    blended linearly from the two around them; the shapes drift slowly (at most 0.03 frame widths a
    second), so at 25 fps and step 4 they move under 1.5 px between rendered frames.
    """
    times = np.asarray(times, dtype=np.float64).ravel()
    step = max(1, int(step))
    keys = list(range(0, len(times), step))
    if len(times) and keys[-1] != len(times) - 1:
        keys.append(len(times) - 1)
    rendered = _render_backgrounds(mood_rgb, brightness, times[keys], seed, size)
    if step == 1:
        return rendered
    out = np.empty((len(times), *rendered.shape[1:]), dtype=np.uint8)
    for k, (a, b) in enumerate(zip(keys[:-1], keys[1:], strict=True)):
        out[a] = rendered[k]
        if b - a > 1:
            im_a, im_b = Image.fromarray(rendered[k]), Image.fromarray(rendered[k + 1])
            for i in range(a + 1, b):
                out[i] = np.asarray(Image.blend(im_a, im_b, (i - a) / (b - a)))
    out[keys[-1]] = rendered[-1]
    return out


def _render_backgrounds(mood_rgb, brightness: float, times: np.ndarray, seed: int, size: tuple[int, int]):
    h, w = size
    times = times.reshape(-1, 1, 1)
    mood = np.asarray(mood_rgb, dtype=np.float64)
    if mood.max() <= 1.0:
        mood = mood * 255.0
    rng = np.random.default_rng(seed)
    sh, sw = max(8, h // 4), max(8, w // 4)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float64)
    yy /= sh - 1
    xx /= sw - 1
    top = np.clip(mood * 1.15 + 20, 0, 255)
    bottom = mood * 0.6
    base = top[None, None] * (1 - yy[..., None]) + bottom[None, None] * yy[..., None]
    img = np.broadcast_to(base, (len(times), sh, sw, 3))
    for _ in range(int(rng.integers(3, 6))):
        cx, cy = rng.uniform(0, 1, 2)
        vx, vy = rng.uniform(-0.03, 0.03, 2)
        r = rng.uniform(0.12, 0.3)
        tone = np.clip(mood * rng.uniform(0.5, 1.4) + rng.uniform(-40, 40, 3), 0, 255)
        px, py = (cx + vx * times) % 1.2 - 0.1, (cy + vy * times) % 1.2 - 0.1
        d2 = ((xx - px) / r) ** 2 + ((yy - py) / r) ** 2
        a = (0.6 * np.exp(-d2 * 2.0))[..., None]
        img = img * (1 - a) + tone * a
    img = np.clip(img * float(brightness), 0, 255).astype(np.uint8)
    out = np.empty((len(img), h, w, 3), dtype=np.uint8)
    for i, small in enumerate(img):
        pil = Image.fromarray(small).filter(ImageFilter.GaussianBlur(1.0)).resize((w, h), Image.BILINEAR)
        out[i] = np.asarray(pil)
    return out
