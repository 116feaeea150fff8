"""Step 1 of SightSound-R1: audio-focused chains of thought from the vision teacher.

    sightsound teach --config RECIPE --data DATA.jsonl --out TRACES.jsonl [--shard i/N] [key=value ...]

The teacher sees frames of the silent video, never audio, answers n times, and the consistency
filter keeps a record only when all n answers agree (and, by default, agree with the label).
Writes ``TRACES.jsonl`` (one trace per record, with the record's audio path, question and choices),
``TRACES.stats.json`` (recomputed from the traces alone) and ``TRACES.config.yaml`` (the resolved
recipe). Killed at any point and rerun with the same command, it continues where it stopped: ids
already written are skipped, a torn last line is cut off; rerun with other teacher settings, it is
refused.

An unreadable video, or a request the backend could not answer after its own retries, is written
as an error trace (``reason: "error"`` with the cause) and the run goes on; a rerun of the command
drops such lines first and tries those records again (``--no-retry-errors`` keeps them). ``--out``
is locked while the command runs: a second writer is refused.
"""

from __future__ import annotations

import argparse

from sightsound.cli import add_recipe_arguments, add_stage_output_arguments, load_recipe_from_args
from sightsound.teacher import teach


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="records JSONL (sightsound synth or a dataset loader)")
    parser.add_argument("--out", required=True, help="traces JSONL; stats and config are written beside it")
    add_stage_output_arguments(parser)
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe_from_args(args)
    stats = teach(recipe, args.data, args.out, shard=args.shard, progress=not args.no_progress,
                  retry_errors=args.retry_errors)
    acc = stats["teacher_accuracy"]
    print(f"teach: {stats['records']} records, kept {stats['kept']} ({(stats['kept_fraction'] or 0):.1%}), "
          f"unanimous {(stats['unanimous_fraction'] or 0):.1%}, parse failures {stats['parse_failures']}/"
          f"{stats['samples']}, errors {stats['errors']}, teacher accuracy "
          f"{'n/a' if acc is None else f'{acc:.1%}'} -> {args.out}")
    return 0
