"""The Ray stages of a localisation job, and the driver loop that feeds them.

    PerceptionWorker  perception of a line's cut (face track, 68 landmarks, lips, expression, scene,
                      phonemes): the costly stage, ``localization.perception_workers`` actors spread over
                      the nodes, ``perception_cpus`` each; models loaded once per actor.
    StageWorker       direction and review (director cues, library retrieval, the emotion classifier, SECS,
                      sync) over a perceived line; performs through the speech pool; ``director_workers``.
    SpeechWorker      the actor (progressive graph speech generator + WORLD vocoder); ``speech_workers``,
                      shared by the directors.

The driver keeps ``perception_workers x max_in_flight`` lines in flight: each line is a perception call
whose result (an object ref, never fetched by the driver) is handed straight to a director call, so
perception of the next lines overlaps direction and acting of earlier ones. Results come back to the
driver, which alone writes the output folder (atomic renames, ``localization.job``): workers need no
shared filesystem, and a worker (or node) lost mid-line loses only that try. Every stage actor is restarted
by Ray when it dies (``actor_restarts``); the line it held is retried (``max_tries``), on any actor.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import hashlib
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import ray

log = logging.getLogger(__name__)


def _apply_config(config: dict):
    """Each stage actor takes the driver's configuration (a cluster node's environment may differ)."""
    from ground.config import get_config
    from ground.runtime import worker_config

    worker_config(config)
    return get_config()


def _where() -> dict:
    return {"node": ray.get_runtime_context().get_node_id()[:12], "pid": os.getpid()}


# -- stages -------------------------------------------------------------------------------------------------
PROBE = {"probe": 1}  # a concurrency group of its own: a busy actor still answers ``where`` at once


class PerceptionWorker:
    def __init__(self, config: dict):
        _apply_config(config)
        from stage.dubbing import DubbingStage

        self.stage = DubbingStage()
        self.lines = 0

    @ray.method(concurrency_group="probe")
    def where(self) -> dict:
        return _where()

    def perceive(self, line_id: str, clip: bytes, text: str, language: str | None):
        from perception.text import decode_line

        t0, c0 = time.perf_counter(), time.process_time()
        text = decode_line(text, source=line_id)  # an empty or absurdly long line: a bad-input failure
        with tempfile.TemporaryDirectory(prefix="dubber-localize-") as tmp:
            path = Path(tmp) / f"{line_id}.mp4"
            path.write_bytes(clip)
            perceived = self.stage.perceive_line(path, text, language)
        self.lines += 1
        return perceived, {**_where(), "seconds": round(time.perf_counter() - t0, 4),
                           "cpu_seconds": round(time.process_time() - c0, 4)}  # fmt: skip


class SpeechWorker:
    def __init__(self, config: dict):
        self.cfg = _apply_config(config)
        from actors.voice import Actor

        self.actor = Actor.load()

    @ray.method(concurrency_group="probe")
    def where(self) -> dict:
        return _where()

    def info(self) -> dict:
        return {"k": int(self.actor.hp.k), "sample_rate": self.cfg.media.sample_rate}

    def voice_prompt(self, audio: np.ndarray, sr: int):
        return self.actor.voice_prompt(audio, sr)

    def fit_line(self, inputs, pace: float, fit: str):
        return self.actor.fit_line(inputs, pace, fit)

    def perform(self, inputs, prompt, guidance, nodes) -> np.ndarray:
        return np.asarray(self.actor.perform(inputs, prompt, guidance, nodes), dtype=np.float32)


class LineRecorder:
    """Collects a line's messages (as the maps the log stores) and knows the take being performed."""

    def __init__(self, session: str, line: int, sample_rate: int):
        self.session, self.line, self.rate = session, line, sample_rate
        self.frames: list[dict] = []
        self.take = 0

    def __call__(self, message) -> None:
        from ground.messages import ReferencesMessage

        if isinstance(message, ReferencesMessage):
            self.take = message.take
        self.frames.append(message.model_dump(mode="python"))

    def audio(self, audio: np.ndarray) -> None:
        from ground.messages import AudioChunk, to_pcm16

        self(AudioChunk(session=self.session, line=self.line, take=self.take, seq=0, sample_rate=self.rate,
                        pcm16=to_pcm16(audio)))  # fmt: skip


