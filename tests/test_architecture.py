"""The structure the code promises: rooms in layers (checked by import-linter, as `make lint` does), one typed
actor interface that all three actors implement, configuration errors in one line, and a device setting the
actor honours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def _dubber(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "dubber.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)  # fmt: skip


def test_layers_contract_holds_and_catches_an_upward_import(tmp_path):
    """The contract passes on the tree, and fails on a copy where a ground module imports a room above it."""
    import shutil

    lint = Path(sys.executable).with_name("lint-imports")
    ok = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], capture_output=True, text=True,
                        cwd=ROOT, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stdout[-2000:]
    assert "1 kept, 0 broken" in ok.stdout

    copy = tmp_path / "tree"
    ignore = shutil.ignore_patterns(
        ".venv", "runs", "tests", "assets", "docs", ".git", "__pycache__", "*.egg-info"
    )
    shutil.copytree(ROOT, copy, ignore=ignore)
    (copy / "ground" / "sneaky.py").write_text("from stage.dubbing import DubbingStage  # noqa: F401\n")
    env = {"PYTHONPATH": str(copy)}
    import os

    bad = subprocess.run([str(lint), "--config", str(copy / "pyproject.toml")], capture_output=True, text=True,
                         cwd=copy, timeout=300, env={**os.environ, **env})  # fmt: skip
    assert bad.returncode != 0
    assert "ground.sneaky" in bad.stdout and "BROKEN" in bad.stdout


def test_the_three_actors_implement_one_interface():
    from actors.interface import ActorInterface
    from actors.voice import Actor
    from localization.pipeline import SpeechPool
    from serving.remote import RemoteActor

    local = Actor.load()
    assert isinstance(local, ActorInterface)
    assert local.hp.k >= 1
    # the remote ones are checked by shape (their methods call Ray); no Ray is started here
    for cls in (RemoteActor, SpeechPool):
        for name in ("hp", "voice_prompt", "fit_line", "perform"):
            assert hasattr(cls, name), f"{cls.__name__} lacks {name}"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DUBBER_SERVING__PORT": "abc"}, "serving.port = 'abc'"),
        ({"DUBBER_SERVING__PORT": "70000"}, "serving.port = '70000'"),
        ({"DUBBER_LLM__BACKEND": "vlm"}, "llm.backend = 'vlm'"),
        ({"DUBBER_ACTOR__HIDDEN": "64"}, "unknown key actor.hidden"),
    ],
)
def test_config_errors_are_one_line_naming_the_key(env, expected):
    done = _dubber("logs", "list", env=env)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: config: ") and expected in lines[0]
    assert "Traceback" not in done.stderr


def test_unknown_yaml_key_lists_the_section(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("actor:\n  hiden: 3\n")
    done = _dubber("--config", str(bad), "logs", "list")
    assert done.returncode == 2
    assert "unknown key actor.hiden" in done.stderr and "timbre_adaptation" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_actor_runs_where_actor_device_says(speaking_clip):
    """cpu always; cuda wherever torch sees a GPU (skipped here otherwise): the same take length either way."""
    from actors.voice import Actor, EmotionNodes, resolve_device
    from ground.config import get_config, set_config
    from ground.errors import MissingComponentError
    from perception.audio import load_audio

    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(MissingComponentError, match="actor.device is cuda"):
            resolve_device("cuda")
        pytest.skip("no CUDA GPU on this machine: the cuda half of this test runs where one is present")
    base = get_config()
    takes = []
    for device in ("cpu", "cuda"):
        set_config(base.model_copy(update={"actor": base.actor.model_copy(update={"device": device})}))
        try:
            actor = Actor.load()
            assert next(actor.model.parameters()).device.type == device
            x = actor.clip_inputs(speaking_clip / "video.mp4", "We should take the early train tomorrow.")
            prompt = actor.voice_prompt(load_audio(speaking_clip / "audio.wav", sample_rate=16000), 16000)
            nodes = EmotionNodes.empty(384, 94, actor.hp.k)
            takes.append(actor.perform(x, prompt, None, nodes))
        finally:
            set_config(base)
    assert len(takes[0]) == len(takes[1]) and np.isfinite(takes[1]).all()


def test_every_cue_the_fusion_uses_is_a_registered_cue():
    from agents.cues import CUES, Cue, make_cue
    from agents.fusion import CUE_ORDER

    assert set(CUE_ORDER) <= set(CUES)
    context = make_cue("context", decay=0.5, strength=0.5)
    assert isinstance(context, Cue) and context.name == "context"
    with pytest.raises(ValueError, match="unknown cue 'lips'"):
        make_cue("lips")
