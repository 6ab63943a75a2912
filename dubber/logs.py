"""``dubber logs``: inspect the durable message log of every session. The logs themselves (a msgpack map per
frame, flushed per message, an index beside each session log that is rebuilt when it is short) are
``ground.message_log``.

    dubber logs list [--json]
    dubber logs show SESSION [--line N] [--take T] [--type guidance,review] [--json]
    dubber logs tail SESSION [-n 20] [--follow]
    dubber logs export SESSION [--out FILE.json] [--wav DIR]
    dubber logs serve DIR [--host 127.0.0.1] [--port 8010]   # the browser view (inspector/)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ground.message_log import Entry, SessionLog, line_audio, list_sessions, log_dir, open_log, plain, resolve


def summary(item: dict) -> str:
    t = item.get("type")
    if t == "guidance":
        g = item.get("guidance", {})
        return f"{g.get('emotion')} {g.get('intensity', 0):.2f} pace {g.get('pace', 1):.2f}: {g.get('direction', '')}"
    if t == "audio":
        n = len(item.get("pcm16", b"")) // 2
        return f"chunk {item.get('seq')} {n} samples @ {item.get('sample_rate')} Hz"
    if t == "take":
        return f"{item.get('duration_s')} s"
    if t == "review":
        return f"{'accepted' if item.get('accepted') else 'rejected'}: {item.get('reason')}"
    if t == "accept":
        return f"take {item.get('chosen_take')} chosen: {item.get('reason')}"
    if t == "references":
        return ", ".join(f"{r['modality']}:{r['clip_id']}" for r in item.get("references", []))
    if t == "error":
        return f"{item.get('code')}: {item.get('message')}"
    if t == "line_end":
        return f"{item.get('status')} (take {item.get('chosen_take')}, {item.get('seconds')} s)"
    if t in ("request", "line"):
        return repr(item.get("text", ""))
    if t == "session":
        return f"voices {sorted(item.get('voices', {}))} @ {item.get('sample_rate')} Hz"
    return ""


def _fmt(e: Entry, item: dict) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(e.ts)) + f".{int(e.ts * 1000) % 1000:03d}"
    return f"{stamp}  line {e.line:>3}  take {e.take}  {e.type:<15} {summary(item)}"


# -- the command ------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, help="the log folder (default: serving.log_dir)")
    sub = p.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="every session log: messages, lines, time span, damage")
    ls.add_argument("--json", action="store_true")
    for name, help_text in (
        ("show", "the messages of a session"),
        ("tail", "the last messages of a session, and (--follow) new ones as they come"),
        ("export", "a session as JSON (and the chosen take of each line as wav with --wav)"),
    ):
        s = sub.add_parser(name, help=help_text)
        s.add_argument("session", help="a session id, or a .msgpack log file")
        s.add_argument("--line", type=int)
        s.add_argument("--take", type=int)
        s.add_argument("--type", help="message types, comma-separated (e.g. guidance,review,accept)")
        s.add_argument("--json", action="store_true", help="one JSON object per message")
        if name == "tail":
            s.add_argument("-n", type=int, default=20)
            s.add_argument("--follow", "-f", action="store_true")
        if name == "export":
            s.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
            s.add_argument("--audio", action="store_true", help="keep the audio bytes (base64)")
            s.add_argument("--wav", type=Path, help="write the chosen take of each line here as wav")
    sv = sub.add_parser("serve", help="browse the logs of a folder (sessions, dub logs, batch jobs) at /logs")
    sv.add_argument("directory", type=Path, nargs="?", help="a log folder, a batch job's output folder, "
                    "or a folder of them (default: --dir, else serving.log_dir)")  # fmt: skip
    sv.add_argument("--host", help="address to listen on (default: inspector.host, 127.0.0.1)")
    sv.add_argument("--port", type=int, help="port (default: inspector.port, 8010)")
    sv.add_argument("--library", help="the library whose clips the page plays (default: library.db_uri)")


def run(args: argparse.Namespace) -> int:
    if args.logs_command == "serve":
        from inspector.app import serve

        return serve(args.directory or args.dir or log_dir(), args.host, args.port, args.library)
    directory = args.dir or log_dir()
    if args.logs_command == "list":
        sessions = list_sessions(directory)
        if args.json:
            print(json.dumps(sessions, indent=1))
        elif not sessions:
            print(f"no session logs in {directory}")
        for s in [] if args.json else sessions:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["first"])) if s["first"] else "-"
            damage = f"  DAMAGED: {s['damaged']}" if s["damaged"] else ""
            print(
                f"{s['session']}  {when}  {s['messages']} messages, {s['lines']} lines "
                f"({s['lines_ended']} ended), {s['errors']} errors{'' if s['closed'] else ', open'}{damage}"
            )
        return 0
    log = open_log(resolve(args.session, args.dir))
    types = set(args.type.split(",")) if args.type else None
    chosen = log.select(args.line, args.take, types)
    if args.logs_command == "export":
        items = [{"offset": e.offset, **plain(item, args.audio)} for e, item in log.read(chosen)]
        doc = {"session": log.session, "damaged": log.problem, "messages": items}
        text = json.dumps(doc, indent=1)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
        else:
            print(text)
        if args.wav:
            import soundfile as sf

            args.wav.mkdir(parents=True, exist_ok=True)
            audio_of = line_audio(log)
            for line, (sr, audio) in sorted(audio_of.items()):
                sf.write(args.wav / f"line{line:04d}.wav", audio, sr)
            accepted = {e.line for e in log.select(types={"accept"})}
            if missing := sorted(accepted - audio_of.keys()):
                print(f"warning: no audio was logged for the chosen take of line(s) "
                      f"{', '.join(map(str, missing))}; no wav written for them", file=sys.stderr)  # fmt: skip
            print(f"wrote {len(audio_of)} line wav(s) to {args.wav}", file=sys.stderr)
        return 0
    if args.logs_command == "tail":
        chosen = chosen[-args.n :] if args.n > 0 else []
    for e, item in log.read(chosen):
        print(json.dumps(plain(item)) if args.json else _fmt(e, item), flush=True)
    if log.problem:
        print(f"warning: {log.path}: {log.problem} at byte {log.damaged_at}", file=sys.stderr)
    if args.logs_command == "tail" and args.follow:
        _follow(log, args, types)
    return 0


def _follow(log: SessionLog, args, types) -> None:
    """Print frames as they are appended, until the session's ``closed`` frame (or Ctrl-C)."""
    import msgpack

    offset = log.entries[-1].offset + log.entries[-1].length if log.entries else 0
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True)
    with log.path.open("rb") as f:
        f.seek(offset)
        while True:
            data = f.read()
            if not data:
                time.sleep(0.2)
                continue
            unpacker.feed(data)
            for item in unpacker:
                e = Entry.of(item) if isinstance(item, dict) else Entry(0, 0, 0, 0, "?", 0.0)
                if e.matches(args.line, args.take, types):
                    print(json.dumps(plain(item)) if args.json else _fmt(e, item), flush=True)
                if e.type == "closed":
                    return
