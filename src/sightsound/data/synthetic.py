"""The synthetic world's records JSONL (``sightsound synth``): already in the schema.

Each line is a ``Sample.to_dict()``; media paths are relative to the JSONL's folder (or to
``media_root`` when given). ``meta`` carries ``family``, ``evidence`` and ``vision_answer``.
"""

from __future__ import annotations

from pathlib import Path

from sightsound.data.base import Collector, MalformedRecord, iter_jsonl_lenient
from sightsound.schema import Sample, resolve_media

NAME = "synthetic"


def convert(raw: dict, base: Path) -> Sample:
    sample = Sample.from_dict(raw)
    if sample.answer is None:
        raise MalformedRecord("synthetic records must carry their answer index")
    sample.audio = resolve_media(sample.audio, base)
    sample.video = resolve_media(sample.video, base)
    if sample.frames:
        sample.frames = [resolve_media(f, base) for f in sample.frames]
    sample.source = sample.source or NAME
    return sample


def load(path: Path, media_root, collector: Collector) -> None:
    base = Path(media_root) if media_root is not None else path.resolve().parent
    for where, raw in iter_jsonl_lenient(path, collector):
        collector.add(where, raw, lambda r: convert(r, base))
