"""Training examples for the actor: cached clip features + the library's emotion nodes, batched.

One example is one clip: its phonemes and lip motion (inputs), its WORLD frames (target), a voice prompt
(another clip of the same speaker: its d-vector and its frames for the style encoder), the director's
guidance for its label, and its emotion nodes: its own scene/face/text caption vectors, and for each
modality the top-K training clips (precomputed by ``retrieval.neighbours`` from the train split only, so no
test clip ever leaks into training) with their vectors of that modality and their audio emotion vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from actors.alignment import with_boundaries
from actors.features import ClipInputs, FeatureStore
from actors.graph import MODALITIES
from ground.messages import EMOTIONS, EmotionGuidance

PAD, UNK = 0, 1
MAX_REFERENCE_FRAMES = 400  # 4 s of the prompt is plenty for a style vector


class PhonemeVocabulary:
    def __init__(self, symbols: list[str]):
        self.symbols = ["<pad>", "<unk>", *sorted(set(symbols) - {"<pad>", "<unk>"})]
        self.index = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def build(cls, sequences) -> PhonemeVocabulary:
        return cls([p for seq in sequences for p in seq])

    def encode(self, phonemes: list[str]) -> list[int]:
        return [self.index.get(p, UNK) for p in phonemes]

    def unknown(self, phonemes: list[str]) -> list[str]:
        return sorted({p for p in phonemes if p not in self.index})

    def __len__(self) -> int:
        return len(self.symbols)


def guidance_vector(g: EmotionGuidance) -> np.ndarray:
    """The numbers of the director's guidance the actor conditions on, scaled to about -1..1."""
    return np.array(
        [
            g.intensity,
            (g.pace - 1.0) * 2.0,
            g.pitch_shift_st / 12.0,
            g.energy_db / 20.0,
            g.valence,
            g.arousal,
        ],
        dtype=np.float32,
    )


@lru_cache(maxsize=4096)
def label_guidance(emotion: str, intensity: float) -> np.ndarray:
    """What the director would ask for a clip of this label (training conditions on the same mapping)."""
    from agents.director import Director

    g = Director(write_directions=False).guidance_for(emotion, intensity if emotion != "neutral" else 0.0)
    return guidance_vector(g)


