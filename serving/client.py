"""A Python client of the dubbing server (asyncio, on the ``websockets`` package), and ``dubber client``.

    async with DubbingClient("ws://127.0.0.1:8000/v1/session", token=None) as c:
        ready = await c.open({"Ada": Path("ada.wav")}, sample_rate=24000)
        await c.send_line(1, "Get out of my house!", video=Path("clip.mp4"), character="Ada")
        async for frame in c.line_frames(1):     # guidance, references, audio, take, review, accept, line_end
            ...
        await c.close()

``dubber client --video V --text "..." --voice P --out OUT.wav`` writes each take's audio as its chunks
arrive (``OUT.take<N>.wav.partial``) and keeps the take the director chose as ``OUT.wav``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ground.protocol import pack


def _bytes(value) -> bytes:
    return Path(value).read_bytes() if isinstance(value, str | Path) else bytes(value)


class DubbingClient:
    def __init__(self, url: str = "ws://127.0.0.1:8000/v1/session", token: str | None = None):
        self.url, self.token = url, token
        self.ws = None
        self.session: str | None = None
        self.ready = None
        self._pending: list = []  # frames read while waiting for something else

    async def connect(self) -> DubbingClient:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        self.ws = await connect(self.url, additional_headers=headers, max_size=None, open_timeout=30)
        return self

    async def __aenter__(self) -> DubbingClient:
        return await self.connect()

    async def __aexit__(self, *exc) -> None:
        await self.disconnect()

    async def disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    # -- sending --------------------------------------------------------------------------------------
    async def send(self, frame: dict) -> None:
        await self.ws.send(pack(frame))

    async def send_raw(self, data: bytes) -> None:
        await self.ws.send(data)

    async def open(self, voices: dict, sample_rate: int = 16000, max_takes: int | None = None,
                   name: str | None = None, language: str | None = None):  # fmt: skip
        """Voices: character -> an audio file (path or bytes), or (float32 array, sample rate)."""
        import numpy as np

        def voice(v):
            if isinstance(v, tuple):
                audio, sr = v
                pcm = (np.clip(np.asarray(audio, np.float32), -1, 1) * 32767).astype("<i2").tobytes()
                return {"pcm16": pcm, "sample_rate": int(sr)}
            return {"audio": _bytes(v)}

        await self.send({
            "type": "open", "voices": {k: voice(v) for k, v in voices.items()}, "sample_rate": sample_rate,
            "max_takes": max_takes, "name": name, "language": language,
        })  # fmt: skip
        frame = await self.expect("ready")
        self.session, self.ready = frame.session, frame
        return frame

    async def register_clip(self, clip_id: str, video) -> None:
        await self.send({"type": "clip", "clip_id": clip_id, "video": _bytes(video)})
        await self.expect("clip_registered")

    async def send_line(self, line: int, text: str, video=None, clip_id: str | None = None,
                        character: str | None = None, timecode_s: float | None = None,
                        language: str | None = None, fit: str = "refuse") -> None:  # fmt: skip
        await self.send({
            "type": "line", "line": line, "text": text, "character": character, "clip_id": clip_id,
            "video": _bytes(video) if video is not None else None, "timecode_s": timecode_s,
            "language": language, "fit": fit,
        })  # fmt: skip

    async def cancel(self, line: int) -> None:
        await self.send({"type": "cancel", "line": line})

    async def close(self, timeout: float = 600):
        """Ask the server to finish the lines sent and close; returns the ``closed`` frame."""
        await self.send({"type": "close"})
        frame = await self.expect("closed", timeout)
        await self.disconnect()
        return frame

    # -- receiving ------------------------------------------------------------------------------------
    async def recv(self, timeout: float | None = None):
        """The next frame from the server, typed (``ground.messages`` or ``ground.protocol``)."""
        from ground.protocol import decode_server

        if self._pending:
            return self._pending.pop(0)
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        return decode_server(data)

    async def expect(self, kind: str, timeout: float = 120):
        """Frames until one of ``kind``; an error frame (not for a line) raises ``ServerError``."""
        skipped = []
        try:
            while True:
                frame = await self.recv(timeout)
                if frame.type == kind:
                    return frame
                if frame.type == "error" and frame.line == 0:
                    raise ServerError(frame.code, frame.message)
                skipped.append(frame)
        finally:
            self._pending = skipped + self._pending

    async def frames(self, timeout: float | None = None) -> AsyncIterator:
        while True:
            yield await self.recv(timeout)

    async def line_frames(self, line: int, timeout: float = 300) -> AsyncIterator:
        """Every frame of one line up to and including its ``line_end``."""
        while True:
            frame = await self.recv(timeout)
            yield frame
            if frame.type == "line_end" and frame.line == line:
                return


class ServerError(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


class TakeWriter:
    """Each take's audio to its own file as its chunks arrive; ``keep`` moves the chosen one into place."""

    def __init__(self, out: Path):
        self.out = out
        self.files: dict[int, object] = {}
        self.samples: dict[int, int] = {}

    def path(self, take: int) -> Path:
        return self.out.with_name(f"{self.out.stem}.take{take}.wav.partial")

    def write(self, chunk) -> None:
        import numpy as np
        import soundfile as sf

        if chunk.take not in self.files:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.files[chunk.take] = sf.SoundFile(
                self.path(chunk.take), "w", samplerate=chunk.sample_rate, channels=1, subtype="PCM_16",
                format="WAV",
            )  # fmt: skip
        pcm = np.frombuffer(chunk.pcm16, dtype="<i2")
        self.files[chunk.take].write(pcm)
        self.files[chunk.take].flush()
        self.samples[chunk.take] = self.samples.get(chunk.take, 0) + len(pcm)

    def keep(self, take: int | None) -> None:
        for f in self.files.values():
            f.close()
        for t in list(self.files):
            if t == take:
                os.replace(self.path(t), self.out)
            else:
                self.path(t).unlink(missing_ok=True)


