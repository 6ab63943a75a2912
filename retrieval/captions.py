"""Per-modality emotion captions for a clip: what the director's LLM writes into the Reference Footage library.

Authentic-Dubber's director has an LLM describe each library clip's emotion per modality (scene, face,
text, audio); the library embeds those captions (MiniLM) and retrieves by cosine per modality (DESIGN 1-3).
The measured numbers are first put in plain words (``perception.descriptions``); here ``CaptionWriter`` has
the LLM rewrite a descriptor into one short emotional sentence through a few-shot prompt per modality ("The
scene is cold and dark, heavy with dread."). The CPU model is a 270M *base* model: it follows examples, not
instructions, so each prompt is a handful of worked examples (the one nearest the descriptor last) and the
reply is cut at the first newline and validated. A reply that is empty, not words, holds numbers, runs over
200 characters, loops, or contradicts its descriptor (a "quiet" voice the descriptor calls loud, brows it
never mentions, an emotion the expression model did not read), and any LLM error or timeout, falls back to
the rules sentence (the descriptor itself, labelled), with a warning that names the failure. Nothing is ever
invented on failure.

Captions are cached on disk (``<cache_dir>/captions``) keyed by modality, descriptor, model id and
``PROMPT_VERSION``, so rebuilding a library costs no LLM time; ``CaptionWriter(use_llm=False)`` writes the
rules sentences only, for fast builds (a ``--no-llm`` switch maps onto it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ground.config import get_config
from ground.files import atomic_write_json
from perception.descriptions import NO_EVIDENCE, describe_audio, describe_face, describe_scene, describe_text

if TYPE_CHECKING:
    from llm.base import LLMBackend
    from perception.features import VisualFeatures
    from perception.records import AudioFeatures

log = logging.getLogger(__name__)

MODALITIES: tuple[str, ...] = ("scene", "face", "text", "audio")
PROMPT_VERSION = "captions-1"  # bump when a prompt, the validation or the descriptors' wording changes
MAX_CAPTION_CHARS = 200
CAPTION_MAX_NEW_TOKENS = 24  # text captions: the few-shot ones are 8-14 tokens
GUIDED_MAX_NEW_TOKENS = 14  # the mood completing a guided caption: the few-shot ones are 2-6 tokens


# ---------------------------------------------------------------------------------------------- prompts
# How the LLM writes a caption. Measured on 20 corpus clips, the 270M base model, asked for a whole
# sentence, mostly copied the nearest example's sentence, contradicting the descriptor (a "quiet" voice the
# descriptor calls loud) in 40% of captions. So for scene, face and audio the caption is *guided*: it
# starts with the descriptor's own words (its "stem": the descriptor without numbers or the expression
# readings) and the model continues it with the mood only, "Dark, warm reddish light, ...: a scene
# charged with rage." The text caption is written whole: the line's wording is what it interprets.
# Examples per modality: (descriptor, the model's part). Written for this prompt; never corpus lines.
_EXAMPLES: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    # modality: (what the descriptor is called, what the caption is called, examples)
    "scene": (
        "Look",
        "Mood",
        (
            ("evenly lit, grey light, washed-out colours, almost no motion", "a calm, ordinary scene"),
            ("very bright, warm yellowish light, saturated colours, steady motion",
             "a cheerful, joyful scene"),
            ("dark, cold bluish light, rich colours, almost no motion", "a lonely, sorrowful scene"),
            ("very dark, greenish light, muted colours, little motion, sudden jolts",
             "a scene of creeping fear"),
            ("dark, warm reddish light, saturated colours, fast, busy motion", "a scene charged with rage"),
        ),
    ),
    "face": (
        "Face",
        "Emotion",
        (
            ("features close to a relaxed face; the expression model reads neutral 0.70",
             "calm and neutral"),
            ("eyes narrowed, lip corners pulled up in a broad smile, mouth stretched wide; the expression "
             "model reads happy 0.77", "pure joy"),
            ("eyes narrowed, lip corners pulled down hard; the expression model reads sad 0.61",
             "deep sadness"),
            ("brows raised high, eyes very wide; the expression model reads fear 0.44, surprise 0.30",
             "sudden fear"),
            ("brows lowered and drawn together, eyes wide, lip corners down; the expression model reads "
             "angry 0.52, neutral 0.21", "an angry glare"),
        ),
    ),
    "text": (
        "Line",
        "Feeling",
        (
            ('"The train leaves at nine." (plain statement)', "A plain fact: calm and neutral."),
            ('"We won! I can\'t believe we actually won!" (several exclamations)',
             "Cheering twice over: overjoyed happiness."),
            ('"I really thought she would come back..." (trailing off with an ellipsis)',
             "A line that trails off: quiet sadness and longing."),
            ('"Wait, you did all this for me?" (question)', "An amazed question: happy surprise."),
            ('"Please, don\'t leave me alone in here." (plain statement)',
             "A pleading request: frightened and anxious."),
            ('"Get out of my house, NOW!" (exclamation; all-caps words: NOW)',
             "A shouted order to leave: furious anger."),
        ),
    ),
    "audio": (
        "Voice",
        "Tone",
        (
            ("medium pitch (about 170 Hz), steady intonation, normal loudness, moderate pace",
             "calm and neutral"),
            ("high pitch (about 240 Hz), wide pitch swings, loud voice, fast pace", "bursting joy"),
            ("very low pitch (about 90 Hz), flat monotone intonation, quiet, subdued voice, slow pace",
             "weary sadness"),
            ("high pitch (about 220 Hz), steady intonation, soft voice, fast pace, long pauses",
             "nervous fear"),
            ("low pitch (about 120 Hz), lively intonation, loud voice, fast pace", "forceful anger"),
        ),
    ),
}  # fmt: skip
GUIDED: frozenset[str] = frozenset({"scene", "face", "audio"})  # captions that start with the stem

_HEADERS = {
    "scene": "How a film shot looks, and the mood it sets.",
    "face": "A character's facial expression, and the emotion it shows.",
    "text": "A line of film dialogue, and the feeling behind it, in one short sentence.",
    "audio": "How a line is spoken, and the emotion in the voice.",
}

_DTYPE_NAMES = {"bf16": "bfloat16", "fp32": "float32", "float": "float32", "fp16": "float16"}

_RULE_PREFIX = {"scene": "Scene", "face": "Face", "text": "Line", "audio": "Voice"}


def caption_stem(modality: str, descriptor: str) -> str | None:
    """The words a guided caption starts with: the descriptor without numbers in parentheses and without
    the expression model's readings, capitalised; None for the text modality (written whole)."""
    _check_modality(modality)
    if modality not in GUIDED:
        return None
    stem = _one_line(descriptor).split(";", 1)[0]
    stem = re.sub(r"\s*\([^)]*\d[^)]*\)", "", stem).strip(" ,.")
    return stem[:1].upper() + stem[1:] if stem else None


