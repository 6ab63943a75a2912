"""The director's emotion cues. Each one turns one kind of evidence into probabilities over the 8 classes.

The CPU LLM is a small base model, weak at picking labels, so no single cue decides: the director fuses
calibrated cues (``agents.fusion``). Every cue here is independent of the others and can be scored alone.

- ``TextPrototypeCue``: MiniLM similarity of the line to hand-written emotion prototypes (never corpus lines).
- ``FaceCue``: FER expression probabilities + landmark geometry -> a classifier trained on the train split.
- ``SceneCue``: scene light, colour and motion -> a classifier trained on the train split.
- ``LLMLabelCue``: the LLM's likelihood of each label after the line, calibrated on the train split.
- ``ContextCue``: the session's recent emotions for the same character (scenes rarely flip every line).

Every cue is a ``Cue`` (one ``name``, ``probabilities`` of one line, ``probabilities_many`` of a batch) and is
made by name from the ``CUES`` registry (``make_cue``); the fusion holds one of each.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ground.messages import EMOTIONS
from perception.features import VisualFeatures

log = logging.getLogger(__name__)

NUM_CLASSES = len(EMOTIONS)

# Generic prototypes written for the cue, deliberately unlike the synthetic corpus's script lines.
PROTOTYPES: dict[str, tuple[str, ...]] = {
    "angry": ("I am furious with you.", "This makes me so mad!", "How dare you do this to me!",
              "I'm sick and tired of this, stop it now!", "You will pay for what you did."),
    "disgust": ("That is revolting.", "Eww, it smells awful and rotten.", "This is gross, I feel sick.",
                "How disgusting, get it away from me.", "Filthy, nasty, I can't even look at it."),
    "fear": ("I'm terrified, please help me.", "Someone is out there, I'm so scared.",
             "Don't hurt me, please!", "We're going to die, run!", "I'm afraid of the dark."),
    "happy": ("I'm so happy, this is wonderful!", "Thank you, I love it!", "What a great day!",
              "We won, hooray!", "I'm delighted to see you."),
    "neutral": ("The report is on the desk.", "We will meet at three o'clock.",
                "Please close the window.", "The bus stops at the corner.", "It is Tuesday today."),
    "sad": ("I miss him so much.", "Nothing will ever be the same again.", "I feel so alone and empty.",
            "She is gone forever.", "I'm sorry, I failed."),
    "surprise": ("Wow, I didn't expect that!", "What? Really? No way!", "Oh my, you're here?",
                 "I can't believe it, that's amazing!", "Wait, what just happened?"),
    "contempt": ("You're pathetic.", "As if you could ever do it.", "How cute, you think you matter.",
                 "I expected nothing less from someone like you.", "Whatever, you're beneath me."),
}  # fmt: skip


def softmax(x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64) / max(temperature, 1e-6)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class CueInput:
    """What the cues look at for one line."""

    text: str
    visual: VisualFeatures | None = None
    character: str | None = None
    history: list[tuple[str | None, str]] = field(default_factory=list)  # (character, emotion), oldest first
    language: str | None = None  # what the request declares (ISO 639-1); None: detected from the text


class Cue(ABC):
    """One kind of evidence -> probabilities over ``EMOTIONS``."""

    name: str = "cue"

    @abstractmethod
    def probabilities(self, x: CueInput) -> np.ndarray: ...

    def probabilities_many(self, inputs: list[CueInput]) -> np.ndarray:
        """(N, 8) for a batch (a cue that batches faster overrides this)."""
        return np.stack([self.probabilities(x) for x in inputs]) if inputs else np.zeros((0, NUM_CLASSES))


CUES: dict[str, Callable[..., Cue]] = {}


def register_cue(cls: type[Cue]) -> type[Cue]:
    CUES[cls.name] = cls
    return cls


def make_cue(name: str, **kwargs) -> Cue:
    """A cue by name (``CUES``); keyword arguments go to its constructor."""
    try:
        return CUES[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown cue {name!r}; available: {', '.join(CUES)}") from None


@register_cue
class TextPrototypeCue(Cue):
    name = "text"

    def __init__(self, temperature: float = 0.05):
        from perception.text import get_sentence_embedder

        self.embedder = get_sentence_embedder()
        self.temperature = temperature
        protos = []
        for emotion in EMOTIONS:
            e = self.embedder.embed(list(PROTOTYPES[emotion]))
            m = e.mean(axis=0)
            protos.append(m / np.linalg.norm(m))
        self.prototypes = np.stack(protos)

    def similarities(self, texts: list[str]) -> np.ndarray:
        return self.embedder.embed(texts) @ self.prototypes.T

    def probabilities_batch(self, texts: list[str]) -> np.ndarray:
        return softmax(self.similarities(texts), self.temperature)

    def probabilities(self, x: CueInput) -> np.ndarray:
        return self.probabilities_batch([x.text])[0]

    def probabilities_many(self, inputs: list[CueInput]) -> np.ndarray:
        return self.probabilities_batch([x.text for x in inputs])


class TrainedFeatureCue(Cue):
    """A standardised multinomial logistic regression over one feature vector, trained on the train split.

    Out of its depth it says less: a vector unlike the training ones (its RMS z-score past the 95th
    percentile of the training vectors') gets its probabilities tempered towards uniform, ``p ** s`` with
    ``s = exp(-(rms - familiar_rms))``. A face drawn in a style the cue never saw, or a scene lit in an
    unknown palette, so weighs less in the fusion by a measured confidence, not by a fixed weight.
    """

    name = "trained"

    def __init__(self) -> None:
        self.model = None
        self.familiar_rms: float | None = None

    def vector(self, x: CueInput) -> np.ndarray | None:
        raise NotImplementedError

    def fit(self, vectors: np.ndarray, labels: list[str]) -> TrainedFeatureCue:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        y = np.array([EMOTIONS.index(e) for e in labels])
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
        self.model.fit(vectors, y)
        self.familiar_rms = float(np.percentile(self.rms_z(vectors), 95))
        return self

    def rms_z(self, vectors: np.ndarray) -> np.ndarray:
        """How far each vector lies from the training vectors: the RMS of its standardised features."""
        z = self.model[0].transform(np.atleast_2d(vectors))
        return np.sqrt(np.mean(np.square(z), axis=1))

    def familiarity(self, vectors: np.ndarray) -> np.ndarray:
        """1 for vectors like the training ones, falling towards 0 the further out they lie."""
        if self.model is None:
            return np.zeros(len(np.atleast_2d(vectors)))
        if self.familiar_rms is None:  # a cue saved before familiarity was measured
            return np.ones(len(np.atleast_2d(vectors)))
        return np.exp(-np.maximum(0.0, self.rms_z(vectors) - self.familiar_rms))

    def probabilities_from_vectors(self, vectors: np.ndarray) -> np.ndarray:
        out = np.full((len(vectors), NUM_CLASSES), 1.0 / NUM_CLASSES)
        if self.model is None:
            return out
        proba = self.model.predict_proba(vectors)
        out[:] = 1e-6
        out[:, self.model[-1].classes_] = proba
        out = out ** self.familiarity(vectors)[:, None]
        return out / out.sum(axis=1, keepdims=True)

    def probabilities(self, x: CueInput) -> np.ndarray:
        v = self.vector(x)
        if v is None or self.model is None:
            return np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)  # no evidence: uniform, never a guess
        return self.probabilities_from_vectors(v[None])[0]


@register_cue
class FaceCue(TrainedFeatureCue):
    name = "face"

    def vector(self, x: CueInput) -> np.ndarray | None:
        if x.visual is None or x.visual.face_share == 0:
            return None
        return x.visual.face_vector()


@register_cue
class SceneCue(TrainedFeatureCue):
    name = "scene"

    def vector(self, x: CueInput) -> np.ndarray | None:
        return None if x.visual is None else x.visual.scene_vector()


@register_cue
class LLMLabelCue(Cue):
    """Likelihood of each emotion word after the line, then a linear calibration fit on the train split.

    The LLM reads what the director reads (DESIGN section 3): a short perception summary (the face and the
    scene in words, ``retrieval.captions``) before the line. A base model's raw label likelihoods carry strong
    label priors (some words are simply more likely); a multinomial logistic regression on the 8
    log-probabilities removes them ("contextual calibration").
    """

    name = "llm"
    PROMPT = (
        "Each line of dialogue is labelled with the emotion of the speaker: angry, disgust, fear, happy, "
        "neutral, sad, surprise or contempt. What the camera shows comes before the line.\n\n"
        "Face: brows lowered and drawn together, eyes narrowed. Scene: dim, warm reddish light.\n"
        'Line: "Get out of here before I lose my temper!"\nEmotion: angry\n\n'
        "Face: features close to a relaxed face. Scene: evenly lit, grey light.\n"
        'Line: "Please pass me the salt."\nEmotion: neutral\n\n'
        '{summary}Line: "{text}"\nEmotion:'
    )
    SUMMARY_CHARS = 160  # per modality: the prompt stays short enough for ~0.5 s a line on one core

    @classmethod
    def summary(cls, x: CueInput) -> str:
        """What the LLM reads before the line: the face and the scene in words (none without video), and
        the emotion the same character's last line was played with in this session."""
        lines = []
        if x.visual is not None:
            from perception.descriptions import describe_face, describe_scene

            face = describe_face(x.visual)[: cls.SUMMARY_CHARS]
            lines.append(f"Face: {face}. Scene: {describe_scene(x.visual)[: cls.SUMMARY_CHARS]}.")
        earlier = [e for c, e in x.history if x.character is None or c == x.character]
        if earlier:
            lines.append(f"The speaker's previous line: {earlier[-1]}.")
        return "".join(line + "\n" for line in lines)

    def __init__(self, backend=None) -> None:
        self._backend = backend
        self.calibration = None

    @property
    def backend(self):
        if self._backend is None:
            from llm import get_backend

            self._backend = get_backend()
        return self._backend

    def prompt(self, x: CueInput) -> str:
        return self.PROMPT.format(summary=self.summary(x), text=x.text.replace('"', "'"))

    def raw_logprobs(self, x: CueInput) -> np.ndarray:
        scores = self.backend.label_logprobs(self.prompt(x), list(EMOTIONS))
        return np.array([scores[e] for e in EMOTIONS], dtype=np.float64)

    def fit(self, raw: np.ndarray, labels: list[str]) -> LLMLabelCue:
        from sklearn.linear_model import LogisticRegression

        y = np.array([EMOTIONS.index(e) for e in labels])
        self.calibration = LogisticRegression(C=1.0, max_iter=2000).fit(raw, y)
        return self

    def probabilities_from_raw(self, raw: np.ndarray) -> np.ndarray:
        raw = np.atleast_2d(raw)
        if self.calibration is None:
            return softmax(raw)
        out = np.full((len(raw), NUM_CLASSES), 1e-6)
        out[:, self.calibration.classes_] = self.calibration.predict_proba(raw)
        return out / out.sum(axis=1, keepdims=True)

    def probabilities(self, x: CueInput) -> np.ndarray:
        return self.probabilities_from_raw(self.raw_logprobs(x))[0]


@register_cue
class ContextCue(Cue):
    """The recent emotions of the same character in this session, decaying with distance, mixed with uniform."""

    name = "context"

    def __init__(self, decay: float = 0.6, strength: float = 0.5):
        self.decay, self.strength = decay, strength

    def probabilities(self, x: CueInput) -> np.ndarray:
        counts = np.zeros(NUM_CLASSES)
        w = 1.0
        for character, emotion in reversed(x.history):
            if emotion in EMOTIONS and (x.character is None or character == x.character):
                counts[EMOTIONS.index(emotion)] += w
                w *= self.decay
        uniform = np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)
        if counts.sum() == 0:
            return uniform
        return (1 - self.strength) * uniform + self.strength * counts / counts.sum()
