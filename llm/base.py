"""The director's language-model interface, shared by the CPU (transformers) and GPU (vLLM) backends.

A backend does three things:

* ``generate``: free text continuation of a plain prompt (greedy unless the configured temperature is > 0),
  cut at the first stop string, bounded by ``max_new_tokens`` and a wall-clock timeout.
* ``label_logprobs``: the log-probability of each candidate label as the continuation of a prompt. This is
  how the director picks among a closed set (emotions, intensities...) with a small base model: scoring is
  far more reliable than asking it to write the label (DESIGN section 5).
* ``generate_json``: a reply parsed and validated against a pydantic schema, re-asked with the validation
  error appended when it fails, and a ``LLMOutputError`` once the bounded retries are spent.

Backends implement ``_complete`` (one generation) and ``_continuation_logprobs`` (per-token log-probabilities
of continuations); everything else (timeouts, stop strings, JSON parsing, retries, aggregation) lives here.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from ground.errors import DubberError


class LLMOutputError(DubberError):
    """The model's reply could not be parsed or validated, even after the bounded re-asks."""


class LLMTimeoutError(DubberError):
    """A generation or scoring call ran past the configured ``llm.timeout_s``."""


@dataclass(frozen=True)
class LabelScore:
    """Log-probability of one label as the continuation of a prompt."""

    label: str
    total: float  # sum of the label tokens' log-probabilities (natural log)
    token_logprobs: tuple[float, ...]

    @property
    def num_tokens(self) -> int:
        return len(self.token_logprobs)

    @property
    def mean(self) -> float:
        """Per-token mean: removes most of the bias against labels that tokenise into more pieces."""
        return self.total / max(1, self.num_tokens)


StopFn = Callable[[str], bool]


