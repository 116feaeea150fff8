"""Compare systems across benchmarks: a markdown table and PNG bar charts (:func:`compare`).

Reads ``eval`` results files (control results files are found through the main file's
``controls`` and shown beside its score; a control file passed directly is shown as its own
column). Writes ``DIR/compare.md`` (overall accuracy per system and benchmark with its Wilson 95 %
interval and the controls; the **paired differences** of every system against every baseline on
the same items, with a paired-bootstrap 95 % interval and McNemar's exact p; then one table per
benchmark and breakdown field), ``DIR/compare.json`` (the same numbers), ``DIR/overall.png`` and
``DIR/<benchmark>_<field>.png``. Systems are ordered as in the paper: pretrained, label-only SFT,
label-only GRPO, CoT SFT, SightSound-R1, then any others. The per-item verdicts for the paired
tests come from each results file's predictions file (``<results>.predictions.json`` beside it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sightsound.systems import SYSTEMS as SYSTEM_ORDER

log = logging.getLogger(__name__)

SYSTEM_LABELS = {
    "pretrained": "Pretrained", "pretrained_r1_aqa_prompt": "Pretrained (R1-AQA prompt)",
    "label_sft": "Label-only SFT", "label_grpo": "Label-only GRPO", "r1_aqa": "R1-AQA (label-only GRPO)",
    "cot_sft_unverified": "CoT SFT (unverified)", "cot_sft": "CoT SFT", "sightsound_r1": "SightSound-R1",
}
# The systems every other one is tested against (the paper's baselines: pretrained and label-only).
BASELINES = ("pretrained", "pretrained_r1_aqa_prompt", "label_sft", "label_grpo", "r1_aqa")
# Breakdown fields worth a chart (num_choices and dataset are in the tables only).
CHART_FIELDS = ("task", "category", "sub-category", "difficulty", "modality", "question_type", "family",
                "evidence", "vision_implies", "question_relation")
MAX_CHART_VALUES = 40


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def format_ci(ci: list[float] | None) -> str:
    """`` [lo–hi]`` in percent (empty without an interval): how every table shows a 95 % interval."""
    return "" if not ci else f" [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]"


def _system_key(name: str) -> tuple[int, str]:
    return (SYSTEM_ORDER.index(name), name) if name in SYSTEM_ORDER else (len(SYSTEM_ORDER), name)


def load_results(paths: list[str | Path], names: list[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{system: {benchmark_column: results}}``; refuses two files for the same system and column."""
    from sightsound.jsonl import ArtefactError, read_json

    if names and len(names) != len(paths):
        raise ArtefactError(f"--names gives {len(names)} names for {len(paths)} results files")
    table: dict[str, dict[str, dict[str, Any]]] = {}
    where: dict[tuple[str, str], str] = {}
    for i, p in enumerate(paths):
        res = read_json(p)
        if not isinstance(res, dict) or "benchmark" not in res or "accuracy" not in res:
            raise ArtefactError(f"{p}: not a results file of 'sightsound eval' or 'score' (no benchmark/accuracy)")
        system = names[i] if names else (res.get("system") or Path(p).parent.name)
        column = res["benchmark"] + (f" [{res['control']}]" if res.get("control") else "")
        if (system, column) in where:
            raise ArtefactError(f"two results for system {system!r} on {column}: {where[(system, column)]} and {p} "
                                f"(name them with --names)")
        where[(system, column)] = str(p)
        table.setdefault(system, {})[column] = {**res, "_path": str(p)}
    return table


def _columns(table) -> list[str]:
    cols = sorted({c for per in table.values() for c in per})
    return sorted(cols, key=lambda c: (c.split(" [")[0], " [" in c, c))


