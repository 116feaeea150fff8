"""Step 3b: GRPO of the audio student with format + accuracy rewards and a KL reference.

    sightsound grpo --config STAGE.yaml [grpo.max_steps=200 ...]   (STAGE.yaml: sightsound export-stage-config)
    accelerate launch --config_file configs/accelerate/ddp.yaml -m sightsound.train.grpo --config RECIPE

Built on TRL's ``GRPOTrainer`` through :class:`~sightsound.train.audio_grpo_trainer.AudioGRPOTrainer`,
so the audio is used in generation *and* in every log-prob forward (policy, old policy, reference).

Where it starts (``grpo.init_adapter`` / ``grpo.init_mode``):
- no adapter: the pretrained student plus a new LoRA (label-only GRPO: ``label_grpo`` and the R1-AQA
  baseline ``r1_aqa``); the KL reference is the pretrained student (adapter disabled);
- ``continue``: the SFT adapter keeps training; TRL keeps a frozen copy of it as the reference, so
  the KL is to the SFT model;
- ``merge``: the SFT adapter is merged into the weights and a new LoRA is trained on top; the
  reference (adapter disabled) is again the SFT model.

Rewards come from :mod:`sightsound.rewards` by name with weights. Checkpoints every ``save_steps``;
a rerun resumes from the last complete one. Writes ``metrics.jsonl`` (loss, rewards per function,
KL, completion lengths), ``checkpoint-N/``, ``adapter/``, optional ``merged/``, the resolved config.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sightsound.config import GRPOConfig, Recipe
from sightsound.train.sft import TrainResult

log = logging.getLogger(__name__)


def grpo_output_dir(recipe: Recipe) -> Path:
    return Path(recipe.grpo.output_dir or Path(recipe.output_dir) / "grpo")


def resolve_adapter(path: str) -> Path:
    """An adapter directory: the path itself, or the ``adapter/`` inside an SFT run directory."""
    p = Path(path)
    for candidate in (p, p / "adapter"):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise FileNotFoundError(f"grpo.init_adapter: no adapter_config.json in {p} or {p / 'adapter'}")


def build_policy(recipe: Recipe, cfg: GRPOConfig):
    """``(model, processor, peft_config, spec)`` for the chosen start (pretrained, continue, merge)."""
    from sightsound.train.common import load_student, lora_config, student_spec

    spec = student_spec(recipe, cfg.model)
    model, processor = load_student(spec)
    if not cfg.init_adapter:
        return model, processor, (lora_config(cfg.lora) if cfg.use_lora else None), spec
    from peft import PeftModel

    adapter = resolve_adapter(cfg.init_adapter)
    log.info("starting from SFT adapter %s (%s)", adapter, cfg.init_mode)
    if cfg.init_mode == "continue":
        # The adapter keeps its own rank/targets; grpo.lora does not apply.
        return PeftModel.from_pretrained(model, str(adapter), is_trainable=True), processor, None, spec
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return merged, processor, (lora_config(cfg.lora) if cfg.use_lora else None), spec


def train_grpo(recipe: Recipe, callbacks: list | None = None, load_audio=None) -> TrainResult:
    """Run GRPO as the recipe says; returns where the adapter went and the trainer."""
    import torch
    from datasets import Dataset
    from transformers import set_seed
    from trl import GRPOConfig as TRLGRPOConfig

    from sightsound.rewards import build_reward_funcs
    from sightsound.train.audio import validate_audio
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer
    from sightsound.train.common import (
        count_parameters,
        metrics_callback,
        resolve_resume,
        save_outputs,
        use_bf16,
        write_run_info,
    )
    from sightsound.train.data import load_grpo_rows

    cfg = recipe.grpo
    out = grpo_output_dir(recipe)
    if not cfg.train_file:
        raise ValueError("grpo.train_file is empty: point it at the GRPO prompt set written by build-sft")
    funcs, weights = build_reward_funcs(cfg.reward_funcs, cfg.reward_weights)
    set_seed(cfg.seed)

    rows = load_grpo_rows(cfg.train_file)
    if cfg.validate_audio:
        validate_audio([r["audio"] for r in rows], where=cfg.train_file)

    model, processor, peft_config, spec = build_policy(recipe, cfg)
    args = TRLGRPOConfig(
        output_dir=str(out),
        learning_rate=cfg.learning_rate,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        steps_per_generation=cfg.steps_per_generation,
        num_generations=cfg.num_generations,
        num_iterations=cfg.num_iterations,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        beta=cfg.beta,
        epsilon=cfg.epsilon,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        reward_weights=weights,
        max_completion_length=cfg.max_completion_length,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a value below 1 is a ratio of the total steps
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps,
        log_completions=cfg.log_completions,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        bf16=use_bf16(cfg.bf16),
        # transformers 5 renamed it; the old name warns (FutureWarning) on every run.
        activation_checkpointing=cfg.gradient_checkpointing,
        report_to=list(cfg.report_to) or "none",
        remove_unused_columns=False,  # rewards read solution/choices columns
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = AudioGRPOTrainer(
        model=model, args=args, processing_class=processor, reward_funcs=funcs,
        train_dataset=Dataset.from_list(rows), peft_config=peft_config, load_audio=load_audio,
        max_prompt_length=cfg.max_prompt_length, callbacks=[metrics_callback(out), *(callbacks or [])],
    )
    params = count_parameters(trainer.model)
    if trainer.is_world_process_zero():
        write_run_info(out, recipe, {"stage": "grpo", "student": spec.name_or_path, "train_file": cfg.train_file,
                                     "prompts": len(rows), "init_adapter": cfg.init_adapter,
                                     "init_mode": cfg.init_mode if cfg.init_adapter else "pretrained",
                                     "rewards": dict(zip(cfg.reward_funcs, weights)), "parameters": params})
    log.info("GRPO on %d prompts x %d completions, %d of %d parameters trainable", len(rows),
             cfg.num_generations, params["trainable"], params["total"])

    trainer.train(resume_from_checkpoint=resolve_resume(cfg.resume, out))
    merged_first = [str(resolve_adapter(cfg.init_adapter))] if cfg.init_adapter and cfg.init_mode == "merge" else []
    paths = save_outputs(trainer, processor, out, cfg.merge, base_spec=spec, base_adapters=merged_first)
    return TrainResult(out, Path(paths["adapter"]) if "adapter" in paths else None,
                       Path(paths["merged"]) if "merged" in paths else None, trainer.state.global_step, trainer)


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sightsound.train.common import add_train_arguments

    add_train_arguments(parser, "grpo")


def run(args: argparse.Namespace) -> int:
    from sightsound.train.common import output_dir_lock, recipe_from_train_args

    recipe = recipe_from_train_args(args, "grpo")
    with output_dir_lock(grpo_output_dir(recipe)):
        result = train_grpo(recipe)
    print(f"GRPO done at step {result.global_step}: adapter {result.adapter_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m sightsound.train.grpo`` (what ``accelerate launch -m`` runs)."""
    from sightsound.cli import main as cli_main

    return cli_main(["grpo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
