"""Where each phoneme of a line sits in time: ground truth for training, a monotonic search at dubbing time.

The actor expands phoneme states to acoustic frames (FastSpeech-style), so it needs one token per frame:

- **training**: the corpus engine's own phone timings (flite's ``-psdur`` in ARPAbet, Piper's and Kokoro's
  durations in IPA, carried through the WORLD time map into ``meta.json``) are matched to the espeak-ng IPA tokens by a small edit-distance alignment over a
  phone-class table; a clip without engine timings is not used for training (it would need a learned
  aligner: see the README);
- **dubbing**: the text-to-lip attention (trained to reproduce those timings per video frame) is searched
  for the best monotonic path (Viterbi), so the speech follows the lips; without a face, the duration
  predictor's durations are rescaled to the clip.

Tokens: ``SIL`` before and after the line absorbs the silence around the speech; stress marks and word
spaces never take frames; clause punctuation takes frames only where the engine paused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SIL = "<sil>"
PAUSE_TOKENS = frozenset(",.!?;:")
ZERO_TOKENS = frozenset({" ", "ˈ", "ˌ"})  # never take frames

# espeak-ng IPA token -> the flite (CMU ARPAbet) phones it may be matched to
IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    "b": ("b",), "d": ("d",), "f": ("f",), "h": ("hh",), "j": ("y",), "k": ("k",), "l": ("l",),
    "m": ("m",), "n": ("n",), "p": ("p",), "s": ("s",), "t": ("t",), "v": ("v",), "w": ("w",),
    "z": ("z",), "ð": ("dh",), "θ": ("th",), "ŋ": ("ng",), "ɡ": ("g",), "g": ("g",), "ʃ": ("sh",),
    "ʒ": ("zh",), "tʃ": ("ch",), "dʒ": ("jh",), "ɹ": ("r",), "r": ("r",), "ɾ": ("t", "d"), "ʔ": ("t",),
    "n̩": ("n", "ax"), "l̩": ("l", "ax"), "x": ("k", "hh"),
    "aɪ": ("ay",), "aɪə": ("ay",), "aʊ": ("aw",), "eɪ": ("ey",), "e": ("ey", "eh"), "i": ("iy", "ih"),
    "iː": ("iy",), "iə": ("iy", "ih"), "oʊ": ("ow",), "o": ("ow",), "oː": ("ow", "ao"), "oːɹ": ("ao", "ow"),
    "uː": ("uw",), "u": ("uw", "uh"), "æ": ("ae",), "a": ("aa", "ae"), "ɐ": ("ax", "ah"), "ɑː": ("aa",),
    "ɑ": ("aa",), "ɑːɹ": ("aa",), "ɔ": ("ao", "aa"), "ɔɪ": ("oy",), "ɔː": ("ao", "aa"), "ɔːɹ": ("ao",),
    "ə": ("ax", "ah"), "əl": ("ax", "l"), "ɚ": ("er", "ax"), "ɛ": ("eh",), "ɛɹ": ("eh", "ey"),
    "ɜː": ("er",), "ɜ": ("er",), "ɪ": ("ih",), "ɪɹ": ("ih", "iy"), "ʊ": ("uh",), "ʊɹ": ("uh", "ao", "uw"),
    "ʌ": ("ah",), "ᵻ": ("ih", "ax"),
}  # fmt: skip
ARPABET_VOWELS = frozenset(
    ["aa", "ae", "ah", "ao", "aw", "ax", "axr", "ay", "eh", "er", "ey", "ih", "ix", "iy", "ow", "oy", "uh", "uw"]
)  # fmt: skip


def with_boundaries(phonemes: Sequence[str]) -> list[str]:
    """The line's tokens as the actor reads them: silence, the phonemes, silence."""
    return [SIL, *phonemes, SIL]


