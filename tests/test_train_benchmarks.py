"""The Step 3 benchmark scripts run (tiny scale, CPU): the GPU script's code path and the 7B config."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_grpo_7b_config_is_qwen2_audio_7b():
    gpu = _load("gpu_grpo_7b")
    args = gpu.parse_args(["--dry-run"])
    assert args.steps == 4 and args.completion_len == 128 and not args.tiny
    config = gpu.build_config(tiny=False, audio_token_id=151646)
    assert config.text_config.hidden_size == 4096 and config.text_config.num_hidden_layers == 32
    assert config.text_config.vocab_size == 156032 and config.audio_config.d_model == 1280
    assert config.audio_config.encoder_layers == 32 and config.audio_config.max_source_positions == 1500
    n = gpu.count_parameters_meta(config)  # no allocation: meta device
    assert 8.2e9 < n < 8.6e9  # Qwen2-Audio-7B: 8.4 B parameters


def test_gpu_grpo_7b_runs_at_tiny_scale_on_cpu(tmp_path):
    gpu = _load("gpu_grpo_7b")
    result = gpu.main(["--tiny", "--steps", "2", "--generations", "2", "--no-grad-ckpt",
                       "--out-dir", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert result["steps"] == 2 and result["tokens_per_second"] > 0 and result["device"] == "cpu"
    assert result["per_step"][-1]["num_tokens"] > result["per_step"][0]["num_tokens"]
    assert (tmp_path / "r.json").is_file()


@pytest.mark.slow
def test_bench_train_overhead_only(tmp_path):
    bench = _load("bench_train")
    result = bench.main(["--skip", "sft", "grpo", "--repeats", "1", "--json", str(tmp_path / "b.json")])
    assert 4e6 < result["student_parameters"] < 8e6
    assert result["step_ratio_audio_over_stock"] > 0 and result["loss_ratio_audio_over_stock"] > 0
