"""The job's state on disk: what is done, what failed and why, so a killed job resumes where it stopped.

    DIR/job.json               the job: its films, lines, settings and a state summary (rewritten as it goes)
    DIR/state/<line>.json      one record per line that ended: done (wav, log, emotion, takes, scores,
                               stage times) or failed (every try's reason); written last, atomically
    DIR/lines/<line>.wav       the dubbed line
    DIR/logs/<job>-<line>.msgpack (+ .index)  the line's director-actor messages (ground.message_log format)
    DIR/work/clips/<line>.mp4  the line's cut of the film (a cache; safe to delete)
    DIR/<film>.dubbed.mp4, DIR/<film>.dialogue.wav, DIR/report.json

Exactly once: a line's wav and log are written under temporary names and renamed into place, then its
state record (the commit point) is renamed into place. A line counts as done only when its record says so
and its wav and log exist and its fingerprint (text, span, character, voice, video) matches the job's, so
a rerun after a kill at any moment redoes at most the lines that were in flight, and a line whose
subtitle changed is redone.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ground.files import atomic_write_json
from localization.subtitles import LineSpec

JOB_FORMAT = 1


def file_digest(path: str | Path) -> str:
    h = hashlib.sha1()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def fingerprint(line: LineSpec, voice_digest: str, video_key: str) -> str:
    """What makes a line's result valid: if any of it changes, the line is dubbed again."""
    doc = [line.text, line.character, line.start_s, line.end_s, voice_digest, video_key]
    return hashlib.sha1(json.dumps(doc).encode()).hexdigest()[:16]


@dataclass
class LineState:
    id: str
    status: str  # "done" | "failed"
    fingerprint: str
    tries: list[dict] = field(default_factory=list)  # {"try": n, "error": "...", "stage": "...", "at": ts}
    result: dict = field(default_factory=dict)  # done: wav, log, emotion, takes, scores, seconds...

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "fingerprint": self.fingerprint, "tries": self.tries,
                **({"result": self.result} if self.result else {})}  # fmt: skip


class JobFolder:
    """The output folder of one job."""

    def __init__(self, root: str | Path, job_id: str):
        self.root = Path(root)
        self.job_id = job_id
        self.state_dir = self.root / "state"
        self.lines_dir = self.root / "lines"
        self.logs_dir = self.root / "logs"
        self.clips_dir = self.root / "work" / "clips"
        for d in (self.state_dir, self.lines_dir, self.logs_dir, self.clips_dir):
            d.mkdir(parents=True, exist_ok=True)

    def session_id(self, line_id: str) -> str:
        return f"{self.job_id}-{line_id}"[:64]

    def wav_path(self, line_id: str) -> Path:
        return self.lines_dir / f"{line_id}.wav"

    def log_path(self, line_id: str) -> Path:
        return self.logs_dir / f"{self.session_id(line_id)}.msgpack"

    def clip_path(self, line_id: str) -> Path:
        return self.clips_dir / f"{line_id}.mp4"

    def state_path(self, line_id: str) -> Path:
        return self.state_dir / f"{line_id}.json"

    def read_state(self, line_id: str) -> LineState | None:
        p = self.state_path(line_id)
        if not p.is_file():
            return None
        try:
            d = json.loads(p.read_text())
            return LineState(d["id"], d["status"], d["fingerprint"], d.get("tries", []), d.get("result", {}))
        except (ValueError, KeyError, TypeError):
            return None  # a record that cannot be read is not trusted: the line is redone

    def is_done(self, line_id: str, fp: str) -> bool:
        s = self.read_state(line_id)
        return bool(
            s and s.status == "done" and s.fingerprint == fp
            and self.wav_path(line_id).is_file() and self.log_path(line_id).is_file()
        )  # fmt: skip

    def write_state(self, state: LineState) -> None:
        atomic_write_json(self.state_path(state.id), state.to_dict(), durable=True)

    def clean_temporaries(self) -> int:
        """Remove what a killed run left half-written (temp files of wavs, logs, states, clips)."""
        n = 0
        for d in (self.state_dir, self.lines_dir, self.logs_dir, self.clips_dir, self.logs_dir / ".tries"):
            if d.is_dir():
                for p in d.iterdir():
                    if p.is_file() and p.name.startswith(".") and ".tmp" in p.name or d.name == ".tries":
                        p.unlink(missing_ok=True)
                        n += 1
        return n

    def write_job(self, doc: dict) -> None:
        atomic_write_json(
            self.root / "job.json", {"format": JOB_FORMAT, "updated": time.time(), **doc}, durable=True
        )
