"""``dubber localize``: dub a whole film (or many clips) as one resumable, fault-tolerant job on Ray.

    dubber localize --video FILM.mp4 --subs LINES.srt --voices voices.yaml --out DIR [--me ME.wav]
    dubber localize --manifest lines.jsonl --voices voices.yaml --out DIR
    dubber localize ... --address auto          # on a running Ray cluster (ray up ray_cluster.yaml)

Each subtitle line's span of the film is cut, perceived, directed and dubbed in its character's voice
(voices.yaml); the lines are placed at their timecodes in one dialogue track, mixed (over the
music-and-effects track with --me) and muxed into DIR/FILM.dubbed.mp4, with DIR/lines/*.wav, DIR/report.json
(per line: emotion, takes, scores, tries) and DIR/logs/ (each line's director-actor messages). Rerun the
same command with the same DIR to resume: lines already done are skipped, failed ones are tried again.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("input (a film with subtitles, or a manifest)")
    src.add_argument("--video", type=Path, help="the film (mp4, mkv, mov...)")
    src.add_argument("--subs", type=Path, help="its lines: .srt or .vtt in the target language, speaker tags "
                     "as [ANNA] ..., ANNA: ... or <v Anna>")  # fmt: skip
    src.add_argument("--manifest", type=Path, help="many films or clips: one JSON line per line to dub "
                     '({"video", "text", "character", "start_s", "end_s", "voices"})')  # fmt: skip
    p.add_argument("--voices", type=Path, help='voices.yaml: character -> voice prompt file ("*" for others)')
    p.add_argument("--out", type=Path, required=True, help="the job's folder (rerun with it to resume)")
    p.add_argument("--me", type=Path, help="a music-and-effects track to mix the dialogue over")
    p.add_argument("--address", help="a Ray cluster to run on ('auto': the one this node belongs to); "
                   "default: a local Ray on this machine")  # fmt: skip
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    p.add_argument("--workers", type=int, help="perception actors (default: localization.perception_workers)")
    p.add_argument("--takes", type=int, help="review rounds per line (default: localization.max_takes)")
    p.add_argument("--max-tries", type=int, help="tries per line before it is recorded as failed")
    p.add_argument("--llm", action="store_true", help="direct with the LLM too (slow on a CPU)")
    p.add_argument("--language", help="the lines' language (ISO 639-1); default: detected")
    p.add_argument("--fit", choices=["speed", "refuse"], default="speed",
                   help="a line too long for its span: speak it faster, bounded (default), or fail it")  # fmt: skip
    p.add_argument(
        "--line-timeout", type=float, help="seconds before a line in flight counts as a failed try"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report summary as JSON")


def job_config(args: argparse.Namespace):
    from ground.config import get_config

    cfg = get_config()
    update = {k: v for k, v in {"perception_workers": args.workers, "max_takes": args.takes,
                                "max_tries": args.max_tries}.items() if v is not None}  # fmt: skip
    if args.llm:
        update["use_llm"] = True
    lc = cfg.localization.model_copy(update=update)
    library = cfg.library
    if lc.library_uri:  # a shared folder or object store: every director opens the same library
        library = library.model_copy(update={"db_uri": lc.library_uri})
    # else library.db_uri, or (None) each node's own cached copy of the shipped library
    return cfg.model_copy(update={"localization": lc, "library": library})


def start_ray(address: str | None, num_cpus: int | None) -> None:
    import warnings

    import ray

    from ground.runtime import WORKER_ENV, apply_env, start_local_ray

    apply_env(WORKER_ENV)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="lancedb fork support")
        if address:
            ray.init(address=address, logging_level="WARNING", runtime_env={"env_vars": WORKER_ENV})
            return
        start_local_ray(num_cpus, log_to_driver=False)


def plan_from_args(args: argparse.Namespace):
    from ground.errors import BadInputError
    from localization.runner import plan_job
    from localization.subtitles import read_manifest, read_subtitle_lines

    if args.manifest:
        if args.video or args.subs:
            raise BadInputError("give either --manifest, or --video with --subs, not both")
        lines = read_manifest(args.manifest)
        job_id, source = args.manifest.stem, {"manifest": str(args.manifest.resolve())}
    else:
        if not args.video or not args.subs:
            raise BadInputError("give --video FILM with --subs LINES.srt (or --manifest lines.jsonl)")
        if not args.voices:
            raise BadInputError("give --voices voices.yaml (character -> voice prompt)")
        lines = read_subtitle_lines(args.subs, args.video)
        job_id, source = (
            args.video.stem,
            {"video": str(args.video.resolve()), "subs": str(args.subs.resolve())},
        )
    source["voices"] = str(args.voices.resolve()) if args.voices else None
    return plan_job(lines, args.voices, job_id, me_track=args.me, language=args.language, fit=args.fit,
                    source=source)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    import ray

    from ground.config import set_config
    from localization.runner import run_job

    cfg = job_config(args)
    set_config(cfg)
    plan = plan_from_args(args)  # every input checked before Ray starts
    started = []

    def ensure_ray() -> None:
        if not ray.is_initialized():
            start_ray(args.address, args.num_cpus)
            started.append(True)

    try:
        result = run_job(plan, args.out, progress=not args.no_progress, timeout_s=args.line_timeout,
                         ensure_ray=ensure_ray)  # fmt: skip
    finally:
        if started:
            ray.shutdown()
    r = result.report
    summary = {k: r[k] for k in ("job", "lines", "done", "failed", "pending", "skipped_already_done",
                                 "dubbed_this_run", "wall_seconds", "lines_per_minute",
                                 "audio_seconds_per_second", "stage_seconds_mean", "outputs")}  # fmt: skip
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"{r['done']} of {r['lines']} lines done ({r['skipped_already_done']} from before), "
              f"{r['failed']} failed, in {r['wall_seconds']:.0f} s")  # fmt: skip
        for film, mp4 in result.outputs.items():
            print(f"  {film}: {mp4}")
        print(f"  report: {Path(args.out) / 'report.json'}")
    for row in r["per_line"]:
        if row["status"] == "failed":
            print(f"failed {row['id']}: {row['reason']}", file=sys.stderr)
    return 0 if r["failed"] == 0 else 1
