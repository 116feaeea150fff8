"""Step 2 of SightSound-R1: audio-grounded fact-check of the teacher's reasoning.

    sightsound verify --config RECIPE --traces TRACES.jsonl --out VERIFIED.jsonl [--data DATA.jsonl]
        [--shard i/N] [key=value ...]

Each consistent sample of every kept trace goes, with the record's real audio, to the verifier;
``Yes`` keeps the sample, ``No`` or an unparsable reply discards it. Writes one line per checked
(record, sample) to ``VERIFIED.jsonl``, with ``VERIFIED.stats.json`` (verdict counts and, on
synthetic data, the verdicts scored against the scene graphs) and ``VERIFIED.config.yaml`` beside
it. A killed run resumes where it stopped and never writes a sample twice; resuming with other
verifier settings is refused. A sample whose audio cannot be read gets an ``error`` line; a rerun
checks those again (``--no-retry-errors`` keeps them). ``--shard i/N`` checks the records whose id
hashes to shard i, each shard into its own ``--out``; ``sightsound merge --key key --data
TRACES.jsonl --data-filter kept`` joins them.
"""

from __future__ import annotations

import argparse

from sightsound.cli import add_recipe_arguments, add_stage_output_arguments, load_recipe_from_args
from sightsound.synth.hallucination import write_truth_scores
from sightsound.verify import verify


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--traces", required=True, help="teacher traces JSONL (teach output)")
    parser.add_argument("--out", required=True, help="verified JSONL (appended to; a rerun resumes); "
                                                     "stats and config are written beside it")
    parser.add_argument("--data", help="records JSONL: audio paths for traces without one, and on synthetic "
                                       "data the scene graphs that score the verdicts")
    add_stage_output_arguments(parser)
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe_from_args(args)
    stats = verify(recipe, args.traces, args.out, shard=args.shard, data_path=args.data,
                   progress=not args.no_progress, retry_errors=args.retry_errors)
    # Step 2 knows no ground truth; on synthetic records the scene graphs score its verdicts.
    stats["hallucination"] = write_truth_scores(args.out, args.traces, args.data)
    line = (f"verify: {stats['checked']} checked, {stats['kept']} kept, {stats['discarded']} discarded "
            f"({stats['unparsable']} unparsable), {stats['errors']} errors -> {args.out}")
    h = stats.get("hallucination")
    if h:
        fmt = lambda x: "n/a" if x is None else f"{x:.3f}"
        line += (f"; discarding hallucinations: precision {fmt(h['precision'])}, recall {fmt(h['recall'])} "
                 f"({h['hallucinated']} of {h['samples']} hallucinated); modality leak [ours] "
                 f"{fmt(h.get('modality_leak_before'))} -> {fmt(h.get('modality_leak_after'))}")
    print(line)
    return 0
