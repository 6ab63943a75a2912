"""Every corpus layout yields the same ClipRecord: synthetic, V2C-Animation, and a user's folder."""

from __future__ import annotations

import shutil

import pytest

from corpora.readers import detect_layout, read_corpus
from corpora.subtitles import read_subtitles, split_speaker
from ground.errors import BadInputError


def test_synthetic_layout(small_corpus):
    out, summary = small_corpus
    records = read_corpus(out)
    assert detect_layout(out) == "synthetic" and len(records) == summary["clips_ok"]
    r = records[0]
    assert r.video_path.is_file() and r.audio_path.is_file() and r.emotion and r.speaker and r.split
    train = read_corpus(out, split="train")
    assert all(x.split == "train" for x in train)
    with pytest.raises(BadInputError, match="unknown split"):
        read_corpus(out, split="dev")


def test_v2c_layout(speaking_clip, tmp_path):
    root = tmp_path / "v2c"
    speeches = root / "movie_dataset" / "zootopia" / "zootopia_speeches" / "Judy" / "00"
    videos = root / "movie_dataset" / "zootopia" / "zootopia_videos" / "Judy"
    speeches.mkdir(parents=True)
    videos.mkdir(parents=True)
    shutil.copy(speaking_clip / "audio.wav", speeches / "Judy-00-0034.wav")
    (speeches / "Judy-00-0034.normalized.txt").write_text("I told you never to come back here.\n")
    shutil.copy(speaking_clip / "video.mp4", videos / "0034.mp4")
    (root / "emotions.tsv").write_text("zootopia/Judy-00-0034\tAngry\n")
    (root / "test.txt").write_text("zootopia/Judy-00-0034\n")
    [r] = read_corpus(root)
    assert detect_layout(root) == "v2c"
    assert (r.film, r.character, r.emotion, r.split) == ("zootopia", "Judy", "angry", "test-seen-speakers")
    assert r.audio_path.name == "Judy-00-0034.wav" and r.video_path.name == "0034.mp4"


def test_folder_with_srt_and_txt(speaking_clip, tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    shutil.copy(speaking_clip / "video.mp4", root / "scene1.mp4")
    (root / "scene1.srt").write_text(
        "1\n00:00:00,200 --> 00:00:01,500\n[Anna] Where were you?\n\n"
        "2\n00:00:01,600 --> 00:00:03,000\nBEN: Out.\n\n"
        "3\n00:00:03,000 --> 00:00:03,200\nNo tag here.\n",
        encoding="utf-8",
    )
    shutil.copy(speaking_clip / "video.mp4", root / "scene2.mov")
    (root / "scene2.txt").write_text("A whole clip line.\n")
    records = read_corpus(root)
    assert detect_layout(root) == "folder"
    by_id = {r.clip_id: r for r in records}
    assert set(by_id) == {"scene1-0001", "scene1-0002", "scene1-0003", "scene2"}
    assert by_id["scene1-0001"].speaker == "Anna" and by_id["scene1-0001"].text == "Where were you?"
    assert by_id["scene1-0002"].speaker == "BEN" and by_id["scene1-0002"].start_s == pytest.approx(1.6)
    assert by_id["scene1-0003"].speaker is None
    assert by_id["scene2"].text == "A whole clip line." and by_id["scene2"].start_s is None


def test_vtt_voice_tags_and_bad_subtitles(tmp_path):
    vtt = tmp_path / "a.vtt"
    vtt.write_text("WEBVTT\n\n00:01.000 --> 00:02.500\n<v Maya>Run!</v>\n", encoding="utf-8")
    [cue] = read_subtitles(vtt)
    assert (cue.speaker, cue.text, cue.start_s, cue.end_s) == ("Maya", "Run!", 1.0, 2.5)
    assert split_speaker("[Ben] Hi.") == ("Ben", "Hi.")
    assert split_speaker("no tag: lower case words are text") == (None, "no tag: lower case words are text")
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:02,000 --> 00:00:01,000\nBackwards\n", encoding="utf-8")
    with pytest.raises(BadInputError, match="ends before it starts"):
        read_subtitles(bad)


def test_not_a_corpus(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(BadInputError, match="not a corpus"):
        read_corpus(tmp_path)
