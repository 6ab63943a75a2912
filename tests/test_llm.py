"""The director's LLM backends (llm).

The transformers tests run the real shipped Gemma 3 270M (base) on CPU. The first use converts its GGUF
package to a bf16 Hugging Face folder in the cache (``<cache_dir>/models/gemma3-270m-bf16``), which takes
one to three minutes on 2 cores; every later load reads that folder in seconds. A CI job that starts with an
empty cache therefore pays the conversion once per run (the module fixture below), not once per test.

The vLLM tests need a CUDA GPU and the ``gpu`` extra; elsewhere they are skipped with that reason.
"""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel

from ground.config import LLMConfig, get_config
from ground.errors import DubberError, MissingComponentError
from llm import LLMOutputError, LLMTimeoutError, clear_backends, get_backend
from llm.base import Deadline, LLMBackend, find_json_object, parse_first_json_object
from llm.vllm_backend import GPU_HINT, vllm_unavailable_reason

FRANCE = "The capital of France is"
LABELS = ["Paris", "banana", "London", "a small village", "angry", "the city of lights"]
VLLM_SKIP = f"{GPU_HINT}: {vllm_unavailable_reason()}" if vllm_unavailable_reason() else ""


class Word(BaseModel):
    word: str


JSON_PROMPT = (
    "Write each animal as a JSON object.\n"
    'Animal: cat\nJSON: {"word": "cat"}\n'
    'Animal: dog\nJSON: {"word": "dog"}\n'
    "Animal: horse\nJSON:"
)


# ---------------------------------------------------------------- no model needed
class ScriptedBackend(LLMBackend):
    """Replies from a script; records the prompts it was asked (tests the shared retry/parse logic)."""

    name = "scripted"

    def __init__(self, replies, **kwargs):
        super().__init__("scripted", **kwargs)
        self.replies = list(replies)
        self.prompts: list[str] = []

    def _complete(self, prompt, *, max_new_tokens, stop, stop_fn, deadline, json_schema=None):
        self.prompts.append(prompt)
        return self.replies.pop(0)

    def _continuation_logprobs(self, prompt, continuations, deadline):
        return [[-1.0] * len(c.split()) for c in continuations]


def test_json_extraction():
    assert find_json_object('noise {"a": "}{", "b": {"c": 1}} tail {"x": 2}') == (6, 32)
    assert parse_first_json_object('sure! {"word": "horse"}\nAnimal: cow') == {"word": "horse"}
    with pytest.raises(ValueError, match="no JSON object"):
        parse_first_json_object("no braces here")
    with pytest.raises(ValueError, match="not closed"):
        parse_first_json_object('{"word": "hor')
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_first_json_object("{word: horse}")


def test_generate_json_retries_with_error_then_succeeds():
    backend = ScriptedBackend(["I think horse", '{"wrd": "horse"}', ' {"word": "horse"} more'], retries=2)
    assert backend.generate_json("P:", Word) == Word(word="horse")
    assert backend.json_attempts == 3
    assert backend.prompts[0] == "P:"
    assert backend.prompts[1].startswith("P:I think horse") and "no JSON object" in backend.prompts[1]
    assert "word: Field required" in backend.prompts[2]


def test_generate_json_gives_up_after_bounded_retries():
    backend = ScriptedBackend(["nope"] * 5, retries=3)
    with pytest.raises(LLMOutputError, match=r"no valid Word JSON after 2 attempt\(s\)") as info:
        backend.generate_json("P:", Word, retries=1)
    assert backend.json_attempts == 2 and len(backend.prompts) == 2
    assert isinstance(info.value, DubberError)


def test_label_logprobs_aggregation_and_separator():
    backend = ScriptedBackend([])
    scores = backend.label_scores("Feeling:", ["very angry", "sad", "sad"])
    assert list(scores) == ["very angry", "sad"]
    assert scores["very angry"].total == -2.0 and scores["very angry"].mean == -1.0
    assert backend.label_logprobs("x", ["a b c"], per_token_mean=True) == {"a b c": -1.0}
    assert LLMBackend._join("is", "Paris", None) == " Paris"
    assert LLMBackend._join("is ", "Paris", None) == "Paris"
    assert LLMBackend._join("is", "Paris", "\n") == "\nParis"
    assert backend.label_logprobs("x", []) == {}


