"""SRT and WebVTT subtitles: cues with times, text and an optional speaker tag.

A speaker tag is either ``[Name] text``, ``Name: text`` (a capitalised name of at most three words) or
a WebVTT voice span ``<v Name>text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ground.errors import BadInputError

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_ARROW = re.compile(rf"({_TIME.pattern})\s*-->\s*({_TIME.pattern})")
_TAG_BRACKET = re.compile(r"^\s*\[([^\]]{1,40})\]\s*(.*)$", re.S)
_TAG_COLON = re.compile(r"^\s*([A-Z][\w'.-]*(?: [A-Z][\w'.-]*){0,2}):\s+(.*)$", re.S)
_TAG_VTT = re.compile(r"^\s*<v(?:\.[\w.]+)?\s+([^>]+)>(.*?)(?:</v>)?\s*$", re.S)
_MARKUP = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Cue:
    index: int
    start_s: float
    end_s: float
    text: str
    speaker: str | None = None


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000.0


def split_speaker(text: str) -> tuple[str | None, str]:
    for pattern in (_TAG_VTT, _TAG_BRACKET, _TAG_COLON):
        m = pattern.match(text)
        if m:
            return m.group(1).strip(), _MARKUP.sub("", m.group(2)).strip()
    return None, _MARKUP.sub("", text).strip()


def read_subtitles(path: str | Path) -> list[Cue]:
    """Cues of an .srt or .vtt file, in time order. Malformed blocks are an error naming the line."""
    p = Path(path)
    try:
        raw = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise BadInputError("subtitle file not found", source=p) from None
    except UnicodeDecodeError as exc:
        raise BadInputError(f"subtitles are not valid UTF-8 (byte {exc.start})", source=p) from None
    cues: list[Cue] = []
    blocks = re.split(r"\r?\n\s*\r?\n", raw.strip())
    line_no = 1
    for block in blocks:
        lines = block.splitlines()
        timing = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        if timing is None:
            if lines and not lines[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
                raise BadInputError(f"block at line {line_no} has no 'start --> end' timing", source=p)
        else:
            m = _ARROW.search(lines[timing])
            if not m:
                raise BadInputError(f"bad timing at line {line_no + timing}: {lines[timing]!r}", source=p)
            g = m.groups()
            start, end = _seconds(*g[1:5]), _seconds(*g[6:10])
            if end <= start:
                raise BadInputError(f"cue at line {line_no + timing} ends before it starts", source=p)
            speaker, text = split_speaker(" ".join(ln.strip() for ln in lines[timing + 1 :]))
            if text:
                cues.append(Cue(len(cues) + 1, start, end, text, speaker))
        line_no += len(lines) + 1
    if not cues:
        raise BadInputError("no subtitle cues found", source=p)
    return sorted(cues, key=lambda c: c.start_s)
