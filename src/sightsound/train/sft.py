"""Step 3a: LoRA SFT of the audio student on the distilled chains of thought, audio in the loss.

Built on TRL's ``SFTTrainer`` (trl==1.16.0) with PEFT LoRA on the language model only; the
:class:`~sightsound.train.collator.AudioSFTCollator` runs the processor per batch so every forward
gets ``input_features``, and the loss covers the assistant turn only. Every clip is decoded once
before step 1 (a bad file stops the run, listing all offenders). Checkpoints every ``save_steps``;
a rerun resumes from the last complete one (``sft.resume``). Writes to ``sft.output_dir``:
``metrics.jsonl``, ``checkpoint-N/``, ``adapter/`` (adapter_model.safetensors + processor),
``merged/`` with ``sft.merge=true``, ``resolved_config.yaml`` and ``run_info.json``.
"""

from __future__ import annotations

import logging

from sightsound.config import Recipe
from sightsound.train.common import TrainResult

log = logging.getLogger(__name__)


def sft_args(recipe: Recipe):
    """TRL's ``SFTConfig`` for the recipe's ``sft`` section."""
    from trl import SFTConfig

    from sightsound.train.common import output_dir, trl_config

    # The collator needs the raw rows (messages, audio): no TRL tokenisation, no column pruning; it
    # truncates too, never into the audio.
    return trl_config(SFTConfig, recipe.sft, output_dir(recipe, "sft"), remove_unused_columns=False,
                      dataset_kwargs={"skip_prepare_dataset": True}, max_length=None)


def train_sft(recipe: Recipe, callbacks: list | None = None, load_audio=None) -> TrainResult:
    """Run SFT as the recipe says; returns where the adapter went and the trainer."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTTrainer

    from sightsound.models.loading import resolve_architecture
    from sightsound.train.audio import AudioCache
    from sightsound.train.collator import AudioSFTCollator
    from sightsound.train.common import (
        load_student,
        load_train_rows,
        lora_config,
        metrics_callback,
        output_dir,
        student_spec,
        train_and_save,
    )
    from sightsound.train.data import load_sft_rows

    cfg = recipe.sft
    out = output_dir(recipe, "sft")
    set_seed(cfg.seed)
    rows = load_train_rows(cfg, "sft", "the SFT set", lambda path: load_sft_rows(path, cfg.target))

    spec = student_spec(recipe, cfg.model)
    model, processor = load_student(spec)
    collator = AudioSFTCollator(processor, load_audio or AudioCache(processor.feature_extractor.sampling_rate),
                                max_length=cfg.max_length, arch=resolve_architecture(spec),
                                feature_dtype=model.dtype)
    trainer = SFTTrainer(
        model=model, args=sft_args(recipe), data_collator=collator, train_dataset=Dataset.from_list(rows),
        processing_class=processor, peft_config=lora_config(cfg.lora) if cfg.use_lora else None,
        callbacks=[metrics_callback(out), *(callbacks or [])],
    )
    return train_and_save(trainer, processor, recipe, "sft", spec, f"SFT on {len(rows)} examples",
                          {"examples": len(rows)})