def markdown(table, paired: list[dict[str, Any]]) -> str:
    systems = sorted(table, key=_system_key)
    cols = _columns(table)
    lines = ["# System comparison", "",
             "Accuracy in % with its Wilson 95% interval (n = items scored; the benchmark's official rule).",
             "Controls, beside the main score with their change in points: silent audio (what the text alone",
             "answers) and shuffled options (position bias).", ""]
    head = ["system"]
    for c in cols:
        ns = {per[c]["n"] for per in table.values() if c in per}
        head.append(f"{c} (n={'/'.join(str(n) for n in sorted(ns))})")
        for ctrl in sorted({k for per in table.values() if c in per for k in (per[c].get("controls") or {})}):
            head.append(f"{c} [{ctrl}]")
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in systems:
        row = [SYSTEM_LABELS.get(s, s)]
        for c in cols:
            res = table[s].get(c)
            row.append(_pct(res["accuracy"]) + format_ci(res.get("ci95")) if res else "–")
            ctrls = sorted({k for per in table.values() if c in per for k in (per[c].get("controls") or {})})
            for ctrl in ctrls:
                cres = (res or {}).get("controls", {}).get(ctrl) if res else None
                row.append(f"{_pct(cres['accuracy'])} ({100 * cres['delta']:+.1f})" if cres and cres.get("delta")
                           is not None else (_pct(cres["accuracy"]) if cres else "–"))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += paired_markdown(paired)
    issues = [(s, c, r) for s in systems for c, r in table[s].items()
              if r.get("missing_predictions") or r.get("unparsable")]
    if issues:
        lines += ["Missing predictions (counted wrong) and unparsable answers:", ""]
        lines += [f"- {SYSTEM_LABELS.get(s, s)} on {c}: missing {r.get('missing_predictions', 0)}, "
                  f"unparsable {r.get('unparsable', 0)} of {r['n']}" for s, c, r in issues]
        lines.append("")
    for c in cols:
        fields = sorted({f for per in table.values() if c in per for f in per[c].get("breakdowns", {})})
        for f in fields:
            values = sorted({v for per in table.values() if c in per for v in per[c]["breakdowns"].get(f, {})})
            if len(values) < 2:
                continue
            lines += [f"## {c}: by {f}", "", "| " + f + " | n | " + " | ".join(SYSTEM_LABELS.get(s, s) for s in systems)
                      + " |", "|" + "---|" * (len(systems) + 2)]
            for v in values:
                cells = [table[s].get(c, {}).get("breakdowns", {}).get(f, {}).get(v) for s in systems]
                n = next((x["n"] for x in cells if x), 0)
                lines.append(f"| {v} | {n} | " + " | ".join(_pct(x["accuracy"]) if x else "–" for x in cells) + " |")
            lines.append("")
    return "\n".join(lines)


def item_verdicts(path: Path) -> dict[str, bool] | None:
    """``id -> correct`` from one predictions file (None if it is absent or holds no per-item verdicts)."""
    from sightsound.jsonl import read_json

    if not path.is_file():
        return None
    items = read_json(path)
    if isinstance(items, list) and all(isinstance(it, dict) and "correct" in it for it in items):
        return {str(it["id"]): bool(it["correct"]) for it in items}
    return None


def _item_verdicts(res: dict[str, Any]) -> dict[str, bool] | None:
    """``id -> correct`` from the results file's predictions file (None when it cannot be found)."""
    from sightsound.evaluate.run import output_paths

    results_path = Path(res["_path"])
    candidates = [output_paths(results_path)["predictions"]]
    if res.get("predictions"):
        p = Path(res["predictions"])
        candidates += [p, results_path.parent / p.name]
    return next((v for v in map(item_verdicts, candidates) if v is not None), None)


def paired_differences(table) -> list[dict[str, Any]]:
    """Every system against every baseline, per benchmark column, on the items both were scored on."""
    from sightsound.evaluate.intervals import paired_bootstrap

    systems = sorted(table, key=_system_key)
    baselines = [b for b in systems if b in BASELINES]
    out = []
    for c in _columns(table):
        if " [" in c:
            continue  # controls are read beside their main score, not tested against baselines
        verdicts = {s: _item_verdicts(table[s][c]) for s in systems if c in table[s]}
        for b in baselines:
            for s in systems:
                if s == b or verdicts.get(s) is None or verdicts.get(b) is None:
                    continue
                ids = sorted(set(verdicts[s]) & set(verdicts[b]))
                test = paired_bootstrap([verdicts[s][i] for i in ids], [verdicts[b][i] for i in ids])
                out.append({"benchmark": c, "system": s, "baseline": b, **test})
    return out


