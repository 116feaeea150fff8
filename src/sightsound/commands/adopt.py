"""``sightsound adopt RECIPE --stage teach|verify --inputs SHARD.jsonl ... [--out RUN] [key=value ...]``.

Takes the outputs of ``sightsound teach/verify --shard i/N`` run elsewhere into the run directory.
Each shard must carry its ``.config.yaml`` (written beside it by teach/verify), and is refused
unless its fingerprint matches the run's: the recipe section (``teach`` or ``verify``, settings
that only change speed aside), the model (``name_or_path``, backend) and the data (every id is a
record of the run's data with the same question and options; for verify, a kept trace of the
run's traces). The shards are merged (duplicates and gaps refused), their stats recomputed, and
the stage recorded as complete in the manifest with the fingerprint ``run`` computes, so ``run``
skips it. Copying files into ``RUN/teach/`` by hand is not adoption: ``run`` would redo the stage.
"""

from __future__ import annotations

import argparse

from sightsound.cli import add_recipe_arguments
from sightsound.config import load_recipe
from sightsound.stage_config import adopt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="the run's recipe YAML")
    parser.add_argument("--out", help="run directory (default: the recipe's output_dir)")
    parser.add_argument("--stage", required=True, help="teach or verify")
    parser.add_argument("--inputs", nargs="+", required=True, metavar="SHARD",
                        help="the shard outputs (each with its .config.yaml)")
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    res = adopt(recipe, args.out, args.stage, args.inputs)
    print(f"adopted {res['shards']} shard(s), {res['rows']} rows -> {res['out']}; `sightsound run` skips {args.stage}")
    return 0
