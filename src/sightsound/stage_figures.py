"""Whether each stage of a run did its job: the figures ``results.json`` and ``report.md`` carry
beside the accuracies, read from the stages' own artefacts in the run directory.

- ``teacher_by_evidence`` (Step 1): per evidence type of the synthetic question (visual / audio /
  both), the records, the teacher's accuracy (majority choice against the label), the kept
  fraction and how often the majority is the answer sight alone implies; from
  ``teach/traces.stats.json`` (``by_evidence``).
- ``filter`` (Step 2): precision and recall at discarding hallucinated samples, the hallucination
  rate and the modality leak [ours] of the consistent samples before verification and of the kept
  samples after, and per kind of hallucination the samples and the recall; from the
  ``hallucination`` entry of ``verify/verified.stats.json`` (:mod:`sightsound.synth.hallucination`).
- ``grpo_signal`` (Step 3b), per GRPO-trained system: the logged steps, mean reward, mean format and
  accuracy rewards, the fraction of groups whose rewards all tie (no GRPO advantage) averaged over
  the logged steps, final and mean KL to the reference; from ``train/<system>/metrics.jsonl``. The
  same series are drawn in ``plots/grpo_signal.png``.

The teacher's and the filter's figures need the truth the synthetic world carries (evidence types
and scene graphs): on other data they are None and ``truth`` is None, which ``report.md`` says.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sightsound.jsonl import read_json
from sightsound.stage_io import stats_path

GRPO_PLOT = "grpo_signal.png"
TRUTH = "synthetic scene graphs"
# Format rewards by registry name: the paper's <think><answer> one and R1-AQA's <answer>-only one.
FORMAT_REWARDS = ("format", "answer_format")
FILTER_KEYS = ("samples", "hallucinated", "discarded", "precision", "recall", "f1", "hallucination_rate_before",
               "hallucination_rate_after", "modality_leak_before", "modality_leak_after")


def _sidecar(path: Path) -> dict:
    p = stats_path(path)
    return read_json(p) if p.is_file() else {}


# ------------------------------------------------------------------------------------------ teacher
def teacher_by_evidence(teach_stats: dict) -> dict[str, dict] | None:
    """Teach's figures per evidence type (None where the records carry no evidence type)."""
    groups = teach_stats.get("by_evidence")
    if not groups:
        return None
    keep = ("records", "teacher_accuracy", "kept_fraction", "majority_is_vision_answer")
    return {ev: {k: g.get(k) for k in keep} for ev, g in groups.items()}


# ------------------------------------------------------------------------------------------- filter
def filter_quality(hallucination: dict | None) -> dict[str, Any] | None:
    """Step 2's figures against the truth (None without one): see the module docstring."""
    if not hallucination:
        return None
    out = {k: hallucination.get(k) for k in FILTER_KEYS}
    out["kept"] = out["samples"] - out["discarded"]
    out["recall_by_reason"] = {kind: {"samples": r["samples"], "discarded": r["discarded"],
                                      "recall": r["discarded"] / r["samples"] if r["samples"] else None}
                               for kind, r in (hallucination.get("by_reason") or {}).items()}
    return out


# --------------------------------------------------------------------------------------------- GRPO
def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _series(rows: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r.get("step", 0), v) for r in rows if (v := _finite(r.get(key))) is not None]


def _mean(points: list[tuple[int, float]]) -> float | None:
    return sum(v for _, v in points) / len(points) if points else None


