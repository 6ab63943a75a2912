"""The EMO-ACC classifier and the evaluation report, on real renders of the project's own voices.

A module fixture renders 8 emotions (full intensity) by 4 voices: three voices train the classifier with
one line per emotion, the fourth is held out with two (enough takes for speaker normalisation). A second fixture lays out a 3-clip corpus in the manifest format.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from corpora.records import ClipRecord
from ground.messages import EMOTIONS

SR = 16000
TRAIN_VOICES = ("flite_slt", "flite_awb", "esp_us")
HELD_OUT = "esp_f2"
TRAIN_LINES = 1
HELD_OUT_LINES = 2


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> list[ClipRecord]:
    from corpora.prosody import render_line
    from corpora.script import draw_line
    from corpora.voices import get_voice

    root = tmp_path_factory.mktemp("emo_renders")
    rng = np.random.default_rng(5)
    records = []
    for voice in (*TRAIN_VOICES, HELD_OUT):
        for emotion in EMOTIONS:
            for k in range(HELD_OUT_LINES if voice == HELD_OUT else TRAIN_LINES):
                line = draw_line(emotion, rng, neutral_wording_share=0.0)
                intensity = 0.0 if emotion == "neutral" else 1.0
                audio = render_line(line.text, get_voice(voice), emotion, intensity, seed=k).audio
                cid = f"{voice}-{emotion}-{k}"
                path = root / f"{cid}.wav"
                sf.write(path, audio, SR, subtype="PCM_16")
                records.append(
                    ClipRecord(
                        clip_id=cid,
                        video_path=root / "none.mp4",
                        text=line.text,
                        audio_path=path,
                        speaker=voice,
                        emotion=emotion,
                        intensity=intensity,
                        split="test-unseen-speakers" if voice == HELD_OUT else "train",
                    )
                )
    return records


@pytest.fixture(scope="module")
def trained(renders, tmp_path_factory):
    from perception.speech_emotion import EmotionClassifier

    cache = tmp_path_factory.mktemp("emo_cache")
    clf = EmotionClassifier(cache_dir=cache).fit(renders)
    model_dir = clf.save(tmp_path_factory.mktemp("emo_model") / "model")
    return clf, model_dir


def test_classifier_beats_chance_on_a_held_out_voice(renders, trained):
    clf, _ = trained
    assert clf.info["train_clips"] == len(TRAIN_VOICES) * len(EMOTIONS) * TRAIN_LINES
    # no valid split here: each mode's classifier was picked by speaker-grouped cross-validation
    assert set(clf.info["classifiers"]) == {"utterance", "speaker"}
    assert "cross-validation" in clf.info["selection"]

    held = [r for r in renders if r.speaker == HELD_OUT]
    report = clf.evaluate_records(held)
    assert report["count"] == len(EMOTIONS) * HELD_OUT_LINES
    assert report["modes_used"] == {"speaker": len(held)}  # 16 takes >= MIN_REFERENCE_CLIPS
    # 8 classes, chance 1/8: three times chance on a voice never seen in training
    assert report["accuracy"] >= 3 / len(EMOTIONS), report

    # the strongly contrasting classes: among angry / sad / neutral, the right one is the most probable
    X = clf.record_features(held)
    P, _ = clf.proba_from_features(X, [r.speaker for r in held])
    three = [EMOTIONS.index(e) for e in ("angry", "sad", "neutral")]
    rows = [i for i, r in enumerate(held) if r.emotion in ("angry", "sad", "neutral")]
    picked = [EMOTIONS[three[int(np.argmax(P[i, three]))]] for i in rows]
    correct = sum(p == held[i].emotion for p, i in zip(picked, rows, strict=True))
    assert correct >= len(rows) - 1, list(zip([held[i].emotion for i in rows], picked, strict=True))

    png = Path(clf.cache.dir).parent / "confusion.png"
    from evaluation.emotion import plot_confusion

    assert plot_confusion(report, png, title="held out").stat().st_size > 1000


def test_save_load_round_trip_gives_identical_probabilities(renders, trained):
    from perception.audio import load_audio
    from perception.speech_emotion import EmotionClassifier

    clf, model_dir = trained
    card = json.loads((model_dir / "card.json").read_text())
    assert card["classes"] == list(EMOTIONS)
    assert len(card["feature_names"]) == 88 - 16 + 22  # eGeMAPS without MFCCs, prosody
    assert not any(n.startswith("mfcc") for n in card["feature_names"])
    loaded = EmotionClassifier.load(model_dir, cache_dir=clf.cache.dir)
    rec = next(r for r in renders if r.speaker == HELD_OUT and r.emotion == "sad")
    audio = load_audio(rec.audio_path)
    p1 = clf.predict_proba(audio, SR)
    p2 = loaded.predict_proba(audio, SR)
    assert p1.shape == (len(EMOTIONS),)
    assert abs(p1.sum() - 1.0) < 1e-6
    np.testing.assert_array_equal(p1, p2)
    assert loaded.predict(audio, SR) == clf.predict(audio, SR) == EMOTIONS[int(np.argmax(p1))]

    held = [r for r in renders if r.speaker == HELD_OUT]
    X = clf.record_features(held)
    ref = clf.speaker_reference(X)
    np.testing.assert_array_equal(
        clf.predict_proba(audio, SR, speaker_reference=ref),
        loaded.predict_proba(audio, SR, speaker_reference=ref),
    )
    # a speaker reference of too few takes falls back to the utterance model
    np.testing.assert_array_equal(
        clf.predict_proba(audio, SR, speaker_reference=clf.speaker_reference(X[:2])), p1
    )


# ------------------------------------------------------------------------------------------ report


CLIPS = (
    # clip id, voice, emotion, text
    ("c1", "flite_slt", "angry", "Get out of my house right now, Anna!"),
    ("c2", "flite_slt", "sad", "I waited all night, but nobody came."),
    ("c3", "flite_awb", "happy", "This is the best day of my whole life!"),
)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    from corpora.clip import ClipSpec, render_clip

    root = tmp_path_factory.mktemp("tiny_corpus")
    rows = []
    for i, (cid, voice, emotion, text) in enumerate(CLIPS):
        meta = render_clip(
            ClipSpec(
                clip_id=cid, text=text, voice_id=voice, emotion=emotion, intensity=0.8, seed=i, size=160
            ),
            root / "clips" / cid,
        )
        rows.append(
            {
                "clip_id": cid,
                "dir": f"clips/{cid}",
                "split": "test-unseen-speakers",
                "film": "film",
                "character": voice,
                "speaker": voice,
                "emotion": emotion,
                "intensity": 0.8,
                "wording": "emotional",
                "text": text,
                "duration_s": meta["duration_s"],
                "num_frames": meta["num_frames"],
                "status": "ok",
                "reason": None,
            }
        )
    rows.append(dict(rows[0], clip_id="c4", dir="clips/c4", status="failed", reason="render failed"))
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_load_records(tiny_corpus):
    from evaluation.dataset import load_records

    recs = load_records(tiny_corpus, "test-unseen-speakers")
    assert [r.clip_id for r in recs] == ["c1", "c2", "c3"]  # the failed clip is left out
    assert recs[0].audio_path == (tiny_corpus / "clips" / "c1" / "audio.wav").resolve()
    assert recs[0].meta["num_frames"] > 0
    assert load_records(tiny_corpus, "train") == []


def test_evaluate_ground_truth_and_wrong_lines(tiny_corpus, trained, tmp_path):
    from evaluation.report import evaluate, markdown_table, write_report

    _, model_dir = trained
    cache = tmp_path / "cache"
    gt = evaluate(
        tiny_corpus, "test-unseen-speakers", "gt", emotion_model=model_dir, cache_dir=cache, progress=False
    )
    a = gt["aggregate"]
    assert a["clips"] == 3 and a["missing"] == 0 and a["failed"] == 0
    assert a["wer"] <= 0.3
    assert a["mcd_dtw_sl"] < 0.01
    assert a["abs_duration_error_frames"] == 0
    assert a["emo_acc"] == a["emo_acc_gt"]  # the takes are the ground truth
    rows = {r["clip_id"]: r for r in gt["clips"]}
    assert rows["c1"]["prompt_clip"] == "c2" and not rows["c1"]["prompt_is_self"]  # another clip, same voice
    assert rows["c3"]["prompt_is_self"]  # its voice has no other clip
    assert rows["c3"]["secs"] > 0.99
    assert 0.5 < rows["c1"]["secs"] < 1.0
    assert all(r["sync_offset_frames"] is not None and abs(r["sync_offset_frames"]) <= 1 for r in gt["clips"])

    # takes of the wrong line: c1 says c3's line, c2 says c1's, c3 says c2's; c2/audio.wav layout for one
    pred = tmp_path / "pred"
    pred.mkdir()
    for cid, src in (("c1", "c3"), ("c2", "c1")):
        shutil.copy(tiny_corpus / "clips" / src / "audio.wav", pred / f"{cid}.wav")
    (pred / "c3").mkdir()
    shutil.copy(tiny_corpus / "clips" / "c2" / "audio.wav", pred / "c3" / "audio.wav")
    wrong = evaluate(
        tiny_corpus, "test-unseen-speakers", pred, emotion_model=model_dir, cache_dir=cache, progress=False
    )
    w = wrong["aggregate"]
    assert w["clips"] == 3
    assert w["wer"] > a["wer"] + 0.5
    assert w["mcd_dtw_sl"] > a["mcd_dtw_sl"] + 2.0
    assert w["abs_duration_error_frames"] > 0

    json_path, md_path = write_report(wrong, tmp_path / "out" / "wrong.json")
    assert json.loads(json_path.read_text())["aggregate"]["clips"] == 3
    assert "| pred |" in md_path.read_text()
    table = markdown_table([gt, wrong])
    assert table.count("\n") == 3 and "| ground truth |" in table


def test_evaluate_counts_missing_and_unreadable_takes(tiny_corpus, tmp_path):
    from evaluation.report import evaluate, markdown_row

    pred = tmp_path / "pred"
    pred.mkdir()
    sf.write(pred / "c1.wav", np.zeros(SR, np.float32), SR)  # silent: refused by load_audio
    shutil.copy(tiny_corpus / "clips" / "c2" / "audio.wav", pred / "c2.wav")  # c3: no take at all
    res = evaluate(
        tiny_corpus,
        "test-unseen-speakers",
        pred,
        with_wer=False,
        with_secs=False,
        with_sync=False,
        progress=False,
    )
    assert res["missing"] == ["c3"]
    assert list(res["failed"]) == ["c1"] and "silent" in res["failed"]["c1"]
    assert [r["clip_id"] for r in res["clips"]] == ["c2"]
    assert res["aggregate"]["mcd_dtw_sl"] < 0.01 and res["aggregate"]["wer"] is None
    assert "| 1 (+1 failed) |" in markdown_row(res)


def test_cli_eval_and_errors(tiny_corpus, trained, tmp_path, capsys):
    from evaluation import cli
    from ground.errors import BadInputError

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    missing = tmp_path / "nowhere"
    with pytest.raises(BadInputError, match="nowhere"):
        cli.run(parser.parse_args(["--corpus", str(missing), "--pred", "gt"]))
    with pytest.raises(BadInputError, match="manifest"):
        cli.run(parser.parse_args(["--corpus", str(tmp_path), "--pred", "gt"]))
    with pytest.raises(BadInputError, match="nopred"):
        cli.run(parser.parse_args(["--corpus", str(tiny_corpus), "--pred", str(tmp_path / "nopred")]))

    out = tmp_path / "gt.json"
    args = ["--corpus", str(tiny_corpus), "--pred", "gt", "--json", str(out), "--limit", "2", "--no-sync"]
    args += [
        "--no-progress",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--emotion-model",
        str(tmp_path / "none"),
    ]
    with pytest.raises(BadInputError, match="emotion model"):
        cli.run(parser.parse_args(args))
    assert cli.run(parser.parse_args([*args[:-1], str(trained[1])])) == 0
    printed = capsys.readouterr().out
    assert "| ground truth | 2 |" in printed
    assert out.is_file() and out.with_suffix(".md").is_file()

    # two systems side by side (the same takes under two names, sharing every cache)
    both = tmp_path / "both.json"
    args2 = ["--corpus", str(tiny_corpus), "--pred", "gt", "gt", "--name", "a", "b", "--json", str(both)]
    args2 += [
        "--limit",
        "1",
        "--no-sync",
        "--no-wer",
        "--no-progress",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert cli.run(parser.parse_args(args2)) == 0
    printed = capsys.readouterr().out
    assert "| a | 1 |" in printed and "| b | 1 |" in printed
    assert [r["name"] for r in json.loads(both.read_text())["results"]] == ["a", "b"]
