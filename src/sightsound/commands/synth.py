"""Generate the synthetic audio-visual world: records (data.jsonl), 16 kHz wav, PNG frames, h264 mp4.

  sightsound synth --out data/synth --num 200 --seed 0
  sightsound synth --out data/synth --config configs/demo.yaml synth.p_consistent=0.5
  sightsound synth --out data/synth p_consistent=0.5 families=[louder,first]

Same seed and settings give byte-identical files. A rerun into the same folder resumes (items already
written are skipped); a larger --num extends it. Settings are the recipe's ``synth`` section; bare keys
of that section (``p_consistent=0.5``) are accepted as ``synth.<key>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from sightsound.cli import add_recipe_arguments, load_recipe_from_args
from sightsound.config import Recipe, SynthConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (data.jsonl, media/, summary, config)")
    parser.add_argument("--num", type=int, help="number of items (default: synth.num)")
    parser.add_argument("--seed", type=int, help="random seed (default: synth.seed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_recipe_arguments(parser)


def _qualify(overrides: list[str]) -> list[str]:
    """``p_consistent=0.5`` -> ``synth.p_consistent=0.5`` for keys that only the synth section has."""
    recipe_keys = {f.name for f in dataclasses.fields(Recipe)}
    synth_keys = {f.name for f in dataclasses.fields(SynthConfig)}
    out = []
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        head = key.split(".", 1)[0]
        out.append(f"synth.{item}" if head in synth_keys and head not in recipe_keys else item)
    return out


def _table(title: str, counts: dict) -> str:
    width = max((len(k) for k in counts), default=0)
    rows = "\n".join(f"  {k:<{width}}  {v}" for k, v in counts.items())
    return f"{title}:\n{rows}"


def run(args: argparse.Namespace) -> int:
    from sightsound.jsonl import read_json, read_jsonl
    from sightsound.runinfo import write_resolved_config
    from sightsound.synth.generate import DATA, SUMMARY, generate

    args.overrides = _qualify(args.overrides or [])
    if args.num is not None:
        args.overrides.append(f"synth.num={args.num}")
    if args.seed is not None:
        args.overrides.append(f"synth.seed={args.seed}")
    recipe = load_recipe_from_args(args)
    cfg = recipe.synth
    data = Path(args.out) / DATA
    before = sum(1 for _ in read_jsonl(data, allow_torn_tail=True)) if data.exists() else 0
    t0 = time.perf_counter()
    path = generate(args.out, cfg, progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    write_resolved_config(recipe, args.out)
    summary = read_json(path.parent / SUMMARY)
    made = summary["num"] - before
    rate = f", {made / seconds:.1f} items/s" if made and seconds > 0 else ""
    print(f"synth: {summary['num']} items in {path} ({made} new{rate}); voices: {summary['voice_engine']}")
    for key in ("family", "evidence", "mode", "answer_position", "sources"):
        print(_table(key.replace("_", " "), summary[key]))
    print(f"vision answer differs from the label: {summary['vision_answer_differs']} of {summary['num']}")
    return 0
