"""LoRA SFT of the tiny audio student: collator, smoke, audio in the loss, merge, resume, bad audio, CLI.

Also stock TRL ``SFTTrainer`` failing the audio-in-every-forward check (so that check can fail).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch

torch.set_num_threads(1)

from _train_helpers import (
    assert_audio_in_every_sft_forward,
    assert_trainable_changed_frozen_not,
    make_clips,
    recipe,
    recording_callback,
    sft_rows,
    snapshot_callback,
    tiny_set,
    write_jsonl,
)

from sightsound.errors import MediaError
from sightsound.train.common import read_metrics
from sightsound.train.sft import train_sft

SFT = {"max_steps": 3, "per_device_train_batch_size": 2, "learning_rate": 0.05, "logging_steps": 1,
       "save_steps": 100, "warmup_ratio": 0.0}


@pytest.fixture(scope="module")
def sft_set(tmp_path_factory):
    return tiny_set(tmp_path_factory, "sft", sft_rows)


def _sft(student, sft_set, out, **extra):
    rec = recipe(student, sft={**SFT, "train_file": str(sft_set), "output_dir": str(out), **extra})
    rec.sft.lora.r, rec.sft.lora.alpha, rec.sft.lora.dropout = 4, 8, 0.0
    return rec


@pytest.fixture(scope="module")
def loaded(student):
    from sightsound.train.common import load_student

    return load_student(recipe(student).models.student)


def _collator(processor, **kw):
    from sightsound.train.audio import AudioCache
    from sightsound.train.collator import AudioSFTCollator

    return AudioSFTCollator(processor, AudioCache(16000), **kw)


def test_collator_audio_features_and_assistant_only_labels(loaded, sft_set):
    from sightsound.train.data import load_sft_rows

    _model, processor = loaded
    rows = load_sft_rows(sft_set)
    collator = _collator(processor)
    batch = collator(rows[:2])
    assert batch["input_features"].shape[0] == 2 and batch["feature_attention_mask"].shape[0] == 2
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    for i, row in enumerate(rows[:2]):
        n_audio = int((batch["input_ids"][i] == audio_id).sum())
        frames = int(batch["feature_attention_mask"][i].sum())
        assert n_audio == ((frames - 1) // 2 + 1 - 2) // 2 + 1 > 0  # one placeholder per encoder output
        labels = batch["labels"][i]
        learnt = labels[labels != -100]
        text = row["messages"][-1]["content"][0]["text"]
        assert processor.tokenizer.decode(learnt) == text + "<|im_end|>"  # the answer and its end of turn
        first = int((labels != -100).nonzero()[0])
        assert not (labels[:first] != -100).any()  # prompt (audio included) is never learnt
        assert (batch["input_ids"][i, :first] == audio_id).sum() == n_audio
    # Padding is right-sided and never learnt.
    lengths = batch["attention_mask"].sum(1)
    short = int(lengths.argmin())
    assert (batch["labels"][short, int(lengths[short]):] == -100).all()
    # Each clip is decoded once however often it is used.
    collator(rows[:2])
    assert collator.load_audio.decodes == 2


def test_collator_truncates_the_answer_never_the_audio(loaded, sft_set):
    from sightsound.train.data import load_sft_rows

    _, processor = loaded
    rows = load_sft_rows(sft_set)[:1]
    full = _collator(processor)(rows)
    prompt_len = int((full["labels"][0] == -100).sum())
    cut = _collator(processor, max_length=prompt_len + 3)(rows)
    assert cut["input_ids"].shape[1] == prompt_len + 3 and int((cut["labels"][0] != -100).sum()) == 3
    with pytest.raises(ValueError, match=r"record 'r0': the prompt alone has \d+ tokens"):
        _collator(processor, max_length=prompt_len - 1)(rows)


def test_label_only_target(loaded, sft_set):
    from sightsound.train.data import load_sft_rows

    _, processor = loaded
    rows = load_sft_rows(sft_set, target="label_only")
    assert rows[1]["messages"][-1]["content"][0]["text"] == "<answer> The correct answer is: B. bird </answer>"
    batch = _collator(processor)(rows[1:2])
    learnt = batch["labels"][0][batch["labels"][0] != -100]
    assert processor.tokenizer.decode(learnt) == "<answer> The correct answer is: B. bird </answer><|im_end|>"


def test_sft_loss_depends_on_the_audio(loaded, sft_set):
    from sightsound.train.data import load_sft_rows

    model, processor = loaded
    batch = _collator(processor)(load_sft_rows(sft_set)[:2])
    model.eval()
    with torch.no_grad():
        loss = model(**batch).loss.item()
        # Same tokens, other sound (the clips differ in length, so a row swap would change the
        # placeholder count; scaling the mel frames keeps it).
        swapped = dict(batch, input_features=batch["input_features"] * 0.5)
        assert abs(model(**swapped).loss.item() - loss) > 1e-4
        no_audio = {k: v for k, v in batch.items() if k not in ("input_features", "feature_attention_mask")}
        assert abs(model(**no_audio).loss.item() - loss) > 1e-4


def test_sft_smoke_trains_lora_with_audio_in_every_forward_and_merges(student, sft_set, tmp_path):
    snap, record = snapshot_callback(), recording_callback()
    result = train_sft(_sft(student, sft_set, tmp_path / "run", merge=True), callbacks=[snap, record])
    assert result.global_step == 3
    losses = [r["loss"] for r in read_metrics(result.output_dir) if "loss" in r]
    assert len(losses) == 3 and all(isinstance(x, float) for x in losses)
    assert_trainable_changed_frozen_not(snap, result.trainer.model)
    calls = record.recorder.calls
    assert calls and all(c["grad"] for c in calls)
    assert_audio_in_every_sft_forward(calls)

    # Adapter (safetensors) + processor, and a plain merged model equal to base + adapter.
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert (result.adapter_dir / "processor_config.json").is_file()
    assert (result.output_dir / "resolved_config.yaml").is_file()
    from sightsound.models.loading import load_model
    from sightsound.train.data import load_sft_rows

    merged, processor = load_model(str(result.merged_dir))
    assert not any("lora" in n for n, _ in merged.named_parameters())
    batch = _collator(processor)(load_sft_rows(sft_set)[:2])
    base, _ = load_model(str(student))
    from peft import PeftModel

    adapted = PeftModel.from_pretrained(base, str(result.adapter_dir)).eval()
    with torch.no_grad():
        a = adapted(**batch).logits
        b = merged.eval()(**batch).logits
    assert torch.allclose(a, b, atol=1e-4)
    with adapted.disable_adapter(), torch.no_grad():
        assert not torch.allclose(adapted(**batch).logits, b, atol=1e-4)  # training did change the model


def test_stock_trl_sft_trains_on_audio_placeholders_without_features(student, sft_set, tmp_path):
    """The audio check above FAILS on stock TRL ``SFTTrainer``: this proves it can fail.

    Same rows, TRL's own tokenisation and default collator: training runs without error, but the
    ``<|AUDIO|>`` placeholders reach the loss with no ``input_features``.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from sightsound.train.common import load_student, lora_config
    from sightsound.train.data import load_sft_rows

    torch.manual_seed(0)
    model, processor = load_student(recipe(student).models.student)
    rows = load_sft_rows(sft_set)
    args = SFTConfig(output_dir=str(tmp_path / "stock"), max_steps=2, per_device_train_batch_size=2,
                     logging_steps=1, report_to="none", save_strategy="no", use_cpu=True, bf16=False)
    # Untouched, stock TRL stops in __init__: Qwen2-Audio's template looks for an 'audio' key, our parts
    # are {"type": "audio", "path": ...}, so the processor loads 1 clip for 0 placeholders.
    with pytest.raises(ValueError, match=re.escape("Found total 0 <|AUDIO|> tokens and 1 audio inputs")):
        SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=processor)
    # The one concession it needs to run at all (the GRPO test makes the same one): a chat template keyed
    # on the part's type, so each clip gets its placeholders. Everything else is TRL's default path.
    processor.chat_template = processor.chat_template.replace(
        "'audio' in content or 'audio_url' in content", "content['type'] == 'audio'")
    record = recording_callback()
    stock = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                       processing_class=processor, peft_config=lora_config(recipe(student).sft.lora),
                       callbacks=[record])
    # TRL ran the processor (which did compute the mel features) and kept the token ids alone.
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    assert all(ex["input_ids"].count(audio_id) > 0 for ex in stock.train_dataset)
    batch = stock.data_collator([stock.train_dataset[i] for i in range(2)])
    assert (batch["input_ids"] == audio_id).any() and "input_features" not in batch
    stock.train()  # no error: it silently learns from the placeholders
    assert stock.state.global_step == 2
    calls = record.recorder.calls
    assert calls and not any(c["features"] for c in calls), "stock TRL gave an SFT forward audio?"
    with pytest.raises(AssertionError, match="got no input_features"):
        assert_audio_in_every_sft_forward(calls)
    record.recorder.remove()

    # Ours, on the same rows: every training forward gets the audio.
    ours = recording_callback()
    train_sft(_sft(student, sft_set, tmp_path / "ours", max_steps=2), callbacks=[ours])
    assert_audio_in_every_sft_forward(ours.recorder.calls)


