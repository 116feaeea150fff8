"""Full-size smoke run of the paper's models on one GPU: student SFT + GRPO steps, teacher generation.

    python benchmarks/gpu_paper_smoke.py                      # one GPU: all three parts, JSON to benchmarks/results/
    python benchmarks/gpu_paper_smoke.py --parts teacher      # one part (sft | grpo | teacher)
    python benchmarks/gpu_paper_smoke.py --dry-run            # any machine: the plan and parameter counts (meta device)
    python benchmarks/gpu_paper_smoke.py --tiny               # CPU: the same code paths at tiny scale (tests)

Status: prepared, **not yet run on a GPU** (written 2026-11-30 on a CPU-only machine; its argument
handling and the tiny code paths are tested on CPU in tests/test_train_benchmarks.py).

Nothing is downloaded; weights are random, the architectures are the published configurations:

* ``sft``: Qwen2-Audio-7B (8.4 B) in bf16, LoRA SFT steps through the project's
  :class:`~sightsound.train.collator.AudioSFTCollator` (mel features of 10 s clips in every forward,
  loss on the assistant turn) and TRL's ``SFTTrainer``; peak memory, seconds per step, tokens/s.
* ``grpo``: the same student, GRPO steps through ``AudioGRPOTrainer`` (reuses
  ``benchmarks/gpu_grpo_7b.py``, which ran on an H100 on 2026-11-28).
* ``teacher``: Qwen2.5-VL at the largest size whose bf16 weights fit the GPU with headroom for the
  KV cache (``--teacher-size auto``: 72B needs 146 GiB, so an 80 GiB or 141 GiB card gets 32B), the
  paper's teacher request through the project's :class:`~sightsound.backends.hf.HFBackend`: 16
  frames, n=4 samples, ``--teacher-requests`` requests sequentially (batch 1) and batched (one
  ``generate`` call); tokens/s of each.

The result is one JSON (``--json``, default ``benchmarks/results/gpu_paper_smoke_<gpu>.json``) with
the GPU's name, the date and package versions; README's Scale-out section has the table to fill.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import re
import sys
import tempfile
import time
from pathlib import Path

# The repository's src/ when run from a checkout without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PARTS = ("sft", "grpo", "teacher")
# Qwen2.5-VL-{3,7,32,72}B-Instruct config.json (text model), as published.
QWEN25_VL_TEXT = {
    "3b": {"hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36, "num_attention_heads": 16,
           "num_key_value_heads": 2, "tie_word_embeddings": True},
    "7b": {"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
           "num_key_value_heads": 4, "tie_word_embeddings": False},
    "32b": {"hidden_size": 5120, "intermediate_size": 27648, "num_hidden_layers": 64, "num_attention_heads": 40,
            "num_key_value_heads": 8, "tie_word_embeddings": False},
    "72b": {"hidden_size": 8192, "intermediate_size": 29568, "num_hidden_layers": 80, "num_attention_heads": 64,
            "num_key_value_heads": 8, "tie_word_embeddings": False},
}
# The vision tower is the same at every size (675 M); only its output projection follows the LM width.
QWEN25_VL_VISION = {"depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "patch_size": 14,
                    "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
                    "fullatt_block_indexes": [7, 15, 23, 31]}
QWEN25_VL_VOCAB = 152064
# [ours] Weights may take this share of the GPU; the rest is KV cache for 4 x n=4 sequences of
# 16 frames (~1.3 k visual tokens each at 448 x 252) and activations.
WEIGHT_SHARE = 0.8


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ teacher
def teacher_config(size: str, tok=None):
    """Qwen2.5-VL config at ``size`` (3b|7b|32b|72b|tiny); token ids from ``tok`` (the project's BPE)."""
    from transformers import Qwen2_5_VLConfig

    from sightsound.models.tiny import mrope_section

    ids = (lambda t: tok.convert_tokens_to_ids(t)) if tok is not None else (lambda t: 151650)
    if size == "tiny":
        text = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "tie_word_embeddings": False}
        vision = dict(QWEN25_VL_VISION, depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                      fullatt_block_indexes=[1])
    else:
        text, vision = QWEN25_VL_TEXT[size], dict(QWEN25_VL_VISION)
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    vocab = max(QWEN25_VL_VOCAB if size != "tiny" else 0, len(tok) if tok is not None else 0)
    text_config = {**{k: v for k, v in text.items() if k != "tie_word_embeddings"}, "vocab_size": vocab,
                   "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
                   "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                                       "mrope_section": mrope_section(head_dim)}}
    return Qwen2_5_VLConfig(text_config=text_config, vision_config={**vision, "out_hidden_size": text["hidden_size"]},
                            image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
                            vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
                            tie_word_embeddings=text["tie_word_embeddings"])


def count_parameters(config) -> int:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        return sum(p.numel() for p in Qwen2_5_VLForConditionalGeneration(config).parameters())


def pick_teacher_size(gpu_gib: float, sizes: dict[str, int]) -> str | None:
    """The largest size whose bf16 weights take at most WEIGHT_SHARE of the GPU; None if none fits."""
    fitting = [s for s, n in sizes.items() if n * 2 / 2**30 <= WEIGHT_SHARE * gpu_gib]
    return max(fitting, key=sizes.get) if fitting else None


def random_model(model_class, config, cuda: bool):
    """Random weights straight into bf16 on the GPU (float32 on CPU): no float32 copy of a 33 B model."""
    import torch

    dtype = torch.bfloat16 if cuda else torch.float32
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cuda" if cuda else "cpu"):
            return model_class(config)
    finally:
        torch.set_default_dtype(default)


def _frames(k: int, width: int, height: int):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)) for _ in range(k)]


