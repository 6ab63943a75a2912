"""Corpus readers. Each layout yields the same ``ClipRecord``; ``read_corpus`` picks the layout itself.

Layouts
-------
``synthetic``
    What ``dubber corpus synth`` writes: ``manifest.jsonl`` + ``clips/<id>/{video.mp4,audio.wav,line.txt}``.
``v2c``
    The V2C-Animation release (Chen et al., CVPR 2022)::

        <root>/movie_dataset/<movie>/<movie>_speeches/<Character>/00/<Character>-00-<id>.{wav,flac}
        <root>/movie_dataset/<movie>/<movie>_speeches/<Character>/00/<Character>-00-<id>.normalized.txt
        <root>/movie_dataset/<movie>/<movie>_videos/<Character>/<id>.mp4

    Optional: ``<root>/emotions.tsv`` (``clip_id<TAB>emotion``, clip id ``<movie>/<Character>-00-<id>``)
    and ``<root>/{train,val,test}.txt`` (one clip id per line) for labels and splits.
``folder``
    A user's folder of clips: each video (mp4, mkv, mov, webm) with either ``<stem>.txt`` (the line
    spoken in the whole clip) or ``<stem>.srt``/``<stem>.vtt`` (one record per cue, cut by its times);
    ``<stem>.wav`` is the clip's speech when present.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from corpora.records import SPLITS, ClipRecord
from ground.errors import BadInputError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm")
AUDIO_SUFFIXES = (".wav", ".flac")


def detect_layout(root: Path) -> str:
    if (root / "manifest.jsonl").is_file():
        return "synthetic"
    if (root / "movie_dataset").is_dir():
        return "v2c"
    if any(p.suffix.lower() in VIDEO_SUFFIXES for p in root.iterdir()):
        return "folder"
    raise BadInputError(
        "not a corpus: no manifest.jsonl, no movie_dataset/ folder and no video files", source=root
    )


def read_corpus(path: str | Path, split: str | None = None, layout: str = "auto") -> list[ClipRecord]:
    root = Path(path)
    if not root.is_dir():
        raise BadInputError("corpus folder not found", source=root)
    if split is not None and split not in SPLITS:
        raise BadInputError(f"unknown split {split!r}", hint="one of " + ", ".join(SPLITS))
    layout = detect_layout(root) if layout == "auto" else layout
    readers = {"synthetic": _read_synthetic, "v2c": _read_v2c, "folder": _read_folder}
    if layout not in readers:
        raise BadInputError(f"unknown corpus layout {layout!r}", hint="one of " + ", ".join(readers))
    records = list(readers[layout](root))
    if split is not None:
        records = [r for r in records if r.split == split]
    return records


_SYNTHETIC_META_KEYS = ("num_frames", "duration_s", "wording", "dir", "fps", "drawing", "palette")


def jsonl_rows(path: Path) -> Iterator[tuple[int, object]]:
    """``(line number, value)`` of each non-blank line of a JSONL file; bad UTF-8 or JSON is an error naming
    the line."""
    try:
        rows = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BadInputError(f"not valid UTF-8 (byte {exc.start})", source=path) from None
    for n, raw in enumerate(rows, 1):
        if not raw.strip():
            continue
        try:
            yield n, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"line {n} is not JSON ({exc.msg})", source=path) from None


def _read_synthetic(root: Path) -> Iterator[ClipRecord]:
    manifest = root / "manifest.jsonl"
    for n, row in jsonl_rows(manifest):
        if row.get("status", "ok") != "ok":
            continue
        try:
            clip = (root / row["dir"]).resolve()
            yield ClipRecord(
                clip_id=str(row["clip_id"]),
                video_path=clip / "video.mp4",
                audio_path=clip / "audio.wav",
                text=str(row["text"]),
                speaker=row.get("speaker"),
                character=row.get("character"),
                film=row.get("film"),
                emotion=row.get("emotion"),
                intensity=row.get("intensity"),
                split=row.get("split"),
                meta={k: row[k] for k in _SYNTHETIC_META_KEYS if row.get(k) is not None},
            )
        except KeyError as exc:
            raise BadInputError(f"line {n}: missing field {exc.args[0]!r}", source=manifest) from None


def _read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _read_v2c(root: Path) -> Iterator[ClipRecord]:
    emotions: dict[str, str] = {}
    if (root / "emotions.tsv").is_file():
        for ln in _read_lines(root / "emotions.tsv"):
            clip_id, _, emotion = ln.partition("\t")
            emotions[clip_id] = emotion.strip().lower()
    split_of: dict[str, str] = {}
    for name, split in (("train", "train"), ("val", "valid"), ("test", "test-seen-speakers")):
        if (root / f"{name}.txt").is_file():
            split_of.update(dict.fromkeys(_read_lines(root / f"{name}.txt"), split))
    for movie_dir in sorted((root / "movie_dataset").iterdir()):
        movie = movie_dir.name
        speeches = movie_dir / f"{movie}_speeches"
        videos = movie_dir / f"{movie}_videos"
        if not speeches.is_dir():
            log.warning("%s: no %s_speeches folder, skipped", movie_dir, movie)
            continue
        for text_file in sorted(speeches.glob("*/*/*.normalized.txt")):
            stem = text_file.name[: -len(".normalized.txt")]
            character = text_file.parent.parent.name
            number = stem.rsplit("-", 1)[-1]
            video = videos / character / f"{number}.mp4"
            audio = next(
                (
                    text_file.with_name(stem + s)
                    for s in AUDIO_SUFFIXES
                    if text_file.with_name(stem + s).is_file()
                ),
                None,
            )
            if not video.is_file():
                log.warning("%s: no video %s, skipped", text_file, video)
                continue
            clip_id = f"{movie}/{stem}"
            yield ClipRecord(
                clip_id=clip_id,
                video_path=video,
                audio_path=audio,
                text=text_file.read_text(encoding="utf-8").strip(),
                speaker=f"{movie}/{character}",
                character=character,
                film=movie,
                emotion=emotions.get(clip_id),
                split=split_of.get(clip_id),
            )


def _read_folder(root: Path) -> Iterator[ClipRecord]:
    from corpora.subtitles import read_subtitles

    for video in sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES):
        audio = next((video.with_suffix(s) for s in AUDIO_SUFFIXES if video.with_suffix(s).is_file()), None)
        subs = next((video.with_suffix(s) for s in (".srt", ".vtt") if video.with_suffix(s).is_file()), None)
        txt = video.with_suffix(".txt")
        if subs is not None:
            for cue in read_subtitles(subs):
                yield ClipRecord(
                    clip_id=f"{video.stem}-{cue.index:04d}",
                    video_path=video,
                    audio_path=audio,
                    text=cue.text,
                    speaker=cue.speaker,
                    character=cue.speaker,
                    film=video.stem,
                    start_s=cue.start_s,
                    end_s=cue.end_s,
                )
        elif txt.is_file():
            yield ClipRecord(
                clip_id=video.stem,
                video_path=video,
                audio_path=audio,
                text=txt.read_text(encoding="utf-8").strip(),
                film=root.name,
            )
        else:
            log.warning("%s: no transcript (%s.txt, .srt or .vtt), skipped", video, video.stem)