# -- the command ------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--url", help="the server's websocket (default: ws://<serving.host>:<serving.port>/v1/session)"
    )
    p.add_argument("--token", help="bearer token (default: serving.token)")
    p.add_argument("--video", type=Path, required=True, help="the silent clip (sent as bytes)")
    p.add_argument("--text", required=True, help="the line to speak")
    p.add_argument("--voice", type=Path, required=True, help="the character's voice prompt (audio file)")
    p.add_argument("--out", type=Path, required=True, help="the chosen take (wav), written as it streams")
    p.add_argument("--character", default="speaker")
    p.add_argument("--sample-rate", type=int, default=16000, choices=[16000, 24000, 48000])
    p.add_argument("--max-takes", type=int)
    p.add_argument("--language")
    p.add_argument("--fit", choices=["refuse", "speed"], default="refuse")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")


async def dub_one(args) -> dict:
    from ground.config import get_config
    from ground.errors import BadInputError

    s = get_config().serving
    url = args.url or f"ws://{s.host}:{s.port}/v1/session"
    for f in (args.video, args.voice):
        if not f.is_file():
            raise BadInputError("not found", source=f)
    writer = TakeWriter(args.out)
    report: dict = {"out": str(args.out), "errors": []}
    t0 = time.perf_counter()
    async with DubbingClient(url, args.token or s.token) as c:
        try:
            ready = await c.open({args.character: args.voice}, args.sample_rate, args.max_takes)
        except ServerError as exc:
            raise BadInputError(str(exc), source=url) from None
        report["session"] = ready.session
        await c.send_line(1, args.text, video=args.video, character=args.character, language=args.language,
                          fit=args.fit)  # fmt: skip
        async for frame in c.line_frames(1):
            if frame.type == "audio":
                if "first_chunk_s" not in report:
                    report["first_chunk_s"] = round(time.perf_counter() - t0, 3)
                writer.write(frame)
            elif frame.type == "guidance":
                report.update(emotion=frame.guidance.emotion, direction=frame.guidance.direction)
            elif frame.type == "error":
                report["errors"].append(f"{frame.code}: {frame.message}")
            elif frame.type == "line_end":
                report.update(status=frame.status, chosen_take=frame.chosen_take, takes=frame.takes)
        writer.keep(report.get("chosen_take") if report.get("status") == "done" else None)
        await c.close()
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report


def run(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError

    try:
        report = asyncio.run(dub_one(args))
    except (TimeoutError, OSError) as exc:
        raise BadInputError(f"cannot reach the server ({exc})", source=args.url or "server") from None
    if args.json:
        print(json.dumps(report, indent=1))
    elif report.get("status") == "done":
        print(
            f"{report.get('emotion')}: take {report['chosen_take']} of {report['takes']}, first audio after "
            f"{report.get('first_chunk_s')} s, {report['seconds']} s in all -> {report['out']}"
        )
    for e in report["errors"]:
        print(f"error: {e}", file=sys.stderr)
    return 0 if report.get("status") == "done" else 2
