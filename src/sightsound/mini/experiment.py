"""The paper's comparison on SightSound-mini over several training seeds (the library of ``sightsound experiment``).

Systems (as in the paper, plus the Step-2 ablation): the pretrained student; label-only SFT;
label-only GRPO; SFT on unverified CoT; SFT on verified CoT; SightSound-R1 (verified-CoT SFT, then
GRPO). All are evaluated on the held-out synthetic ``test`` split; the distillation runs on the
``distill`` split; the mini models were pretrained on neither (:mod:`sightsound.mini.splits`).

Tiny models trained from scratch vary a lot from seed to seed (up to 40 points), so
single runs prove nothing: the experiment repeats *training* over ``--seeds`` seeds and reports mean
± standard deviation and a paired comparison per seed. The teacher's traces, the verifier's
verdicts and the training sets are made once (seed 0's run directory) and shared by every seed, so
the seeds differ only where the comparison needs them to: in the students' training.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from sightsound.config import Recipe
from sightsound.jsonl import LOCK_FILE_PATTERNS, atomic_write_json, atomic_write_text, read_json, read_jsonl
from sightsound.mini.gates import markdown as gates_markdown
from sightsound.mini.gates import pct, stage_gates
from sightsound.systems import UNTRAINED

BENCH = "synthetic"
SHARED = ("recipe.yaml", "manifest.json", "data", "teach", "verify", "sft_data", "eval/pretrained",
          "eval/pretrained_r1_aqa_prompt")


EVAL_SPLITS = ("test", "validation")
MINI_DEFAULT = Path("assets/mini")  # the demo recipe's model paths: assets/mini/<role>


def experiment_recipe(recipe: Recipe, models: dict[str, str] | None = None, eval_split: str = "test") -> Recipe:
    """The demo recipe pointed at SightSound-mini's models and its distill split, evaluated on
    ``eval_split``: ``test`` for the reported table, ``validation`` for tuning settings [ours]."""
    from sightsound.mini.checkpoints import mini_model_dir
    from sightsound.mini.splits import split

    if eval_split not in EVAL_SPLITS:
        raise ValueError(f"eval split {eval_split!r}: expected one of {', '.join(EVAL_SPLITS)}")
    m = recipe.models
    # The recipe's own path is kept where it is not the demo's "assets/mini/<role>" (a
    # `models.student.name_or_path=DIR` override, e.g. a candidate student tried on validation);
    # that default becomes the shipped (or cached) checkpoint wherever the command runs from.
    if not models:
        paths = {role: getattr(m, role).name_or_path for role in ("teacher", "verifier", "student")}
        models = {role: str(mini_model_dir(role)) if Path(path) == MINI_DEFAULT / role else path
                  for role, path in paths.items()}
    new_models = dataclasses.replace(
        m,
        teacher=dataclasses.replace(m.teacher, name_or_path=models["teacher"]),
        verifier=dataclasses.replace(m.verifier, name_or_path=models["verifier"]),
        student=dataclasses.replace(m.student, name_or_path=models["student"]),
    )
    return dataclasses.replace(
        recipe,
        models=new_models,
        synth=dataclasses.replace(recipe.synth, seed=split("distill").seed),
        pipeline=dataclasses.replace(recipe.pipeline, test_seed=split(eval_split).seed),
        eval=dataclasses.replace(recipe.eval, benchmarks=[BENCH]),
    )


def _seeded(recipe: Recipe, seed: int) -> Recipe:
    """Only the training seeds change (so the shared stages keep their fingerprints)."""
    later = seed > 0  # seed 0 keeps the distill-record answers and the HTML report
    return dataclasses.replace(
        recipe,
        sft=dataclasses.replace(recipe.sft, seed=seed),
        grpo=dataclasses.replace(recipe.grpo, seed=seed),
        pipeline=dataclasses.replace(
            recipe.pipeline,
            eval_distill_records=recipe.pipeline.eval_distill_records and not later,
            html_report=recipe.pipeline.html_report and not later,
        ),
    )


def _shared_stages(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """Shared stage -> the :data:`SHARED` folders its outputs lie in (its outputs are all shared)."""
    out = {}
    for name, entry in manifest.get("artefacts", {}).items():
        homes = [next((rel for rel in SHARED if o == rel or o.startswith(rel + "/")), None) for o in entry.get("outputs", [])]
        if homes and None not in homes:
            out[name] = sorted(set(homes))
    return out


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        # Not the lock files: a linked lock is one inode for every seed, so two seeds running the
        # same stage would lock each other out (a later seed that redoes a stage needs its own lock).
        shutil.copytree(src, dst, copy_function=os.link, ignore=shutil.ignore_patterns(*LOCK_FILE_PATTERNS))
    else:
        shutil.copy2(src, dst)


def _share_from(first: Path, run: Path) -> None:
    """Hard-link seed 0's data, traces, verdicts, sets and pretrained scores into a later seed's run.

    The stage runner then finds those stages up to date (same fingerprints) and skips them. When a
    later seed already has them but seed 0 has since remade a shared stage (a new verifier checkpoint,
    say), the seed's copies of that stage's folders are replaced by seed 0's and its manifest entries
    by seed 0's, so the seed does not remake the shared stage itself; its training stages then see
    changed inputs and redo, the others stay done.
    """
    if (run / "manifest.json").exists():
        _replace_stale_shared(first, run)
    for rel in SHARED:
        src, dst = first / rel, run / rel
        if src.exists() and not dst.exists():
            _link(src, dst)


def _replace_stale_shared(first: Path, run: Path) -> None:
    mine, theirs = read_json(run / "manifest.json"), read_json(first / "manifest.json")
    shared = _shared_stages(theirs)
    replaced = {home for name, homes in shared.items() for home in homes
                if theirs["artefacts"][name].get("status") == "complete"
                and (mine["artefacts"].get(name) or {}).get("fingerprint") != theirs["artefacts"][name]["fingerprint"]}
    if not replaced:
        return
    for rel in sorted(replaced):
        dst = run / rel
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        _link(first / rel, dst)
    # Every stage whose outputs live in a replaced folder takes seed 0's entry (a folder holds no
    # seed-specific output: SHARED lists only what every seed shares).
    for name, homes in shared.items():
        if replaced & set(homes):
            mine["artefacts"][name] = theirs["artefacts"][name]
    atomic_write_json(run / "manifest.json", mine)


# ---------------------------------------------------------------------------------------- summary
def _mean_std(xs: list[float]) -> dict[str, Any]:
    """Mean, std and the 95 % t-interval of the mean over seeds (seeds are the unit of replication)."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"mean": None, "std": None, "n": 0, "ci95": None}
    mean = statistics.fmean(xs)
    std = statistics.stdev(xs) if len(xs) > 1 else 0.0
    ci = None
    if len(xs) > 1:
        from scipy.stats import t

        half = float(t.ppf(0.975, len(xs) - 1)) * std / len(xs) ** 0.5
        ci = [mean - half, mean + half]
    return {"mean": mean, "std": std, "n": len(xs), "ci95": ci}