class SpeechPool:
    """``actors.interface.ActorInterface`` served by the speech actors in turn; it times the calls (the acting
    stage's cost) and records each take's audio."""

    emits_audio_chunks = True  # each take's audio is logged as an AudioChunk (not again inside the take)

    def __init__(self, handles: list):
        self.handles = handles
        self._turn = 0
        self._hp = None
        self._prompts: collections.OrderedDict = collections.OrderedDict()
        self.seconds = 0.0
        self.recorder: LineRecorder | None = None

    def _call(self, method: str, *args, patience_s: float = 180.0):
        """One call on the next speech actor; a lost or restarting one is skipped, and while none is
        available the call waits for one (Ray restarts them) up to ``patience_s``."""
        from ray.exceptions import RayActorError

        t0 = time.perf_counter()
        try:
            while True:
                handle = self.handles[self._turn % len(self.handles)]
                self._turn += 1
                try:
                    return ray.get(getattr(handle, method).remote(*args))
                except RayActorError:
                    if time.perf_counter() - t0 > patience_s:
                        raise
                    time.sleep(1.0 / len(self.handles))
        finally:
            self.seconds += time.perf_counter() - t0

    @property
    def hp(self):
        if self._hp is None:
            from types import SimpleNamespace

            self._hp = SimpleNamespace(**self._call("info"))
        return self._hp

    def voice_prompt(self, audio: np.ndarray, sr: int, source=None):
        key = (int(sr), hashlib.sha1(np.ascontiguousarray(audio).tobytes()).hexdigest())
        if key not in self._prompts:
            self._prompts[key] = self._call("voice_prompt", audio, sr)
            while len(self._prompts) > 64:
                self._prompts.popitem(last=False)
        return self._prompts[key]

    def fit_line(self, inputs, pace: float = 1.0, fit: str = "refuse"):
        return self._call("fit_line", inputs, pace, fit)

    def perform(self, inputs, prompt, guidance, nodes) -> np.ndarray:
        audio = self._call("perform", inputs, prompt, guidance, nodes)
        if self.recorder is not None:
            self.recorder.audio(audio)
        return audio


class StageWorker:
    def __init__(self, config: dict, speech: list[str]):
        cfg = _apply_config(config)
        from stage.dubbing import DubbingStage

        lc = cfg.localization
        self.cfg = cfg
        # the speech actors by name (a restarted director finds them again; handles would be pinned objects)
        self.speech = SpeechPool([ray.get_actor(name) for name in speech])
        base = DubbingStage(actor=self.speech, use_llm=lc.use_llm)
        director = copy.copy(base.director)
        director.policy = dataclasses.replace(
            director.policy, max_takes=max(1, min(lc.max_takes, cfg.director.max_takes))
        )
        self.stage = DubbingStage(actor=self.speech, director=director, use_llm=lc.use_llm)
        self.stage.library  # noqa: B018 -- open the library once per actor, now

    @ray.method(concurrency_group="probe")
    def where(self) -> dict:
        return _where()

    def dub(self, meta: dict, perceived_and_info, prompt: np.ndarray) -> dict:
        from ground.messages import LineRequest

        perceived, perception = perceived_and_info
        t0, c0 = time.perf_counter(), time.process_time()
        sr = self.cfg.media.sample_rate
        recorder = LineRecorder(meta["session"], meta["number"], sr)
        self.speech.recorder, self.speech.seconds = recorder, 0.0
        request = LineRequest(session=meta["session"], line=meta["number"], text=perceived.text,
                              character=meta.get("character"), clip_id=meta["id"],
                              timecode_s=meta.get("start_s"))  # fmt: skip
        outcome = self.stage.perform_line(
            self.stage.session(meta["session"]), meta["number"], perceived, prompt, sr,
            character=meta.get("character"), language=meta.get("language"), fit=meta.get("fit", "speed"),
            emit=recorder, request=request,
        )  # fmt: skip
        total = time.perf_counter() - t0
        g = outcome.guidance
        return {
            "audio": outcome.audio.astype(np.float32),
            "sample_rate": outcome.sample_rate,
            "emotion": g.emotion,
            "intensity": round(float(g.intensity), 3),
            "direction": g.direction,
            "takes": outcome.takes,
            "chosen_take": outcome.chosen_take,
            "scores": outcome.scores,
            "warnings": outcome.warnings,
            "references": {m: [r.clip_id for r in refs] for m, refs in outcome.references.items()},
            "messages": recorder.frames,
            "stages": {
                "perception": perception["seconds"],
                "direction": round(total - self.speech.seconds, 4),
                "speech": round(self.speech.seconds, 4),
            },
            "cpu_seconds": {
                "perception": perception.get("cpu_seconds"),
                "direction": round(time.process_time() - c0, 4),
            },
            "workers": {"perception": {k: perception[k] for k in ("node", "pid")}, "director": _where()},
        }


