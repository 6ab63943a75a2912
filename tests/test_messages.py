"""Director-actor messages: every type round-trips through msgpack; malformed frames get a clear error."""

from __future__ import annotations

import msgpack
import pytest

from ground.messages import (
    MESSAGE_TYPES,
    AcceptMessage,
    AudioChunk,
    EmotionGuidance,
    ErrorMessage,
    Evidence,
    GuidanceMessage,
    LineRequest,
    MessageError,
    PerceptionReport,
    ReferenceClip,
    ReferencesMessage,
    ReviewMessage,
    TakeMessage,
    TakeScores,
    decode,
    encode,
)

GUIDANCE = EmotionGuidance(
    emotion="sad",
    probabilities={"sad": 0.6, "neutral": 0.3, "fear": 0.1},
    intensity=0.7,
    valence=-0.6,
    arousal=0.2,
    pace=0.85,
    pitch_shift_st=-2.0,
    energy_db=-3.0,
    direction="Say it quietly, as if you already know the answer.",
    evidence=[Evidence(cue="text", probabilities={"sad": 0.8, "neutral": 0.2}, note="'I miss her'")],
)
SCORES = TakeScores(duration_error_frames=0.5, sync_offset_frames=0, sync_confidence=0.4, emotion_match=0.7)

EXAMPLES = [
    LineRequest(
        session="s1", line=3, text="I miss her.", character="Ada", timecode_s=12.5, context="funeral"
    ),
    PerceptionReport(session="s1", line=3, summary={"face": {"share": 1.0}, "frames": 80}),
    GuidanceMessage(session="s1", line=3, guidance=GUIDANCE),
    ReferencesMessage(
        session="s1", line=3, references=[ReferenceClip(clip_id="c1", modality="face", similarity=0.9)]
    ),
    AudioChunk(session="s1", line=3, take=1, seq=0, sample_rate=16000, pcm16=b"\x01\x00\xff\x7f"),
    TakeMessage(session="s1", line=3, take=1, duration_s=3.2, sample_rate=16000),
    ReviewMessage(
        session="s1", line=3, take=1, scores=SCORES, accepted=False, reason="too flat", revised=GUIDANCE
    ),
    AcceptMessage(session="s1", line=3, take=2, chosen_take=2, scores=SCORES, reason="best emotion match"),
    ErrorMessage(session="s1", line=3, code="bad_input", message="line is empty"),
]


def test_every_type_has_an_example():
    assert sorted(m.type for m in EXAMPLES) == sorted(MESSAGE_TYPES)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_round_trip(message):
    frame = encode(message)
    assert isinstance(frame, bytes)
    back = decode(frame)
    assert type(back) is type(message) and back == message


def test_malformed_frames_are_refused_with_a_reason():
    with pytest.raises(MessageError, match="not valid msgpack"):
        decode(b"\xc1\x00garbage")
    with pytest.raises(MessageError, match="not valid msgpack"):
        decode(encode(EXAMPLES[0])[:-4])
    with pytest.raises(MessageError, match="must be a map"):
        decode(msgpack.packb([1, 2, 3]))
    with pytest.raises(MessageError, match="unknown message type 'dance'"):
        decode(msgpack.packb({"type": "dance", "session": "s"}))
    with pytest.raises(MessageError, match="bad 'request' message: text"):
        decode(msgpack.packb({"type": "request", "session": "s"}))


def test_guidance_is_validated():
    with pytest.raises(ValueError, match="sum to 1"):
        EmotionGuidance(
            emotion="sad", probabilities={"sad": 0.2}, intensity=0.5, valence=0, arousal=0.5, direction=""
        )
    with pytest.raises(ValueError, match="unknown emotion"):
        EmotionGuidance(
            emotion="bored", probabilities={"sad": 1.0}, intensity=0.5, valence=0, arousal=0.5, direction=""
        )
    with pytest.raises(ValueError):
        EmotionGuidance(
            emotion="sad", probabilities={"sad": 1.0}, intensity=1.5, valence=0, arousal=0.5, direction=""
        )


def test_a_damaged_log_reads_up_to_the_damage_and_says_where(tmp_path):
    from ground.message_log import MessageLogWriter, read_log

    path = tmp_path / "log.msgpack"
    with MessageLogWriter(path, durable=False) as log:
        for message in EXAMPLES:
            log.append(message)
    whole = read_log(path)
    assert [m.type for m in whole.messages] == [m.type for m in EXAMPLES] and whole.damaged_at is None
    data = path.read_bytes()
    last = len(data) - len(encode(EXAMPLES[-1]))
    path.write_bytes(data[:-3])  # a crash in the middle of the last frame
    cut = read_log(path)
    assert len(cut.messages) == len(EXAMPLES) - 1
    assert cut.damaged_at == last and "truncated" in cut.problem
    path.write_bytes(data[:last] + msgpack.packb({"type": "no-such-message"}))
    bad = read_log(path)
    assert len(bad.messages) == len(EXAMPLES) - 1 and bad.damaged_at == last


