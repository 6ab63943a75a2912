"""A synthetic film for tests and benchmarks: clips rendered by the corpus code, back to back, with their
subtitles (speaker tags), a voice prompt per character and a music-and-effects track.

    python -m localization.film --out runs/film100 --lines 100

writes ``film.mp4`` (silent), ``film.srt``, ``voices.yaml`` + ``prompts/*.wav``, ``me.wav`` and
``dialogue_reference.wav`` (the clips' own speech at their timecodes). Deterministic in the seed; the
clips are rendered once into ``corpus/`` (``corpora.synth.build_corpus``, resumable).
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path

import numpy as np

PROMPT_TEXT = "This is how I sound on an ordinary day, when nothing much is happening at all."
FAST_VOICES = ["flite_slt", "flite_awb", "flite_rms", "flite_kal"]


def _srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


class _FilmWriter:
    """Frames appended one clip at a time (a whole film never sits in memory)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        import av

        self.container = av.open(str(path), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.height, self.stream.width = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "18", "preset": "fast"}
        self.stream.codec_context.time_base = 1 / rate
        self.rate = rate
        self.count = 0

    def add(self, frames: np.ndarray) -> None:
        import av

        for frame in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            vf.pts, vf.time_base = self.count, 1 / self.rate
            self.container.mux(self.stream.encode(vf))
            self.count += 1

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()


def make_film(out: str | Path, lines: int = 100, seed: int = 0, voices: list[str] | None = None,
              gap_s: float = 0.4, workers: int = 2, progress: bool = False) -> dict:  # fmt: skip
    """Render (or reuse) the clips and assemble the film; returns the paths and the line count."""
    import soundfile as sf

    from corpora.prosody import render_line
    from corpora.synth import build_corpus
    from corpora.voices import get_voice
    from ground.config import get_config
    from perception.video import read_video

    out = Path(out)
    media = get_config().media
    fps, sr = media.fps, media.sample_rate
    corpus = out / "corpus"
    # the first corpus's plan: fast engine voices and short templated lines make a quick test film
    build_corpus(corpus, num_clips=lines, seed=seed, workers=workers, voice_ids=voices or FAST_VOICES,
                 progress=progress, design="standard")  # fmt: skip
    rows = [json.loads(x) for x in (corpus / "manifest.jsonl").read_text().splitlines() if x.strip()]
    rows.sort(key=lambda r: r["clip_id"])
    names: dict[str, str] = {}  # voice -> character name, one per voice
    for r in rows:
        if r["speaker"] not in names:
            base = r["character"].split("_")[0].upper()
            names[r["speaker"]] = base if base not in names.values() else f"{base}{len(names)}"
    gap = int(round(gap_s * fps))
    size = None
    writer = None
    cues, speech_parts = [], []
    frame_at = gap
    for i, r in enumerate(rows):
        clip = read_video(corpus / "clips" / r["clip_id"] / "video.mp4", fps=fps, with_audio=False)
        if writer is None:
            size = clip.frames.shape[1:3]
            writer = _FilmWriter(out / "film.mp4", fps, size)
            writer.add(np.zeros((gap, *size, 3), np.uint8))
        writer.add(clip.frames)
        start, end = frame_at / fps, (frame_at + clip.num_frames) / fps
        speaker = names[r["speaker"]]
        tag = f"[{speaker}] {r['text']}" if i % 2 == 0 else f"{speaker.title()}: {r['text']}"
        cues.append((start, end, tag, r))
        audio, _ = sf.read(corpus / "clips" / r["clip_id"] / "audio.wav", dtype="float32")
        speech_parts.append((int(round(frame_at / fps * sr)), audio))
        writer.add(np.repeat(clip.frames[-1:], gap, axis=0))  # a held frame between lines
        frame_at += clip.num_frames + gap
    writer.close()
    total_s = frame_at / fps
    (out / "film.srt").write_text(
        "\n".join(f"{n}\n{_srt_time(a)} --> {_srt_time(b)}\n{t}\n" for n, (a, b, t, _) in enumerate(cues, 1)),
        encoding="utf-8",
    )
    prompts = out / "prompts"
    prompts.mkdir(exist_ok=True)
    book = {}
    for voice, name in names.items():
        p = prompts / f"{name.lower()}.wav"
        if not p.is_file():
            audio = render_line(PROMPT_TEXT, get_voice(voice), "neutral", 0.5, seed).audio
            sf.write(p, audio, sr, subtype="PCM_16")
        book[name] = f"prompts/{p.name}"
    import yaml

    (out / "voices.yaml").write_text(yaml.safe_dump(book, sort_keys=True), encoding="utf-8")
    n = int(round(total_s * sr))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    bed = 0.02 * (
        np.sin(2 * np.pi * 110 * t) + 0.5 * np.sin(2 * np.pi * 165 * t)
    ) + 0.005 * rng.standard_normal(n)
    sf.write(out / "me.wav", bed.astype(np.float32), sr, subtype="PCM_16")
    from localization.media import place_lines

    sf.write(out / "dialogue_reference.wav", place_lines(n, speech_parts), sr, subtype="PCM_16")
    info = {"video": str(out / "film.mp4"), "subs": str(out / "film.srt"), "voices": str(out / "voices.yaml"),
            "me": str(out / "me.wav"), "lines": len(cues), "seconds": round(total_s, 3),
            "speech_seconds": round(sum(len(a) for _, a in speech_parts) / sr, 3),
            "characters": sorted(names.values())}  # fmt: skip
    (out / "film.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lines", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    print(
        json.dumps(make_film(args.out, args.lines, args.seed, workers=args.workers, progress=True), indent=1)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
