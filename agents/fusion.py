"""Fusing the director's cues into one emotion decision, and measuring each cue alone.

Stacking: each cue gives 8 probabilities; ``CueWeights`` (one weight per cue on its log-probabilities, a
bias per class) learns how far to trust each, on out-of-look predictions of the train split
(``agents.training``).
Two stackers are trained from the same table: one over every cue and one without the LLM's, so
``--no-llm`` keeps a trained fusion of the remaining cues (never an untrained product).
The session context is not stacked (a labelled corpus has no scenes that carry one emotion across lines,
so a stacker would learn to ignore it): it multiplies the stacked result as a prior, ``p * context**w``,
with ``w`` = ``director.context_weight``, and only when the session has history for the character.
``evaluate`` reports every cue's accuracy alone and the fusion's, on any split.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.cues import NUM_CLASSES, CueInput, make_cue
from ground.errors import BadInputError
from ground.messages import EMOTIONS, Evidence

log = logging.getLogger(__name__)

CUE_ORDER: tuple[str, ...] = ("text", "face", "scene", "llm", "context")
PRIOR_CUES: tuple[str, ...] = ("context",)  # applied after the stacker, not learned by it


class CueWeights:
    """The stacker: one non-negative weight per cue and a bias per class, ``softmax(sum_c w_c log p_c + b)``
    (a weighted product of experts), fit by maximum likelihood. A full logistic regression over every
    cue's 8 log-probabilities learned cross-class mappings on the open corpus ("the face says angry: it is
    surprise") that read a plainly angry demo line as surprise; one weight per cue can only say how far to
    trust each cue. Exposes ``classes_`` and ``predict_proba`` as scikit-learn stackers do."""

    def __init__(self, num_cues: int, bias_l2: float = 1.0):
        self.num_cues, self.bias_l2 = num_cues, bias_l2
        self.weights = np.ones(num_cues)
        self.bias = np.zeros(NUM_CLASSES)
        self.classes_ = np.arange(NUM_CLASSES)

    def _logits(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.einsum("nck,c->nk", x.reshape(len(x), self.num_cues, NUM_CLASSES), w) + b

    def fit(self, x: np.ndarray, y: np.ndarray) -> CueWeights:
        from scipy.optimize import minimize
        from scipy.special import log_softmax

        def loss(theta: np.ndarray) -> float:
            w, b = theta[: self.num_cues], theta[self.num_cues :]
            logp = log_softmax(self._logits(x, w, b), axis=1)
            return -float(logp[np.arange(len(y)), y].mean()) + self.bias_l2 * float(b @ b) / len(y)

        theta0 = np.concatenate([np.ones(self.num_cues), np.zeros(NUM_CLASSES)])
        bounds = [(0.0, 5.0)] * self.num_cues + [(None, None)] * NUM_CLASSES
        theta = minimize(loss, theta0, method="L-BFGS-B", bounds=bounds).x
        self.weights, self.bias = theta[: self.num_cues], theta[self.num_cues :]
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        from scipy.special import softmax

        return softmax(self._logits(np.atleast_2d(x), self.weights, self.bias), axis=1)


@dataclass
class CueTable:
    """Per-line probabilities of every cue (N, 8) and the labels, computed once and reused."""

    probabilities: dict[str, np.ndarray]
    labels: list[str]

    def stacked(self, cues: tuple[str, ...]) -> np.ndarray:
        return np.concatenate([np.log(np.clip(self.probabilities[c], 1e-6, 1.0)) for c in cues], axis=1)


class EmotionFusion:
    def __init__(self, use_llm: bool = True, llm_backend=None, context_weight: float | None = None):
        from ground.config import get_config

        cfg = get_config().director
        self.text = make_cue("text")
        self.face = make_cue("face")
        self.scene = make_cue("scene")
        self.llm = make_cue("llm", backend=llm_backend) if use_llm else None
        self.context = make_cue("context", decay=cfg.context_decay, strength=cfg.context_strength)
        self.context_weight = cfg.context_weight if context_weight is None else context_weight
        self.stacker = None
        self.stackers: dict[tuple[str, ...], object] = {}  # per set of stacked cues
        self.cues: tuple[str, ...] = tuple(c for c in CUE_ORDER if use_llm or c != "llm")

    @property
    def stacked_cues(self) -> tuple[str, ...]:
        return tuple(c for c in self.cues if c not in PRIOR_CUES)

    # -- per-line inference -------------------------------------------------------------------------
    def cue_probabilities(self, x: CueInput) -> dict[str, np.ndarray]:
        out = {c: getattr(self, c).probabilities(x) for c in self.cues if c != "llm"}
        if self.llm is not None:
            try:
                out["llm"] = self.llm.probabilities(x)
            except Exception as exc:  # noqa: BLE001 - the LLM failing must not stop the director
                log.warning("LLM cue failed (%s: %s); deciding from the other cues", type(exc).__name__, exc)
                out["llm"] = np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)
        return out

    def fuse(self, cue_probs: dict[str, np.ndarray]) -> np.ndarray:
        if self.stacker is None:  # untrained: a product of experts
            logp = sum(np.log(np.clip(cue_probs[c], 1e-6, 1)) for c in self.stacked_cues)
        else:
            table = CueTable({c: cue_probs[c][None] for c in self.stacked_cues}, [])
            out = np.full(NUM_CLASSES, 1e-6)
            out[self.stacker.classes_] = self.stacker.predict_proba(table.stacked(self.stacked_cues))[0]
            logp = np.log(out)
        if "context" in cue_probs and self.context_weight > 0:
            logp = logp + self.context_weight * np.log(np.clip(cue_probs["context"], 1e-6, 1))
        p = np.exp(logp - np.max(logp))
        return p / p.sum()

    def decide(self, x: CueInput) -> tuple[np.ndarray, list[Evidence]]:
        cue_probs = self.cue_probabilities(x)
        fused = self.fuse(cue_probs)
        evidence = [
            Evidence(
                cue=c,
                probabilities={e: round(float(p), 4) for e, p in zip(EMOTIONS, cue_probs[c], strict=True)},
                note=(
                    "no evidence (uniform)"
                    if np.ptp(cue_probs[c]) < 1e-6
                    else f"says {EMOTIONS[int(np.argmax(cue_probs[c]))]}"
                ),
            )
            for c in self.cues
        ]
        return fused, evidence

    # -- training and measurement ----------------------------------------------------------------------
    def cue_table(
        self, inputs: list[CueInput], labels: list[str], llm_raw: np.ndarray | None = None
    ) -> CueTable:
        probs = {c: getattr(self, c).probabilities_many(inputs) for c in self.cues if c != "llm"}
        if self.llm is not None:
            if llm_raw is None:
                llm_raw = np.stack([self.llm.raw_logprobs(x) for x in inputs])
            probs["llm"] = self.llm.probabilities_from_raw(llm_raw)
        return CueTable(probs, labels)

    def fit_cues(self, inputs: list[CueInput], labels: list[str], llm_raw: np.ndarray | None = None) -> None:
        face_rows = [(self.face.vector(x), y) for x, y in zip(inputs, labels, strict=True)]
        face_rows = [(v, y) for v, y in face_rows if v is not None]
        if face_rows:
            self.face.fit(np.stack([v for v, _ in face_rows]), [y for _, y in face_rows])
        self.scene.fit(np.stack([self.scene.vector(x) for x in inputs]), labels)
        if self.llm is not None and llm_raw is not None:
            self.llm.fit(llm_raw, labels)

    def fit_stacker(self, table: CueTable) -> None:
        """The stacker over this fusion's cues, and (with the LLM) one without it for ``--no-llm``."""
        y = np.array([EMOTIONS.index(e) for e in table.labels])
        sets = {self.stacked_cues, tuple(c for c in self.stacked_cues if c != "llm")}
        for cues in sets:
            self.stackers[cues] = CueWeights(len(cues)).fit(table.stacked(cues), y)
        self.stacker = self.stackers[self.stacked_cues]

    def without_llm(self) -> EmotionFusion:
        """This fusion deciding without the LLM cue, by its own trained stacker, sharing the fitted cues."""
        import copy

        other = copy.copy(self)
        other.llm = None
        other.cues = tuple(c for c in self.cues if c != "llm")
        other.stacker = self.stackers.get(other.stacked_cues)
        return other

    def evaluate(self, table: CueTable) -> dict[str, float]:
        y = np.array([EMOTIONS.index(e) for e in table.labels])
        acc = {
            c: float((table.probabilities[c].argmax(1) == y).mean())
            for c in self.cues
            if np.ptp(table.probabilities[c], axis=1).max() > 1e-9  # a cue with no evidence has no accuracy
        }
        fused = np.stack(
            [self.fuse({c: table.probabilities[c][i] for c in self.cues}) for i in range(len(y))]
        )
        acc["fused"] = float((fused.argmax(1) == y).mean())
        acc["chance"] = float(np.bincount(y, minlength=NUM_CLASSES).max() / len(y))
        return {k: round(v, 4) for k, v in acc.items()}

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, folder: str | Path, info: dict | None = None) -> None:
        import joblib

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            "face": self.face.model,
            "scene": self.scene.model,
            "familiar_rms": {"face": self.face.familiar_rms, "scene": self.scene.familiar_rms},
            "llm_calibration": self.llm.calibration if self.llm is not None else None,
            "stacker": self.stacker,
            "stackers": self.stackers,
            "cues": self.cues,
            "stacked_cues": self.stacked_cues,
        }
        joblib.dump(state, folder / "fusion.joblib")
        (folder / "fusion.json").write_text(
            json.dumps({"cues": list(self.cues), **(info or {})}, indent=1) + "\n"
        )

    @classmethod
    def load(cls, folder: str | Path, llm_backend=None, use_llm: bool | None = None) -> EmotionFusion:
        import joblib

        path = Path(folder) / "fusion.joblib"
        if not path.is_file():
            raise BadInputError(
                "no trained director cues here", source=path, hint="train them: dubber direct train"
            )
        state = joblib.load(path)
        trained_with_llm = "llm" in state["cues"]
        fusion = cls(
            use_llm=trained_with_llm if use_llm is None else use_llm and trained_with_llm,
            llm_backend=llm_backend,
        )
        fusion.face.model, fusion.scene.model = state["face"], state["scene"]
        familiar = state.get("familiar_rms", {})
        fusion.face.familiar_rms, fusion.scene.familiar_rms = familiar.get("face"), familiar.get("scene")
        if fusion.llm is not None:
            fusion.llm.calibration = state["llm_calibration"]
        stacked = tuple(state.get("stacked_cues", state["cues"]))
        fusion.stackers = dict(state.get("stackers") or {stacked: state["stacker"]})
        fusion.stacker = fusion.stackers.get(fusion.stacked_cues)
        if fusion.stacker is None:
            log.warning(
                "the director's fusion in %s has no stacker for the cues %s; deciding by an untrained product "
                "of them (retrain: dubber direct train)", folder, ", ".join(fusion.stacked_cues),
            )  # fmt: skip
        return fusion