class Deadline:
    """A wall-clock budget; ``expired`` is checked by backends between model steps."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.start = time.monotonic()
        self.end = None if seconds is None or seconds <= 0 else self.start + seconds

    @property
    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def check(self, what: str) -> None:
        if self.expired:
            raise LLMTimeoutError(
                f"{what} took longer than {self.seconds:g} s (stopped after {self.elapsed():.2f} s)",
                hint="raise llm.timeout_s (DUBBER_LLM__TIMEOUT_S), shorten the prompt or lower llm.max_new_tokens",
            )


def cut_at_stop(text: str, stop: list[str] | None) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    if not stop:
        return text, False
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


def find_json_object(text: str) -> tuple[int, int] | None:
    """Start and end (exclusive) of the first balanced ``{...}`` in ``text``, honouring JSON strings."""
    start = text.find("{")
    while start >= 0:
        depth = 0
        in_string = False
        escaped = False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return start, i + 1
        # unbalanced from this brace: no complete object starts here or later in a way we can close
        return None
    return None


def json_object_complete(text: str) -> bool:
    """Stop criterion for JSON replies: the first object has closed."""
    return find_json_object(text) is not None


def parse_first_json_object(text: str) -> dict:
    """The first JSON object in a model reply; ``ValueError`` saying what is wrong otherwise."""
    span = find_json_object(text)
    if span is None:
        if "{" in text:
            raise ValueError("the JSON object is not closed (reply cut short?)")
        raise ValueError("the reply contains no JSON object")
    snippet = text[span[0] : span[1]]
    try:
        value = json.loads(snippet)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(value, dict):  # pragma: no cover - a balanced {...} always decodes to a dict
        raise ValueError("the JSON value is not an object")
    return value


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class LLMBackend(ABC):
    """One loaded language model. Instances are shared per process (see ``llm.get_backend``).

    ``json_attempts`` counts the generations made by the last ``generate_json`` call (1 + re-asks);
    ``json_attempts_total`` counts them over the backend's life.
    """

    name: str = "base"

    def __init__(
        self,
        model_id: str,
        *,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        timeout_s: float = 60.0,
        retries: int = 2,
    ):
        self.model_id = model_id
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.retries = retries
        self.json_attempts = 0
        self.json_attempts_total = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"

    # ------------------------------------------------------------------ backend hooks
    @abstractmethod
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
        """Generate a continuation. May stop early once ``stop_fn(text_so_far)`` or a stop string is hit,
        must raise ``LLMTimeoutError`` (via ``deadline.check``) when the deadline passes. ``json_schema`` is a
        hint a backend with constrained decoding may use; others ignore it."""

    @abstractmethod
    def _continuation_logprobs(
        self, prompt: str, continuations: list[str], deadline: Deadline
    ) -> list[list[float]]:
        """Per-token natural-log probabilities of each continuation's tokens following ``prompt``."""

    def count_tokens(self, text: str) -> int:  # pragma: no cover - optional
        raise NotImplementedError

    # ------------------------------------------------------------------ public API
    def generate(
        self,
        prompt: str,
        max_new_tokens: int | None = None,
        stop: list[str] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> str:
        """Continuation of ``prompt`` (plain text; base models get no chat template), cut before any stop."""
        deadline = self._deadline(timeout_s)
        text = self._complete(
            prompt,
            max_new_tokens=self.max_new_tokens if max_new_tokens is None else max_new_tokens,
            stop=stop,
            stop_fn=None,
            deadline=deadline,
        )
        return cut_at_stop(text, stop)[0]

    def label_scores(
        self,
        prompt: str,
        labels: list[str],
        *,
        separator: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, LabelScore]:
        """Score each label as the continuation ``prompt + separator + label``.

        ``separator`` None means one space, unless the prompt is empty or ends in whitespace or the label
        starts with it (so ``"The capital of France is"`` + ``"Paris"`` scores ``" Paris"``).
        """
        return self._scores_with(
            self._continuation_logprobs, prompt, labels, separator=separator, timeout_s=timeout_s
        )

    def _scores_with(
        self,
        scorer: Callable[[str, list[str], Deadline], list[list[float]]],
        prompt: str,
        labels: list[str],
        *,
        separator: str | None,
        timeout_s: float | None,
    ) -> dict[str, LabelScore]:
        if not labels:
            return {}
        deadline = self._deadline(timeout_s)
        unique = list(dict.fromkeys(labels))
        conts = [self._join(prompt, label, separator) for label in unique]
        per_token = scorer(prompt, conts, deadline)
        return {
            label: LabelScore(label, float(math.fsum(lps)), tuple(float(x) for x in lps))
            for label, lps in zip(unique, per_token, strict=True)
        }

    def label_logprobs(
        self,
        prompt: str,
        labels: list[str],
        *,
        per_token_mean: bool = False,
        separator: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, float]:
        """Total log-probability of each label's tokens after ``prompt`` (or the per-token mean)."""
        scores = self.label_scores(prompt, labels, separator=separator, timeout_s=timeout_s)
        return {k: (s.mean if per_token_mean else s.total) for k, s in scores.items()}

    def generate_json(
        self,
        prompt: str,
        schema: type[BaseModel],
        retries: int | None = None,
        *,
        max_new_tokens: int | None = None,
        timeout_s: float | None = None,
    ) -> BaseModel:
        """A ``schema`` instance from the first JSON object of the reply.

        On a reply that does not parse or validate, the prompt is asked again with the reply and the error
        appended, at most ``retries`` times (default ``llm.retries``); then ``LLMOutputError``.
        The timeout applies to each attempt.
        """
        retries = self.retries if retries is None else max(0, int(retries))
        json_schema = schema.model_json_schema()
        self.json_attempts = 0
        ask = prompt
        problem = "no attempt made"
        reply = ""
        for _attempt in range(retries + 1):
            self.json_attempts += 1
            self.json_attempts_total += 1
            deadline = self._deadline(timeout_s)
            reply = self._complete(
                ask,
                max_new_tokens=self.max_new_tokens if max_new_tokens is None else max_new_tokens,
                stop=None,
                stop_fn=json_object_complete,
                deadline=deadline,
                json_schema=json_schema,
            )
            try:
                return schema.model_validate(parse_first_json_object(reply))
            except ValidationError as exc:
                problem = f"does not match {schema.__name__}: {describe_validation_error(exc)}"
            except ValueError as exc:
                problem = str(exc)
            ask = self._reask_prompt(prompt, reply, problem, schema)
        shown = reply.strip().replace("\n", " ")
        if len(shown) > 120:
            shown = shown[:117] + "..."
        raise LLMOutputError(
            f"{self.name} model {self.model_id!r} gave no valid {schema.__name__} JSON after "
            f"{self.json_attempts} attempt(s): {problem}; last reply: {shown!r}",
            hint="score candidate labels with label_logprobs instead, or use a stronger (instruct) model",
        )

    # ------------------------------------------------------------------ helpers
    def _deadline(self, timeout_s: float | None) -> Deadline:
        """A fresh deadline: ``timeout_s``, or the backend's ``llm.timeout_s`` when None."""
        return Deadline(self.timeout_s if timeout_s is None else timeout_s)

    @staticmethod
    def _join(prompt: str, label: str, separator: str | None) -> str:
        if separator is not None:
            return separator + label
        if not prompt or prompt[-1].isspace() or not label or label[0].isspace():
            return label
        return " " + label

    @staticmethod
    def _reask_prompt(prompt: str, reply: str, problem: str, schema: type[BaseModel]) -> str:
        fields = ", ".join(schema.model_fields)
        return (
            f"{prompt}{reply.rstrip()}\n\n"
            f"That answer was not valid: {problem}.\n"
            f"Answer again with one JSON object with the fields {fields}, and nothing else.\n"
        )


class HFTokenizerMixin:
    """Prompt rendering and token ids shared by the backends that hold a Hugging Face tokenizer."""

    tokenizer: object
    bos_id: int | None = None
    use_chat_template: bool = False

    def _setup_tokenizer(self, tokenizer, chat_template: bool | None) -> None:
        self.tokenizer = tokenizer
        self.bos_id = getattr(tokenizer, "bos_token_id", None)
        has_template = bool(getattr(tokenizer, "chat_template", None))
        self.use_chat_template = has_template if chat_template is None else (chat_template and has_template)

    def render(self, prompt: str) -> str:
        """The text actually fed to the model: the prompt itself for base models (Gemma 270M has no chat
        template); a one-turn chat with the generation prompt for folders that ship a template."""
        if not self.use_chat_template:
            return prompt
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )

    def encode(self, text: str) -> list[int]:
        """Token ids with exactly one BOS in front (whether or not ``text`` already starts with it)."""
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.bos_id is not None and (not ids or ids[0] != self.bos_id):
            ids.insert(0, self.bos_id)
        return ids

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))