# -- the driver's side ----------------------------------------------------------------------------------------
def root_cause(exc: BaseException) -> BaseException:
    """The innermost error of a chain of Ray task errors (a speech error inside a director call...)."""
    from ray.exceptions import RayTaskError

    seen = 0
    while isinstance(exc, RayTaskError) and getattr(exc, "cause", None) is not None and seen < 8:
        exc, seen = exc.cause, seen + 1
    return exc


def describe_failure(exc: BaseException) -> tuple[str, bool]:
    """(reason, final): a bad-input failure fails the same way every time, so it is not retried."""
    from ray.exceptions import (
        ActorDiedError,
        ActorUnavailableError,
        NodeDiedError,
        ObjectLostError,
        RayActorError,
        WorkerCrashedError,
    )

    from ground.errors import BadInputError, DubberError

    cause = root_cause(exc)
    lost = (ActorDiedError, RayActorError, ActorUnavailableError, WorkerCrashedError, NodeDiedError,
            ObjectLostError)  # fmt: skip
    if isinstance(cause, lost):  # a dead actor or node, or a stage's result that lived on it
        return f"worker lost ({type(cause).__name__}): the line is retried", False
    if isinstance(cause, DubberError):
        text = cause.one_line() if hasattr(cause, "problem") else str(cause).strip().splitlines()[-1]
        return text, isinstance(cause, BadInputError)
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}", False


@dataclasses.dataclass
class Stages:
    perceivers: list
    directors: list
    speech: list

    def all(self) -> list:
        return [*self.perceivers, *self.directors, *self.speech]


def start_stages(cfg) -> Stages:
    """The stage actors with the resources of ``config.localization`` (each restarts when it dies)."""
    lc = cfg.localization
    dump = cfg.model_dump(mode="json")
    opts = {"max_restarts": lc.actor_restarts, "max_task_retries": 0}
    speech_cls = ray.remote(concurrency_groups=PROBE)(SpeechWorker)
    director_cls = ray.remote(concurrency_groups=PROBE)(StageWorker)
    perception_cls = ray.remote(concurrency_groups=PROBE)(PerceptionWorker)
    tag = uuid.uuid4().hex[:8]
    names = [f"localize-{tag}-speech-{i}" for i in range(lc.speech_workers)]
    speech = [speech_cls.options(name=n, num_cpus=lc.speech_cpus, **opts).remote(dump) for n in names]
    directors = [
        director_cls.options(num_cpus=lc.director_cpus, **opts).remote(dump, names)
        for _ in range(lc.director_workers)
    ]
    perceivers = [
        perception_cls.options(num_cpus=lc.perception_cpus, scheduling_strategy="SPREAD", **opts).remote(dump)
        for _ in range(lc.perception_workers)
    ]
    return Stages(perceivers, directors, speech)


def placement(stages: Stages, timeout_s: float = 600.0) -> dict[str, list[str]]:
    """The node of every stage actor (waits until they are constructed: their models are loaded)."""
    refs = {
        kind: [a.where.remote() for a in getattr(stages, kind)]
        for kind in ("perceivers", "directors", "speech")
    }
    return {kind: [w["node"] for w in ray.get(r, timeout=timeout_s)] for kind, r in refs.items()}


def stop_stages(stages: Stages) -> None:
    for a in stages.all():
        ray.kill(a, no_restart=True)


@dataclasses.dataclass
class Flight:
    line_id: str
    ref: object
    perceiver: int
    director: int
    started: float


