"""The 8 emotion classes of the synthetic corpus and how each one sounds.

Classes
-------
Seven classes are the ones V2C-Animation, FER2013 and most speech-emotion corpora share: angry, disgust,
fear, happy, neutral, sad, surprise. V2C-Animation's eighth class is "others", a catch-all that cannot be
rendered. We use **contempt** instead: it is the eighth class of the two standard 8-class facial
expression sets (CK+, Lucey et al. 2010; AffectNet, Mollahosseini et al. 2017), so the drawn faces of the
corpus can show it (a one-sided lip-corner raise), and one of the 14 vocal portrayals of Banse & Scherer
(1996). Vocally it is rendered distinctly from disgust, its nearest neighbour (see ``benchmarks/voice_bank.py``
for the measured separation):

* disgust: lowered F0, *narrow* range, slow, quieter, tense/creaky (jitter + low-band aperiodicity),
  flatter spectrum (pharyngeal tension).
* contempt: slightly lowered F0 with a *wide*, exaggerated range and a deep terminal fall, a slow drawl
  with strong phrase-final lengthening, no creak, lax spectrum, normal loudness (the "sarcastic sneer").

Cue patterns
------------
Values are full-intensity targets distilled from the cue tables of Banse & Scherer (1996), Juslin &
Laukka (2003, table 7) and Scherer (2003):

============ ======== ======== ======= ======= ======= ====================================
emotion      F0 level F0 range rate    energy  tilt    other
============ ======== ======== ======= ======= ======= ====================================
angry        high     wide     fast    loud    flat    short pauses, falling ends
happy        high     wide     fast    louder  ~       slightly rising ends
fear         highest  ~        fastest ~       flat    tremor, irregular F0, breathy
surprise     high     widest   ~       louder  ~       strongly rising ends, lengthened end
sad          low      narrow   slow    soft    steep   breathy, long pauses, falling ends
disgust      low      narrow   slow    softer  flat    creak, lengthened ends, falling ends
contempt     low-ish  wide     slow    ~       steep   drawl, deep terminal fall
neutral      identity
============ ======== ======== ======= ======= ======= ====================================

``profile_at(emotion, intensity)`` interpolates from neutral: additive cues (semitones, dB, 0..1 amounts,
tremor depth) linearly, multiplicative cues (range, rate, pause and lengthening factors) geometrically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from ground.errors import BadInputError
from ground.messages import EMOTIONS, NEUTRAL


@dataclass(frozen=True)
class ProsodyProfile:
    """Prosodic and voice-quality changes relative to a neutral rendering of the same line."""

    f0_shift_st: float = 0.0  # F0 level change, semitones
    f0_range: float = 1.0  # scale of log-F0 excursions around the utterance median
    rate: float = 1.0  # speaking rate factor (>1 faster, shorter)
    energy_db: float = 0.0  # loudness change, dB
    tilt_db_oct: float = 0.0  # spectral tilt change, dB per octave around 1 kHz (+ tense/bright, - lax/dark)
    breathiness: float = 0.0  # 0..1: share by which aperiodicity is raised towards noise (mostly above 1 kHz)
    creak: float = 0.0  # 0..1: cycle-to-cycle F0 jitter + low-band aperiodicity (creaky/rough voice)
    tremor_hz: float = 0.0  # F0 (and slight amplitude) modulation rate, Hz
    tremor_st: float = 0.0  # F0 modulation depth, semitones (peak)
    pause_scale: float = 1.0  # extra factor on the length of internal pauses (>1 longer)
    final_lengthening: float = 1.0  # extra factor on the length of the last ~0.35 s of speech
    final_f0_st: float = 0.0  # terminal contour: semitones added, ramping over the last ~0.4 s voiced


_MULTIPLICATIVE = {"f0_range", "rate", "pause_scale", "final_lengthening"}

PROFILES: dict[str, ProsodyProfile] = {
    NEUTRAL: ProsodyProfile(),
    "angry": ProsodyProfile(
        f0_shift_st=3.0,
        f0_range=1.45,
        rate=1.15,
        energy_db=6.0,
        tilt_db_oct=2.5,
        creak=0.05,
        pause_scale=0.7,
        final_lengthening=0.9,
        final_f0_st=-2.0,
    ),
    "happy": ProsodyProfile(
        f0_shift_st=3.5,
        f0_range=1.5,
        rate=1.1,
        energy_db=3.0,
        tilt_db_oct=1.0,
        pause_scale=0.85,
        final_f0_st=1.5,
    ),
    "fear": ProsodyProfile(
        f0_shift_st=5.0,
        f0_range=1.1,
        rate=1.2,
        energy_db=1.0,
        tilt_db_oct=1.5,
        breathiness=0.2,
        creak=0.15,
        tremor_hz=6.5,
        tremor_st=0.7,
        pause_scale=0.8,
        final_f0_st=1.0,
    ),
    "surprise": ProsodyProfile(
        f0_shift_st=4.5,
        f0_range=1.8,
        rate=1.0,
        energy_db=3.0,
        tilt_db_oct=1.0,
        breathiness=0.1,
        final_lengthening=1.2,
        final_f0_st=5.0,
    ),
    "sad": ProsodyProfile(
        f0_shift_st=-2.5,
        f0_range=0.55,
        rate=0.8,
        energy_db=-6.0,
        tilt_db_oct=-2.5,
        breathiness=0.35,
        tremor_hz=5.0,
        tremor_st=0.15,
        pause_scale=1.5,
        final_lengthening=1.3,
        final_f0_st=-2.0,
    ),
    "disgust": ProsodyProfile(
        f0_shift_st=-2.0,
        f0_range=0.7,
        rate=0.85,
        energy_db=-2.5,
        tilt_db_oct=1.5,
        creak=0.5,
        pause_scale=1.2,
        final_lengthening=1.2,
        final_f0_st=-2.5,
    ),
    "contempt": ProsodyProfile(
        f0_shift_st=-1.5,
        f0_range=1.35,
        rate=0.85,
        energy_db=-1.0,
        tilt_db_oct=-1.5,
        breathiness=0.05,
        pause_scale=1.3,
        final_lengthening=1.45,
        final_f0_st=-5.0,
    ),
}

assert set(PROFILES) == set(EMOTIONS)


def emotion_id(emotion: str) -> int:
    """Class id of an emotion name (its index in ``EMOTIONS``)."""
    try:
        return EMOTIONS.index(emotion)
    except ValueError:
        raise BadInputError(f"unknown emotion {emotion!r}", hint="one of " + ", ".join(EMOTIONS)) from None


def profile_at(emotion: str, intensity: float = 1.0) -> ProsodyProfile:
    """The profile of ``emotion`` at ``intensity`` in [0, 1]: 0 is neutral, 1 is the full profile."""
    emotion_id(emotion)
    if not (0.0 <= float(intensity) <= 1.0) or math.isnan(intensity):
        raise BadInputError(f"emotion intensity must lie in [0, 1], got {intensity}")
    full = PROFILES[emotion]
    base = PROFILES[NEUTRAL]
    values = {}
    for f in fields(ProsodyProfile):
        a, b = getattr(base, f.name), getattr(full, f.name)
        if f.name == "tremor_hz":  # a rate, not an amount: the depth carries the intensity
            values[f.name] = b
        elif f.name in _MULTIPLICATIVE:
            values[f.name] = a * (b / a) ** intensity
        else:
            values[f.name] = a + (b - a) * intensity
    return ProsodyProfile(**values)