def grpo_signal(rows: list[dict]) -> dict[str, Any] | None:
    """The signal figures of one GRPO run's logged rows (``metrics.jsonl``), or None without any.

    Means are over the logged steps that carry the figure (TRL logs rewards on the steps that
    generated); ``format_reward_mean`` is the format reward the run used (``format`` or R1-AQA's
    ``answer_format``); ``rewards`` holds the mean of every reward function by name.
    """
    reward = _series(rows, "reward")
    if not reward:
        return None
    names = sorted({k.split("/")[1] for r in rows for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    rewards = {n: _mean(_series(rows, f"rewards/{n}/mean")) for n in names}
    kl = _series(rows, "kl")
    return {
        "steps": len(reward),
        "last_step": reward[-1][0],
        "reward_mean": _mean(reward),
        "format_reward_mean": next((rewards[n] for n in FORMAT_REWARDS if n in rewards), None),
        # The first logged window: how often the starting policy's samples at the GRPO temperature
        # already pass the format reward (the student-fluency gate of a CoT-SFT start).
        "format_reward_first": next((pts[0][1] for n in FORMAT_REWARDS
                                     if (pts := _series(rows, f"rewards/{n}/mean"))), None),
        "accuracy_reward_mean": rewards.get("accuracy"),
        "rewards": rewards,
        "zero_std_fraction_mean": _mean(_series(rows, "frac_reward_zero_std")),
        "kl_final": kl[-1][1] if kl else None,
        "kl_mean": _mean(kl),
    }


def plot_grpo_signal(runs: dict[str, list[dict]], path: Path) -> Path | None:
    """KL, mean reward and the zero-variance fraction over steps, one line per system; None without data."""
    panels = (("kl", "KL to the reference"), ("reward", "mean reward"),
              ("frac_reward_zero_std", "groups with zero reward variance"))
    if not any(_series(rows, "reward") for rows in runs.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(13, 3.8))
    for ax, (key, title) in zip(axes, panels):
        for system, rows in runs.items():
            points = _series(rows, key)
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker=".", label=system)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[-1].set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -------------------------------------------------------------------------------------------- a run
def collect(root: Path, traces: Path, verified: Path, grpo_runs: dict[str, Path]) -> dict[str, Any]:
    """The added ``results.json`` keys of a run; draws ``plots/grpo_signal.png`` when GRPO logged.

    ``grpo_runs`` maps each GRPO-trained system to its training directory; a system that did not
    train (no ``metrics.jsonl``) has no entry in ``grpo_signal``.
    """
    from sightsound.train.common import METRICS_FILE, read_metrics

    teacher = teacher_by_evidence(_sidecar(traces))
    filt = filter_quality(_sidecar(verified).get("hallucination"))
    logs = {s: read_metrics(d) for s, d in grpo_runs.items() if (d / METRICS_FILE).is_file()}
    signal = {s: sig for s, rows in logs.items() if (sig := grpo_signal(rows)) is not None}
    plot = plot_grpo_signal({s: logs[s] for s in signal}, root / "plots" / GRPO_PLOT) if signal else None
    return {"truth": TRUTH if (teacher or filt) else None, "teacher_by_evidence": teacher, "filter": filt,
            "grpo_signal": signal, "grpo_signal_plot": f"plots/{GRPO_PLOT}" if plot else None}


# --------------------------------------------------------------------------------------- report.md
def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}"


def _num(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


NO_TRUTH = ("No ground truth on this data (not synthetic): the teacher's accuracy by evidence, the filter's "
            "precision and recall, hallucination rates and modality leak are not measured (null in `results.json`).")


def _teacher_lines(teacher: dict) -> list[str]:
    head = "| evidence | records | teacher accuracy (%) | kept (%) | majority = vision-only answer (%) |"
    rows = [(f"| {ev} | {g['records']} | {_pct(g['teacher_accuracy'])} | {_pct(g['kept_fraction'])} | "
             f"{_pct(g['majority_is_vision_answer'])} |") for ev, g in teacher.items()]
    return ["Teacher (Step 1), by the evidence the synthetic question needs:", "", head, "|---|---|---|---|---|",
            *rows, ""]


def _filter_lines(f: dict, truth: str) -> list[str]:
    summary = (f"Filter (Step 2) against the {truth}: precision {_num(f['precision'])}, recall {_num(f['recall'])} "
               f"at discarding hallucinated samples ({f['hallucinated']} of {f['samples']} consistent samples "
               f"hallucinated, {f['discarded']} discarded, {f['kept']} kept).")
    rates = [("hallucination rate", "hallucination_rate"),
             ("modality leak [ours] (visual claims / claims)", "modality_leak")]
    lines = [summary, "", "| figure | before verification | after verification (kept) |", "|---|---|---|"]
    lines += [f"| {label} | {_num(f[key + '_before'])} | {_num(f[key + '_after'])} |" for label, key in rates]
    lines.append("")
    if f["recall_by_reason"]:
        kinds = ", ".join(f"{k} {_num(r['recall'], 2)} ({r['discarded']}/{r['samples']})"
                          for k, r in f["recall_by_reason"].items())
        lines += [f"Recall per kind of hallucination: {kinds}.", ""]
    return lines


def _grpo_lines(signal: dict, plot: str | None) -> list[str]:
    head = ("| system | steps | reward | format reward | accuracy reward | zero-variance groups | KL final | "
            "KL mean |")
    keys = ("reward_mean", "format_reward_mean", "accuracy_reward_mean", "zero_std_fraction_mean")
    rows = [(f"| {s} | {g['steps']} | " + " | ".join(_num(g[k]) for k in keys)
             + f" | {_num(g['kl_final'], 4)} | {_num(g['kl_mean'], 4)} |") for s, g in signal.items()]
    lines = ["GRPO signal (Step 3b), means over the logged steps:", "", head, "|---|---|---|---|---|---|---|---|",
             *rows, ""]
    return lines + ([f"![grpo_signal]({plot})", ""] if plot else [])


def markdown(results: dict) -> list[str]:
    """The ``## Stage figures`` section of ``report.md`` from the keys :func:`collect` added."""
    lines = ["## Stage figures", ""]
    truth = results.get("truth")
    if not truth:
        lines += [NO_TRUTH, ""]
    if results.get("teacher_by_evidence"):
        lines += _teacher_lines(results["teacher_by_evidence"])
    if results.get("filter"):
        lines += _filter_lines(results["filter"], truth)
    elif truth:
        lines += ["Filter (Step 2): no consistent sample reached the verifier; nothing to score.", ""]
    if results.get("grpo_signal"):
        lines += _grpo_lines(results["grpo_signal"], results.get("grpo_signal_plot"))
    return lines
