"""The recipe's training sections and the TRL configs built from them.

A section's TRL-named keys are fields of TRL's own config and go through unchanged; loss and
scheduler names are the ones TRL and transformers accept; an unknown key is refused with one line
naming it; the shipped recipes give TRL the values they gave before the keys were passed through.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import typing
from pathlib import Path

import pytest

from sightsound.config import ConfigError, GRPOSection, LossType, SchedulerType, SFTSection, load_recipe

ROOT = Path(__file__).resolve().parents[1]

# What TRL got from the shipped recipes when every field was copied by hand (bf16 and use_cpu
# follow the machine and are checked apart).
SFT_DEMO = {"learning_rate": 0.002, "num_train_epochs": 5.0, "max_steps": -1, "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1, "warmup_steps": 0.03, "lr_scheduler_type": "cosine",
            "logging_steps": 5, "save_strategy": "steps", "save_steps": 1000, "save_total_limit": 2, "seed": 0,
            "activation_checkpointing": False, "report_to": [], "remove_unused_columns": False,
            "dataset_kwargs": {"skip_prepare_dataset": True}, "max_length": None}
SFT_PAPER = {**SFT_DEMO, "learning_rate": 1e-4, "num_train_epochs": 2.0, "per_device_train_batch_size": 4,
             "gradient_accumulation_steps": 4, "logging_steps": 10, "save_steps": 200,
             "activation_checkpointing": True}
GRPO_PAPER = {"learning_rate": 1e-5, "max_steps": 1000, "per_device_train_batch_size": 8,
              "gradient_accumulation_steps": 1, "steps_per_generation": 1, "num_generations": 8, "num_iterations": 1,
              "temperature": 1.0, "top_p": 1.0, "beta": 0.04, "epsilon": 0.2, "loss_type": "dapo",
              "scale_rewards": "group", "reward_weights": [1.0, 1.0], "max_completion_length": 512,
              "lr_scheduler_type": "constant", "warmup_steps": 0.0, "max_grad_norm": 1.0, "logging_steps": 1,
              "log_completions": False, "save_strategy": "steps", "save_steps": 100, "save_total_limit": 2,
              "seed": 0, "activation_checkpointing": True, "report_to": [], "remove_unused_columns": False}
# The demo's GRPO values were tuned on the validation split (docs/experiment/grpo_tuning.md).
GRPO_DEMO = {**GRPO_PAPER, "learning_rate": 5e-5, "beta": 0.1, "max_steps": 40, "num_generations": 16, "temperature": 0.4,
             "per_device_train_batch_size": 16, "max_completion_length": 96, "logging_steps": 5, "save_steps": 1000, "activation_checkpointing": False}
R1_AQA = {"loss_type": "grpo", "lr_scheduler_type": "linear"}
EXPECTED = {"demo/sft": SFT_DEMO, "paper/sft": SFT_PAPER, "demo/grpo": GRPO_DEMO, "paper/grpo": GRPO_PAPER,
            "demo/r1_aqa": {**GRPO_DEMO, **R1_AQA},
            "paper/r1_aqa": {**GRPO_PAPER, **R1_AQA, "max_completion_length": 256}}


def _trl_args(name: str, tmp_path: Path):
    from sightsound.pipeline import Layout, stage_recipe
    from sightsound.rewards import build_reward_funcs
    from sightsound.train.grpo import grpo_args
    from sightsound.train.sft import sft_args

    recipe_name, stage = name.split("/")
    recipe = load_recipe(ROOT / "configs" / f"{recipe_name}.yaml")
    if stage == "r1_aqa":
        _, recipe = stage_recipe(recipe, Layout(tmp_path), "r1_aqa")
    if stage == "sft":
        return sft_args(recipe)
    return grpo_args(recipe, build_reward_funcs(recipe.grpo.reward_funcs, recipe.grpo.reward_weights)[1])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_recipes_give_trl_the_same_values(name, tmp_path):
    import torch

    got = _trl_args(name, tmp_path).to_dict()
    assert {k: got[k] for k in EXPECTED[name]} == EXPECTED[name]
    assert got["bf16"] is torch.cuda.is_available() and got["use_cpu"] is not torch.cuda.is_available()


@pytest.mark.parametrize("key", ["sft.no_such_key", "grpo.wramup_ratio", "sft.lora.rank"])
def test_an_unknown_training_key_is_refused_naming_it(key, capsys):
    from sightsound.cli import main

    with pytest.raises(ConfigError) as err:
        load_recipe(None, [f"{key}=1"])
    assert str(err.value).startswith(f"unknown config key '{key}'") and "\n" not in str(err.value)
    assert main([key.split(".")[0], f"{key}=1"]) == 2  # the command says it in one line, before any model loads
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"'{key}'" in lines[0]


def test_trl_keys_are_fields_of_trls_configs():
    """Each section's TRL_KEYS exist on both sides; a TRL name a section keeps for itself is listed here."""
    from trl import GRPOConfig, SFTConfig

    own = {"output_dir": "a run folder of its own", "bf16": "None: on GPU only", "report_to": "[]: none",
           "gradient_checkpointing": "transformers 5's activation_checkpointing"}
    for section, trl_cls, also_own in ((SFTSection, SFTConfig, {"max_length"}),  # the collator's
                                       (GRPOSection, GRPOConfig, {"reward_weights"})):  # checked per reward
        ours = {f.name for f in dataclasses.fields(section)}
        theirs = {f.name for f in dataclasses.fields(trl_cls)}
        assert set(section.TRL_KEYS) <= ours & theirs
        assert ours & theirs - set(section.TRL_KEYS) == set(own) | also_own


def test_loss_and_scheduler_names_are_the_ones_trl_accepts():
    from transformers.trainer_utils import SchedulerType as HFSchedulerType
    from trl import GRPOConfig

    assert set(typing.get_args(SchedulerType)) == {s.value for s in HFSchedulerType}
    loss_help = next(f for f in dataclasses.fields(GRPOConfig) if f.name == "loss_type").metadata["help"]
    supported = loss_help.split("Supported values are ")[1].split(". ")[0]
    assert set(typing.get_args(LossType)) == set(re.findall(r"'(\w+)'", supported))
    for key, bad in (("grpo.loss_type", "dapoo"), ("r1_aqa.loss_type", "GRPO"), ("sft.lr_scheduler_type", "cosin"),
                     ("grpo.lr_scheduler_type", "linear_decay")):
        with pytest.raises(ConfigError, match=f"^{re.escape(key)}: expected one of"):
            load_recipe(None, [f"{key}={bad}"])


def test_warmup_ratio_is_a_share_of_the_steps(tmp_path):
    from sightsound.train.sft import sft_args

    recipe = load_recipe(None, ["sft.warmup_ratio=0.1", f"output_dir={tmp_path}"])
    assert sft_args(recipe).get_warmup_steps(200) == 20
    for section in ("sft", "grpo"):
        for bad in ("1", "1.5", "-0.1", ".nan"):  # transformers would read 1 or more as a number of steps
            with pytest.raises(ConfigError, match=f"^{section}.warmup_ratio: .* 0 <= warmup_ratio < 1"):
                load_recipe(None, [f"{section}.warmup_ratio={bad}"])


def test_library_train_modules_do_not_import_the_command_line():
    for path in sorted((ROOT / "src" / "sightsound" / "train").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m in ("sightsound.cli", "sightsound.commands")
                    or m.startswith("sightsound.commands.")], path.name
    assert "sightsound.train.sft" not in (ROOT / "src" / "sightsound" / "train" / "grpo.py").read_text()
