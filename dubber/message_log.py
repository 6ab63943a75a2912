"""A session's message log: every director-actor message, appended as one msgpack frame, flushed per message.

The file is a plain concatenation of msgpack maps (the wire format of ``dubber.messages``), so any msgpack
reader streams it. A crash loses at most the message being written; ``read_log`` returns every complete
message before damage and says where it stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from dubber.messages import Message, MessageError, encode, from_dict


class MessageLogWriter:
    def __init__(self, path: str | Path, durable: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("ab")
        self.durable = durable
        self.count = 0

    def append(self, message) -> None:
        self._file.write(encode(message))
        self._file.flush()
        if self.durable:
            os.fsync(self._file.fileno())
        self.count += 1

    __call__ = append

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> MessageLogWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class LogContents:
    messages: list[Message] = field(default_factory=list)
    damaged_at: int | None = None  # byte offset of the first frame that could not be read
    problem: str | None = None


def scan_frames(data: bytes) -> tuple[list[tuple[int, int, object]], int | None, str | None]:
    """Every complete msgpack frame of a log's bytes as ``(offset, length, item)``, in order, up to the
    first damage, and where and what that damage is (None, None for a whole log). Both log readers (this
    one and ``serving.logs``) walk a file with it."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=max(len(data), 1 << 20))
    unpacker.feed(data)
    frames: list[tuple[int, int, object]] = []
    offset = 0
    while True:
        try:
            item = unpacker.unpack()
        except msgpack.OutOfData:
            if offset < len(data):
                return frames, offset, f"truncated frame ({len(data) - offset} bytes at the end)"
            return frames, None, None
        except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
            return frames, offset, f"unreadable frame ({type(exc).__name__})"
        end = unpacker.tell()
        frames.append((offset, end - offset, item))
        offset = end


def read_log(path: str | Path) -> LogContents:
    frames, damaged_at, problem = scan_frames(Path(path).read_bytes())
    out = LogContents()
    for offset, _, item in frames:
        try:
            out.messages.append(from_dict(item))
        except MessageError as exc:
            out.damaged_at, out.problem = offset, str(exc)
            return out
    out.damaged_at, out.problem = damaged_at, problem
    return out