def caption_prompt(modality: str, descriptor: str) -> str:
    """The few-shot prompt whose continuation is the caption, or for a guided modality the mood that
    completes ``<stem>:``."""
    _check_modality(modality)
    given, wanted, examples = _EXAMPLES[modality]
    descriptor = _one_line(descriptor)
    lines = [_HEADERS[modality], ""]
    # the most similar example goes last: a small model leans on the nearest example, so the words it
    # borrows then fit this descriptor best
    mine = set(re.findall(r"[a-z]+", descriptor.lower()))

    def overlap(example: tuple[str, str]) -> float:
        theirs = set(re.findall(r"[a-z]+", example[0].lower()))
        return len(mine & theirs) / max(1, len(mine | theirs))

    for d, c in sorted(examples, key=overlap):
        lines += [f"{given}: {d}", f"{wanted}: {example_caption(modality, d, c)}", ""]
    stem = caption_stem(modality, descriptor)
    lines += [f"{given}: {descriptor}", f"{wanted}:" + (f" {stem}:" if stem else "")]
    return "\n".join(lines)


def example_caption(modality: str, descriptor: str, written: str) -> str:
    """A whole caption from the model's part: ``<stem>: <mood>.`` for guided modalities."""
    stem = caption_stem(modality, descriptor)
    return f"{stem}: {written}." if stem else written


def rules_caption(modality: str, descriptor: str) -> str:
    """The fallback sentence: the descriptor itself, labelled with its modality (it adds nothing)."""
    _check_modality(modality)
    text = _one_line(descriptor).rstrip(" .;,")
    return f"{_RULE_PREFIX[modality]}: {text}."


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _check_modality(modality: str) -> None:
    if modality not in MODALITIES:
        raise ValueError(f"unknown caption modality {modality!r}; one of {', '.join(MODALITIES)}")