def run_teacher(args: argparse.Namespace, size: str) -> dict:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from sightsound.backends.base import GenerationRequest, SamplingParams
    from sightsound.backends.hf import HFBackend
    from sightsound.config import ModelSpec
    from sightsound.models.loading import load_processor
    from sightsound.models.tiny import build_tiny_model
    from sightsound.prompts import teacher_prompt

    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory() as tmp:
        # The project's offline tokenizer and image processor (the tiny teacher's), at full-size pixels.
        proc_dir = build_tiny_model("teacher", Path(tmp) / "proc")
        processor = load_processor(ModelSpec(name_or_path=str(proc_dir), architecture="qwen2_5_vl"), "qwen2_5_vl")
    processor.image_processor.max_pixels = args.frame_width * args.frame_height
    processor.image_processor.min_pixels = 56 * 56
    config = teacher_config(size, processor.tokenizer)
    t0 = time.perf_counter()
    model = random_model(Qwen2_5_VLForConditionalGeneration, config, cuda)
    model.eval()
    tok = processor.tokenizer
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tok.pad_token_id
    init_s = time.perf_counter() - t0
    frames = _frames(args.frames, args.frame_width, args.frame_height)
    choices = ["dog", "cat", "violin", "drum"]
    reqs = [GenerationRequest(id=f"t{i}", text=teacher_prompt(f"Which object makes the sound? ({i})", choices),
                              images=frames, sampling=SamplingParams(n=args.teacher_n, temperature=1.0,
                                                                     max_new_tokens=args.teacher_tokens, seed=i))
            for i in range(args.teacher_requests)]
    out: dict = {"size": size, "parameters": sum(p.numel() for p in model.parameters()), "init_seconds": round(init_s, 1),
                 "frames": args.frames, "frame_pixels": [args.frame_width, args.frame_height], "n": args.teacher_n,
                 "requests": args.teacher_requests, "max_new_tokens": args.teacher_tokens}
    for mode, batch in (("sequential", 1), ("batched", args.teacher_requests)):
        spec = ModelSpec(name_or_path=f"random-qwen2.5-vl-{size}", architecture="qwen2_5_vl", frames_as="images",
                         batch_size=batch)
        backend = HFBackend(spec, model=model, processor=processor, progress=False)
        backend.generate(reqs[:1])  # warm-up
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        results = backend.generate(reqs)
        if cuda:
            torch.cuda.synchronize()
        secs = time.perf_counter() - t
        bad = [r.error for r in results if not r.ok]
        if bad:
            raise RuntimeError(f"teacher generation failed: {bad[:2]}")
        tokens = sum(g.num_tokens for r in results for g in r.generations)
        out[mode] = {"seconds": round(secs, 3), "completion_tokens": tokens, "tokens_per_second": round(tokens / secs, 1),
                     "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}
    out["batched_speedup"] = round(out["sequential"]["seconds"] / out["batched"]["seconds"], 2)
    del model
    if cuda:
        torch.cuda.empty_cache()
    return out


# -------------------------------------------------------------------------------------- student SFT
def run_sft(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import Qwen2AudioForConditionalGeneration
    from trl import SFTConfig, SFTTrainer

    from sightsound.prompts import student_prompt
    from sightsound.train.collator import AudioSFTCollator

    grpo7b = _bench_module("gpu_grpo_7b")
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    processor = grpo7b.build_processor(args.tiny)
    tok = processor.tokenizer
    config = grpo7b.build_config(args.tiny, tok.convert_tokens_to_ids("<|AUDIO|>"), len(tok))
    model = random_model(Qwen2AudioForConditionalGeneration, config, cuda)
    clips = grpo7b.synthetic_clips(args.sft_batch * (args.sft_steps + 1), args.clip_seconds)
    choices = ["dog", "cat", "violin", "drum"]
    think = " ".join(["I hear a steady tone with a bright attack and a long decay."] * 8)  # ~100 tokens of CoT
    rows = [{"id": f"s{i}", "audio": path, "messages": [
        {"role": "user", "content": [{"type": "audio", "path": path},
                                     {"type": "text", "text": student_prompt("What makes the sound?", choices)}]},
        {"role": "assistant", "content": [{"type": "text", "text":
            f"<think> {think} </think> <answer> The correct answer is: {'ABCD'[i % 4]}. {choices[i % 4]} </answer>"}]}]}
        for i, path in enumerate(clips)]
    collator = AudioSFTCollator(processor, clips.__getitem__, max_length=2048, feature_dtype=dtype)
    steps: list[dict] = []
    sft_args = SFTConfig(output_dir=str(Path(args.out_dir) / "gpu_paper_smoke_sft"), max_steps=args.sft_steps,
                         per_device_train_batch_size=args.sft_batch, learning_rate=1e-5, logging_steps=1,
                         save_strategy="no", report_to="none", bf16=cuda, gradient_checkpointing=not args.tiny,
                         remove_unused_columns=False, dataset_kwargs={"skip_prepare_dataset": True}, max_length=None,
                         use_cpu=not cuda, seed=0)
    lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0,
                      target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
    trainer = SFTTrainer(model=model, args=sft_args, data_collator=collator, train_dataset=Dataset.from_list(rows),
                         processing_class=processor, peft_config=lora, callbacks=[grpo7b.step_timer(steps, cuda)])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    timed, tokens, secs = grpo7b.timed_steps(steps)
    result = {"parameters": sum(p.numel() for p in model.parameters()),
              "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
              "steps": len(steps), "batch": args.sft_batch, "clip_seconds": args.clip_seconds,
              "seconds_per_step": round(secs / len(timed), 3), "tokens_per_second": round(sum(tokens) / secs, 1),
              "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
              "per_step": steps}
    del trainer, model
    if cuda:
        torch.cuda.empty_cache()
    return result


# ---------------------------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=list(PARTS), help=f"which parts, in order (of: {' '.join(PARTS)})")
    p.add_argument("--tiny", action="store_true", help="tiny models of the same architectures (CPU test of the code paths)")
    p.add_argument("--dry-run", action="store_true", help="only the plan and parameter counts (meta device)")
    p.add_argument("--teacher-size", default="auto", help="3b | 7b | 32b | 72b | auto (largest that fits)")
    p.add_argument("--gpu-gib", type=float, help="GPU memory for --teacher-size auto (default: the GPU's own)")
    p.add_argument("--frames", type=int, default=16, help="frames per teacher request (the paper's 16)")
    p.add_argument("--frame-width", type=int, default=448)
    p.add_argument("--frame-height", type=int, default=252)
    p.add_argument("--teacher-n", type=int, default=4, help="samples per request (the paper's n=4)")
    p.add_argument("--teacher-requests", type=int, default=4)
    p.add_argument("--teacher-tokens", type=int, default=256, help="max new tokens per teacher sample")
    p.add_argument("--sft-steps", type=int, default=4)
    p.add_argument("--sft-batch", type=int, default=4)
    p.add_argument("--grpo-steps", type=int, default=4)
    p.add_argument("--clip-seconds", type=float, default=10.0, help="student clips (AVQA: 10 s)")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--out-dir", default="runs/bench", help="scratch folder for the trainers (nothing is saved)")
    p.add_argument("--json", help="result file (default benchmarks/results/gpu_paper_smoke_<gpu>.json; "
                                  "none with --tiny or --dry-run unless given)")
    args = p.parse_args(argv)
    unknown = [x for x in args.parts if x not in PARTS]
    if unknown or len(set(args.parts)) != len(args.parts):
        p.error(f"--parts: each of {', '.join(PARTS)} at most once, got {' '.join(args.parts)}")
    if args.teacher_size not in (*QWEN25_VL_TEXT, "auto"):
        p.error(f"--teacher-size must be one of {', '.join(QWEN25_VL_TEXT)} or auto, got {args.teacher_size!r}")
    for name in ("frames", "frame_width", "frame_height", "teacher_n", "teacher_requests", "teacher_tokens",
                 "sft_steps", "sft_batch", "grpo_steps", "lora_r"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.clip_seconds <= 0 or (args.gpu_gib is not None and args.gpu_gib <= 0):
        p.error("--clip-seconds and --gpu-gib must be > 0")
    if args.tiny:  # CPU-sized defaults; explicit values still win where given
        for name, tiny_default, full_default in (("clip_seconds", 2.0, 10.0), ("teacher_tokens", 8, 256),
                                                 ("frames", 4, 16), ("frame_width", 112, 448),
                                                 ("frame_height", 112, 252), ("sft_steps", 2, 4),
                                                 ("sft_batch", 2, 4), ("grpo_steps", 2, 4)):
            if getattr(args, name) == full_default:
                setattr(args, name, tiny_default)
    return args


def _gpu() -> tuple[str | None, float | None]:
    import torch

    if not torch.cuda.is_available():
        return None, None
    props = torch.cuda.get_device_properties(0)
    return props.name, props.total_memory / 2**30


def plan(args: argparse.Namespace) -> dict:
    """What would run: the teacher size chosen and the parameter counts (meta device, no allocation)."""
    gpu, gib = _gpu()
    gib = args.gpu_gib or gib
    wanted = [] if args.tiny else list(QWEN25_VL_TEXT) if args.teacher_size == "auto" else [args.teacher_size]
    sizes = {s: count_parameters(teacher_config(s)) for s in wanted}
    chosen = args.teacher_size if args.teacher_size != "auto" else (pick_teacher_size(gib, sizes) if gib else None)
    return {"gpu": gpu, "gpu_gib": round(gib, 1) if gib else None, "parts": args.parts,
            "teacher_parameters": sizes, "teacher_bf16_gib": {s: round(n * 2 / 2**30, 1) for s, n in sizes.items()},
            "teacher_size": "tiny" if args.tiny else chosen}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from sightsound.runinfo import package_versions

    if not (args.dry_run or args.tiny) and _gpu()[0] is None:
        raise SystemExit("no GPU: run with --tiny (CPU, tiny scale) or --dry-run")
    info = plan(args)
    result: dict = {"date": datetime.date.today().isoformat(), "plan": info, "packages": package_versions()}
    if args.dry_run:
        print(json.dumps(info, indent=2))
        return result
    if "teacher" in args.parts and info["teacher_size"] is None:
        raise SystemExit(f"no Qwen2.5-VL size fits {info['gpu_gib']} GiB in bf16")
    for part in args.parts:
        t0 = time.perf_counter()
        if part == "sft":
            result["sft"] = run_sft(args)
        elif part == "grpo":
            grpo_argv = ["--steps", str(args.grpo_steps), "--clip-seconds", str(args.clip_seconds),
                         "--lora-r", str(args.lora_r), "--out-dir", args.out_dir] + (["--tiny", "--generations", "2",
                                                                                       "--no-grad-ckpt"] if args.tiny else [])
            grpo7b = _bench_module("gpu_grpo_7b")
            result["grpo"] = grpo7b.run(grpo7b.parse_args(grpo_argv))
        else:
            result["teacher"] = run_teacher(args, info["teacher_size"])
        print(f"{part}: done in {time.perf_counter() - t0:.1f} s", flush=True)
    summary = {k: ({kk: vv for kk, vv in v.items() if kk != "per_step"} if isinstance(v, dict) else v)
               for k, v in result.items() if k != "packages"}
    print(json.dumps(summary, indent=2))
    out = args.json
    if out is None and not args.tiny:
        slug = re.sub(r"[^a-z0-9]+", "_", (info["gpu"] or "cpu").lower()).strip("_")
        out = str(Path(__file__).resolve().parent / "results" / f"gpu_paper_smoke_{slug}.json")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
