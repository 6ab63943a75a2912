"""Scene light and colour: following the mood (one mood per emotion, scaled by intensity), or a named
palette that is independent of any emotion.

Kept apart from the face drawing so that the corpus can also pair a neutral-worded line with an emotional
scene (face and scene then carry the emotion the words do not). The first corpus only had the mood, and
the director's scene cue learned the colour of the light for the label (DESIGN section 7): a named palette
(``SCENE_PALETTES``, ``palette_light``) lights a scene the same whatever the emotion of its lines.
"""

from __future__ import annotations

import numpy as np

# (R, G, B) 0..255 and brightness at full intensity; neutral is a mid grey-beige room.
MOODS: dict[str, tuple[tuple[int, int, int], float]] = {
    "neutral": ((150, 140, 125), 1.0),
    "happy": ((235, 190, 90), 1.25),
    "sad": ((70, 90, 140), 0.6),
    "angry": ((190, 50, 35), 0.85),
    "fear": ((40, 60, 70), 0.45),
    "surprise": ((140, 200, 230), 1.2),
    "disgust": ((110, 130, 50), 0.75),
    "contempt": ((120, 100, 130), 0.8),
}


def scene_mood(emotion: str, intensity: float, rng: np.random.Generator | None = None) -> tuple[tuple, float]:
    """Blend the neutral mood towards the emotion's mood by ``intensity``, with a little per-scene jitter."""
    base_rgb, base_light = MOODS["neutral"]
    rgb, light = MOODS.get(emotion, MOODS["neutral"])
    k = float(np.clip(intensity, 0.0, 1.0))
    mixed = np.asarray(base_rgb, float) * (1 - k) + np.asarray(rgb, float) * k
    brightness = base_light * (1 - k) + light * k
    if rng is not None:
        mixed = mixed + rng.uniform(-12, 12, 3)
        brightness *= float(rng.uniform(0.93, 1.07))
    return tuple(int(c) for c in np.clip(mixed, 0, 255)), float(brightness)


# Named scene looks that say nothing of the emotion: (R, G, B) 0..255 and brightness. They overlap the
# emotion moods on purpose (a blue night, a green forest, a warm lamp), so the light alone cannot give a
# label away once a palette is drawn independently of the line. The last one is the held-out look.
PALETTES: dict[str, tuple[tuple[int, int, int], float]] = {
    "daylight": ((190, 200, 210), 1.2),
    "tungsten": ((235, 165, 95), 0.95),
    "night-blue": ((45, 65, 125), 0.5),
    "neon": ((190, 60, 200), 0.8),
    "overcast": ((150, 155, 160), 0.9),
    "forest": ((85, 130, 70), 0.8),
    "sunset": ((240, 125, 75), 1.0),
    "studio-grey": ((128, 128, 128), 1.0),
    "candlelight": ((170, 105, 45), 0.55),
    "hospital": ((185, 220, 205), 1.15),
}
SCENE_PALETTES: tuple[str, ...] = tuple(PALETTES)
PALETTE_JITTER = 18.0  # +- per channel; a scene of a palette varies within it, not towards another


def palette_light(palette: str, rng: np.random.Generator | None = None) -> tuple[tuple, float]:
    """(mood_rgb, brightness) of a named palette, with a little seeded jitter; no emotion involved."""
    if palette not in PALETTES:
        raise ValueError(f"unknown scene palette {palette!r}; known: {', '.join(SCENE_PALETTES)}")
    rgb, light = PALETTES[palette]
    mixed = np.asarray(rgb, float)
    if rng is not None:
        mixed = mixed + rng.uniform(-PALETTE_JITTER, PALETTE_JITTER, 3)
        light *= float(rng.uniform(0.9, 1.1))
    return tuple(int(c) for c in np.clip(mixed, 0, 255)), float(light)
