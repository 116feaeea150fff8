"""SightSound-mini's stage gates: does each toy role do its job before the experiment is read?

The toy world is there to test the paper's method, not the toy, so each stage has a measured goal
(the SightSound-mini issue) and the experiment reports, beside its accuracy table, whether each was
met and by how much it was missed:

    gate                         goal                                   measured on
    verifier precision / recall  >= 0.8 each at discarding hallucinated  the teacher's own consistent samples of the
                                 samples                                distill split, verdicts as verify reads them
    hallucination rate           after <= half of before                 the same samples
    recall per kind              >= 0.7 each (inaudible, count, order)   the same samples
    listening AUC                >= 0.9 (true vs another clip's true)    the verifier's held-out pretraining check
    student fluency              >= 0.9 of samples at the GRPO           GRPO's first logged window from the CoT-SFT
                                 temperature pass the format reward     student (every seed)
    SFT keeps accuracy           CoT SFT mean >= pretrained              the evaluation split
    GRPO signal                  zero-variance groups <= 0.5            mean over the run (every seed)
    GRPO does no harm            no seed > 2 points below its SFT start SightSound-R1 - CoT SFT per seed
    data                         >= 500 verified samples                the verify stage's kept samples
    seeds                        >= 8                                   the experiment

Pure functions of an experiment's per-seed results: :func:`stage_gates` makes the rows,
:func:`markdown` the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sightsound.jsonl import read_json

VERIFIER_PR = 0.8
HALLUCINATION_CUT = 0.5  # after / before
KIND_RECALL = 0.7
LISTENING_AUC = 0.9
FLUENCY = 0.9
ZERO_VARIANCE = 0.5
GRPO_HARM_POINTS = 2.0
VERIFIED_SAMPLES = 500
SEEDS = 8
KINDS = ("inaudible", "count", "order")  # the truth's claim kinds (a swapped source reads as inaudible)
# Figures are differences and means of float fractions: 0.3825 - 0.4025 is -0.0200000000000000018, so a
# seed exactly 2 points (8 of 400 answers) below its start would read as "more than 2 below" without it.
EPS = 1e-9


def _row(gate: str, goal: str, measured: Any, passed: bool | None, note: str = "") -> dict[str, Any]:
    return {"gate": gate, "goal": goal, "measured": measured, "passed": passed, "note": note}


def _fmt(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _at_least(x: float | None, goal: float) -> bool | None:
    return None if x is None else x >= goal - EPS


def _at_most(x: float | None, goal: float) -> bool | None:
    return None if x is None else x <= goal + EPS


def verifier_listening_auc(verifier_dir: str | Path | None) -> float | None:
    """The shipped verifier's listening AUC from its ``pretrain_info.json`` (None if not recorded)."""
    if not verifier_dir:
        return None
    info = Path(verifier_dir) / "pretrain_info.json"
    if not info.is_file():
        return None
    return ((read_json(info).get("heldout") or {}).get("margins") or {}).get("listening_auc")


