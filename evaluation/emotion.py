"""Training and reporting the speech emotion classifier (``perception.speech_emotion``): ``dubber eval
emotion-train`` fits it on a corpus's ground-truth audio and writes accuracy, per-class accuracy and the
confusion matrices of every split."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corpora.records import ClipRecord
from ground.messages import EMOTIONS
from perception.speech_emotion import EmotionClassifier


def plot_confusion(report: dict, path: str | Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (with counts) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(report["confusion"], dtype=np.float64)
    labels = report["labels"]
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    f"{frac[i, j]:.2f}\n({int(cm[i, j])})",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if frac[i, j] > 0.5 else "black",
                )
    acc = report.get("accuracy")
    ax.set_title(f"{title}  acc {acc:.3f}" if acc is not None else title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def train_and_report(
    records: Sequence[ClipRecord],
    out_dir: str | Path,
    normalisation: str = "speaker",
    classifier: str | None = None,
    cache_dir: str | Path | None = None,
    refit_with_valid: bool = False,
    progress: bool = True,
) -> dict:
    """Fit on ``train`` (selection on ``valid``), save to ``out_dir``, then evaluate every split present
    (ground-truth audio): accuracy, per-class accuracy, confusion matrices as ``confusion-<split>.png``;
    everything also in ``out_dir/report.json``."""
    from corpora.records import SPLITS

    clf = EmotionClassifier(
        normalisation=normalisation,
        classifier=classifier,
        cache_dir=cache_dir,
        refit_with_valid=refit_with_valid,
    )
    clf.fit(records, progress=progress)
    out = clf.save(out_dir)
    report: dict = {"model": str(out), "training": clf.info, "splits": {}}
    for split in SPLITS:
        subset = [r for r in records if r.split == split]
        if not subset:
            continue
        rep = clf.evaluate_records(subset, progress=progress, reference_records=records)
        rep["png"] = str(plot_confusion(rep, out / f"confusion-{split}.png", title=split))
        report["splits"][split] = rep
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def format_report(report: dict) -> str:
    """Per-class accuracy table (markdown) of a ``train_and_report`` result."""
    splits = report["splits"]
    lines = ["| class | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for e in EMOTIONS:
        cells = []
        for s in splits:
            v = splits[s]["per_class"].get(e)
            cells.append("-" if v is None else f"{v:.2f}")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines.append("| **accuracy** | " + " | ".join(f"**{splits[s]['accuracy']:.3f}**" for s in splits) + " |")
    for mode in ("utterance", "speaker"):
        if any(mode in splits[s].get("accuracy_by_mode", {}) for s in splits):
            cells = [splits[s].get("accuracy_by_mode", {}).get(mode) for s in splits]
            lines.append(
                f"| {mode} model only | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |"
            )
    lines.append("| clips | " + " | ".join(str(splits[s]["count"]) for s in splits) + " |")
    return "\n".join(lines)
