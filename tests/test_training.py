"""Training the actor end to end on a tiny real corpus (flite voices, so every clip has engine phone
timings), a real LanceDB library with its training neighbours, and a small model: the run writes losses,
checkpoints and validation audio, resumes where it stopped, and exports the inference-only checkpoint that
``Actor.load`` reads."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import soundfile as sf

pytestmark = pytest.mark.slow

VOICES = ["flite_slt", "flite_awb", "flite_rms", "flite_kal"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from corpora.synth import build_corpus

    out = tmp_path_factory.mktemp("flite-corpus")
    build_corpus(out, num_clips=10, seed=5, workers=2, voice_ids=VOICES, progress=False, design="standard")
    return out


@pytest.fixture(scope="module")
def library(corpus, tmp_path_factory):
    from retrieval.build import build_library
    from retrieval.neighbours import compute_neighbours

    uri = str(tmp_path_factory.mktemp("lib") / "db")
    build_library(corpus, uri, use_llm=False, progress=False, batch_size=5)
    compute_neighbours(uri, k=3)
    return uri


def _recipe(library: str, epochs: int):
    from actors.training import TrainingRecipe

    return TrainingRecipe(
        library=library, hidden=32, heads=2, decoder_layers=2, postnet_layers=2, epochs=epochs, batch_size=3,
        valid_clips=3, workers=1, samples=1, warmup_steps=5,
    )  # fmt: skip


def test_training_logs_checkpoints_samples_resumes_and_exports(corpus, library, tmp_path):
    from actors.training import export_checkpoint, train_actor
    from actors.voice import Actor
    from corpora.readers import read_corpus

    run = tmp_path / "run"
    first = train_actor(corpus, run, _recipe(library, epochs=2), progress=False)
    assert first["epochs"] == 2 and first["steps"] > 0
    assert (run / "last.pt").is_file() and (run / "best.pt").is_file() and (run / "losses.png").is_file()
    valid = [r for r in csv.DictReader((run / "losses.csv").open()) if r["phase"] == "valid"]
    assert [int(r["epoch"]) for r in valid] == [1, 2]
    for key in ("total", "refined_sp", "alignment", "duration", "ctc"):
        assert all(math.isfinite(float(r[key])) for r in valid), key

    # validation audio: the clip's length exactly, and not silence
    samples = sorted((run / "samples").glob("epoch002_*.wav"))
    assert samples
    audio, sr = sf.read(samples[0])
    clip_id = samples[0].stem.split("_", 1)[1]
    record = next(r for r in read_corpus(corpus) if r.clip_id == clip_id)
    assert len(audio) == round(record.meta["num_frames"] / 25 * sr)
    assert np.sqrt(np.mean(audio**2)) > 1e-3

    # the same command with more epochs resumes from the step it stopped at
    second = train_actor(corpus, run, _recipe(library, epochs=3), progress=False)
    assert second["epochs"] == 3 and second["steps"] == first["steps"] * 3 // 2
    valid = [r for r in csv.DictReader((run / "losses.csv").open()) if r["phase"] == "valid"]
    assert [int(r["epoch"]) for r in valid] == [1, 2, 3]

    exported = export_checkpoint(run, tmp_path / "actor.pt")
    assert exported["bytes"] < (run / "last.pt").stat().st_size / 2  # no optimiser, float16
    actor = Actor.load(exported["out"])
    assert "<sil>" in actor.vocab.index and actor.hp.hidden == 32

    # a warm start: a new run begins from the exported weights (step 0, fresh schedule); another model
    # size is refused by name
    import torch

    from ground.errors import BadInputError

    warm = _recipe(library, epochs=1).model_copy(update={"init_from": exported["out"]})
    train_actor(corpus, tmp_path / "warm", warm, progress=False, max_steps=1)
    rows = [r for r in csv.DictReader((tmp_path / "warm" / "losses.csv").open()) if r["phase"] == "valid"]
    cold = [r for r in csv.DictReader((run / "losses.csv").open()) if r["phase"] == "valid"]
    assert float(rows[0]["total"]) < float(cold[0]["total"])  # starts where the first run had got to
    state = torch.load(tmp_path / "warm" / "last.pt", weights_only=False)
    assert state["step"] == 1 and state["vocab"] == actor.vocab.symbols
    with pytest.raises(BadInputError, match="hidden"):
        bigger = warm.model_copy(update={"hidden": 48})
        train_actor(corpus, tmp_path / "warm-bigger", bigger, progress=False, max_steps=1)


def test_a_run_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(corpus, library, tmp_path):
    """``last.pt`` keeps the place in the epoch and the random states: stopping after 2 steps and
    resuming gives exactly the weights of the run that never stopped (on the CPU)."""
    import torch

    from actors.training import train_actor

    recipe = _recipe(library, epochs=1).model_copy(update={"device": "cpu", "batch_size": 2})
    whole = train_actor(corpus, tmp_path / "whole", recipe, progress=False)
    assert whole["steps"] >= 3
    stopped = train_actor(corpus, tmp_path / "split", recipe, progress=False, max_steps=2)
    assert stopped["steps"] == 2 and stopped["epochs"] == 0
    state = torch.load(tmp_path / "split" / "last.pt", weights_only=False)
    assert state["done_in_epoch"] == 2
    resumed = train_actor(corpus, tmp_path / "split", recipe, progress=False)
    assert resumed["steps"] == whole["steps"] and resumed["epochs"] == 1
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_cuda_device_is_refused_by_name_where_there_is_no_gpu(corpus, library, tmp_path):
    import torch

    from actors.training import train_actor
    from ground.errors import BadInputError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the refusal is for machines without one")
    recipe = _recipe(library, epochs=1).model_copy(update={"device": "cuda"})
    with pytest.raises(BadInputError, match="no CUDA GPU"):
        train_actor(corpus, tmp_path / "run", recipe, progress=False)
