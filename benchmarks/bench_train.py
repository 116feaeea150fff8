"""CPU benchmark of Step 3 on a ~6 M-parameter tiny Qwen2-Audio student (one torch thread).

    python benchmarks/bench_train.py [--grpo-steps 6] [--sft-steps 10] [--repeats 5] [--json out.json]

Prints:
- SFT samples per second (batch 8, end to end through ``train_sft``: collator with audio, LoRA
  forward/backward, optimizer);
- GRPO steps per minute (1 prompt x 4 completions x 64 new tokens, through ``train_grpo``);
- the overhead of the audio subclass against stock TRL ``GRPOTrainer`` on the same batch: the same
  prompts, completions and advantages scored by both (a whole ``_generate_and_score_completions`` +
  loss + backward, and the policy loss forward/backward alone), as a time ratio. Stock TRL is
  cheaper only because it skips the audio encoder in its log-prob forwards (which is its bug).

The student: hidden 256, 4 text layers, 2 encoder layers of width 256 (``build_tiny_model`` size
overrides). Step times come from the trainer's own ``train_runtime`` (model loading excluded).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SIZES = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 1024, "audio_d_model": 256, "audio_layers": 2, "audio_heads": 4, "audio_ffn_dim": 1024,
             "chunk_length": 4}


def build_student(root: Path) -> Path:
    from sightsound.models.tiny import build_tiny_model

    return build_tiny_model("student", root / "student", seed=0, **SIZES)


def make_sets(root: Path, n: int = 16) -> tuple[Path, Path]:
    """n clips (3 s tones + noise) and the pinned SFT / GRPO sets over them."""
    import numpy as np

    from sightsound.media import save_wav
    from sightsound.prompts import student_prompt

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    sft, grpo = [], []
    choices = ["dog", "cat", "violin", "drum"]
    for i in range(n):
        clip = save_wav(root / "audio" / f"c{i}.wav",
                        0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t) + 0.05 * rng.standard_normal(t.size))
        user = {"role": "user", "content": [{"type": "audio", "path": str(clip)},
                                            {"type": "text", "text": student_prompt("What makes the sound?", choices)}]}
        sol = i % 4
        answer = (f"<think> I hear a {choices[sol]} on the left, then silence. </think> "
                  f"<answer> The correct answer is: {'ABCD'[sol]}. {choices[sol]} </answer>")
        common = {"id": f"r{i}", "audio": str(clip), "question": "What makes the sound?", "choices": choices,
                  "solution": sol}
        sft.append({**common, "messages": [user, {"role": "assistant", "content": [{"type": "text", "text": answer}]}]})
        grpo.append({**common, "prompt": [user]})
    paths = root / "sft.jsonl", root / "grpo.jsonl"
    for path, rows in zip(paths, (sft, grpo)):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return paths


def bench_sft(student: Path, sft_set: Path, root: Path, steps: int) -> dict:
    from sightsound.config import load_recipe
    from sightsound.train.sft import train_sft

    rec = load_recipe(None, [f"models.student.name_or_path={student}", f"sft.train_file={sft_set}",
                             f"sft.output_dir={root / 'sft'}", f"sft.max_steps={steps}",
                             "sft.per_device_train_batch_size=8", "sft.save_steps=100000", "sft.logging_steps=1000",
                             "sft.resume=never"])
    result = train_sft(rec)
    runtime = result.trainer.state.log_history[-1]["train_runtime"]
    return {"sft_samples_per_s": round(steps * 8 / runtime, 2), "sft_steps": steps, "sft_batch": 8,
            "sft_runtime_s": runtime}


def bench_grpo(student: Path, grpo_set: Path, root: Path, steps: int) -> dict:
    from sightsound.config import load_recipe
    from sightsound.train.grpo import train_grpo

    rec = load_recipe(None, [f"models.student.name_or_path={student}", f"grpo.train_file={grpo_set}",
                             f"grpo.output_dir={root / 'grpo'}", f"grpo.max_steps={steps}",
                             "grpo.per_device_train_batch_size=4", "grpo.num_generations=4",
                             "grpo.max_completion_length=64", "grpo.save_steps=100000", "grpo.logging_steps=1000",
                             "grpo.resume=never"])
    result = train_grpo(rec)
    runtime = result.trainer.state.log_history[-1]["train_runtime"]
    return {"grpo_steps_per_min": round(steps * 60 / runtime, 1), "grpo_steps": steps,
            "grpo_shape": "1 prompt x 4 completions x 64 tokens", "grpo_runtime_s": runtime}


def _trainer(cls, student: Path, grpo_set: Path, root: Path):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig

    from sightsound.config import LoraSpec
    from sightsound.models.loading import load_model
    from sightsound.rewards import build_reward_funcs
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer, _audio_token_as_image_token
    from sightsound.train.common import lora_config
    from sightsound.train.data import load_grpo_rows

    torch.manual_seed(0)
    model, processor = load_model(str(student), for_training=True)
    rows = load_grpo_rows(grpo_set)
    funcs, _weights = build_reward_funcs(["format", "accuracy"])
    args = GRPOConfig(output_dir=str(root / cls.__name__), per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=64, beta=0.04, report_to="none", save_strategy="no", use_cpu=True,
                      bf16=False, activation_checkpointing=False, remove_unused_columns=False, seed=0)
    kw = {"model": model, "args": args, "processing_class": processor, "reward_funcs": funcs,
              "train_dataset": Dataset.from_list(rows), "peft_config": lora_config(LoraSpec())}
    if cls is AudioGRPOTrainer:
        trainer = cls(**kw)
    else:  # what stock TRL needs to run at all (see tests/test_train_grpo.py)
        processor.chat_template = processor.chat_template.replace(
            "'audio' in content or 'audio_url' in content", "content['type'] == 'audio'")
        with _audio_token_as_image_token(model, processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")):
            trainer = cls(**kw)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    return trainer, [rows[0]] * 4


def bench_overhead(student: Path, grpo_set: Path, root: Path, repeats: int) -> dict:
    """Same prompts, same seed per round, same loss: ours vs stock TRL, rounds interleaved.

    Interleaving (stock, ours, ours, stock, ...) exposes both to the same machine load, which
    matters on a shared 2-core box.
    """
    import torch
    from trl import GRPOTrainer

    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer

    trainers = {name: _trainer(cls, student, grpo_set, root)
                for name, cls in (("stock", GRPOTrainer), ("audio", AudioGRPOTrainer))}
    times = {name: {"step": [], "loss": []} for name in trainers}
    for r in range(repeats + 1):
        order = ["stock", "audio"] if r % 2 else ["audio", "stock"]
        for name in order:
            trainer, inputs = trainers[name]
            torch.manual_seed(r)
            t0 = time.perf_counter()
            batch = trainer._generate_and_score_completions([dict(x) for x in inputs])
            batch["advantages"] = torch.tensor([1.0, -1.0, 0.5, -0.5])
            t1 = time.perf_counter()
            trainer.compute_loss(trainer.model, batch).backward()
            t2 = time.perf_counter()
            trainer.model.zero_grad(set_to_none=True)
            if r:  # round 0 warms up
                times[name]["step"].append(t2 - t0)
                times[name]["loss"].append(t2 - t1)
    out = {}
    for part in ("step", "loss"):
        stock, ours = statistics.median(times["stock"][part]), statistics.median(times["audio"][part])
        out[f"{part}_seconds_stock"] = round(stock, 4)
        out[f"{part}_seconds_audio"] = round(ours, 4)
        out[f"{part}_ratio_audio_over_stock"] = round(ours / stock, 3)
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sft-steps", type=int, default=10)
    p.add_argument("--grpo-steps", type=int, default=6)
    p.add_argument("--repeats", type=int, default=5, help="rounds of the overhead comparison (median)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: comparable on a shared machine)")
    p.add_argument("--skip", nargs="*", default=[], choices=["sft", "grpo", "overhead"])
    p.add_argument("--json", help="also write the numbers here")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        student = build_student(root)
        n_params = json.loads((student / "tiny_model.json").read_text())["num_parameters"]
        sft_set, grpo_set = make_sets(root)
        result: dict = {"student_parameters": n_params, "torch_threads": args.threads, **SIZES}
        if "sft" not in args.skip:
            result.update(bench_sft(student, sft_set, root, args.sft_steps))
        if "grpo" not in args.skip:
            result.update(bench_grpo(student, grpo_set, root, args.grpo_steps))
        if "overhead" not in args.skip:
            result.update(bench_overhead(student, grpo_set, root, args.repeats))
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
