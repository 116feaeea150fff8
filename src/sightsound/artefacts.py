"""The files one stage hands to the next, each read by one reader here.

A record travels: **records** (``data.jsonl``, :class:`~sightsound.schema.Sample` per line) →
**traces** (``teach``: n teacher samples and the consistency filter's decision) → **verdicts**
(``verify``: one line per fact-checked sample, with its think and choice) → **SFT / GRPO
examples** (``build-sft``; the trainers read them with :mod:`sightsound.train.data`). A stage reads
the artefact before it only through this module, so every file is validated the same way, every
error names ``file:line``, and relative media paths are resolved one way: against the records
file's folder. Files written whole are written here too (records, training sets); traces and
verdicts are appended batch by batch by their stages, so a killed run resumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from sightsound.jsonl import ArtefactError, read_jsonl, write_jsonl_atomic
from sightsound.schema import RecordError, Sample, check_limits


# ------------------------------------------------------------------------------ the line types
# Traces and verdicts stay plain dicts at run time (each line is passed on, extended, unchanged);
# these types are the one place their fields are listed, for readers, writers and type checkers.
class TraceSample(TypedDict):
    """One of the teacher's n samples inside a trace."""

    index: int
    text: str
    think: str | None
    answer: str | None
    choice: int | None  # the option the sample picked (0-based), None when unparsable
    status: str  # parsing.OK or why the reply did not parse
    num_tokens: int
    finish_reason: str | None


class Trace(TypedDict):
    """A line of ``teach``'s output: one record's n samples and the consistency filter's decision,
    with the record's fields (audio, question, choices, question_type, source, meta) copied in."""

    id: str
    kept: bool
    reason: str  # why kept or dropped (consistency.ERROR for a failed record)
    samples: list[TraceSample]
    agreed_choice: int | None
    agreement: float
    majority_choice: int | None
    n: int
    label: int | None
    label_match: bool | None
    num_frames: int
    teacher: dict[str, Any]
    error: str | None
    audio: str | None
    question: str
    choices: list[str]
    question_type: str | None
    source: str | None
    meta: dict[str, Any]


class Verdict(TypedDict, total=False):
    """A line of ``verify``'s output: one fact-checked teacher sample (``note`` only when there is one)."""

    key: str  # sample_key(id, sample_index)
    id: str
    sample_index: int | None
    verdict: str  # verdicts.YES / NO / UNPARSABLE / ERROR
    kept: bool
    replies: list[str]
    verdict_rule: str
    verifier: dict[str, Any]
    error: str | None
    think: str | None
    choice: int | None
    label: int | None
    note: str