def skippable(tokens: Sequence[str]) -> np.ndarray:
    """Tokens that may take no frames at all (the search may pass over them)."""
    return np.array([t in ZERO_TOKENS or t in PAUSE_TOKENS or t == SIL for t in tokens], dtype=bool)


def _is_vowel_ipa(token: str) -> bool:
    return any(a in ARPABET_VOWELS for a in IPA_TO_ARPABET.get(token, ()))


def _is_vowel_phone(phone: str) -> bool:
    return phone in ARPABET_VOWELS or _is_vowel_ipa(phone)


def _sub_cost(token: str, phone: str) -> float:
    """Cost of matching an espeak-ng token to an engine phone: flite's ARPAbet, or the IPA of Piper and
    Kokoro (their own espeak-ng phonemization, split and length-marked a little differently: Kokoro says
    ``ɑ`` where espeak-ng's token is ``ɑː``, and ``ɹ`` apart from the ``ɚ`` of the token)."""
    if token in PAUSE_TOKENS or phone == "pau":
        return 0.0 if (token in PAUSE_TOKENS and phone == "pau") else 3.0
    if phone == token or phone in IPA_TO_ARPABET.get(token, ()):
        return 0.0
    if phone.replace("ː", "") == token.replace("ː", ""):
        return 0.0
    if set(IPA_TO_ARPABET.get(token, ())) & set(IPA_TO_ARPABET.get(phone, ())):
        return 0.2
    return 0.6 if _is_vowel_ipa(token) == _is_vowel_phone(phone) else 1.0


def token_spans(
    tokens: Sequence[str], timings: Sequence[tuple[str, float, float]], clip_seconds: float
) -> list[tuple[float, float]]:
    """(start, end) seconds of each token of ``with_boundaries(phonemes)`` from engine phone timings.

    The phones are matched to the tokens by edit distance over ``IPA_TO_ARPABET``; a phone no token took
    (e.g. the ``r`` of ``ʊɹ``) extends its neighbour; a token no phone took shares its neighbour's span.
    """
    phones = [(p, float(s), float(e)) for p, s, e in timings]
    while phones and phones[0][0] == "pau":
        phones.pop(0)
    while phones and phones[-1][0] == "pau":
        phones.pop()
    inner = [i for i, t in enumerate(tokens) if t not in ZERO_TOKENS and t != SIL]
    spans: list[list[float] | None] = [None] * len(tokens)
    if phones and inner:
        n, m = len(inner), len(phones)
        cost = np.zeros((n + 1, m + 1))
        move = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 match, 1 token alone, 2 phone alone
        for i in range(1, n + 1):
            tok = tokens[inner[i - 1]]
            cost[i, 0] = cost[i - 1, 0] + (0.0 if tok in PAUSE_TOKENS else 0.8)
            move[i, 0] = 1
        for j in range(1, m + 1):
            cost[0, j] = cost[0, j - 1] + (0.3 if phones[j - 1][0] == "pau" else 0.8)
            move[0, j] = 2
        for i in range(1, n + 1):
            tok = tokens[inner[i - 1]]
            del_tok = 0.0 if tok in PAUSE_TOKENS else 0.8
            for j in range(1, m + 1):
                ph = phones[j - 1][0]
                options = (
                    cost[i - 1, j - 1] + _sub_cost(tok, ph),
                    cost[i - 1, j] + del_tok,
                    cost[i, j - 1] + (0.3 if ph == "pau" else 0.8),
                )
                k = int(np.argmin(options))
                cost[i, j], move[i, j] = options[k], k
        i, j = n, m
        pairs: list[tuple[int | None, int | None]] = []
        while i > 0 or j > 0:
            k = move[i, j]
            if k == 0:
                pairs.append((inner[i - 1], j - 1))
                i, j = i - 1, j - 1
            elif k == 1:
                pairs.append((inner[i - 1], None))
                i -= 1
            else:
                pairs.append((None, j - 1))
                j -= 1
        pairs.reverse()
        last_token: int | None = None
        orphan_phones: list[int] = []  # phones before the first matched token
        for tok_i, ph_j in pairs:
            if tok_i is not None and ph_j is not None:
                spans[tok_i] = [phones[ph_j][1], phones[ph_j][2]]
                if orphan_phones:
                    spans[tok_i][0] = phones[orphan_phones[0]][1]
                    orphan_phones = []
                last_token = tok_i
            elif ph_j is not None:  # a phone no token took
                if last_token is not None:
                    spans[last_token][1] = phones[ph_j][2]
                else:
                    orphan_phones.append(ph_j)
        # tokens no phone took: non-pause ones share the previous (else next) token's span
        speaking = [i for i in inner if tokens[i] not in PAUSE_TOKENS]
        for pos, i in enumerate(speaking):
            if spans[i] is not None:
                continue
            run = [i]
            q = pos + 1
            while q < len(speaking) and spans[speaking[q]] is None:
                run.append(speaking[q])
                q += 1
            prev = next((speaking[p] for p in range(pos - 1, -1, -1) if spans[speaking[p]] is not None), None)
            nxt = speaking[q] if q < len(speaking) else None
            host = prev if prev is not None else nxt
            if host is None:
                break
            group = [host, *run] if host == prev else [*run, host]
            start, end = spans[host]
            edges = np.linspace(start, end, len(group) + 1)
            for g, a, b in zip(group, edges[:-1], edges[1:], strict=True):
                spans[g] = [float(a), float(b)]
    ends = [s[1] for s in spans if s is not None]
    starts = [s[0] for s in spans if s is not None]
    speech_start = min(starts) if starts else 0.0
    speech_end = max(ends) if ends else 0.0
    out: list[tuple[float, float]] = []
    cursor = 0.0
    for i, t in enumerate(tokens):
        if i == 0 and t == SIL:
            span = (0.0, speech_start)
        elif i == len(tokens) - 1 and t == SIL:
            span = (max(cursor, speech_end), max(clip_seconds, speech_end))
        elif spans[i] is None:
            span = (cursor, cursor)
        else:
            span = (max(cursor, spans[i][0]), max(cursor, spans[i][1]))
        cursor = span[1]
        out.append(span)
    return out


