"""The ``dubber`` command. Each subcommand lives in the room it belongs to and exposes
``add_arguments(parser)`` and ``run(args) -> int``; this file only wires them up and turns
``DubberError`` into a one-line message and an exit code."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from dubber import __version__

# (name, module, one-line help). Modules keep their top-level imports light so --help is instant.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "dubber.demo", "run the main job on the bundled demo clip and print what it found"),
    ("corpus", "corpora.cli", "render synthetic audiovisual clips; list the voice bank"),
    ("perceive", "perception.cli", "perceive a video clip (face, lips, expression, scene, audio, text)"),
    (
        "eval",
        "evaluation.cli",
        "evaluate dubbed takes (WER, SECS, EMO-ACC, sync, duration, MCD); train the emotion classifier",
    ),
    ("direct", "agents.cli", "the director: emotion guidance for a line over a silent clip; train its cues"),
    ("dub", "dubber.dub", "dub a line over a silent clip in a character's voice (wav, mp4, message log)"),
    ("train", "actors.cli", "train the actor (progressive graph-based speech generator) on a corpus"),
    ("library", "retrieval.cli", "the Reference Footage library (LanceDB): build, search, info, neighbours"),
    ("serve", "serving.cli", "start (or stop) the Ray Serve app: websocket dubbing sessions and REST"),
    ("client", "serving.client", "dub a line through a running server, writing audio as it streams"),
    ("logs", "dubber.logs", "inspect session message logs: list, show, tail, export, serve (in a browser)"),
    ("localize", "localization.cli", "dub a whole film (or many clips) as one resumable job on Ray"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dubber",
        description="Emotion-aware automatic movie dubbing: a director LLM and a speech actor.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", metavar="FILE", help="YAML file overriding the default configuration")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for every error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, module_name, help_text in COMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            # the modules' docstrings are laid out by hand (usage lines, examples): keep their lines
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


OUR_LOGGERS = ("dubber", "perception", "agents", "actors", "retrieval", "serving", "corpora", "evaluation")


def _setup_logging(verbosity: int) -> None:
    """Our rooms log at INFO (-v: DEBUG); third-party libraries only say WARNING and up (-vv: all)."""
    logging.basicConfig(
        level=logging.DEBUG if verbosity >= 2 else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbosity >= 1 else logging.INFO)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: list[str] | None = None) -> int:
    from ground.errors import DubberError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _setup_logging(args.verbose)
    try:
        if args.config:
            from ground.config import DubberConfig, set_config

            set_config(DubberConfig.load(args.config))
        return int(args._module.run(args) or 0)
    except DubberError as exc:
        if args.debug:
            raise
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
