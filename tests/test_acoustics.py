"""actors.acoustics and actors.vocoder on a real rendered clip (flite speech): features, WORLD resynthesis,
streaming against whole-line synthesis, PCM16."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfiltfilt

from actors.acoustics import FeatureLayout, FeatureStats, continuous_log_f0, extract_acoustics
from actors.vocoder import (
    Vocoder,
    WorldVocoder,
    available_vocoders,
    from_pcm16,
    get_vocoder,
    to_pcm16,
)
from ground.config import get_config
from perception.video import probe


def snr_db(ref: np.ndarray, other: np.ndarray) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    err = ref - np.asarray(other, dtype=np.float64)
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum(err**2), 1e-30)))


@pytest.fixture(scope="module")
def clip(speaking_clip):
    audio, sr = sf.read(speaking_clip / "audio.wav", dtype="float32")
    info = probe(speaking_clip / "video.mp4")
    video_frames = int(round(info["duration"] * info["fps"]))
    text = (speaking_clip / "line.txt").read_text().strip()
    return audio, sr, video_frames, text


@pytest.fixture(scope="module")
def layout() -> FeatureLayout:
    return FeatureLayout.from_config()


@pytest.fixture(scope="module")
def features(clip) -> np.ndarray:
    audio, sr, video_frames, _ = clip
    return extract_acoustics(audio, sr, video_frames * get_config().media.frames_per_video_frame)


@pytest.fixture(scope="module")
def vocoder() -> WorldVocoder:
    v = get_vocoder("world")
    assert isinstance(v, WorldVocoder)
    return v


@pytest.fixture(scope="module")
def whole(vocoder, features) -> np.ndarray:
    return vocoder.synthesize(features)


@pytest.fixture(scope="module")
def streamed(vocoder, features) -> list[np.ndarray]:
    return list(vocoder.stream_frames(features))


def test_layout_follows_config(layout):
    cfg = get_config()
    assert layout.spectral_dims == cfg.actor.spectral_dims
    assert FeatureLayout() == layout
    assert layout.ap_dims == 1  # WORLD's band count at 16 kHz
    cols = np.zeros(layout.dim, dtype=int)
    for sl in (layout.sp, layout.lf0, layout.vuv, layout.ap):
        cols[sl] += 1
    assert (cols == 1).all() and layout.dim == cfg.actor.spectral_dims + 3
    assert layout.lf0 == slice(layout.lf0_index, layout.lf0_index + 1)
    assert layout.vuv == slice(layout.vuv_index, layout.vuv_index + 1)


def test_features_have_the_video_frame_count(clip, features, layout):
    audio, sr, video_frames, _ = clip
    act = get_config().actor
    assert features.shape == (video_frames * 4, layout.dim)
    assert features.dtype == np.float32 and np.isfinite(features).all()
    vuv = features[:, layout.vuv_index]
    assert set(np.unique(vuv)) <= {0.0, 1.0}
    assert 0.3 < vuv.mean() < 0.95  # a spoken line with pauses
    lf0 = features[:, layout.lf0_index]
    assert (lf0 >= np.log(act.f0_floor) - 1e-4).all() and (lf0 <= np.log(act.f0_ceil) + 1e-4).all()
    assert np.abs(np.diff(lf0)).max() < 0.5  # continuous: no jumps to a "0 Hz" value
    assert (features[:, layout.ap] <= 0).all()  # coded aperiodicity is in dB

    n = features.shape[0]
    longer = extract_acoustics(audio, sr, n + 7)
    np.testing.assert_array_equal(longer[:n], features)
    analysed = len(audio) // get_config().media.hop_length + 1  # WORLD's frame count for this audio
    assert analysed < n + 7 and (longer[analysed:] == longer[analysed - 1]).all()  # edge-padded
    shorter = extract_acoustics(audio, sr, n - 30)
    np.testing.assert_array_equal(shorter, features[: n - 30])
    assert extract_acoustics(audio, sr).shape[0] == round(len(audio) / get_config().media.hop_length)


def test_other_sample_rates_are_resampled(clip, features, layout):
    import soxr

    audio, sr, _, _ = clip
    up = soxr.resample(audio, sr, 22050)
    f22 = extract_acoustics(up, 22050, features.shape[0])
    assert f22.shape == features.shape
    both = (f22[:, layout.vuv_index] > 0.5) & (features[:, layout.vuv_index] > 0.5)
    assert both.sum() > 0.8 * (features[:, layout.vuv_index] > 0.5).sum()
    cents = 1200 / np.log(2) * np.abs(f22[both, layout.lf0_index] - features[both, layout.lf0_index])
    assert np.median(cents) < 10


def test_continuous_log_f0():
    f0 = np.array([0, 0, 100, 0, 0, 400, 0], dtype=float)
    lf0 = continuous_log_f0(f0)
    np.testing.assert_allclose(np.exp(lf0), [100, 100, 100, 158.74, 251.98, 400, 400], rtol=1e-3)
    np.testing.assert_allclose(np.exp(continuous_log_f0(np.zeros(3), default_hz=150)), 150)


def test_resynthesis_is_intelligible(clip, whole, streamed, features, vocoder):
    from evaluation.wer import wer_of

    _, _, _, text = clip
    assert whole.dtype == np.float32 and whole.shape == (features.shape[0] * vocoder.hop_length,)
    assert wer_of(whole, vocoder.sample_rate, text) <= 0.25
    assert wer_of(np.concatenate(streamed), vocoder.sample_rate, text) <= 0.25


def test_resynthesis_keeps_the_pitch(clip, whole):
    from perception.audio import prosody

    audio, sr, _, _ = clip
    f0_in, _, _ = prosody(audio, sr)
    f0_out, _, _ = prosody(whole, sr)
    n = min(len(f0_in), len(f0_out))
    f0_in, f0_out = f0_in[:n], f0_out[:n]
    assert np.mean((f0_in > 0) == (f0_out > 0)) >= 0.9
    both = (f0_in > 0) & (f0_out > 0)
    cents = 1200 * np.abs(np.log2(f0_out[both] / f0_in[both]))
    assert np.median(cents) < 20
    assert np.mean(cents < 100) > 0.9


def test_stats_round_trip(features, layout):
    torch = pytest.importorskip("torch")
    half = features[: len(features) // 2] * 0.9
    stats = FeatureStats.fit([features, half], layout)
    assert stats.frames == len(features) + len(half)
    both = np.concatenate([features, half])
    z = stats.normalise(both)
    free = np.ones(layout.dim, dtype=bool)
    free[layout.vuv] = False
    np.testing.assert_allclose(z[:, free].mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(z[:, free].std(axis=0), 1, atol=1e-3)
    np.testing.assert_array_equal(z[:, layout.vuv], both[:, layout.vuv])  # voicing untouched
    np.testing.assert_allclose(stats.denormalise(z), both, atol=1e-4)

    again = FeatureStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    np.testing.assert_array_equal(again.mean, stats.mean)
    np.testing.assert_array_equal(again.std, stats.std)
    assert again.layout == layout

    t = torch.from_numpy(both[None])
    zt = stats.normalise(t)
    assert isinstance(zt, torch.Tensor)
    np.testing.assert_allclose(zt[0].numpy(), z, atol=1e-5)

    with pytest.raises(ValueError, match="expected 43"):
        stats.normalise(both[:, :40])
    bad = stats.to_dict() | {"mean": [0.0] * 5}
    with pytest.raises(ValueError, match="43"):
        FeatureStats.from_dict(bad)


def test_streamed_pulses_equal_whole_line(vocoder, features, layout):
    """The deterministic part of WORLD must come out the same streamed as whole.

    All frames voiced and aperiodicity at its floor (-60 dB up to 3 kHz): below 2.5 kHz only the pulse
    train is left, so any pulse misplaced by the streaming windows shows up here.
    """
    pulses_only = features.copy()
    pulses_only[:, layout.vuv] = 1.0
    pulses_only[:, layout.ap] = -60.0
    whole = vocoder.synthesize(pulses_only)
    low = butter(8, 2500, fs=vocoder.sample_rate, output="sos")
    for chunk in (get_config().actor.chunk_video_frames * 4, 7):
        out = np.concatenate(list(vocoder.stream_frames(pulses_only, chunk)))
        assert out.shape == whole.shape
        assert snr_db(sosfiltfilt(low, whole), sosfiltfilt(low, out)) >= 45  # measured 57 dB


def test_streamed_close_to_whole_line(vocoder, features, layout, whole, streamed):
    """Streamed == whole up to WORLD's noise excitation, which is drawn from a generator reseeded on
    every call and so is a different realisation in each window (see actors/vocoder.py)."""
    hop = vocoder.hop_length
    voiced = np.repeat(features[:, layout.vuv_index] > 0.5, hop)
    for pieces in (streamed, list(vocoder.stream_frames(features, 7))):
        out = np.concatenate(pieces)
        assert out.shape == whole.shape and out.dtype == np.float32
        assert snr_db(whole[voiced], out[voiced]) >= 18  # measured 20-24 dB on the demo clip
        assert snr_db(whole, out) >= 10  # unvoiced noise differs sample by sample: 13-15 dB measured


def test_noise_keeps_its_level_through_cross_fades(vocoder, features, layout):
    """Two renderings of noise are uncorrelated: a gain-sums-to-1 fade would dip them 3 dB mid-fade."""
    hop = vocoder.hop_length
    noise = features.copy()
    noise[:, layout.vuv] = 0.0  # WORLD renders unvoiced frames as pure (filtered) noise
    whole = vocoder.synthesize(noise)
    pieces = list(vocoder.stream_frames(noise))
    out = np.concatenate(pieces)
    mids = np.cumsum([len(p) for p in pieces])[:-1] // hop + vocoder.overlap_frames // 2

    def level(y: np.ndarray) -> np.ndarray:  # dB of each mid-fade frame
        return 10 * np.log10(np.mean(np.square(y.astype(np.float64)).reshape(-1, hop)[mids], axis=1))

    loud = level(whole) > level(whole).max() - 40
    assert loud.sum() >= 8
    assert abs(np.mean(level(out)[loud] - level(whole)[loud])) < 1.0  # +0.4 dB; -1.9 dB with a linear fade


def boundary_jumps(
    audio: np.ndarray, boundaries: np.ndarray, span: int = 320
) -> tuple[np.ndarray, np.ndarray]:
    """|x[b] - x[b-1]| at each boundary over the 99th percentile of the jumps within ``span`` samples
    around it (the signal's normal sample-to-sample movement there), and those percentiles."""
    d = np.abs(np.diff(audio.astype(np.float64)))
    ratios, normal = [], []
    for b in boundaries:
        near = np.percentile(np.concatenate([d[max(0, b - span) : b - 2], d[b + 1 : b + span]]), 99)
        ratios.append(d[b - 1] / max(near, 1e-9))
        normal.append(near)
    return np.array(ratios), np.array(normal)


def test_stream_boundaries_do_not_click(vocoder, features, streamed):
    for pieces in (streamed, list(vocoder.stream_frames(features, 7))):
        out = np.concatenate(pieces)
        bounds = np.cumsum([len(p) for p in pieces])[:-1]
        assert len(bounds) >= 10
        ratios, normal = boundary_jumps(out, bounds)
        assert ratios.max() <= 1.5  # measured at most 0.95
    quietest = int(np.argmin(normal))
    stepped = out.copy()
    stepped[bounds[quietest] :] += 0.02  # a -34 dBFS step: an audible click is caught
    assert boundary_jumps(stepped, bounds)[0][quietest] > 1.5


def test_stream_yields_before_reading_the_whole_line(vocoder, features):
    size = get_config().actor.chunk_video_frames * 4
    taken = []

    def chunks():
        for i in range(0, len(features), size):
            taken.append(i)
            yield features[i : i + size]

    gen = vocoder.stream(chunks())
    first = next(gen)
    assert len(taken) == 1
    assert first.size == (size - vocoder.lookahead_frames) * vocoder.hop_length
    rest = list(gen)
    assert sum(p.size for p in [first, *rest]) == features.shape[0] * vocoder.hop_length


def test_short_lines(vocoder, features):
    hop = vocoder.hop_length
    assert vocoder.synthesize(features[:0]).shape == (0,)
    for n in (1, 2, 3, 12):
        assert vocoder.synthesize(features[100 : 100 + n]).shape == (n * hop,)
        pieces = list(vocoder.stream_frames(features[100 : 100 + n], 2))
        assert sum(p.size for p in pieces) == n * hop
    assert list(vocoder.stream([])) == []


def test_bad_features_are_refused(vocoder, features, layout):
    with pytest.raises(ValueError, match=r"expected \(frames, 43\).*coded spectral envelope"):
        vocoder.synthesize(features[:, :42])
    with pytest.raises(ValueError, match="expected"):
        vocoder.synthesize(features[0])
    nan = features.copy()
    nan[5, 3] = np.nan
    with pytest.raises(ValueError, match="frame 5"):
        vocoder.synthesize(nan)
    with pytest.raises(ValueError, match="streamed chunk #1"):
        list(vocoder.stream([features[:20], features[20:40, :10]]))
    with pytest.raises(ValueError, match="unknown vocoder 'hifigan'.*world"):
        get_vocoder("hifigan")
    with pytest.raises(ValueError, match="mono"):
        extract_acoustics(np.zeros((100, 2)), 16000)


def test_a_plugged_in_vocoder_streams_through_the_base_class(monkeypatch, layout):
    class Ramp(Vocoder):
        """Audio that is the frame's first coefficient, held: streaming must reproduce it exactly."""

        def synthesize(self, features):
            x = layout.check(features)
            return np.repeat(x[:, 0], self.hop_length).astype(np.float32)

    monkeypatch.setitem(__import__("actors.vocoder").vocoder._REGISTRY, "ramp", Ramp)
    assert "ramp" in available_vocoders()
    v = get_vocoder("ramp")
    feats = np.zeros((53, layout.dim), dtype=np.float32)
    feats[:, 0] = np.linspace(-1, 1, 53)
    out = np.concatenate(list(v.stream_frames(feats, 8)))
    np.testing.assert_allclose(out, v.synthesize(feats), atol=1e-6)


def test_pcm16_round_trip():
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, 1e-5], dtype=np.float32)
    data = to_pcm16(x)
    assert isinstance(data, bytes) and len(data) == 2 * x.size
    assert np.frombuffer(data, "<i2")[3] == 32767 and np.frombuffer(data, "<i2")[6] == -32767
    back = from_pcm16(data)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, np.clip(x, -1, 1), atol=0.5 / 32767 + 1e-7)
    np.testing.assert_array_equal(from_pcm16(to_pcm16(back)), back)
    with pytest.raises(ValueError, match="even number"):
        from_pcm16(b"\x00\x01\x02")


