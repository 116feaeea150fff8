"""GRPO of the tiny audio student: smoke, audio in every forward (and stock TRL failing that), resume.

Runs real TRL ``GRPOTrainer`` code through ``AudioGRPOTrainer`` on the tiny Qwen2-Audio of
``sightsound tiny-models`` (hidden 64), a handful of prompts and a few steps.
"""

from __future__ import annotations

import json

import pytest
import torch

torch.set_num_threads(1)

from _train_helpers import (
    ForwardRecorder,
    assert_audio_in_every_grpo_forward,
    assert_trainable_changed_frozen_not,
    grpo_rows,
    make_clips,
    recipe,
    recording_callback,
    snapshot_callback,
    text_hash_reward,
    tiny_set,
    write_jsonl,
)

from sightsound.errors import MediaError
from sightsound.rewards import REWARDS
from sightsound.train.common import read_metrics, stop_after_step
from sightsound.train.grpo import train_grpo

GRPO = {"max_steps": 3, "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 8,
        "learning_rate": 0.05, "beta": 0.04, "save_steps": 100, "logging_steps": 1,
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}


@pytest.fixture(scope="module")
def prompt_set(tmp_path_factory):
    return tiny_set(tmp_path_factory, "grpo", grpo_rows)


@pytest.fixture
def hash_reward(monkeypatch):
    monkeypatch.setitem(REWARDS, "text_hash", text_hash_reward)
    return ["format", "accuracy", "text_hash"]


def _grpo(student, prompt_set, out, **extra):
    cfg = {**GRPO, "train_file": str(prompt_set), "output_dir": str(out), **extra}
    lora = cfg.pop("lora")
    rec = recipe(student, grpo=cfg)
    rec.grpo.lora.r, rec.grpo.lora.alpha, rec.grpo.lora.dropout = lora["r"], lora["alpha"], lora["dropout"]
    return rec


def test_grpo_smoke_trains_lora_and_audio_reaches_every_forward(student, prompt_set, hash_reward, tmp_path):
    # num_iterations=2 makes TRL compute old-policy log-probs; beta>0 a reference (adapter disabled).
    rec = _grpo(student, prompt_set, tmp_path / "run", reward_funcs=hash_reward,
                reward_weights=[1.0, 1.0, 1.0], num_iterations=2)
    snap, record = snapshot_callback(), recording_callback()
    result = train_grpo(rec, callbacks=[snap, record])
    assert result.global_step == 3

    rows = [r for r in read_metrics(result.output_dir) if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r.get("loss") is not None and r.get("kl") is not None for r in rows)
    # Rewards and lengths are logged on the steps that generated (num_iterations=2: steps 1 and 3).
    generated = [r for r in rows if "completions/mean_length" in r]
    assert [r["step"] for r in generated] == [1, 3]
    for key in ("rewards/format/mean", "rewards/accuracy/mean", "rewards/text_hash/mean", "reward"):
        assert all(r.get(key) is not None for r in generated), key
    # The run's report reads GRPO's signal from these logged names (TRL's, not ours).
    from sightsound.stage_figures import grpo_signal

    sig = grpo_signal(read_metrics(result.output_dir))
    assert sig["steps"] == 2 and 0 <= sig["zero_std_fraction_mean"] <= 1 and sig["kl_final"] is not None
    assert sig["format_reward_mean"] is not None and sig["accuracy_reward_mean"] is not None
    assert_trainable_changed_frozen_not(snap, result.trainer.model)
    assert_audio_in_every_grpo_forward(record.recorder.calls, expect_reference=True, expect_old=True)
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
    info = json.loads((result.output_dir / "run_info.json").read_text())
    assert info["rewards"] == {"format": 1.0, "accuracy": 1.0, "text_hash": 1.0}


