"""One-GPU benchmark: a few LoRA GRPO steps of a full-size, randomly initialised Qwen2-Audio-7B in bf16.

    python benchmarks/gpu_grpo_7b.py                    # H100/H200: ~2-3 minutes, prints peak memory and tokens/s
    python benchmarks/gpu_grpo_7b.py --dry-run          # CPU: build the full config on the meta device, count parameters
    python benchmarks/gpu_grpo_7b.py --tiny --steps 2   # CPU: the same code path at tiny scale (what the tests run)

Nothing is downloaded: the architecture is Qwen2-Audio-7B's published configuration (Whisper-large-v3
sized encoder: 32 layers, d_model 1280, 128 mel bins, 1500 positions; Qwen-7B sized language model:
32 layers, hidden 4096, MLP 11008, 32 heads, vocabulary 156032), with random weights, and the
tokenizer is the project's offline byte-level BPE (its ids are a subset of the 156032 rows). The
clips are synthetic 10 s waveforms in memory; the processor pads them to Whisper's 30 s window, as
for the real model. Training is the project's own path: ``AudioGRPOTrainer`` (TRL GRPO with audio
in generation and in every log-prob forward), PEFT LoRA on the language model, KL to the
adapter-disabled reference, gradient checkpointing.

Reported: peak GPU memory (allocated and reserved), seconds per step, and tokens per second, where
a step's tokens are prompt + completion tokens of all its completions (TRL's ``num_tokens``) and
the first step is excluded as warm-up.

Measured on one NVIDIA H100 80GB HBM3 (2026-11-28; torch 2.11 + CUDA 13, transformers 5.24, trl 1.16,
peft 0.21.2), ``--steps 3 --completion-len 96``: 8.40 B parameters, LoRA r=16 (40 M trainable),
1 prompt x 8 completions x 96 tokens, 10 s clips (305 prompt tokens, 250 of them audio),
gradient checkpointing, beta 0.04: peak 19.0 GiB allocated (19.8 GiB reserved), 9.6 s per step
(steps 2-3: 11.7 s and 7.5 s), 333 tokens/s (80 completion tokens/s). A random model earns no reward,
so the advantages and the loss are 0; the forward and backward passes run in full all the same.
Full output: ``benchmarks/results/gpu_grpo_7b_h100.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

# The repository's src/ when run from a checkout without `pip install -e .`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# Qwen2-Audio-7B(-Instruct) config.json, as published.
QWEN2_AUDIO_7B_TEXT = {
    "model_type": "qwen2", "vocab_size": 156032, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
}
QWEN2_AUDIO_7B_AUDIO = {
    "model_type": "qwen2_audio_encoder", "d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
    "encoder_ffn_dim": 5120, "num_mel_bins": 128, "max_source_positions": 1500, "activation_function": "gelu",
    "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "scale_embedding": False,
}
TINY_TEXT = dict(QWEN2_AUDIO_7B_TEXT, vocab_size=2048, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2)
TINY_AUDIO = dict(QWEN2_AUDIO_7B_AUDIO, d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                  max_source_positions=200)


def build_config(tiny: bool, audio_token_id: int, vocab_size: int | None = None):
    """Qwen2-Audio-7B's architecture (or its tiny twin); ``vocab_size`` at least the tokenizer's."""
    from transformers import Qwen2AudioConfig

    text = dict(TINY_TEXT if tiny else QWEN2_AUDIO_7B_TEXT)
    if vocab_size is not None:
        text["vocab_size"] = max(text["vocab_size"], vocab_size)
    return Qwen2AudioConfig(audio_config=dict(TINY_AUDIO if tiny else QWEN2_AUDIO_7B_AUDIO), text_config=text,
                            audio_token_index=audio_token_id)


def build_processor(tiny: bool):
    """Offline tokenizer (the project's BPE) + Whisper features: 30 s window full size, 4 s tiny."""
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor

    from sightsound.models.tiny import AUDIO_CHAT_TEMPLATE, build_tokenizer

    tok = build_tokenizer("student")
    fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=4 if tiny else 30,
                                 return_attention_mask=True)
    return Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tok, chat_template=AUDIO_CHAT_TEMPLATE)


def count_parameters_meta(config) -> int:
    """Parameters of the architecture without allocating them (meta device)."""
    import torch
    from transformers import Qwen2AudioForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2AudioForConditionalGeneration(config)
    return sum(p.numel() for p in model.parameters())


def synthetic_clips(n: int, seconds: float, seed: int = 0) -> dict[str, object]:
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return {f"mem://clip{i}.wav": (0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t)
                                   + 0.05 * rng.standard_normal(t.size)).astype(np.float32) for i in range(n)}


def step_timer(steps: list[dict], cuda: bool):
    """A TrainerCallback appending each step's seconds (GPU-synchronised) and logged token count to ``steps``."""
    import torch
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            steps.append({"step": state.global_step, "seconds": time.perf_counter() - self.t})

        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "num_tokens" in logs and steps:
                steps[-1].update(num_tokens=logs["num_tokens"], completion_len=logs.get("completions/mean_length"),
                                 loss=logs.get("loss"), kl=logs.get("kl"))
                mem = f", peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if cuda else ""
                print(f"step {steps[-1]['step']}: {steps[-1]['seconds']:.2f} s, num_tokens {logs['num_tokens']:.0f}"
                      f"{mem}", flush=True)

    return Timer()


def timed_steps(steps: list[dict]) -> tuple[list[dict], list[float], float]:
    """The steps timed (step 1 warms up kernels and the allocator), their token counts and seconds."""
    timed = steps[1:] if len(steps) > 1 else steps
    tokens = ([b["num_tokens"] - a["num_tokens"] for a, b in itertools.pairwise(steps)] if len(steps) > 1
              else [steps[0]["num_tokens"]])
    return timed, tokens, sum(s["seconds"] for s in timed)


