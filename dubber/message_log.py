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


def read_log(path: str | Path) -> LogContents:
    data = Path(path).read_bytes()
    out = LogContents()
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True)
    unpacker.feed(data)
    offset = 0
    while True:
        try:
            item = unpacker.unpack()
        except msgpack.OutOfData:
            if offset < len(data):
                out.damaged_at, out.problem = (
                    offset,
                    f"truncated frame ({len(data) - offset} bytes at the end)",
                )
            return out
        except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError) as exc:
            out.damaged_at, out.problem = offset, f"unreadable frame ({type(exc).__name__})"
            return out
        try:
            out.messages.append(from_dict(item))
        except MessageError as exc:
            out.damaged_at, out.problem = offset, str(exc)
            return out
        offset = unpacker.tell()
