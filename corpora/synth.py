"""Build the synthetic audiovisual emotional corpus: ``dubber corpus synth --out DIR --clips N --seed S``.

The whole corpus is planned up front from the seed (films, characters with a voice and a face, recurring
scenes, lines, emotions, splits), so clip ``i`` is the same whichever order clips are rendered in and
however often the build is interrupted. Each clip renders into a temporary folder that is renamed into
place when complete; a rerun skips clips already there. ``manifest.jsonl`` is rewritten from the clip
folders at the end of every run, with failed clips recorded (and their reasons) in ``failures.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from corpora.clip import ClipSpec
from corpora.records import REFERENCE_SPLIT, SPLITS
from corpora.script import SCENE_NAMES, balanced_emotions, draw_line
from ground.errors import BadInputError, DubberError, MissingComponentError
from ground.files import atomic_write_text
from ground.messages import EMOTIONS

log = logging.getLogger(__name__)

FIRST_NAMES = ("Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kai", "Lou", "Mo", "Ned",
               "Ola", "Pip", "Quin", "Ray", "Sue", "Ty", "Uma", "Vic", "Wes", "Zoe")  # fmt: skip
FILM_WORDS = ("Harbour", "Winter", "Lanterns", "Garden", "Echoes", "Summit", "Orchard", "Tides", "Paper",
              "Comet", "Meadow", "Signal", "Kingdom", "Voyage", "Canyon", "Rain")  # fmt: skip


@dataclass
class PlannedClip:
    spec: ClipSpec
    split: str
    speaker: str
    wording: str
    sentence_id: str | None = None  # the sentence pool's id (the ``open`` design)


def available_voices(voice_ids: list[str] | None, allow_missing: bool) -> list[str]:
    """The bank's voices whose engine is installed; a missing engine is an error unless allowed."""
    from corpora.voices import VOICE_BANK, VOICES_BY_ID, get_engine

    CORPUS_VOICES = [v.id for v in VOICE_BANK]  # the bank enforces WER < 0.10 and pairwise cosine < 0.85

    wanted = list(voice_ids) if voice_ids else list(CORPUS_VOICES)
    unknown = [v for v in wanted if v not in VOICES_BY_ID]
    if unknown:
        raise BadInputError(f"unknown voice ids: {', '.join(unknown)}", hint="see: dubber corpus voices")
    missing: dict[str, MissingComponentError] = {}
    usable = []
    for vid in wanted:
        voice = VOICES_BY_ID[vid]
        if voice.engine in missing:
            continue
        try:
            get_engine(voice)
            usable.append(vid)
        except MissingComponentError as exc:
            missing[voice.engine] = exc
    if missing and not allow_missing:
        first = next(iter(missing.values()))
        raise MissingComponentError(
            first.problem,
            hint=f"{first.hint}, or pass --allow-missing-engines to build with the other voices",
        )
    for exc in missing.values():
        log.warning("%s: its voices are skipped (%s)", exc.problem, exc.hint)
    return usable


DESIGNS: tuple[str, ...] = ("standard", "scene-tones", "open")
"""``open`` (the default): open text, many looks and voices, held-out splits by sentence, voice and look
(see ``corpora.open_design``). ``standard``: the first corpus (67 templates, one drawing, light following the
emotion), kept so the artefacts trained on it reproduce. ``scene-tones``: the test bed for retrieval (see
``SceneTones``)."""
DEFAULT_DESIGN = "open"


@dataclass(frozen=True)
class SceneTones:
    """The ``scene-tones`` design: a corpus where similar footage knows what the line's own cues do not.

    Each scene has an emotional tone most of its lines share; the faces play it reserved, most lines are
    worded neutrally, and a scene's light is its own look, unrelated to the tone. A share of the films are
    *new*: their lines are never trained on, some sit in the library as ``reference`` footage (as the
    approved lines of a film in batch localization do) and the rest are the ``test-new-films`` split. A
    line of a new film can then learn its scene's tone only from retrieved same-scene references.
    """

    tone_share: float = 0.8  # lines of a scene that take the scene's tone
    neutral_wording_share: float = 0.6
    face_intensity: float = 0.25  # the face's share of the voice's intensity
    new_film_share: float = 0.25
    reference_share: float = 0.6  # lines of a new film that are library references (the rest: test)


