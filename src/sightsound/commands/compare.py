"""Compare systems across benchmarks: a markdown table and PNG bar charts.

    sightsound compare runs/*/eval/*.json --out reports/compare [--names pretrained label_sft ...]

Reads ``eval`` results files (control results files are found through the main file's
``controls`` and shown beside its score; a control file passed directly is shown as its own
column). Writes ``DIR/compare.md`` (overall accuracy per system and benchmark with its Wilson 95 %
interval and the controls; the **paired differences** of every system against every baseline on
the same items, with a paired-bootstrap 95 % interval and McNemar's exact p; then one table per
benchmark and breakdown field), ``DIR/compare.json`` (the same numbers), ``DIR/overall.png`` and
``DIR/<benchmark>_<field>.png``. Systems are ordered as in the paper: pretrained, label-only SFT,
label-only GRPO, CoT SFT, SightSound-R1, then any others. The per-item verdicts for the paired
tests come from each results file's predictions file (``<results>.predictions.json`` beside it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sightsound.evaluate.compare import compare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results JSON files written by 'sightsound eval' (or 'score')")
    parser.add_argument("--out", required=True, help="output folder for compare.md, compare.json and PNG charts")
    parser.add_argument("--names", nargs="+", help="system names, one per results file (default: the 'system' "
                                                   "recorded by eval, else the file's folder name)")


def run(args: argparse.Namespace) -> int:
    out = compare(args.results, args.out, args.names)
    text = Path(out["markdown"]).read_text(encoding="utf-8")
    # The overall table and the paired differences; the per-breakdown tables stay in the file.
    print("\n\n## ".join(part for i, part in enumerate(text.split("\n\n## "))
                         if i == 0 or part.startswith("Paired differences")))
    print(f"wrote {out['markdown']} and {len(out['charts'])} chart(s) in {args.out}")
    return 0
