"""Where CoT SFT loses accuracy on SightSound-mini: the teacher's false accounts, or answering through one?

A diagnostic [ours], outside the method's stages (it reads the distillation split's scene graphs, which
no stage of the method may): for each seed of a finished ``sightsound experiment``, the student is
fine-tuned with the recipe's own CoT SFT settings on

- ``kept``: the experiment's own CoT SFT set (the samples Steps 1-2 kept: same records, same answers),
  each ``<think>`` replaced by the true account of its clip in the teacher's words
  (:func:`sightsound.mini.targets.audio_cot`): a teacher that never hallucinates on those records;
- ``all_cot``: every distillation record with a label, true account then label: a teacher that is
  right and unanimous everywhere (no question family left out by Step 1);
- ``all_label``: every distillation record, the label alone (label-only SFT on that set);
- ``random_cot``: as many records as the kept set, drawn at random from every labelled record (seeded
  by the run's seed), each repeated as often as a kept record is, true account then label: the kept
  set's size without Step 1's choice of records,

and evaluated on the experiment's test split with the CoT systems' prompt. Per variant: accuracy per
seed, mean and t-interval, beside the experiment's pretrained / label-only / CoT SFT rows of the same
seeds; accuracy by question family; and, for the CoT variants, accuracy split by whether the student's
own test ``<think>`` contradicts the audio (:func:`sightsound.synth.hallucination.judge`). Resumable:
a seed whose evaluation exists is read, not redone (training resumes from its checkpoints).

    python scripts/oracle_accounts.py EXPERIMENT_DIR --out DIR [--seeds 0,1,...] [--variants kept,all_cot,all_label]

About 4 min per seed for ``kept`` and ``random_cot``, 10 min for each ``all_*`` variant on 2 idle cores, one torch thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

from sightsound.artefacts import TeacherSample, read_records
from sightsound.config import dump_yaml, load_recipe
from sightsound.jsonl import atomic_write_json, atomic_write_text, read_json, read_jsonl
from sightsound.mini.experiment import _mean_std, predictions_path
from sightsound.mini.targets import audio_cot
from sightsound.parsing import extract_think
from sightsound.pipeline import Layout, stage_recipe
from sightsound.sft_data import build_sets, target_text
from sightsound.synth.hallucination import judge
from sightsound.synth.vocab import all_classes

VARIANTS = ("kept", "all_cot", "all_label", "random_cot")
COMPARED = ("pretrained", "label_sft", "cot_sft")  # the experiment's own rows, same seeds
ANSWER_ONLY = ("pretrained", "label_sft", "oracle_all_label")  # systems that write no <think>


def scenes_of(run: Path) -> dict[str, dict]:
    return {row["id"]: row["meta"]["scene"] for row in read_jsonl(Layout(run).data)}


def training_set(run: Path, variant: str) -> list[dict]:
    """The variant's SFT rows, in the CoT SFT set's own message form (prompt style, answer style)."""
    L, recipe = Layout(run), load_recipe(run / "recipe.yaml")
    scenes = scenes_of(run)
    if variant == "kept":
        rows = list(read_jsonl(L.sft_set("cot")))
        for row in rows:  # the kept sample's own answer (``solution``), written as build-sft writes it
            row["messages"][-1]["content"][0]["text"] = target_text(
                audio_cot(scenes[row["record_id"]]), row["choices"], row["solution"],
                answer_style=recipe.pipeline.answer_style)
        return rows
    records = {r.id: r for r in read_records(L.data)}
    labelled = [r for r in records.values() if r.answer is not None]
    repeats = [1] * len(labelled)
    if variant == "random_cot":  # the kept set's records-and-repeats shape over records drawn at random
        kept = Counter(row["record_id"] for row in read_jsonl(L.sft_set("cot")))
        labelled = random.Random(f"oracle-{recipe.seed}").sample(labelled, len(kept))
        repeats = list(kept.values())
    samples = [TeacherSample(f"{r.id}#{i}", r.id, audio_cot(scenes[r.id]), r.answer)
               for r, n in zip(labelled, repeats) for i in range(n)]
    rows, _, refused = build_sets(samples, records, label_only=variant == "all_label",
                                  answer_style=recipe.pipeline.answer_style, prompt_style=recipe.pipeline.student_prompt)
    if refused:
        raise SystemExit(f"{run}: {len(refused)} records refused, e.g. {refused[0]}")
    return rows


def run_seed(run: Path, out: Path, variant: str) -> Path:
    """Train (``sightsound sft``) and evaluate (``sightsound eval``) one variant of one seed; returns
    the results file."""
    results = out / "eval" / "synthetic.json"
    if results.is_file():
        return results
    out.mkdir(parents=True, exist_ok=True)
    train_file = out / "train.jsonl"
    atomic_write_text(train_file, "".join(json.dumps(row) + "\n" for row in training_set(run, variant)))
    recipe = load_recipe(run / "recipe.yaml")
    _, sub = stage_recipe(recipe, Layout(run), "cot_sft")  # the run's CoT SFT settings, seed included
    sub = dataclasses.replace(sub, sft=dataclasses.replace(sub.sft, train_file=str(train_file),
                                                           output_dir=str(out / "train")))
    atomic_write_text(out / "sft.yaml", dump_yaml(sub))
    cli = [sys.executable, "-m", "sightsound"]
    subprocess.run([*cli, "sft", "--config", str(out / "sft.yaml")], check=True)
    subprocess.run([*cli, "eval", "--config", str(run / "recipe.yaml"), "--benchmark", "synthetic",
                    "--annotations", str(Layout(run).test_data), "--adapter", str(out / "train" / "adapter"),
                    "--out", str(results), "--system", f"oracle_{variant}", "--prompt", recipe.pipeline.student_prompt],
                   check=True)
    return results


def read_items(path: Path) -> list[dict]:
    return [item for item in read_json(path) if not item.get("control")]


def think_split(items: list[dict]) -> dict[str, dict]:
    """Accuracy where the reply's own ``<think>`` agrees with the audio and where it contradicts it."""
    out = {"true": [0, 0], "false": [0, 0]}
    for item in items:
        think = extract_think(item.get("response"))
        if think is None:
            continue
        false = judge(think, None, None, item["scene"], all_classes()).hallucinated
        cell = out["false" if false else "true"]
        cell[0] += bool(item["correct"])
        cell[1] += 1
    return {k: {"n": n, "accuracy": c / n if n else None} for k, (c, n) in out.items()}


