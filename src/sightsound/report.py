"""One static HTML page to browse a run's distillation (the library of ``sightsound report``).

Per record: the frames the teacher saw, an audio player, the question and options, the teacher's n
samples with their parsed choices and the consistency verdict, the verifier's verdicts, and the
student's answers per trained system. Filters (kept/discarded, student correct/wrong) are a few
lines of plain JavaScript; the summary tables and plots of ``report.md`` sit at the top. The page
needs no server: it is one file that links the run's own media by relative path.

It reads only the documented artefacts of the run directory (layout in :mod:`sightsound.pipeline`),
so it works on a partial run too: missing stages simply show nothing.
"""

from __future__ import annotations

import html
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from sightsound.jsonl import atomic_write_text, read_json, read_jsonl
from sightsound.prompts import LETTERS

MAX_FRAMES_SHOWN = 4


# ------------------------------------------------------------------------------------------ loading
def _rows(path: Path) -> list[dict]:
    return list(read_jsonl(path, allow_torn_tail=True)) if path.exists() else []


def _load_run(run_dir: Path) -> dict[str, Any]:
    data_path = run_dir / "data" / "train" / "data.jsonl"
    records = _rows(data_path)
    traces = {t["id"]: t for t in _rows(run_dir / "teach" / "traces.jsonl")}
    verdicts: dict[str, dict[int, dict]] = defaultdict(dict)
    for v in _rows(run_dir / "verify" / "verified.jsonl"):
        verdicts[v["id"]][v.get("sample_index", 0)] = v
    # Student predictions on the distillation records, per system: eval/<system>/distill.predictions.json
    predictions: dict[str, dict[str, dict]] = {}
    eval_dir = run_dir / "eval"
    if eval_dir.is_dir():
        for system_dir in sorted(p for p in eval_dir.iterdir() if p.is_dir()):
            f = system_dir / "distill.predictions.json"
            if f.exists():
                predictions[system_dir.name] = {str(p["id"]): p for p in read_json(f)}
    results = read_json(run_dir / "results.json") if (run_dir / "results.json").exists() else {}
    return {"records": records, "data_dir": data_path.parent, "traces": traces, "verdicts": verdicts,
            "predictions": predictions, "results": results}


# ---------------------------------------------------------------------------------------- rendering
def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _media_url(path: str | None, data_dir: Path, out_dir: Path) -> str | None:
    if not path:
        return None
    p = Path(path)
    if not p.is_absolute():
        p = data_dir / p
    try:
        return Path(os.path.relpath(p.resolve(), out_dir.resolve())).as_posix()
    except ValueError:  # another drive (Windows): fall back to an absolute file URL
        return p.resolve().as_uri()


def _distilled_state(trace: dict | None, verdicts: dict[int, dict]) -> str:
    """'kept' = passed consistency and at least one sample passed the fact-check; else 'discarded'."""
    if not trace or not trace.get("kept"):
        return "discarded"
    if verdicts and not any(v.get("kept") for v in verdicts.values()):
        return "discarded"
    return "kept"


