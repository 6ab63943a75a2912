"""The director: reads the scene, writes emotion guidance, reviews each take and re-directs when it misses.

``Director.direct`` fuses the cues (``agents.fusion``) into an ``EmotionGuidance`` whose numeric targets
(pace, pitch, energy) come from the emotion's prosody profile at the decided intensity, and whose
one-sentence direction the LLM writes (a template when the LLM fails, with a logged warning).
``Director.review`` measures a take; ``Director.run_line`` is the multi-round interaction: perform, review,
accept or revise, at most ``max_takes`` rounds, keeping the best take. Every step is a typed message handed
to ``emit`` (the session log, the websocket, or a list in tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from agents.cues import CueInput
from ground.messages import (
    EMOTIONS,
    AcceptMessage,
    EmotionGuidance,
    GuidanceMessage,
    ReviewMessage,
    TakeMessage,
    TakeScores,
    to_pcm16,
)

log = logging.getLogger(__name__)

# Russell's circumplex, approximate positions of the classes (valence -1..1, arousal 0..1).
VALENCE_AROUSAL: dict[str, tuple[float, float]] = {
    "angry": (-0.6, 0.85), "disgust": (-0.6, 0.45), "fear": (-0.7, 0.8), "happy": (0.8, 0.65),
    "neutral": (0.0, 0.3), "sad": (-0.7, 0.2), "surprise": (0.3, 0.85), "contempt": (-0.4, 0.35),
}  # fmt: skip
DIRECTION_TEMPLATES: dict[str, str] = {
    "angry": "Push it out with clipped, hard attacks; you are {level} angry and done being patient.",
    "disgust": "Let the words curl with distaste, slower and lower; you are {level} repelled.",
    "fear": "Quick and breathy, pitch climbing; you are {level} afraid of what comes next.",
    "happy": "Bright and lifted, let the smile be heard; you are {level} delighted.",
    "neutral": "Plain and even, just saying it as it is.",
    "sad": "Slow, soft and low, trailing off at the end; you are {level} heartbroken.",
    "surprise": "Jump up in pitch on the key word; you are {level} caught off guard.",
    "contempt": "Drawl it, cool and dismissive, with a falling end; you are {level} unimpressed.",
}


# Few-shot examples for the LLM's direction; (line, emotion, level, note).
DIRECTION_EXAMPLES: tuple[tuple[str, str, str, str], ...] = (
    ("Give me back my keys, now!", "angry", "intensely", "Bite every word, you are done asking nicely."),
    ("We used to walk here every day.", "sad", "clearly", "Let it fall away at the end, remembering someone gone."),
    ("You got the job? That's amazing!", "happy", "clearly", "Light and quick, grinning through the words."),
    ("Did you hear that noise downstairs?", "fear", "clearly", "Whisper it, breath held, listening for an answer."),
    ("The train leaves at nine.", "neutral", "slightly", "Matter of fact, as if reading a timetable."),
    ("Wait, you were there the whole time?", "surprise", "clearly", "Catch your breath on 'whole', eyes wide."),
    ("Oh, is that what passes for effort now?", "contempt", "clearly", "Slow and cool, a half smile, never raise it."),
    ("It's crawling with maggots.", "disgust", "clearly", "Pull back from the words as if they smell."),
)  # fmt: skip


def _words(text: str) -> set[str]:
    return {w.strip(".,!?;:'\"").lower() for w in text.split()} - {""}


def direction_problem(note: str, examples: list[str]) -> str | None:
    """Why an LLM-written note is unusable, or None."""
    if len(note.split()) < 3 or not any(c.isalpha() for c in note):
        return "too short"
    if any(marker in note for marker in ("Line:", "Emotion:", "Note:")):
        return "runs into the prompt's format"
    tokens = [w.strip(".,!?;:'\"").lower() for w in note.split()]
    bigrams = list(zip(tokens, tokens[1:], strict=False))
    if len(set(tokens)) < 4 or len(set(bigrams)) < len(bigrams):
        return "repeats itself"
    words = _words(note)
    for example in examples:
        ex = _words(example)
        if len(words & ex) / max(1, len(words | ex)) > 0.5:
            return "copies an example"
    return None


def level_word(intensity: float) -> str:
    return "slightly" if intensity < 0.45 else ("clearly" if intensity < 0.8 else "intensely")


@dataclass
class ReviewPolicy:
    """When a take is good enough; defaults from ``director`` in the config."""

    max_takes: int = 3
    min_emotion_match: float = 0.3  # probability of the guided emotion under the audio classifier
    max_duration_error_frames: float = 1.0
    max_sync_offset_frames: int = 1
    min_speaker_similarity: float = 0.6
    # a take heard as another emotion with at least this confidence, which the director gave at least this
    # share of its chosen emotion's probability, switches the line to it
    switch_confidence: float = 0.6
    switch_ratio: float = 0.5

    @classmethod
    def from_config(cls) -> ReviewPolicy:
        from ground.config import get_config

        c = get_config().director
        return cls(
            max_takes=c.max_takes,
            min_emotion_match=c.min_emotion_match,
            max_duration_error_frames=c.max_duration_error_frames,
            max_sync_offset_frames=c.max_sync_offset_frames,
            min_speaker_similarity=c.min_speaker_similarity,
        )


@dataclass
class Take:
    number: int
    audio: np.ndarray
    sample_rate: int
    guidance: EmotionGuidance
    scores: TakeScores
    accepted: bool = False

    def quality(self) -> float:
        """One number to pick the best take: emotion match first, timing and voice as penalties."""
        s = self.scores
        q = s.emotion_match if s.emotion_match is not None else 0.0
        q -= 0.1 * max(0.0, abs(s.duration_error_frames) - 1.0)
        if s.sync_offset_frames is not None:
            q -= 0.05 * max(0, abs(s.sync_offset_frames) - 1)
        if s.speaker_similarity is not None:
            q += 0.2 * s.speaker_similarity
        return q


@dataclass
class LineResult:
    guidance: EmotionGuidance
    takes: list[Take] = field(default_factory=list)
    chosen: Take | None = None


class Director:
    def __init__(
        self,
        fusion=None,
        classifier=None,
        llm=None,
        policy: ReviewPolicy | None = None,
        write_directions: bool = True,
        languages: tuple[str, ...] | None = None,
    ):
        from ground.config import get_config

        self.fusion = fusion
        self.classifier = classifier
        self._llm = llm
        self.policy = policy or ReviewPolicy.from_config()
        self.write_directions = write_directions
        self.languages = tuple(languages or get_config().llm.languages)

    # -- guidance ---------------------------------------------------------------------------------------
    def direct(self, x: CueInput, revision: int = 0) -> EmotionGuidance:
        """Guidance for one line; refuses a line in a language the director cannot read."""
        from agents.language import check_language

        if self.fusion is None:
            raise RuntimeError("Director.direct needs trained cues (EmotionFusion)")
        check_language(x.text, self.languages, x.language)
        probs, evidence = self.fusion.decide(x)
        emotion = EMOTIONS[int(np.argmax(probs))]
        # Confidence above chance sets the intensity: a clear scene gets a clear performance.
        confidence = (float(probs.max()) - 1 / len(probs)) / (1 - 1 / len(probs))
        intensity = 0.0 if emotion == "neutral" else float(np.clip(0.45 + 0.55 * confidence, 0.3, 1.0))
        from agents.cues import LLMLabelCue

        return self.guidance_for(
            emotion, intensity, probs, evidence, x.text, revision, LLMLabelCue.summary(x)
        )

    def guidance_for(
        self,
        emotion: str,
        intensity: float,
        probs=None,
        evidence=None,
        text: str = "",
        revision: int = 0,
        summary: str = "",
    ) -> EmotionGuidance:
        """The targets of ``emotion`` at ``intensity``; ``summary`` is the perception summary the LLM reads
        before it writes the direction (``LLMLabelCue.summary``)."""
        from corpora.emotions import profile_at

        profile = profile_at(emotion, intensity)
        valence, arousal = VALENCE_AROUSAL[emotion]
        if probs is None:
            probs = np.array([1.0 if e == emotion else 0.0 for e in EMOTIONS])
        probabilities = {e: round(float(p), 4) for e, p in zip(EMOTIONS, probs, strict=True)}
        total = sum(probabilities.values())
        probabilities = {e: p / total for e, p in probabilities.items()}
        return EmotionGuidance(
            emotion=emotion,
            probabilities=probabilities,
            intensity=round(intensity, 3),
            valence=round(valence * max(intensity, 0.2), 3),
            arousal=round(0.3 + (arousal - 0.3) * max(intensity, 0.2), 3),
            pace=round(float(np.clip(profile.rate, 0.5, 2.0)), 3),
            pitch_shift_st=round(float(np.clip(profile.f0_shift_st, -12, 12)), 2),
            energy_db=round(float(np.clip(profile.energy_db, -20, 20)), 2),
            direction=self.direction(text, emotion, intensity, summary),
            evidence=evidence or [],
            revision=revision,
        )

    def direction(self, text: str, emotion: str, intensity: float, summary: str = "") -> str:
        """One sentence for the actor, written by the LLM; the template when it cannot.

        A small base model copies its examples, so the examples are of other emotions than the one asked
        for, and a note that mostly repeats an example is not used."""
        template = DIRECTION_TEMPLATES[emotion].format(level=level_word(intensity))
        if not self.write_directions or not text:
            return template
        examples = [e for e in DIRECTION_EXAMPLES if e[1] != emotion][:3]
        prompt = "A film director gives an actor one short note on how to deliver a line.\n\n" + "".join(
            f'Line: "{line}" Emotion: {emo}, {level}.\nNote: {note}\n\n'
            for line, emo, level, note in examples
        )
        prompt += f'{summary}Line: "{text}" Emotion: {emotion}, {level_word(intensity)}.\nNote:'
        try:
            note = self._llm_backend().generate(prompt, max_new_tokens=24, stop=["\n"]).strip()
        except Exception as exc:  # noqa: BLE001 - a missing or failing LLM must never stop the director
            log.warning(
                "LLM could not write the direction (%s: %s); using the template", type(exc).__name__, exc
            )
            return template
        problem = direction_problem(note, [e[3] for e in examples])
        if problem:
            # garbage is a failure worth a warning; a copied example is the small model being itself
            level = logging.INFO if problem in ("copies an example", "repeats itself") else logging.WARNING
            log.log(level, "LLM direction %r not used (%s); using the template", note, problem)
            return template
        return note[:400]

    def _llm_backend(self):
        if self._llm is None:
            from llm import get_backend

            self._llm = get_backend()
        return self._llm

    # -- review -----------------------------------------------------------------------------------------
    def review(
        self,
        guidance: EmotionGuidance,
        audio: np.ndarray,
        sr: int,
        num_frames: int,
        fps: float = 25.0,
        lips: np.ndarray | None = None,
        prompt_audio: np.ndarray | None = None,
    ) -> TakeScores:
        from perception.audio import loudness_envelope
        from perception.sync import av_sync, duration_error_frames

        scores = TakeScores(
            duration_error_frames=round(duration_error_frames(len(audio) / sr, num_frames, fps), 3)
        )
        if lips is not None and np.isfinite(lips).any():
            sync = av_sync(lips, loudness_envelope(audio, sr, fps, num_frames=num_frames))
            if sync.measured:
                scores.sync_offset_frames = int(sync.offset_frames)
                scores.sync_confidence = round(float(sync.confidence), 4)
        if prompt_audio is not None:
            from perception.speaker import secs

            scores.speaker_similarity = round(float(secs(audio, prompt_audio, sr)), 4)
        if self.classifier is not None:
            p = self.classifier.predict_proba(audio, sr)
            scores.emotion_match = round(float(p[EMOTIONS.index(guidance.emotion)]), 4)
            scores.predicted_emotion = EMOTIONS[int(np.argmax(p))]
            scores.predicted_probability = round(float(np.max(p)), 4)
        return scores

    def verdict(self, scores: TakeScores) -> tuple[bool, str]:
        p, problems = self.policy, []
        if scores.emotion_match is not None and scores.emotion_match < p.min_emotion_match:
            problems.append(f"emotion reads as {scores.predicted_emotion} (match {scores.emotion_match:.2f})")
        if abs(scores.duration_error_frames) > p.max_duration_error_frames:
            problems.append(f"length off by {scores.duration_error_frames:+.1f} frames")
        if (
            scores.sync_offset_frames is not None
            and abs(scores.sync_offset_frames) > p.max_sync_offset_frames
        ):
            problems.append(f"out of sync by {scores.sync_offset_frames:+d} frames")
        if scores.speaker_similarity is not None and scores.speaker_similarity < p.min_speaker_similarity:
            problems.append(f"voice drifts (similarity {scores.speaker_similarity:.2f})")
        return (not problems, "; ".join(problems) if problems else "meets every target")

    def revise(self, guidance: EmotionGuidance, scores: TakeScores, text: str = "") -> EmotionGuidance:
        """New guidance for the next take that changes what failed, each miss its own remedy:

        - **emotion**: a take heard confidently as an emotion the director itself nearly chose switches the
          line to it (the scene was ambiguous and the performance found a reading); otherwise the intensity
          goes up (heard calmer than asked) or down (more agitated), and the pitch, energy and pace targets
          move away from the emotion it was heard as, towards the one asked for;
        - **duration**: the pace;
        - **sync**: the speech moves by the measured offset (``sync_shift_frames``);
        - **voice**: the timbre is pulled towards the prompt's (``voice_match``).
        The references change with every take (the stage retrieves the next K)."""
        from corpora.emotions import profile_at

        p = self.policy
        emotion, intensity = guidance.emotion, guidance.intensity
        away: tuple[float, float, float] = (0.0, 0.0, 0.0)
        missed_emotion = scores.emotion_match is not None and scores.emotion_match < p.min_emotion_match
        if missed_emotion:
            heard = scores.predicted_emotion or "neutral"
            chosen_p = guidance.probabilities.get(emotion, 0.0)
            if (
                heard != emotion
                and (scores.predicted_probability or 0.0) >= p.switch_confidence
                and guidance.probabilities.get(heard, 0.0) >= p.switch_ratio * chosen_p
            ):
                emotion = heard
                intensity = max(intensity, 0.5) if heard != "neutral" else 0.0
            else:
                _, a_heard = VALENCE_AROUSAL[heard]
                _, a_goal = VALENCE_AROUSAL[emotion]
                intensity += 0.25 if a_heard <= a_goal else -0.2
                level = float(np.clip(intensity, 0.2, 1.0))
                goal, got = profile_at(emotion, level), profile_at(heard, level)
                away = (
                    0.5 * (goal.f0_shift_st - got.f0_shift_st),
                    0.5 * (goal.energy_db - got.energy_db),
                    float(np.sqrt(goal.rate / got.rate)),
                )
        revised = self.guidance_for(
            emotion,
            float(np.clip(intensity, 0.2, 1.0)) if emotion != "neutral" else 0.0,
            np.array([guidance.probabilities.get(e, 0.0) for e in EMOTIONS]),
            guidance.evidence,
            text,
            revision=guidance.revision + 1,
        )
        update: dict = {"sync_shift_frames": guidance.sync_shift_frames, "voice_match": guidance.voice_match}
        if any(away):
            update["pitch_shift_st"] = round(float(np.clip(revised.pitch_shift_st + away[0], -12, 12)), 2)
            update["energy_db"] = round(float(np.clip(revised.energy_db + away[1], -20, 20)), 2)
            update["pace"] = round(float(np.clip(revised.pace * (away[2] or 1.0), 0.5, 2.0)), 3)
        if abs(scores.duration_error_frames) > p.max_duration_error_frames:
            # Too long (positive error) -> faster; the actor also rescales to the video, this is a nudge.
            frames = max(1.0, abs(scores.duration_error_frames))
            factor = 1.0 + np.sign(scores.duration_error_frames) * min(0.25, 0.02 * frames)
            update["pace"] = round(float(np.clip(update.get("pace", revised.pace) * factor, 0.5, 2.0)), 3)
        if (
            scores.sync_offset_frames is not None
            and abs(scores.sync_offset_frames) > p.max_sync_offset_frames
        ):
            # a positive offset is speech behind the lips: move it earlier by as much
            update["sync_shift_frames"] = int(
                np.clip(guidance.sync_shift_frames - scores.sync_offset_frames, -25, 25)
            )
        if scores.speaker_similarity is not None and scores.speaker_similarity < p.min_speaker_similarity:
            update["voice_match"] = round(min(1.0, guidance.voice_match + 0.5), 3)
        return revised.model_copy(update=update)

    # -- the interaction --------------------------------------------------------------------------------
    def run_line(
        self,
        session: str,
        line: int,
        guidance: EmotionGuidance,
        perform: Callable[[EmotionGuidance, int], tuple[np.ndarray, int]],
        num_frames: int,
        fps: float = 25.0,
        lips: np.ndarray | None = None,
        prompt_audio: np.ndarray | None = None,
        emit: Callable[[object], None] = lambda m: None,
        text: str = "",
        audio_in_take: bool = False,
    ) -> LineResult:
        """``audio_in_take``: log each take's audio in its ``take`` message (an actor in this process emits no
        ``audio`` chunks; without it a message log would hold scores but nothing to listen to)."""
        result = LineResult(guidance=guidance)
        emit(GuidanceMessage(session=session, line=line, take=0, guidance=guidance))
        current = guidance
        for number in range(1, self.policy.max_takes + 1):
            audio, sr = perform(current, number)
            emit(
                TakeMessage(
                    session=session,
                    line=line,
                    take=number,
                    duration_s=round(len(audio) / sr, 3),
                    sample_rate=sr,
                    pcm16=to_pcm16(audio) if audio_in_take else b"",
                )
            )
            scores = self.review(current, audio, sr, num_frames, fps, lips, prompt_audio)
            accepted, reason = self.verdict(scores)
            take = Take(number, audio, sr, current, scores, accepted)
            result.takes.append(take)
            last = number == self.policy.max_takes
            revised = None if accepted or last else self.revise(current, scores, text)
            emit(
                ReviewMessage(
                    session=session,
                    line=line,
                    take=number,
                    scores=scores,
                    accepted=accepted,
                    reason=reason,
                    revised=revised,
                )
            )
            if accepted:
                break
            if revised is not None:
                current = revised
        best = next((t for t in result.takes if t.accepted), None) or max(result.takes, key=Take.quality)
        result.chosen = best
        why = "accepted" if best.accepted else f"best of {len(result.takes)} takes (none met every target)"
        emit(
            AcceptMessage(
                session=session,
                line=line,
                take=best.number,
                chosen_take=best.number,
                scores=best.scores,
                reason=why,
            )
        )
        return result
