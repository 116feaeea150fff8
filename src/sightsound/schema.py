"""The one record type every dataset maps to, and its JSONL form.

A record is one question about one clip::

    {"id": "...", "question": "...", "choices": ["...", ...], "answer": 1 | null,
     "audio": "path.wav", "video": "path.mp4" | null, "frames": ["f0.png", ...] | null,
     "question_type": "...", "source": "avqa|mmau|mmar|music-avqa|synthetic", "meta": {...}}

``answer`` is a 0-based index into ``choices`` (null where the benchmark's answer is open or
unknown; MUSIC-AVQA's open answer then lives in ``meta["answer_text"]``). Paths are stored as
written; relative paths are resolved against the JSONL file's directory by :func:`resolve_media`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RecordError(ValueError):
    """A record that does not fit the schema; the message names the record."""


MAX_CHOICES = 26


@dataclass
class Sample:
    id: str
    question: str
    choices: list[str]
    answer: int | None = None
    audio: str | None = None
    video: str | None = None
    frames: list[str] | None = None
    question_type: str = ""
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        where = f"record {self.id!r}"
        if not isinstance(self.id, str) or not self.id:
            raise RecordError(f"{where}: 'id' must be a non-empty string")
        if not isinstance(self.question, str):
            raise RecordError(f"{where}: 'question' must be a string")
        if not isinstance(self.choices, list) or not all(isinstance(c, str) for c in self.choices):
            raise RecordError(f"{where}: 'choices' must be a list of strings")
        if len(self.choices) > MAX_CHOICES:
            # Options are lettered A-Z in every prompt and in the answer parser.
            raise RecordError(f"{where}: {len(self.choices)} choices; at most {MAX_CHOICES} (options are lettered A-Z)")
        if self.answer is not None:
            if isinstance(self.answer, bool) or not isinstance(self.answer, int):
                raise RecordError(f"{where}: 'answer' must be an int index or null, got {self.answer!r}")
            if not 0 <= self.answer < len(self.choices):
                raise RecordError(f"{where}: answer {self.answer} is outside its {len(self.choices)} choices")
        if self.frames is not None and not isinstance(self.frames, list):
            raise RecordError(f"{where}: 'frames' must be a list of paths or null")

    @property
    def answer_text(self) -> str | None:
        if self.answer is not None:
            return self.choices[self.answer]
        return self.meta.get("answer_text")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        rid = data.get("id", "?")
        if unknown:
            raise RecordError(f"record {rid!r}: unknown fields {sorted(unknown)}")
        missing = {"id", "question", "choices"} - set(data)
        if missing:
            raise RecordError(f"record {rid!r}: missing fields {sorted(missing)}")
        return cls(**data)


def resolve_media(path: str | None, base: str | Path | None) -> str | None:
    """Resolve a record's relative media path against the directory of the file it came from."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return str(p)


def absolute_media(sample: Sample) -> Sample:
    """``sample`` with its media paths made absolute against the working directory.

    A loader resolves a relative ``media_root`` against the working directory, but the records file
    it feeds lives elsewhere (a run's ``data/train/``) and is read back relative to *that* file; so a
    writer stores absolute paths, which mean the same thing to every stage and every working directory.
    """
    ab = lambda p: os.path.abspath(p) if p else p
    sample.audio, sample.video = ab(sample.audio), ab(sample.video)
    if sample.frames:
        sample.frames = [ab(f) for f in sample.frames]
    return sample



def check_limits(sample: Sample, limits: Any, where: str) -> None:
    """Refuse a record whose text is longer than ``limits`` allow (a :class:`~sightsound.config.LimitsConfig`).

    One 100,000-character question drove a teacher to 22 GB: the bound is checked when records are
    read, before any model loads, and the error names the file, line and the key to raise.
    """
    if len(sample.question) > limits.max_question_chars:
        raise RecordError(f"{where}: record {sample.id!r}: question is {len(sample.question)} characters, over "
                          f"limits.max_question_chars={limits.max_question_chars}")
    for i, c in enumerate(sample.choices):
        if len(c) > limits.max_choice_chars:
            raise RecordError(f"{where}: record {sample.id!r}: choice {i} is {len(c)} characters, over "
                              f"limits.max_choice_chars={limits.max_choice_chars}")


def load_samples(path: str | Path, resolve: bool = True, limits: Any = None) -> list[Sample]:
    """Read a records JSONL; with ``resolve``, media paths become absolute (relative to the file).

    With ``limits`` (a :class:`~sightsound.config.LimitsConfig`), over-long text is refused too.
    """
    from sightsound.jsonl import read_jsonl

    path = Path(path)
    out = []
    for lineno, row in read_jsonl(path, with_lineno=True):
        if not isinstance(row, dict):
            raise RecordError(f"{path}:{lineno}: a record must be a JSON object, got {type(row).__name__}")
        try:
            s = Sample.from_dict(row)
        except (RecordError, TypeError) as e:
            raise RecordError(f"{path}:{lineno}: {e}") from None
        if limits is not None:
            check_limits(s, limits, f"{path}:{lineno}")
        if resolve:
            base = path.parent.resolve()
            s.audio = resolve_media(s.audio, base)
            s.video = resolve_media(s.video, base)
            if s.frames:
                s.frames = [resolve_media(f, base) for f in s.frames]
        out.append(s)
    return out