def _record_card(rec: dict, ctx: dict, out_dir: Path, final_system: str | None) -> str:
    rid = rec["id"]
    trace = ctx["traces"].get(rid)
    verdicts = ctx["verdicts"].get(rid, {})
    choices = rec.get("choices") or []
    label = rec.get("answer")
    state = _distilled_state(trace, verdicts)
    final_pred = ctx["predictions"].get(final_system, {}).get(rid) if final_system else None
    correct = "unknown" if final_pred is None else ("correct" if final_pred.get("correct") else "wrong")

    frames = (rec.get("frames") or [])[:MAX_FRAMES_SHOWN]
    frame_html = "".join(
        f'<img class="frame" src="{_e(_media_url(f, ctx["data_dir"], out_dir))}" alt="frame {i}">'
        for i, f in enumerate(frames)
    )
    audio_url = _media_url(rec.get("audio"), ctx["data_dir"], out_dir)
    audio_html = f'<audio controls preload="none" src="{_e(audio_url)}"></audio>' if audio_url else ""
    opts = "".join(
        f'<li class="{"label" if i == label else ""}">{LETTERS[i]}. {_e(c)}</li>' for i, c in enumerate(choices)
    )

    teacher_rows = ""
    if trace:
        for s in trace.get("samples", []):
            v = verdicts.get(s.get("index"))
            vtxt = v.get("verdict", "") if v else ""
            ch = s.get("choice")
            teacher_rows += (
                f"<tr><td>{s.get('index')}</td><td>{_e(LETTERS[ch] if ch is not None else '—')}</td>"
                f"<td>{_e(s.get('status'))}</td><td class='verdict-{_e(vtxt)}'>{_e(vtxt)}</td>"
                f"<td class='cot'>{_e(s.get('think') or s.get('text'))}</td></tr>"
            )
        verdict_line = "kept" if trace.get("kept") else f"discarded ({_e(trace.get('reason'))})"
        teacher_html = (
            f"<p>consistency: <b>{verdict_line}</b>, agreement {trace.get('agreement')}/{trace.get('n')}</p>"
            "<table class='samples'><tr><th>#</th><th>choice</th><th>parse</th><th>fact-check</th>"
            f"<th>teacher reasoning</th></tr>{teacher_rows}</table>"
        )
    else:
        teacher_html = "<p>no teacher trace</p>"

    student_rows = "".join(
        f"<tr><td>{_e(system)}</td><td>{_e(p.get('model_prediction'))}</td>"
        f"<td>{'✔' if p.get('correct') else '✘'}</td></tr>"
        for system, preds in ctx["predictions"].items()
        if (p := preds.get(rid)) is not None
    )
    student_html = (
        f"<table class='students'><tr><th>system</th><th>answer</th><th></th></tr>{student_rows}</table>"
        if student_rows else ""
    )
    meta = rec.get("meta") or {}
    tags = " · ".join(_e(x) for x in (rec.get("question_type"), meta.get("evidence")) if x)
    return (
        f'<section class="record" data-state="{state}" data-student="{correct}" id="rec-{_e(rid)}">'
        f"<h3>{_e(rid)} <small>{tags}</small></h3>"
        f'<div class="media">{frame_html}{audio_html}</div>'
        f"<p class='question'>{_e(rec.get('question'))}</p><ol class='options'>{opts}</ol>"
        f"{teacher_html}{student_html}</section>"
    )


def _summary_html(results: dict, out_dir: Path, run_dir: Path) -> str:
    parts = []
    systems = results.get("systems") or {}
    if systems:
        benches = sorted({b for s in systems.values() for b in s})
        head = "".join(f"<th>{_e(b)}</th>" for b in benches)
        rows = ""
        for name, res in systems.items():
            cells = ""
            for b in benches:
                r = res.get(b) or {}
                acc = r.get("accuracy")
                cells += f"<td>{'' if acc is None else f'{100 * acc:.1f}'}</td>"
            rows += f"<tr><td>{_e(name)}</td>{cells}</tr>"
        parts.append(f"<h2>Student accuracy (%)</h2><table class='summary'><tr><th>system</th>{head}</tr>{rows}</table>")
    stages = results.get("stages") or {}
    if stages:
        rows = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in _flat_yields(stages).items())
        parts.append(f"<h2>Stage yields</h2><table class='summary'>{rows}</table>")
    plots = sorted((run_dir / "plots").glob("*.png")) if (run_dir / "plots").is_dir() else []
    for p in plots:
        parts.append(f'<img class="plot" src="{_e(_media_url(str(p), run_dir, out_dir))}" alt="{_e(p.stem)}">')
    return "\n".join(parts)