def _trainer_and_batch(student, prompt_set, tmp_path, trainer_cls, **extra):
    """A trainer on the tiny student and one scored batch (generation + old/ref forwards), recorded."""
    from datasets import Dataset
    from trl import GRPOConfig

    from sightsound.rewards import build_reward_funcs
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer, _audio_token_as_image_token
    from sightsound.train.common import load_student, lora_config
    from sightsound.train.data import load_grpo_rows

    torch.manual_seed(0)
    model, processor = load_student(recipe(student).models.student)
    rows = load_grpo_rows(prompt_set)
    funcs, _weights = build_reward_funcs(["format", "accuracy"])
    args = GRPOConfig(output_dir=str(tmp_path / "t"), per_device_train_batch_size=4, num_generations=4,
                      max_completion_length=6, beta=0.04, report_to="none", save_strategy="no", use_cpu=True,
                      bf16=False, activation_checkpointing=False, remove_unused_columns=False, **extra)
    kwargs = {"model": model, "args": args, "processing_class": processor, "reward_funcs": funcs,
                  "train_dataset": Dataset.from_list(rows), "peft_config": lora_config(recipe(student).grpo.lora)}
    if trainer_cls is AudioGRPOTrainer:
        trainer = AudioGRPOTrainer(**kwargs)
    else:
        # Stock TRL needs two concessions to run at all: config.image_token_id (read in __init__) and a
        # chat template keyed on the part's type (Arrow gives every part every key, see train/audio.py).
        processor.chat_template = processor.chat_template.replace(
            "'audio' in content or 'audio_url' in content", "content['type'] == 'audio'")
        with _audio_token_as_image_token(model, processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")):
            trainer = trainer_cls(**kwargs)
    recorder = ForwardRecorder(trainer.model)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train() at each step; we call the parts
    inputs = [rows[0]] * 2 + [rows[1]] * 2
    batch = trainer._generate_and_score_completions(inputs)
    return trainer, batch, recorder


def test_grpo_loss_changes_when_only_the_audio_changes(student, prompt_set, tmp_path):
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer

    trainer, batch, recorder = _trainer_and_batch(student, prompt_set, tmp_path, AudioGRPOTrainer)
    # A fixed batch: fixed completions, fixed non-zero advantages, old log-probs from the true audio.
    batch["advantages"] = torch.tensor([1.0, -1.0, 0.5, -0.5])
    with trainer._audio_for_forwards({k: batch[k] for k in ("input_features", "feature_attention_mask")}):
        ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
        mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
        logps, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask,
                                                                  batch["completion_ids"].size(1))
    batch["old_per_token_logps"] = logps.detach() - 0.05
    loss_true = trainer._compute_loss(trainer.model, dict(batch)).item()
    assert trainer._compute_loss(trainer.model, dict(batch)).item() == pytest.approx(loss_true, abs=1e-7)

    swapped = dict(batch)  # the same tokens; each row's audio replaced by another clip's
    swapped["input_features"] = batch["input_features"].flip(0)
    swapped["feature_attention_mask"] = batch["feature_attention_mask"].flip(0)
    assert not torch.equal(swapped["input_features"], batch["input_features"])
    loss_swapped = trainer._compute_loss(trainer.model, swapped).item()
    silent = dict(batch)
    silent["input_features"] = torch.zeros_like(batch["input_features"])
    loss_silent = trainer._compute_loss(trainer.model, silent).item()
    assert abs(loss_swapped - loss_true) > 1e-4 and abs(loss_silent - loss_true) > 1e-4

    # The subclass refuses to score placeholders without features rather than train on them.
    stripped = {k: v for k, v in batch.items() if k not in ("input_features", "feature_attention_mask")}
    with pytest.raises(RuntimeError, match="lacks"):
        trainer._compute_loss(trainer.model, stripped)
    recorder.remove()


def test_stock_trl_grpo_forwards_lack_audio(student, prompt_set, tmp_path):
    """The hook check above FAILS on stock TRL: this proves the audio test can fail."""
    from trl import GRPOTrainer

    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer

    # num_iterations=2: old-policy forwards too. Stock TRL: the scoring forwards lack input_features.
    stock, batch, rec_stock = _trainer_and_batch(student, prompt_set, tmp_path / "stock", GRPOTrainer,
                                                 num_iterations=2)
    assert "input_features" not in batch
    stock.compute_loss(stock.model, batch).backward()
    scoring = [c for c in rec_stock.logprob_calls()]
    assert scoring and not any(c["features"] for c in scoring), "stock TRL gave the log-prob forwards audio?"
    with pytest.raises(AssertionError, match="got no input_features"):
        assert_audio_in_every_grpo_forward(rec_stock.calls, expect_reference=True, expect_old=True)

    ours, batch, rec_ours = _trainer_and_batch(student, prompt_set, tmp_path / "ours", AudioGRPOTrainer,
                                               num_iterations=2)
    ours.compute_loss(ours.model, batch).backward()
    assert_audio_in_every_grpo_forward(rec_ours.calls, expect_reference=True, expect_old=True)
    rec_stock.remove()
    rec_ours.remove()


def test_grpo_resume_continues_step_count_and_optimizer(student, prompt_set, hash_reward, tmp_path):
    out = tmp_path / "run"
    rec = _grpo(student, prompt_set, out, reward_funcs=hash_reward, reward_weights=[1.0, 1.0, 1.0],
                max_steps=4, save_steps=2, lr_scheduler_type="linear")
    first = train_grpo(rec, callbacks=[stop_after_step(2)])  # "interrupted" after step 2 (checkpoint-2 saved)
    assert first.global_step == 2 and (out / "checkpoint-2" / "optimizer.pt").is_file()
    lr_at_2 = first.trainer.lr_scheduler.get_last_lr()[0]

    from transformers import TrainerCallback

    seen = {}

    class Inspect(TrainerCallback):
        def on_train_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kw):
            seen["step"] = state.global_step
            seen["adam_steps"] = [int(s["step"]) for s in optimizer.state.values() if "step" in s]
            seen["lr"] = lr_scheduler.get_last_lr()[0]

    second = train_grpo(rec, callbacks=[Inspect()])  # resume=auto picks checkpoint-2
    assert seen["step"] == 2 and seen["adam_steps"] and set(seen["adam_steps"]) == {2}
    assert seen["lr"] == pytest.approx(lr_at_2)
    assert second.global_step == 4
    steps = [r["step"] for r in read_metrics(out) if "loss" in r]
    assert steps == [1, 2, 3, 4]


