"""Train a SightSound-mini role from scratch (the library of ``sightsound pretrain``).

A 3-5 M-parameter model of the real architecture (Qwen2.5-VL for the teacher, Qwen2-Audio for the
verifier and the student) is built with a tokenizer trained on the synthetic world's own text,
then trained on the pretraining split (:mod:`sightsound.mini.splits`) with a plain loop: AdamW,
batches of 16, loss on the assistant turn only, features cached once, stop at a time budget or a
step count. The result is an ordinary Hugging Face model directory (safetensors weights in float16,
processor, tokenizer, chat template) that :func:`sightsound.models.loading.load_model` loads.
``DIR/pretrain_info.json`` records the seeds, steps, seconds, losses and the held-out accuracy
measured on the saved checkpoint (:func:`sightsound.mini.role_checks.evaluate_role`).

``init`` starts from a trained model instead of a fresh one: the shipped verifier starts from the
pretrained student, an audio model that already perceives (as the paper's open verifier option,
Qwen2-Audio-Instruct, is a perceiving audio model before it fact-checks). Float results differ
slightly between CPUs and torch versions, so a checkpoint reproduced from its ``pretrain_info.json``
matches closely, not bit for bit, across machines.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

from sightsound.mini import roles as R
from sightsound.mini import targets as T
from sightsound.mini.splits import split

log = logging.getLogger(__name__)

DEFAULT_SECONDS = 600.0
BATCH_SIZE = 16
LR = 1e-3
WARMUP_STEPS = 30
INFO = "pretrain_info.json"


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------------------------------- model
def build_model_dir(role: str, out: Path, seed: int, corpus: list[str], size: str = "mini") -> Path:
    """A freshly initialised tiny model of the role's architecture, tokenizer trained on ``corpus``."""
    from sightsound.models.tiny import build_tiny_model
    from sightsound.synth import vocabulary

    spec = R.role_spec(role)
    return build_tiny_model(spec.builder_role, out, seed=seed, corpus=corpus, extra_words=vocabulary(),
                            **R.role_sizes(role, size))


def machine() -> dict[str, Any]:
    """Where a run trained: CPU model, cores, library versions (step counts depend on them)."""
    import platform

    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": available_cores(), "torch": torch.__version__,
            "transformers": transformers.__version__}


def freeze_media_encoder(model) -> int:
    """Freeze the audio tower / vision tower and its projector; returns the number of frozen parameters."""
    n = 0
    for name, p in model.named_parameters():
        if any(part in name for part in ("audio_tower", "multi_modal_projector", "visual")):
            p.requires_grad_(False)
            n += p.numel()
    return n


def lr_at(step: int, lr: float = LR, warmup: int = WARMUP_STEPS) -> float:
    """Linear warmup, then constant: a stop at any step (time budget) leaves a usable model."""
    return lr * min(1.0, (step + 1) / warmup)


# ------------------------------------------------------------------------------------------- train
def train_loop(model, cache, steps: int | None, seconds: float | None, seed: int, batch_size: int = BATCH_SIZE,
               lr: float = LR, log_every: int = 25, progress: bool = True, device: str = "cpu") -> dict[str, Any]:
    """Train on the cached examples until ``steps`` or ``seconds`` runs out; returns the history."""
    import torch

    if steps is None and seconds is None:
        raise ValueError("give a step count or a time budget")
    items = cache.items
    if not items:
        raise ValueError("no training examples")
    torch.manual_seed(seed)
    order_rng = random.Random(seed)
    model.to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    model.train()
    losses: list[float] = []
    order: list[int] = []
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="pretrain", unit="step")
    step = 0
    while True:
        if steps is not None and step >= steps:
            break
        if seconds is not None and time.perf_counter() - t0 >= seconds:
            break
        if len(order) < batch_size:  # epochs of shuffled examples
            fresh = list(range(len(items)))
            order_rng.shuffle(fresh)
            order += fresh
        idx, order = order[:batch_size], order[batch_size:]
        batch = {k: v.to(device) for k, v in cache.collate([items[i] for i in idx]).items()}
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr)
        weights = batch.pop("loss_weights", None)
        loss = model(**batch).loss if weights is None else weighted_token_loss(model, batch, weights)
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
        step += 1
        if bar is not None:
            bar.update(1)
            if step % log_every == 0:
                bar.set_postfix(loss=f"{sum(losses[-log_every:]) / log_every:.3f}")
    if bar is not None:
        bar.close()
    model.to("cpu")
    model.eval()
    return {"steps": step, "seconds": time.perf_counter() - t0, "losses": losses,
            "examples_seen": step * batch_size, "epochs": step * batch_size / len(items)}


def weighted_token_loss(model, batch: dict, weights):
    """Next-token cross-entropy with a weight per target token, normalised by the weights' sum (so
    weights of 1 everywhere give the model's own mean loss)."""
    import torch.nn.functional as F

    labels = batch["labels"]
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    logits, labels, weights = logits[:, :-1], labels[:, 1:], weights[:, 1:]  # position t predicts t+1
    ce = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                         ignore_index=-100, reduction="none")
    w = weights.reshape(-1).to(ce.dtype)
    return (ce * w).sum() / w.sum().clamp_min(1e-8)