def test_omni_thinker_student_trains_saves_and_merges_without_torchvision(tiny_models_dir, sft_set, tmp_path):
    """The second student architecture end to end on CPU: its processor (no video processor) is saved too."""
    from sightsound.models.loading import load_model

    record = recording_callback()
    result = train_sft(_sft(tiny_models_dir / "omni", sft_set, tmp_path / "run", merge=True, max_steps=2),
                       callbacks=[record])
    assert result.global_step == 2
    assert_audio_in_every_sft_forward(record.recorder.calls)
    assert (result.adapter_dir / "processor_config.json").is_file()
    merged, processor = load_model(str(result.merged_dir))
    assert type(merged).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    assert type(processor).__name__.startswith("Qwen2_5OmniProcessor")


def test_sft_resume_after_a_crash_continues_step_count_and_optimizer(student, sft_set, tmp_path):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):  # dies after step 3 is logged; the last checkpoint is step 2
        def on_log(self, args, state, control, logs=None, **kw):
            if state.global_step == 3:
                raise RuntimeError("simulated crash")

    rec = _sft(student, sft_set, tmp_path / "run", max_steps=4, save_steps=2, lr_scheduler_type="linear")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_sft(rec, callbacks=[Crash()])
    assert [r["step"] for r in read_metrics(tmp_path / "run") if "loss" in r] == [1, 2, 3]
    assert not (tmp_path / "run" / "checkpoint-3").exists()
    seen = {}

    class Inspect(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kw):
            seen.update(step=state.global_step, lr=lr_scheduler.get_last_lr()[0],
                        adam=[int(s["step"]) for s in optimizer.state.values() if "step" in s])

    second = train_sft(rec, callbacks=[Inspect()])  # sft.resume=auto: from checkpoint-2
    assert seen["step"] == 2 and seen["adam"] and set(seen["adam"]) == {2}  # Adam moments restored
    assert seen["lr"] == pytest.approx(0.05 * (1 - 2 / 4))  # linear schedule restored at step 2 of 4
    assert second.global_step == 4
    # The crashed run's step-3 line was dropped: each step once, continuous.
    assert [r["step"] for r in read_metrics(tmp_path / "run") if "loss" in r] == [1, 2, 3, 4]
    # Nothing left to do: a third run resumes at 4 and trains no further step.
    assert train_sft(rec).global_step == 4