def test_deadline():
    Deadline(None).check("x")
    with pytest.raises(LLMTimeoutError, match="longer than"):
        Deadline(1e-9).check("thing")


def test_unknown_backend_is_reported(monkeypatch):
    """The config refuses it in one line naming the allowed backends; the registry refuses it too."""
    from ground.config import ConfigError, DubberConfig

    monkeypatch.setenv("DUBBER_LLM__BACKEND", "llamacpp")
    with pytest.raises(ConfigError, match="llm.backend = 'llamacpp'.*'transformers' or 'vllm'"):
        DubberConfig.load()
    monkeypatch.delenv("DUBBER_LLM__BACKEND")
    with pytest.raises(MissingComponentError, match="unknown LLM backend 'llamacpp'") as info:
        get_backend(LLMConfig.model_construct(backend="llamacpp"))
    assert "transformers" in (info.value.hint or "")


def test_missing_model_folder_is_reported(tmp_path):
    with pytest.raises(MissingComponentError, match="LLM model folder not found"):
        get_backend(LLMConfig(model=str(tmp_path / "no-such-model")))
    with pytest.raises(MissingComponentError, match="no config.json"):
        get_backend(LLMConfig(model=str(tmp_path)))


@pytest.mark.skipif(not VLLM_SKIP, reason="vllm and a GPU are present")
def test_vllm_without_gpu_or_package_is_reported(tmp_path):
    with pytest.raises(MissingComponentError, match="vllm") as info:
        get_backend(LLMConfig(backend="vllm", model=str(tmp_path)))
    assert "pip install .[gpu]" in info.value.one_line()


# ---------------------------------------------------------------- real Gemma 3 270M on CPU
@pytest.fixture(scope="module")
def gemma():
    # One intra-op thread: the test suite shares 2 cores with other processes, and oversubscribed OpenMP
    # threads spin-wait (measured ~10x slower with 2 threads on a busy 2-core machine).
    cfg = get_config().llm.model_copy(update={"backend": "transformers", "model": None, "threads": 1})
    backend = get_backend(cfg)
    assert get_backend(cfg) is backend  # one instance per process per config
    yield backend
    clear_backends()


@pytest.fixture(scope="module")
def gemma_fp32(gemma):
    """The same weights in float32, where the fast and naive label scores must agree to ~1e-3 (in bf16
    the transformer body itself is only accurate to ~1e-2 between any two ways of computing it)."""
    from llm.transformers_backend import TransformersBackend

    return TransformersBackend(None, dtype="float32", threads=1)


@pytest.mark.slow
def test_gemma_cache_folder_is_complete(gemma):
    from llm.transformers_backend import _folder_complete, gemma_cache_folder

    folder = gemma_cache_folder(get_config().cache_dir)
    assert gemma.model_dir == folder and _folder_complete(folder)
    assert not list(folder.parent.glob(f".{folder.name}.tmp-*"))
    assert gemma.use_chat_template is False  # base model: plain prompts


@pytest.mark.slow
def test_generate_returns_text(gemma):
    text = gemma.generate(FRANCE, max_new_tokens=8)
    assert isinstance(text, str) and text.strip()
    cut = gemma.generate(FRANCE, max_new_tokens=16, stop=["."])
    assert "." not in cut


@pytest.mark.slow
def test_label_logprobs_prefers_paris(gemma):
    scores = gemma.label_logprobs(FRANCE, ["Paris", "banana"])
    assert scores["Paris"] > scores["banana"]
    assert all(v < 0 and math.isfinite(v) for v in scores.values())
    means = gemma.label_logprobs(FRANCE, ["Paris", "banana"], per_token_mean=True)
    assert means["Paris"] > means["banana"]