def _w(*words: str) -> frozenset[str]:
    return frozenset(words)


# Consistency checks of an LLM caption against its descriptor (the small model sometimes copies an example's
# words instead of the descriptor's). Each axis lists its levels as (words a caption may use, words the
# descriptor uses for that level): a caption naming a level while the descriptor names only other levels of
# the same axis contradicts what was measured ("quiet" for a loud voice, "red" light for a cyan scene).
_Axis = tuple[tuple[frozenset[str], frozenset[str]], ...]
_AXES: dict[str, tuple[_Axis, ...]] = {
    "scene": (
        ((_w("bright", "brightly", "sunny", "sunlit"), _w("bright")),
         (_w("even", "evenly"), _w("evenly")),
         (_w("dark", "darkness", "dim", "gloomy", "shadowy", "night"), _w("dark", "dim"))),
        ((_w("warm"), _w("warm")), (_w("cold", "cool", "icy", "chilly"), _w("cold"))),
        ((_w("red", "reddish", "crimson", "scarlet"), _w("reddish")),
         (_w("orange"), _w("orange")),
         (_w("yellow", "yellowish", "golden"), _w("yellowish")),
         (_w("green", "greenish", "sickly"), _w("greenish")),
         (_w("cyan", "teal", "turquoise"), _w("cyan")),
         (_w("blue", "bluish"), _w("bluish")),
         (_w("purple", "purplish", "violet"), _w("purplish")),
         (_w("pink", "pinkish"), _w("pinkish")),
         (_w("grey", "gray", "greyish"), _w("grey"))),
        ((_w("still", "stillness", "motionless"), _w("almost")),
         (_w("slight"), _w("little")),
         (_w("steady"), _w("steady")),
         (_w("busy", "restless", "hectic"), _w("busy"))),
    ),
    "face": (
        ((_w("raised"), _w("raised")), (_w("lowered", "furrowed"), _w("lowered"))),
        ((_w("wide", "widened"), _w("wide")),
         (_w("narrowed", "narrow", "squinting", "shut"), _w("narrowed", "shut"))),
        ((_w("smile", "smiling", "beaming", "grin", "grinning"), _w("smile", "up")),
         (_w("drooping", "frown", "frowning", "downturned"), _w("down"))),
    ),
    "text": (),
    "audio": (
        ((_w("loud", "loudly", "shouting", "booming"), _w("loud")),
         (_w("normal"), _w("normal")),
         (_w("quiet", "quietly", "soft", "softly", "subdued", "hushed", "whisper"), _w("quiet", "soft"))),
        ((_w("fast", "rapid", "quick", "hurried"), _w("fast")),
         (_w("moderate"), _w("moderate")),
         (_w("slow", "slowly"), _w("slow"))),
        ((_w("high", "shrill"), _w("high")), (_w("medium"), _w("medium")), (_w("low", "deep"), _w("low"))),
        ((_w("flat", "monotone"), _w("flat")), (_w("steady"), _w("steady")),
         (_w("lively", "swings", "swinging"), _w("lively", "swings"))),
    ),
}  # fmt: skip
# A caption may only name what its descriptor names: facial features and their states, a question or a
# shout in the line.
_FEATURES: dict[str, tuple[tuple[frozenset[str], frozenset[str]], ...]] = {
    "face": (
        (_w("brow", "brows", "eyebrows"), _w("brows")),
        (_w("eye", "eyes"), _w("eyes")),
        (_w("raised"), _w("raised")),
        (_w("lowered", "furrowed"), _w("lowered", "together")),
        (_w("widened"), _w("wide")),
        (_w("narrowed", "squinting"), _w("narrowed", "shut")),
        (_w("smile", "smiling", "beaming", "grin", "grinning"), _w("smile", "up")),
        (_w("drooping", "frown", "frowning", "downturned"), _w("down")),
    ),
    "text": (
        (_w("question", "questions", "asks", "asking", "asked"), _w("question")),
        (_w("shouted", "shout", "shouting", "shouts", "yelled", "yelling", "exclaims"),
         _w("exclamation", "exclamations", "caps")),
        (_w("trails", "trailing"), _w("trailing")),
        (_w("plain"), _w("plain")),
    ),
}  # fmt: skip
# Emotion words, for the face caption: it may only name an emotion the expression model's readings list.
EMOTION_WORDS: dict[str, frozenset[str]] = {
    "angry": _w("angry", "anger", "rage", "furious", "fury", "glare", "glaring", "irritated", "hostile"),
    "disgust": _w("disgust", "disgusted", "revulsion", "revolted", "repulsed"),
    "fear": _w(
        "fear", "afraid", "frightened", "scared", "terror", "terrified", "dread", "nervous", "anxious"
    ),
    "happy": _w("happy", "happiness", "joy", "joyful", "cheerful", "delight", "delighted", "glad"),
    "sad": _w("sad", "sadness", "sorrow", "sorrowful", "grief", "tears", "downcast", "gloomy", "mournful"),
    "surprise": _w(
        "surprise", "surprised", "amazed", "amazement", "astonished", "startled", "shock", "shocked"
    ),
    "neutral": _w("neutral", "calm", "relaxed", "composed"),
}
_CALM = _w("calm", "relaxed", "peaceful", "peacefulness", "gentle", "tranquil")