def _flat_yields(stages: dict) -> dict[str, Any]:
    out = {}
    for stage, stats in stages.items():
        if isinstance(stats, dict):
            for k, v in stats.items():
                if isinstance(v, (int, float, str)):
                    out[f"{stage}.{k}"] = round(v, 4) if isinstance(v, float) else v
    return out


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:1200px;color:#222}
.record{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.record[data-state=kept]{border-left:6px solid #2a7}.record[data-state=discarded]{border-left:6px solid #c44}
.frame{height:84px;margin-right:4px;border:1px solid #aaa}.media{display:flex;align-items:center;gap:.5rem}
.options{list-style:none;padding-left:1rem}.options li.label{font-weight:bold;color:#2a7}table{border-collapse:collapse;margin:.4rem 0}
td,th{border:1px solid #ddd;padding:2px 6px;vertical-align:top;font-size:.9rem}.cot{max-width:700px}
.verdict-yes{color:#2a7}.verdict-no,.verdict-unparsable{color:#c44}.plot{max-width:48%;margin:.3rem}
#filters{position:sticky;top:0;background:#fff;padding:.4rem 0;border-bottom:1px solid #ddd}
"""

_JS = """
function applyFilters(){
  const st=document.getElementById('filter-state').value, sd=document.getElementById('filter-student').value;
  let shown=0;
  for(const r of document.querySelectorAll('section.record')){
    const ok=(st==='all'||r.dataset.state===st)&&(sd==='all'||r.dataset.student===sd);
    r.style.display=ok?'':'none'; if(ok) shown++;
  }
  document.getElementById('shown-count').textContent=shown;
}
document.getElementById('filter-state').addEventListener('change',applyFilters);
document.getElementById('filter-student').addEventListener('change',applyFilters);
applyFilters();
"""


def _links_html(run_dir: Path, out_dir: Path) -> str:
    """Links to the run's own files beside the page (relative, so the folder can be moved or served)."""
    names = [n for n in ("report.md", "results.json", "recipe.yaml", "logs/run.log") if (run_dir / n).is_file()]
    links = " · ".join(f'<a href="{_e(_media_url(str(run_dir / n), run_dir, out_dir))}">{_e(n)}</a>' for n in names)
    return f"<p class='files'>{links}</p>" if links else ""


def build_report(run_dir: str | Path, out: str | Path | None = None, limit: int | None = None) -> Path:
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    # Absolute from here on: every src/href is then computed relative to the page, never to the
    # working directory the report happened to be built from (else its plot images break).
    run_dir = Path(run_dir).resolve()
    out_path = Path(out).resolve() if out else run_dir / "report.html"
    ctx = _load_run(run_dir)
    systems = list(ctx["predictions"])
    final_system = "sightsound_r1" if "sightsound_r1" in systems else (systems[-1] if systems else None)
    records = ctx["records"][:limit] if limit else ctx["records"]
    cards = "\n".join(_record_card(r, ctx, out_path.parent, final_system) for r in records)
    n_kept = cards.count('data-state="kept"')
    title = f"SightSound run: {run_dir.name}"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p>{len(records)} records; {n_kept} kept after the consistency filter and the fact-check.
Student answers shown per system; filter "student" uses <b>{_e(final_system or "—")}</b>.</p>
{_links_html(run_dir, out_path.parent)}
{_summary_html(ctx["results"], out_path.parent, run_dir)}
<div id="filters">
 <label>distillation <select id="filter-state"><option value="all">all</option><option value="kept">kept</option>
 <option value="discarded">discarded</option></select></label>
 <label>student <select id="filter-student"><option value="all">all</option><option value="correct">correct</option>
 <option value="wrong">wrong</option></select></label>
 <span>showing <b id="shown-count">{len(records)}</b></span>
</div>
{cards}
<script>{_JS}</script>
</body></html>
"""
    atomic_write_text(out_path, page)
    # Keep the data behind the page beside it for scripts (the page itself needs no JSON).
    summary = {"records": len(records), "kept": n_kept, "final_system": final_system, "systems": systems}
    atomic_write_text(out_path.with_suffix(".json"), json.dumps(summary, indent=2) + "\n")
    return out_path
