"""The dubbing stage: one line end to end, perception -> director -> actor, with the review loop.

``DubbingStage.dub_line`` perceives the silent clip, asks the director (a ``DirectorSession``, so earlier
lines count) for guidance, retrieves reference footage from the library, lets the actor perform, and runs
the director's review loop (at most ``director.max_takes`` takes; a re-direct also brings the next K
references). Every message goes to ``emit`` (the session's message log, a websocket, a list in tests).
``dubber dub``, the server and batch localisation all use this one class.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from actors.interface import ActorInterface
from ground.config import REPO_ROOT, get_config
from ground.messages import EmotionGuidance, LineRequest, PerceptionReport, ReferenceClip, ReferencesMessage

log = logging.getLogger(__name__)


@dataclass
class LineOutcome:
    audio: np.ndarray
    sample_rate: int
    guidance: EmotionGuidance
    references: dict[str, list[ReferenceClip]]
    takes: int
    chosen_take: int
    scores: dict
    seconds: float
    warnings: list[str] = field(default_factory=list)


@dataclass
class PerceivedLine:
    """What ``perceive_line`` hands to the directing and acting half."""

    text: str
    summary: dict
    visual: object  # perception.features.VisualFeatures
    inputs: object  # actors.features.ClipInputs
    lips: np.ndarray | None  # inner-lip opening per frame, None without a face
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


class DubbingStage:
    def __init__(
        self, actor: ActorInterface | None = None, director=None, library=None, use_llm: bool = True
    ):
        self._actor, self._director, self._library = actor, director, library
        self.use_llm = use_llm
        self.config = get_config()

    # Models load on first use, once per stage (a Ray actor holds one stage).
    @property
    def actor(self):
        if self._actor is None:
            from actors.voice import Actor

            self._actor = Actor.load()
        return self._actor

    @property
    def director(self):
        if self._director is None:
            from agents.director import Director
            from agents.fusion import EmotionFusion
            from perception.speech_emotion import EmotionClassifier

            root = REPO_ROOT / "assets" / "models"
            fusion = EmotionFusion.load(root / "director", use_llm=self.use_llm)
            self._director = Director(
                fusion=fusion,
                classifier=EmotionClassifier.load(root / "emotion"),
                write_directions=self.use_llm,
            )
        return self._director

    @property
    def library(self):
        if self._library is None:
            from retrieval.library import ReferenceLibrary, search_uri

            self._library = ReferenceLibrary.open(search_uri(self.config))
        return self._library

    def session(self, name: str):
        from agents.session import DirectorSession

        return DirectorSession(self.director, name)

    def references(self, vectors: dict, take: int) -> dict[str, list[ReferenceClip]]:
        """The K references of this take for the target's caption vectors (take 2 gets ranks K..2K-1)."""
        k = max(self.actor.hp.k, 1)
        found = self.library.retrieve(vectors, k * take)
        return {m: refs[k * (take - 1) : k * take] for m, refs in found.items()}

    def perceive_line(self, video: str | Path, text: str, language: str | None = None) -> PerceivedLine:
        """The perception half of a line: what the director and the actor read of the clip and the text.
        Plain data (it travels between Ray actors in batch localisation)."""
        from actors.features import ClipInputs, lip_matrix
        from perception.features import from_perception
        from perception.pipeline import ClipPerceiver
        from perception.text import normalise_text, phonemize

        t0 = time.perf_counter()
        perception = ClipPerceiver().perceive(video, require_face=False)
        has_face = bool(perception.face.has_face.any())
        warnings = (
            [] if has_face else ["no face in the clip: the line is aligned by predicted durations only"]
        )
        inputs = ClipInputs(
            clip_id=Path(video).stem,
            text=text,
            phonemes=phonemize(normalise_text(text, language or "en")),
            lips=lip_matrix(perception.lips, np.asarray(perception.face.has_face, dtype=bool)),
        )
        return PerceivedLine(
            text=text,
            summary=perception.summary(),
            visual=from_perception(perception),
            inputs=inputs,
            lips=perception.lips.inner_opening if has_face else None,
            warnings=warnings,
            seconds=time.perf_counter() - t0,
        )

    def dub_line(
        self,
        session,
        line: int,
        video: str | Path,
        text: str,
        prompt_audio: np.ndarray,
        prompt_sr: int,
        character: str | None = None,
        language: str | None = None,
        fit: str = "refuse",
        emit=lambda m: None,
    ) -> LineOutcome:
        from perception.text import decode_line

        t0 = time.perf_counter()
        text = decode_line(text, source="--text")
        request = LineRequest(session=session.session, line=line, text=text, character=character)
        # the cheap refusals (a language the director cannot read, a bad prompt) before any expensive work
        prompt = self._open_line(request, language, prompt_audio, prompt_sr, emit)
        perceived = self.perceive_line(video, text, language)
        return self._perform(session, line, perceived, prompt, prompt_audio, prompt_sr, character, language,
                             fit, emit, t0)  # fmt: skip

    def perform_line(
        self,
        session,
        line: int,
        perceived: PerceivedLine,
        prompt_audio: np.ndarray,
        prompt_sr: int,
        character: str | None = None,
        language: str | None = None,
        fit: str = "refuse",
        emit=lambda m: None,
        request: LineRequest | None = None,
    ) -> LineOutcome:
        """The directing and acting half of a line perceived elsewhere (``perceive_line``)."""
        t0 = time.perf_counter()
        request = request or LineRequest(
            session=session.session, line=line, text=perceived.text, character=character
        )
        prompt = self._open_line(request, language, prompt_audio, prompt_sr, emit)
        return self._perform(session, line, perceived, prompt, prompt_audio, prompt_sr, character, language,
                             fit, emit, t0 - perceived.seconds)  # fmt: skip

    def _open_line(self, request: LineRequest, language, prompt_audio, prompt_sr, emit):
        """What every line checks first: the language of its text (the director refuses what it cannot
        read), then the request is logged and the voice prompt read (a bad prompt is refused here)."""
        from agents.language import check_language

        check_language(request.text, self.director.languages, language)
        emit(request)
        return self.actor.voice_prompt(prompt_audio, prompt_sr)

    def _perform(self, session, line, perceived: PerceivedLine, prompt, prompt_audio, prompt_sr, character,
                 language, fit, emit, t0) -> LineOutcome:  # fmt: skip
        from actors.voice import EmotionNodes
        from perception.audio import resample

        text, visual = perceived.text, perceived.visual
        emit(PerceptionReport(session=session.session, line=line, summary=perceived.summary))
        guidance = session.direct(line, text, visual, character, language)
        inputs = self.actor.fit_line(perceived.inputs, guidance.pace, fit)
        references: dict[int, dict[str, list[ReferenceClip]]] = {}  # per take: the chosen take's are reported
        sr = self.config.media.sample_rate

        # the target's captions and their embeddings do not change between takes: made once per line
        vectors, _ = self.library.row_maker().query_vectors(visual, text)

        def perform(g: EmotionGuidance, take: int):
            refs = self.references(vectors, take)
            references[take] = refs
            emit(
                ReferencesMessage(
                    session=session.session,
                    line=line,
                    take=take,
                    references=[r for v in refs.values() for r in v],
                )
            )
            nodes = EmotionNodes.from_library(self.library, vectors, refs, max(self.actor.hp.k, 1))
            return self.actor.perform(inputs, prompt, g, nodes), sr

        result = session.run_line(
            line,
            guidance,
            perform,
            inputs.num_video_frames,
            character=character,
            text=text,
            emit=emit,
            fps=self.config.media.fps,
            lips=perceived.lips,
            prompt_audio=resample(prompt_audio, prompt_sr, sr),
            audio_in_take=not getattr(self.actor, "emits_audio_chunks", False),
        )
        chosen = result.chosen
        return LineOutcome(
            audio=chosen.audio,
            sample_rate=chosen.sample_rate,
            guidance=chosen.guidance,
            references=dict(references.get(chosen.number, {})),
            takes=len(result.takes),
            chosen_take=chosen.number,
            scores=chosen.scores.model_dump(),
            seconds=round(time.perf_counter() - t0, 2),
            warnings=list(perceived.warnings),
        )
