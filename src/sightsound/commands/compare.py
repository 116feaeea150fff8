"""Compare systems across benchmarks: a markdown table, the paired tests and PNG bar charts.

    sightsound compare runs/*/eval/*.json --out reports/compare [--names pretrained label_sft ...]

Takes the results files of ``eval`` (or ``score``); each system's name is ``--names``, else the
``system`` its results record, else its folder's name. Writes ``compare.md`` (accuracies with 95 %
intervals and controls; every system against each baseline on the same items, with a
paired-bootstrap interval and McNemar's p; one table per breakdown), ``compare.json`` and the
charts into ``--out``, and prints the overall table and the paired differences.
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
