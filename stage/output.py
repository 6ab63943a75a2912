"""A dubbed line written out: the wav, optionally the clip with the dubbed track muxed in and the message log,
and the report of what happened (``dubber dub``, ``dubber demo``)."""

from __future__ import annotations

from pathlib import Path


def dub_to_files(stage, session: str, video: Path, text, voice: Path, wav: Path, mp4: Path | None = None,
                 log: Path | None = None, **line_options):  # fmt: skip
    """One line through the stage, written out: the wav, and if asked the mp4 with the dubbed track and the
    message log (appended, one frame per message). Returns the stage's ``LineOutcome``."""
    import soundfile as sf

    from ground.config import get_config
    from ground.message_log import MessageLogWriter
    from perception.audio import load_audio

    sr = get_config().media.sample_rate
    prompt = load_audio(voice, sample_rate=sr)
    writer = MessageLogWriter(log) if log else None
    try:
        outcome = stage.dub_line(
            stage.session(session),
            1,
            video,
            text,
            prompt,
            sr,
            emit=writer or (lambda m: None),
            **line_options,
        )
    finally:
        if writer:
            writer.close()
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, outcome.audio, outcome.sample_rate)
    if mp4:
        from perception.video import mux_audio

        mux_audio(video, outcome.audio, outcome.sample_rate, mp4)
    return outcome


def outcome_report(outcome, wav: Path, mp4: Path | None, log: Path | None) -> dict:
    g = outcome.guidance
    return {
        "wav": str(wav), "mp4": str(mp4) if mp4 else None, "log": str(log) if log else None,
        "emotion": g.emotion, "intensity": g.intensity, "direction": g.direction, "takes": outcome.takes,
        "chosen_take": outcome.chosen_take, "scores": outcome.scores, "seconds": outcome.seconds,
        "warnings": outcome.warnings,
        "references": {m: [r.clip_id for r in refs] for m, refs in outcome.references.items()},
    }  # fmt: skip
