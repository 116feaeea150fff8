"""Step 3a: LoRA SFT of the audio student on the distilled chains of thought, audio in the loss.

    sightsound sft --config STAGE.yaml [sft.max_steps=100 ...]   (STAGE.yaml: sightsound export-stage-config)
    accelerate launch --config_file configs/accelerate/zero2.yaml -m sightsound sft --config STAGE.yaml

TRL's SFTTrainer with PEFT LoRA on the language model only; every forward gets the clip's
``input_features``, and the loss covers the assistant turn only. Every clip is decoded once
before step 1 (a bad file stops the run, listing all offenders). Checkpoints every ``save_steps``;
a rerun resumes from the last complete one (``sft.resume``). Writes to ``sft.output_dir``:
``metrics.jsonl``, ``checkpoint-N/``, ``adapter/`` (adapter_model.safetensors + processor),
``merged/`` with ``sft.merge=true``, ``resolved_config.yaml`` and ``run_info.json``.
"""

from __future__ import annotations

import argparse


def add_training_arguments(parser: argparse.ArgumentParser, stage: str) -> None:
    """``--config``, overrides and ``--resume``: the command line ``sft`` and ``grpo`` share."""
    from sightsound.cli import add_recipe_arguments

    add_recipe_arguments(parser)
    parser.add_argument("--resume", metavar="CHECKPOINT|auto|never",
                        help=f"same as {stage}.resume=...: resume from this checkpoint (default: auto)")


def train_from_args(args: argparse.Namespace, stage: str, train):
    """``train(recipe)`` on the command's recipe (``--resume`` folded in as ``<stage>.resume``), one job
    per output directory."""
    from sightsound.cli import load_recipe_from_args
    from sightsound.train.common import output_dir, output_dir_lock

    if args.resume:
        args.overrides = [*(args.overrides or []), f"{stage}.resume={args.resume}"]
    recipe = load_recipe_from_args(args)
    with output_dir_lock(output_dir(recipe, stage)):
        return train(recipe)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(parser, "sft")


def run(args: argparse.Namespace) -> int:
    from sightsound.train.sft import train_sft

    result = train_from_args(args, "sft", train_sft)
    print(f"SFT done at step {result.global_step}: adapter {result.adapter_dir}"
          + (f", merged model {result.merged_dir}" if result.merged_dir else ""))
    return 0
