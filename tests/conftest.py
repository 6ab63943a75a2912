"""Shared fixtures: real clips rendered by the project's own corpus code (flite voice, drawn face)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def speaking_clip(tmp_path_factory) -> Path:
    """A ~3 s clip folder: a drawn face mouthing an angry line said by the flite 'slt' voice."""
    from corpora.clip import ClipSpec, render_clip

    out = tmp_path_factory.mktemp("clip") / "angry_slt"
    render_clip(
        ClipSpec(
            clip_id="angry_slt",
            text="I told you never to come back here, and you did it anyway!",
            voice_id="flite_slt",
            emotion="angry",
            intensity=0.8,
            seed=7,
        ),
        out,
    )
    return out


SMALL_CORPUS_VOICES = ["flite_slt", "flite_awb", "flite_rms", "esp_us", "esp_f2"]


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """An 8-clip synthetic corpus (one clip per emotion) and its build summary."""
    from corpora.synth import build_corpus

    out = tmp_path_factory.mktemp("corpus")
    summary = build_corpus(
        out, num_clips=8, seed=3, workers=2, voice_ids=SMALL_CORPUS_VOICES, progress=False, design="standard"
    )
    return out, summary


@pytest.fixture(scope="session")
def small_library(small_corpus, tmp_path_factory):
    """The small corpus's reference library, built once in process with rules captions: (uri, report)."""
    from retrieval.build import build_library

    uri = str(tmp_path_factory.mktemp("lib") / "db")
    report = build_library(small_corpus[0], uri, use_llm=False, progress=False, batch_size=3)
    return uri, report


def run_dubber(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed console script the way a user does."""
    exe = Path(sys.executable).parent / "dubber"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)
