"""What SFT and GRPO share: the run directory, the student and its LoRA, TRL's config, resuming,
metrics, training and saving.

Kept out of the entry modules so that ``sft.py`` and ``grpo.py`` read like recipes (open-r1 style):
seed, data, audio check, model, trainer, train (resuming), save.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightsound.config import LoraSpec, ModelSpec, Recipe

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
ADAPTER_DIR = "adapter"  # final LoRA adapter (adapter_model.safetensors + adapter_config.json)
MERGED_DIR = "merged"  # plain model directory with the adapter merged in (the `merge` option)


def close_process_group() -> None:
    """Close the distributed process group, if a launcher opened one, after a command that succeeded.

    Left open, gloo's worker threads are torn down with the interpreter and the process aborts
    (SIGABRT, "terminate called without an active exception") after its work is saved, so
    ``accelerate launch`` reports a failed run. Not called after an error: a rank that raised must
    not wait on a collective shutdown its peers may never reach (torchtitan does the same).
    Uses ``sys.modules`` so that commands that never imported torch do not import it here.
    """
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@dataclass
class TrainResult:
    output_dir: Path
    adapter_dir: Path | None
    merged_dir: Path | None
    global_step: int
    trainer: Any  # the TRL trainer; its model holds the trained weights


# --------------------------------------------------------------------------------------- the run
def output_dir(recipe: Recipe, stage: str) -> Path:
    """Where training stage ``stage`` (``sft`` or ``grpo``) writes: its ``output_dir``, else ``RUN/<stage>``."""
    return Path(getattr(recipe, stage).output_dir or Path(recipe.output_dir) / stage)


def output_dir_lock(out: str | Path):
    """One training job per output directory (``.NAME.lock`` beside it); a second is refused at once.

    Only the main process of a distributed launch locks: its other ranks share the directory by design.
    """
    import contextlib
    import os

    from sightsound.jsonl import output_lock

    if os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext()
    return output_lock(out, "training output")


def load_train_rows(section, stage: str, what: str, load_rows) -> list[dict]:
    """The stage's training rows (``load_rows(train_file)``), every clip decoded first when it asks to."""
    from sightsound.train.audio import validate_audio

    if not section.train_file:
        raise ValueError(f"{stage}.train_file is empty: point it at {what} written by build-sft")
    rows = load_rows(section.train_file)
    if section.validate_audio:
        validate_audio([r["audio"] for r in rows], where=section.train_file)
    return rows


# ----------------------------------------------------------------------------------------- model
def student_spec(recipe: Recipe, model: str = "") -> ModelSpec:
    """The student's :class:`ModelSpec`, with the stage's ``model`` (if set) as its path."""
    spec = dataclasses.replace(recipe.models.student)
    if model:
        spec.name_or_path = model
    if not spec.name_or_path:
        raise ValueError("no student model: set models.student.name_or_path (or the stage's `model`)")
    if spec.backend != "hf":
        raise ValueError(f"training needs the hf backend for the student, got {spec.backend!r}")
    return spec


def load_student(spec: ModelSpec):
    """``(model, processor)`` through the project's one loader, in training mode."""
    from sightsound.models.loading import load_model, resolve_architecture

    arch = resolve_architecture(spec)
    if arch not in ("qwen2_audio", "qwen2_5_omni_thinker"):
        raise ValueError(f"{spec.name_or_path}: the student must be an audio model, got architecture {arch!r}")
    model, processor = load_model(spec, for_training=True)
    if not hasattr(processor, "feature_extractor"):
        raise ValueError(f"{spec.name_or_path}: its processor has no audio feature extractor")
    return model, processor


def lora_config(spec: LoraSpec):
    """PEFT LoRA on the language model only (a regex: plain names would also hit the audio encoder)."""
    from peft import LoraConfig

    return LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                      target_modules=spec.target_modules, bias="none")


def use_bf16(flag: bool | None) -> bool:
    import torch

    return bool(torch.cuda.is_available()) if flag is None else flag


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": int(total), "trainable": int(trainable)}


