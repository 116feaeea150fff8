"""A records JSONL (``sightsound synth``'s ``data.jsonl``, or any file already in the schema) as a benchmark.

Each line is a ``Sample.to_dict()``, validated and resolved by the one records reader
(:func:`sightsound.artefacts.parse_record`); media paths are relative to the JSONL's folder (or to
``media_root`` when given). Unlike that reader a benchmark is read leniently: a malformed line goes
to the skip report. A benchmark record must carry its answer index.
"""

from __future__ import annotations

from pathlib import Path

from sightsound.artefacts import parse_record
from sightsound.data.base import Collector, MalformedRecord, iter_jsonl_lenient
from sightsound.schema import Sample

NAME = "synthetic"


def convert(raw: dict, base: Path) -> Sample:
    sample = parse_record(raw, base)
    if sample.answer is None:
        raise MalformedRecord("synthetic records must carry their answer index")
    sample.source = sample.source or NAME
    return sample


def load(path: Path, media_root, collector: Collector) -> None:
    base = Path(media_root) if media_root is not None else path.resolve().parent
    for where, raw in iter_jsonl_lenient(path, collector):
        collector.add(where, raw, lambda r: convert(r, base))
