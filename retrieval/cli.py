"""The Reference Footage library (LanceDB): build it from a corpus, search it by emotion similarity, show
what it holds, precompute training-time neighbours, and fit the audio emotion statistics.

  dubber library build --from SOURCE [--db URI] [--no-llm] [--workers N]
  dubber library search [--db URI] (--clip ID | --text "..." [--video V]) [-k 3] [--json]
  dubber library info [--db URI] [--json]
  dubber library neighbours [--db URI] [--k 5] [--pool-split train]
  dubber library audio-norm --from SOURCE --out FILE [--split train]
  dubber library subset --db URI --out FOLDER [--split train] [--per-emotion 50]   (the shipped small library)

URI is any LanceDB URI: a local folder (default: <cache_dir>/library) or object storage (s3://..., gs://...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ACTIONS = ("build", "search", "info", "neighbours", "audio-norm", "subset")
_SAME = "\0same"  # --exclude-film / --exclude-speaker given without a value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--db", metavar="URI", help="LanceDB URI (default: library.db_uri or <cache_dir>/library)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    g = p.add_argument_group("build / audio-norm")
    g.add_argument("--from", dest="source", type=Path, metavar="SOURCE", help="a corpus folder (any layout)")
    g.add_argument("--split", help="only this split of the source (build, audio-norm: default train)")
    g.add_argument("--limit", type=int, help="at most this many clips")
    g.add_argument("--no-llm", action="store_true", help="rules captions only (fast; no LLM)")
    g.add_argument(
        "--workers", type=int, default=1, help="perception on N Ray workers (default 1: in process)"
    )
    g.add_argument("--ray-address", help="an existing Ray cluster (e.g. auto) instead of a local one")
    g.add_argument("--batch-size", type=int, help="rows per write (default library.batch_size)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument(
        "--out",
        type=Path,
        help="audio-norm: where to write the statistics (required: the shipped file is replaced only on purpose); "
        "subset: the new library",
    )
    g.add_argument("--per-emotion", type=int, default=50, help="subset: rows per emotion label")
    s = p.add_argument_group("search")
    s.add_argument("--clip", help="a clip already in the library (itself is never returned)")
    s.add_argument("--text", help="a line to find emotionally similar lines for")
    s.add_argument("--video", type=Path, help="with --text: the silent clip (adds scene and face)")
    s.add_argument(
        "-k", "--k", type=int, help="references per modality (search: library.k; neighbours: max_k)"
    )
    s.add_argument("--modality", nargs="+", choices=["scene", "face", "text"], help="only these modalities")
    s.add_argument(
        "--exclude-film",
        nargs="?",
        const=_SAME,
        metavar="FILM",
        help="leave out a film (no value: the clip's own)",
    )
    s.add_argument(
        "--exclude-speaker",
        nargs="?",
        const=_SAME,
        metavar="SPEAKER",
        help="leave out a speaker (no value: the clip's)",
    )
    s.add_argument("--language", help="only clips in this language")
    s.add_argument("--speaker", help="only clips of this speaker")
    s.add_argument("--only-split", dest="only_split", help="only clips of this split (e.g. train)")
    s.add_argument("--llm", action="store_true", help="caption a new target with the LLM (default: as built)")
    n = p.add_argument_group("neighbours")
    n.add_argument(
        "--pool-split",
        help="draw neighbours from this split and any 'reference' clips (default library.pool_split)",
    )


def run(args: argparse.Namespace) -> int:
    return {
        "build": _build,
        "search": _search,
        "info": _info,
        "neighbours": _neighbours,
        "audio-norm": _audio_norm,
        "subset": _subset,
    }[args.action](args)


def _print_json(data) -> None:
    json.dump(data, sys.stdout, indent=1, ensure_ascii=False)
    print()


def _build(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError
    from retrieval.build import build_library

    if args.source is None:
        raise BadInputError("dubber library build needs --from SOURCE (a corpus folder)")
    if args.workers < 1:
        raise BadInputError(f"--workers must be at least 1, got {args.workers}")
    report = build_library(
        args.source,
        args.db,
        use_llm=not args.no_llm,
        workers=args.workers,
        split=args.split,
        limit=args.limit,
        batch_size=args.batch_size,
        progress=not args.no_progress and not args.json,
        ray_address=args.ray_address,
    )
    if args.json:
        _print_json(report.to_json())
    else:
        print(
            f"{report.uri}: {report.written} clips written ({report.redone} redone), {report.skipped} already "
            f"done, {report.failed} failed; {report.rows} rows; {report.seconds:.1f} s "
            f"({report.clips_per_minute:.1f} clips/min)"
        )
        for f in report.failed_clips[:20]:
            print(f"  failed {f['clip_id']}: {f['reason']}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError
    from retrieval.library import ReferenceLibrary

    if (args.clip is None) == (args.text is None and args.video is None):
        raise BadInputError('dubber library search needs either --clip ID or --text "..." (and/or --video V)')
    lib = ReferenceLibrary.open(args.db)
    filters = {"language": args.language, "speaker": args.speaker, "split": args.only_split}
    query: dict = {}
    if args.clip is not None:
        modalities = args.modality or ("scene", "face", "text")
        results = lib.query_for_clip(
            args.clip,
            args.k,
            modalities=modalities,
            exclude_same_film=args.exclude_film == _SAME,
            exclude_same_speaker=args.exclude_speaker == _SAME,
            exclude_film=None if args.exclude_film == _SAME else args.exclude_film,
            exclude_speaker=None if args.exclude_speaker == _SAME else args.exclude_speaker,
            **filters,
        )
        row = lib.row(args.clip)
        query = {"clip_id": args.clip, **{k: row[k] for k in ("film", "speaker", "emotion", "text")}}
    else:
        if _SAME in (args.exclude_film, args.exclude_speaker):
            raise BadInputError("--exclude-film/--exclude-speaker need a value with --text or --video")
        visual = None
        if args.video is not None:
            from perception.features import visual_features

            if not args.video.is_file():
                raise BadInputError("video not found", source=args.video)
            visual = visual_features(args.video)
        text = None
        if args.text is not None:
            from perception.text import decode_line

            text = decode_line(args.text, source="--text")
        results = lib.query_for_inputs(
            visual,
            text,
            args.k,
            use_llm=True if args.llm else None,
            exclude_film=args.exclude_film,
            exclude_speaker=args.exclude_speaker,
            **filters,
        )
        if args.modality:
            results = {m: v for m, v in results.items() if m in args.modality}
        query = {"text": text, "video": str(args.video) if args.video else None}
    if args.json:
        _print_json(
            {
                "db": lib.uri,
                "query": query,
                "k": args.k or lib.config.library.k,
                "references": {m: [c.model_dump() for c in clips] for m, clips in results.items()},
            }
        )
        return 0
    print(f"query: {json.dumps(query, ensure_ascii=False)}")
    for m, clips in results.items():
        for c in clips:
            print(f"  {m:5s} {c.clip_id:14s} {c.similarity:6.3f}  {c.emotion or '-':8s} {c.caption}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from retrieval.library import ReferenceLibrary

    info = ReferenceLibrary.open(args.db).info()
    if args.json:
        _print_json(info)
        return 0
    print(f"{info['uri']} (table {info['table']}): {info['rows']} rows, indexed: {info['indexed']}")
    for label, key in (("versions", "versions"), ("splits", "splits"), ("emotions", "emotions")):
        print(f"  {label}: " + ", ".join(f"{k} {v}" for k, v in sorted(info[key].items())))
    print("  captions: " + ", ".join(f"{k} {v}" for k, v in info["caption_sources"].items()))
    print(f"  failed clips: {info['failed']}")
    for f in info["failed_clips"][:20]:
        print(f"    {f['clip_id']}: {f['reason']}")
    print("  tables: " + ", ".join(info["tables"]))
    return 0


def _neighbours(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from retrieval.neighbours import compute_neighbours

    same_film = args.exclude_film == _SAME
    same_speaker = args.exclude_speaker == _SAME
    if (args.exclude_film and not same_film) or (args.exclude_speaker and not same_speaker):
        from ground.errors import BadInputError

        raise BadInputError("neighbours: --exclude-film / --exclude-speaker take no value here")
    report = compute_neighbours(
        args.db,
        args.k,
        pool_split=args.pool_split,
        exclude_same_film=same_film,
        exclude_same_speaker=same_speaker,
    )
    if args.json:
        _print_json(asdict(report))
    else:
        print(
            f"{report.uri}: top-{report.k} neighbours per modality for {report.rows} clips from "
            f"{report.pool_description()} ({report.seconds:.1f} s)"
        )
    return 0


def _audio_norm(args: argparse.Namespace) -> int:
    from corpora.readers import read_corpus
    from ground.config import get_config
    from ground.errors import BadInputError
    from retrieval.extract import fit_audio_norm

    if args.source is None:
        raise BadInputError("dubber library audio-norm needs --from SOURCE (a corpus folder)")
    split = args.split or get_config().library.pool_split
    records = read_corpus(args.source, split=split)[: args.limit]
    if args.out is None:
        raise BadInputError(
            "dubber library audio-norm needs --out FILE",
            hint=f"to replace the shipped statistics on purpose, name them: --out {get_config().library.audio_norm}",
        )
    out = args.out
    norm = fit_audio_norm(
        records, out, label=f"{args.source.name}, split {split}", progress=not args.no_progress
    )
    print(
        f"{out}: statistics of {len(norm.names)} audio features over {norm.num_clips} clips ({norm.digest})"
    )
    return 0


def _subset(args: argparse.Namespace) -> int:
    from ground.errors import BadInputError
    from retrieval.library import default_uri
    from retrieval.subset import subset_library

    if args.out is None:
        raise BadInputError("dubber library subset needs --out FOLDER")
    report = subset_library(args.db or default_uri(), args.out, args.split or "train", args.per_emotion)
    _print_json(report)
    return 0