def contradiction(modality: str, descriptor: str, caption: str) -> str | None:
    """Why the caption contradicts the descriptor (e.g. "quiet" for a loud voice), or None."""
    said = set(re.findall(r"[a-z]+", descriptor.lower()))
    wrote = set(re.findall(r"[a-z]+", caption.lower()))
    for axis in _AXES.get(modality, ()):
        levels = [i for i, (_, marks) in enumerate(axis) if said & marks]
        for i, (words, _) in enumerate(axis):
            hit = wrote & words
            if hit and levels and i not in levels:
                return (
                    f"{sorted(hit)[0]!r} where the descriptor says {sorted(said & axis[levels[0]][1])[0]!r}"
                )
    for words, marks in _FEATURES.get(modality, ()):
        hit = wrote & words
        if hit and not said & marks:
            return f"{sorted(hit)[0]!r}, which the descriptor does not say"
    if modality == "audio" and wrote & _CALM and said & _w("loud", "fast", "swings"):
        return f"{sorted(wrote & _CALM)[0]!r} for a loud, fast or swinging voice"
    if modality == "scene" and wrote & _CALM and said & _w("busy", "jolts"):
        return f"{sorted(wrote & _CALM)[0]!r} for a busy, jolting scene"
    if modality == "face" and "reads" in said:
        read = set(re.findall(r"([a-z]+) \d", descriptor.split("reads", 1)[1]))
        for emotion, words in EMOTION_WORDS.items():
            hit = wrote & words
            if hit and emotion not in read:
                return f"{sorted(hit)[0]!r} while the expression model reads {', '.join(sorted(read))}"
    return None


def validate_caption(
    reply: str, modality: str | None = None, descriptor: str | None = None, *, truncated: bool = False
) -> str:
    """The caption from an LLM reply (first line, trimmed), or ``ValueError`` saying what is wrong.

    With ``modality`` and ``descriptor`` it also rejects a reply that contradicts the descriptor, and for a
    guided modality the reply is the mood completing the stem: the caption is ``<stem>: <mood>.``.
    ``truncated``: the reply ran into the token limit; it is kept only up to its last whole clause."""
    text = str(reply).strip().splitlines()[0].strip() if str(reply).strip() else ""
    stem = caption_stem(modality, descriptor) if modality is not None and descriptor is not None else None
    text = text.strip(" \"'`*" + (":;,." if stem else ""))
    if not text:
        raise ValueError("empty reply")
    if truncated and text[-1] not in ".!?":
        cut = max(text.rfind(","), text.rfind(";"), text.rfind(":"))
        if cut < 0:
            raise ValueError(f"cut short by the token limit: {text!r}")
        text = text[:cut].rstrip()
    letters = sum(c.isalpha() for c in text)
    if letters < (3 if stem else 8) or letters < 0.6 * len(text.replace(" ", "")):
        raise ValueError(f"not words: {text[:60]!r}")
    words = re.findall(r"[a-z']+", text.lower())
    if stem is None and len(words) < 3:
        raise ValueError(f"too short: {text!r}")
    if stem is not None and len(words) > 14:
        raise ValueError(f"too long for a mood ({len(words)} words): {text[:80]!r}")
    if any(c.isdigit() for c in text):
        raise ValueError(f"numbers in a caption (it should be words only): {text!r}")
    if _loops(words):
        raise ValueError(f"repetition loop: {text[:80]!r}")
    if modality is not None and descriptor is not None:
        clash = contradiction(modality, descriptor, text)
        if clash:
            raise ValueError(f"contradicts the descriptor ({clash}): {text!r}")
    if stem is not None:
        text = f"{stem}: {text.rstrip('.!?')}"
    if text[-1] not in ".!?":
        text += "."
    if len(text) > MAX_CAPTION_CHARS:
        raise ValueError(f"too long ({len(text)} chars)")
    return text