def window_means(losses: list[float], k: int = 10) -> tuple[float | None, float | None]:
    """Mean loss of the first and the last ``k`` steps."""
    if not losses:
        return None, None
    k = max(1, min(k, len(losses) // 2 or 1))
    return sum(losses[:k]) / k, sum(losses[-k:]) / k


def save_fp16(model, out: Path) -> None:
    """Weights as float16 safetensors (half the size to ship); loaders upcast to float32 on CPU."""
    import torch

    model.to(torch.float16)
    model.save_pretrained(out, safe_serialization=True)
    model.to(torch.float32)


# ------------------------------------------------------------------------------------------- main
def _copy_init(init: Path, out: Path, arch: str) -> None:
    """Copy a model directory of the same architecture to start from (weights, tokenizer, processor)."""
    from sightsound.models.loading import resolve_architecture

    if not (init / "config.json").is_file():
        raise FileNotFoundError(f"--init {init}: not a model directory (no config.json)")
    have = resolve_architecture(str(init))
    if have != arch:
        raise ValueError(f"--init {init}: architecture {have}, this role needs {arch}")
    shutil.copytree(init, out, ignore=shutil.ignore_patterns(INFO))


def pretrain(role: str, out: str | Path, seconds: float | None = DEFAULT_SECONDS, steps: int | None = None,
             seed: int = 0, num: int | None = None, check_num: int | None = None, threads: int | None = None,
             evaluate: bool = True, progress: bool = True, init: str | Path | None = None,
             size: str = "mini", device: str = "cpu", lr: float = LR,
             freeze_encoder: bool = False, describe: bool = False, focus_weight: float = 1.0,
             teacher_traces: str | Path | None = None, reading_drill: float = 0.0,
             qa_share: float = R.STUDENT_QA_SHARE, hearing_drill: float = 0.0,
             order_mark: str = "none", order_drill: float = 0.0, listing_drill: float = 0.0) -> dict[str, Any]:
    """Build, train, save and (optionally) evaluate one role; returns the info written to ``pretrain_info.json``.

    ``teacher_traces`` (verifier only): a ``sightsound teach`` output on pretraining-split records;
    the teacher's sampled thinks join the verifier's examples (:func:`roles.teacher_samples`)."""
    import torch

    from sightsound.config import ModelSpec
    from sightsound.mini.features import FeatureCache
    from sightsound.mini.world import split_records
    from sightsound.models.loading import load_model

    spec = R.role_spec(role)
    if focus_weight != 1.0 and role != "verifier":
        raise ValueError("--focus-weight weighs the verifier's decisive reply words; it applies to --role verifier only")
    if focus_weight <= 0:
        raise ValueError(f"--focus-weight must be positive, got {focus_weight}")
    if order_mark not in T.ORDER_MARKS:
        raise ValueError(f"--order-mark is one of {', '.join(T.ORDER_MARKS)}; got {order_mark!r}")
    if order_mark != "none" and role != "verifier":
        raise ValueError("--order-mark changes the verifier's checklist; it applies to --role verifier only")
    if teacher_traces and role != "verifier":
        raise ValueError("--teacher-traces adds the teacher's samples to the verifier's examples; "
                         "it applies to --role verifier only")
    for flag, share, adds in (("--reading-drill", reading_drill, "accounts over silent clips"),
                              ("--hearing-drill", hearing_drill, "accounts that leave heard sounds out"),
                              ("--order-drill", order_drill, "accounts that name a later sound first"),
                              ("--listing-drill", listing_drill, "the sounds heard, listed in order")):
        if share and role != "verifier":
            raise ValueError(f"{flag} adds {adds} to the verifier's examples; it applies to --role verifier only")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{flag} is a share of records, between 0 and 1; got {share}")
    if qa_share != R.STUDENT_QA_SHARE and role != "student":
        raise ValueError("--qa-share sets the share of the student's answer-only examples; "
                         "it applies to --role student only")
    if not 0.0 <= qa_share <= 0.5:  # one question per record: at most half of the examples
        raise ValueError(f"--qa-share is a share of the student's examples, between 0 and 0.5; got {qa_share}")
    samples = R.teacher_samples(teacher_traces) if teacher_traces else None
    out = Path(out)
    threads = threads or available_cores()
    torch.set_num_threads(threads)
    t_start = time.perf_counter()

    records, base = split_records("pretrain", num, progress=progress)
    examples = R.examples_for(role, records, seed, base=base, describe=describe, samples=samples,
                              reading_drill=reading_drill, qa_share=qa_share, hearing_drill=hearing_drill,
                              order_mark=order_mark, order_drill=order_drill,
                              listing_drill=listing_drill)
    log.info("%s: %d examples from %d pretraining records", role, len(examples), len(records))

    if out.exists():  # a stale directory would mix old and new files
        shutil.rmtree(out)
    if init:  # warm start: the init model's weights, tokenizer and processor
        _copy_init(Path(init), out, spec.arch)
    else:
        build_model_dir(role, out, seed, R.corpus(examples), size)
    # float32 on CPU whatever the machine has: the loop, its lr and the recorded steps assume it.
    model, processor = load_model(ModelSpec(name_or_path=str(out), dtype="float32", device_map=None),
                                  for_training=True)
    n_params = sum(p.numel() for p in model.parameters())
    if freeze_encoder:  # keep a warm start's perception; train the language model only
        frozen = freeze_media_encoder(model)
        log.info("froze %d encoder parameters", frozen)

    t_cache = time.perf_counter()
    focus = {w: focus_weight for w in T.DECISIVE_WORDS} if focus_weight != 1.0 else None
    cache = FeatureCache(processor, spec.arch, focus=focus)
    for ex in examples:
        cache.add(ex)
    cache.check_consistency(examples[-1])
    cache_seconds = time.perf_counter() - t_cache
    del examples  # media arrays are no longer needed: the cache holds the features

    history = train_loop(model, cache, steps, seconds, seed, progress=progress, device=device, lr=lr)
    save_fp16(model, out)
    first, last = window_means(history["losses"])
    s = split("pretrain")
    info: dict[str, Any] = {
        "role": role, "architecture": spec.arch, "size": size, "num_parameters": n_params,
        "seed": seed, "steps": history["steps"], "train_seconds": round(history["seconds"], 1),
        "time_budget_s": seconds, "step_budget": steps, "threads": threads,
        "batch_size": BATCH_SIZE, "lr": lr, "warmup_steps": WARMUP_STEPS, "freeze_encoder": freeze_encoder,
        "focus_weight": focus_weight if role == "verifier" else None,
        "describe": describe if role == "student" else None,
        "teacher_traces": _traces_info(teacher_traces, samples, records) if teacher_traces else None,
        "reading_drill": reading_drill if role == "verifier" else None,
        "hearing_drill": hearing_drill if role == "verifier" else None,
        "order_mark": order_mark if role == "verifier" else None,  # the reply format role_checks reads
        "order_drill": order_drill if role == "verifier" else None,
        "listing_drill": listing_drill if role == "verifier" else None,
        "qa_share": qa_share if role == "student" else None,
        "examples": len(cache.items), "epochs": round(history["epochs"], 2),
        "pretrain_split": {"name": s.name, "seed": s.seed, "num": len(records)},
        "init": _init_info(init),
        "feature_cache_seconds": round(cache_seconds, 1),
        "loss_first": first, "loss_last": last,
        "loss_curve": [round(sum(history["losses"][i:i + 10]) / len(history["losses"][i:i + 10]), 4)
                       for i in range(0, len(history["losses"]), 10)],
        "weights_dtype": "float16",
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "trained_on": {**machine(), "device": device},
        "reproduce": f"sightsound pretrain --role {role} --out DIR --seed {seed} --steps {history['steps']} "
                     f"--num {len(records)}" + (" --init INIT_DIR" if init else "")
                     + (f" --lr {lr:g}" if lr != LR else "") + (" --freeze-encoder" if freeze_encoder else "")
                     + (" --describe" if role == "student" and describe else "")
                     + (f" --focus-weight {focus_weight:g}" if focus_weight != 1.0 else "")
                     + (" --teacher-traces TRACES.jsonl" if teacher_traces else "")
                     + (f" --reading-drill {reading_drill:g}" if reading_drill else "")
                     + (f" --hearing-drill {hearing_drill:g}" if hearing_drill else "")
                     + (f" --order-mark {order_mark}" if order_mark != "none" else "")
                     + (f" --order-drill {order_drill:g}" if order_drill else "")
                     + (f" --listing-drill {listing_drill:g}" if listing_drill else "")
                     + (f" --qa-share {qa_share:g}" if role == "student" and qa_share != R.STUDENT_QA_SHARE else ""),
    }
    del cache, model
    if evaluate:
        from sightsound.mini.role_checks import evaluate_role, reference_check

        mark = order_mark if role == "verifier" else None  # pretrain_info.json is written after this
        info["heldout"] = evaluate_role(role, out, split="pretrain_check", num=check_num, progress=progress,
                                        margins=True, order_mark=mark)
        info["reference_check"] = reference_check(role, out, order_mark=mark)
    info["total_seconds"] = round(time.perf_counter() - t_start, 1)
    (out / INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _traces_info(path, samples: dict[str, tuple[str, ...]], records: list[dict]) -> dict[str, Any]:
    """Which teacher samples the verifier saw: the file (and its hash), how many records and thinks."""
    import hashlib

    used = [samples[r["id"]] for r in records if r["id"] in samples]
    return {"path": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
            "records_with_samples": sum(1 for s in used if s), "thinks": sum(len(s) for s in used)}


def _init_info(init) -> dict[str, Any] | None:
    """What a warm start began from: the init model's own pretraining record, if it has one."""
    if not init:
        return None
    info_file = Path(init) / INFO
    prior = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
    return {"path": str(init), "role": prior.get("role"), "seed": prior.get("seed"), "steps": prior.get("steps"),
            "reproduce": prior.get("reproduce")}
