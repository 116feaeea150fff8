"""``sightsound experiment --out DIR [--seeds N]``: the paper's comparison on SightSound-mini, over several seeds.

The systems of ``sightsound run`` trained on SightSound-mini, each over ``--seeds`` training seeds,
evaluated on the held-out synthetic test split; reports mean ± standard deviation and a paired
comparison per seed. The teacher's traces, the verifier's verdicts and the training sets are made
once and shared by every seed (:mod:`sightsound.mini.experiment`).

Models: the recipe's ``assets/mini/<role>`` (the demo's) means the shipped SightSound-mini
checkpoint; any other ``models.<role>.name_or_path`` is used as given, e.g. a candidate student
tried on the validation split: ``--eval-split validation models.student.name_or_path=DIR``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sightsound.config import load_recipe
from sightsound.demo import DEMO_RECIPE
from sightsound.mini.experiment import EVAL_SPLITS, run_experiment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="recipe (default configs/demo.yaml)")
    parser.add_argument("--seeds", type=int, default=5, help="training seeds (default 5)")
    parser.add_argument("--out", required=True, help="experiment directory (one run directory per seed inside)")
    parser.add_argument("--eval-split", choices=EVAL_SPLITS, default="test",
                        help="evaluate on the held-out test split (the reported table) or on the validation "
                             "split, where settings such as GRPO's are tuned [ours] (default test)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="seeds trained at once in separate processes after seed 0's shared stages "
                             "[ours] (default 1; 2 uses both cores of a 2-core machine)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per seed (default: torch's own with --jobs 1, else cores / jobs); "
                             "recorded in results.json: a seed's exact results depend on it")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted recipe overrides")


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.config or DEMO_RECIPE, args.overrides)
    summary = run_experiment(recipe, args.seeds, args.out, eval_split=args.eval_split, jobs=args.jobs,
                             threads=args.threads)
    print((Path(args.out) / "results.md").read_text(encoding="utf-8"))
    print(f"{summary['seconds']} s; results in {args.out}/results.json")
    return 0