def test_grpo_refuses_bad_audio_before_step_1(student, tmp_path):
    clips = make_clips(tmp_path / "audio", 3)
    clips[1].write_bytes(b"RIFF....WAVEfmt garbage")
    rows = grpo_rows(clips)
    rows[2]["prompt"][0]["content"][0]["path"] = str(tmp_path / "audio" / "missing.wav")
    rows[2]["audio"] = str(tmp_path / "audio" / "missing.wav")
    prompt_set = write_jsonl(tmp_path / "grpo.jsonl", rows)
    rec = _grpo(student, prompt_set, tmp_path / "run")
    with pytest.raises(MediaError) as err:
        train_grpo(rec)
    msg = str(err.value)
    assert "2 of 3 audio files" in msg and "clip1.wav" in msg and "missing.wav" in msg
    assert not (tmp_path / "run").exists()  # nothing was trained or written


def test_grpo_recipe_errors(student, tmp_path):
    rows = grpo_rows(make_clips(tmp_path / "audio", 1))
    rows[0]["solution"] = 9
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    from sightsound.schema import RecordError

    with pytest.raises(RecordError, match=r"bad.jsonl:1 \(record 'r0'\).*solution"):
        train_grpo(_grpo(student, bad, tmp_path / "run"))
    with pytest.raises(KeyError, match="unknown reward 'acc'"):
        train_grpo(_grpo(student, bad, tmp_path / "run", reward_funcs=["acc"], reward_weights=[1.0]))


@pytest.mark.parametrize("mode", ["continue", "merge"])
def test_grpo_from_sft_adapter(student, prompt_set, hash_reward, tmp_path, mode):
    """Start from an SFT adapter: keep training it (reference = frozen copy) or merge it and add a new one."""
    import json as _json

    from sightsound.train.sft import train_sft

    sft_set = write_jsonl(tmp_path / "sft.jsonl", [
        {**row, "messages": [*row["prompt"], {"role": "assistant", "content": [
            {"type": "text", "text": "<think> x </think> <answer> A </answer>"}]}]}
        for row in (_json.loads(line) for line in prompt_set.read_text().splitlines())])
    rec = recipe(student, sft={"train_file": str(sft_set), "output_dir": str(tmp_path / "sft"), "max_steps": 2,
                               "per_device_train_batch_size": 2, "learning_rate": 0.05})
    rec.sft.lora.r, rec.sft.lora.alpha = 4, 8
    sft = train_sft(rec)

    g = _grpo(student, prompt_set, tmp_path / "grpo", reward_funcs=hash_reward, reward_weights=[1.0, 1.0, 1.0],
              max_steps=2, init_adapter=str(sft.output_dir), init_mode=mode, merge=True)
    snap, record = snapshot_callback(), recording_callback()
    result = train_grpo(g, callbacks=[snap, record])
    assert result.global_step == 2
    assert_trainable_changed_frozen_not(snap, result.trainer.model)
    calls = record.recorder.calls
    assert_audio_in_every_grpo_forward(calls, expect_reference=True, expect_old=False)
    ref = [c for c in calls if c["logprob"] and not c["grad"]]
    if mode == "continue":
        # TRL keeps a frozen copy of the SFT adapter as the reference: the KL is to the SFT model.
        assert all(c["adapter"] == ["ref"] for c in ref)
        assert not (result.adapter_dir / "base_adapters.json").exists()
    else:
        assert all(c["adapters_disabled"] for c in ref)  # reference = merged SFT weights, adapter off
        chain = _json.loads((result.adapter_dir / "base_adapters.json").read_text())["merge_first"]
        assert chain == [str(sft.adapter_dir.resolve())]
    assert (result.merged_dir / "model.safetensors").is_file()
    # The merged directory is exactly the trained policy (base [+ merged SFT] + GRPO adapter).
    from sightsound.models.loading import load_model
    from sightsound.train.audio import AudioCache
    from sightsound.train.collator import AudioSFTCollator
    from sightsound.train.data import load_sft_rows

    merged, processor = load_model(str(result.merged_dir))
    batch = AudioSFTCollator(processor, AudioCache())(load_sft_rows(sft_set)[:2])
    policy = result.trainer.model.eval()
    with torch.no_grad():
        assert torch.allclose(policy(**batch).logits, merged.eval()(**batch).logits, atol=1e-4)


def test_omni_thinker_student_gets_audio_in_every_forward(tiny_models_dir, prompt_set, tmp_path):
    """The second student architecture (Qwen2.5-Omni thinker): the same subclass, the same guarantee."""
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer

    trainer, batch, recorder = _trainer_and_batch(tiny_models_dir / "omni", prompt_set, tmp_path,
                                                  AudioGRPOTrainer, num_iterations=2)
    batch["advantages"] = torch.tensor([1.0, -1.0, 0.5, -0.5])
    trainer.compute_loss(trainer.model, batch).backward()
    assert_audio_in_every_grpo_forward(recorder.calls, expect_reference=True, expect_old=True)
    grads = [p.grad for n, p in trainer.model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    recorder.remove()
