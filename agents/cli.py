"""The director on one clip: perceive the silent video, fuse the emotion cues, and print the guidance
(emotion probabilities, intensity, prosody targets, a one-sentence direction, and the evidence).
``dubber direct train`` fits the director's cues on a labelled corpus and reports each cue's accuracy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ground.config import REPO_ROOT, get_config

DEFAULT_DIRECTOR_MODEL = REPO_ROOT / "assets" / "models" / "director"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=["train"], help="'train': fit the cues on a corpus")
    p.add_argument("--video", type=Path, help="the silent clip")
    p.add_argument("--text", help="the line to be spoken")
    p.add_argument("--character", help="who speaks the line")
    p.add_argument(
        "--context-file",
        type=Path,
        help='the session so far, JSON: {"history": [{"character": "...", "emotion": "..."}, ...]}',
    )
    p.add_argument(
        "--update-context",
        action="store_true",
        help="write this line's decision back into --context-file (direct a scene line by line)",
    )
    p.add_argument("--language", help="the line's language (ISO 639-1); default: detected from the text")
    p.add_argument("--model", type=Path, default=DEFAULT_DIRECTOR_MODEL, help="trained director cues folder")
    p.add_argument("--no-llm", action="store_true", help="decide and write without the LLM (rules only)")
    p.add_argument(
        "--db", metavar="URI", help="reference library (default: library.db_uri or the shipped one)"
    )
    p.add_argument("--json", action="store_true", help="print the guidance as JSON")
    p.add_argument("--corpus", type=Path, help="train: a labelled corpus folder")
    p.add_argument("--out", type=Path, help="train: where to write the cues (default: --model)")
    p.add_argument("--limit", type=int, default=1200, help="train: at most this many training clips")
    p.add_argument("--limit-valid", type=int, default=400, help="train: at most this many valid clips")
    p.add_argument("--limit-test", type=int, default=600, help="train: at most this many test clips")


def run(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError

    if args.action == "train":
        if args.corpus is None:
            raise BadInputError("dubber direct train needs --corpus")
        from agents.training import train_director

        report = train_director(
            args.corpus,
            args.out or args.model,
            use_llm=not args.no_llm,
            limit_train=args.limit,
            limit_valid=args.limit_valid,
            limit_test=args.limit_test,
        )
        print(json.dumps(report, indent=1))
        return 0
    if args.video is None or args.text is None:
        raise BadInputError("dubber direct needs --video and --text (or the 'train' action)")
    from agents.director import Director
    from agents.fusion import EmotionFusion
    from agents.language import check_language
    from agents.session import DirectorSession
    from perception.features import from_perception
    from perception.pipeline import ClipPerceiver
    from perception.text import decode_line

    text = decode_line(args.text, source="--text")
    check_language(text, get_config().llm.languages, args.language)  # before the seconds of perception
    context: dict = {}
    if args.context_file is not None and (args.context_file.exists() or not args.update_context):
        try:
            context = json.loads(args.context_file.read_text(encoding="utf-8"))
            if not isinstance(context, dict):
                raise ValueError("the top level must be an object")
        except (OSError, ValueError) as exc:
            raise BadInputError(
                f"context file is not readable JSON ({exc})", source=args.context_file
            ) from None
    character = args.character or context.get("character")
    perception = ClipPerceiver().perceive(args.video, require_face=False)
    fusion = EmotionFusion.load(args.model, use_llm=not args.no_llm)
    session = DirectorSession.from_context(Director(fusion=fusion, write_directions=not args.no_llm), context)
    line = max((d.line for d in session.decisions), default=0) + 1
    visual = from_perception(perception)
    guidance = session.direct(line, text, visual, character, args.language)
    if args.update_context:
        if args.context_file is None:
            raise BadInputError("--update-context needs --context-file")
        tmp = args.context_file.with_suffix(args.context_file.suffix + ".tmp")
        tmp.write_text(json.dumps(session.context(), indent=1) + "\n", encoding="utf-8")
        tmp.replace(args.context_file)
    references = _references(args, visual, text)
    if args.json:
        out = {"guidance": guidance.model_dump(mode="json")}
        if references is not None:
            out["references"] = {
                m: [r.model_dump(mode="json") for r in refs] for m, refs in references.items()
            }
        print(json.dumps(out, indent=1))
    else:
        top = sorted(guidance.probabilities.items(), key=lambda kv: -kv[1])[:3]
        print(f"{guidance.emotion} (intensity {guidance.intensity:.2f}): {guidance.direction}")
        print("  probabilities: " + ", ".join(f"{k} {v:.2f}" for k, v in top))
        print(
            f"  targets: pace x{guidance.pace:.2f}, pitch {guidance.pitch_shift_st:+.1f} st, "
            f"energy {guidance.energy_db:+.1f} dB"
        )
        for ev in guidance.evidence:
            print(f"  {ev.cue:8s} {ev.note}")
        for modality, refs in (references or {}).items():
            print(
                f"  {modality} references: "
                + ", ".join(f"{r.clip_id} ({r.emotion}, {r.similarity:.2f})" for r in refs)
            )
    sys.stdout.flush()
    return 0


def _references(args, visual, text):
    """The K emotion-similar library clips per modality, or None (with a note) when there is no library."""
    import logging

    from ground.errors import DubberError
    from retrieval.library import ReferenceLibrary, search_uri

    try:
        library = ReferenceLibrary.open(args.db or search_uri())
        return library.query_for_inputs(visual, text)
    except DubberError as exc:
        logging.getLogger(__name__).warning("no references: %s", exc)
        return None
