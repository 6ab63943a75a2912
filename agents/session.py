"""A director's session: what it decided for earlier lines, used for the next one.

Within one dubbing session (a live websocket session, one film in a batch job) the director remembers, per
line, who spoke and what emotion was performed. The next line of the same character gets that history as
the context cue (``agents.cues.ContextCue``): scenes rarely flip emotion every line, so an ambiguous line
leans towards how the character has been playing. The memory is plain data: ``context()`` gives the JSON
that ``dubber direct --context-file`` reads, so a session can be resumed or inspected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from agents.cues import CueInput
from agents.director import Director, LineResult
from ground.messages import EMOTIONS, EmotionGuidance
from perception.features import VisualFeatures


@dataclass
class LineDecision:
    line: int
    character: str | None
    emotion: str
    intensity: float
    text: str = ""
    takes: int = 0  # takes it needed; 0 while only directed


class DirectorSession:
    def __init__(self, director: Director, session: str = "session", history_lines: int | None = None):
        from ground.config import get_config

        self.director = director
        self.session = session
        self.history_lines = history_lines or get_config().director.history_lines
        self.decisions: list[LineDecision] = []

    # -- memory ---------------------------------------------------------------------------------------
    @property
    def characters(self) -> dict[str, dict]:
        """Every character seen so far: lines spoken and the last emotion played."""
        out: dict[str, dict] = {}
        for d in self.decisions:
            if d.character:
                entry = out.setdefault(d.character, {"lines": 0, "last_emotion": None})
                entry["lines"] += 1
                entry["last_emotion"] = d.emotion
        return out

    def history(self) -> list[tuple[str | None, str]]:
        return [(d.character, d.emotion) for d in self.decisions[-self.history_lines :]]

    def record(self, line: int, character: str | None, guidance: EmotionGuidance, text: str, takes: int = 0):
        decision = LineDecision(line, character, guidance.emotion, guidance.intensity, text, takes)
        # a re-directed or re-done line replaces what was decided for it before
        self.decisions = [d for d in self.decisions if d.line != line] + [decision]
        return decision

    def context(self) -> dict:
        last = self.decisions[-1].character if self.decisions else None
        return {
            "session": self.session,
            "character": last,
            "characters": self.characters,
            "history": [asdict(d) for d in self.decisions[-self.history_lines :]],
        }

    @classmethod
    def from_context(cls, director: Director, context: dict, session: str | None = None) -> DirectorSession:
        """A session resumed from ``context()`` output (or a hand-written context file)."""
        s = cls(director, session or context.get("session") or "session")
        for i, h in enumerate(context.get("history", [])):
            emotion = h.get("emotion")
            if emotion not in EMOTIONS:
                continue  # a context file may carry notes the director does not know; skip, never guess
            s.decisions.append(
                LineDecision(
                    line=int(h.get("line", i - len(context["history"]))),
                    character=h.get("character"),
                    emotion=emotion,
                    intensity=float(h.get("intensity", 0.5)),
                    text=str(h.get("text", "")),
                    takes=int(h.get("takes", 0)),
                )
            )
        return s

    # -- directing ------------------------------------------------------------------------------------
    def cue_input(
        self, text: str, visual: VisualFeatures | None, character: str | None, language: str | None = None
    ) -> CueInput:
        return CueInput(
            text=text, visual=visual, character=character, history=self.history(), language=language
        )

    def direct(
        self,
        line: int,
        text: str,
        visual: VisualFeatures | None,
        character: str | None = None,
        language: str | None = None,
    ) -> EmotionGuidance:
        guidance = self.director.direct(self.cue_input(text, visual, character, language))
        self.record(line, character, guidance, text)
        return guidance

    def run_line(
        self,
        line: int,
        guidance: EmotionGuidance,
        perform: Callable[[EmotionGuidance, int], tuple[np.ndarray, int]],
        num_frames: int,
        character: str | None = None,
        text: str = "",
        emit: Callable[[object], None] = lambda m: None,
        **review_inputs,
    ) -> LineResult:
        """The review loop for one line; the accepted take's guidance is what the session remembers."""
        result = self.director.run_line(
            self.session, line, guidance, perform, num_frames, emit=emit, text=text, **review_inputs
        )
        assert result.chosen is not None
        self.record(line, character, result.chosen.guidance, text, takes=len(result.takes))
        return result
