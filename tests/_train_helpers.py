"""Shared by tests/test_train_sft.py and tests/test_train_grpo.py: tiny sets, recipes, hooks, snapshots.

The audio clips are generated here (tones and noise bursts), the sets are written in the pinned
SFT / GRPO formats, and the student is the tiny Qwen2-Audio of ``sightsound tiny-models``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from sightsound.config import load_recipe
from sightsound.media import save_wav
from sightsound.prompts import student_prompt

CHOICES = [["dog", "cat", "violin", "drum"], ["piano", "bird", "car", "drum"]]


def make_clips(folder: Path, n: int, seconds: float = 1.5, seed: int = 0) -> list[Path]:
    """n distinct 16 kHz clips: a tone of its own pitch, plus a noise burst on odd clips."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    paths = []
    for i in range(n):
        audio = 0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t)
        if i % 2:
            audio[: len(t) // 3] += 0.2 * rng.standard_normal(len(t) // 3)
        paths.append(save_wav(folder / f"clip{i}.wav", audio))
    return paths


def sft_rows(clips: list[Path]) -> list[dict]:
    rows = []
    for i, clip in enumerate(clips):
        choices = CHOICES[i % 2]
        sol = i % len(choices)
        q = "Which object makes the sound?"
        answer = f"<think> I hear a {choices[sol]}. </think> <answer> The correct answer is: {'ABCD'[sol]}. {choices[sol]} </answer>"
        rows.append({
            "id": f"r{i}",
            "messages": [
                {"role": "user", "content": [{"type": "audio", "path": str(clip)},
                                             {"type": "text", "text": student_prompt(q, choices)}]},
                {"role": "assistant", "content": [{"type": "text", "text": answer}]},
            ],
            "audio": str(clip), "question": q, "choices": choices, "solution": sol, "source_key": f"r{i}#0",
        })
    return rows


def grpo_rows(clips: list[Path]) -> list[dict]:
    return [{"id": r["id"], "prompt": r["messages"][:1], "audio": r["audio"], "question": r["question"],
             "choices": r["choices"], "solution": r["solution"]} for r in sft_rows(clips)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_set(tmp_path_factory, name: str, make_rows) -> Path:
    """``NAME.jsonl`` of ``make_rows(clips)`` over four fresh clips, in a folder of its own."""
    folder = tmp_path_factory.mktemp(f"{name}_data")
    return write_jsonl(folder / f"{name}.jsonl", make_rows(make_clips(folder / "audio", 4)))


def recipe(student: Path, **sections):
    """A recipe with the tiny student; ``sections`` map "sft"/"grpo" to dicts of overrides."""
    overrides = [f"models.student.name_or_path={student}"]
    for section, values in sections.items():
        overrides += [f"{section}.{k}={json.dumps(v) if isinstance(v, (list, bool)) or v is None else v}"
                      for k, v in values.items()]
    return load_recipe(None, overrides)


def text_hash_reward(completions, **kw):
    """Test-only reward with spread inside every group (a random tiny model never earns format/accuracy)."""
    from sightsound.rewards import completion_text

    return [float(sum(map(ord, completion_text(c))) % 7) / 6.0 for c in completions]


# --------------------------------------------------------------------------------------- recording
def base_model(model):
    """The transformers model under PEFT / DDP wrappers (where the audio must arrive)."""
    while hasattr(model, "module"):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def lora_layer(model):
    from peft.tuners.lora import LoraLayer

    return next((m for m in model.modules() if isinstance(m, LoraLayer)), None)


class ForwardRecorder:
    """Forward pre-hook on the student: for every call, whether it got audio, grad mode, and its role.

    ``logprob``: a TRL log-prob forward (called with ``fused_lm_head``, as policy/old/ref forwards are);
    ``prefill``: a generation forward over the whole prompt; decode steps (one token) reuse the cache.
    """

    def __init__(self, model):
        self.calls: list[dict] = []
        self.model = model
        self._lora = lora_layer(model)
        self.handle = base_model(model).register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        feats = kwargs.get("input_features")
        self.calls.append({
            "features": feats is not None,
            "features_sum": float(feats.float().abs().sum()) if feats is not None else None,
            "grad": torch.is_grad_enabled(),
            "logprob": "fused_lm_head" in kwargs,
            "seq_len": int(ids.shape[1]) if ids is not None else None,
            "adapters_disabled": bool(self._lora.disable_adapters) if self._lora is not None else None,
            "adapter": list(self._lora.active_adapters) if self._lora is not None else None,
        })

    def remove(self):
        self.handle.remove()

    def logprob_calls(self):
        return [c for c in self.calls if c["logprob"]]


def assert_audio_in_every_grpo_forward(calls: list[dict], expect_reference: bool, expect_old: bool) -> None:
    """The property under test: every log-prob forward (policy with grad, old and reference without) had audio."""
    logprob = [c for c in calls if c["logprob"]]
    assert logprob, "no log-prob forwards were recorded"
    policy = [c for c in logprob if c["grad"]]
    scoring = [c for c in logprob if not c["grad"]]
    assert policy, "no policy forward with gradients was recorded"
    missing = [c for c in logprob if not c["features"]]
    assert not missing, f"{len(missing)} of {len(logprob)} log-prob forwards got no input_features: {missing[:3]}"
    if expect_reference:
        assert any(c["adapters_disabled"] or c["adapter"] == ["ref"] for c in scoring), "no reference forward"
    if expect_old:
        assert any(not c["adapters_disabled"] and c["adapter"] == ["default"] for c in scoring), "no old-policy forward"
    prefill = [c for c in calls if not c["logprob"] and not c["grad"] and (c["seq_len"] or 0) > 1]
    assert prefill and all(c["features"] for c in prefill), "a generation prefill got no input_features"


def assert_audio_in_every_sft_forward(calls: list[dict]) -> None:
    """The property under test: every forward with gradients (an SFT loss) got the clip's mel features."""
    training = [c for c in calls if c["grad"]]
    assert training, "no training forward was recorded"
    missing = [c for c in training if not c["features"]]
    assert not missing, f"{len(missing)} of {len(training)} SFT training forwards got no input_features"


def recording_callback():
    """A TrainerCallback that puts a :class:`ForwardRecorder` on the model as training starts (``.recorder``)."""
    from transformers import TrainerCallback

    class Record(TrainerCallback):
        recorder: ForwardRecorder | None = None

        def on_train_begin(self, args, state, control, model=None, **kw):
            self.recorder = ForwardRecorder(model)

    return Record()


def snapshot_callback():
    """A TrainerCallback keeping a copy of every parameter at the start of training."""
    from transformers import TrainerCallback

    class Snapshot(TrainerCallback):
        def __init__(self):
            self.params: dict[str, tuple[torch.Tensor, bool]] = {}

        def on_train_begin(self, args, state, control, model=None, **kw):
            self.params = {n: (p.detach().clone(), p.requires_grad) for n, p in model.named_parameters()}

    return Snapshot()


def assert_trainable_changed_frozen_not(snapshot, model) -> None:
    changed, unchanged_trainable, changed_frozen = 0, [], []
    for name, p in model.named_parameters():
        before, trainable = snapshot.params[name]
        same = torch.equal(before, p.detach())
        if trainable and same and ".ref." not in name:
            unchanged_trainable.append(name)
        if not trainable and not same:
            changed_frozen.append(name)
        changed += (not same)
    trainable_names = [n for n, (_, t) in snapshot.params.items() if t]
    assert trainable_names and all("lora_" in n for n in trainable_names), "only LoRA parameters may train"
    assert not any("audio_tower" in n for n in trainable_names), "LoRA must not touch the audio encoder"
    assert not unchanged_trainable, f"trainable parameters that did not change: {unchanged_trainable[:5]}"
    assert not changed_frozen, f"frozen parameters that changed: {changed_frozen[:5]}"
