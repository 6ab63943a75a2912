"""The lines of a localisation job: subtitles (SRT or WebVTT, in the target language) or a manifest.

Subtitle parsing is ``corpora.subtitles`` (the corpus readers take the same files): timecodes, and a
speaker tag per cue as ``[ANNA] text``, ``ANNA: text`` or a WebVTT voice span ``<v Anna>text``. This module
turns cues into ``LineSpec`` records, one per line to dub, and checks them against the film.

A manifest (``--manifest lines.jsonl``) holds one JSON object per line, for many films or clips in one job:

    {"video": "film1.mp4", "text": "Get out!", "character": "ANNA", "start_s": 12.3, "end_s": 14.1}
    {"video": "clips/c7.mp4", "text": "Fine.", "character": "BO", "voices": "voices.yaml"}
    {"video": "film2.mp4", "text": "Run!", "character": "ANNA", "start_s": 3, "end_s": 4, "me": "film2_me.wav"}

``video``, ``voices`` and ``me`` (the film's music-and-effects track) are relative to the manifest; without ``start_s``/``end_s`` the line is the whole
video; ``voices`` defaults to the job's ``--voices``; ``id`` defaults to the film and the row number.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ground.errors import BadInputError

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_id(text: str, limit: int = 40) -> str:
    """A name usable in file names and session ids (``ground.protocol.ID_PATTERN``)."""
    return (_UNSAFE.sub("-", text).strip("-.") or "film")[:limit]


@dataclass(frozen=True)
class LineSpec:
    id: str  # unique in the job: "l0007" (one film) or "<film>-l0007"
    film: str  # the film it belongs to (one mix and one dubbed mp4 per film)
    video: str  # the source video file
    number: int  # the subtitle's cue number (1-based), or the manifest row
    text: str
    character: str | None
    start_s: float | None  # the span inside ``video``; None: the whole file
    end_s: float | None
    voices: str | None = None  # the voices.yaml of this line (manifests); None: the job's
    me: str | None = None  # the film's music-and-effects track (manifests)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LineSpec:
        return cls(**d)

    @property
    def where(self) -> str:
        span = f" ({self.start_s:.2f}-{self.end_s:.2f} s)" if self.start_s is not None else ""
        return f"line {self.number}{span}"


def read_subtitle_lines(subs: str | Path, video: str | Path, film: str | None = None) -> list[LineSpec]:
    """Every cue of an .srt/.vtt file as a line of ``video``. Errors name the file and the line number."""
    from corpora.subtitles import read_subtitles

    subs = Path(subs)
    if subs.suffix.lower() not in (".srt", ".vtt"):
        raise BadInputError("subtitles must be an .srt or .vtt file", source=subs)
    cues = read_subtitles(subs)  # no cues, a bad timing or an inverted span: BadInputError with the line
    film = film or safe_id(Path(video).stem)
    return [
        LineSpec(
            id=f"l{cue.index:04d}",
            film=film,
            video=str(Path(video).resolve()),
            number=cue.index,
            text=cue.text,
            character=cue.speaker,
            start_s=cue.start_s,
            end_s=cue.end_s,
        )
        for cue in sorted(cues, key=lambda c: c.index)
    ]


def read_manifest(path: str | Path) -> list[LineSpec]:
    """The lines of a JSONL manifest; a row that cannot be used is an error naming its line number."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError("manifest not found", source=path)
    base = path.parent
    lines: list[LineSpec] = []
    counts: dict[str, int] = {}
    from corpora.readers import jsonl_rows

    for n, row in jsonl_rows(path):
        if not isinstance(row, dict) or not row.get("video") or not str(row.get("text", "")).strip():
            raise BadInputError(f'line {n} needs at least "video" and "text"', source=path)
        start, end = row.get("start_s"), row.get("end_s")
        if (start is None) != (end is None):
            raise BadInputError(f"line {n}: give both start_s and end_s, or neither", source=path)
        try:
            start = None if start is None else float(start)
            end = None if end is None else float(end)
        except (TypeError, ValueError):
            raise BadInputError(f"line {n}: start_s/end_s must be numbers of seconds", source=path) from None
        if start is not None and (start < 0 or end <= start):
            raise BadInputError(f"line {n}: the span {start}-{end} s is empty or negative", source=path)
        video = (Path(row["video"]) if Path(row["video"]).is_absolute() else base / row["video"]).resolve()
        film = safe_id(str(row.get("film") or video.stem))
        counts[film] = counts.get(film, 0) + 1
        line_id = safe_id(str(row.get("id") or f"{film}-l{counts[film]:04d}"), 60)
        voices, me = row.get("voices"), row.get("me")
        lines.append(
            LineSpec(
                id=line_id,
                film=film,
                video=str(video),
                number=n,
                text=str(row["text"]).strip(),
                character=row.get("character"),
                start_s=start,
                end_s=end,
                voices=str((base / voices).resolve()) if voices else None,
                me=str((base / me).resolve()) if me else None,
            )
        )
    if not lines:
        raise BadInputError("the manifest holds no lines", source=path)
    seen: set[str] = set()
    for line in lines:
        if line.id in seen:
            raise BadInputError(f"line {line.number}: id {line.id!r} is used twice", source=path)
        seen.add(line.id)
    return lines


def span_problem(line: LineSpec, film_seconds: float | None, min_seconds: float) -> str | None:
    """Why a line's span cannot be cut from its film (None when it can)."""
    if line.start_s is None or line.end_s is None:
        return None
    if line.end_s - line.start_s < min_seconds:
        return f"the span is {line.end_s - line.start_s:.2f} s; at least {min_seconds:g} s is needed"
    if film_seconds is not None and line.end_s > film_seconds + 0.05:
        return (
            f"the span {line.start_s:.2f}-{line.end_s:.2f} s lies outside the film "
            f"({film_seconds:.2f} s long)"
        )
    return None