def plan_corpus(
    num_clips: int, seed: int, voices: list[str], unseen_voices: int = 2, design: str = DEFAULT_DESIGN
) -> list[PlannedClip]:
    """Films, characters, scenes and lines for ``num_clips`` clips; deterministic in ``seed`` (and
    ``design``: the ``standard`` plan is the same whatever other designs exist)."""
    if design not in DESIGNS:
        raise BadInputError(f"unknown corpus design {design!r}", hint="one of " + ", ".join(DESIGNS))
    if design == "open":
        from corpora.open_design import plan_open

        return plan_open(num_clips, seed, voices)
    from corpora.faces import FaceStyle

    if len(voices) < unseen_voices + 2:
        raise BadInputError(f"need at least {unseen_voices + 2} voices, have {len(voices)}")
    rng = np.random.default_rng(seed)
    order = list(voices)
    rng.shuffle(order)
    unseen = set(order[:unseen_voices])
    num_films = max(2, num_clips // 50)
    films = []
    for f in range(num_films):
        name = f"{FILM_WORDS[f % len(FILM_WORDS)]} {f // len(FILM_WORDS) + 1}".replace(" 1", "")
        cast = []
        for c in range(int(rng.integers(4, 7))):
            # Leads rotate over the seen voices, so no film is carried by a test-only voice.
            lead = order[unseen_voices + (f * 3) % (len(order) - unseen_voices)]
            voice = order[int(rng.integers(len(order)))] if c else lead
            cast.append(
                {
                    "character": f"{FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]}_{f:02d}{c}",
                    "voice": voice,
                    "face": FaceStyle.random(rng).to_dict(),
                }
            )
        scenes = [
            {"name": str(s), "seed": int(rng.integers(1 << 30))}
            for s in rng.choice(SCENE_NAMES, size=3, replace=False)
        ]
        films.append({"name": name, "cast": cast, "scenes": scenes})
    # Make sure every voice speaks somewhere: give unused voices a character in a random film.
    used = {c["voice"] for film in films for c in film["cast"]}
    for v in order:
        if v not in used:
            film = films[int(rng.integers(len(films)))]
            film["cast"].append(
                {"character": f"{v}_guest", "voice": v, "face": FaceStyle.random(rng).to_dict()}
            )

    tones = SceneTones() if design == "scene-tones" else None
    # the design's own draws come from a second stream, so the standard plan's draws stay as they were
    drng = np.random.default_rng([seed, DESIGNS.index(design)])
    if tones:
        new_films = set(
            drng.choice(num_films, max(2, round(tones.new_film_share * num_films)), replace=False)
        )
        for f, film in enumerate(films):
            film["new"] = f in new_films
            for scene in film["scenes"]:
                scene["tone"] = str(drng.choice(EMOTIONS))
                scene["look"] = str(drng.choice(EMOTIONS))  # the light's colour: not the tone
                scene["look_intensity"] = float(np.round(drng.uniform(0.3, 0.9), 2))

    emotions = balanced_emotions(num_clips, rng)
    plan = []
    for i, emotion in enumerate(emotions):
        film = films[int(rng.integers(len(films)))]
        actor = film["cast"][int(rng.integers(len(film["cast"])))]
        scene = film["scenes"][int(rng.integers(len(film["scenes"])))]
        if tones and drng.random() < tones.tone_share:
            emotion = scene["tone"]
        line = draw_line(emotion, rng, tones.neutral_wording_share if tones else 0.2)
        clip_id = f"c{i:05d}"
        if actor["voice"] in unseen:
            split = "test-unseen-speakers"
        else:
            u = rng.random()
            split = "train" if u < 0.8 else ("valid" if u < 0.9 else "test-seen-speakers")
            if tones and film["new"]:
                split = REFERENCE_SPLIT if drng.random() < tones.reference_share else "test-new-films"
        spec = ClipSpec(
            clip_id=clip_id,
            text=line.text,
            voice_id=actor["voice"],
            emotion=line.emotion,
            intensity=line.intensity,
            character=actor["character"],
            film=film["name"],
            face_style=actor["face"],
            scene_seed=scene["seed"],
            seed=int(rng.integers(1 << 30)),
        )
        if tones:
            spec.scene_emotion, spec.scene_intensity = scene["look"], scene["look_intensity"]
            spec.face_intensity = round(tones.face_intensity * line.intensity, 3)
        plan.append(PlannedClip(spec=spec, split=split, speaker=actor["voice"], wording=line.wording))
    return plan


def _render_one(planned: PlannedClip, out_dir: str) -> tuple[str, dict | None, str | None]:
    """Worker: render one clip into a temp folder, then rename it into place. Returns (id, meta, error)."""
    from corpora.clip import render_clip

    final = Path(out_dir) / "clips" / planned.spec.clip_id
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        meta = render_clip(planned.spec, tmp)
        meta.update(split=planned.split, speaker=planned.speaker, wording=planned.wording)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, final)
        return planned.spec.clip_id, meta, None
    except (DubberError, OSError, ValueError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        return planned.spec.clip_id, None, f"{type(exc).__name__}: {exc}"


def _init_worker() -> None:
    # One thread per process: the workers already use every core.
    os.environ["OMP_NUM_THREADS"] = "1"


def build_corpus(
    out_dir: str | Path,
    num_clips: int,
    seed: int = 0,
    workers: int = 2,
    voice_ids: list[str] | None = None,
    allow_missing_engines: bool = False,
    progress: bool = True,
    design: str = DEFAULT_DESIGN,
) -> dict:
    """Render (or finish rendering) the corpus into ``out_dir`` and write its manifest and card."""
    from tqdm import tqdm

    out = Path(out_dir)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    voices = available_voices(voice_ids, allow_missing_engines)
    plan = plan_corpus(num_clips, seed, voices, design=design)
    settings = {"clips": num_clips, "seed": seed, "voices": voices, "design": design}
    settings_path = out / "corpus.json"
    if settings_path.exists():
        previous = json.loads(settings_path.read_text())
        previous.setdefault("design", "standard")  # corpora built before designs existed
        if {k: previous.get(k) for k in settings} != settings:
            raise BadInputError(
                "folder holds a corpus built with other settings "
                f"({ {k: previous.get(k) for k in ('clips', 'seed', 'design')} })",
                source=out,
                hint="use another --out folder, or the same --clips/--seed/--design",
            )
    settings_path.write_text(json.dumps(settings, indent=1) + "\n")

    todo = [p for p in plan if not (out / "clips" / p.spec.clip_id / "meta.json").exists()]
    # Test splits first, then the rest in a seeded shuffle: a build stopped part-way can already be measured
    # on, and leaves every film partly rendered rather than the last ones empty (a clip renders the same in
    # any order).
    order = np.random.default_rng([seed, 0x5EED]).permutation(len(todo))
    todo = sorted((todo[i] for i in order), key=lambda p: p.split in ("train", "valid"))
    failures: dict[str, str] = {}
    start = time.perf_counter()
    log.info(
        "%d clips planned, %d already rendered, %d to render", len(plan), len(plan) - len(todo), len(todo)
    )
    bar = tqdm(
        total=len(plan), initial=len(plan) - len(todo), unit="clip", disable=not progress, desc="corpus"
    )
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, workers), initializer=_init_worker) as pool:
            futures = [pool.submit(_render_one, p, str(out)) for p in todo]
            for fut in as_completed(futures):
                clip_id, _, error = fut.result()
                if error:
                    failures[clip_id] = error
                    log.warning("clip %s failed: %s", clip_id, error)
                bar.update(1)
                bar.set_postfix(failed=len(failures))
    bar.close()
    summary = write_manifest(out, plan, failures)
    summary["render_seconds_this_run"] = round(time.perf_counter() - start, 1)
    return summary