def test_cepstral_postfilter_sharpens_the_envelope_and_keeps_each_frames_power(
    clip, features, layout, vocoder
):
    from actors.acoustics import cepstral_postfilter, decode_envelope
    from evaluation.wer import wer_of

    cfg = get_config()
    sharp = cepstral_postfilter(features, 0.4, layout)
    envelope = lambda f: decode_envelope(f[:, layout.sp], cfg.media.sample_rate, cfg.actor.fft_size)  # noqa: E731
    before, after = envelope(features), envelope(sharp)
    np.testing.assert_allclose(np.log(after.sum(1)), np.log(before.sum(1)), atol=1e-3)  # power kept
    voiced = features[:, layout.vuv_index] > 0.5
    contrast = lambda sp: np.log(sp[voiced]).std(1).mean()  # noqa: E731  # peaks against valleys
    assert contrast(after) > 1.1 * contrast(before)
    # only the envelope changes, frame by frame (so streaming chunks filter exactly as the whole line)
    rest = np.ones(layout.dim, dtype=bool)
    rest[layout.sp] = False
    np.testing.assert_array_equal(sharp[:, rest], features[:, rest].astype(np.float32))
    half = len(features) // 2
    parts = np.concatenate([cepstral_postfilter(features[:half], 0.4, layout),
                            cepstral_postfilter(features[half:], 0.4, layout)])  # fmt: skip
    np.testing.assert_allclose(parts, sharp, atol=1e-5)
    np.testing.assert_allclose(cepstral_postfilter(features, 0.0, layout), features, atol=1e-5)
    _, _, _, text = clip
    assert wer_of(vocoder.synthesize(sharp), vocoder.sample_rate, text) <= 0.25