def stage_gates(per_seed: dict[int, dict], accuracy: dict[str, dict], verifier_dir: str | Path | None = None,
                grpo_system: str = "sightsound_r1", sft_system: str = "cot_sft",
                changed: dict[int, dict] | None = None) -> list[dict[str, Any]]:
    """One row per gate from the seeds' ``results.json`` (``filter``, ``grpo_signal``, ``systems``)
    and the accuracy table of :func:`sightsound.mini.experiment.summarize`; ``changed`` (per seed:
    answers ``gained``/``lost`` against the SFT start, ``mcnemar_p``) notes the worst seed's counts."""
    first = per_seed[min(per_seed)] if per_seed else {}
    filt = first.get("filter") or {}
    rows = []
    p, r = filt.get("precision"), filt.get("recall")
    rows.append(_row("verifier precision", f">= {VERIFIER_PR}", _fmt(p), _at_least(p, VERIFIER_PR)))
    rows.append(_row("verifier recall", f">= {VERIFIER_PR}", _fmt(r), _at_least(r, VERIFIER_PR)))
    before, after = filt.get("hallucination_rate_before"), filt.get("hallucination_rate_after")
    ratio = after / before if before and after is not None else None
    rows.append(_row("hallucination rate after / before", f"<= {HALLUCINATION_CUT}",
                     f"{_fmt(before)} -> {_fmt(after)} ({_fmt(ratio)})", _at_most(ratio, HALLUCINATION_CUT)))
    by_kind = filt.get("recall_by_reason") or {}
    for kind in KINDS:
        k = by_kind.get(kind) or {}
        rows.append(_row(f"verifier recall, {kind}", f">= {KIND_RECALL}",
                         f"{_fmt(k.get('recall'))} of {k.get('samples', 0)}", _at_least(k.get("recall"), KIND_RECALL)))
    auc = verifier_listening_auc(verifier_dir)
    rows.append(_row("verifier listening AUC", f">= {LISTENING_AUC}", _fmt(auc), _at_least(auc, LISTENING_AUC),
                     "held-out pretraining check"))

    signals = {k: ((res.get("grpo_signal") or {}).get(grpo_system) or {}) for k, res in per_seed.items()}
    fluency = [s.get("format_reward_first") for s in signals.values() if s.get("format_reward_first") is not None]
    rows.append(_row("student fluency (format at GRPO temperature)", f">= {FLUENCY} every seed",
                     f"min {_fmt(min(fluency, default=None))}, mean {_fmt(_mean(fluency))}",
                     _at_least(min(fluency, default=None), FLUENCY)))
    pre, sft = (accuracy.get(s, {}).get("mean") for s in ("pretrained", sft_system))
    rows.append(_row("CoT SFT keeps accuracy", ">= pretrained", f"{pct(sft)} vs {pct(pre)}",
                     None if pre is None or sft is None else sft >= pre))
    zero = [s.get("zero_std_fraction_mean") for s in signals.values() if s.get("zero_std_fraction_mean") is not None]
    rows.append(_row("GRPO zero-variance groups", f"<= {ZERO_VARIANCE} every seed",
                     f"max {_fmt(max(zero, default=None))}, mean {_fmt(_mean(zero))}",
                     _at_most(max(zero, default=None), ZERO_VARIANCE)))
    grpo, sft = ((accuracy.get(s) or {}).get("per_seed") or {} for s in (grpo_system, sft_system))
    deltas = {k: 100 * (grpo[k] - sft[k]) for k in per_seed if grpo.get(k) is not None and sft.get(k) is not None}
    worst_seed = min(deltas, key=deltas.get, default=None)
    worst = deltas.get(worst_seed)
    c = (changed or {}).get(worst_seed)
    note = f"seed {worst_seed}: +{c['gained']} -{c['lost']} answers, McNemar p {c['mcnemar_p']:.2f}" if c else ""
    # two decimals: a 400-question split moves in quarter points, and "-2.3" would hide a 1-answer miss
    rows.append(_row("GRPO does no harm (R1 - CoT SFT, points)", f">= -{GRPO_HARM_POINTS:g} every seed",
                     f"worst {_fmt(worst, 2)}, mean {_fmt(_mean(list(deltas.values())), 2)}",
                     _at_least(worst, -GRPO_HARM_POINTS), note))
    kept = filt.get("kept")
    rows.append(_row("verified samples", f">= {VERIFIED_SAMPLES}", kept, _at_least(kept, VERIFIED_SAMPLES)))
    rows.append(_row("seeds", f">= {SEEDS}", len(per_seed), len(per_seed) >= SEEDS))
    return rows


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def pct(x: float | None) -> str:
    """A fraction as a percentage with one decimal ("—" where there is no figure)."""
    return "—" if x is None else f"{100 * x:.1f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    mark = {True: "met", False: "**missed**", None: "—"}
    lines = ["| gate | goal | measured | |", "|---|---|---|---|"]
    for r in rows:
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(f"| {r['gate']}{note} | {r['goal']} | {r['measured']} | {mark[r['passed']]} |")
    return "\n".join(lines) + "\n"
