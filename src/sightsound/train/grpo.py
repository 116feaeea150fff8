"""Step 3b: GRPO of the audio student with format + accuracy rewards and a KL reference.

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

import logging
from pathlib import Path

from sightsound.config import GRPOSection, Recipe
from sightsound.train.common import TrainResult

log = logging.getLogger(__name__)


def resolve_adapter(path: str) -> Path:
    """An adapter directory: the path itself, or the ``adapter/`` inside an SFT run directory."""
    p = Path(path)
    for candidate in (p, p / "adapter"):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    raise FileNotFoundError(f"grpo.init_adapter: no adapter_config.json in {p} or {p / 'adapter'}")


def build_policy(recipe: Recipe, cfg: GRPOSection):
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


def grpo_args(recipe: Recipe, reward_weights: list[float]):
    """TRL's ``GRPOConfig`` for the recipe's ``grpo`` section (``reward_weights``: one per reward function)."""
    from trl import GRPOConfig

    from sightsound.train.common import output_dir, trl_config

    return trl_config(GRPOConfig, recipe.grpo, output_dir(recipe, "grpo"), reward_weights=reward_weights,
                      remove_unused_columns=False)  # rewards read the solution/choices columns


def train_grpo(recipe: Recipe, callbacks: list | None = None, load_audio=None) -> TrainResult:
    """Run GRPO as the recipe says; returns where the adapter went and the trainer."""
    from datasets import Dataset
    from transformers import set_seed

    from sightsound.rewards import build_reward_funcs
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer
    from sightsound.train.common import load_train_rows, metrics_callback, output_dir, train_and_save
    from sightsound.train.data import load_grpo_rows

    cfg = recipe.grpo
    out = output_dir(recipe, "grpo")
    funcs, weights = build_reward_funcs(cfg.reward_funcs, cfg.reward_weights)
    set_seed(cfg.seed)
    rows = load_train_rows(cfg, "grpo", "the GRPO prompt set", load_grpo_rows)

    model, processor, peft_config, spec = build_policy(recipe, cfg)
    trainer = AudioGRPOTrainer(
        model=model, args=grpo_args(recipe, weights), processing_class=processor, reward_funcs=funcs,
        train_dataset=Dataset.from_list(rows), peft_config=peft_config, load_audio=load_audio,
        max_prompt_length=cfg.max_prompt_length, callbacks=[metrics_callback(out), *(callbacks or [])],
    )
    merged_first = [str(resolve_adapter(cfg.init_adapter))] if cfg.init_adapter and cfg.init_mode == "merge" else []
    return train_and_save(
        trainer, processor, recipe, "grpo", spec,
        f"GRPO on {len(rows)} prompts x {cfg.num_generations} completions",
        {"prompts": len(rows), "init_adapter": cfg.init_adapter,
         "init_mode": cfg.init_mode if cfg.init_adapter else "pretrained",
         "rewards": dict(zip(cfg.reward_funcs, weights))},
        base_adapters=merged_first)