def durations_from_spans(spans: Sequence[tuple[float, float]], total_frames: int, hop_s: float) -> np.ndarray:
    """Integer acoustic frames per token, summing to ``total_frames`` exactly."""
    ends = np.array([e for _, e in spans], dtype=np.float64) / hop_s
    bounds = np.clip(np.round(ends), 0, total_frames).astype(np.int64)
    bounds = np.maximum.accumulate(bounds)
    bounds[-1] = total_frames
    return np.diff(np.concatenate([[0], bounds])).astype(np.int64)


def engine_timings(record) -> list[tuple[str, float, float]] | None:
    """The engine's phone timings of a corpus clip (``meta.json`` beside its video), or None."""
    meta_path = Path(record.video_path).parent / "meta.json"
    if not meta_path.is_file():
        return None
    timings = json.loads(meta_path.read_text(encoding="utf-8")).get("phoneme_timings")
    return [tuple(t) for t in timings] if timings else None


def duration_prior(
    first: np.ndarray, predicted: np.ndarray, can_skip: np.ndarray, sigma: float = 1.5
) -> np.ndarray:
    """(T, N) log prior from the duration predictor: the silences where a first search put them, the
    predicted frames of the tokens between rescaled to the speech in between; a Gaussian band (``sigma``
    tokens, counted over tokens that take frames) around where the predictor says each frame is."""
    t_len, n = int(first.sum()), len(first)
    start, end = int(first[0]), t_len - int(first[-1])
    inner = np.clip(np.asarray(predicted[1:-1], dtype=np.float64), 0, None)
    inner = inner if inner.sum() > 0 else np.ones_like(inner)
    bounds = np.concatenate([[0.0, start], start + np.cumsum(inner) / inner.sum() * (end - start), [t_len]])
    counts = ~np.asarray(can_skip, dtype=bool)
    counts[[0, -1]] = True  # the silences around the line are places too
    rank = np.cumsum(counts).astype(np.float64)  # distance in tokens that take frames
    centres = np.arange(t_len) + 0.5
    token = np.clip(np.searchsorted(bounds[1:], centres, side="right"), 0, n - 1)
    span = np.maximum(bounds[token + 1] - bounds[token], 1e-6)
    position = rank[token] - 0.5 + (centres - bounds[token]) / span  # fractional spoken-token position
    return -0.5 * ((rank[None, :] - position[:, None]) / sigma) ** 2


def monotonic_alignment(log_probs: np.ndarray, can_skip: np.ndarray, min_frames: int = 1) -> np.ndarray:
    """Viterbi: the best left-to-right path of frames through tokens (each frame one token, tokens in
    order, a skippable token may take no frames, any other at least ``min_frames``, as far as the clip
    allows). ``log_probs`` (T, N) -> integer frames per token (N,).

    A minimum is a chain of ``min_frames`` states per token sharing its emission: the same search.
    """
    can_skip = np.asarray(can_skip, dtype=bool)
    t_len, n = np.shape(log_probs)
    if min_frames > 1 and int((~can_skip).sum()) * min_frames <= t_len:
        owner = np.repeat(np.arange(n), np.where(can_skip, 1, min_frames))
        chained = _viterbi(np.asarray(log_probs)[:, owner], can_skip[owner])
        return np.bincount(owner, weights=chained, minlength=n).astype(np.int64)
    return _viterbi(log_probs, can_skip)


def _viterbi(log_probs: np.ndarray, can_skip: np.ndarray) -> np.ndarray:
    """``monotonic_alignment`` with no minimum.

    Token j is entered from the best of tokens ``[L(j), j)``, L(j) being the last token before j that may
    not be skipped. Those are exactly the tokens before j in j-1's segment (segments restart at every
    token that may not be skipped), so one running maximum with a large offset per segment gives every
    token's entry at once: a frame costs O(N) in numpy, not a Python loop over the tokens.
    """
    log_probs = np.maximum(np.asarray(log_probs, dtype=np.float64), -30.0)
    t_len, n = log_probs.shape
    can_skip = np.asarray(can_skip, dtype=bool)
    neg = -1e7  # below any path (at least -30 per frame), yet far above the gaps between segments
    offset = np.cumsum(~can_skip).astype(np.float64) * 1e8
    index = np.arange(n)
    start_ok = np.concatenate([[True], np.cumprod(can_skip)[:-1].astype(bool)])
    end_ok = np.concatenate([np.cumprod(can_skip[::-1])[::-1][1:].astype(bool), [True]])
    score = np.where(start_ok, log_probs[0], neg)
    back_stay = np.ones((t_len, n), dtype=bool)
    back_from = np.zeros((t_len, n), dtype=np.int64)
    enter = np.full(n, neg)
    enter_src = np.zeros(n, dtype=np.int64)
    for t in range(1, t_len):
        keyed = np.maximum(score, neg) + offset
        run = np.maximum.accumulate(keyed)
        source = np.maximum.accumulate(np.where(keyed >= run, index, 0))  # where each maximum was reached
        enter[1:] = run[:-1] - offset[:-1]
        enter_src[1:] = source[:-1]
        stay = score >= enter
        score = np.where(stay, score, enter) + log_probs[t]
        back_stay[t], back_from[t] = stay, enter_src
    j = int(np.argmax(np.where(end_ok, score, -np.inf)))
    durations = np.zeros(n, dtype=np.int64)
    for t in range(t_len - 1, -1, -1):
        durations[j] += 1
        if t > 0 and not back_stay[t, j]:
            j = int(back_from[t, j])
    return durations