@dataclass
class EmotionNodeTable:
    """Caption and audio emotion vectors of every library clip, looked up by clip id."""

    index: dict[str, int]
    vectors: dict[str, np.ndarray]  # "scene_vector"... (n, dim)

    @classmethod
    def from_library(cls, uri=None) -> EmotionNodeTable:
        from retrieval.neighbours import load_reference_vectors

        index, vectors = load_reference_vectors(uri)
        return cls(index, {k: np.asarray(v, dtype=np.float32) for k, v in vectors.items()})

    @property
    def caption_dim(self) -> int:
        return int(self.vectors["text_vector"].shape[1])

    @property
    def audio_dim(self) -> int:
        return int(self.vectors["audio_vector"].shape[1])

    def target(self, clip_id: str) -> np.ndarray:
        """(3, caption_dim); zeros for a clip the library does not have."""
        i = self.index.get(clip_id)
        if i is None:
            return np.zeros((3, self.caption_dim), np.float32)
        return np.stack([self.vectors[f"{m}_vector"][i] for m in MODALITIES])

    def references(self, neighbours: dict[str, list[str]], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(3, k, caption_dim) retrieved vectors and (3, k, audio_dim) their audio emotion; zero-padded."""
        r = np.zeros((3, k, self.caption_dim), np.float32)
        a = np.zeros((3, k, self.audio_dim), np.float32)
        for m, modality in enumerate(MODALITIES):
            for j, cid in enumerate((neighbours or {}).get(modality, [])[:k]):
                i = self.index.get(cid)
                if i is not None:
                    r[m, j] = self.vectors[f"{modality}_vector"][i]
                    a[m, j] = self.vectors["audio_vector"][i]
        return r, a


class ActorDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        clips: list[ClipInputs],
        vocab: PhonemeVocabulary,
        stats,  # actors.acoustics.FeatureStats
        nodes: EmotionNodeTable,
        neighbours: dict[str, dict[str, list[str]]],
        prompt_pool: dict[str, list[ClipInputs]],  # speaker -> clips a prompt may come from
        durations: dict[str, np.ndarray],  # clip -> acoustic frames per token (actors.alignment)
        k: int = 5,
        train: bool = True,
        seed: int = 0,
    ):
        self.clips, self.vocab, self.stats, self.nodes = clips, vocab, stats, nodes
        self.neighbours, self.prompt_pool, self.k, self.train = neighbours, prompt_pool, k, train
        self.durations = durations
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.clips)

    def prompt_for(self, x: ClipInputs) -> ClipInputs:
        pool = [c for c in self.prompt_pool.get(x.speaker, []) if c.clip_id != x.clip_id] or [x]
        if self.train:
            return pool[int(self.rng.integers(len(pool)))]
        return pool[sum(map(ord, x.clip_id)) % len(pool)]  # fixed per clip, so validation is repeatable

    def __getitem__(self, i: int) -> dict:
        x = self.clips[i]
        prompt = self.prompt_for(x)
        reference = self.stats.normalise(prompt.acoustics)
        if len(reference) > MAX_REFERENCE_FRAMES:
            start = int(self.rng.integers(len(reference) - MAX_REFERENCE_FRAMES)) if self.train else 0
            reference = reference[start : start + MAX_REFERENCE_FRAMES]
        retrieved, audio = self.nodes.references(self.neighbours.get(x.clip_id, {}), self.k)
        return {
            "clip_id": x.clip_id,
            "phonemes": np.array(self.vocab.encode(with_boundaries(x.phonemes)), dtype=np.int64),
            "durations": self.durations[x.clip_id].astype(np.int64),
            "lips": x.lips,
            "acoustics": self.stats.normalise(x.acoustics),
            "dvector": prompt.dvector,
            "target_dvector": x.dvector,
            "reference": reference.astype(np.float32),
            "guidance": label_guidance(x.emotion or "neutral", round(float(x.intensity or 0.0), 2)),
            "emotion": EMOTIONS.index(x.emotion) if x.emotion in EMOTIONS else -100,
            "target_nodes": self.nodes.target(x.clip_id),
            "retrieved_nodes": retrieved,
            "audio_nodes": audio,
        }


def _pad(arrays: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(arrays), length, *arrays[0].shape[1:]), dtype=arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out


def collate(items: list[dict], frames_per_video_frame: int = 4) -> dict:
    t_video = max(len(it["lips"]) for it in items)
    n_phon = max(len(it["phonemes"]) for it in items)
    t_ref = max(len(it["reference"]) for it in items)
    t_ac = t_video * frames_per_video_frame
    video_len = torch.tensor([len(it["lips"]) for it in items])
    batch = {
        "clip_id": [it["clip_id"] for it in items],
        "phonemes": torch.from_numpy(_pad([it["phonemes"] for it in items], n_phon)),
        "durations": torch.from_numpy(_pad([it["durations"] for it in items], n_phon)),
        "lips": torch.from_numpy(_pad([it["lips"] for it in items], t_video)),
        "video_mask": torch.arange(t_video)[None] < video_len[:, None],
        "acoustics": torch.from_numpy(_pad([it["acoustics"] for it in items], t_ac)),
        "acoustic_mask": torch.arange(t_ac)[None] < (video_len * frames_per_video_frame)[:, None],
        "reference": torch.from_numpy(_pad([it["reference"] for it in items], t_ref)),
        "reference_mask": torch.arange(t_ref)[None]
        < torch.tensor([len(it["reference"]) for it in items])[:, None],
    }
    for key in ("dvector", "target_dvector", "guidance", "target_nodes", "retrieved_nodes", "audio_nodes"):
        batch[key] = torch.from_numpy(np.stack([it[key] for it in items]).astype(np.float32))
    batch["emotion"] = torch.tensor([it["emotion"] for it in items])
    return batch


def load_clips(store: FeatureStore, clip_ids: list[str]) -> list[ClipInputs]:
    return [store.get(c) for c in clip_ids if store.has(c)]
