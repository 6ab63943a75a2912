"""Real human voice prompts from Debian's fillets-ng-data-cs (Czech actors of Fish Fillets NG)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from corpora.human_voices import (
    APT_PACKAGE,
    SOUND_ROOT,
    SPEAKERS,
    human_voice_prompts,
    recordings_by_speaker,
    speaker_group,
)
from ground.errors import MissingComponentError

needs_package = pytest.mark.skipif(
    not any(SOUND_ROOT.glob("*/cs/*.ogg")),
    reason=f"Debian package {APT_PACKAGE} is not installed (apt-get install {APT_PACKAGE})",
)


def test_speaker_from_file_layout():
    root = Path("/r")
    assert speaker_group(root / "airplane/cs/let-m-divna.ogg", root) == "fish_small"
    assert speaker_group(root / "rush/cs/v-chytra.ogg", root) == "fish_big"
    assert speaker_group(root / "fdto/cs/agenti-m.ogg", root) == "fish_small"
    assert speaker_group(root / "briefcase/cs/kd-uvod.ogg", root) == "briefcase:kd"
    assert speaker_group(root / "briefcase/cs/help12.ogg", root) == "briefcase:help"
    assert speaker_group(root / "linux/cs/2-root.ogg", root) == "linux:2"
    assert speaker_group(root / "city/cs/vit-hs-klid1.ogg", root) == "city:hs"


def test_missing_package_is_named(tmp_path):
    with pytest.raises(MissingComponentError, match="Fish Fillets") as info:
        human_voice_prompts(root=tmp_path)
    assert f"apt-get install {APT_PACKAGE}" in str(info.value)


@pytest.fixture(scope="module")
def prompts():
    return human_voice_prompts()


@needs_package
def test_prompts_are_ready_to_use(prompts, tmp_path):
    assert len(prompts) >= 4 and len({p.speaker_id for p in prompts}) == len(prompts)
    groups = recordings_by_speaker()
    for p in prompts:
        assert p.sample_rate == 16000 and p.audio.dtype == np.float32 and p.audio.ndim == 1
        assert 3.0 <= p.duration <= 8.0
        assert 0.05 < float(np.abs(p.audio).max()) < 1.0
        assert p.source_files and all(Path(f).is_file() for f in p.source_files)
        group = next(s.group for s in SPEAKERS if s.id == p.speaker_id)
        assert {str(f) for f in groups[group]} >= set(p.source_files)  # one speaker's own lines
        assert p.licence.startswith("GPL-2.0")
    written = human_voice_prompts(out_dir=tmp_path)
    manifest = json.loads((tmp_path / "prompts.json").read_text())
    assert [m["speaker_id"] for m in manifest] == [p.speaker_id for p in written]
    assert all((tmp_path / m["file"]).is_file() for m in manifest)


@needs_package
@pytest.mark.slow
def test_speakers_are_distinct_and_consistent(prompts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder, preprocess_wav
    enc = VoiceEncoder("cpu", verbose=False)

    def dvec(p):
        e = enc.embed_utterance(preprocess_wav(p.audio, source_sr=p.sample_rate))
        return e / np.linalg.norm(e)

    first = np.array([dvec(p) for p in prompts])
    second = np.array([dvec(p) for p in human_voice_prompts(variant=1)])  # other lines of each speaker
    between = first @ first.T - 2 * np.eye(len(prompts))
    assert between.max() < 0.85, between.round(2)
    same = (first * second).sum(axis=1)
    assert same.min() > 0.75, same.round(2)
    # each speaker's other prompt is nearer to it than any other speaker's prompt
    cross = first @ second.T
    assert (cross.argmax(axis=1) == np.arange(len(prompts))).all(), cross.round(2)
