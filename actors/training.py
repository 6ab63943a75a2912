"""Training the actor: ``dubber train --corpus DIR --recipe recipes/actor/default.yaml --out DIR``.

Resumable (``<out>/last.pt`` holds the model, optimiser, step and the place in the epoch's data order,
written every ``checkpoint_every`` steps and at each epoch's end, so an interrupted run loses minutes, not
an epoch), a progress bar, losses in ``<out>/losses.csv`` with curves in ``<out>/losses.png``, and a validation pass per
epoch that writes sample audio to ``<out>/samples/``. Ablations train from the same recipe with one switch
changed (``--set k=0``, ``--set graph_stages=1``...).

The same recipe runs on a CUDA GPU where one is present (``device: auto``): batches, model and optimiser
move to it, the data order and the checkpoints are the device's own business, so a run started on a GPU
machine resumes on the CPU from its ``last.pt`` and the other way round.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict

from actors.alignment import with_boundaries
from actors.dataset import ActorDataset, EmotionNodeTable, PhonemeVocabulary, collate, load_clips
from actors.features import FeatureStore, precompute
from actors.model import (
    ActorHParams,
    ProgressiveGraphGenerator,
    alignment_loss,
    attention_target,
    count_parameters,
)
from ground.errors import BadInputError
from ground.files import replacing

log = logging.getLogger(__name__)


class TrainingRecipe(BaseModel):
    """Everything a training run depends on; written next to the checkpoints."""

    model_config = ConfigDict(extra="forbid")

    # model switches (ActorHParams)
    hidden: int = 128
    heads: int = 2
    decoder_layers: int = 6
    postnet_layers: int = 4
    k: int = 3
    graph_stages: int = 3
    use_guidance: bool = True
    graph_style: bool = False
    dropout: float = 0.1
    # data
    library: str | None = None  # LanceDB URI with the corpus's rows and precomputed neighbours
    max_train_clips: int | None = None
    valid_clips: int = 64
    workers: int = 2  # feature precompute processes
    # warm start: a checkpoint (a run's or an exported one) whose weights, phoneme vocabulary and feature
    # statistics a new run starts from, with a fresh optimiser and learning-rate schedule
    init_from: str | None = None
    # optimisation
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 300
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1  # 2 threads thrash (30x slower measured) whenever another process holds a core
    device: str = "auto"  # auto: cuda when a GPU is present, else cpu; or cpu, cuda, cuda:1...
    checkpoint_every: int = 200  # steps between mid-epoch saves of last.pt (about 3 min on one CPU thread)
    # loss weights
    w_lf0: float = 1.0
    w_vuv: float = 0.5
    w_emotion: float = 0.1
    w_duration: float = 0.1
    w_alignment: float = 1.0
    w_speaker: float = 0.1
    w_ctc: float = 0.5
    # validation
    samples: int = 2

    @classmethod
    def load(cls, path: str | Path | None, overrides: list[str] | None = None) -> TrainingRecipe:
        import yaml

        data: dict = {}
        if path is not None:
            p = Path(path)
            if not p.is_file():
                raise BadInputError("training recipe not found", source=p)
            data = yaml.safe_load(p.read_text()) or {}
        for item in overrides or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise BadInputError(f"--set {item!r}: expected KEY=VALUE")
            data[key.strip()] = yaml.safe_load(value)
        return cls.model_validate(data)

    def hparams(self, vocab_size: int, acoustic_dim: int, caption_dim: int, audio_dim: int) -> ActorHParams:
        from ground.config import get_config

        return ActorHParams(
            vocab_size=vocab_size, acoustic_dim=acoustic_dim, caption_dim=caption_dim, audio_emotion_dim=audio_dim,
            hidden=self.hidden, heads=self.heads, decoder_layers=self.decoder_layers,
            postnet_layers=self.postnet_layers, k=self.k, graph_stages=self.graph_stages,
            use_guidance=self.use_guidance, graph_style=self.graph_style, dropout=self.dropout,
            frames_per_video_frame=get_config().media.frames_per_video_frame,
        )  # fmt: skip


def spectral_weights(stats, layout) -> torch.Tensor:
    """Per-dimension weights of the envelope loss: each coded dimension's spread in raw units (capped at
    the third's, mean 1). Per-dimension normalisation makes the noise-like high-order coefficients count
    as much as the formant-carrying low ones; in raw units, as mel-cepstral distortion counts them, they
    do not."""
    std = torch.as_tensor(np.asarray(stats.std)[layout.sp], dtype=torch.float32)
    w = std.clamp(max=float(std[2]))
    return w / w.mean()


def acoustic_loss(out: dict, batch: dict, layout, recipe: TrainingRecipe) -> dict[str, torch.Tensor]:
    """Masked L1 on envelope (weighted by ``spectral_weights``), aperiodicity and voiced log-F0; BCE on
    voicing; for coarse and refined."""
    target, mask = batch["acoustics"], batch["acoustic_mask"].float()
    sp_weight = batch["sp_weight"]
    vuv = target[..., layout.vuv].squeeze(-1)
    frames = mask.sum().clamp(min=1)
    losses = {}
    for name in ("coarse", "refined"):
        pred = out[name]
        sp = (
            ((pred[..., layout.sp] - target[..., layout.sp]).abs() * sp_weight).mean(-1) * mask
        ).sum() / frames
        ap = ((pred[..., layout.ap] - target[..., layout.ap]).abs().mean(-1) * mask).sum() / frames
        voiced = mask * vuv
        lf0 = ((pred[..., layout.lf0].squeeze(-1) - target[..., layout.lf0].squeeze(-1)).abs() * voiced).sum()
        lf0 = lf0 / voiced.sum().clamp(min=1)
        bce = F.binary_cross_entropy_with_logits(pred[..., layout.vuv].squeeze(-1), vuv, reduction="none")
        losses[f"{name}_sp"] = sp
        losses[f"{name}_ap"] = ap
        losses[f"{name}_lf0"] = lf0
        losses[f"{name}_vuv"] = (bce * mask).sum() / frames
    return losses


def total_loss(model, out: dict, batch: dict, layout, recipe: TrainingRecipe) -> dict[str, torch.Tensor]:
    losses = acoustic_loss(out, batch, layout, recipe)
    phon_mask = batch["phonemes"] != 0
    video_mask = batch["video_mask"]
    target = attention_target(batch["durations"], video_mask.shape[1], model.hp.frames_per_video_frame)
    losses["alignment"] = alignment_loss(out["attention"], target, video_mask)
    target_dur = torch.log1p(batch["durations"].float())
    losses["duration"] = ((out["log_durations"] - target_dur) ** 2 * phon_mask).sum() / phon_mask.sum()
    losses["emotion"] = F.cross_entropy(out["emotion_logits"], batch["emotion"], ignore_index=-100)
    losses["speaker"] = (1 - F.cosine_similarity(out["speaker"], batch["target_dvector"], dim=-1)).mean()
    log_probs = out["phoneme_logits"].log_softmax(-1).transpose(0, 1)  # (T, B, V)
    # per phoneme (ctc_loss's "mean" divides by the target lengths), averaged over the batch
    lengths = (batch["video_mask"].sum(1), phon_mask.sum(1))
    losses["ctc"] = F.ctc_loss(log_probs, batch["phonemes"], *lengths, blank=0, zero_infinity=True)
    w = recipe
    losses["total"] = (
        sum(losses[f"{n}_sp"] + losses[f"{n}_ap"] for n in ("coarse", "refined"))
        + w.w_lf0 * (losses["coarse_lf0"] + losses["refined_lf0"])
        + w.w_vuv * (losses["coarse_vuv"] + losses["refined_vuv"])
        + w.w_alignment * losses["alignment"]
        + w.w_duration * losses["duration"]
        + w.w_emotion * losses["emotion"]
        + w.w_speaker * losses["speaker"]
        + w.w_ctc * losses["ctc"]
    )
    return losses


def training_device(name: str) -> torch.device:
    """The recipe's ``device``: ``auto`` takes the GPU when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError(f"device {name!r}: no CUDA GPU here", hint="use --set device=auto or device=cpu")
    return device


