"""The one record type every dataset maps to, and its JSONL form.

A record is one question about one clip::

    {"id": "...", "question": "...", "choices": ["...", ...], "answer": 1 | null,
     "audio": "path.wav", "video": "path.mp4" | null, "frames": ["f0.png", ...] | null,
     "question_type": "...", "source": "avqa|mmau|mmar|music-avqa|synthetic", "meta": {...}}

``answer`` is a 0-based index into ``choices`` (null where the benchmark's answer is open or
unknown; MUSIC-AVQA's open answer then lives in ``meta["answer_text"]``). Paths are stored as
written; relative paths are resolved against the JSONL file's directory when the file is read
(:func:`sightsound.artefacts.read_records`, the one reader of records files).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
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