def test_sft_refuses_bad_audio_before_step_1(student, tmp_path):
    clips = make_clips(tmp_path / "audio", 3)
    clips[0].write_bytes(b"")
    clips[2].unlink()
    rec = _sft(student, write_jsonl(tmp_path / "sft.jsonl", sft_rows(clips)), tmp_path / "run")
    with pytest.raises(MediaError, match=r"2 of 3 audio files.*clip0.wav.*empty.*clip2.wav.*not found"):
        train_sft(rec)
    assert not (tmp_path / "run").exists()


def test_sft_bad_record_names_file_line_and_id(student, tmp_path):
    from sightsound.schema import RecordError

    rows = sft_rows(make_clips(tmp_path / "audio", 2))
    rows[1]["messages"] = rows[1]["messages"][:1]  # no assistant turn
    rec = _sft(student, write_jsonl(tmp_path / "sft.jsonl", rows), tmp_path / "run")
    with pytest.raises(RecordError, match=r"sft.jsonl:2 \(record 'r1'\): 'messages' must be a list ending"):
        train_sft(rec)


def test_cli_and_module_entry_points(student, sft_set, tmp_path):
    from sightsound.cli import main

    cfg = tmp_path / "recipe.yaml"
    cfg.write_text(f"models:\n  student:\n    name_or_path: {student}\nsft:\n  train_file: {sft_set}\n"
                   f"  output_dir: {tmp_path / 'run'}\n  max_steps: 1\n  per_device_train_batch_size: 2\n"
                   "  lora: {r: 2, alpha: 4}\n")
    assert main(["sft", "--config", str(cfg), "sft.logging_steps=1"]) == 0
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()
    assert main(["sft", "--config", str(cfg), "sft.no_such_key=1"]) == 2  # strict config: one-line error
    # `accelerate launch -m sightsound sft|grpo` runs the package as a script: it must parse the command line.
    for command in ("sft", "grpo"):
        out = subprocess.run([sys.executable, "-m", "sightsound", command, "--help"], capture_output=True, text=True,
                             timeout=120, check=False)
        assert out.returncode == 0 and "--config" in out.stdout and "--resume" in out.stdout


