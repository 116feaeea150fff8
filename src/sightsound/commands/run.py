"""``sightsound run RECIPE.yaml``: the whole SightSound-R1 pipeline into one run directory.

data -> teach -> verify -> build-sft -> train (each system) -> eval (each system x benchmark) ->
results, report. Every stage is fingerprinted: a rerun skips what is done, resumes what was
interrupted and redoes what changed. Checks data, media, endpoints, models and disk first
(``--preflight`` stops after them). The run directory's layout and the systems compared: README.md
("Run directory") and src/sightsound/pipeline.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sightsound.cli import add_recipe_arguments
from sightsound.config import ConfigError, load_recipe
from sightsound.pipeline import check_run_directory, preflight, run_pipeline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="recipe YAML (configs/demo.yaml, configs/paper.yaml, ...)")
    parser.add_argument("--out", help="run directory (default: the recipe's output_dir)")
    check = parser.add_mutually_exclusive_group()
    check.add_argument("--preflight", action="store_true",
                       help="only check data, media, endpoints, models and disk, print the plan, and exit (1 on a problem)")
    check.add_argument("--no-preflight", action="store_true", help="skip the checks that run before every run")
    add_run_arguments(parser)
    add_recipe_arguments(parser)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``--overwrite`` and ``--no-retry-errors``, shared by ``run`` and ``demo``."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a run of another recipe in --out, and remove (not move aside to *.prev) "
                             "the outputs of stages whose config changed")
    parser.add_argument("--no-retry-errors", dest="retry_errors", action="store_false",
                        help="keep the error entries of incomplete stages instead of retrying them")


def run(args: argparse.Namespace) -> int:
    path = args.recipe or args.config
    if not path:
        raise ConfigError("give a recipe: sightsound run configs/demo.yaml [key=value ...]")
    recipe = load_recipe(path, args.overrides)
    out = Path(args.out or recipe.output_dir)
    # Another recipe's run in --out is refused before anything else (run_pipeline checks again under the lock).
    check_run_directory(recipe, out, args.overwrite)
    if not args.no_preflight:
        pf = preflight(recipe, out)
        print(pf.render(), flush=True)
        if pf.problems:
            print(f"sightsound run: preflight failed ({len(pf.problems)} problem(s)); nothing was run",
                  file=sys.stderr)
            return 1
        if args.preflight:
            return 0
    results = run_pipeline(recipe, args.out, retry_errors=args.retry_errors, overwrite=args.overwrite)
    print((out / "report.md").read_text(encoding="utf-8"))
    print(f"run directory: {out}  ({results['seconds']} s; skipped up-to-date stages: {results['stages_skipped']})")
    print_incomplete(results)
    if results["failures"]:
        print(f"sightsound run: FAILED ({len(results['failures'])}):", file=sys.stderr)
        for line in results["failures"]:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def print_incomplete(results: dict) -> None:
    if results.get("stages_incomplete"):
        print("incomplete stages (error entries; rerun to retry them): "
              + ", ".join(f"{k} ({v})" for k, v in results["stages_incomplete"].items()))
