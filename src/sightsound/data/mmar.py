"""MMAR (Ma et al., 2025): 1,000 test items in JSONL, text answers, MMAU's record shape.

Record: ``id, audio_path, question, choices, answer`` (the option's *text*), ``modality, category,
sub-category, ...``. Converted by MMAU's converter (:func:`sightsound.data.mmau.convert`) and
scored, as MMAU, by the official token rule on the answer text.
"""

from __future__ import annotations

from pathlib import Path

from sightsound.data import mmau
from sightsound.data.base import Collector, iter_jsonl_lenient


def load(path: Path, media_root, collector: Collector) -> None:
    for where, raw in iter_jsonl_lenient(path, collector):
        collector.add(where, raw, lambda r: mmau.convert(r, source="mmar", audio_key="audio_path",
                                                       media_root=media_root, annotations=path))
