"""``dubber localize``: dub a whole film (or many clips) as one resumable, fault-tolerant job on Ray."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", help="the film (mp4, mkv...)")


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError
