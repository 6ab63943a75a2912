"""The actor's model and voice core on real inputs: the emotion graphs' shapes, chunked decoding that equals
whole-line decoding, streaming, and the bad-input rules (short or silent prompt, line too long, no face).

The model here is freshly initialised and small (what it says is noise), so these tests check the
machinery; what the trained model says is measured by ``benchmarks/actor_quality.py``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from actors.alignment import (
    SIL,
    durations_from_spans,
    engine_timings,
    monotonic_alignment,
    skippable,
    token_spans,
    with_boundaries,
)
from actors.graph import graph_edges, num_nodes
from actors.model import ActorHParams, ProgressiveGraphGenerator, attention_target, durations_from_predictions


def test_graph_sizes_and_relations_follow_the_design():
    assert [num_nodes(3, s) for s in (1, 2, 3)] == [3, 12, 21]
    for k in (0, 1, 3, 5):
        for stage in (1, 2, 3):
            edge_index, edge_type = graph_edges(k, stage)
            assert (edge_index[0] != edge_index[1]).all()  # no self-loops
            assert int(edge_index.max()) < num_nodes(k, stage)
            counts = torch.bincount(edge_type, minlength=3).tolist()
            assert counts == [6, 6 * k if stage >= 2 else 0, 6 * k if stage >= 3 else 0]


def _batch(b: int = 2, n: int = 20, t: int = 30, k: int = 3, dim: int = 43) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "phonemes": torch.randint(2, 30, (b, n), generator=g),
        "lips": torch.rand(b, t, 4, generator=g),
        "video_mask": torch.ones(b, t, dtype=torch.bool),
        "dvector": torch.randn(b, 256, generator=g),
        "reference": torch.randn(b, 80, dim, generator=g),
        "reference_mask": torch.ones(b, 80, dtype=torch.bool),
        "guidance": torch.randn(b, 6, generator=g),
        "target_nodes": torch.randn(b, 3, 384, generator=g),
        "retrieved_nodes": torch.randn(b, 3, k, 384, generator=g),
        "audio_nodes": torch.randn(b, 3, k, 94, generator=g),
    }


@pytest.mark.parametrize("k,stages", [(0, 3), (3, 1), (3, 2), (3, 3), (5, 3)])
def test_every_ablation_runs_and_keeps_the_video_length(k, stages):
    hp = ActorHParams(
        vocab_size=32, acoustic_dim=43, audio_emotion_dim=94, hidden=32, k=k, graph_stages=stages
    )
    model = ProgressiveGraphGenerator(hp).eval()
    batch = _batch(k=max(k, 1))
    batch["acoustic_mask"] = torch.ones(2, 30 * 4, dtype=torch.bool)
    batch["durations"] = torch.full((2, 20), 6)  # 20 tokens x 6 frames = 120 acoustic frames
    out = model(batch)
    assert out["refined"].shape == (2, 120, 43)  # 4 acoustic frames per video frame
    assert out["attention"].shape == (2, 30, 20)
    assert torch.allclose(out["attention"].sum(-1), torch.ones(2, 30))
    assert len(model.graphs) == (1 if k == 0 else stages)


@pytest.mark.parametrize("graph_style", [False, True])
def test_graph_style_lets_the_emotion_nodes_reach_the_decoder_style(graph_style):
    hp = ActorHParams(
        vocab_size=32, acoustic_dim=43, audio_emotion_dim=94, hidden=32, graph_style=graph_style
    )
    model = ProgressiveGraphGenerator(hp).eval()
    batch = _batch()
    other = dict(batch, audio_nodes=torch.randn_like(batch["audio_nodes"]))
    with torch.no_grad():
        a, b = model.encode(**batch).style, model.encode(**other).style
    # without the switch the style is the voice's (and the guidance's) alone
    assert (not torch.allclose(a, b)) == graph_style


def test_chunked_decoding_equals_whole_line_decoding():
    hp = ActorHParams(vocab_size=32, acoustic_dim=43, audio_emotion_dim=94, hidden=32)
    model = ProgressiveGraphGenerator(hp).eval()
    b = _batch(b=1, t=47)
    with torch.no_grad():
        enc = model.encode(**b)
        _, whole = model.decode(enc.content, enc.style)
        chunks = [model.decode_chunk(enc.content, enc.style, s, min(s + 5, 47)) for s in range(0, 47, 5)]
    assert torch.allclose(torch.cat(chunks, 1), whole, atol=1e-5)


def test_predicted_durations_fill_the_clip_in_order():
    log_d = torch.log1p(torch.tensor([[1.0, 3.0, 1.0, 5.0, 0.0]]))
    mask = torch.tensor([[True, True, True, True, False]])
    d = durations_from_predictions(log_d, mask, 20)
    assert d.sum() == 20 and (d >= 0).all()
    assert d[0, 4] == 0  # the padding token is never used
    assert d[0, 3] == 10  # half of the predicted frames -> half of the clip


def test_monotonic_alignment_recovers_a_path_and_passes_over_skippable_tokens():
    tokens = [SIL, "h", "ˈ", "ɛ", "l", "oʊ", " ", ",", SIL]
    truth = np.array([5, 3, 0, 6, 2, 7, 0, 0, 9])
    index = np.repeat(np.arange(len(tokens)), truth)
    rng = np.random.default_rng(0)
    probs = np.full((len(index), len(tokens)), 0.02) + rng.uniform(0, 0.01, (len(index), len(tokens)))
    probs[np.arange(len(index)), index] = 0.8
    found = monotonic_alignment(np.log(probs), skippable(tokens))
    np.testing.assert_array_equal(found, truth)
    # a token the attention never looks at still gets a frame unless it may be skipped
    found = monotonic_alignment(np.log(probs), np.zeros(len(tokens), dtype=bool))
    assert found.sum() == truth.sum() and (found >= 1).all()


def _best_path_score(log_probs: np.ndarray, can_skip: np.ndarray) -> float:
    """The plain O(T N^2) dynamic programme the fast search must agree with."""
    t_len, n = log_probs.shape
    allowed = [[i for i in range(j) if all(can_skip[i + 1 : j])] for j in range(n)]
    score = np.array([lp if all(can_skip[:j]) else -np.inf for j, lp in enumerate(log_probs[0])])
    for t in range(1, t_len):
        enter = np.array([max((score[i] for i in allowed[j]), default=-np.inf) for j in range(n)])
        score = np.maximum(score, enter) + log_probs[t]
    return max(score[j] for j in range(n) if all(can_skip[j + 1 :]))


def test_monotonic_alignment_finds_the_best_path_on_random_problems():
    rng = np.random.default_rng(1)
    for _ in range(20):
        t_len, n = int(rng.integers(8, 30)), int(rng.integers(2, 8))
        log_probs = np.log(rng.dirichlet(np.ones(n), size=t_len))
        can_skip = rng.random(n) < 0.4
        d = monotonic_alignment(log_probs, can_skip)
        assert d.sum() == t_len and (d[~can_skip] > 0).all()
        index = np.repeat(np.arange(n), d)
        assert log_probs[np.arange(t_len), index].sum() == pytest.approx(
            _best_path_score(log_probs, can_skip)
        )


def test_minimum_frames_and_the_duration_prior_shape_the_search():
    from actors.alignment import duration_prior

    tokens = [SIL, "h", "ɛ", "l", "oʊ", SIL]
    skip = skippable(tokens)
    uniform = np.log(np.full((40, len(tokens)), 1 / len(tokens)))
    d = monotonic_alignment(uniform, skip, min_frames=3)
    assert d.sum() == 40 and (d[~skip] >= 3).all()
    # with no evidence from the attention, the prior alone places the tokens where the predictor says
    first = np.array([10, 5, 5, 5, 5, 10])
    prior = duration_prior(first, np.array([0, 2.0, 2.0, 2.0, 14.0, 0]), skip)
    assert prior.shape == (40, len(tokens))
    d = monotonic_alignment(uniform + prior, skip, min_frames=2)
    assert d[4] > 2 * d[1]  # the long vowel keeps its length
    assert abs(d[0] - 10) <= 1 and abs(d[-1] - 10) <= 1  # the silences stay where the search put them


def test_engine_timings_give_every_token_its_frames(speaking_clip):
    import json

    from corpora.records import ClipRecord
    from perception.text import phonemize

    meta = json.loads((speaking_clip / "meta.json").read_text())
    rec = ClipRecord(clip_id="angry_slt", video_path=speaking_clip / "video.mp4", text=meta["text"])
    timings = engine_timings(rec)
    assert timings, "the flite clip carries its phone timings"
    tokens = with_boundaries(phonemize(rec.text))
    frames = 4 * meta["num_frames"]
    spans = token_spans(tokens, timings, frames / 100)
    d = durations_from_spans(spans, frames, 0.01)
    assert d.sum() == frames and (d >= 0).all()
    speech = [t for t, n in zip(tokens, d, strict=True) if t not in (SIL, " ", "ˈ", "ˌ", ",", ".", "!", "?")]
    assert len(speech) > 10
    assert all(n > 0 for t, n in zip(tokens, d, strict=True) if t in speech)  # every phoneme is heard
    first_speech = timings[1][1] if timings[0][0] == "pau" else timings[0][1]
    assert abs(d[0] / 100 - first_speech) < 0.02  # the leading silence lasts until the speech starts
    # the timing targets per video frame are distributions
    target = attention_target(torch.from_numpy(d)[None], frames // 4, 4)
    assert torch.allclose(target.sum(-1), torch.ones(1, frames // 4))


@pytest.mark.parametrize("voice_id", ["piper_joe", "kok_kumo"])
def test_neural_engine_ipa_timings_match_the_lines_tokens(voice_id):
    """Piper and Kokoro give their phone timings in IPA: nearly every phoneme token finds its own phone."""
    from actors.alignment import _sub_cost
    from corpora.voices import get_engine, get_voice
    from perception.text import phonemize

    text = "Where were you last night, and why is the car still gone?"
    voice = get_voice(voice_id)
    audio, timings = get_engine(voice).synthesize(text, voice)
    assert timings, f"{voice_id} gives phone timings"
    phones = list(timings)
    tokens = with_boundaries(phonemize(text))
    spans = token_spans(tokens, phones, len(audio) / 16000)
    speech = [i for i, t in enumerate(tokens) if t not in (SIL, " ", "ˈ", "ˌ", ",", ".", "!", "?")]
    starts = {round(s, 4): p for p, s, _ in phones}
    own = sum(
        1 for i in speech if spans[i] and _sub_cost(tokens[i], starts.get(round(spans[i][0], 4), "?")) <= 0.2
    )
    assert own / len(speech) >= 0.9, (own, len(speech))
    d = durations_from_spans(spans, int(len(audio) / 160), 0.01)
    assert all(d[i] > 0 for i in speech)  # every phoneme is heard


@pytest.fixture(scope="module")
def actor(speaking_clip):
    """An ``Actor`` with a fresh small model, statistics and vocabulary from the speaking clip."""
    from actors.acoustics import FeatureLayout, FeatureStats, extract_acoustics
    from actors.dataset import PhonemeVocabulary
    from actors.voice import Actor
    from perception.text import phonemize

    audio, sr = sf.read(speaking_clip / "audio.wav", dtype="float32")
    stats = FeatureStats.fit([extract_acoustics(audio, sr)])
    text = (speaking_clip / "line.txt").read_text().strip()
    vocab = PhonemeVocabulary.build([with_boundaries(phonemize(text))])
    torch.manual_seed(0)
    hp = ActorHParams(
        vocab_size=len(vocab), acoustic_dim=FeatureLayout().dim, audio_emotion_dim=94, hidden=32
    )
    return Actor(ProgressiveGraphGenerator(hp), vocab, stats)


@pytest.fixture(scope="module")
def line(actor, speaking_clip):
    from actors.voice import EmotionNodes

    audio, sr = sf.read(speaking_clip / "audio.wav", dtype="float32")
    text = (speaking_clip / "line.txt").read_text().strip()
    inputs = actor.clip_inputs(speaking_clip / "video.mp4", text)
    prompt = actor.voice_prompt(audio, sr)
    nodes = EmotionNodes.empty(384, 94, 3)
    guidance = None
    return inputs, prompt, guidance, nodes


def test_streamed_and_whole_line_synthesis_agree(actor, line):
    inputs, prompt, guidance, nodes = line
    whole = actor.perform(inputs, prompt, guidance, nodes)
    hop = actor.config.media.hop_length
    assert len(whole) == inputs.num_video_frames * 4 * hop  # exactly the video's length
    stream = actor.stream(inputs, prompt, guidance, nodes)
    first = next(stream)  # ready before the rest of the line is decoded
    assert 0 < len(first) < len(whole)
    streamed = np.concatenate([first, *stream])
    assert len(streamed) == len(whole)
    # the decoder gives the same frames chunk by chunk...
    frames = np.concatenate(list(actor.feature_chunks(actor.encode(inputs, prompt, guidance, nodes))))
    np.testing.assert_allclose(frames, actor.features(inputs, prompt, guidance, nodes), atol=1e-4)
    # ...and the vocoder the same sound: WORLD draws its noise afresh per window, so compare the envelope
    # (an untrained model's frames are mostly noise: the hardest case for this)
    env = lambda a: np.sqrt(np.convolve(a**2, np.ones(hop) / hop, mode="valid"))[::hop]  # noqa: E731
    assert np.corrcoef(env(whole), env(streamed))[0, 1] > 0.9


def test_prompts_that_are_too_short_or_silent_are_refused(actor, speaking_clip):
    from ground.errors import BadInputError

    audio, sr = sf.read(speaking_clip / "audio.wav", dtype="float32")
    with pytest.raises(BadInputError, match="at least 1 s"):
        actor.voice_prompt(audio[: int(0.6 * sr)], sr)
    with pytest.raises(BadInputError, match="silent"):
        actor.voice_prompt(np.zeros(3 * sr, np.float32), sr)


def test_a_line_too_long_for_the_clip_is_refused_with_the_length_it_needs(actor, line):
    from actors.voice import LineTooLongError

    inputs, *_ = line
    with torch.no_grad():
        actor.model.duration[-1].bias.fill_(np.log(25.0))  # 250 ms per phoneme: far too slow for the clip
        actor.model.duration[-1].weight.zero_()
    try:
        with pytest.raises(LineTooLongError, match=r"needs about \d+\.\d s"):
            actor.fit_line(inputs)
        longer = actor.fit_line(inputs, fit="speed")
        assert longer.num_video_frames > inputs.num_video_frames
        assert longer.lips[inputs.num_video_frames :, -1].max() == 0  # no face invented past the clip
    finally:
        actor.model.duration[-1].reset_parameters()


def test_a_clip_without_a_face_is_aligned_by_durations_with_a_warning(actor, line, caplog):
    inputs, prompt, guidance, nodes = line
    faceless = type(inputs)(**{**inputs.__dict__, "lips": np.zeros_like(inputs.lips)})
    with caplog.at_level(logging.WARNING):
        audio = actor.perform(faceless, prompt, guidance, nodes)
    assert len(audio) == faceless.num_video_frames * 4 * actor.config.media.hop_length
    assert any("no face" in r.getMessage() for r in caplog.records)


def test_timbre_adaptation_moves_the_takes_mean_envelope_to_the_prompts(actor, line):
    """With ``actor.timbre_adaptation`` 1 the take's mean coded envelope over voiced frames is the
    prompt's; streamed chunks get the same shift as the whole line; 0 leaves the take as the model made it."""
    inputs, prompt, guidance, nodes = line
    assert prompt.voiced_mean is not None
    layout = actor.stats.layout
    plain_config = actor.config
    try:
        for strength in (0.0, 1.0):
            actor.config = plain_config.model_copy(
                update={"actor": plain_config.actor.model_copy(update={"timbre_adaptation": strength})}
            )
            feats = actor.features(inputs, prompt, guidance, nodes)
            normalised = actor.stats.normalise(feats)
            take = normalised[feats[:, layout.vuv][:, 0] > 0.5][:, layout.sp].mean(0)
            gap = np.abs(take - prompt.voiced_mean[layout.sp]).mean()
            if strength == 0:
                assert actor.encode(inputs, prompt, guidance, nodes).frame_shift is None
                assert gap > 0.1  # an untrained model is far from the prompt
            else:
                assert gap < 1e-3
                chunks = np.concatenate(
                    list(actor.feature_chunks(actor.encode(inputs, prompt, guidance, nodes)))
                )
                np.testing.assert_allclose(chunks, feats, atol=1e-4)
    finally:
        actor.config = plain_config


def test_a_warm_start_grows_the_vocabulary_keeping_each_known_phonemes_row():
    """A new corpus says sounds the old one never did: known phonemes keep their learned rows (re-indexed:
    the vocabulary is sorted), new ones start from ``<unk>``'s, and the model loads the result."""
    from actors.dataset import PhonemeVocabulary
    from actors.training import grow_vocabulary

    old = PhonemeVocabulary(["a", "k", "t"])
    new = PhonemeVocabulary([*old.symbols, "b", "ʒ"])
    small = dict(acoustic_dim=43, audio_emotion_dim=8, hidden=16)
    weights = ProgressiveGraphGenerator(ActorHParams(vocab_size=len(old), **small)).state_dict()
    grown = grow_vocabulary(weights, old.symbols, new)
    model = ProgressiveGraphGenerator(ActorHParams(vocab_size=len(new), **small))
    model.load_state_dict(grown)
    for key in ("phoneme_embedding.weight", "phoneme_head.weight", "phoneme_head.bias"):
        for s in old.symbols:
            assert torch.equal(grown[key][new.index[s]], weights[key][old.index[s]]), (key, s)
        for s in ("b", "ʒ"):
            assert torch.equal(grown[key][new.index[s]], weights[key][old.index["<unk>"]]), (key, s)
    assert new.index["b"] < new.index["k"]  # re-indexed, not appended


def test_a_sync_shift_moves_the_speech_by_whole_video_frames(actor, line):
    """The director's remedy for a sync miss: the take is the same speech, ``sync_shift_frames`` later."""
    from agents.director import Director

    inputs, prompt, _, nodes = line
    plain = Director(write_directions=False).guidance_for("neutral", 0.0)
    later = plain.model_copy(update={"sync_shift_frames": 3})
    a, b = actor.features(inputs, prompt, plain, nodes), actor.features(inputs, prompt, later, nodes)
    assert a.shape == b.shape
    shift, c = 3 * actor.hp.frames_per_video_frame, actor.model.decoder_context
    np.testing.assert_allclose(b[shift + c : -c], a[c : -shift - c], atol=1e-4)
    assert not np.allclose(a, b, atol=1e-3)


def test_cached_features_of_a_clip_rendered_again_are_computed_again(speaking_clip, tmp_path):
    """A corpus rendered again at the same path reuses clip ids for other clips: the cache must not hand
    the old clip's phonemes, lips and acoustics to the new one."""
    import dataclasses

    from actors.features import FeatureStore, precompute, source_fingerprint
    from corpora.records import ClipRecord

    rec = ClipRecord(
        clip_id="c00001", video_path=speaking_clip / "video.mp4", audio_path=speaking_clip / "audio.wav",
        text=(speaking_clip / "line.txt").read_text().strip(),
    )  # fmt: skip
    store = FeatureStore(root=tmp_path / "store")
    assert precompute([rec], store, workers=1, progress=False) == {}
    assert store.has(rec.clip_id, source_fingerprint(rec)) and store.get(rec.clip_id).text == rec.text
    again = dataclasses.replace(rec, text="We should take the early train tomorrow.")
    assert not store.has(again.clip_id, source_fingerprint(again))
    assert precompute([again], store, workers=1, progress=False) == {}
    assert store.get(again.clip_id).text == again.text
