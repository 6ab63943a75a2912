"""The actor at dubbing time: a trained ``ProgressiveGraphGenerator`` plus a vocoder, as one small core.

    actor = Actor.load()                                   # the shipped checkpoint by default
    prompt = actor.voice_prompt(audio, sr)                 # refuses < 1 s or silent prompts
    inputs = actor.clip_inputs(video, text)                # phonemes + lip motion of the silent clip
    for pcm in actor.stream(inputs, prompt, guidance, nodes):   # PCM16 chunks as soon as each is ready
        ...
    audio = actor.perform(inputs, prompt, guidance, nodes)       # the same audio, whole

The encoder runs once over the whole line (alignment, emotion graphs); the decoder and the vocoder run chunk
by chunk (``actor.chunk_video_frames`` video frames each) with enough context that streaming and whole-line
synthesis give the same frames.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from actors.alignment import SIL, skippable, with_boundaries
from actors.dataset import MAX_REFERENCE_FRAMES, PhonemeVocabulary, guidance_vector
from actors.features import ClipInputs
from actors.graph import MODALITIES
from actors.model import GUIDANCE_DIM, ActorHParams, ProgressiveGraphGenerator, durations_from_predictions
from ground.config import get_config
from ground.errors import BadInputError, MissingComponentError
from ground.messages import EmotionGuidance, ReferenceClip

log = logging.getLogger(__name__)


class LineTooLongError(BadInputError):
    """The line cannot be said in the clip at any sane speaking rate."""


@dataclass
class VoicePrompt:
    dvector: np.ndarray  # (256,)
    reference: np.ndarray  # (T, acoustic_dim) normalised WORLD frames
    seconds: float
    # the prompt's mean normalised frame over its voiced frames (None: too few voiced frames to say)
    voiced_mean: np.ndarray | None = None


MIN_VOICED_FRAMES = 50  # half a second of voicing before a prompt's mean envelope is trusted


def voiced_mean(frames: np.ndarray, voiced: np.ndarray) -> np.ndarray | None:
    """Mean of the frames (T, D) where ``voiced`` (T,) or (T, 1) is true."""
    voiced = np.asarray(voiced).reshape(len(frames))
    return frames[voiced].mean(0).astype(np.float32) if voiced.sum() >= MIN_VOICED_FRAMES else None


def timbre_shift(
    take: np.ndarray, prompt: VoicePrompt, sp: slice, vuv: slice, strength: float
) -> np.ndarray | None:
    """What to add to each of the take's normalised frames so that its mean coded envelope over voiced
    frames moves ``strength`` of the way to the prompt's: the envelope's long-term average is where a
    voice's timbre (vocal tract length, brightness) lives, the frame-to-frame movement is the phonemes'."""
    if strength <= 0 or prompt.voiced_mean is None:
        return None
    mean = voiced_mean(take, take[:, vuv] > 0)  # the model's voicing is a logit
    if mean is None:
        return None
    shift = np.zeros(take.shape[1], np.float32)
    shift[sp] = strength * (prompt.voiced_mean[sp] - mean[sp])
    return shift


@dataclass
class EmotionNodes:
    """The graph inputs of one line: the target's caption vectors and K references per modality."""

    target: np.ndarray  # (3, caption_dim)
    retrieved: np.ndarray  # (3, K, caption_dim)
    audio: np.ndarray  # (3, K, audio_dim)
    reference_ids: dict[str, list[str]]

    @classmethod
    def empty(cls, caption_dim: int, audio_dim: int, k: int) -> EmotionNodes:
        return cls(
            np.zeros((3, caption_dim), np.float32),
            np.zeros((3, k, caption_dim), np.float32),
            np.zeros((3, k, audio_dim), np.float32),
            {},
        )

    @classmethod
    def from_library(
        cls,
        library,
        target_vectors: dict[str, np.ndarray],
        references: dict[str, list[ReferenceClip]],
        k: int,
    ) -> EmotionNodes:
        """Nodes from a director's retrieval: the target's vectors and the retrieved clips' stored vectors."""
        caption_dim = len(next(iter(target_vectors.values())))
        first = next((refs[0] for refs in references.values() if refs), None)
        audio_dim = len(first.audio_emotion) if first else 1
        nodes = cls.empty(caption_dim, audio_dim, k)
        ids = {m: [r.clip_id for r in references.get(m, [])[:k]] for m in MODALITIES}
        wanted = sorted({c for v in ids.values() for c in v})
        rows = (
            {r["clip_id"]: r for r in library.rows(wanted, [f"{m}_vector" for m in MODALITIES])}
            if wanted
            else {}
        )
        for m, modality in enumerate(MODALITIES):
            if modality in target_vectors:
                nodes.target[m] = target_vectors[modality]
            for j, ref in enumerate(references.get(modality, [])[:k]):
                if ref.clip_id in rows:
                    nodes.retrieved[m, j] = rows[ref.clip_id][f"{modality}_vector"]
                nodes.audio[m, j] = ref.audio_emotion
        nodes.reference_ids = ids
        return nodes


