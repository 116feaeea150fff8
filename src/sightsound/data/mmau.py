"""MMAU test-mini (Sakyi et al., ICLR 2025): text answers, 2-8 options.

MMAU record: ``id, audio_id, question, choices, answer`` (the option's *text*), ``dataset, task``
(sound/music/speech), ``split, category`` (a string, or in 13 test-mini items a list),
``sub-category, difficulty``. Scored by the official token rule on the answer text
(:mod:`sightsound.evaluate.scoring`); the answer index stored here is the text's first position.
MMAR shares this record shape and converter (:mod:`sightsound.data.mmar`).
"""

from __future__ import annotations

from pathlib import Path

from sightsound.data.base import (
    Collector,
    MalformedRecord,
    answer_index_from_text,
    require_choices,
    require_str,
)
from sightsound.data.clips import resolve_relative
from sightsound.schema import Sample


def _categories(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise MalformedRecord(f"field 'category' must be a string or a list of strings, got {value!r}")


def convert(raw: dict, *, source: str, audio_key: str, media_root, annotations: Path) -> Sample:
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise MalformedRecord("missing or empty field 'id'")
    choices = require_choices(raw, "choices")
    answer = require_str(raw, "answer")
    index = answer_index_from_text(answer, choices)
    audio_rel = require_str(raw, audio_key)
    meta = dict(raw)
    meta["categories"] = _categories(raw.get("category"))  # normalized; 'category' itself kept verbatim
    return Sample(
        id=rid,
        question=require_str(raw, "question"),
        choices=choices,
        answer=index,
        audio=resolve_relative(audio_rel, media_root, annotations),
        video=None,
        question_type=str(raw.get("sub-category") or raw.get("task") or raw.get("modality") or ""),
        source=source,
        meta=meta,
    )


def load(path: Path, media_root, collector: Collector, items: list) -> None:
    for i, raw in enumerate(items):
        collector.add(f"index {i}", raw, lambda r: convert(r, source="mmau", audio_key="audio_id",
                                                         media_root=media_root, annotations=path))
