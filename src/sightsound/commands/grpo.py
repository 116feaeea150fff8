"""Step 3b: GRPO of the audio student with format + accuracy rewards and a KL reference.

    sightsound grpo --config STAGE.yaml [grpo.max_steps=200 ...]   (STAGE.yaml: sightsound export-stage-config)
    accelerate launch --config_file configs/accelerate/ddp.yaml -m sightsound grpo --config STAGE.yaml

TRL's GRPOTrainer with the audio in generation and in every log-prob forward (policy, old policy,
reference). It starts from the pretrained student (``grpo.init_adapter`` unset) or from an SFT
adapter, which keeps training (``grpo.init_mode: continue``, the KL is to the SFT model) or is
merged under a new LoRA (``merge``). Rewards come from ``grpo.reward_funcs`` with weights.
Checkpoints every ``save_steps``; a rerun resumes from the last complete one (``grpo.resume``).
Writes ``metrics.jsonl`` (loss, rewards per function, KL, completion lengths), ``checkpoint-N/``,
``adapter/``, optional ``merged/``, the resolved config.
"""

from __future__ import annotations

import argparse

from sightsound.commands.sft import add_training_arguments, train_from_args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_arguments(parser, "grpo")


def run(args: argparse.Namespace) -> int:
    from sightsound.train.grpo import train_grpo

    result = train_from_args(args, "grpo", train_grpo)
    print(f"GRPO done at step {result.global_step}: adapter {result.adapter_dir}")
    return 0