def test_shipped_recipes_and_accelerate_configs(tmp_path):
    """The training stages' configs, exported from paper.yaml as `run` builds them, and the accelerate configs."""
    from pathlib import Path

    from accelerate.commands.config.config_args import load_config_from_file

    from sightsound.config import LoraSpec, load_recipe
    from sightsound.stage_config import export_stage_config

    root = Path(__file__).resolve().parents[1]
    paper = load_recipe(root / "configs" / "paper.yaml")
    recipes = {s: load_recipe(export_stage_config(paper, tmp_path / "run", f"train/{s}", tmp_path / f"{s}.yaml"))
               for s in ("cot_sft", "label_sft", "label_grpo", "sightsound_r1")}
    cot, label = recipes["cot_sft"].sft, recipes["label_sft"].sft
    assert cot.target == label.target == "as_is" and label.train_file.endswith("sft_data/label.jsonl")
    assert cot.lora.target_modules == LoraSpec().target_modules  # language model only
    r1, lg = recipes["sightsound_r1"].grpo, recipes["label_grpo"].grpo
    assert r1.init_adapter == f"{cot.output_dir}/adapter"  # GRPO starts from the SFT stage's adapter
    assert lg.init_adapter is None and lg.reward_funcs == r1.reward_funcs == ["format", "accuracy"]
    assert r1.num_generations == 8 and r1.temperature == 1.0  # R1-AQA's precedent
    kinds = {p.stem: load_config_from_file(str(p)) for p in (root / "configs" / "accelerate").glob("*.yaml")}
    assert kinds["ddp"].distributed_type == "MULTI_GPU"
    assert kinds["zero2"].deepspeed_config["zero_stage"] == 2 and kinds["zero3"].deepspeed_config["zero_stage"] == 3
