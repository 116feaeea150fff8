"""Synthetic records of a SightSound-mini split, generated once and cached.

``split_records("pretrain")`` generates the split with the world generator
(:func:`sightsound.synth.generate`) under the split's seed (:mod:`sightsound.mini.splits`) into a
cache folder, and reads it back. The generator is resumable and deterministic, so a cached folder
is simply reused, and a larger ``num`` extends a smaller one with the same first items.
"""

from __future__ import annotations

import os
from pathlib import Path

from sightsound.config import SynthConfig
from sightsound.mini.splits import split


def cache_root() -> Path:
    """``$SIGHTSOUND_CACHE`` or ``~/.cache/sightsound``, plus ``/mini``."""
    base = os.environ.get("SIGHTSOUND_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sightsound")
    return Path(base) / "mini"


def synth_config(name: str, num: int | None = None) -> SynthConfig:
    s = split(name)
    # mp4 is not needed: the teacher's frames come from the PNG frames (teach.frames_from=auto).
    return SynthConfig(num=s.num if num is None else num, seed=s.seed, write_mp4=False)


def split_dir(name: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "worlds" / f"{name}-seed{split(name).seed}"


def split_records(name: str, num: int | None = None, root: Path | None = None,
                  progress: bool = True) -> tuple[list[dict], Path]:
    """The first ``num`` records of split ``name`` (generated if missing) and their folder."""
    from sightsound.jsonl import read_jsonl
    from sightsound.synth import generate

    cfg = synth_config(name, num)
    out = split_dir(name, root)
    data = out / "data.jsonl"
    have = {}
    if data.exists():
        have = {r["id"]: r for r in read_jsonl(data)}
    from sightsound.synth.generate import item_id

    ids = [item_id(cfg.seed, i) for i in range(cfg.num)]
    if not all(i in have for i in ids):
        generate(out, cfg, progress=progress)
        have = {r["id"]: r for r in read_jsonl(data)}
    return [have[i] for i in ids], out
