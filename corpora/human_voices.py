"""Real human voices for timbre prompts: Czech actors' recordings of the game Fish Fillets NG.

Debian's ``fillets-ng-data-cs`` ships the game's Czech dialogue, spoken by actors, as Ogg Vorbis files under
``/usr/share/games/fillets-ng/sound/<level>/cs/``. The synthetic corpus's voices are all engines; these are the
real voices a dubbing request brings as its timbre prompt (section 7 of the design: the first models were
measured on real human prompts and failed there).

Who speaks is in the file name, a dialogue id of the game's level scripts (``fillets-ng-data``, e.g.
``script/linux/code.lua`` binds ``1-*`` and ``2-*`` to the two Linux users):

* ``<prefix>-m-<name>`` / ``m-<name>`` / ``<name>-m``: the small fish; ``v`` in that place: the big fish;
  the two fish are the two leads, one actor each, across every level;
* any other code is a level's own character: ``briefcase/kd-*`` the boss's briefing tape, ``linux/1-*`` and
  ``linux/2-*`` the two Linux users, ``city/vit-hs-*`` the statue's loudspeaker, and so on.

``SPEAKERS`` picks characters whose voices resemblyzer tells apart (measured on the mean d-vector of up to
10 lines each: every pair below 0.81, lines of one character 0.87-0.97 to their mean; on the prompts built
here: 0.54-0.68 between speakers, 0.75-0.93 between two prompts of one speaker); characters that seem to
share an actor (the dog of ``corridor`` and the captain's skull sit at 0.82-0.93 to the big fish and to each
other; the briefcase's ``help`` tape is the small fish's actor, 0.95) are left out.

Licence: the game data is GPL-2.0-only ("version 2 dated June, 1991", Debian's copyright file of
fillets-ng-data-cs; upstream ALTAR interactive, Ivo and Pavel Danihelka).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ground.errors import BadInputError, MissingComponentError

SOUND_ROOT = Path("/usr/share/games/fillets-ng/sound")
APT_PACKAGE = "fillets-ng-data-cs"
LICENCE = (
    "GPL-2.0-only (Fish Fillets NG game data, Czech voices; ALTAR interactive, Ivo and Pavel Danihelka; "
    "Debian package fillets-ng-data-cs, /usr/share/doc/fillets-ng-data-cs/copyright)"
)
SAMPLE_RATE = 16000
MIN_PROMPT_S = 3.0
TARGET_PROMPT_S = 4.0  # lines are joined until this much speech (a d-vector settles after about 3 s)
MAX_PROMPT_S = 8.0
GAP_S = 0.2  # silence between joined lines
TARGET_RMS_DBFS = -23.0  # the corpus renders' level


@dataclass(frozen=True)
class HumanSpeaker:
    id: str
    group: str  # key from ``speaker_group``
    description: str


SPEAKERS: tuple[HumanSpeaker, ...] = (
    HumanSpeaker(
        "fillets_small_fish", "fish_small", "the small fish, one of the two leads (median F0 254 Hz)"
    ),
    HumanSpeaker("fillets_big_fish", "fish_big", "the big fish, the other lead (median F0 117 Hz)"),
    HumanSpeaker(
        "fillets_boss", "briefcase:kd", "the boss's briefing tape in the briefcase (median F0 196 Hz)"
    ),
    HumanSpeaker("fillets_linuxer1", "linux:1", "the first Linux user (median F0 143 Hz)"),
    HumanSpeaker("fillets_linuxer2", "linux:2", "the second Linux user, a high voice (median F0 354 Hz)"),
)
"""Characters of distinct actors, in the order prompts are returned."""


@dataclass(frozen=True, eq=False)
class HumanPrompt:
    """A few seconds of one real speaker, ready to be a timbre prompt."""

    speaker_id: str
    audio: np.ndarray  # float32 mono at ``sample_rate``, silence trimmed, level -23 dBFS (active RMS)
    sample_rate: int
    source_files: tuple[str, ...]
    licence: str
    description: str

    @property
    def duration(self) -> float:
        return self.audio.size / self.sample_rate


def speaker_group(path: Path, root: Path = SOUND_ROOT) -> str:
    """Who speaks in one recording, from its place in the game's layout: ``fish_small``, ``fish_big`` or
    ``<level>:<character code>``."""
    rel = Path(path).relative_to(root)
    level = rel.parts[0]
    tokens = Path(path).stem.split("-")
    if "m" in tokens:
        return "fish_small"
    if "v" in tokens:
        return "fish_big"
    if len(tokens) >= 3:
        code = tokens[1]
    elif len(tokens) == 2:
        code = tokens[0]
    else:
        code = re.sub(r"\d+$", "", tokens[0]) or tokens[0]
    return f"{level}:{code}"


def recordings_by_speaker(root: Path = SOUND_ROOT) -> dict[str, list[Path]]:
    """Every Czech recording of the game, grouped by ``speaker_group`` (sorted, so picks are deterministic)."""
    root = Path(root)
    files = sorted(root.glob("*/cs/*.ogg")) + sorted(root.glob("*/*/cs/*.ogg"))
    if not files:
        raise MissingComponentError(
            f"no Fish Fillets NG Czech voice recordings under {root}", hint=f"apt-get install {APT_PACKAGE}"
        )
    groups: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        groups[speaker_group(f, root)].append(f)
    return dict(groups)


def _load_line(path: Path) -> np.ndarray:
    """One recording: 16 kHz mono float32, leading and trailing silence trimmed (50 ms kept)."""
    audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    x = audio.mean(axis=1)
    if sr != SAMPLE_RATE:
        x = soxr.resample(x, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)
    hop = SAMPLE_RATE // 100
    n = x.size // hop
    if n == 0:
        return np.zeros(0, np.float32)
    db = 10 * np.log10((x[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1) + 1e-12)
    active = np.flatnonzero(db > max(db.max() - 40.0, -70.0))
    if active.size == 0:
        return np.zeros(0, np.float32)
    pad = 5  # 50 ms
    start, end = max(0, (active[0] - pad) * hop), min(x.size, (active[-1] + 1 + pad) * hop)
    return np.ascontiguousarray(x[start:end], dtype=np.float32)


def _shorten(line: np.ndarray) -> np.ndarray:
    """A line longer than ``MAX_PROMPT_S`` (the boss's briefings run 10-30 s) is cut at its quietest 10 ms
    between ``TARGET_PROMPT_S`` and 0.5 s before the limit: a pause between phrases."""
    if line.size <= MAX_PROMPT_S * SAMPLE_RATE:
        return line
    hop = SAMPLE_RATE // 100
    lo, hi = int(TARGET_PROMPT_S * 100), int((MAX_PROMPT_S - 0.5) * 100)
    frames = line[lo * hop : hi * hop].astype(np.float64).reshape(-1, hop)
    cut = lo + int(np.argmin((frames**2).mean(axis=1)))
    return line[: cut * hop]


def _level(audio: np.ndarray) -> np.ndarray:
    hop = SAMPLE_RATE // 50
    n = audio.size // hop
    power = (audio[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1) + 1e-12
    db = 10 * np.log10(power)
    rms_db = 10 * np.log10(power[db > db.max() - 35].mean())
    out = audio * 10 ** ((TARGET_RMS_DBFS - rms_db) / 20)
    peak = float(np.abs(out).max())
    return (out * (0.95 / peak) if peak > 0.95 else out).astype(np.float32)


def _prompts(files: list[Path]) -> Iterator[tuple[list[np.ndarray], list[Path]]]:
    """Prompts of one speaker in order: lines (trimmed, at least 1 s, a longer one cut at a pause) joined
    with short gaps until at least ``TARGET_PROMPT_S``, never more than ``MAX_PROMPT_S``; each line is used
    once."""
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
    parts: list[np.ndarray] = []
    used: list[Path] = []
    for f in files:
        try:
            line = _load_line(f)
        except (OSError, RuntimeError):
            continue  # an unreadable file is skipped; the next line serves
        line = _shorten(line)
        dur = line.size / SAMPLE_RATE
        if dur < 1.0:
            continue
        total = sum(p.size for p in parts) / SAMPLE_RATE
        if parts and total + GAP_S + dur > MAX_PROMPT_S:
            if total >= MIN_PROMPT_S:
                yield parts, used
            parts, used = [], []
        parts += [gap, line] if parts else [line]
        used.append(f)
        if sum(p.size for p in parts) / SAMPLE_RATE >= TARGET_PROMPT_S:
            yield parts, used
            parts, used = [], []


def build_prompt(files: list[Path], variant: int = 0) -> tuple[np.ndarray, tuple[Path, ...]]:
    """The ``variant``-th prompt of one speaker (levelled audio, its source files); variants never share a
    line."""
    for k, (parts, used) in enumerate(_prompts(files)):
        if k == variant:
            return _level(np.concatenate(parts)), tuple(used)
    raise BadInputError(f"not enough speech for prompt {variant} of this speaker ({len(files)} files)")


def human_voice_prompts(
    out_dir: str | Path | None = None, root: Path = SOUND_ROOT, variant: int = 0
) -> list[HumanPrompt]:
    """One 3-8 s prompt for each speaker of ``SPEAKERS`` (16 kHz mono float32, trimmed, levelled), with its
    source files and licence. ``variant`` picks another, disjoint set of lines of each speaker. With
    ``out_dir``, each prompt is also written as ``<speaker_id>.wav`` beside a ``prompts.json`` manifest."""
    groups = recordings_by_speaker(root)
    prompts = []
    for sp in SPEAKERS:
        if sp.group not in groups:
            raise MissingComponentError(
                f"no recordings of {sp.id} ({sp.group}) under {root}", hint=f"apt-get install {APT_PACKAGE}"
            )
        audio, used = build_prompt(groups[sp.group], variant)
        prompts.append(
            HumanPrompt(
                speaker_id=sp.id,
                audio=audio,
                sample_rate=SAMPLE_RATE,
                source_files=tuple(str(f) for f in used),
                licence=LICENCE,
                description=sp.description,
            )
        )
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for p in prompts:
            sf.write(str(out / f"{p.speaker_id}.wav"), p.audio, p.sample_rate, subtype="PCM_16")
        manifest = [
            {
                "speaker_id": p.speaker_id,
                "file": f"{p.speaker_id}.wav",
                "duration_s": round(p.duration, 3),
                "source_files": list(p.source_files),
                "licence": p.licence,
                "description": p.description,
            }
            for p in prompts
        ]
        (out / "prompts.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return prompts