def paired_markdown(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    from sightsound.evaluate.intervals import PAIRED

    lines = ["## Paired differences against the baselines (points)", "",
             (f"System minus baseline on the same items; {PAIRED}. 'only' = items one system gets right and "
              "the other wrong."), "",
             "| benchmark | system | baseline | n | difference | 95% CI | McNemar p | only system / only baseline |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = "–" if r["difference"] is None else f"{100 * r['difference']:+.1f}"
        ci = "–" if not r["ci95"] else f"[{100 * r['ci95'][0]:+.1f}, {100 * r['ci95'][1]:+.1f}]"
        p = "–" if r["mcnemar_p"] is None else ("<1e-6" if r["mcnemar_p"] < 1e-6 else f"{r['mcnemar_p']:.3g}")
        lines.append(f"| {r['benchmark']} | {SYSTEM_LABELS.get(r['system'], r['system'])} | "
                     f"{SYSTEM_LABELS.get(r['baseline'], r['baseline'])} | {r['n']} | {diff} | {ci} | {p} | "
                     f"{r['only_a']} / {r['only_b']} |")
    return lines + [""]


def _bar_chart(path: Path, groups: list[str], series: dict[str, list[float | None]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt
    import numpy as np

    k = max(len(series), 1)
    width = 0.8 / k
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(groups) * k + 2), 4.5))
    for i, (label, vals) in enumerate(series.items()):
        ys = [np.nan if v is None else 100 * v for v in vals]
        ax.bar(x + (i - (k - 1) / 2) * width, ys, width, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(groups, rotation=30 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center",
                       fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def charts(table, out_dir: Path) -> list[Path]:
    systems = sorted(table, key=_system_key)
    labels = [SYSTEM_LABELS.get(s, s) for s in systems]
    written = []
    cols = _columns(table)
    # Overall: each benchmark (and each of its controls) a group, one bar per system.
    groups, series = [], {lab: [] for lab in labels}
    for c in cols:
        ctrls = sorted({k for per in table.values() if c in per for k in (per[c].get("controls") or {})})
        for g in [None, *ctrls]:
            groups.append(c if g is None else f"{c}\n[{g}]")
            for s, lab in zip(systems, labels):
                res = table[s].get(c)
                val = None if not res else (res["accuracy"] if g is None else
                                            (res.get("controls", {}).get(g) or {}).get("accuracy"))
                series[lab].append(val)
    path = out_dir / "overall.png"
    _bar_chart(path, groups, series, "Accuracy per benchmark")
    written.append(path)
    for c in cols:
        if " [" in c:
            continue
        for f in CHART_FIELDS:
            values = sorted({v for per in table.values() if c in per for v in per[c].get("breakdowns", {}).get(f, {})})
            if not 2 <= len(values) <= MAX_CHART_VALUES:
                continue
            series = {lab: [(table[s].get(c, {}).get("breakdowns", {}).get(f, {}).get(v) or {}).get("accuracy")
                            for v in values] for s, lab in zip(systems, labels)}
            path = out_dir / f"{_safe(c)}_{_safe(f)}.png"
            _bar_chart(path, values, series, f"{c}: accuracy by {f}")
            written.append(path)
    return written


def compare(paths: list[str | Path], out_dir: str | Path, names: list[str] | None = None) -> dict[str, Any]:
    """Python API of ``sightsound compare``; returns ``{"markdown", "charts", "table"}`` paths and numbers."""
    from sightsound.jsonl import atomic_write_json, atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = load_results(paths, names)
    paired = paired_differences(table)  # reads every predictions file and bootstraps: once
    md = markdown(table, paired)
    atomic_write_text(out_dir / "compare.md", md)
    pngs = charts(table, out_dir)
    summary = {s: {c: {"accuracy": r["accuracy"], "ci95": r.get("ci95"), "n": r["n"],
                       "version": r.get("version"), "prompt_style": r.get("prompt_style"),
                       "controls": r.get("controls") or {}, "results": r["_path"]} for c, r in per.items()}
               for s, per in table.items()}
    atomic_write_json(out_dir / "compare.json", {"systems": summary, "paired": paired})
    return {"markdown": str(out_dir / "compare.md"), "charts": [str(p) for p in pngs], "table": summary,
            "paired": paired}
