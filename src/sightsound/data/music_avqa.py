"""MUSIC-AVQA (Li et al., CVPR 2022), open-ended: ``avqa-test.json`` style question lists.

Record: ``video_id, question_id, type`` (a JSON *string* such as ``'["Audio", "Counting"]'``),
``question_content`` (a template with ``<Object>``, ``<LR>``, ``<FL>``, ... slots),
``templ_values`` (a JSON string list, filled into the slots in order), ``anser`` (sic: the answer).

The answer is open (yes/no, number words, left/middle/right, instrument names with underscores),
so a sample has no options: ``choices == []``, ``answer is None``, the answer text in
``meta["answer_text"]``. The question type is ``"Audio/Counting"``; ``meta["modality"]`` is its
first part, which the evaluation filters on (only ``Audio`` questions are answerable from sound).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sightsound.data.base import Collector, MalformedRecord, require_str
from sightsound.data.clips import find_clip
from sightsound.schema import Sample

NAME = "music-avqa"
_SLOT = re.compile(r"<[A-Za-z]+>")


def _json_list(raw: dict, key: str) -> list:
    value = raw.get(key)
    if value is None:
        raise MalformedRecord(f"missing field '{key}'")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise MalformedRecord(f"field '{key}' is not a JSON list: {value!r}") from None
    if not isinstance(value, list):
        raise MalformedRecord(f"field '{key}' must be a list, got {type(value).__name__}")
    return value


def fill_template(template: str, values: list) -> str:
    """Put ``values`` into the ``<Slot>`` placeholders in order; their counts must agree.

    (The official loader splits on spaces and replaces whole words, which drops punctuation glued
    to a slot, e.g. ``"<Object>?"``; a regex keeps it.)
    """
    slots = _SLOT.findall(template)
    if len(slots) != len(values):
        raise MalformedRecord(f"template has {len(slots)} slot(s) {slots} but templ_values has {len(values)}")
    it = iter(str(v) for v in values)
    return _SLOT.sub(lambda _m: next(it), template)


def convert(raw: dict, media_root: str | Path | None) -> Sample:
    qid = raw.get("question_id")
    if qid is None or isinstance(qid, bool):
        raise MalformedRecord("missing field 'question_id'")
    video_id = str(raw.get("video_id") or "")
    if not video_id:
        raise MalformedRecord("missing field 'video_id'")
    qtype = _json_list(raw, "type")
    if not qtype or not all(isinstance(t, str) for t in qtype):
        raise MalformedRecord(f"field 'type' must list the modality and kind, got {qtype!r}")
    question = fill_template(require_str(raw, "question_content"), _json_list(raw, "templ_values")).strip()
    answer_text = require_str(raw, "anser")
    audio, video = find_clip(media_root, video_id)
    return Sample(
        id=str(qid),
        question=question,
        choices=[],
        answer=None,
        audio=audio,
        video=video,
        question_type="/".join(qtype),
        source=NAME,
        meta={**raw, "answer_text": answer_text, "modality": qtype[0],
              "question_kind": qtype[1] if len(qtype) > 1 else ""},
    )


def load(path: Path, media_root: str | Path | None, collector: Collector, items: list) -> None:
    for i, raw in enumerate(items):
        collector.add(f"index {i}", raw, lambda r: convert(r, media_root))
