"""A short distillation from a SightSound-mini student: can it write what CoT SFT teaches, and does
GRPO from there get a signal?

On fixed held-out records (the ``pretrain_check`` split, which no training set uses) the student is
trained by the project's own Step 3 code on chain-of-thought examples in the teacher's words
(:func:`sightsound.mini.targets.teacher_target`: the vision account and the vision answer, what the
mini teacher says) of the first ``sft_records`` records, with the demo recipe's SFT settings but
many epochs over few examples (about 35 steps; the experiment's CoT SFT takes about 320); then it is asked the
*other* records' questions -- questions it was not trained on, as GRPO's are in the experiment
(there, SFT and GRPO share records, and the SFT student already answers most of them) -- and GRPO
continues from that adapter on them with the demo recipe's GRPO settings for a few steps. The figures:

- ``format_rate``: the share of the SFT student's samples at the GRPO temperature (``SAMPLES`` per
  prompt, GRPO's completion length) on those questions that pass the format reward (the
  student-fluency gate of the SightSound-mini issue); ``format_rate_grpo_first``: the same read from
  GRPO's first logged step;
- ``zero_std_fraction``: the share of GRPO groups whose rewards were all equal, mean over the
  logged steps (a group without spread gives GRPO no signal);
- the SFT loss at its first and last logged step.

Measured on the shipped student (its ``pretrain_info.json``): such a short SFT does not make it
fluent (format rate 0 on the unseen questions; the loss falls from 8.2 to 1.7 per token, where
the experiment's 320 steps reach about 0.7 and write the format greedily), and GRPO from it still
gets a signal (most groups' rewards differ, from the answers). Fluency after the experiment's own
SFT is the experiment's figure (``format_reward_first`` per seed, the stage gates).

The shipped student records them in ``pretrain_info.json`` (``distill_check``) and the tests re-run
the same check (tests/test_mini_gates.py). Deterministic for a seed on one machine (one thread).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

RECORDS = 48  # held-out records: the first SFT_RECORDS for SFT, the rest GRPO's prompts
SFT_RECORDS = 16
SFT_EPOCHS = 20
# SFT at the demo recipe's learning rate (a larger one, 1e-2, did not make a 35-step run fluent either).
GRPO_STEPS = 3
SAMPLES = 4  # samples per prompt for the format rate


def sampled_format_rate(recipe, adapter: Path, rows: list[dict], n: int = SAMPLES, seed: int = 0) -> float:
    """Share of ``n`` samples per GRPO row at ``grpo.temperature`` that pass the format reward."""
    from sightsound.backends.base import GenerationRequest, SamplingParams
    from sightsound.evaluate.student import load_student_backend
    from sightsound.media import load_audio
    from sightsound.rewards import format_reward

    backend = load_student_backend(recipe.models.student, adapter)
    g = recipe.grpo
    requests = [GenerationRequest(id=r["id"], text=r["prompt"][0]["content"][1]["text"], audio=load_audio(r["audio"]),
                                  sampling=SamplingParams(n=n, temperature=g.temperature,
                                                          max_new_tokens=g.max_completion_length, seed=seed))
                for r in rows]
    texts = []
    for res in backend.generate(requests):
        if res.error:
            raise RuntimeError(f"distill check: generation failed for {res.request_id}: {res.error}")
        texts += [gen.text for gen in res.generations]
    return sum(format_reward(texts)) / len(texts)


def _rows(records: list[dict], index: dict, prompt_style: str, answer_style: str) -> tuple[list[dict], list[dict]]:
    """(SFT rows, GRPO rows) of the mini teacher's account and answer for ``records`` (``index``: the
    split's records by id, as build-sft looks them up)."""
    from sightsound.artefacts import TeacherSample
    from sightsound.mini import targets as T
    from sightsound.sft_data import build_sets

    samples = []
    for r in records:
        meta = r["meta"]
        if meta.get("vision_answer") is None:
            continue
        samples.append(TeacherSample(f"{r['id']}#0", r["id"], T.teacher_cot(meta["scene"]), meta["vision_answer"]))
    sft, grpo, refused = build_sets(samples, index, answer_style=answer_style, prompt_style=prompt_style)
    if refused:
        raise ValueError(f"distill check: {len(refused)} examples refused, first: {refused[0]}")
    return sft, grpo


def distill_check(student: str | Path, work_dir: str | Path, records: int = RECORDS, seed: int = 0,
                  sft_records: int = SFT_RECORDS, sft_epochs: int = SFT_EPOCHS, grpo_steps: int = GRPO_STEPS,
                  recipe_path: str | Path | None = None) -> dict[str, Any]:
    """Short CoT SFT then GRPO from ``student`` on the first ``records`` held-out records; the figures above."""
    import torch

    from sightsound.artefacts import index_records
    from sightsound.config import load_recipe
    from sightsound.demo import DEMO_RECIPE
    from sightsound.jsonl import write_jsonl_atomic
    from sightsound.mini.world import split_records
    from sightsound.stage_figures import grpo_signal
    from sightsound.train.common import read_metrics
    from sightsound.train.grpo import train_grpo
    from sightsound.train.sft import train_sft

    torch.set_num_threads(1)
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(recipe_path or DEMO_RECIPE, [f"models.student.name_or_path={student}"])
    recs, base = split_records("pretrain_check", records, progress=False)
    index = index_records(base / "data.jsonl")
    styles = recipe.pipeline.student_prompt, recipe.pipeline.answer_style
    sft_rows, _ = _rows(recs[:sft_records], index, *styles)
    _, grpo_rows = _rows(recs[sft_records:], index, *styles)
    write_jsonl_atomic(work / "sft.jsonl", sft_rows)
    write_jsonl_atomic(work / "grpo.jsonl", grpo_rows)

    sft_cfg = dataclasses.replace(recipe.sft, train_file=str(work / "sft.jsonl"), output_dir=str(work / "sft"),
                                  num_train_epochs=sft_epochs, seed=seed, logging_steps=1, resume="never")
    sft = train_sft(dataclasses.replace(recipe, sft=sft_cfg))
    losses = [r["loss"] for r in read_metrics(sft.output_dir) if r.get("loss") is not None]
    fmt = sampled_format_rate(recipe, sft.adapter_dir, grpo_rows, seed=seed)

    grpo_cfg = dataclasses.replace(recipe.grpo, train_file=str(work / "grpo.jsonl"), output_dir=str(work / "grpo"),
                                   init_adapter=str(sft.adapter_dir), max_steps=grpo_steps, seed=seed,
                                   logging_steps=1, resume="never")
    grpo = train_grpo(dataclasses.replace(recipe, grpo=grpo_cfg))
    signal = grpo_signal(read_metrics(grpo.output_dir)) or {}
    return {"split": "pretrain_check", "records": len(recs), "sft_records": sft_records, "sft_examples": len(sft_rows),
            "grpo_prompts": len(grpo_rows), "seed": seed, "sft_epochs": sft_epochs, "grpo_steps": grpo_steps,
            "sft_lr": sft_cfg.learning_rate, "grpo_lr": grpo_cfg.learning_rate,
            "grpo_temperature": grpo_cfg.temperature, "num_generations": grpo_cfg.num_generations,
            "sft_loss_first": losses[0] if losses else None, "sft_loss_last": losses[-1] if losses else None,
            "format_rate": fmt, "format_samples": SAMPLES * len(grpo_rows),
            "format_rate_grpo_first": signal.get("format_reward_first"),
            "zero_std_fraction": signal.get("zero_std_fraction_mean"),
            "accuracy_reward_mean": signal.get("accuracy_reward_mean")}
