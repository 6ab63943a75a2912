"""The actor as the dubbing stage sees it, one typed interface with three implementations: the local
``actors.voice.Actor``, the server's ``serving.remote.RemoteActor`` (a Ray Serve handle that streams each
chunk to the client as it is made) and the batch job's ``localization.pipeline.SpeechPool`` (Ray actors
shared by the directors). ``DubbingStage`` takes any of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from actors.features import ClipInputs
    from actors.voice import EmotionNodes, VoicePrompt
    from ground.messages import EmotionGuidance


@runtime_checkable
class ActorSizes(Protocol):
    """What the stage reads of the checkpoint: ``k``, the references per modality its graphs were trained
    with (the paper's K)."""

    k: int


@runtime_checkable
class ActorInterface(Protocol):
    """Prompt in, line fitted to the clip, take out. ``perform`` returns float32 audio at ``media.sample_rate``
    that lasts exactly the clip; an implementation that streams its chunks to a client as it goes says so
    with ``emits_audio_chunks = True`` (the stage then does not log the take's audio twice)."""

    @property
    def hp(self) -> ActorSizes: ...

    def voice_prompt(self, audio: np.ndarray, sr: int, source: str | None = ...) -> VoicePrompt: ...

    def fit_line(self, inputs: ClipInputs, pace: float = 1.0, fit: str = "refuse") -> ClipInputs: ...

    def perform(
        self, inputs: ClipInputs, prompt: VoicePrompt, guidance: EmotionGuidance | None, nodes: EmotionNodes
    ) -> np.ndarray: ...
