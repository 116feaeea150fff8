"""``load_benchmark(name, annotations, media_root)``: every benchmark by name, one record type out.

Also :func:`select`, the subset an evaluation runs on (MMAU by task, MUSIC-AVQA by question type),
kept here so that ``eval`` and ``score`` choose exactly the same items.
"""

from __future__ import annotations

import re
from pathlib import Path

from sightsound.data import avqa, mmar, mmau, music_avqa, records
from sightsound.data.base import Benchmark, Collector, read_json_list
from sightsound.data.clips import clear_cache

BENCHMARKS = ("avqa", "mmau", "mmar", "music-avqa", "synthetic")
_ALIASES = {"music_avqa": "music-avqa", "musicavqa": "music-avqa", "mmau-test-mini": "mmau", "synth": "synthetic"}


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    return key


def _split_from_filename(path: Path) -> str | None:
    for token in re.split(r"[^a-z]+", path.name.lower()):
        if token in ("train", "val", "valid", "test", "dev"):
            return token
    return None


def load_benchmark(name: str, annotations: str | Path, media_root: str | Path | None = None,
                   strict: bool = False) -> Benchmark:
    """Read a benchmark's annotation file into samples.

    Returns a :class:`Benchmark` (a ``list[Sample]``) whose ``skipped`` lists the malformed records
    (line or index, id, reason) that were left out; with ``strict`` the first one raises instead.
    A missing file or one that is not JSON at all raises (nothing can be salvaged there).
    """
    name = canonical_name(name)
    path = Path(annotations)
    clear_cache()  # media may have appeared since a previous load
    collector = Collector(path, strict=strict)
    split = _split_from_filename(path)
    if name == "avqa":
        avqa.load(path, media_root, collector, read_json_list(path))
    elif name == "music-avqa":
        music_avqa.load(path, media_root, collector, read_json_list(path))
    elif name == "mmau":
        items = read_json_list(path)
        mmau.load(path, media_root, collector, items)
        splits = {s.meta.get("split") for s in collector.samples if s.meta.get("split")}
        split = "/".join(sorted(splits)) or split
    elif name == "mmar":
        mmar.load(path, media_root, collector)
        split = split or "test"  # MMAR is a single 1,000-item test set
    else:
        records.load(path, media_root, collector)
        split = split or "synthetic"
    return collector.finish(name, split)


def select(bench: Benchmark, *, mmau_task: str | None = None, mmar_modality: str | None = None,
           music_avqa_types: list[str] | None = None, limit: int | None = None) -> Benchmark:
    """The items an evaluation runs on.

    ``mmau_task``: MMAU's ``task`` (``sound``/``music``/``speech``; the paper reports ``sound``);
    ``mmar_modality``: MMAR's ``modality`` (``sound``, ``mix-sound-speech``, ...), matched exactly.
    ``music_avqa_types``: MUSIC-AVQA question types to keep, either a modality (``Audio``,
    ``Visual``, ``Audio-Visual``) or a full type (``Audio/Counting``); empty or ``None`` keeps all.
    """
    samples = list(bench)
    if bench.name == "mmau" and mmau_task:
        samples = [s for s in samples if s.meta.get("task") == mmau_task]
    elif bench.name == "mmar" and mmar_modality:
        samples = [s for s in samples if s.meta.get("modality") == mmar_modality]
    if bench.name == "music-avqa" and music_avqa_types:
        wanted = set(music_avqa_types)
        samples = [s for s in samples if s.meta.get("modality") in wanted or s.question_type in wanted]
    if limit is not None:
        samples = samples[:limit]
    return bench.subset(samples)