def refresh_manifest(out_dir: str | Path) -> dict:
    """Rewrite the manifest of a corpus from the clips on disk (e.g. while a build is still running)."""
    out = Path(out_dir)
    settings_path = out / "corpus.json"
    if not settings_path.is_file():
        raise BadInputError("not a synthetic corpus folder (no corpus.json)", source=out)
    settings = json.loads(settings_path.read_text())
    plan = plan_corpus(
        settings["clips"], settings["seed"], settings["voices"], design=settings.get("design", "standard")
    )
    return write_manifest(out, plan, {})


def write_manifest(out: Path, plan: list[PlannedClip], failures: dict[str, str]) -> dict:
    """Rewrite manifest.jsonl, failures.jsonl, splits.json and the corpus card from what is on disk."""
    rows, failed = [], []
    for p in plan:
        meta_path = out / "clips" / p.spec.clip_id / "meta.json"
        if meta_path.exists():
            m = json.loads(meta_path.read_text())
            rows.append(
                {
                    "clip_id": p.spec.clip_id,
                    "dir": f"clips/{p.spec.clip_id}",
                    "split": p.split,
                    "film": p.spec.film,
                    "character": p.spec.character,
                    "speaker": p.speaker,
                    "emotion": p.spec.emotion,
                    "intensity": p.spec.intensity,
                    "wording": p.wording,
                    "text": p.spec.text,
                    "sentence_id": p.sentence_id,
                    "drawing": (p.spec.face_style or {}).get("drawing", "shaded"),
                    "palette": p.spec.scene_palette,
                    "face_intensity": p.spec.face_intensity,
                    "duration_s": m["duration_s"],
                    "num_frames": m["num_frames"],
                    "status": "ok",
                    "reason": None,
                }
            )
        else:
            failed.append(
                {
                    "clip_id": p.spec.clip_id,
                    "status": "failed",
                    "reason": failures.get(p.spec.clip_id, "not rendered (interrupted?)"),
                }
            )
    atomic_write_text(out / "manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_text(out / "failures.jsonl", "".join(json.dumps(r) + "\n" for r in failed))
    splits = {s: sorted(r["clip_id"] for r in rows if r["split"] == s) for s in SPLITS}
    atomic_write_text(out / "splits.json", json.dumps(splits, indent=1) + "\n")
    summary = {
        "clips_ok": len(rows),
        "clips_failed": len(failed),
        "hours_of_speech": round(sum(r["duration_s"] for r in rows) / 3600, 3),
        "per_split": {s: len(v) for s, v in splits.items()},
        "per_emotion": {e: sum(r["emotion"] == e for r in rows) for e in EMOTIONS},
        "speakers": sorted({r["speaker"] for r in rows}),
        "films": sorted({r["film"] for r in rows}),
    }
    if any(r["sentence_id"] for r in rows):  # the open design: prove the held-out splits hold
        from corpora.open_design import leakage_report

        summary["leakage"] = leakage_report(rows)
    atomic_write_text(out / "corpus_card.md", corpus_card(summary, rows))
    return summary


def corpus_card(summary: dict, rows: list[dict]) -> str:
    from corpora.voices import VOICES_BY_ID

    is_open = "leakage" in summary
    about = (
        [
            "Made by `dubber corpus synth` (design `open`): drawn faces in several drawing styles mouthing",
            "synthetic and neural voices, over scenes whose light is the scene's own palette on most films.",
            "The lines are real English sentences (sources below). Not recorded speech or filmed faces.",
        ]
        if is_open
        else [
            "Made by `dubber corpus synth`; every clip is a drawn face mouthing a synthetic voice, with the",
            "expression and the scene's light following the emotion. Not recorded speech.",
        ]
    )
    lines = [
        "# Synthetic audiovisual emotional corpus",
        "",
        *about,
        "",
        f"- clips: {summary['clips_ok']} ({summary['clips_failed']} failed), "
        f"{summary['hours_of_speech']} h of speech, {len(summary['films'])} films",
        "- splits: " + ", ".join(f"{k} {v}" for k, v in summary["per_split"].items() if v),
        "- emotions: " + ", ".join(f"{k} {v}" for k, v in summary["per_emotion"].items()),
    ]
    if is_open:
        lines += _open_card(summary, rows)
    lines += [
        "",
        "| voice | engine | engine voice | F0 scale | warp | split role | licence |",
        "|---|---|---|---|---|---|---|",
    ]
    unseen = {r["speaker"] for r in rows if r["split"] == "test-unseen-speakers"}
    for vid in summary["speakers"]:
        v = VOICES_BY_ID[vid]
        role = "unseen (test only)" if vid in unseen else "seen"
        lines.append(
            f"| {vid} | {v.engine} | {v.engine_voice} | {v.f0_scale:g} | {v.warp:g} | {role} | {v.licence} |"
        )
    lines += ["", "Drawn faces and scenes: generated by this project (Apache-2.0).", ""]
    return "\n".join(lines)


def _open_card(summary: dict, rows: list[dict]) -> list[str]:
    """The ``open`` design's part of the card: text sources and licences, looks, wording, leakage."""
    from collections import Counter

    from corpora.sentences import load_sentence_pool

    pool = {s.id: s for s in load_sentence_pool()}
    used = [pool[r["sentence_id"]] for r in rows if r.get("sentence_id") in pool]
    sources = Counter((s.source.split("/")[0], s.licence) for s in used)
    fit = [r for r in rows if r["split"] in ("train", "valid")]
    out = [
        f"- distinct sentences: {len({r['sentence_id'] for r in rows})} "
        f"({len({r['sentence_id'] for r in fit})} in train/valid); emotionally worded lines "
        f"{sum(r['wording'] == 'emotional' for r in rows)}, neutrally worded {sum(r['wording'] == 'neutral' for r in rows)}",
        "- faces: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["drawing"] for r in rows).items())),
        "- scene light: "
        + ", ".join(
            f"{k or 'follows the emotion'} {v}"
            for k, v in sorted(Counter(r["palette"] or "" for r in rows).items())
        ),
        f"- neutral face on an emotional line: {sum(r['emotion'] != 'neutral' and not r['face_intensity'] for r in rows)} clips",
        "",
        "Text sources (the emotion of a line's wording is labelled by a lexicon, never by its source; see",
        "`assets/corpus/SENTENCES.md`):",
        "",
        "| source | licence | lines |",
        "|---|---|---|",
        *[f"| {src} | {lic} | {n} |" for (src, lic), n in sorted(sources.items())],
        "",
        "Leakage into train/valid (every cell must be 0; `corpora.open_design.leakage_report`):",
        "",
        "| split | sentences | voices | drawings | palettes |",
        "|---|---|---|---|---|",
        *[
            f"| {split} | {len(f['sentences'])} | {len(f['voices'])} | {len(f['drawings'])} | {len(f['palettes'])} |"
            for split, f in summary["leakage"].items()
        ],
    ]
    return out


def planned_as_dict(p: PlannedClip) -> dict:
    return {
        **asdict(p.spec),
        "split": p.split,
        "speaker": p.speaker,
        "wording": p.wording,
        "sentence_id": p.sentence_id,
    }
