"""SFT and audio GRPO in 2 processes (``accelerate launch``, gloo on CPU) on the tiny Qwen2-Audio.

One launch of ``tests/dist_train_driver.py`` (start-up is most of the cost) runs, in the same two
processes: SFT for 2 steps, the same SFT resumed from its checkpoint to step 3, and GRPO for 2
steps. Each rank dumps what its forwards received; the test checks

* SFT: the loss and the saved adapter equal a single-process run on the same global batch (2 x 1
  rows vs 1 x 2 rows; transformers averages the token loss across processes) within float tolerance,
  before and after the 2-process resume;
* GRPO: every log-prob and generation forward of each rank had audio features, each rank's rows
  carry the features of *its own* clips (a group straddles the two ranks), and the advantages each
  rank trained on are the group-normalised rewards of the gathered group.

GRPO's loss is not compared with a single-process run: each process samples its completions with
its own random stream, so the two runs train on different completions (the advantages check is
the distributed part that must be right).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _train_helpers import (
    assert_audio_in_every_grpo_forward,
    assert_audio_in_every_sft_forward,
    grpo_rows,
    make_clips,
    recipe,
    sft_rows,
    write_jsonl,
)

ROOT = Path(__file__).resolve().parents[1]
LORA = {"r": 4, "alpha": 8, "dropout": 0.0}
SFT = {"per_device_train_batch_size": 1, "learning_rate": 0.05, "logging_steps": 1, "save_steps": 1,
       "warmup_ratio": 0.0, "lr_scheduler_type": "constant", "lora": LORA}
# 2 ranks x 3 rows = 3 prompts x 2 completions per step: prompt B's group straddles the ranks.
GRPO = {"max_steps": 2, "per_device_train_batch_size": 3, "num_generations": 2, "max_completion_length": 6,
        "learning_rate": 0.05, "beta": 0.0, "save_steps": 100, "logging_steps": 1, "reward_funcs": ["text_hash"],
        "reward_weights": [1.0], "temperature": 1.0, "lora": LORA}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dumps(prefix: Path) -> list[dict]:
    return [json.loads(Path(f"{prefix}.rank{r}.json").read_text()) for r in range(2)]


def _losses(log_history: list[dict]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in log_history if "loss" in e}


def _adapter(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(path / "adapter_model.safetensors")


def _assert_same_adapter(a: Path, b: Path, atol: float = 1e-5) -> None:
    x, y = _adapter(a), _adapter(b)
    assert x.keys() == y.keys() and x
    worst = max(float((x[k] - y[k]).abs().max()) for k in x)
    assert worst < atol, f"adapters differ by {worst}"


@pytest.fixture(scope="module")
def launched(tiny_models_dir, tmp_path_factory):
    """One 2-process launch: SFT (2 steps), SFT resumed to 3, GRPO (2 steps)."""
    tmp = tmp_path_factory.mktemp("dist")
    clips = make_clips(tmp / "audio", 4)
    sft_file, grpo_file = write_jsonl(tmp / "sft.jsonl", sft_rows(clips)), write_jsonl(tmp / "grpo.jsonl", grpo_rows(clips))
    sft = {**SFT, "train_file": str(sft_file), "output_dir": str(tmp / "sft2")}
    plan = [{"stage": "sft", "section": {**sft, "max_steps": 2}, "dump": str(tmp / "sft_a")},
            {"stage": "sft", "section": {**sft, "max_steps": 3}, "dump": str(tmp / "sft_b")},
            {"stage": "grpo", "section": {**GRPO, "train_file": str(grpo_file), "output_dir": str(tmp / "grpo2")},
             "dump": str(tmp / "grpo")}]
    (tmp / "plan.json").write_text(json.dumps(plan))
    env = _env()
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "configs/accelerate/cpu_ddp.yaml"), "--main_process_port", str(_free_port()),
           str(ROOT / "tests/dist_train_driver.py"), "--student", str(tiny_models_dir / "student"),
           "--plan", str(tmp / "plan.json")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"tmp": tmp, "sft": sft, "student": tiny_models_dir / "student", "grpo_file": grpo_file,
            "sft_file": sft_file}


def _env(*extra_paths: str) -> dict:
    paths = [str(ROOT / "src"), *extra_paths, os.environ.get("PYTHONPATH")]
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


@pytest.fixture(scope="module")
def single(launched):
    """One process, the same global batch (2 rows per step), the same seed: steps 1-3, a checkpoint each."""
    from sightsound.train.sft import train_sft

    tmp = launched["tmp"]
    one = {**launched["sft"], "per_device_train_batch_size": 2, "output_dir": str(tmp / "sft1"), "max_steps": 3}
    lora = one.pop("lora")
    rec = recipe(launched["student"], sft=one)
    rec.sft.lora.r, rec.sft.lora.alpha, rec.sft.lora.dropout = lora["r"], lora["alpha"], lora["dropout"]
    torch.set_num_threads(1)
    result = train_sft(rec)
    return {"dir": tmp / "sft1", "losses": _losses(result.trainer.state.log_history)}


@pytest.mark.slow
def test_two_process_sft_matches_one_process_on_the_same_global_batch_and_resumes(launched, single):
    tmp = launched["tmp"]
    first, resumed = _dumps(tmp / "sft_a"), _dumps(tmp / "sft_b")
    assert [d["world_size"] for d in first] == [2, 2] and [d["rank"] for d in first] == [0, 1]
    assert all(d["distributed_type"] == "DistributedType.MULTI_CPU" and d["wrapper"] == "DistributedDataParallel"
               for d in first)
    for d in first:
        assert_audio_in_every_sft_forward(d["calls"])
    # The two ranks saw different clips (their features differ) in the same step.
    sums = [{c["features_sum"] for c in d["calls"] if c["grad"]} for d in first]
    assert sums[0].isdisjoint(sums[1])

    ref = single["losses"]
    two = _losses(first[0]["log_history"])
    assert sorted(two) == [1, 2] and all(abs(two[s] - ref[s]) < 1e-4 for s in two), (two, ref)
    _assert_same_adapter(tmp / "sft2" / "checkpoint-2", tmp / "sft1" / "checkpoint-2")

    # Resumed in 2 processes from checkpoint-2: continues at step 3 and lands where one uninterrupted process did.
    assert resumed[0]["global_step"] == 3
    assert sorted(_losses(resumed[0]["log_history"])) == [1, 2, 3]  # the checkpoint's history + step 3
    assert abs(_losses(resumed[0]["log_history"])[3] - ref[3]) < 1e-4
    _assert_same_adapter(tmp / "sft2" / "adapter", tmp / "sft1" / "adapter")


@pytest.mark.slow
def test_two_process_grpo_keeps_each_ranks_audio_and_normalises_over_the_gathered_group(launched):
    dumps = _dumps(launched["tmp"] / "grpo")
    assert [d["global_step"] for d in dumps] == [2, 2]
    for d in dumps:
        assert_audio_in_every_grpo_forward(d["calls"], expect_reference=False, expect_old=False)
    # Each rank's rows carry its own clips' features: one value per clip, the same on both ranks.
    feature_of: dict[str, float] = {}
    for d in dumps:
        for b in d["batches"]:
            for clip, value in zip(b["clips"], b["features_sum"], strict=True):
                assert feature_of.setdefault(clip, value) == pytest.approx(value, rel=1e-6), clip
    assert len(set(feature_of.values())) == len(feature_of)  # distinct clips, distinct features
    steps = list(zip(dumps[0]["batches"], dumps[1]["batches"], dumps[0]["rewards"], dumps[1]["rewards"], strict=True))
    straddling = 0
    for b0, b1, r0, r1 in steps:
        assert b0["ids"] != b1["ids"] and r0["ids"] == b0["ids"] and r1["ids"] == b1["ids"]
        ids, rewards = b0["ids"] + b1["ids"], r0["values"] + r1["values"]
        straddling += len(set(b0["ids"]) & set(b1["ids"]))
        # TRL's group normalisation over the gathered completions (scale_rewards=group, std + 1e-4).
        expected = []
        for i, rid in enumerate(ids):
            group = [r for r, g in zip(rewards, ids) if g == rid]
            assert len(group) == GRPO["num_generations"]
            expected.append((rewards[i] - statistics.fmean(group)) / (statistics.stdev(group) + 1e-4))
        assert b0["advantages"] + b1["advantages"] == pytest.approx(expected, abs=1e-4)
    assert straddling >= 1  # some group's completions were split across the two processes


@pytest.mark.slow
@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_deepspeed_zero_configs_train_on_cpu_like_one_process(zero, launched, single, tmp_path):
    """The shipped ZeRO-2/3 accelerate configs, 2 processes on CPU (DeepSpeed's CPU accelerator, gloo).

    DeepSpeed is not a dependency (GPU machines install it); without it this test is skipped. It ran
    with deepspeed 0.19.8 installed outside the project's environment (see README, Scale-out).
    """
    deepspeed = pytest.importorskip("deepspeed")
    section = {**launched["sft"], "max_steps": 2, "save_steps": 100, "output_dir": str(tmp_path / "run")}
    plan = [{"stage": "sft", "section": section, "dump": str(tmp_path / "dump")}]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    extra = [str(Path(deepspeed.__file__).parents[1])]  # wherever deepspeed was found, the ranks find it too
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / f"configs/accelerate/{zero}.yaml"), "--num_processes", "2", "--mixed_precision", "no",
           "--main_process_port", str(_free_port()), str(ROOT / "tests/dist_train_driver.py"),
           "--student", str(launched["student"]), "--plan", str(tmp_path / "plan.json")]
    proc = subprocess.run(cmd, env=_env(*extra), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    dumps = _dumps(tmp_path / "dump")
    assert all(d["distributed_type"] == "DistributedType.DEEPSPEED" and d["wrapper"] == "DeepSpeedEngine"
               for d in dumps)
    losses = _losses(dumps[0]["log_history"])
    assert all(abs(losses[s] - single["losses"][s]) < 1e-4 for s in losses)
    _assert_same_adapter(tmp_path / "run" / "adapter", single["dir"] / "checkpoint-2")


def test_a_finished_command_closes_the_process_group_a_launcher_opened(tmp_path):
    """Left open, gloo's threads can abort a rank at interpreter exit after its work is saved (SIGABRT:
    'terminate called without an active exception'), and ``accelerate launch`` reports the run failed."""
    import torch.distributed as dist

    from sightsound.train.common import close_process_group

    close_process_group()  # nothing opened: a no-op
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    assert dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()
    # The CLI closes it after a command that succeeded (here a cheap one; `accelerate launch -m
    # sightsound sft` takes the same path).
    from sightsound.cli import main

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store2'}", rank=0, world_size=1)
    assert main(["export-stage-config", str(ROOT / "configs" / "demo.yaml"), "--stage", "train/cot_sft",
                 "--to", str(tmp_path / "cot_sft.yaml"), "--out", str(tmp_path / "run")]) == 0
    assert not dist.is_initialized()
