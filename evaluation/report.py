"""Evaluate generated takes of a corpus split (DESIGN section 6) and write the table.

``evaluate(corpus_dir, split, pred_dir)`` takes every clip of the split that has a prediction at
``pred_dir/<clip_id>.wav`` or ``pred_dir/<clip_id>/audio.wav`` (``pred_dir="gt"``: the ground-truth audio
itself, the baseline row) and measures, per clip:

* **WER**: Whisper tiny.en (``evaluation.wer``) on the take against the clip's line, both normalised.
* **SECS**: resemblyzer cosine of the take to the *timbre prompt*. The prompt is the ground-truth audio of
  **another clip of the same speaker** (the next clip of that speaker, in clip-id order, cyclically, within
  the same split; else from any split), which is what a dubbing system gets as its voice reference; only a
  speaker with a single clip in the whole corpus falls back to the clip's own ground truth
  (``prompt_is_self`` marks it). So the ground-truth row's SECS is the same-speaker, other-line
  similarity: the ceiling a system can reach, not 1.0.
* **EMO-ACC**: the audio emotion classifier (``evaluation.emotion``, loaded from ``emotion_model``) on
  the take, and always also on the clip's ground-truth audio (so the classifier's own accuracy is next to
  the system's). A speaker with at least ``MIN_REFERENCE_CLIPS`` (10) evaluated clips goes through the
  speaker-normalised model, normalised with their own takes (the system's takes for the system, the ground
  truth for the ground truth); others through the utterance model (``emotion_pred_mode`` per clip).
  ``emo_acc_neutral_wording`` repeats it on the lines whose words carry no emotion.
* **duration error**: take length minus video length, in video frames (``perception.sync``).
* **AV sync**: inner-lip opening per video frame (face tracker + landmarks of ``perception``; cached per
  video) cross-correlated with the take's loudness envelope over +-5 frames: offset and confidence.
* **MCD-DTW-SL** against the ground-truth audio (``evaluation.mcd``).

A take that cannot be read (missing, silent, too short) fails its clip: it is listed under ``failed`` and
counted in the table, and left out of the means. A single measure that cannot be taken (no speech for the
speaker encoder...) only loses that value (``errors`` in the row). Aggregates are means over the clips
that have the value; ``wer_corpus`` is total word errors over total reference words. ``write_report``
writes the result as JSON and a markdown table next to it; ``markdown_table`` puts several results (the
ablations of one run) side by side.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from corpora.records import ClipRecord
from ground.errors import BadInputError, DubberError

log = logging.getLogger(__name__)

GT = "gt"


def find_prediction(pred_dir: Path, clip_id: str) -> Path | None:
    """``pred_dir/<clip_id>.wav`` or ``pred_dir/<clip_id>/audio.wav``, whichever exists (in that order)."""
    for p in (pred_dir / f"{clip_id}.wav", pred_dir / clip_id / "audio.wav"):
        if p.is_file():
            return p
    return None


def pick_prompts(records: list[ClipRecord], pool: list[ClipRecord]) -> dict[str, tuple[ClipRecord, bool]]:
    """For each record, the clip whose ground truth is its timbre prompt and whether that is itself.

    The next clip of the same speaker in clip-id order (cyclic) within the same split, else within
    ``pool`` (the whole corpus); the record itself only when its speaker has no other clip.
    """
    by_split: dict[tuple, list[ClipRecord]] = defaultdict(list)
    by_speaker: dict[object, list[ClipRecord]] = defaultdict(list)
    for r in pool:
        if r.audio_path is None:
            continue
        by_split[(r.speaker, r.split)].append(r)
        by_speaker[r.speaker].append(r)
    for group in (*by_split.values(), *by_speaker.values()):
        group.sort(key=lambda r: r.clip_id)
    out = {}
    for rec in records:
        for group in (by_split.get((rec.speaker, rec.split), []), by_speaker.get(rec.speaker, [])):
            others = [r for r in group if r.clip_id != rec.clip_id]
            if rec.speaker is not None and others:
                after = [r for r in others if r.clip_id > rec.clip_id]
                out[rec.clip_id] = ((after or others)[0], False)
                break
        else:
            out[rec.clip_id] = (rec, True)
    return out


class LipCache:
    """Inner-lip opening per video frame, computed once per video and kept as ``<dir>/<key>.npy``."""

    def __init__(self, directory: Path):
        self.dir = directory
        self._perceiver = None

    def inner_opening(self, video_path: Path) -> np.ndarray:
        if not video_path.is_file():
            raise BadInputError("video not found", source=video_path)
        st = video_path.stat()
        key = hashlib.sha1(f"{video_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|lips1".encode()).hexdigest()
        path = self.dir / f"{key[:20]}.npy"
        if path.is_file():
            return np.load(path)
        from perception.face import lip_features
        from perception.pipeline import ClipPerceiver
        from perception.video import read_video

        if self._perceiver is None:
            self._perceiver = ClipPerceiver()
        cfg = self._perceiver.config
        clip = read_video(
            video_path, fps=cfg.media.fps, with_audio=False, max_seconds=cfg.media.max_video_seconds
        )
        track = self._perceiver.face_tracker.track(clip.frames)
        inner = lip_features(clip.frames, track, cfg.perception.mouth_crop_size).inner_opening
        self.dir.mkdir(parents=True, exist_ok=True)
        np.save(path, np.asarray(inner, dtype=np.float32))
        return inner


def _sync(lips: LipCache, rec: ClipRecord, take: np.ndarray, sr: int, fps: float) -> dict:
    from perception.audio import loudness_envelope
    from perception.sync import av_sync

    inner = lips.inner_opening(rec.video_path)
    if rec.start_s is not None:  # a clip cut from a longer video (subtitle cue): its frames only
        end = len(inner) if rec.end_s is None else int(round(rec.end_s * fps))
        inner = inner[int(round(rec.start_s * fps)) : end]
    s = av_sync(inner, loudness_envelope(take, sr, fps, num_frames=len(inner)))
    return {
        "sync_offset_frames": int(s.offset_frames) if s.measured else None,
        "sync_confidence": round(float(s.confidence), 4) if s.measured else None,
    }


def _mcd(gt_audio: np.ndarray, take: np.ndarray, sr: int) -> dict:
    from evaluation.mcd import mcd_details

    m = mcd_details(gt_audio, take, sr)
    return {
        "mcd_dtw_sl": round(m.mcd_dtw_sl, 4),
        "mcd_dtw": round(m.mcd_dtw, 4),
        "sl_factor": round(m.sl_factor, 4),
    }


def _num_frames(rec: ClipRecord, fps: float) -> int:
    n = rec.meta.get("num_frames")
    if n is not None:
        return int(n)
    if rec.start_s is not None and rec.end_s is not None:
        return int(round((rec.end_s - rec.start_s) * fps))
    from perception.video import probe

    info = probe(rec.video_path)
    return int(round(float(info["duration"] or 0.0) * fps))


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return round(float(np.mean(vals)), 4) if vals else None


class _ClipMeter:
    """Every per-clip measure of one evaluation run; the models load once, on first use."""

    def __init__(self, *, sr, fps, is_gt, with_wer, with_mcd, prompts, lips, classifier):
        self.sr, self.fps, self.is_gt = sr, fps, is_gt
        self.with_wer, self.with_mcd = with_wer, with_mcd
        self.prompts: dict | None = prompts
        self.lips: LipCache | None = lips
        self.classifier = classifier
        self.prompt_vectors: dict[str, np.ndarray] = {}
        self.feats_pred: dict[str, np.ndarray] = {}
        self.feats_gt: dict[str, np.ndarray] = {}

    def measure(self, rec: ClipRecord, path: Path) -> dict:
        """The row of one clip. Raises ``DubberError`` when the take or the ground truth cannot be read; a
        single measure that cannot be taken (no speech for the speaker encoder...) only loses its value and
        is noted under ``errors``."""
        from perception.audio import load_audio
        from perception.sync import duration_error_frames

        sr = self.sr
        take = load_audio(path, sr)
        gt_audio = load_audio(rec.audio_path, sr) if rec.audio_path is not None else None
        num_frames = _num_frames(rec, self.fps)
        row: dict = {
            "clip_id": rec.clip_id,
            "speaker": rec.speaker,
            "emotion": rec.emotion,
            "wording": rec.meta.get("wording"),
            "text": rec.text,
            "pred_path": str(path),
            "duration_s": round(len(take) / sr, 3),
            "num_frames": num_frames,
            "duration_error_frames": round(duration_error_frames(len(take) / sr, num_frames, self.fps), 3),
        }
        steps = []
        if self.with_wer:
            steps.append(("wer", lambda: self._wer(take, rec.text)))
        if self.prompts is not None:
            steps.append(("secs", lambda: self._secs(take, gt_audio, path, *self.prompts[rec.clip_id])))
        if self.lips is not None:
            steps.append(("sync", lambda: _sync(self.lips, rec, take, sr, self.fps)))
        if self.with_mcd and gt_audio is not None:
            steps.append(("mcd", lambda: _mcd(gt_audio, take, sr)))
        if self.classifier is not None:
            steps.append(("emotion", lambda: self._emotion_features(rec, path)))
        errors: dict[str, str] = {}
        for metric, step in steps:
            try:
                row.update(step())
            except DubberError as exc:
                errors[metric] = exc.one_line()
        if errors:
            row["errors"] = errors
            log.warning("%s: %s", rec.clip_id, "; ".join(f"{k}: {v}" for k, v in errors.items()))
        return row

    def _wer(self, take: np.ndarray, text: str) -> dict:
        from evaluation.wer import get_transcriber, word_errors

        hyp = get_transcriber().transcribe(take, self.sr)
        we = word_errors(text, hyp)
        return {
            "asr": hyp,
            "wer": round(we.rate, 4),
            "word_errors": we.errors,
            "ref_words": we.reference_words,
        }

    def _secs(self, take, gt_audio, path: Path, prompt: ClipRecord, is_self: bool) -> dict:
        from perception.audio import load_audio
        from perception.speaker import cosine, get_speaker_encoder

        encoder = get_speaker_encoder()
        if prompt.clip_id not in self.prompt_vectors:
            prompt_audio = gt_audio if is_self else load_audio(prompt.audio_path, self.sr)
            self.prompt_vectors[prompt.clip_id] = encoder.embed(
                prompt_audio, self.sr, source=str(prompt.audio_path)
            )
        vec = encoder.embed(take, self.sr, source=str(path))
        return {
            "secs": round(cosine(vec, self.prompt_vectors[prompt.clip_id]), 4),
            "prompt_clip": prompt.clip_id,
            "prompt_is_self": is_self,
        }

    def _emotion_features(self, rec: ClipRecord, path: Path) -> dict:
        take_id = rec.clip_id if self.is_gt else f"take-{rec.clip_id}"
        self.feats_pred[rec.clip_id] = self.classifier.file_features(take_id, path)
        if rec.audio_path is not None:
            self.feats_gt[rec.clip_id] = self.classifier.file_features(rec.clip_id, rec.audio_path)
        return {}


def evaluate(
    corpus_dir: str | Path,
    split: str,
    pred_dir: str | Path,
    *,
    emotion_model: str | Path | None = None,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    with_wer: bool = True,
    with_secs: bool = True,
    with_sync: bool = True,
    with_mcd: bool = True,
    name: str | None = None,
    progress: bool = True,
) -> dict:
    """Measure the takes in ``pred_dir`` (or ``"gt"``) for ``split`` of the corpus; see the module notes.

    Returns ``{"name", "corpus", "split", "pred", "clips": [row...], "aggregate": {...}, "missing":
    [clip ids without a take], "failed": {clip_id: error}, "settings": {...}}``. ``emotion_model`` is a
    folder saved by ``EmotionClassifier.save``; without one EMO-ACC is left out (None).
    """
    from evaluation.dataset import load_records
    from ground.config import get_config

    t_start = time.perf_counter()
    cfg = get_config()
    sr, fps = cfg.media.sample_rate, cfg.media.fps
    corpus_dir = Path(corpus_dir)
    all_records = load_records(corpus_dir)
    records = [r for r in all_records if r.split == split]
    if not records:
        splits = sorted({str(r.split) for r in all_records})
        raise BadInputError(
            f"no clips in split {split!r}", source=corpus_dir, hint="splits: " + ", ".join(splits)
        )
    is_gt = str(pred_dir) == GT
    if not is_gt:
        pred_dir = Path(pred_dir)
        if not pred_dir.is_dir():
            raise BadInputError("prediction folder not found", source=pred_dir)
    cache = Path(cache_dir) if cache_dir else cfg.cache_dir / "evaluation"

    todo: list[tuple[ClipRecord, Path]] = []
    missing: list[str] = []
    for rec in records:
        path = rec.audio_path if is_gt else find_prediction(pred_dir, rec.clip_id)
        if path is None or not Path(path).is_file():
            missing.append(rec.clip_id)
        else:
            todo.append((rec, Path(path)))
    if limit is not None:
        todo = todo[: max(0, int(limit))]
    if not todo:
        raise BadInputError(f"no predictions for any clip of split {split!r}", source=pred_dir)

    classifier = None
    if emotion_model is not None:
        from perception.speech_emotion import EmotionClassifier

        classifier = EmotionClassifier.load(emotion_model, cache_dir=cache / "emotion-features")
    meter = _ClipMeter(
        sr=sr,
        fps=fps,
        is_gt=is_gt,
        with_wer=with_wer,
        with_mcd=with_mcd,
        prompts=pick_prompts([r for r, _ in todo], all_records) if with_secs else None,
        lips=LipCache(cache / "lips") if with_sync else None,
        classifier=classifier,
    )
    rows: list[dict] = []
    failed: dict[str, str] = {}
    iterator = todo
    if progress:
        from tqdm import tqdm

        iterator = tqdm(todo, desc=f"eval {split}", unit="clip")
    for rec, path in iterator:
        try:
            rows.append(meter.measure(rec, path))
        except DubberError as exc:  # the take or its ground truth cannot be read: the clip fails
            failed[rec.clip_id] = exc.one_line()
            log.warning("%s: %s", rec.clip_id, exc.one_line())

    if classifier is not None:
        _add_emotion(classifier, rows, meter.feats_pred, meter.feats_gt)

    result = {
        "name": name or ("ground truth" if is_gt else Path(pred_dir).name),
        "corpus": str(corpus_dir),
        "split": split,
        "pred": GT if is_gt else str(pred_dir),
        "clips": rows,
        "aggregate": aggregate(rows, len(missing), len(failed)),
        "missing": missing,
        "failed": failed,
        "settings": {
            "emotion_model": str(emotion_model) if emotion_model else None,
            "emotion_normalisation": classifier.normalisation if classifier else None,
            "emotion_classifiers": classifier.info.get("classifiers") if classifier else None,
            "limit": limit,
            "fps": fps,
            "sample_rate": sr,
            "secs_prompt": "ground truth of another clip of the same speaker (same split first)",
            "seconds": round(time.perf_counter() - t_start, 1),
        },
    }
    return result


def _add_emotion(classifier, rows: list[dict], feats_pred: dict, feats_gt: dict) -> None:
    """Emotion of each take and of its ground truth; speakers with enough takes among ``rows`` are
    normalised with those takes (the system's for the system, the ground truth's for the ground truth)."""
    from ground.messages import EMOTIONS

    by_id = {r["clip_id"]: r for r in rows}
    for feats, key in ((feats_pred, "emotion_pred"), (feats_gt, "emotion_pred_gt")):
        ids = [r["clip_id"] for r in rows if r["clip_id"] in feats]
        if not ids:
            continue
        P, modes = classifier.proba_from_features(
            np.vstack([feats[i] for i in ids]), [by_id[i]["speaker"] for i in ids]
        )
        for i, p, mode in zip(ids, P, modes, strict=True):
            row = by_id[i]
            row[key] = EMOTIONS[int(np.argmax(p))]
            row[key + "_mode"] = mode
            if key == "emotion_pred" and row["emotion"] in EMOTIONS:
                row["emotion_prob_true"] = round(float(p[EMOTIONS.index(row["emotion"])]), 4)
    for row in rows:
        if row.get("emotion") in EMOTIONS:
            if "emotion_pred" in row:
                row["emotion_correct"] = float(row["emotion_pred"] == row["emotion"])
            if "emotion_pred_gt" in row:
                row["emotion_correct_gt"] = float(row["emotion_pred_gt"] == row["emotion"])


def aggregate(rows: list[dict], missing: int = 0, failed: int = 0) -> dict:
    """Means of the per-clip values (over clips that have them) and counts."""
    agg: dict = {"clips": len(rows), "missing": missing, "failed": failed}
    agg["wer"] = _mean(r.get("wer") for r in rows)
    errors = sum(r.get("word_errors", 0) for r in rows)
    words = sum(r.get("ref_words", 0) for r in rows)
    agg["wer_corpus"] = round(errors / words, 4) if words else None
    agg["secs"] = _mean(r.get("secs") for r in rows)
    agg["emo_acc"] = _mean(r.get("emotion_correct") for r in rows)
    agg["emo_acc_gt"] = _mean(r.get("emotion_correct_gt") for r in rows)
    agg["emo_speaker_normalised_clips"] = sum(r.get("emotion_pred_mode") == "speaker" for r in rows)
    # lines whose words say nothing of the emotion: only the voice can carry it there
    neutral_worded = [r for r in rows if r.get("wording") == "neutral"]
    agg["emo_acc_neutral_wording"] = _mean(r.get("emotion_correct") for r in neutral_worded)
    agg["emo_acc_gt_neutral_wording"] = _mean(r.get("emotion_correct_gt") for r in neutral_worded)
    agg["duration_error_frames"] = _mean(r.get("duration_error_frames") for r in rows)
    agg["abs_duration_error_frames"] = _mean(
        abs(r["duration_error_frames"]) if r.get("duration_error_frames") is not None else None for r in rows
    )
    offsets = [r.get("sync_offset_frames") for r in rows]
    agg["abs_sync_offset_frames"] = _mean(abs(o) if o is not None else None for o in offsets)
    agg["sync_offset_zero_share"] = _mean(float(o == 0) if o is not None else None for o in offsets)
    agg["sync_confidence"] = _mean(r.get("sync_confidence") for r in rows)
    agg["mcd_dtw_sl"] = _mean(r.get("mcd_dtw_sl") for r in rows)
    return agg


def _fmt(v, digits: int = 3, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}" if pct else f"{v:.{digits}f}"


TABLE_HEAD = (
    "| system | clips | WER % | SECS | EMO-ACC % | EMO-ACC GT % | dur. err. (frames) | abs. sync offset | "
    "sync conf. | MCD-DTW-SL |"
)


def markdown_row(result: dict) -> str:
    a = result["aggregate"]
    cells = [
        result["name"],
        str(a["clips"]) + (f" (+{a['failed']} failed)" if a.get("failed") else ""),
        _fmt(a["wer"], pct=True),
        _fmt(a["secs"]),
        _fmt(a["emo_acc"], pct=True),
        _fmt(a["emo_acc_gt"], pct=True),
        _fmt(a["abs_duration_error_frames"], 2),
        _fmt(a["abs_sync_offset_frames"], 2),
        _fmt(a["sync_confidence"]),
        _fmt(a["mcd_dtw_sl"], 2),
    ]
    return "| " + " | ".join(cells) + " |"


def markdown_table(results: list[dict]) -> str:
    """One row per evaluated system (ablations side by side on the same split)."""
    return "\n".join(
        [TABLE_HEAD, "|" + "---|" * TABLE_HEAD.count(" | ") + "---|"] + [markdown_row(r) for r in results]
    )


def paired_emotion(baseline: dict, other: dict) -> dict:
    """EMO-ACC of two systems on the clips both were measured on, paired: how many clips only one got
    right, and McNemar's exact two-sided p-value (a binomial test on those clips), so "clearly above"
    is a test rather than a gap between two means."""
    from scipy.stats import binomtest

    def correct(result: dict) -> dict[str, bool]:
        return {r["clip_id"]: bool(r["emotion_correct"]) for r in result["clips"]
                if r.get("emotion_correct") is not None}  # fmt: skip

    a, b = correct(baseline), correct(other)
    both = sorted(a.keys() & b.keys())
    only_other = sum(b[c] and not a[c] for c in both)
    only_baseline = sum(a[c] and not b[c] for c in both)
    discordant = only_other + only_baseline
    p = binomtest(only_other, discordant).pvalue if discordant else 1.0
    return {
        "clips": len(both),
        "baseline_acc": sum(a[c] for c in both) / max(len(both), 1),
        "other_acc": sum(b[c] for c in both) / max(len(both), 1),
        "only_other_right": only_other,
        "only_baseline_right": only_baseline,
        "p_value": float(p),
    }


def markdown_paired(results: list[dict]) -> str:
    """Every system's EMO-ACC against the first one's (the K=0 row of an ablation), paired per clip."""
    base = results[0]
    lines = [
        f"| system vs {base['name']} | clips | EMO-ACC % | {base['name']} % | only it right | only "
        f"{base['name']} right | McNemar p |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results[1:]:
        c = paired_emotion(base, r)
        lines.append(
            f"| {r['name']} | {c['clips']} | {100 * c['other_acc']:.1f} | {100 * c['baseline_acc']:.1f} | "
            f"{c['only_other_right']} | {c['only_baseline_right']} | {c['p_value']:.3f} |"
        )
    return "\n".join(lines)


def markdown_clips(result: dict) -> str:
    head = "| clip | emotion | pred. emotion | WER % | SECS | dur. err. | sync offset | MCD-DTW-SL |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in result["clips"]:
        lines.append(
            f"| {r['clip_id']} | {r.get('emotion') or '-'} | {r.get('emotion_pred') or '-'} | "
            f"{_fmt(r.get('wer'), pct=True)} | {_fmt(r.get('secs'))} | {_fmt(r.get('duration_error_frames'), 2)} | "
            f"{r.get('sync_offset_frames') if r.get('sync_offset_frames') is not None else '-'} | "
            f"{_fmt(r.get('mcd_dtw_sl'), 2)} |"
        )
    return "\n".join(lines)


def to_markdown(result: dict, level: int = 1) -> str:
    """The report of one result: its table row, notes, per-clip table and failures (``level``: heading
    depth of the title)."""
    a = result["aggregate"]
    h, sub = "#" * level, "#" * (level + 1)
    notes = [
        f"{h} Evaluation: {result['name']} on {result['split']}",
        "",
        f"corpus `{result['corpus']}`, takes `{result['pred']}`; {a['clips']} clips measured, "
        f"{a['missing']} without a take, {a['failed']} failed.",
        "",
        markdown_table([result]),
        "",
        "WER: Whisper tiny.en, normalised text, mean over clips (corpus-level "
        f"{_fmt(a['wer_corpus'], pct=True)} %). SECS: to the ground truth of another clip of the same speaker. "
        "EMO-ACC GT: the classifier on the ground-truth audio of the same clips"
        + (
            f" (on neutral-worded lines: {_fmt(a['emo_acc_neutral_wording'], pct=True)} % takes, "
            f"{_fmt(a['emo_acc_gt_neutral_wording'], pct=True)} % ground truth)"
            if a.get("emo_acc_neutral_wording") is not None
            else ""
        )
        + ". Duration error: mean absolute take-minus-video length. Sync: lip opening vs loudness over +-5 "
        "frames (abs. offset, best 0; confidence = peak minus median correlation).",
        "",
        f"{sub} Clips",
        "",
        markdown_clips(result),
        "",
    ]
    if result["failed"]:
        notes += [f"{sub} Failed", ""] + [f"- {k}: {v}" for k, v in result["failed"].items()] + [""]
    return "\n".join(notes)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_report(result: dict, json_path: str | Path) -> tuple[Path, Path]:
    """Write ``json_path`` and the markdown next to it (same name, ``.md``)."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1, default=_json_default) + "\n", encoding="utf-8")
    md_path = json_path.with_suffix(".md")
    md_path.write_text(to_markdown(result), encoding="utf-8")
    return json_path, md_path


def write_comparison(results: list[dict], json_path: str | Path) -> tuple[Path, Path]:
    """Several results of one split (ablations): ``{"results": [...]}`` as JSON, and a markdown file with
    the side-by-side table followed by each system's own report."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(
        json.dumps({"results": results}, indent=1, default=_json_default) + "\n", encoding="utf-8"
    )
    md_path = json_path.with_suffix(".md")
    split = results[0]["split"] if results else ""
    parts = [f"# Evaluation on {split}", "", markdown_table(results), ""]
    for r in results:
        parts += ["", to_markdown(r, level=2)]
    md_path.write_text("\n".join(parts), encoding="utf-8")
    return json_path, md_path
