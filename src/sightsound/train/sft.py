"""Step 3a: LoRA SFT of the audio student on the distilled chains of thought, audio in the loss.

    sightsound sft --config STAGE.yaml [sft.max_steps=100 ...]   (STAGE.yaml: sightsound export-stage-config)
    accelerate launch --config_file configs/accelerate/zero2.yaml -m sightsound.train.sft --config RECIPE

Built on TRL's ``SFTTrainer`` (trl==1.16.0) with PEFT LoRA on the language model only; the
:class:`~sightsound.train.collator.AudioSFTCollator` runs the processor per batch so every forward
gets ``input_features``, and the loss covers the assistant turn only. Every clip is decoded once
before step 1 (a bad file stops the run, listing all offenders). Checkpoints every ``save_steps``;
a rerun resumes from the last complete one (``sft.resume``). Writes to ``sft.output_dir``:
``metrics.jsonl``, ``checkpoint-N/``, ``adapter/`` (adapter_model.safetensors + processor),
``merged/`` with ``sft.merge=true``, ``resolved_config.yaml`` and ``run_info.json``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightsound.config import Recipe

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    output_dir: Path
    adapter_dir: Path | None
    merged_dir: Path | None
    global_step: int
    trainer: Any  # the TRL trainer; its model holds the trained weights


def sft_output_dir(recipe: Recipe) -> Path:
    return Path(recipe.sft.output_dir or Path(recipe.output_dir) / "sft")


def train_sft(recipe: Recipe, callbacks: list | None = None, load_audio=None) -> TrainResult:
    """Run SFT as the recipe says; returns where the adapter went and the trainer."""
    import torch
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    from sightsound.train.audio import AudioCache, validate_audio
    from sightsound.train.collator import AudioSFTCollator
    from sightsound.train.common import (
        count_parameters,
        load_student,
        lora_config,
        metrics_callback,
        resolve_resume,
        save_outputs,
        student_spec,
        use_bf16,
        write_run_info,
    )
    from sightsound.train.data import load_sft_rows

    cfg = recipe.sft
    out = sft_output_dir(recipe)
    if not cfg.train_file:
        raise ValueError("sft.train_file is empty: point it at the SFT set written by build-sft")
    set_seed(cfg.seed)

    rows = load_sft_rows(cfg.train_file, cfg.target)
    if cfg.validate_audio:
        validate_audio([r["audio"] for r in rows], where=cfg.train_file)

    spec = student_spec(recipe, cfg.model)
    model, processor = load_student(spec)
    from sightsound.models.loading import resolve_architecture

    collator = AudioSFTCollator(processor, load_audio or AudioCache(processor.feature_extractor.sampling_rate),
                                max_length=cfg.max_length, arch=resolve_architecture(spec),
                                feature_dtype=model.dtype)
    args = TRLSFTConfig(
        output_dir=str(out),
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a value below 1 is a ratio of the total steps
        lr_scheduler_type=cfg.lr_scheduler_type,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        bf16=use_bf16(cfg.bf16),
        # transformers 5 renamed it; the old name warns (FutureWarning) on every run.
        activation_checkpointing=cfg.gradient_checkpointing,
        report_to=list(cfg.report_to) or "none",
        # The collator needs the raw rows (messages, audio): no TRL tokenisation, no column pruning.
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,  # the collator truncates, never into the audio
        use_cpu=not torch.cuda.is_available(),
    )
    trainer = SFTTrainer(
        model=model, args=args, data_collator=collator, train_dataset=Dataset.from_list(rows),
        processing_class=processor, peft_config=lora_config(cfg.lora) if cfg.use_lora else None,
        callbacks=[metrics_callback(out), *(callbacks or [])],
    )
    params = count_parameters(trainer.model)
    if trainer.is_world_process_zero():
        write_run_info(out, recipe, {"stage": "sft", "student": spec.name_or_path, "train_file": cfg.train_file,
                                     "examples": len(rows), "parameters": params})
    log.info("SFT on %d examples, %d of %d parameters trainable", len(rows), params["trainable"], params["total"])

    trainer.train(resume_from_checkpoint=resolve_resume(cfg.resume, out))
    paths = save_outputs(trainer, processor, out, cfg.merge, base_spec=spec)
    return TrainResult(out, Path(paths["adapter"]) if "adapter" in paths else None,
                       Path(paths["merged"]) if "merged" in paths else None, trainer.state.global_step, trainer)


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sightsound.train.common import add_train_arguments

    add_train_arguments(parser, "sft")


def run(args: argparse.Namespace) -> int:
    from sightsound.train.common import output_dir_lock, recipe_from_train_args

    recipe = recipe_from_train_args(args, "sft")
    with output_dir_lock(sft_output_dir(recipe)):
        result = train_sft(recipe)
    print(f"SFT done at step {result.global_step}: adapter {result.adapter_dir}"
          + (f", merged model {result.merged_dir}" if result.merged_dir else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m sightsound.train.sft`` (what ``accelerate launch -m`` runs)."""
    from sightsound.cli import main as cli_main

    return cli_main(["sft", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