# -- the client frames the server accepts: one validation layer, every refusal one short line ------------
def _nested_type(depth: int) -> dict:
    value: object = "open"
    for _ in range(depth):
        value = {"type": value}
    return {"type": value}


HOSTILE_FRAMES = {
    "line number past 32 bits": {"type": "cancel", "line": 2**31},
    "negative cancel": {"type": "cancel", "line": -1},
    "type nested 1,000 deep": _nested_type(1000),
    "7 MiB type": {"type": "x" * (7 << 20)},
    "odd pcm16": {"type": "open", "voices": {"Ada": {"pcm16": b"\x00" * 33, "sample_rate": 16000}}},
    "pcm16 without a rate": {"type": "open", "voices": {"Ada": {"pcm16": b"\x00" * 32}}},
    "unknown protocol": {"type": "open", "voices": {"Ada": {"audio": b"RIFF"}}, "protocol": 7},
    "bool max_takes": {"type": "open", "voices": {"Ada": {"audio": b"RIFF"}}, "max_takes": True},
    "bytes name": {"type": "open", "voices": {"Ada": {"audio": b"RIFF"}}, "name": b"Ada"},
    "float sample rate": {"type": "open", "voices": {"Ada": {"audio": b"RIFF"}}, "sample_rate": 16000.0},
    "character '..'": {"type": "open", "voices": {"..": {"audio": b"RIFF"}}},
    "character 'CON'": {"type": "open", "voices": {"CON": {"audio": b"RIFF"}}},
    "character with a newline": {"type": "open", "voices": {"Ada\n": {"audio": b"RIFF"}}},
    "no voices": {"type": "open", "voices": {}},
    "line text as bytes": {"type": "line", "line": 1, "text": b"hi", "clip_id": "c1"},
    "huge timecode": {"type": "line", "line": 1, "text": "hi", "clip_id": "c1", "timecode_s": 1e300},
}


@pytest.mark.parametrize("name", list(HOSTILE_FRAMES))
def test_hostile_client_frames_are_refused_in_one_short_line(name):
    import msgpack

    from ground.protocol import ProtocolError, decode_client

    with pytest.raises(ProtocolError) as caught:
        decode_client(msgpack.packb(HOSTILE_FRAMES[name], use_bin_type=True))
    message = str(caught.value)
    assert len(message) < 400 and "\n" not in message, message[:200]
    assert caught.value.code in ("bad_frame", "unknown_type", "malformed_frame")
    assert 0 <= caught.value.line <= 2**31 - 1


def test_well_formed_client_frames_still_decode():
    import msgpack

    from ground.protocol import CancelFrame, LineFrame, OpenFrame, decode_client, is_id

    packed = lambda d: msgpack.packb(d, use_bin_type=True)  # noqa: E731
    opened = decode_client(packed({"type": "open", "voices": {"Ada": {"audio": b"RIFF"},
                                   "*": {"pcm16": b"\0\0" * 8, "sample_rate": 16000}}, "max_takes": 2}))  # fmt: skip
    assert isinstance(opened, OpenFrame) and opened.max_takes == 2 and opened.protocol == 1
    line = decode_client(packed({"type": "line", "line": 3, "text": "Go.", "clip_id": "c1", "timecode_s": 1}))
    assert isinstance(line, LineFrame) and line.timecode_s == 1.0
    assert isinstance(decode_client(packed({"type": "cancel", "line": 2**31 - 1})), CancelFrame)
    assert is_id("scene-1.take_2") and not any(
        map(is_id, ("..", "CON", "con.txt", "a\n", "a/b", "", "x" * 65))
    )


def test_client_messages_keep_no_server_paths():
    from ground.errors import without_paths
    from ground.protocol import error_frame

    frame = error_frame("s1", "bad_input", "/tmp/dubber-line-x1/line3.mp4: not a video (C:\\srv\\a.wav too)")
    assert frame.message == ".../line3.mp4: not a video (.../a.wav too)"
    assert without_paths("speak at 3/4 pace, see http://host/a/b") == "speak at 3/4 pace, see http://host/a/b"