def families(items: list[dict]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        out[item["family"]][0] += bool(item["correct"])
        out[item["family"]][1] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("experiment", type=Path, help="a finished `sightsound experiment` output folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", default=None, help="comma-separated (default: every seed_* of the experiment)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args(argv)
    variants = args.variants.split(",")
    if unknown := set(variants) - set(VARIANTS):
        ap.error(f"unknown variants {sorted(unknown)} (known: {', '.join(VARIANTS)})")
    seeds = ([int(s) for s in args.seeds.split(",")] if args.seeds else
             sorted(int(p.name.split("_")[1]) for p in args.experiment.glob("seed_*")))
    runs = {k: (args.experiment / f"seed_{k}").resolve() for k in seeds}

    paths: dict[str, dict[int, Path]] = {}
    for system in COMPARED:  # the experiment's rows where it has them
        if have := {k: p for k, run in runs.items() if (p := predictions_path(run, system)).is_file()}:
            paths[system] = have
    for variant in variants:
        paths[f"oracle_{variant}"] = {}
        for k, run in runs.items():
            res = run_seed(run, args.out.resolve() / variant / f"seed_{k}", variant)
            paths[f"oracle_{variant}"][k] = res.with_name("synthetic.predictions.json")

    summary: dict = {"experiment": str(args.experiment.resolve()), "seeds": seeds, "systems": {}}
    for system, per in paths.items():
        items = {k: read_items(p) for k, p in per.items()}
        acc = {k: sum(bool(i["correct"]) for i in v) / len(v) for k, v in items.items()}
        fam: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for v in items.values():
            for f, (c, n) in families(v).items():
                fam[f][0] += c
                fam[f][1] += n
        every = [i for v in items.values() for i in v]
        summary["systems"][system] = {
            "per_seed": acc, **_mean_std(list(acc.values())),
            "family": {f: c / n for f, (c, n) in sorted(fam.items())},
            "think": None if system in ANSWER_ONLY else think_split(every)}
    atomic_write_json(args.out / "summary.json", summary)
    atomic_write_text(args.out / "summary.md", markdown(summary))
    print(markdown(summary))
    return 0


def markdown(summary: dict) -> str:
    def pct(x):
        return "—" if x is None else f"{100 * x:.1f}"

    systems = summary["systems"]
    lines = [f"Test split of `{summary['experiment']}`, seeds {summary['seeds']}; mean over seeds, 95 % t-interval.", "",
             "| system | mean | 95% CI | per seed | think true: n, acc | think false: n, acc |", "|---|---|---|---|---|---|"]
    for name, s in systems.items():
        ci = "—" if not s["ci95"] else f"[{pct(s['ci95'][0])}, {pct(s['ci95'][1])}]"
        th = s.get("think") or {}
        cells = [f"{th[k]['n']}, {pct(th[k]['accuracy'])}" if k in th else "—" for k in ("true", "false")]
        lines.append(f"| {name} | {pct(s['mean'])} | {ci} | {' '.join(pct(v) for v in s['per_seed'].values())} | "
                     + " | ".join(cells) + " |")
    fams = sorted({f for s in systems.values() for f in s["family"]})
    lines += ["", "| system | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
    for name, s in systems.items():
        lines.append(f"| {name} | " + " | ".join(pct(s["family"].get(f)) for f in fams) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
