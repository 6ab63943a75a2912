"""The actor as the director's stage sees it, when the actor is a Serve deployment behind a handle.

``RemoteActor`` gives ``DubbingStage`` the part of ``actors.voice.Actor`` it uses; its ``perform`` streams
from the ActorWorker and emits every chunk (resampled to the session's rate) as an ``AudioChunk`` through
the ``LineContext`` of the thread working on the line. Kept out of ``serving.app`` because Serve pickles the
deployment classes by value.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np


class LineCancelled(Exception):
    pass


class LineContext:
    """What the actor proxy needs to know about the line its thread is working on."""

    def __init__(self, put, cancel: threading.Event, session: str, line: int, rate: int):
        self.put, self.cancel, self.session, self.line, self.rate = put, cancel, session, line, rate
        self.take = 0
        self.director_session = None

    def emit(self, message) -> None:
        from ground.messages import GuidanceMessage, ReferencesMessage, encode

        if self.cancel.is_set():
            raise LineCancelled()
        if isinstance(message, ReferencesMessage):
            self.take = message.take
        self.put(encode(message))  # the message's one wire format (msgpack), as the log and the client get it
        if isinstance(message, GuidanceMessage) and message.take == 0 and self.director_session:
            # the line is directed: the next line may start (look-ahead) with this decision in its context
            self.put({"type": "_context", "context": self.director_session.context()})

    def audio(self, chunk: np.ndarray, seq: int) -> None:
        from ground.messages import AudioChunk, encode, to_pcm16

        if self.cancel.is_set():
            raise LineCancelled()
        self.put(
            encode(
                AudioChunk(
                    session=self.session,
                    line=self.line,
                    take=self.take,
                    seq=seq,
                    sample_rate=self.rate,
                    pcm16=to_pcm16(chunk),
                )
            )
        )


_local = threading.local()


def set_context(ctx) -> None:
    _local.ctx = ctx


class RemoteActor:
    """``actors.interface.ActorInterface`` served by the ActorWorker deployment; ``perform`` streams and emits each chunk as an ``AudioChunk`` on its way."""

    emits_audio_chunks = True  # the stage need not log each take's audio again in its take message

    def __init__(self, handle):
        self.handle = handle
        self._hp = None
        self._prompts: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    @property
    def hp(self):
        if self._hp is None:
            info = self.handle.info.remote().result()
            self._hp = SimpleNamespace(k=info["k"], sample_rate=info["sample_rate"])
        return self._hp

    def voice_prompt(self, audio: np.ndarray, sr: int, source=None):
        key = (int(sr), hashlib.sha1(np.ascontiguousarray(audio).tobytes()).hexdigest())
        with self._lock:
            if key in self._prompts:
                self._prompts.move_to_end(key)
                return self._prompts[key]
        prompt = self.handle.voice_prompt.remote(audio, sr).result()
        with self._lock:
            self._prompts[key] = prompt
            while len(self._prompts) > 64:
                self._prompts.popitem(last=False)
        return prompt

    def fit_line(self, inputs, pace: float = 1.0, fit: str = "refuse"):
        return self.handle.fit_line.remote(inputs, pace, fit).result()

    def perform(self, inputs, prompt, guidance, nodes) -> np.ndarray:
        import soxr

        ctx: LineContext = _local.ctx
        source_rate = self.hp.sample_rate
        resampler = (
            soxr.ResampleStream(source_rate, ctx.rate, 1, dtype="float32", quality="HQ")
            if ctx.rate != source_rate
            else None
        )
        gen = self.handle.options(stream=True).stream.remote(inputs, prompt, guidance, nodes)
        parts, seq, finished = [], 0, False
        try:
            for chunk in gen:
                parts.append(chunk)
                out = resampler.resample_chunk(chunk) if resampler else chunk
                if len(out):
                    ctx.audio(out, seq)
                    seq += 1
            finished = True
            if resampler:
                tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
                if len(tail):
                    ctx.audio(tail, seq)
        finally:
            if not finished:
                gen.cancel()
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)