def shift_frames(content: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, T, H) moved ``frames`` later (earlier when negative), the same length, the edge frame (the line's
    leading or trailing silence) repeated into the gap: the director's remedy for a sync miss."""
    if frames == 0:
        return content
    t = content.shape[1]
    frames = int(np.clip(frames, -(t - 1), t - 1))
    if frames > 0:
        return torch.cat([content[:, :1].expand(-1, frames, -1), content[:, : t - frames]], 1)
    return torch.cat([content[:, -frames:], content[:, -1:].expand(-1, -frames, -1)], 1)


def resolve_device(setting: str) -> torch.device:
    """``actor.device``: auto is CUDA when torch sees a GPU (a Serve replica given ``serving.actor_gpus``
    does), else the CPU; the WORLD vocoder always runs on the CPU."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise MissingComponentError(
            "actor.device is cuda but torch sees no GPU",
            hint="set actor.device to auto or cpu on this machine",
        )
    return torch.device(setting)


class Actor:
    def __init__(self, model: ProgressiveGraphGenerator, vocab: PhonemeVocabulary, stats, vocoder=None):
        from actors.vocoder import get_vocoder

        self.config = get_config()
        self.device = resolve_device(self.config.actor.device)
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        self.stats = stats
        self.vocoder = vocoder or get_vocoder()

    @classmethod
    def load(cls, checkpoint: str | Path | None = None) -> Actor:
        from actors.acoustics import FeatureStats

        path = Path(checkpoint or get_config().actor.checkpoint)
        if not path.is_file():
            raise MissingComponentError(
                "no trained actor checkpoint here", source=path, hint="train one: dubber train (see README)"
            )
        torch.set_num_threads(get_config().actor.threads)
        state = torch.load(path, map_location="cpu", weights_only=False)  # moved to actor.device by __init__
        model = ProgressiveGraphGenerator(ActorHParams(**state["hparams"]))
        model.load_state_dict({k: v.float() for k, v in state["model"].items()})
        return cls(model, PhonemeVocabulary(state["vocab"]), FeatureStats.from_dict(state["stats"]))

    @property
    def hp(self) -> ActorHParams:
        return self.model.hp

    # -- inputs ---------------------------------------------------------------------------------------------
    def voice_prompt(self, audio: np.ndarray, sr: int, source: str | None = "voice prompt") -> VoicePrompt:
        from actors.acoustics import extract_acoustics
        from perception.audio import check_audio, resample
        from perception.speaker import get_speaker_encoder

        rate = self.config.media.sample_rate
        audio = resample(check_audio(audio, sr, source=source), sr, rate)
        seconds = len(audio) / rate
        if seconds < self.config.actor.min_prompt_seconds:
            raise BadInputError(
                f"the voice prompt is {seconds:.2f} s long; at least {self.config.actor.min_prompt_seconds:g} s "
                "of the character speaking is needed",
                source=source,
            )
        frames = extract_acoustics(audio, rate)
        normalised = self.stats.normalise(frames).astype(np.float32)
        reference = normalised[:MAX_REFERENCE_FRAMES]
        dvector = get_speaker_encoder().embed(audio, rate).astype(np.float32)
        mean = voiced_mean(normalised, frames[:, self.stats.layout.vuv] > 0.5)
        return VoicePrompt(dvector, reference, seconds, mean)

    def clip_inputs(self, video: str | Path, text: str, language: str = "en", perceiver=None) -> ClipInputs:
        from actors.features import video_lips
        from perception.text import normalise_text, phonemize

        phonemes = phonemize(normalise_text(text, language))
        if not phonemes:
            raise BadInputError("the line has nothing to say (no phonemes)", source="--text")
        unknown = self.vocab.unknown(phonemes)
        if unknown:
            log.warning("phonemes the actor never saw in training: %s (spoken as <unk>)", " ".join(unknown))
        return ClipInputs(
            clip_id=Path(video).stem, text=text, phonemes=phonemes, lips=video_lips(video, perceiver)
        )

    # -- planning -------------------------------------------------------------------------------------------
    def _tensors(
        self, x: ClipInputs, prompt: VoicePrompt, guidance: EmotionGuidance | None, nodes: EmotionNodes
    ):
        k = max(self.hp.k, 1)
        retrieved = np.zeros((3, k, nodes.retrieved.shape[-1]), np.float32)
        audio = np.zeros((3, k, nodes.audio.shape[-1]), np.float32)
        n = min(k, nodes.retrieved.shape[1])
        retrieved[:, :n], audio[:, :n] = nodes.retrieved[:, :n], nodes.audio[:, :n]
        g = guidance_vector(guidance) if guidance is not None else np.zeros(GUIDANCE_DIM, np.float32)
        tensors = {
            "phonemes": torch.tensor([self.vocab.encode(with_boundaries(x.phonemes))], dtype=torch.long),
            "lips": torch.from_numpy(x.lips[None].astype(np.float32)),
            "video_mask": torch.ones(1, x.num_video_frames, dtype=torch.bool),
            "dvector": torch.from_numpy(prompt.dvector[None]),
            "reference": torch.from_numpy(prompt.reference[None]),
            "reference_mask": torch.ones(1, len(prompt.reference), dtype=torch.bool),
            "guidance": torch.from_numpy(g[None]),
            "target_nodes": torch.from_numpy(nodes.target[None].astype(np.float32)),
            "retrieved_nodes": torch.from_numpy(retrieved[None]),
            "audio_nodes": torch.from_numpy(audio[None]),
        }
        return {name: t.to(self.device) for name, t in tensors.items()}

    @torch.no_grad()
    def natural_seconds(self, x: ClipInputs, pace: float = 1.0) -> float:
        """How long the line takes at the voice's natural rate (duration predictor), over ``pace``."""
        tokens = with_boundaries(x.phonemes)
        phonemes = torch.tensor([self.vocab.encode(tokens)], device=self.device)
        _, _, log_durations = self.model.encode_phonemes(phonemes)
        # the silence around the line is not the line
        speech = torch.tensor([t != SIL for t in tokens], device=self.device)
        frames = torch.expm1(log_durations[0]).clamp(min=0)[speech].sum().item()
        return frames * self.config.media.hop_ms / 1000.0 / max(pace, 1e-3)

    def fit_line(self, x: ClipInputs, pace: float = 1.0, fit: str = "refuse") -> ClipInputs:
        """Refuse a line that cannot fit the clip, or (``fit="speed"``) give it the frames it needs at the
        fastest sane rate; a line that fits is returned as it is."""
        clip_s = x.num_video_frames / self.config.media.fps
        need_s = self.natural_seconds(x, pace)
        max_rate = self.config.actor.max_speaking_rate
        if need_s <= clip_s * max_rate:
            return x
        fastest_s = need_s / max_rate
        if fit != "speed":
            raise LineTooLongError(
                f"the line needs about {need_s:.1f} s at a natural rate ({fastest_s:.1f} s at the fastest sane "
                f"rate, x{max_rate:g}), the clip is {clip_s:.1f} s; shorten the line, use a longer clip, or pass "
                "--fit speed to let it run over",
                source="--text",
            )
        extra = int(np.ceil((fastest_s - clip_s) * self.config.media.fps))
        log.warning("line runs %.1f s past the clip at x%g speed (--fit speed)", fastest_s - clip_s, max_rate)
        pad = np.zeros((extra, x.lips.shape[1]), np.float32)  # no face there: the decoder fills from the text
        return dataclasses.replace(x, lips=np.concatenate([x.lips, pad]))

    # -- synthesis ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(
        self, x: ClipInputs, prompt: VoicePrompt, guidance: EmotionGuidance | None, nodes: EmotionNodes
    ):
        t = self._tensors(x, prompt, guidance, nodes)
        durations = None  # the speech follows the lips: the best monotonic path through the attention
        if x.lips[:, -1].max() <= 0:  # no face anywhere: place the phonemes by predicted durations
            log.warning("%s: no face in the clip; aligning the line by predicted durations only", x.clip_id)
            _, mask, log_durations = self.model.encode_phonemes(t["phonemes"])
            durations = durations_from_predictions(
                log_durations, mask, x.num_video_frames * self.hp.frames_per_video_frame
            )
        can_skip = torch.from_numpy(skippable(with_boundaries(x.phonemes)))[None].to(self.device)
        cfg = self.config.actor
        enc = self.model.encode(**t, durations=durations, can_skip=can_skip,
                                min_frames=cfg.alignment_min_frames, prior_weight=cfg.alignment_prior_weight)  # fmt: skip
        if guidance is not None and guidance.sync_shift_frames:
            enc.content = shift_frames(
                enc.content, guidance.sync_shift_frames * self.hp.frames_per_video_frame
            )
        strength = max(cfg.timbre_adaptation, guidance.voice_match if guidance is not None else 0.0)
        if strength > 0 and prompt.voiced_mean is not None:
            # the whole take's mean is needed before the first chunk, so streaming and whole-line synthesis
            # add the same shift: one extra pass of the (small, convolutional) decoder
            _, refined = self.model.decode(enc.content, enc.style)
            layout = self.stats.layout
            shift = timbre_shift(refined[0].cpu().numpy(), prompt, layout.sp, layout.vuv, strength)
            if shift is not None:
                enc.frame_shift = torch.from_numpy(shift).to(self.device)
        return enc

    def _frames(self, refined: torch.Tensor, shift: torch.Tensor | None = None) -> np.ndarray:
        from actors.acoustics import features_from_model

        frames = refined[0] if shift is None else refined[0] + shift
        return features_from_model(
            frames.float().cpu().numpy(), self.stats, self.config.actor.postfilter_beta
        )

    @torch.no_grad()
    def feature_chunks(self, encoded) -> Iterator[np.ndarray]:
        step = self.config.actor.chunk_video_frames
        total = encoded.content.shape[1] // self.hp.frames_per_video_frame  # video frames
        for start in range(0, total, step):
            yield self._frames(
                self.model.decode_chunk(encoded.content, encoded.style, start, min(total, start + step)),
                encoded.frame_shift,
            )

    @torch.no_grad()
    def features(self, x, prompt, guidance, nodes) -> np.ndarray:
        enc = self.encode(x, prompt, guidance, nodes)
        _, refined = self.model.decode(enc.content, enc.style)
        return self._frames(refined, enc.frame_shift)

    def perform(self, x, prompt, guidance, nodes) -> np.ndarray:
        """The whole line as float32 audio at ``media.sample_rate``."""
        return self.vocoder.synthesize(self.features(x, prompt, guidance, nodes))

    def stream(self, x, prompt, guidance, nodes) -> Iterator[np.ndarray]:
        """Float32 audio chunks, each yielded as soon as it is decoded and vocoded."""
        yield from self.vocoder.stream(self.feature_chunks(self.encode(x, prompt, guidance, nodes)))