# -------------------------------------------------------------------------------------------- records
def resolve_media(path: str | None, base: str | Path | None) -> str | None:
    """Resolve a record's relative media path against the directory of the file it came from."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return str(p)


def parse_record(row: Any, base: str | Path | None = None, where: str | None = None) -> Sample:
    """One records line as a validated :class:`Sample`, its media paths resolved against ``base``.

    A row that is not a record raises :class:`RecordError`, prefixed with ``where`` (``file:line``).
    """
    try:
        if not isinstance(row, dict):
            raise RecordError(f"a record must be a JSON object, got {type(row).__name__}")
        try:
            sample = Sample.from_dict(row)
        except TypeError as e:  # a field of the wrong shape for the dataclass
            raise RecordError(str(e)) from None
    except RecordError as e:
        raise RecordError(f"{where}: {e}" if where else str(e)) from None
    if base is not None:
        sample.audio = resolve_media(sample.audio, base)
        sample.video = resolve_media(sample.video, base)
        if sample.frames:
            sample.frames = [resolve_media(f, base) for f in sample.frames]
    return sample


def _records_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    return path


def read_records(path: str | Path, resolve: bool = True, limits: Any = None) -> list[Sample]:
    """Read a records JSONL, stopping at the first bad record (the error names file and line).

    With ``resolve``, relative media paths are taken against the file's folder; with ``limits`` (a
    :class:`~sightsound.config.LimitsConfig`), over-long text is refused too.
    """
    path = Path(path)  # opened as is: a missing file or a folder fails with the system's own words
    base = path.parent.resolve() if resolve else None
    out = []
    for lineno, row in read_jsonl(path, with_lineno=True):
        sample = parse_record(row, base, f"{path}:{lineno}")
        if limits is not None:
            check_limits(sample, limits, f"{path}:{lineno}")
        out.append(sample)
    return out


def index_records(path: str | Path) -> dict[str, Sample | RecordError]:
    """id -> record (media resolved), or the :class:`RecordError` (``file:line: why``) of an invalid one.

    For stages that look records up by id and decide per record what an invalid one costs (build-sft
    refuses its samples, verify finds no audio for them); a line without a string id cannot be looked
    up at all and raises.
    """
    path = _records_file(path)
    base = path.parent.resolve()
    out: dict[str, Sample | RecordError] = {}
    for lineno, row in read_jsonl(path, with_lineno=True):
        try:
            sample = parse_record(row, base, f"{path}:{lineno}")
        except RecordError as e:
            rid = row.get("id") if isinstance(row, dict) else None
            if not isinstance(rid, str):
                raise
            out[rid] = e
            continue
        out[sample.id] = sample
    return out


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


def write_records(path: str | Path, samples: Iterable[Sample]) -> None:
    """Write a records JSONL atomically, media paths absolute (see :func:`absolute_media`)."""
    write_jsonl_atomic(path, [absolute_media(s).to_dict() for s in samples])


# --------------------------------------------------------------------------------------------- traces
def sample_key(record_id: str, index: int | None) -> str:
    """The id of one teacher sample in every later artefact: ``"<record id>#<index>"``."""
    return f"{record_id}#{index if index is not None else 'none'}"


def consistent_samples(trace: Trace, which: str = "all") -> list[TraceSample]:
    """The samples of a kept trace that carry its agreed choice, by index; ``first``: only the first.

    For a trace the paper's unanimity filter kept, that is every sample; the check is repeated so
    that a hand-edited or differently-filtered trace cannot slip a dissenting sample into training.
    """
    agreed = trace.get("agreed_choice")
    samples = [s for s in trace.get("samples") or [] if agreed is not None and s.get("choice") == agreed]
    samples.sort(key=lambda s: s.get("index", 0))
    if which == "first":
        return samples[:1]
    if which != "all":
        raise ValueError(f"samples must be 'all' or 'first', got {which!r}")
    return samples


def _read_checked(path: str | Path, what: str, problem: Callable[[Any], str | None]) -> list[dict]:
    """The lines of a stage's output; the first line ``problem`` objects to raises, naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    out = []
    for lineno, row in read_jsonl(path, with_lineno=True):
        why = problem(row)
        if why:
            raise ArtefactError(f"{path}:{lineno}: {why}")
        out.append(row)
    return out


def _trace_problem(row: Any) -> str | None:
    if not isinstance(row, dict) or not isinstance(row.get("id"), str) or "kept" not in row:
        return "not a teacher trace (needs 'id' and 'kept')"
    if row["kept"] and not isinstance(row.get("samples"), list):
        return f"kept trace {row['id']!r} has no 'samples' list"
    return None


def read_traces(path: str | Path) -> list[Trace]:
    """Teacher traces, checked for the fields later stages read (the error names file and line)."""
    return _read_checked(path, "traces", _trace_problem)


# ------------------------------------------------------------------------------------------- verdicts
def _verdict_problem(row: Any) -> str | None:
    if not isinstance(row, dict) or not {"key", "id", "kept"} <= set(row):
        return "not a verified line (needs 'key', 'id', 'kept')"
    if row["kept"] and ("think" not in row or "choice" not in row):
        return f"kept line {row['key']!r} lacks 'think'/'choice' (written by an older verify?)"
    return None


def read_verdicts(path: str | Path) -> list[Verdict]:
    """Verified lines, checked for the fields build-sft reads (the error names file and line).

    A kept line must carry the sample's ``think`` and ``choice``: they are what the student learns.
    """
    return _read_checked(path, "verified", _verdict_problem)


# ------------------------------------------------------------------------ the samples training learns
@dataclass(frozen=True)
class TeacherSample:
    """One teacher sample that may become a training example: its key, record id, reasoning and choice.

    ``choice`` is taken as written (build-sft refuses one that is not an index of the record's choices).
    """

    key: str
    id: str
    think: str | None
    choice: Any


def kept_verified_samples(path: str | Path) -> list[TeacherSample]:
    """The samples the verifier kept, in file order (the paper's training source)."""
    return [TeacherSample(r["key"], r["id"], r["think"], r["choice"]) for r in read_verdicts(path) if r["kept"]]


def consistent_trace_samples(path: str | Path) -> list[TeacherSample]:
    """Every consistent sample of every kept trace, without the fact-check (the ablation's source)."""
    return [TeacherSample(sample_key(t["id"], s.get("index")), t["id"], s.get("think"), s.get("choice"))
            for t in read_traces(path) if t.get("kept") for s in consistent_samples(t, "all")]


# ---------------------------------------------------------------------------------- SFT/GRPO examples
def write_examples(path: str | Path, rows: list[dict]) -> None:
    """Write a training set atomically (a reader never sees half a set); read by :mod:`sightsound.train.data`."""
    write_jsonl_atomic(path, rows)
