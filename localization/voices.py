"""``voices.yaml``: which voice prompt each character speaks with.

    ANNA: prompts/anna.wav         # a path, relative to the yaml file
    BO:
      prompt: prompts/bo.wav
    "*": prompts/narrator.wav      # optional: lines of any other character, and lines with no speaker tag

Each prompt is read once at the start of the job and checked (found, readable, not silent, at least
``actor.min_prompt_seconds`` long): a bad prompt stops the job before any line is dubbed, naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ground.errors import BadInputError

ANY = "*"


@dataclass
class VoiceBook:
    source: Path
    prompts: dict[str, Path]  # character -> prompt file

    @classmethod
    def load(cls, path: str | Path) -> VoiceBook:
        path = Path(path)
        if not path.is_file():
            raise BadInputError("voices file not found", source=path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BadInputError(f"not valid YAML: {exc}".splitlines()[0], source=path) from None
        if not isinstance(data, dict) or not data:
            raise BadInputError("expected a map of character -> voice prompt file", source=path)
        prompts: dict[str, Path] = {}
        for name, value in data.items():
            file = value.get("prompt") if isinstance(value, dict) else value
            if not isinstance(file, str) or not file.strip():
                raise BadInputError(f"character {name!r} has no voice prompt file", source=path)
            p = Path(file)
            prompts[str(name)] = p if p.is_absolute() else path.parent / p
        return cls(path, prompts)

    def key_for(self, character: str | None) -> str | None:
        """The entry a character speaks with: its own (matched without regard to case), else ``*``."""
        if character is not None:
            if character in self.prompts:
                return character
            folded = {k.casefold(): k for k in self.prompts}
            if character.casefold() in folded:
                return folded[character.casefold()]
        return ANY if ANY in self.prompts else None

    def missing(self, characters) -> list[str | None]:
        return sorted({c for c in characters if self.key_for(c) is None}, key=lambda c: c or "")

    def check_covers(self, characters, where: str | Path) -> None:
        missing = self.missing(characters)
        if missing:
            names = ", ".join("(lines without a speaker tag)" if c is None else repr(c) for c in missing)
            known = ", ".join(sorted(self.prompts))
            raise BadInputError(
                f"no voice for {names} in {self.source}; it knows: {known}",
                source=where,
                hint='add them to the voices file, or a "*" entry for everyone else',
            )

    def load_prompt(self, key: str, sample_rate: int) -> np.ndarray:
        """The prompt's audio, checked; an error names the character and the file."""
        from ground.config import get_config
        from perception.audio import load_audio

        path = self.prompts[key]
        try:
            audio = load_audio(path, sample_rate=sample_rate)  # missing, unreadable, silent, too short
        except BadInputError as exc:
            raise BadInputError(f"voice prompt of {key!r}: {exc.problem}", source=path) from None
        need = get_config().actor.min_prompt_seconds
        if len(audio) / sample_rate < need:
            raise BadInputError(
                f"voice prompt of {key!r} is too short ({len(audio) / sample_rate:.2f} s; at least {need:g} s)",
                source=path,
            )
        return audio
