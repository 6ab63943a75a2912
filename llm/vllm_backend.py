"""GPU language model through vLLM (optional extra ``.[gpu]``; CUDA only, never in the default install).

* ``generate``: ``vllm.LLM.generate`` with ``SamplingParams`` (greedy at temperature 0).
* ``generate_json``: structured (guided) decoding from the pydantic schema's JSON schema, so the reply is
  schema-shaped by construction; the shared parse/validate/re-ask loop still runs on top of it.
  ``StructuredOutputsParams(json=...)`` (``SamplingParams.structured_outputs``, vLLM >= 0.12) is used, or
  ``GuidedDecodingParams(json=...)`` (``SamplingParams.guided_decoding``) on older releases.
* ``label_logprobs``: one request per label over ``prompt + label`` token ids with ``prompt_logprobs``, a
  single generated token (``max_tokens=1``); the label tokens' log-probabilities are read from
  ``RequestOutput.prompt_logprobs`` (entry i holds ``{token_id: Logprob}`` for prompt token i, entry 0 is
  None). vLLM's automatic prefix caching shares the prompt's KV blocks between the requests.

Prompts are tokenised here (one BOS, the same rule as the transformers backend) and passed as
``{"prompt_token_ids": [...]}``. Folders whose tokenizer has a chat template get the prompt as one user turn.
The offline engine cannot be interrupted mid-request, so the timeout is checked when a call returns.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ground.errors import MissingComponentError
from llm.base import Deadline, HFTokenizerMixin, LLMBackend, StopFn, find_json_object

GPU_HINT = "needs a CUDA GPU and the vllm extra (pip install .[gpu])"

_DTYPES = {
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "float32": "float32",
    "fp32": "float32",
    "float": "float32",
    "auto": "auto",
}


def vllm_unavailable_reason() -> str | None:
    """Why the vLLM backend cannot run here (None when it can). Imports neither vllm nor CUDA libraries."""
    if importlib.util.find_spec("vllm") is None:
        return "the vllm package is not installed"
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA GPU is visible"
    return None


def _structured_json(json_schema: dict) -> dict:
    """SamplingParams keyword for JSON-schema constrained decoding, for new and older vLLM releases."""
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(json=json_schema)}
    return {"structured_outputs": StructuredOutputsParams(json=json_schema)}


def _logprob_value(entry) -> float:
    return float(entry.logprob if hasattr(entry, "logprob") else entry)


class VLLMBackend(HFTokenizerMixin, LLMBackend):
    """A local instruct (or base) model folder served in-process by vLLM on one GPU."""

    name = "vllm"

    def __init__(
        self,
        model: str | Path,
        gpu_memory_utilization: float = 0.5,
        dtype: str = "bfloat16",
        *,
        max_model_len: int | None = None,
        seed: int = 0,
        chat_template: bool | None = None,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        retries: int = 2,
    ):
        if model is None:
            raise MissingComponentError(
                "the vllm backend needs a local model folder",
                hint="set llm.model to a Hugging Face model folder (an instruct model is best)",
            )
        model_dir = Path(model).expanduser()
        if not model_dir.is_dir():
            raise MissingComponentError(
                "LLM model folder not found",
                source=model_dir,
                hint="set llm.model to a local Hugging Face model folder; models are never fetched from a hub",
            )
        reason = vllm_unavailable_reason()
        if reason is not None:
            raise MissingComponentError(
                f"the vllm LLM backend cannot run: {reason}",
                hint=f"it {GPU_HINT}; or set llm.backend=transformers",
            )
        vllm_dtype = _DTYPES.get(str(dtype).lower())
        if vllm_dtype is None:
            from ground.errors import BadInputError

            raise BadInputError(
                f"unknown llm.dtype {dtype!r}", hint=f"use one of {', '.join(sorted(_DTYPES))}"
            )
        super().__init__(
            str(model_dir),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            timeout_s=timeout_s,
            retries=retries,
        )
        import vllm

        self._vllm = vllm
        kwargs = {
            "model": str(model_dir),
            "dtype": vllm_dtype,
            "gpu_memory_utilization": float(gpu_memory_utilization),
            "seed": seed,
        }
        if max_model_len is not None:
            kwargs["max_model_len"] = int(max_model_len)
        self.llm = vllm.LLM(**kwargs)
        self._setup_tokenizer(self.llm.get_tokenizer(), chat_template)

    def _sampling(self, **kwargs):
        temperature = float(self.temperature or 0.0)
        return self._vllm.SamplingParams(temperature=temperature, **kwargs)

    # ------------------------------------------------------------------ hooks
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
        deadline.check("LLM generation")
        extra = _structured_json(json_schema) if json_schema is not None else {}
        params = self._sampling(
            max_tokens=max(1, int(max_new_tokens)), stop=list(stop) if stop else None, **extra
        )
        outputs = self.llm.generate(
            [{"prompt_token_ids": self.encode(self.render(prompt))}], params, use_tqdm=False
        )
        text = outputs[0].outputs[0].text
        deadline.check("LLM generation")
        if stop_fn is not None and json_schema is not None:
            span = find_json_object(text)
            if span is not None:
                text = text[: span[1]]
        return text

    def _continuation_logprobs(
        self, prompt: str, continuations: list[str], deadline: Deadline
    ) -> list[list[float]]:
        deadline.check("LLM label scoring")
        text = self.render(prompt)
        prompt_ids = self.encode(text)
        n = len(prompt_ids)
        conts = []
        for c in continuations:
            full = self.encode(text + c)
            if len(full) >= n and full[:n] == prompt_ids:
                conts.append(full[n:])
            else:
                conts.append(list(self.tokenizer(c, add_special_tokens=False)["input_ids"]))
        todo = [i for i, c in enumerate(conts) if c]
        results: list[list[float]] = [[] for _ in conts]
        if not todo:
            return results
        # prompt_logprobs=1: the actual prompt token is always included, plus the top-1 alternative
        params = self._vllm.SamplingParams(temperature=0.0, max_tokens=1, prompt_logprobs=1)
        requests = [{"prompt_token_ids": prompt_ids + conts[i]} for i in todo]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        for i, out in zip(todo, outputs, strict=True):
            plp = out.prompt_logprobs
            results[i] = [_logprob_value(plp[n + j][tok]) for j, tok in enumerate(conts[i])]
        deadline.check("LLM label scoring")
        return results