def _loops(words: list[str]) -> bool:
    """True for greedy decoding's typical loops: a word doubled back to back ("dark, dark"), a 2-4 word
    phrase three times in a row, or one content word (4+ letters) three times anywhere."""
    for i in range(len(words) - 1):
        if words[i] == words[i + 1] and len(words[i]) >= 3:
            return True
    for n in (2, 3, 4):
        for i in range(len(words) - 3 * n + 1):
            if words[i : i + n] == words[i + n : i + 2 * n] == words[i + 2 * n : i + 3 * n]:
                return True
    counts: dict[str, int] = {}
    for w in words:
        if len(w) >= 4:
            counts[w] = counts.get(w, 0) + 1
            if counts[w] >= 3:
                return True
    return False


# ---------------------------------------------------------------------------------------------- writer
@dataclass(frozen=True)
class Caption:
    modality: str
    text: str
    source: str  # "llm" or "rules"


class CaptionWriter:
    """Writes one caption per modality: the LLM's rewrite of the descriptor, or the rules sentence.

    ``backend``: an ``LLMBackend`` (default: ``llm.get_backend()``, loaded on the first cache miss).
    ``use_llm=False``: rules sentences only (fast library builds; what a ``--no-llm`` switch sets).
    ``timeout_s``: per-caption LLM time limit (default: the backend's ``llm.timeout_s``).
    ``cache``: read and write the on-disk caption cache under ``cache_dir`` (default
    ``<config cache_dir>/captions``).

    Counters: ``llm_calls`` (generations run), ``cache_hits``, ``fallbacks`` (LLM failures that fell back).
    """

    def __init__(
        self,
        backend: LLMBackend | None = None,
        use_llm: bool = True,
        *,
        timeout_s: float | None = None,
        max_new_tokens: int = CAPTION_MAX_NEW_TOKENS,
        cache: bool = True,
        cache_dir: str | Path | None = None,
    ):
        self._backend = backend
        self.use_llm = bool(use_llm)
        self.timeout_s = timeout_s
        self.max_new_tokens = int(max_new_tokens)
        self.cache = bool(cache)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else get_config().cache_dir / "captions"
        self.llm_calls = 0
        self.cache_hits = 0
        self.fallbacks = 0
        self._lock = threading.Lock()

    # -- model --------------------------------------------------------------------------------------
    @property
    def backend(self) -> LLMBackend:
        if self._backend is None:
            from llm import get_backend

            self._backend = get_backend()
        return self._backend

    @property
    def model_id(self) -> str:
        """The model (and weight precision) in the cache key; known from the configuration without loading
        the model, so a rebuild whose captions are all cached never loads it."""
        if self._backend is not None:
            b = self._backend
            dtype = str(getattr(b, "dtype", "") or "").replace("torch.", "")
            return f"{b.name}:{b.model_id}|{_DTYPE_NAMES.get(dtype, dtype)}"
        cfg = get_config().llm
        if cfg.model:
            model = str(Path(cfg.model).expanduser()) if cfg.backend == "transformers" else cfg.model
        else:
            from llm.transformers_backend import GEMMA_MODEL_ID

            model = GEMMA_MODEL_ID
        dtype = str(cfg.dtype).strip().lower()
        if cfg.backend == "vllm":
            dtype = ""  # vLLM reports no dtype attribute: keep the key the same whichever way it is built
        return f"{cfg.backend}:{model}|{_DTYPE_NAMES.get(dtype, dtype)}"

    # -- cache --------------------------------------------------------------------------------------
    def _cache_path(self, modality: str, descriptor: str) -> Path:
        key = json.dumps([modality, _one_line(descriptor), self.model_id, PROMPT_VERSION])
        digest = hashlib.sha1(key.encode("utf-8")).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.json"

    def _cache_get(self, path: Path) -> Caption | None:
        if not self.cache or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Caption(data["modality"], data["text"], data["source"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("caption cache entry %s is unreadable (%s); writing it again", path, exc)
            return None

    def _cache_put(self, path: Path, caption: Caption, descriptor: str) -> None:
        if not self.cache:
            return
        data = {**asdict(caption), "descriptor": descriptor, "model": self.model_id, "prompt": PROMPT_VERSION}
        atomic_write_json(path, data, indent=None)

    # -- captions -----------------------------------------------------------------------------------
    def caption(self, modality: str, descriptor: str) -> Caption:
        """One caption for ``descriptor`` (from a ``describe_*`` function) of ``modality``."""
        _check_modality(modality)
        descriptor = _one_line(descriptor)
        if not self.use_llm or descriptor in NO_EVIDENCE:
            # nothing measured, nothing to interpret: the LLM would only invent a mood
            return Caption(modality, rules_caption(modality, descriptor), "rules")
        path = self._cache_path(modality, descriptor)
        cached = self._cache_get(path)
        if cached is not None:
            with self._lock:
                self.cache_hits += 1
            return cached
        from ground.errors import DubberError
        from llm.base import LLMOutputError, LLMTimeoutError

        with self._lock:
            self.llm_calls += 1
        try:
            reply = self.backend.generate(
                caption_prompt(modality, descriptor),
                max_new_tokens=self._token_limit(modality),
                stop=["\n"],
                timeout_s=self.timeout_s,
            )
        except (LLMTimeoutError, LLMOutputError) as exc:
            # transient (time) or backend-side: not cached, the next build tries the LLM again
            return self._fallback(modality, descriptor, f"{type(exc).__name__}: {exc}")
        except DubberError:
            raise  # a missing or misconfigured model is the user's to fix, not something to hide
        except Exception as exc:  # noqa: BLE001 - any runtime failure of the model falls back, loudly
            return self._fallback(modality, descriptor, f"{type(exc).__name__}: {exc}")
        try:
            text = validate_caption(reply, modality, descriptor, truncated=self._hit_limit(reply, modality))
        except ValueError as exc:
            # greedy decoding repeats itself: the same descriptor gives the same garbage, so cache it
            caption = self._fallback(modality, descriptor, f"unusable reply ({exc})")
            self._cache_put(path, caption, descriptor)
            return caption
        caption = Caption(modality, text, "llm")
        self._cache_put(path, caption, descriptor)
        return caption

    def _hit_limit(self, reply: str, modality: str) -> bool:
        """Whether generation stopped at ``max_new_tokens`` rather than at the end of the line."""
        try:
            n = self.backend.count_tokens(reply) - 1  # count_tokens adds one BOS
        except NotImplementedError:
            n = len(reply.split()) * 4 // 3  # about 1.3 tokens per English word
        return n >= self._token_limit(modality) - 1

    def _token_limit(self, modality: str) -> int:
        return min(self.max_new_tokens, GUIDED_MAX_NEW_TOKENS) if modality in GUIDED else self.max_new_tokens

    def _fallback(self, modality: str, descriptor: str, why: str) -> Caption:
        with self._lock:
            self.fallbacks += 1
        log.warning("%s caption: LLM failed (%s); using the rules sentence", modality, why)
        return Caption(modality, rules_caption(modality, descriptor), "rules")

    def descriptors(
        self,
        visual: VisualFeatures | None,
        text: str | None,
        audio_features: AudioFeatures | None = None,
    ) -> dict[str, str]:
        """The descriptor of every modality the inputs cover (scene and face need ``visual``...)."""
        out: dict[str, str] = {}
        if visual is not None:
            out["scene"] = describe_scene(visual)
            out["face"] = describe_face(visual)
        if text is not None and str(text).strip():
            out["text"] = describe_text(text)
        if audio_features is not None:
            out["audio"] = describe_audio(audio_features)
        return out

    def caption_clip(
        self,
        visual: VisualFeatures | None,
        text: str | None,
        audio_features: AudioFeatures | None = None,
    ) -> dict[str, Caption]:
        """Captions for one clip: scene and face (from ``visual``), text, and audio when given."""
        return {m: self.caption(m, d) for m, d in self.descriptors(visual, text, audio_features).items()}

    def stats(self) -> dict[str, int]:
        return {"llm_calls": self.llm_calls, "cache_hits": self.cache_hits, "fallbacks": self.fallbacks}