def trl_config(config_cls, section, out: str | Path, **fixed):
    """TRL's ``config_cls`` (``SFTConfig``/``GRPOConfig``) for a training section.

    The section's ``TRL_KEYS`` go through unchanged; the keys SightSound words its own way are
    translated; ``fixed`` is what the entry point itself needs (its collator, its reward weights).
    A name TRL does not know is refused here, before any step, rather than dropped.
    """
    import torch

    kwargs = {key: getattr(section, key) for key in section.TRL_KEYS}
    kwargs.update(
        output_dir=str(out),
        warmup_steps=section.warmup_ratio,  # transformers 5: a value below 1 is a share of the total steps
        bf16=use_bf16(section.bf16),
        # transformers 5 renamed it; the old name warns (FutureWarning) on every run.
        activation_checkpointing=section.gradient_checkpointing,
        report_to=list(section.report_to) or "none",
        save_strategy="steps",
        use_cpu=not torch.cuda.is_available(),
        **fixed,
    )
    unknown = sorted(set(kwargs) - {f.name for f in dataclasses.fields(config_cls)})
    if unknown:
        raise TypeError(f"trl.{config_cls.__name__} has no field {', '.join(unknown)}")
    return config_cls(**kwargs)


def train_and_save(trainer, processor, recipe: Recipe, stage: str, spec: ModelSpec, summary: str,
                   info: dict[str, Any], base_adapters: list[str] | None = None) -> TrainResult:
    """Record the run, train (resuming as ``<stage>.resume`` says), save; ``info`` joins ``run_info.json``."""
    section, out = getattr(recipe, stage), output_dir(recipe, stage)
    params = count_parameters(trainer.model)
    if trainer.is_world_process_zero():
        write_run_info(out, recipe, {"stage": stage, "student": spec.name_or_path, "train_file": section.train_file,
                                     **info, "parameters": params})
    log.info("%s, %d of %d parameters trainable", summary, params["trainable"], params["total"])

    trainer.train(resume_from_checkpoint=resolve_resume(section.resume, out))
    paths = save_outputs(trainer, processor, out, section.merge, base_spec=spec, base_adapters=base_adapters)
    return TrainResult(out, Path(paths["adapter"]) if "adapter" in paths else None,
                       Path(paths["merged"]) if "merged" in paths else None, trainer.state.global_step, trainer)


# --------------------------------------------------------------------------------------- resuming
def resolve_resume(resume: str, output_dir: str | Path) -> str | None:
    """The checkpoint to resume from: ``auto`` = the latest *complete* ``checkpoint-N`` in the run dir.

    transformers writes ``trainer_state.json`` last, so a checkpoint without it was cut short by a
    crash mid-save and is skipped (resuming from it would fail or load half a state).
    """
    if resume in ("never", "", "none"):
        return None
    if resume == "auto":
        out = Path(output_dir)
        found = sorted(((int(p.name.split("-")[1]), p) for p in out.glob("checkpoint-*")
                        if p.is_dir() and p.name.split("-")[1].isdigit()), reverse=True) if out.is_dir() else []
        for step, path in found:
            if (path / "trainer_state.json").is_file():
                log.info("resuming from %s (step %d)", path, step)
                return str(path)
            log.warning("skipping incomplete checkpoint %s (no trainer_state.json)", path)
        return None
    path = Path(resume)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(f"resume: {path} is not a complete trainer checkpoint (no trainer_state.json)")
    return str(path)


