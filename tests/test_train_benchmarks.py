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


# ----------------------------------------------------------------- gpu_paper_smoke.py
def test_gpu_paper_smoke_arguments():
    smoke = _load("gpu_paper_smoke")
    args = smoke.parse_args([])
    assert args.parts == ["sft", "grpo", "teacher"] and args.frames == 16 and args.teacher_n == 4
    assert args.clip_seconds == 10.0 and args.teacher_size == "auto"
    tiny = smoke.parse_args(["--tiny", "--frames", "3"])
    assert tiny.clip_seconds == 2.0 and tiny.frames == 3  # tiny defaults, explicit values kept
    for bad in (["--parts", "sft", "dpo"], ["--parts", "sft", "sft"], ["--teacher-size", "13b"],
                ["--frames", "0"], ["--teacher-n", "-1"], ["--clip-seconds", "0"], ["--gpu-gib", "-5"]):
        with pytest.raises(SystemExit) as exc:
            smoke.parse_args(bad)
        assert exc.value.code == 2, bad
    # auto: the largest Qwen2.5-VL whose bf16 weights take <= 80 % of the card.
    sizes = {"3b": 3.75e9, "7b": 8.29e9, "32b": 33.4e9, "72b": 73.4e9}
    assert smoke.pick_teacher_size(141, sizes) == "32b" and smoke.pick_teacher_size(80, sizes) == "32b"
    assert smoke.pick_teacher_size(24, sizes) == "7b" and smoke.pick_teacher_size(4, sizes) is None
    assert smoke.pick_teacher_size(200, sizes) == "72b"


def test_gpu_paper_smoke_dry_run_counts_the_published_sizes_and_refuses_cpu_full_size():
    smoke = _load("gpu_paper_smoke")
    result = smoke.main(["--dry-run", "--teacher-size", "3b"])
    assert 3.7e9 < result["plan"]["teacher_parameters"]["3b"] < 3.8e9  # Qwen2.5-VL-3B: 3.75 B
    assert result["plan"]["teacher_size"] == "3b" and "sft" not in result
    with pytest.raises(SystemExit, match="no GPU"):
        smoke.main(["--parts", "sft", "--teacher-size", "3b"])


def test_gpu_paper_smoke_runs_sft_and_teacher_at_tiny_scale_on_cpu(tmp_path):
    smoke = _load("gpu_paper_smoke")
    result = smoke.main(["--tiny", "--parts", "teacher", "sft", "--teacher-requests", "2", "--sft-steps", "2",
                         "--out-dir", str(tmp_path), "--json", str(tmp_path / "r.json")])
    teacher, sft = result["teacher"], result["sft"]
    assert teacher["size"] == "tiny" and teacher["n"] == 4
    for mode in ("sequential", "batched"):
        assert teacher[mode]["completion_tokens"] > 0 and teacher[mode]["tokens_per_second"] > 0
    assert sft["steps"] == 2 and sft["tokens_per_second"] > 0 and sft["trainable_parameters"] < sft["parameters"]
    assert (tmp_path / "r.json").is_file() and "date" in result
