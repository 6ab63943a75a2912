"""The typed clip record every corpus reader yields (synthetic corpus, V2C-Animation, a user's folder).

Paths are absolute. ``emotion``/``intensity`` are None where the source does not label them; ``split`` is
None where the source has no splits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

SPLITS: tuple[str, ...] = (
    "train", "valid", "test-seen-speakers", "test-unseen-speakers", "reference", "test-new-films",
    "test-new-sentences", "test-new-look",
)  # fmt: skip
REFERENCE_SPLIT = "reference"
"""Footage the library holds and the actor never trains on (the ``scene-tones`` corpus's new films): always
in the retrieval pool beside ``library.pool_split``."""


@dataclass
class ClipRecord:
    clip_id: str
    video_path: Path
    text: str
    audio_path: Path | None = None  # ground-truth speech, when the source has it
    speaker: str | None = None  # the voice (a real actor, or a synthetic voice id)
    character: str | None = None
    film: str | None = None
    emotion: str | None = None
    intensity: float | None = None
    split: str | None = None
    language: str = "en"
    start_s: float | None = None  # time span inside video_path when the clip is a cut of a longer file
    end_s: float | None = None
    meta: dict = field(default_factory=dict)  # anything else the source knows (engine, wording...)

    def to_json(self) -> dict:
        d = asdict(self)
        d["video_path"] = str(self.video_path)
        d["audio_path"] = str(self.audio_path) if self.audio_path else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> ClipRecord:
        d = dict(d)
        d["video_path"] = Path(d["video_path"])
        d["audio_path"] = Path(d["audio_path"]) if d.get("audio_path") else None
        return cls(**d)
