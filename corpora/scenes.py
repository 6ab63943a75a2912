"""How a scene's light and colour follow its mood: one mood per emotion, scaled by intensity.

Kept apart from the face drawing so that the corpus can also pair a neutral-worded line with an emotional
scene (face and scene then carry the emotion the words do not).
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
