"""``sightsound export-stage-config RECIPE --stage train/<system> --to FILE [--out RUN] [key=value ...]``.

Writes the recipe the pipeline itself would train ``<system>`` with (its ``sft``/``grpo`` section
pointing at the run directory's training set, output folder and starting adapter), for a launcher::

    sightsound export-stage-config configs/paper.yaml --stage train/cot_sft --to cot_sft.yaml
    accelerate launch --config_file configs/accelerate/zero2.yaml -m sightsound sft --config cot_sft.yaml

So multi-GPU training reads the same numbers as ``sightsound run`` (no hand-kept copy to drift),
and writes where ``run`` looks: a later ``sightsound run`` re-enters that stage, whose trainer
resumes from the checkpoint in its output folder. The run sets the stage's training file, output
folder and starting adapter; an override of one of them is refused (to train other files, give them
to ``sightsound sft``/``grpo`` directly).
"""

from __future__ import annotations

import argparse

from sightsound.cli import add_recipe_arguments
from sightsound.config import load_recipe
from sightsound.stage_config import export_stage_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="the run's recipe YAML")
    parser.add_argument("--out", help="run directory (default: the recipe's output_dir)")
    parser.add_argument("--stage", required=True, help="train/<system>")
    parser.add_argument("--to", required=True, help="the YAML to write")
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe, args.overrides)
    run_dir = args.out or recipe.output_dir
    print(f"wrote {export_stage_config(recipe, run_dir, args.stage, args.to)}")
    return 0
