"""Drawn cartoon faces for the synthetic audiovisual corpus and the demo clip.

The faces are deliberately drawn with human proportions (eyes about halfway down the head, dark pupils
and lids, brows, a shaded nose, two lips around a dark mouth interior with teeth) because the same
perception code that reads real footage (dlib's HOG detector + 68-point landmarks, the FER expression
model) must read them too: the mouth opening measured from the landmarks has to follow the drawn
``mouth_open``, and a smile has to look like a smile.

Everything is drawn as polygons in face-local units (1.0 = face height) that are rotated and placed by one
transform, on a supersampled canvas that is box-filtered down at the end (anti-aliasing helps the HOG
detector). ``size`` arguments are ``(height, width)``, like the arrays returned.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

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
        return FacePose(
            mouth_open=float(np.clip(self.mouth_open, 0, 1)),
            mouth_width=float(np.clip(self.mouth_width, 0, 1)),
            smile=float(np.clip(self.smile, -1, 1)),
            brow_raise=float(np.clip(self.brow_raise, -1, 1)),
            brow_furrow=float(np.clip(self.brow_furrow, 0, 1)),
            eye_open=float(np.clip(self.eye_open, 0, 1)),
            dx=float(np.clip(self.dx, -0.25, 0.25)),
            dy=float(np.clip(self.dy, -0.2, 0.2)),
            tilt=float(np.clip(self.tilt, -20, 20)),
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


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 48) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], axis=1)


def _shade(colour: RGB, k: float) -> RGB:
    """k < 1 darkens, k > 1 lightens towards white."""
    if k <= 1:
        return tuple(int(c * k) for c in colour)  # type: ignore[return-value]
    return tuple(int(c + (255 - c) * (k - 1)) for c in colour)  # type: ignore[return-value]


def _lerp(a: RGB, b: RGB, k: float) -> RGB:
    return tuple(int(round(x + (y - x) * k)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


class _Pen:
    """Draws face-local polygons onto the supersampled canvas through one similarity transform."""

    def __init__(self, img: Image.Image, centre: tuple[float, float], scale: float, tilt_deg: float):
        self.img = img
        self.draw = ImageDraw.Draw(img)
        self.centre = np.asarray(centre, dtype=np.float64)
        self.scale = scale
        a = math.radians(tilt_deg)
        self.rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale

    def map(self, pts: np.ndarray) -> np.ndarray:
        return np.asarray(pts, dtype=np.float64) @ self.rot.T + self.centre

    def poly(self, pts: np.ndarray, fill: RGB, outline: RGB | None = None, width: float = 0.0) -> None:
        xy = [tuple(p) for p in self.map(pts)]
        self.draw.polygon(xy, fill=fill)
        if outline is not None and width > 0:
            self.line(np.vstack([pts, pts[:1]]), outline, width)

    def line(self, pts: np.ndarray, fill: RGB, width: float) -> None:
        w = max(1, int(round(width * self.scale)))
        xy = [tuple(p) for p in self.map(pts)]
        self.draw.line(xy, fill=fill, width=w, joint="curve")
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
        sub.rot = self.rot
        painter(sub)
        mask = Image.new("L", region.size, 0)
        ImageDraw.Draw(mask).polygon([tuple(p) for p in xy - (left, top)], fill=255)
        self.img.paste(region, (left, top), mask)


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


def _modelling(pen: _Pen, style: FaceStyle, hw: float, eye_x: float, eye_y: float, ew: float) -> None:
    """Light and shade of a lit face: darker eye sockets, brighter forehead, nose bridge and cheekbones.

    This is what a photographed face looks like to a HOG detector (a dark band across the eyes, a bright
    T-zone). Flat colour on a dark skin tone leaves almost no gradients there, so the shading deepens as
    the skin darkens. It is a blurred multiplicative light map applied to the skin before the features
    are drawn on top, computed at a quarter of the canvas resolution (it is soft anyway).
    """
    skin = style.skin
    lum = (0.299 * skin[0] + 0.587 * skin[1] + 0.114 * skin[2]) / 255
    dark = float(np.clip((0.9 - lum) / 0.6, 0.0, 1.0))  # 0 for the lightest skin, 1 for the darkest
    socket = 0.8 - 0.3 * dark
    lift = 1.06 + 0.1 * dark
    box = pen.map(_ellipse(0, 0, hw, 0.5, 24))
    q = 4
    left, top = np.floor(box.min(axis=0)).astype(int)
    r, b = np.ceil(box.max(axis=0)).astype(int)
    left, top = max(left, 0), max(top, 0)
    r, b = min(r, pen.img.width), min(b, pen.img.height)
    if r - left < 2 * q or b - top < 2 * q:
        return
    small = Image.new("L", ((r - left) // q, (b - top) // q), 128)
    d = ImageDraw.Draw(small)

    def blob(cx: float, cy: float, rx: float, ry: float, gain: float) -> None:
        xy = (pen.map(_ellipse(cx, cy, rx, ry, 32)) - (left, top)) / q
        d.polygon([tuple(p) for p in xy], fill=int(np.clip(128 * gain, 0, 255)))

    blob(0, -0.3, hw * 0.5, 0.09, lift)
    blob(0, 0.04, 0.03, 0.11, lift)
    for side in (-1, 1):
        blob(side * eye_x, eye_y - 0.02, ew * 0.85, 0.085, socket)
        blob(side * hw * 0.55, 0.11, 0.075, 0.04, lift)
    small = small.filter(ImageFilter.GaussianBlur(0.018 * pen.scale / q))
    gain = np.asarray(small.resize((r - left, b - top), Image.BILINEAR), dtype=np.float32) / 128.0
    region = np.asarray(pen.img.crop((left, top, r, b)), dtype=np.float32)
    region = np.clip(region * gain[..., None], 0, 255).astype(np.uint8)
    pen.img.paste(Image.fromarray(region), (left, top))
    for side in (-1, 1):  # a touch of colour on the cheeks
        pen.poly(_ellipse(side * hw * 0.55, 0.17, 0.06, 0.032), _lerp(skin, (215, 110, 110), 0.1))


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
    h, w = size
    if background is None:
        return Image.new("RGB", (w, h), (120, 130, 140))
    if isinstance(background, Image.Image):
        img = background.convert("RGB")
    elif isinstance(background, np.ndarray) and background.ndim == 3:
        img = Image.fromarray(np.ascontiguousarray(background[..., :3]).astype(np.uint8))
    else:
        return Image.new("RGB", (w, h), tuple(int(c) for c in background)[:3])
    return img if img.size == (w, h) else img.resize((w, h), Image.BILINEAR)


def draw_face(
    style: FaceStyle,
    pose: FacePose | None = None,
    size: tuple[int, int] = (256, 256),
    background: np.ndarray | tuple[int, int, int] | Image.Image | None = None,
    supersample: int = 3,
) -> np.ndarray:
    """Draw one frame: the character (head and shoulders) over ``background``; returns (H, W, 3) uint8."""
    pose = (pose or FacePose()).clipped()
    h, w = size
    ss = max(1, int(supersample))
    canvas = _background_image(background, size).resize((w * ss, h * ss), Image.BILINEAR)
    unit = 0.6 * min(h, w) * ss  # face height in canvas pixels
    centre = (w * ss * (0.5 + pose.dx), h * ss * (0.46 + pose.dy))
    hw = 0.5 * style.face_ratio
    # Shoulders and neck are not tilted with the head (the neck bends, the body does not).
    body = _Pen(canvas, centre, unit, 0.0)
    body.poly(np.vstack([_ellipse(0, 0.98, hw * 2.3, 0.42, 60)]), style.shirt)
    body.poly(
        np.array([[-hw * 0.42, 0.2], [hw * 0.42, 0.2], [hw * 0.46, 0.66], [-hw * 0.46, 0.66]]),
        _shade(style.skin, 0.82),
    )
    body.poly(_ellipse(0, 0.64, hw * 0.5, 0.07, 40), _shade(style.skin, 0.82))
    body.line(_curve(-hw * 0.5, hw * 0.5, 0.64, 0.7, 20), _shade(style.shirt, 0.7), 0.012)

    pen = _Pen(canvas, centre, unit, pose.tilt)
    _hair_back(pen, style, hw)
    _ears(pen, style, hw)
    jaw = 0.6 * _MAX_GAP * pose.mouth_open
    outline = _head_outline(hw, jaw)
    pen.poly(outline, style.skin)
    pen.line(np.vstack([outline, outline[:1]]), _lerp(_shade(style.skin, 0.5), (30, 20, 15), 0.5), 0.012)
    eye_x, eye_y = hw * 0.46, -0.055
    ew = hw * 0.46 * style.eye_size
    _modelling(pen, style, hw, eye_x, eye_y, ew)
    for side in (-1, 1):
        _eye(pen, style, pose, side * eye_x, eye_y, ew, side)
        _brow(pen, style, pose, side * eye_x, eye_y, ew, side)
    _nose(pen, style, style.nose_size)
    _mouth(pen, style, pose, hw)
    _hair_front(pen, style, hw)
    if style.glasses:
        _glasses(pen, eye_x, eye_y, ew)
    out = canvas.reduce(ss) if ss > 1 else canvas
    return np.asarray(out, dtype=np.uint8)


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
    h, w = size
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
    img = top[None, None] * (1 - yy[..., None]) + bottom[None, None] * yy[..., None]
    for _ in range(int(rng.integers(3, 6))):
        cx, cy = rng.uniform(0, 1, 2)
        vx, vy = rng.uniform(-0.03, 0.03, 2)
        r = rng.uniform(0.12, 0.3)
        tone = np.clip(mood * rng.uniform(0.5, 1.4) + rng.uniform(-40, 40, 3), 0, 255)
        px, py = (cx + vx * t) % 1.2 - 0.1, (cy + vy * t) % 1.2 - 0.1
        d2 = ((xx - px) / r) ** 2 + ((yy - py) / r) ** 2
        a = 0.6 * np.exp(-d2 * 2.0)
        img = img * (1 - a[..., None]) + tone[None, None] * a[..., None]
    img = np.clip(img * float(brightness), 0, 255).astype(np.uint8)
    pil = Image.fromarray(img).filter(ImageFilter.GaussianBlur(1.0)).resize((w, h), Image.BILINEAR)
    return np.asarray(pil, dtype=np.uint8)
