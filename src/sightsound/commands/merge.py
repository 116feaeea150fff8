"""Join the shard outputs of ``teach`` or ``verify``, refusing duplicates, gaps and mixed recipes.

    sightsound merge --inputs A.jsonl B.jsonl ... --out OUT.jsonl [--key id|key] [--data DATA.jsonl]
        [--data-filter FIELD]

``--key id`` (the default) for teach traces, ``--key key`` for verify verdicts. A key that appears
twice, shards made with different stage settings (each shard's ``.config.yaml`` names them) and,
given ``--data``, any id of it that no shard wrote are refused. The merged file is written
atomically, and gets the stats file a single run writes (``OUT.stats.json``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sightsound.merge import merge_outputs, write_merged_stats
from sightsound.synth.hallucination import write_truth_scores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inputs", nargs="+", required=True, metavar="FILE", help="shard outputs to join")
    parser.add_argument("--out", required=True, help="merged JSONL (written atomically)")
    parser.add_argument("--key", default="id", choices=["id", "key"],
                        help="field that must be unique: 'id' for teach traces, 'key' for verify verdicts")
    parser.add_argument("--data", help="the JSONL the shards were made from; every id in it must be covered")
    parser.add_argument("--data-filter", metavar="FIELD",
                        help="only ids of --data rows whose FIELD is true are expected (e.g. 'kept' for verify)")


def run(args: argparse.Namespace) -> int:
    stats = merge_outputs(args.inputs, args.out, key=args.key, data=args.data, data_filter=args.data_filter)
    if stats["rows"]:
        write_merged_stats(args.out, args.key)
        if args.key == "key":
            # On synthetic data, the filter's truth scores from the traces' scene graphs (``--data``
            # names the traces for verify shards); null elsewhere.
            write_truth_scores(args.out, traces_path=args.data)
    print(f"merged {stats['rows']} rows from {stats['inputs']} files into {Path(args.out)}")
    return 0