def to_device(batch: dict, device: torch.device) -> dict:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
    }


def epoch_batches(train_set, recipe: TrainingRecipe, epoch: int) -> list[list[int]]:
    """The epoch's batches, a function of (seed, epoch) alone, so a resumed run skips exactly the batches
    it has done: similar lengths together (less padding), then shuffled."""
    order = np.random.default_rng(recipe.seed + epoch).permutation(len(train_set))
    batches = []
    for i in range(0, len(order), recipe.batch_size * 8):
        chunk = sorted(
            order[i : i + recipe.batch_size * 8], key=lambda j: train_set.clips[j].num_video_frames
        )
        batches += [chunk[j : j + recipe.batch_size] for j in range(0, len(chunk), recipe.batch_size)]
    np.random.default_rng(recipe.seed + 1000 + epoch).shuffle(batches)
    return batches


def _atomic_save(obj, path: Path) -> None:
    with replacing(path) as tmp:
        torch.save(obj, tmp)


def plot_losses(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(csv_path.open()))
    if not rows:
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    train = [r for r in rows if r["phase"] == "train"]
    valid = [r for r in rows if r["phase"] == "valid"]
    for key in ("total", "refined_sp", "refined_lf0", "alignment", "emotion", "ctc"):
        axes[0].plot([int(r["step"]) for r in train], [float(r[key]) for r in train], label=key, lw=0.8)
        if valid:
            axes[1].plot([int(r["step"]) for r in valid], [float(r[key]) for r in valid], "o-", label=key)
    for ax, title in zip(axes, ("train", "valid"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


LOSS_KEYS = (
    "total", "coarse_sp", "refined_sp", "coarse_ap", "refined_ap", "coarse_lf0", "refined_lf0", "coarse_vuv",
    "refined_vuv", "alignment", "duration", "emotion", "speaker", "ctc",
)  # fmt: skip


def training_records(corpus: str | Path, recipe: TrainingRecipe):
    from corpora.readers import read_corpus

    records = [r for r in read_corpus(corpus) if r.audio_path is not None]
    train_recs = [r for r in records if r.split == "train"][: recipe.max_train_clips]
    valid_recs = [r for r in records if r.split == "valid"][: recipe.valid_clips]
    if not train_recs:
        raise BadInputError("no training clips (split 'train' with audio)", source=corpus)
    return train_recs, valid_recs


def clip_durations(records, clips) -> dict[str, np.ndarray]:
    """Acoustic frames per token (``with_boundaries`` of the clip's phonemes) from the corpus engine's
    phone timings; clips without timings are left out."""
    from actors.alignment import durations_from_spans, engine_timings, token_spans, with_boundaries
    from ground.config import get_config

    hop_s = get_config().media.hop_ms / 1000.0
    by_id = {r.clip_id: r for r in records}
    out = {}
    for c in clips:
        timings = engine_timings(by_id[c.clip_id])
        if timings:
            frames = len(c.acoustics)
            spans = token_spans(with_boundaries(c.phonemes), timings, frames * hop_s)
            out[c.clip_id] = durations_from_spans(spans, frames, hop_s)
    return out


def precompute_features(corpus: str | Path, recipe: TrainingRecipe, progress: bool = True) -> dict:
    train_recs, valid_recs = training_records(corpus, recipe)
    store = FeatureStore(corpus=corpus)
    t0 = time.perf_counter()
    failed = precompute(train_recs + valid_recs, store, workers=recipe.workers, progress=progress)
    return {"clips": len(train_recs) + len(valid_recs), "failed": failed, "store": str(store.root),
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def train_actor(
    corpus: str | Path,
    out: str | Path,
    recipe: TrainingRecipe,
    progress: bool = True,
    max_steps: int | None = None,
) -> dict:
    from tqdm import tqdm

    from actors.acoustics import FeatureLayout, FeatureStats
    from retrieval.neighbours import load_neighbours

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    device = training_device(recipe.device)
    torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed)
    (out / "recipe.json").write_text(recipe.model_dump_json(indent=1) + "\n")

    train_recs, valid_recs = training_records(corpus, recipe)
    store = FeatureStore(corpus=corpus)
    failed = precompute(train_recs + valid_recs, store, workers=recipe.workers, progress=progress)
    if failed:
        log.warning("%d clips failed feature extraction and are skipped: %s", len(failed), list(failed)[:5])
    train_clips = load_clips(store, [r.clip_id for r in train_recs])
    valid_clips = load_clips(store, [r.clip_id for r in valid_recs])
    durations = clip_durations(train_recs + valid_recs, train_clips + valid_clips)
    untimed = [c.clip_id for c in train_clips + valid_clips if c.clip_id not in durations]
    if untimed:
        log.warning(
            "%d clips have no engine phone timings and are left out (training needs them): %s",
            len(untimed), untimed[:5],
        )  # fmt: skip
    train_clips = [c for c in train_clips if c.clip_id in durations]
    valid_clips = [c for c in valid_clips if c.clip_id in durations]

    layout = FeatureLayout()
    ckpt_path = out / "last.pt"
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False) if ckpt_path.is_file() else None
    init = _warm_start(recipe.init_from) if state is None and recipe.init_from else None
    if state is not None:
        vocab = PhonemeVocabulary(state["vocab"])
        stats = FeatureStats.from_dict(state["stats"])
    elif init is not None:
        # the warm start's phonemes plus this corpus's new ones (a new corpus says sounds the old never did)
        vocab = PhonemeVocabulary(
            init["vocab"] + [p for c in train_clips for p in with_boundaries(c.phonemes)]
        )
        stats = FeatureStats.from_dict(init["stats"])
    else:
        vocab = PhonemeVocabulary.build(with_boundaries(c.phonemes) for c in train_clips)
        stats = FeatureStats.fit([c.acoustics for c in train_clips])

    nodes = EmotionNodeTable.from_library(recipe.library)
    neighbours = load_neighbours(recipe.library, k=max(recipe.k, 1))
    prompt_pool: dict[str, list] = {}
    for c in train_clips:
        prompt_pool.setdefault(c.speaker, []).append(c)
    k_data = max(recipe.k, 1)
    train_set = ActorDataset(
        train_clips, vocab, stats, nodes, neighbours, prompt_pool, durations, k_data, True, recipe.seed
    )
    valid_set = ActorDataset(
        valid_clips, vocab, stats, nodes, neighbours, prompt_pool, durations, k_data, False
    )

    sp_weight = spectral_weights(stats, layout).to(device)
    hp = recipe.hparams(len(vocab), layout.dim, nodes.caption_dim, nodes.audio_dim)
    model = ProgressiveGraphGenerator(hp)
    steps_per_epoch = math.ceil(len(train_set) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs

    def lr_at(step: int) -> float:
        warm = min(1.0, (step + 1) / recipe.warmup_steps)
        return (
            recipe.learning_rate * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))
        )

    step, epoch, best, done_in_epoch = 0, 0, float("inf"), 0
    if init is not None:
        # a switch an older checkpoint does not name had its default then
        defaults = {f.name: f.default for f in dataclasses.fields(ActorHParams)}
        old = {**defaults, **init["hparams"]}
        changed = sorted(k for k, v in hp.to_dict().items() if k != "vocab_size" and old.get(k) != v)
        if changed:
            raise BadInputError(
                f"init_from: the checkpoint's model differs from this recipe's in {', '.join(changed)}",
                source=recipe.init_from, hint="warm starts need the same model switches and sizes",
            )  # fmt: skip
        weights = grow_vocabulary({k: v.float() for k, v in init["model"].items()}, init["vocab"], vocab)
        model.load_state_dict(weights)
        log.info(
            "warm start from %s (its step %s), %d new phonemes: %s", recipe.init_from, init.get("step"),
            len(vocab) - len(init["vocab"]), " ".join(sorted(set(vocab.symbols) - set(init["vocab"]))),
        )  # fmt: skip
    if state is not None:
        model.load_state_dict(state["model"])
    model.to(device)
    # the optimiser after the move: its state then lives on the device too
    optimiser = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=1e-4)
    if state is not None:
        optimiser.load_state_dict(state["optimiser"])
        step, epoch, best = state["step"], state["epoch"], state.get("best", float("inf"))
        done_in_epoch = state.get("done_in_epoch", 0)
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
            train_set.rng.bit_generator.state = state["data_rng"]
        log.info(
            "resuming from %s: epoch %d, step %d (%d batches into it)", ckpt_path, epoch, step, done_in_epoch
        )
    log.info(
        "actor: %d parameters, %d train / %d valid clips, on %s",
        count_parameters(model),
        len(train_set),
        len(valid_set),
        device,
    )

    csv_path = out / "losses.csv"
    new_csv = not csv_path.is_file()
    csv_file = csv_path.open("a", newline="")
    writer = csv.DictWriter(csv_file, fieldnames=["phase", "epoch", "step", "lr", "seconds", *LOSS_KEYS])
    if new_csv:
        writer.writeheader()

    def checkpoint(path: Path) -> None:
        _atomic_save(
            {
                "model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step, "epoch": epoch,
                "best": best, "done_in_epoch": done_in_epoch, "hparams": hp.to_dict(), "vocab": vocab.symbols, "stats": stats.to_dict(),
                "recipe": recipe.model_dump(), "corpus": str(corpus),
                # random states, so a resumed run draws what the uninterrupted one would have
                "torch_rng": torch.get_rng_state(), "data_rng": train_set.rng.bit_generator.state,
            },
            path,
        )  # fmt: skip

    t_start = time.perf_counter()
    try:
        while epoch < recipe.epochs and (max_steps is None or step < max_steps):
            model.train()
            batches = epoch_batches(train_set, recipe, epoch)
            bar = tqdm(
                batches[done_in_epoch:],
                desc=f"epoch {epoch + 1}/{recipe.epochs}",
                unit="batch",
                initial=done_in_epoch,
                total=len(batches),
                disable=not progress,
            )
            for idx in bar:
                batch = to_device(collate([train_set[i] for i in idx], hp.frames_per_video_frame), device)
                batch["sp_weight"] = sp_weight
                for group in optimiser.param_groups:
                    group["lr"] = lr_at(step)
                losses = total_loss(model, model(batch), batch, layout, recipe)
                optimiser.zero_grad()
                losses["total"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
                optimiser.step()
                step += 1
                done_in_epoch += 1
                bar.set_postfix(loss=f"{losses['total'].item():.3f}", sp=f"{losses['refined_sp'].item():.3f}")
                if step % 20 == 0:
                    writer.writerow(
                        {"phase": "train", "epoch": epoch, "step": step, "lr": lr_at(step),
                         "seconds": round(time.perf_counter() - t_start, 1),
                         **{k: round(losses[k].item(), 5) for k in LOSS_KEYS}}
                    )  # fmt: skip
                    csv_file.flush()
                if step % recipe.checkpoint_every == 0:
                    checkpoint(ckpt_path)
                if max_steps is not None and step >= max_steps:
                    break
            finished = done_in_epoch >= len(batches)
            if finished:
                epoch, done_in_epoch = epoch + 1, 0
            tag = f"epoch{epoch:03d}" if finished else f"step{step:07d}"
            valid = validate(model, valid_set, layout, recipe, out / "samples", tag, stats)
            writer.writerow(
                {"phase": "valid", "epoch": epoch, "step": step, "lr": lr_at(step),
                 "seconds": round(time.perf_counter() - t_start, 1), **valid}
            )  # fmt: skip
            csv_file.flush()
            if valid["total"] < best:
                best = valid["total"]
                checkpoint(out / "best.pt")
            checkpoint(ckpt_path)
            plot_losses(csv_path, out / "losses.png")
            if not finished:  # stopped by max_steps: last.pt resumes mid-epoch
                log.info("stopped at step %d, %d batches into epoch %d", step, done_in_epoch, epoch + 1)
                break
            log.info("epoch %d: valid loss %.4f (best %.4f)", epoch, valid["total"], best)
    finally:
        csv_file.close()
    report = {"epochs": epoch, "steps": step, "best_valid": best, "parameters": count_parameters(model),
              "seconds": round(time.perf_counter() - t_start, 1)}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


@torch.no_grad()
def validate(model, dataset, layout, recipe, sample_dir: Path, tag: str, stats) -> dict[str, float]:
    import soundfile as sf

    from actors.acoustics import features_from_model
    from actors.vocoder import get_vocoder
    from ground.config import get_config

    model.eval()
    sums: dict[str, float] = {}
    n = 0
    sp_weight = spectral_weights(stats, layout)
    for i in range(0, len(dataset), recipe.batch_size):
        items = [dataset[j] for j in range(i, min(len(dataset), i + recipe.batch_size))]
        device = next(model.parameters()).device
        batch = to_device(collate(items, model.hp.frames_per_video_frame), device)
        batch["sp_weight"] = sp_weight.to(device)
        out = model(batch)
        losses = total_loss(model, out, batch, layout, recipe)
        for k in LOSS_KEYS:
            sums[k] = sums.get(k, 0.0) + losses[k].item() * len(items)
        n += len(items)
        if i == 0 and recipe.samples:
            vocoder = get_vocoder()
            for j in range(min(recipe.samples, len(items))):
                frames = int(batch["acoustic_mask"][j].sum())
                feats = features_from_model(out["refined"][j, :frames].float().cpu().numpy(), stats)
                audio = vocoder.synthesize(feats)
                sf.write(
                    sample_dir / f"{tag}_{items[j]['clip_id']}.wav", audio, get_config().media.sample_rate
                )
    return {k: round(v / max(n, 1), 5) for k, v in sums.items()}


# the weights with one row per phoneme: the embedding and the CTC head
VOCABULARY_WEIGHTS = ("phoneme_embedding.weight", "phoneme_head.weight", "phoneme_head.bias")


def grow_vocabulary(weights: dict, old_symbols: list[str], vocab: PhonemeVocabulary) -> dict:
    """A checkpoint's weights re-indexed to a larger vocabulary: each known phoneme keeps its row, a new
    one starts from ``<unk>``'s (what the old model made of sounds it did not know)."""
    old_index = {s: i for i, s in enumerate(old_symbols)}
    rows = torch.tensor([old_index.get(s, old_index["<unk>"]) for s in vocab.symbols])
    return {k: (v[rows] if k in VOCABULARY_WEIGHTS else v) for k, v in weights.items()}


def _warm_start(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise BadInputError("init_from: checkpoint not found", source=p)
    state = torch.load(p, map_location="cpu", weights_only=False)
    missing = [k for k in ("model", "hparams", "vocab", "stats") if k not in state]
    if missing:
        raise BadInputError(f"init_from: not an actor checkpoint (no {', '.join(missing)})", source=p)
    return state


def export_checkpoint(run: str | Path, out: str | Path) -> dict:
    """The inference-only checkpoint of a run (no optimiser, float16 weights): what ships."""
    run = Path(run)
    source = run / "best.pt" if (run / "best.pt").is_file() else run / "last.pt"
    if not source.is_file():
        raise BadInputError("no checkpoint in this run folder", source=run)
    state = torch.load(source, map_location="cpu", weights_only=False)
    slim = {
        "model": {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()},
        **{k: state[k] for k in ("hparams", "vocab", "stats", "recipe", "corpus", "step", "epoch", "best")},
        "source": str(source),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(slim, out)
    return {"source": str(source), "out": str(out), "bytes": out.stat().st_size, "epoch": state["epoch"]}
