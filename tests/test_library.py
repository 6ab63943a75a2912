"""The Reference Footage library: real LanceDB, real perception and MiniLM on the 8-clip corpus (rules
captions). One build is shared by the module; tests that change rows work on their own databases."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from corpora.readers import read_corpus
from ground.errors import BadInputError
from ground.messages import ReferenceClip
from retrieval.build import build_library
from retrieval.library import ReferenceLibrary, references_message
from retrieval.schema import AUDIO_DIM, CAPTION_DIM, SPEAKER_DIM, ReferenceRow
from tests.conftest import run_dubber

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(small_corpus) -> Path:
    return small_corpus[0]


@pytest.fixture(scope="module")
def built(small_library):
    """The small corpus built once, in process, with rules captions: (db uri, build report). Tests that
    change rows copy it first (``_copy_db``)."""
    return small_library


def _copy_db(uri: str, tmp_path: Path) -> str:
    dst = tmp_path / "db"
    shutil.copytree(uri, dst)
    return str(dst)


def test_build_writes_one_checked_row_per_clip(built, corpus):
    uri, report = built
    records = read_corpus(corpus)
    assert report.written == len(records) == report.rows and report.failed == 0 and not report.use_llm
    lib = ReferenceLibrary.open(uri)
    rows = {r["clip_id"]: r for r in lib.rows([r.clip_id for r in records])}
    for rec in records:
        row = rows[rec.clip_id]
        ReferenceRow.model_validate(row)
        assert (row["emotion"], row["speaker"], row["film"], row["split"]) == (
            rec.emotion, rec.speaker, rec.film, rec.split,
        )  # fmt: skip
        assert len(row["scene_vector"]) == len(row["text_vector"]) == CAPTION_DIM
        assert len(row["speaker_vector"]) == SPEAKER_DIM and len(row["audio_vector"]) == AUDIO_DIM
        assert np.linalg.norm(row["audio_vector"]) == pytest.approx(1.0, abs=1e-5)
        assert row["text_caption"].startswith("Line:") and rec.text in row["text_caption"]
        assert row["scene_caption"].startswith("Scene:") and row["face_caption"].startswith("Face:")
        assert row["audio_caption"].startswith("Voice:") and "=rules" in row["caption_sources"]
        assert row["f0_mean_hz"] > 50 and row["energy_db"] < 0 and row["rate_per_s"] > 0
        assert row["extractor_version"] == report.extractor_version
    info = lib.info()
    assert info["rows"] == len(records) and info["failed"] == 0
    assert info["meta"]["use_llm"] == "false"


def test_rerun_skips_finished_clips(built, corpus, tmp_path):
    uri = _copy_db(built[0], tmp_path)
    report = build_library(corpus, uri, use_llm=False, progress=False)
    assert (report.written, report.skipped, report.rows) == (0, 8, 8)


def test_rows_of_an_older_extractor_version_are_redone(built, corpus, tmp_path):
    uri = _copy_db(built[0], tmp_path)
    lib = ReferenceLibrary.open(uri)
    ids = sorted(lib.versions())[:2]
    lib.table.update(where=f"clip_id IN ('{ids[0]}', '{ids[1]}')", values={"extractor_version": "library-0"})
    report = build_library(corpus, uri, use_llm=False, progress=False)
    assert (report.written, report.redone, report.skipped, report.rows) == (2, 2, 6, 8)
    assert set(ReferenceLibrary.open(uri).versions().values()) == {report.extractor_version}


def test_a_clip_that_fails_is_recorded_and_the_build_goes_on(corpus, tmp_path):
    good, bad = read_corpus(corpus)[:2]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 50)
    bad.video_path = broken
    uri = str(tmp_path / "db")
    report = build_library([bad, good], uri, use_llm=False, progress=False)
    assert (report.written, report.failed) == (1, 1)
    lib = ReferenceLibrary.open(uri)
    (failure,) = lib.failures()
    assert failure["clip_id"] == bad.clip_id and str(broken) in failure["reason"]
    assert failure["extractor_version"] == report.extractor_version
    assert lib.info()["failed_clips"][0]["clip_id"] == bad.clip_id
    again = build_library([bad, good], uri, use_llm=False, progress=False)  # retried, still failing
    assert (again.written, again.skipped, again.failed) == (0, 1, 1) and len(lib.failures()) == 1


def test_subtitle_cues_of_a_film_folder_become_rows_of_their_own_span(corpus, tmp_path):
    rec = read_corpus(corpus)[0]
    folder = tmp_path / "film"
    folder.mkdir()
    shutil.copy(rec.video_path, folder / "scene1.mp4")
    shutil.copy(rec.audio_path, folder / "scene1.wav")
    (folder / "scene1.srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,200\n[Ada] The first half.\n\n"
        "2\n00:00:01,200 --> 00:00:02,400\n[Ada] And the second.\n"
    )
    uri = str(tmp_path / "db")
    report = build_library(folder, uri, use_llm=False, progress=False)
    assert (report.written, report.failed) == (2, 0), report.failed_clips
    rows = ReferenceLibrary.open(uri).rows(["scene1-0001", "scene1-0002"])
    assert [(r["start_s"], r["end_s"], r["speaker"]) for r in rows] == [(0.0, 1.2, "Ada"), (1.2, 2.4, "Ada")]
    assert rows[0]["duration_s"] == pytest.approx(1.2, abs=0.01) and rows[0]["emotion"] is None
    assert rows[0]["audio_vector"] != rows[1]["audio_vector"]


def test_wrong_dimension_or_nan_is_refused_at_write_time(built, tmp_path):
    uri = _copy_db(built[0], tmp_path)
    lib = ReferenceLibrary.open(uri)
    row = lib.rows([sorted(lib.versions())[0]])[0]
    with pytest.raises(BadInputError, match="scene_vector has 383 dimensions, the library stores 384"):
        lib.upsert([{**row, "scene_vector": row["scene_vector"][:383]}])
    with pytest.raises(BadInputError, match="audio_vector contains NaN"):
        lib.upsert([{**row, "audio_vector": [float("nan")] * AUDIO_DIM}])
    assert lib.count() == 8


def test_missing_or_corrupt_library_gives_a_clear_error(built, tmp_path):
    with pytest.raises(BadInputError, match="no reference library here"):
        ReferenceLibrary.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="has no 'references' table"):
        ReferenceLibrary.open(tmp_path / "empty")
    uri = _copy_db(built[0], tmp_path)
    for f in (Path(uri) / "references.lance" / "data").iterdir():
        f.write_bytes(b"garbage")
    with pytest.raises(BadInputError, match="missing, corrupt or unreadable"):
        lib = ReferenceLibrary.open(uri)
        lib.query_for_clip(sorted(lib.versions())[0])
    cli = run_dubber("library", "search", "--db", str(tmp_path / "nowhere"), "--clip", "c00000")
    assert cli.returncode == 2 and cli.stderr.strip().startswith("error: ") and "Traceback" not in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1


def test_search_excludes_the_target_and_returns_k_typed_references(built):
    lib = ReferenceLibrary.open(built[0])
    ids, vecs = lib.vectors(["scene_vector", "face_vector", "text_vector"])
    target = ids[0]
    row = lib.row(target)
    results = lib.query_for_clip(target, k=3)
    assert set(results) == {"scene", "face", "text"}
    for modality, clips in results.items():
        assert len(clips) == 3 and all(isinstance(c, ReferenceClip) for c in clips)
        assert target not in {c.clip_id for c in clips}
        assert all(c.modality == modality and len(c.audio_emotion) == AUDIO_DIM and c.caption for c in clips)
        sims = [c.similarity for c in clips]
        assert sims == sorted(sims, reverse=True)
        # the same as an exact cosine over every other clip
        X = vecs[f"{modality}_vector"]
        cos = X @ X[0] / (np.linalg.norm(X, axis=1) * np.linalg.norm(X[0]))
        best = sorted(((c, i) for c, i in zip(cos[1:], ids[1:], strict=True)), reverse=True)[:3]
        assert sims == pytest.approx([c for c, _ in best], abs=1e-4)
    other_film = lib.query_for_clip(target, k=8, exclude_same_film=True)
    films = {r["clip_id"]: r["film"] for r in lib.rows(ids, ["film", "speaker"])}
    assert all(films[c.clip_id] != row["film"] for c in other_film["scene"])
    other_speaker = lib.query_for_clip(target, k=8, exclude_same_speaker=True)
    speakers = {r["clip_id"]: r["speaker"] for r in lib.rows(ids, ["speaker"])}
    assert all(speakers[c.clip_id] != row["speaker"] for c in other_speaker["face"])
    n_same = sum(1 for i in ids if speakers[i] == row["speaker"]) - 1
    assert len(lib.query_for_clip(target, k=8, speaker=row["speaker"])["text"]) == n_same
    assert lib.query_for_clip(target, k=3, language="fr")["text"] == []
    msg = references_message(results, session="s1", line=2)
    assert [r.modality for r in msg.references] == ["scene"] * 3 + ["face"] * 3 + ["text"] * 3


def test_query_for_a_new_target_uses_the_same_captions(built, corpus):
    from perception.features import visual_features

    rec = read_corpus(corpus)[0]
    lib = ReferenceLibrary.open(built[0])
    results = lib.query_for_inputs(visual_features(rec.video_path), rec.text, k=2)
    # the clip itself is in the library: its own row is the best match in every modality
    assert {m: clips[0].clip_id for m, clips in results.items()} == dict.fromkeys(
        ("scene", "face", "text"), rec.clip_id
    )
    assert all(clips[0].similarity == pytest.approx(1.0, abs=1e-4) for clips in results.values())
    text_only = lib.query_for_inputs(None, "Get out of my house, now!", k=2, exclude_ids=[rec.clip_id])
    assert list(text_only) == ["text"] and len(text_only["text"]) == 2


def test_training_neighbours_come_from_the_train_split_only(built, tmp_path):
    from retrieval.neighbours import compute_neighbours, load_neighbours, load_reference_vectors

    uri = _copy_db(built[0], tmp_path)
    lib = ReferenceLibrary.open(uri)
    split_of = {r["clip_id"]: r["split"] for r in lib.rows(sorted(lib.versions()), ["split"])}
    pool_split, n_pool = Counter(split_of.values()).most_common(1)[0]
    assert n_pool >= 3
    report = compute_neighbours(uri, k=2, pool_split=pool_split)
    assert (report.rows, report.pool, report.k) == (8, n_pool, 2)
    table = load_neighbours(uri, with_similarity=True)
    assert set(table) == set(split_of)
    for clip, per_modality in table.items():
        for modality, pairs in per_modality.items():
            assert len(pairs) == 2 and clip not in [i for i, _ in pairs]
            assert all(split_of[i] == pool_split for i, _ in pairs)
            live = lib.query_for_clip(clip, k=2, split=pool_split, modalities=[modality])[modality]
            assert [s for _, s in pairs] == pytest.approx([c.similarity for c in live], abs=1e-4)
    assert load_neighbours(uri, k=1)[next(iter(table))]["scene"] == [table[next(iter(table))]["scene"][0][0]]
    with pytest.raises(BadInputError, match="precomputed for k=2"):
        load_neighbours(uri, k=3)
    index, vectors = load_reference_vectors(uri)
    assert vectors["audio_vector"].shape == (8, AUDIO_DIM) and set(index) == set(split_of)


def test_reference_footage_joins_the_pool_and_its_clips_are_retrieved(built, tmp_path):
    """Library-only ``reference`` clips (never trained on) are drawn from beside the train split, by the
    precomputed neighbours and by a live search over both splits alike."""
    from retrieval.neighbours import compute_neighbours, load_neighbours, retrieval_pool

    uri = _copy_db(built[0], tmp_path)
    lib = ReferenceLibrary.open(uri)
    rows = lib.rows(sorted(lib.versions()))
    pool_split = Counter(r["split"] for r in rows).most_common(1)[0][0]
    others = [r for r in rows if r["split"] != pool_split]
    assert others, "the small corpus should have clips outside its largest split"
    lib.upsert([{**others[0], "split": "reference"}])
    reference = others[0]["clip_id"]
    pool = retrieval_pool(pool_split)
    assert pool == (pool_split, "reference")
    report = compute_neighbours(uri, k=2, pool_split=pool_split)
    split_of = {r["clip_id"]: r["split"] for r in ReferenceLibrary.open(uri).rows(sorted(lib.versions()))}
    assert report.pool == sum(s in pool for s in split_of.values())
    assert report.pool_splits["reference"] == 1 and sum(report.pool_splits.values()) == report.pool
    assert report.pool_description().endswith(f"({report.pool - 1} {pool_split} + 1 reference)")
    table = load_neighbours(uri, with_similarity=True)
    drawn = {i for per in table.values() for pairs in per.values() for i, _ in pairs}
    assert reference in drawn and all(split_of[i] in pool for i in drawn)
    for clip, per_modality in table.items():
        live = ReferenceLibrary.open(uri).query_for_clip(clip, k=2, split=pool)
        for modality, pairs in per_modality.items():
            assert [s for _, s in pairs] == pytest.approx([c.similarity for c in live[modality]], abs=1e-4)


def test_cli_build_search_info_json(built, corpus):
    uri = built[0]
    build = run_dubber("library", "build", "--from", str(corpus), "--db", uri, "--no-llm", "--json")
    assert build.returncode == 0, build.stderr
    assert json.loads(build.stdout)["skipped"] == 8
    clip = sorted(ReferenceLibrary.open(uri).versions())[0]
    search = run_dubber(
        "library", "search", "--db", uri, "--clip", clip, "-k", "2", "--exclude-speaker", "--json"
    )
    assert search.returncode == 0, search.stderr
    out = json.loads(search.stdout)
    assert out["query"]["clip_id"] == clip
    assert {m: len(v) for m, v in out["references"].items()} == {"scene": 2, "face": 2, "text": 2}
    assert all(ReferenceClip(**c).clip_id != clip for v in out["references"].values() for c in v)
    info = run_dubber("library", "info", "--db", uri, "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["rows"] == 8


def test_two_ray_workers_make_the_same_rows(built, corpus, tmp_path):
    records = read_corpus(corpus)[:2]
    uri = str(tmp_path / "db")
    report = build_library(records, uri, use_llm=False, workers=2, progress=False)
    assert (report.written, report.failed, report.workers) == (2, 0, 2)
    ids = [r.clip_id for r in records]
    ray_rows = ReferenceLibrary.open(uri).rows(ids)
    one_rows = ReferenceLibrary.open(built[0]).rows(ids)
    for a, b in zip(ray_rows, one_rows, strict=True):
        for key, value in a.items():
            if key == "built_at":
                continue
            if key.endswith("_vector"):
                np.testing.assert_allclose(value, b[key], atol=1e-5, err_msg=f"{a['clip_id']} {key}")
            else:
                assert value == b[key], (a["clip_id"], key)


def test_the_cached_copy_of_the_shipped_library_follows_it_unless_written_to(tmp_path, caplog):
    from retrieval.library import SHIPPED_LIBRARY, sync_shipped_copy

    shipped, cached = tmp_path / "shipped", tmp_path / "cache" / "library"
    shutil.copytree(SHIPPED_LIBRARY, shipped)
    sync_shipped_copy(shipped, cached)  # first use: a copy that opens and reads like the shipped one
    rows = ReferenceLibrary.open(str(shipped)).count()
    assert ReferenceLibrary.open(str(cached)).count() == rows

    # a new shipped library (a row fewer) replaces an untouched copy
    lib = ReferenceLibrary.open(str(shipped))
    gone = lib.scan(["clip_id"])["clip_id"].to_pylist()[0]
    lib.table.delete(f"clip_id = '{gone}'")
    sync_shipped_copy(shipped, cached)
    assert ReferenceLibrary.open(str(cached)).count() == rows - 1

    # a copy something wrote to is kept, with a warning, even when the shipped one changes again
    mine = ReferenceLibrary.open(str(cached))
    mine.table.delete(f"clip_id = '{mine.scan(['clip_id'])['clip_id'].to_pylist()[0]}'")
    kept = ReferenceLibrary.open(str(cached)).count()
    assert kept == rows - 2
    lib = ReferenceLibrary.open(str(shipped))
    lib.table.delete(f"clip_id = '{lib.scan(['clip_id'])['clip_id'].to_pylist()[-1]}'")
    with caplog.at_level("WARNING"):
        sync_shipped_copy(shipped, cached)
    assert ReferenceLibrary.open(str(cached)).count() == kept
    assert "left as it is" in caplog.text


def test_audio_norm_never_replaces_the_shipped_statistics_by_default(small_corpus, capsys):
    """Without --out the command refuses in one line that names the shipped file; the file is left alone."""
    corpus, _ = small_corpus
    from dubber.cli import main
    from ground.config import get_config

    shipped = get_config().library.audio_norm
    before = shipped.read_bytes()
    assert main(["library", "audio-norm", "--from", str(corpus), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: dubber library audio-norm needs --out FILE") and str(shipped) in err
    assert len(err.splitlines()) == 1
    assert shipped.read_bytes() == before