def run(args: argparse.Namespace) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import Qwen2AudioForConditionalGeneration
    from trl import GRPOConfig

    from sightsound.prompts import student_prompt
    from sightsound.rewards import build_reward_funcs
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer

    torch.manual_seed(0)
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        raise SystemExit("no GPU: run with --tiny (CPU, tiny scale) or --dry-run")
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda and not args.fp32 else torch.float32

    processor = build_processor(args.tiny)
    tok = processor.tokenizer
    config = build_config(args.tiny, tok.convert_tokens_to_ids("<|AUDIO|>"), len(tok))
    t0 = time.perf_counter()
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise straight into bf16 on the GPU: no fp32 copy of 8B weights
    try:
        with device:
            model = Qwen2AudioForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tok.pad_token_id
    n_params = sum(p.numel() for p in model.parameters())
    init_s = time.perf_counter() - t0

    clips = synthetic_clips(args.prompts_per_step * (args.steps + 1), args.clip_seconds)
    choices = ["dog", "cat", "violin", "drum"]
    rows = [{"id": f"p{i}", "prompt": [{"role": "user", "content": [
        {"type": "audio", "path": path}, {"type": "text", "text": student_prompt("What makes the sound?", choices)}]}],
        "choices": choices, "solution": i % 4} for i, path in enumerate(clips)]
    funcs, weights = build_reward_funcs(["format", "accuracy"])
    per_device = args.prompts_per_step * args.generations
    grpo_args = GRPOConfig(
        output_dir=str(Path(args.out_dir) / "gpu_grpo_7b"), max_steps=args.steps, learning_rate=1e-5,
        per_device_train_batch_size=per_device, num_generations=args.generations,
        max_completion_length=args.completion_len, temperature=1.0, beta=0.04, reward_weights=weights,
        bf16=dtype == torch.bfloat16, activation_checkpointing=not args.no_grad_ckpt, logging_steps=1,
        save_strategy="no", report_to="none", remove_unused_columns=False, use_cpu=not cuda, seed=0,
        # Fixed completion length, so steps are comparable (a random model rarely samples <|im_end|>).
        generation_kwargs={"min_new_tokens": args.completion_len},
    )
    lora = LoraConfig(r=args.lora_r, lora_alpha=2 * args.lora_r, lora_dropout=0.0,
                      target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")

    steps: list[dict] = []
    trainer = AudioGRPOTrainer(model=model, args=grpo_args, processing_class=processor, reward_funcs=funcs,
                               train_dataset=Dataset.from_list(rows), peft_config=lora,
                               load_audio=clips.__getitem__, callbacks=[step_timer(steps, cuda)])
    print(f"model: {n_params / 1e9:.2f} B parameters, built in {init_s:.1f} s", flush=True)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()

    timed, tokens, secs = timed_steps(steps)
    result = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "architecture": "Qwen2-Audio-7B (random init)" if not args.tiny else "Qwen2-Audio tiny (random init)",
        "dtype": str(dtype).replace("torch.", ""),
        "parameters": n_params,
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "init_seconds": round(init_s, 1),
        "steps": len(steps),
        "completions_per_step": per_device,
        "completion_tokens": args.completion_len,
        "clip_seconds": args.clip_seconds,
        "seconds_per_step": round(secs / len(timed), 3),
        "tokens_per_second": round(sum(tokens) / secs, 1),
        "completion_tokens_per_second": round(per_device * args.completion_len * len(timed) / secs, 1),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "peak_gpu_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2) if cuda else None,
        "per_step": steps,
    }
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=4, help="GRPO steps (the first is warm-up; default 4)")
    p.add_argument("--generations", type=int, default=8, help="group size (completions per prompt; default 8)")
    p.add_argument("--prompts-per-step", type=int, default=1)
    p.add_argument("--completion-len", type=int, default=128, help="new tokens per completion (default 128)")
    p.add_argument("--clip-seconds", type=float, default=10.0, help="synthetic clip length (AVQA: 10 s)")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--no-grad-ckpt", action="store_true", help="disable gradient checkpointing")
    p.add_argument("--fp32", action="store_true", help="float32 instead of bf16 on the GPU")
    p.add_argument("--tiny", action="store_true", help="tiny model of the same architecture (CPU test)")
    p.add_argument("--dry-run", action="store_true", help="only build the config and count parameters (meta device)")
    p.add_argument("--out-dir", default="runs/bench", help="scratch folder for the trainer (nothing is saved)")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)
    if args.tiny and args.completion_len == 128:
        args.completion_len = 8
    if args.tiny and args.clip_seconds == 10.0:
        args.clip_seconds = 2.0
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.dry_run:
        config = build_config(args.tiny, audio_token_id=151646)
        n = count_parameters_meta(config)
        result = {"architecture": "Qwen2-Audio-7B" if not args.tiny else "tiny", "parameters": n,
                  "bf16_weights_gib": round(n * 2 / 2**30, 2)}
    else:
        result = run(args)
    summary = {k: v for k, v in result.items() if k != "per_step"}
    print(json.dumps(summary, indent=2))
    if "tokens_per_second" in result:
        print(f"\n{result['device']}: peak GPU memory {result['peak_gpu_memory_gib']} GiB allocated "
              f"({result['peak_gpu_reserved_gib']} GiB reserved), {result['tokens_per_second']} tokens/s, "
              f"{result['seconds_per_step']} s/step ({result['completions_per_step']} completions x "
              f"{result['completion_tokens']} tokens, {result['clip_seconds']} s clips)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