def _family_counts(first_run: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Records per question family: of the distilled set (the label-only set has one row per kept
    record) and of the evaluated split (its synth summary), the distilled counts with a 0 for every
    evaluated family Step 1 kept no record of."""
    from sightsound.pipeline import Layout
    from sightsound.synth.generate import SUMMARY
    from sightsound.synth.generate import summarize as synth_summary

    L = Layout(first_run)
    evaluated = read_json(L.test_data.parent / SUMMARY)["family"]
    kept = {row["record_id"] for row in read_jsonl(L.sft_set("label"))}
    distilled = synth_summary([r for r in read_jsonl(L.data) if r["id"] in kept])["family"]
    return dict(sorted((dict.fromkeys(evaluated, 0) | distilled).items())), evaluated


def seed_dir(out: Path, seed: int) -> Path:
    """One seed's run directory inside the experiment's ``--out`` (seed 0's holds the shared stages)."""
    return out / f"seed_{seed}"


def predictions_path(run: Path, system: str) -> Path:
    """The eval stage's per-item predictions file of ``system`` on the synthetic split in one seed's run."""
    from sightsound.evaluate.run import output_paths
    from sightsound.pipeline import Layout

    return output_paths(Layout(run).eval(system, BENCH))["predictions"]


# GRPO-trained systems and the adapter each starts from (the no-harm gate compares the first pair).
GRPO_STARTS = {"sightsound_r1": "cot_sft"}


def answers_changed(runs: dict[int, Path], system: str, start: str) -> dict[int, dict[str, Any]]:
    """Per seed, the evaluated items ``system`` gets right and ``start`` wrong (``gained``), the reverse
    (``lost``) and McNemar's exact p: whether a seed's drop is more than the answers GRPO happens to
    move. Read from each run's predictions files; a seed without both is left out."""
    from sightsound.evaluate.compare import item_verdicts
    from sightsound.evaluate.intervals import mcnemar_exact
    from sightsound.jsonl import ArtefactError

    out = {}
    for k, run in runs.items():
        paths = [predictions_path(run, s) for s in (system, start)]
        if not all(p.is_file() for p in paths):
            continue
        right = [item_verdicts(p) for p in paths]
        for p, verdicts in zip(paths, right):
            if verdicts is None:
                raise ArtefactError(f"{p}: not a predictions file with a 'correct' verdict per item")
        ids = right[0].keys() & right[1].keys()
        gained = sum(right[0][i] and not right[1][i] for i in ids)
        lost = sum(right[1][i] and not right[0][i] for i in ids)
        out[k] = {"items": len(ids), "gained": gained, "lost": lost, "mcnemar_p": mcnemar_exact(gained, lost)}
    return out


# Why an answer reads as no option (answers_off_options), in the order they are tested.
OFF_OPTION_KINDS = ("own_think_sound", "other_sound", "option_words", "other")


def answers_off_options(runs: dict[int, Path], system: str) -> dict[str, Any] | None:
    """How often ``system``'s answer reads as no single option (``parse_status`` other than ``ok``;
    every seed's evaluated items together; the benchmark counts them wrong for every system alike),
    and what those answers say (:data:`OFF_OPTION_KINDS`): a sound class no option holds that the
    reply's own ``<think>`` names (the answer followed the chain of thought past the options), another
    sound class no option holds, words of the options but not one option, or anything else (e.g.
    ``no`` to a question that is not yes/no). None where no seed has a predictions file."""
    from sightsound.evaluate.scoring import official_tokens as words  # the benchmark's own word split
    from sightsound.mini.targets import CLASS_NAMES, mentioned_classes
    from sightsound.parsing import OK, extract_think, scored_text

    items, kinds = 0, dict.fromkeys(OFF_OPTION_KINDS, 0)
    for run in runs.values():
        path = predictions_path(run, system)
        if not path.is_file():
            continue
        for item in read_json(path):
            if item.get("control"):
                continue
            items += 1
            if item.get("parse_status") == OK:
                continue
            said = words(scored_text(item.get("response")) or "")
            in_options = set().union(*(words(c) for c in item.get("choices") or []))
            named = {c for c in CLASS_NAMES if c in said and c not in in_options}
            think = extract_think(item.get("response") or "")
            if named and think and named & mentioned_classes(think):
                kinds["own_think_sound"] += 1
            elif named:
                kinds["other_sound"] += 1
            elif said & in_options:
                kinds["option_words"] += 1
            else:
                kinds["other"] += 1
    if not items:
        return None
    off = sum(kinds.values())
    return {"items": items, "off_options": off, "rate": off / items, "kinds": kinds}


def summarize(per_seed: dict[int, dict], first_run: Path, eval_split: str = "test",
              verifier_dir: str | Path | None = None) -> dict[str, Any]:
    systems = list(dict.fromkeys(s for res in per_seed.values() for s in res["systems"]))
    acc = {s: {k: ((res["systems"].get(s) or {}).get(BENCH) or {}).get("accuracy") for k, res in per_seed.items()}
           for s in systems}
    table = {s: _mean_std(list(acc[s].values())) | {"per_seed": acc[s]} for s in systems}
    paired = {}
    for ref in ("pretrained", "sightsound_r1"):
        if ref not in acc:
            continue
        for s in systems:
            if s == ref:
                continue
            diffs = [acc[s][k] - acc[ref][k] for k in per_seed if acc[s][k] is not None and acc[ref][k] is not None]
            paired[f"{s} - {ref}"] = _mean_std(diffs) | {"wins": sum(d > 0 for d in diffs),
                                                          "ties": sum(d == 0 for d in diffs), "seeds": len(diffs)}
    breakdowns: dict[str, dict[str, dict[str, Any]]] = {}
    for key in ("evidence", "family"):
        for s in systems:
            groups: dict[str, list[float]] = {}
            for res in per_seed.values():
                for g, v in (((res["systems"].get(s) or {}).get(BENCH) or {}).get("breakdowns", {}).get(key) or {}).items():
                    if v is not None:
                        groups.setdefault(g, []).append(v)
            breakdowns.setdefault(key, {})[s] = {g: _mean_std(v)["mean"] for g, v in sorted(groups.items())}
    teach = read_json(first_run / "teach" / "traces.stats.json")
    distilled_families, eval_families = _family_counts(first_run)
    verify = read_json(first_run / "verify" / "verified.stats.json")
    hall = verify.get("hallucination") or {}
    stages = {
        "teacher_accuracy": teach.get("teacher_accuracy"),
        "teacher_accuracy_by_evidence": {e: v.get("teacher_accuracy") for e, v in (teach.get("by_evidence") or {}).items()},
        "records": teach.get("records"),
        "kept_after_consistency": teach.get("kept_fraction"),
        "unanimous_without_label_match": teach.get("unanimous_fraction"),
        "verifier_checked": verify.get("checked"),
        "verifier_keep_rate": verify.get("keep_rate"),
        "records_kept_after_verification": verify.get("records_with_a_kept_sample"),
        "verifier_precision": hall.get("precision"),
        "verifier_recall": hall.get("recall"),
        "hallucinated_samples": hall.get("hallucinated"),
        "modality_leak_before": hall.get("modality_leak_before"),
        "modality_leak_after": hall.get("modality_leak_after"),
        # Which question families the distilled set teaches (label-only set: one row per kept record),
        # beside the evaluated split's: a family Step 1 never keeps is one SFT may make the student forget.
        "distilled_records_by_family": distilled_families,
        "eval_records_by_family": eval_families,
    }
    # GRPO's signal per seed and system (the gates read them; a reader sees which seed drifted).
    signal = {k: {s: {f: sig.get(f) for f in ("format_reward_first", "format_reward_mean", "accuracy_reward_mean",
                                              "zero_std_fraction_mean", "kl_final")}
                  for s, sig in (res.get("grpo_signal") or {}).items()}
              for k, res in per_seed.items()}
    runs = {k: seed_dir(first_run.parent, k) for k in per_seed}
    changed = {s: answers_changed(runs, s, start) for s, start in GRPO_STARTS.items() if s in acc and start in acc}
    off_options = {s: a for s in systems if (a := answers_off_options(runs, s)) is not None}
    return {"benchmark": f"{BENCH} (SightSound-mini {eval_split} split)", "eval_split": eval_split,
            "seeds": sorted(per_seed), "accuracy": table, "paired": paired, "breakdowns": breakdowns,
            "stages": stages, "grpo_signal_per_seed": signal, "grpo_answers_changed": changed,
            "answers_off_options": off_options,
            "gates": stage_gates(per_seed, table, verifier_dir, changed=changed.get("sightsound_r1"))}


def markdown(summary: dict[str, Any]) -> str:
    def ci(r: dict) -> str:
        return "—" if not r.get("ci95") else f"[{pct(r['ci95'][0])}, {pct(r['ci95'][1])}]"

    split_name = summary.get("eval_split", "test")
    lines = [f"## Student accuracy on the held-out synthetic {split_name} split (%), {len(summary['seeds'])} training seeds", "",
             "Official rule of the benchmark on the extracted text; 95% CI = t-interval of the mean over seeds.", "",
             "| system | mean ± std | 95% CI | per seed |", "|---|---|---|---|"]
    for s, r in summary["accuracy"].items():
        per = " ".join(pct(v) for v in r["per_seed"].values())
        lines.append(f"| {s} | {pct(r['mean'])} ± {pct(r['std'])} | {ci(r)} | {per} |")
    lines += ["", "### Paired differences per seed (points)", "", "| comparison | mean ± std | 95% CI | wins / seeds |",
              "|---|---|---|---|"]
    for name, r in summary["paired"].items():
        lines.append(f"| {name} | {pct(r['mean'])} ± {pct(r['std'])} | {ci(r)} | {r['wins']} / {r['seeds']} |")
    ev = summary["breakdowns"].get("evidence") or {}
    groups = sorted({g for v in ev.values() for g in v})
    if groups:
        lines += ["", "### By evidence type (mean over seeds, %)", "", "| system | " + " | ".join(groups) + " |",
                  "|---|" + "---|" * len(groups)]
        for s, v in ev.items():
            lines.append(f"| {s} | " + " | ".join(pct(v.get(g)) for g in groups) + " |")
    st = summary["stages"]
    fam = summary["breakdowns"].get("family") or {}
    families = sorted({g for v in fam.values() for g in v})
    if families:
        taught, tested = st.get("distilled_records_by_family") or {}, st.get("eval_records_by_family") or {}
        lines += ["", "### By question family (mean over seeds, %)", "",
                  "| system | " + " | ".join(families) + " |", "|---|" + "---|" * len(families)]
        for s, v in fam.items():
            lines.append(f"| {s} | " + " | ".join(pct(v.get(g)) for g in families) + " |")
        if taught:
            lines.append("| *distilled records* | " + " | ".join(str(taught.get(g, 0)) for g in families) + " |")
        if tested:
            lines.append(f"| *{split_name} records* | " + " | ".join(str(tested.get(g, 0)) for g in families) + " |")
    off = summary.get("answers_off_options") or {}
    if off:
        lines += ["", "### Answers that read as no option (all seeds' items together)", "",
                  ("Wrong by the benchmark's rule for every system alike. What they say: a sound no option holds "
                   "that the reply's own `<think>` names, another such sound, words of the options but not one "
                   "option, anything else (e.g. `no` to a question that is not yes/no)."), "",
                  "| system | no option | share | sound of its own think | other sound | option words | other |",
                  "|---|---|---|---|---|---|---|"]
        for s, r in off.items():
            lines.append(f"| {s} | {r['off_options']} of {r['items']} | {pct(r['rate'])}% | "
                         + " | ".join(str(r["kinds"][k]) for k in OFF_OPTION_KINDS) + " |")
    lines += ["", "### Distillation stages (shared by all seeds)", "", "| figure | value |", "|---|---|"]
    for k, v in st.items():
        if k in ("distilled_records_by_family", "eval_records_by_family"):
            continue  # in the family table above
        if isinstance(v, dict):
            v = ", ".join(f"{g} {pct(x)}%" for g, x in v.items())
        elif isinstance(v, float):
            v = f"{v:.3f}"
        lines.append(f"| {k} | {v} |")
    for system, per in (summary.get("grpo_answers_changed") or {}).items():
        if not per:
            continue
        start, acc = GRPO_STARTS[system], summary["accuracy"]
        lines += ["", f"### {system} against its start ({start}), per seed", "",
                  ("Answers gained / lost on the same items, McNemar's exact p; the run's last KL and its mean share "
                   "of groups without reward variance."), "",
                  "| seed | points | gained | lost | McNemar p | KL final | zero-variance groups |", "|---|---|---|---|---|---|---|"]
        for k, c in per.items():
            a, b = (acc[x]["per_seed"].get(k) for x in (system, start))
            if a is None or b is None:
                continue  # predictions without a score (an evaluation that recorded errors): no row
            sig = ((summary.get("grpo_signal_per_seed") or {}).get(k) or {}).get(system) or {}
            kl, zero = sig.get("kl_final"), sig.get("zero_std_fraction_mean")
            lines.append(f"| {k} | {100 * (a - b):+.2f} | {c['gained']} | {c['lost']} | {c['mcnemar_p']:.2f} | "
                         f"{'—' if kl is None else f'{kl:.3f}'} | {'—' if zero is None else f'{zero:.2f}'} |")
    if summary.get("gates"):
        lines += ["", "### Stage gates (SightSound-mini; src/sightsound/mini/gates.py)", "",
                  gates_markdown(summary["gates"]).rstrip("\n")]
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    systems = list(summary["accuracy"])
    means = [100 * (summary["accuracy"][s]["mean"] or 0) for s in systems]
    stds = [100 * (summary["accuracy"][s]["std"] or 0) for s in systems]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar(range(len(systems)), means, yerr=stds, capsize=4, color="#4a7fb5")
    ax.set_xticks(range(len(systems)), systems, rotation=20, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"SightSound-mini, {len(summary['seeds'])} seeds (mean ± std)")
    fig.tight_layout()
    path = out_dir / "experiment_accuracy.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


# -------------------------------------------------------------------------------------------- main
def _run_seed(recipe: Recipe, run: Path, threads: int | None) -> dict:
    """One seed's pipeline (a worker process's entry point with ``--jobs``); ``threads`` fixes torch's
    intra-op thread count, which float reductions (and so a seed's exact results) depend on."""
    from sightsound.pipeline import run_pipeline

    if threads:
        import torch

        torch.set_num_threads(threads)
    return run_pipeline(recipe, run)


def _shared_systems(recipe: Recipe, systems: list[str]) -> list[str]:
    """The systems of the shared phase: the untrained ones (their scores are in SHARED), in an order
    whose eval stages are exactly the full run's (which systems get the controls depends on the
    order: the pipeline's eval plan decides), hence the same fingerprints; none if no order fits.
    A shared score left to the pool would be remade by every seed at once, in folders linked to
    seed 0's.
    """
    from sightsound.pipeline import eval_plan

    full = set(eval_plan(recipe, systems))
    untrained = [s for s in systems if s in UNTRAINED]
    pretrained_last = sorted(untrained, key=lambda s: s == "pretrained")  # stable: the others keep their order
    return next((order for order in (untrained, pretrained_last) if set(eval_plan(recipe, order)) <= full), [])


def seed_pool(jobs: int):
    """The ``--jobs`` processes that train the seeds: spawned, so each starts with its own torch
    thread count, and gone with the experiment process (:func:`sightsound.teacher.exit_with_parent`):
    a killed experiment once left its seed workers training, holding their seeds' locks. A stage a
    worker leaves unfinished is not recorded as done; the rerun continues it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sightsound.teacher import exit_with_parent

    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=exit_with_parent, initargs=(os.getpid(),))


def run_experiment(recipe: Recipe, seeds: int, out: str | Path, models: dict[str, str] | None = None,
                   eval_split: str = "test", jobs: int = 1, threads: int | None = None) -> dict:
    """Every seed's pipeline, then the summary. With ``jobs`` > 1 [ours] seed 0 first makes the shared
    stages (data, traces, verdicts, sets, the pretrained student's scores), then the seeds train in
    ``jobs`` processes at once, each with ``threads`` torch threads (default: the cores shared out):
    on a CPU, tiny models use a second core poorly within one run and well across two."""
    from sightsound.mini.pretrain import available_cores

    out = Path(out)
    base = experiment_recipe(recipe, models, eval_split)
    jobs = max(1, min(jobs, seeds))
    threads = threads or (max(1, available_cores() // jobs) if jobs > 1 else None)
    t0 = time.time()
    first = seed_dir(out, 0)
    recipes = {k: dataclasses.replace(_seeded(base, k), output_dir=str(seed_dir(out, k))) for k in range(seeds)}
    per_seed: dict[int, dict] = {}
    if jobs == 1:
        for k, r in recipes.items():
            if k > 0:
                _share_from(first, Path(r.output_dir))
            per_seed[k] = _run_seed(r, Path(r.output_dir), threads)
    else:
        # The shared stages once (seed 0 with only the untrained systems, whose scores every seed
        # shares), then every seed in the pool. The shared phase runs alone, so it takes every core
        # (torch's default).
        _run_seed(dataclasses.replace(recipes[0], systems=_shared_systems(base, base.systems)), first, None)
        for k in range(1, seeds):
            _share_from(first, Path(recipes[k].output_dir))
        with seed_pool(jobs) as pool:
            futures = {k: pool.submit(_run_seed, r, Path(r.output_dir), threads) for k, r in recipes.items()}
            per_seed = {k: f.result() for k, f in futures.items()}
    summary = summarize(per_seed, first, eval_split, base.models.verifier.name_or_path)
    summary["seconds"] = round(time.time() - t0, 1)
    summary["jobs"], summary["threads_per_seed"] = jobs, threads
    summary["packages"] = per_seed[0].get("packages")
    atomic_write_json(out / "results.json", summary)
    plots = plot(summary, out / "plots")
    md = markdown(summary) + "\n" + "\n".join(f"![{p.stem}](plots/{p.name})" for p in plots) + "\n"
    atomic_write_text(out / "results.md", md)
    return summary
