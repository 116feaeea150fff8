"""``sightsound report RUN_DIR``: one static HTML page to browse a run's distillation.

Per record: the frames the teacher saw, an audio player, the question and options, the teacher's n
samples and the consistency verdict, the verifier's verdicts, and the student's answers per trained
system, with filters; the summary tables and plots of ``report.md`` sit at the top. The page needs
no server: it is one file that links the run's own media by relative path. It works on a partial
run too: missing stages simply show nothing.
"""

from __future__ import annotations

import argparse

from sightsound.cli import positive_int
from sightsound.report import build_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory written by 'sightsound run' or 'sightsound demo'")
    parser.add_argument("--out", help="output HTML path (default RUN_DIR/report.html)")
    parser.add_argument("--limit", type=positive_int, default=None, help="show at most this many records")


def run(args: argparse.Namespace) -> int:
    path = build_report(args.run_dir, out=args.out, limit=args.limit)
    print(f"report: {path}")
    return 0
