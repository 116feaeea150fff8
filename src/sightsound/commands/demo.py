"""``sightsound demo [--quick] --out DIR``: the whole SightSound-R1 pipeline on a CPU, end to end.

It takes the SightSound-mini checkpoints (small models of the real architectures trained here on
the synthetic world: a vision teacher, an audio fact-checker, an audio student) when they are
available, else tiny *random* models of the same architectures built offline; makes synthetic
data; runs teach -> verify -> build-sft -> SFT/GRPO for every system -> eval; and prints the table.
The recipe is ``configs/demo.yaml`` with :data:`sightsound.demo.FULL` (more SFT epochs for its small
verified set); ``--quick`` shrinks records and steps instead.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from sightsound.commands.run import add_run_arguments, print_incomplete
from sightsound.config import ConfigError, load_recipe
from sightsound.demo import DEMO_RECIPE, FULL, QUICK, demo_models
from sightsound.pipeline import run_pipeline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    parser.add_argument("--quick", action="store_true", help="the short version (< 3 minutes on 2 CPU cores)")
    parser.add_argument("--tiny-random", action="store_true",
                        help="use tiny random models even when SightSound-mini checkpoints are available")
    parser.add_argument("--config", default=str(DEMO_RECIPE), help="recipe (default configs/demo.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted recipe overrides")
    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not Path(args.config).is_file():
        raise ConfigError(f"demo recipe not found: {args.config} (run from a source checkout, or pass --config)")
    out = Path(args.out)
    t0 = time.time()
    models, origin = demo_models(out, prefer_mini=not args.tiny_random)
    overrides = (QUICK if args.quick else FULL) + [
        f"output_dir={out}",
        f"models.teacher.name_or_path={models['teacher']}",
        f"models.verifier.name_or_path={models['verifier']}",
        f"models.student.name_or_path={models['student']}",
    ] + list(args.overrides)
    recipe = load_recipe(args.config, overrides)
    results = run_pipeline(recipe, out, retry_errors=args.retry_errors, overwrite=args.overwrite)
    print((out / "report.md").read_text(encoding="utf-8"))
    print_incomplete(results)
    print(f"models: {origin}; run directory: {out}; report: {out / 'report.html'}; "
          f"{time.time() - t0:.0f} s in all")
    return 0