class Dispatcher:
    """Keeps lines in flight over the stages and reports each end (done or failed try) to ``on_end``."""

    def __init__(self, stages: Stages, capacity: int, timeout_s: float | None = None, events=None):
        self.stages = stages
        self.events = events or (lambda kind, info: None)
        self.capacity = max(1, capacity)
        self.timeout_s = timeout_s
        self.flights: dict[object, Flight] = {}
        self.down: dict[tuple[str, int], dict] = {}

    # -- health: an actor that lost a line is left out until it answers a probe (Ray restarts it) --------
    def _actors(self, key: str) -> list:
        return self.stages.perceivers if key == "perceiver" else self.stages.directors

    def mark_down(self, error: BaseException) -> None:
        """Leave out the actor that an error names as lost (its id is in Ray's actor errors)."""
        from ray.exceptions import RayActorError

        cause = root_cause(error)
        actor_id = getattr(cause, "actor_id", None) if isinstance(cause, RayActorError) else None
        if not actor_id:
            return
        for key in ("perceiver", "director"):
            for i, a in enumerate(self._actors(key)):
                if a._actor_id.hex() == actor_id and (key, i) not in self.down:
                    self.down[(key, i)] = {"probe": a.where.remote(), "since": time.time(), "retry_at": 0.0}
                    log.warning("%s %d lost; left out until Ray has restarted it", key, i)

    def _check_down(self) -> None:
        now = time.time()
        for (key, i), d in list(self.down.items()):
            if d["probe"] is None:
                if now >= d["retry_at"]:
                    d["probe"] = self._actors(key)[i].where.remote()
                continue
            ready, _ = ray.wait([d["probe"]], timeout=0)
            if not ready:
                continue
            try:
                ray.get(d["probe"])
                del self.down[(key, i)]
                log.info("%s %d is back after %.0f s", key, i, now - d["since"])
            except Exception:  # still restarting (or gone): ask again shortly
                d["probe"], d["retry_at"] = None, now + 1.0

    def _least_busy(self, key: str) -> int | None:
        up = [i for i in range(len(self._actors(key))) if (key, i) not in self.down]
        if not up:
            return None
        load = collections.Counter(getattr(f, key) for f in self.flights.values())
        return min(up, key=lambda i: (load[i], i))

    @property
    def can_submit(self) -> bool:
        self._check_down()
        return len(self.flights) < self.capacity and all(
            self._least_busy(k) is not None for k in ("perceiver", "director")
        )

    @property
    def all_down_since(self) -> float | None:
        """Since when a whole stage has been unavailable (None while each stage has an actor up)."""
        for key in ("perceiver", "director"):
            n = len(self._actors(key))
            if all((key, i) in self.down for i in range(n)):
                return min(self.down[(key, i)]["since"] for i in range(n))
        return None

    def submit(self, line_id: str, clip: bytes, text: str, language, meta: dict, prompt_ref) -> None:
        p, d = self._least_busy("perceiver"), self._least_busy("director")
        perceived = self.stages.perceivers[p].perceive.remote(line_id, clip, text, language)
        ref = self.stages.directors[d].dub.remote(meta, perceived, prompt_ref)
        self.flights[ref] = Flight(line_id, ref, p, d, time.time())
        self.events("submitted", {"line": line_id, "perceiver": p, "director": d})

    def wait(self, timeout: float = 1.0) -> list[tuple[str, dict | None, BaseException | None]]:
        """Lines that ended: (line id, result, None) or (line id, None, the error)."""
        if not self.flights:
            time.sleep(min(timeout, 0.5))  # nothing in flight: a stage is being restarted
            return []
        ready, _ = ray.wait(list(self.flights), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            flight = self.flights.pop(ref)
            try:
                out.append((flight.line_id, ray.get(ref), None))
            except Exception as exc:  # every failure of a try is recorded; the job goes on
                self.mark_down(exc)
                out.append((flight.line_id, None, exc))
        if self.timeout_s:
            now = time.time()
            for ref, flight in list(self.flights.items()):
                if now - flight.started > self.timeout_s:
                    ray.cancel(ref, force=False)
                    self.flights.pop(ref)
                    out.append((flight.line_id, None, TimeoutError(f"no result after {self.timeout_s:g} s")))
        return out