@pytest.mark.slow
def test_label_logprobs_fast_matches_naive_fp32(gemma_fp32):
    prompt = "Line: I told you never to come back here, and you did it anyway!\nEmotion of the line:"
    fast = gemma_fp32.label_scores(prompt, LABELS)
    naive = gemma_fp32._scores_with(
        gemma_fp32._naive_continuation_logprobs, prompt, LABELS, separator=None, timeout_s=None
    )
    for label in LABELS:
        assert fast[label].num_tokens == naive[label].num_tokens >= 1
        for a, b in zip(fast[label].token_logprobs, naive[label].token_logprobs, strict=True):
            assert a == pytest.approx(b, abs=1e-3), label
    # several label groups (the prefix cache is copied per group) give the same numbers
    gemma_fp32.label_batch = 2
    try:
        grouped = gemma_fp32.label_logprobs(prompt, LABELS)
    finally:
        gemma_fp32.label_batch = 16
    for label in LABELS:
        assert grouped[label] == pytest.approx(fast[label].total, abs=1e-3)


@pytest.mark.slow
def test_label_logprobs_bf16_close_to_fp32(gemma, gemma_fp32):
    # bf16 activations on CPU move any computation (fast or naive) by up to ~0.1 nat per token
    fast = gemma.label_scores(FRANCE, LABELS)
    ref = gemma_fp32.label_scores(FRANCE, LABELS)
    for label in LABELS:
        for a, b in zip(fast[label].token_logprobs, ref[label].token_logprobs, strict=True):
            assert a == pytest.approx(b, abs=0.2), label
    assert max(fast, key=lambda k: fast[k].total) == max(ref, key=lambda k: ref[k].total) == "Paris"


@pytest.mark.slow
def test_generate_json_contract(gemma):
    # A 270M base model may or may not produce the object; both outcomes are within the contract.
    try:
        obj = gemma.generate_json(JSON_PROMPT, Word, retries=1)
    except LLMOutputError as exc:
        assert gemma.json_attempts == 2
        assert "Word" in str(exc)
    else:
        assert isinstance(obj, Word) and obj.word.strip()
        assert 1 <= gemma.json_attempts <= 2


@pytest.mark.slow
def test_timeout_raises(gemma):
    with pytest.raises(LLMTimeoutError, match="longer than 0.01 s"):
        gemma.generate(FRANCE, max_new_tokens=32, timeout_s=0.01)
    with pytest.raises(LLMTimeoutError):
        gemma.label_logprobs(FRANCE, LABELS, timeout_s=0.01)
    saved = gemma.timeout_s
    gemma.timeout_s = 0.01
    try:
        with pytest.raises(LLMTimeoutError):
            gemma.generate_json(JSON_PROMPT, Word, retries=0)
    finally:
        gemma.timeout_s = saved


# ---------------------------------------------------------------- vLLM (GPU only)
@pytest.fixture(scope="module")
def vllm_backend():
    if VLLM_SKIP:
        pytest.skip(VLLM_SKIP)
    import os

    from llm.transformers_backend import ensure_gemma_folder

    # any local model folder; by default the converted Gemma 3 270M
    model = os.environ.get("DUBBER_TEST_VLLM_MODEL") or str(ensure_gemma_folder(get_config().cache_dir)[0])
    cfg = LLMConfig(backend="vllm", model=model, gpu_memory_utilization=0.3, timeout_s=300)
    backend = get_backend(cfg)
    yield backend
    clear_backends()


@pytest.mark.gpu
def test_vllm_generate_and_labels(vllm_backend):
    assert vllm_backend.generate(FRANCE, max_new_tokens=8).strip()
    scores = vllm_backend.label_logprobs(FRANCE, ["Paris", "banana"])
    assert scores["Paris"] > scores["banana"]


@pytest.mark.gpu
def test_vllm_guided_json(vllm_backend):
    obj = vllm_backend.generate_json(JSON_PROMPT, Word, retries=1)
    assert isinstance(obj, Word)
