"""``dubber dub`` end to end, as a user runs it: real perception of the demo clip, the shipped director cues
(no LLM), retrieval from a real LanceDB library (a copy of the shipped ``assets/library``), an actor, the
review loop, and the wav, mp4 and message log it writes.

The actor here is a freshly initialised small model saved as a checkpoint (what it says is noise); the
trained model's quality is measured by ``benchmarks/actor_quality.py``, not asserted here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import REPO

DEMO = REPO / "assets" / "demo"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    from actors.acoustics import FeatureLayout, FeatureStats, extract_acoustics
    from actors.dataset import PhonemeVocabulary
    from actors.model import ActorHParams, ProgressiveGraphGenerator
    from perception.text import phonemize

    tmp = tmp_path_factory.mktemp("dub")
    audio, sr = sf.read(DEMO / "voice.wav", dtype="float32")
    vocab = PhonemeVocabulary.build([phonemize((DEMO / "line.txt").read_text().strip())])
    torch.manual_seed(0)
    hp = ActorHParams(
        vocab_size=len(vocab), acoustic_dim=FeatureLayout().dim, audio_emotion_dim=94, hidden=32
    )
    checkpoint = tmp / "actor.pt"
    torch.save(
        {
            "model": ProgressiveGraphGenerator(hp).state_dict(),
            "hparams": hp.to_dict(),
            "vocab": vocab.symbols,
            "stats": FeatureStats.fit([extract_acoustics(audio, sr)]).to_dict(),
        },
        checkpoint,
    )
    library = tmp / "library"
    shutil.copytree(REPO / "assets" / "library", library)
    return {
        **os.environ,
        "DUBBER_ACTOR__CHECKPOINT": str(checkpoint),
        "DUBBER_LIBRARY__DB_URI": str(library),
        "HF_HUB_OFFLINE": "1",
    }


def dub(env: dict, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "dubber"
    return subprocess.run(
        [str(exe), "dub", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=600
    )


def test_dub_writes_wav_mp4_and_the_message_log(env, tmp_path):
    from ground.message_log import read_log
    from perception.video import probe

    out = tmp_path / "out.wav"
    r = dub(
        env, "--video", str(DEMO / "video.mp4"), "--text-file", str(DEMO / "line.txt"),
        "--voice", str(DEMO / "voice.wav"), "--out", str(out), "--mp4", str(tmp_path / "out.mp4"),
        "--log", str(tmp_path / "log.msgpack"), "--character", "Ada", "--no-llm", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["emotion"] == "angry"  # the director reads the angry face, scene and words
    audio, sr = sf.read(out, dtype="float32")
    meta = json.loads((DEMO / "meta.json").read_text())
    assert abs(len(audio) / sr - meta["num_frames"] / meta["fps"]) < 1e-3  # exactly the clip's length
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
    assert probe(tmp_path / "out.mp4")["has_audio"]
    log = read_log(tmp_path / "log.msgpack")
    assert log.damaged_at is None
    kinds = [m.type for m in log.messages]
    assert kinds[:3] == ["request", "perception", "guidance"] and kinds[-1] == "accept"
    assert kinds.count("take") == kinds.count("review") == report["takes"] >= 1
    # no audio chunks in-process, so each take's audio is in its take message; the chosen one is the wav
    takes = {m.take: m for m in log.messages if m.type == "take"}
    assert all(len(t.pcm16) == 2 * round(t.duration_s * t.sample_rate) for t in takes.values())
    chosen = np.frombuffer(takes[report["chosen_take"]].pcm16, "<i2").astype(np.float32) / 32767
    assert np.abs(chosen - audio).max() < 1e-3
    by_take = {m.take: m.references for m in log.messages if m.type == "references"}
    references = by_take[report["chosen_take"]]
    assert {ref.modality for ref in references} == {"scene", "face", "text"} and len(references) == 9
    assert all(len(ref.audio_emotion) == 94 for ref in references)
    # the references the report names are the chosen take's (a re-take retrieves the next K)
    reported = {(m, c) for m, ids in report["references"].items() for c in ids}
    assert reported == {(ref.modality, ref.clip_id) for ref in references}


def test_bad_prompt_and_foreign_line_are_one_line_errors(env, tmp_path):
    audio, sr = sf.read(DEMO / "voice.wav", dtype="float32")
    short = tmp_path / "short.wav"
    sf.write(short, audio[: int(0.5 * sr)], sr)
    common = ["--video", str(DEMO / "video.mp4"), "--out", str(tmp_path / "o.wav"), "--no-llm"]
    r = dub(env, *common, "--text", "Get out of here!", "--voice", str(short))
    assert r.returncode == 2 and "at least 1 s" in r.stderr.strip().splitlines()[-1], r.stderr
    r = dub(
        env, *common, "--text", "Je ne sais pas pourquoi tu es revenu.", "--voice", str(DEMO / "voice.wav")
    )
    assert r.returncode == 2 and "French" in r.stderr.strip().splitlines()[-1], r.stderr
    assert not (tmp_path / "o.wav").exists()  # nothing half-written


def test_a_line_with_several_takes_reports_the_chosen_takes_references(env, tmp_path):
    """Each take retrieves its own K references per modality; the report names the chosen take's."""
    from ground.message_log import read_log

    strict = {**env, "DUBBER_DIRECTOR__MIN_EMOTION_MATCH": "1.0", "DUBBER_DIRECTOR__MAX_TAKES": "2"}
    r = dub(
        strict, "--video", str(DEMO / "video.mp4"), "--text-file", str(DEMO / "line.txt"),
        "--voice", str(DEMO / "voice.wav"), "--out", str(tmp_path / "out.wav"),
        "--log", str(tmp_path / "log.msgpack"), "--no-llm", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["takes"] == 2  # no take can reach an emotion match of 1.0: the loop re-directs once
    by_take = {
        m.take: {(ref.modality, ref.clip_id) for ref in m.references}
        for m in read_log(tmp_path / "log.msgpack").messages
        if m.type == "references"
    }
    assert len(by_take) == 2 and by_take[1] != by_take[2]
    reported = {(m, c) for m, ids in report["references"].items() for c in ids}
    assert reported == by_take[report["chosen_take"]]
