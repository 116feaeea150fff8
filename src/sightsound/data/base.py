"""What every benchmark loader shares: the loaded set with its skip report, and lenient readers.

A benchmark file with one broken record must not cost a whole evaluation, and must not pass
silently either: a loader reports each malformed record (line or index, and why) in
:attr:`Benchmark.skipped`, logs a one-line summary, and goes on, unless ``strict`` asks it to stop
at the first one with a :class:`~sightsound.schema.RecordError` naming file and record.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sightsound.schema import RecordError, Sample

log = logging.getLogger(__name__)


class MalformedRecord(ValueError):
    """Raised by a record converter: the record cannot become a :class:`Sample` (the message says why)."""


@dataclass
class Skipped:
    where: str  # "line 12" (JSONL) or "index 12" (JSON list)
    id: str | None  # the record's own id where it has one
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Benchmark(list):
    """The loaded samples (a plain ``list[Sample]``) plus where they came from and what was skipped."""

    def __init__(self, samples: list[Sample], name: str, annotations: str, split: str | None = None,
                 skipped: list[Skipped] | None = None, total: int = 0):
        super().__init__(samples)
        self.name = name
        self.annotations = annotations
        self.split = split
        self.skipped: list[Skipped] = list(skipped or [])
        self.total = total  # records in the file, skipped ones included

    def summary(self) -> dict[str, Any]:
        reasons = Counter(s.reason.split(":")[0] for s in self.skipped)
        return {
            "benchmark": self.name,
            "annotations": self.annotations,
            "split": self.split,
            "records": self.total,
            "loaded": len(self),
            "skipped": len(self.skipped),
            "skipped_reasons": dict(reasons),
            "skipped_records": [s.to_dict() for s in self.skipped[:50]],  # the first ones, for the log
        }

    def subset(self, samples: list[Sample]) -> Benchmark:
        """The same benchmark restricted to ``samples`` (a filter keeps the provenance and skip report)."""
        return Benchmark(samples, self.name, self.annotations, self.split, self.skipped, self.total)


@dataclass
class Collector:
    """Turns raw records into samples, reporting or raising on malformed ones."""

    path: Path
    strict: bool = False
    samples: list[Sample] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    total: int = 0
    seen_ids: set[str] = field(default_factory=set)

    def add(self, where: str, raw: Any, convert: Callable[[Any], Sample]) -> None:
        self.total += 1
        rid = raw.get("id") if isinstance(raw, dict) else None
        try:
            if not isinstance(raw, dict):
                raise MalformedRecord(f"not a JSON object: {type(raw).__name__}")
            sample = convert(raw)
            if sample.id in self.seen_ids:
                raise MalformedRecord(f"duplicate id {sample.id!r}")
        except (MalformedRecord, RecordError, KeyError, TypeError, ValueError) as e:
            reason = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            self.reject(where, None if rid is None else str(rid), reason)
            return
        self.seen_ids.add(sample.id)
        self.samples.append(sample)

    def reject(self, where: str, rid: str | None, reason: str) -> None:
        if self.strict:
            raise RecordError(f"{self.path}: {where}" + (f" (id {rid!r})" if rid else "") + f": {reason}")
        self.skipped.append(Skipped(where, rid, reason))

    def finish(self, name: str, split: str | None) -> Benchmark:
        if self.skipped:
            first = self.skipped[0]
            log.warning("%s: skipped %d malformed record(s) of %d; first: %s: %s", self.path, len(self.skipped),
                        self.total, first.where, first.reason)
        if not self.samples:
            raise RecordError(f"{self.path}: no usable {name} records ({len(self.skipped)} skipped)")
        return Benchmark(self.samples, name, str(self.path), split, self.skipped, self.total)


def read_json_list(path: Path) -> list[Any]:
    """A JSON file holding a list of records (AVQA, MMAU, MUSIC-AVQA); the whole file must parse."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordError(f"{path}: not valid JSON ({e})") from None
    if isinstance(data, dict):
        # Some releases wrap the list: {"data": [...]} or {"<split>": [...]}.
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    if not isinstance(data, list):
        raise RecordError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return data


def iter_jsonl_lenient(path: Path, collector: Collector) -> Iterator[tuple[str, Any]]:
    """Yield ``("line N", object)`` for each parsable line; unparsable lines go to the skip report."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                collector.total += 1
                collector.reject(f"line {lineno}", None, f"not valid JSON ({e.__class__.__name__}: {e})")
                continue
            yield f"line {lineno}", obj


def require_str(raw: dict, key: str, allow_empty: bool = False) -> str:
    if key not in raw:
        raise MalformedRecord(f"missing field '{key}'")
    value = raw[key]
    if not isinstance(value, str):
        raise MalformedRecord(f"field '{key}' must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise MalformedRecord(f"field '{key}' is empty")
    return value


def require_choices(raw: dict, key: str, min_len: int = 2) -> list[str]:
    if key not in raw:
        raise MalformedRecord(f"missing field '{key}'")
    value = raw[key]
    if isinstance(value, str):  # some exports store the list as a JSON string
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise MalformedRecord(f"field '{key}' is a string that is not a JSON list") from None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise MalformedRecord(f"field '{key}' must be a list of strings")
    if len(value) < min_len:
        raise MalformedRecord(f"field '{key}' has {len(value)} option(s), need at least {min_len}")
    return list(value)


def answer_index_from_text(answer: str, choices: list[str]) -> int:
    """The index of the answer text among the choices (exact first, then case/space-insensitive).

    MMAU repeats some options verbatim (27 test-mini items); the first occurrence is taken, which is
    immaterial to the official text-based rule.
    """
    if answer in choices:
        return choices.index(answer)
    folded = [" ".join(c.split()).casefold() for c in choices]
    key = " ".join(answer.split()).casefold()
    if key in folded:
        return folded.index(key)
    raise MalformedRecord(f"answer {answer!r} is not one of the choices {choices}")