# ---------------------------------------------------------------------------------------- metrics
def metrics_callback(run_dir: str | Path):
    """A ``TrainerCallback`` appending every log (loss, rewards per function, KL, lengths) to metrics.jsonl."""
    from transformers import TrainerCallback

    path = Path(run_dir) / METRICS_FILE

    class JsonlMetrics(TrainerCallback):
        """One JSON object per logging step: ``{"step", "epoch", "time", <TRL's metrics>}``.

        On resume the lines logged after the checkpoint (by the interrupted run) are dropped first,
        so the file holds each step once and its step column stays continuous.
        """

        def on_train_begin(self, args, state, control, **kw):
            if not state.is_world_process_zero:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                kept = []
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a torn last line of a killed run
                    if row.get("step", 0) <= state.global_step:
                        kept.append(line)
                from sightsound.jsonl import atomic_write_text

                atomic_write_text(path, "".join(k + "\n" for k in kept))

        def on_log(self, args, state, control, logs=None, **kw):
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": state.global_step, "epoch": state.epoch, "time": round(time.time(), 3)}
            row.update({k: _jsonable(v) for k, v in logs.items()})
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    return JsonlMetrics()


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The logged rows of a training run; a torn last line (a run killed mid-write) is left out."""
    from sightsound.jsonl import read_jsonl

    return list(read_jsonl(Path(run_dir) / METRICS_FILE, allow_torn_tail=True))


def stop_after_step(k: int):
    """A ``TrainerCallback`` that saves and stops cleanly after global step ``k`` (an interruption, for tests)."""
    from transformers import TrainerCallback

    class StopAfterStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= k:
                control.should_training_stop = True
                control.should_save = True
            return control

    return StopAfterStep()


# ------------------------------------------------------------------------------------------ saving
def save_outputs(trainer, processor, out_dir: str | Path, merge: bool, base_spec: ModelSpec | None = None,
                 base_adapters: list[str] | None = None) -> dict[str, str]:
    """Final adapter (safetensors) + processor in ``out/adapter``; with ``merge`` a plain model in ``out/merged``.

    ``base_adapters``: adapters already merged into the weights this adapter was trained on (GRPO's
    ``init_mode: merge``); they are listed in ``adapter/base_adapters.json`` and merged first.
    """
    from peft import PeftModel

    out = Path(out_dir)
    model = trainer.accelerator.unwrap_model(trainer.model)
    paths: dict[str, str] = {}
    if not trainer.is_world_process_zero():
        return paths
    if isinstance(model, PeftModel):
        adapter = out / ADAPTER_DIR
        # Only the trained adapter: TRL's frozen "ref" copy (continued adapters) is not part of the result.
        model.save_pretrained(adapter, safe_serialization=True, selected_adapters=["default"])
        processor.save_pretrained(adapter)
        paths["adapter"] = str(adapter)
        chain = [str(Path(a).resolve()) for a in (base_adapters or [])]
        if chain:
            from sightsound.jsonl import atomic_write_json

            atomic_write_json(adapter / "base_adapters.json", {"merge_first": chain})
        if merge:
            if base_spec is None:
                raise ValueError("merging needs the base model's spec")
            paths["merged"] = str(merge_adapters(base_spec, [*chain, str(adapter)], out / MERGED_DIR))
    else:
        full = out / MERGED_DIR
        model.save_pretrained(full, safe_serialization=True)
        processor.save_pretrained(full)
        paths["merged"] = str(full)
    return paths


def merge_adapters(base_spec: ModelSpec, adapter_dirs: list[str], out_dir: str | Path) -> Path:
    """A plain model directory: the base weights (fresh from disk, on CPU) with the saved adapters merged in order.

    Built from the *saved* files rather than the live trainer model, so the trainer's model is left
    untouched and the merged result is exactly what the adapter on disk means.
    """
    import dataclasses

    from peft import PeftModel

    from sightsound.models.loading import load_model

    spec = dataclasses.replace(base_spec, device_map=None)
    model, processor = load_model(spec, for_training=True)  # for_training: no device map, i.e. CPU
    for adapter in adapter_dirs:
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged = model
    out = Path(out_dir)
    merged.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out


def write_run_info(out_dir: str | Path, recipe: Recipe, extra: dict[str, Any]) -> None:
    from sightsound.jsonl import atomic_write_json
    from sightsound.runinfo import config_hash, package_versions, write_resolved_config

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_resolved_config(recipe, out)
    atomic_write_json(out / "run_info.json", {"config_hash": config_hash(recipe), "packages": package_versions(),
                                               **extra})
