"""Score a predictions file with the benchmark's official rule, without the model (``sightsound score``).

The rules themselves are :mod:`sightsound.evaluate.scoring`'s. This module joins a predictions
file with a benchmark's annotation file through them (:func:`score_file`), says which selection
fields apply to a benchmark (:func:`selection_for`, shared with ``eval``) and sums a results dict
up in one line (:func:`format_summary`).

The predictions file is a JSON list of items with ``id`` and the prediction under any of
``model_output`` (MMAU's official key), ``answer_prediction`` (MMAR's) or ``model_prediction``
(ours); ``eval`` writes ours and the benchmark's official key. Keys of one item that disagree are
refused, as are duplicate ids, ids the annotation file does not have and non-string predictions
(one line naming the file and the first offending item; nothing is written). The results say which
key was read. The items scored are the annotation file's, selected as ``eval`` selects them (MMAU
``eval.mmau_task``, default ``sound``; MUSIC-AVQA ``eval.music_avqa_types``, default ``Audio``).
Unlike the official scripts, an item with no prediction counts as wrong; how many there were is
recorded. The MMAU revision is detected from the file's content (``mmau_version`` asserts it).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def selection_for(name: str, selection: dict) -> dict:
    """Only the parts of a selection that apply to benchmark ``name`` (recorded in results)."""
    keep = {"mmau": ("mmau_task",), "mmar": ("mmar_modality",), "music-avqa": ("music_avqa_types",)}.get(name, ())
    return {k: v for k, v in selection.items() if k in keep or k == "limit"}


def score_file(benchmark: str, annotations: str | Path, predictions: str | Path, *, selection: dict | None = None,
               media_root: str | Path | None = None, mmau_version: str | None = None,
               predictions_out: str | Path | None = None) -> dict:
    """Python API of ``sightsound score``: returns the results dict (bad input raises one-line errors).

    With ``predictions_out``, also writes the scored items of the selection (``correct``,
    ``choice_parsed_correct``, the prediction under ``model_prediction`` and the official key), so
    the official script reads them and agrees with the accuracy returned.
    """
    from sightsound.data import canonical_name, load_benchmark, select
    from sightsound.evaluate.predictions import read_predictions
    from sightsound.evaluate.results import benchmark_version, results_dict
    from sightsound.evaluate.scoring import score_predictions
    from sightsound.jsonl import ArtefactError

    name = canonical_name(benchmark)
    sel = selection_for(name, selection or {})
    full = load_benchmark(name, annotations, media_root)
    version = benchmark_version(name, annotations, mmau_version)
    items, keys = read_predictions(predictions)
    known = {s.id for s in full}
    for i, it in enumerate(items):
        if str(it["id"]) not in known:
            raise ArtefactError(f"{predictions}: item {i}: id {it['id']!r} is not in {annotations} "
                                f"(predictions for another benchmark or revision?)")
    bench = select(full, **sel)
    rows, metrics = score_predictions(name, list(bench), items)
    if items and metrics["unknown_ids"] == len(items):
        raise ArtefactError(f"{predictions}: none of its {len(items)} ids is among the {len(bench)} selected "
                            f"{name} items of {annotations} (a different selection? see --task / --types)")
    extra = {"predictions": str(predictions), "prediction_keys": keys}
    if predictions_out and Path(predictions_out).resolve() == Path(predictions).resolve():
        log.warning("%s is the input predictions file; the scored copy is not written over it", predictions_out)
    elif predictions_out:
        _write_scored(predictions_out, name, bench, items, rows)
        extra["scored_predictions"] = str(predictions_out)
    return results_dict(bench, metrics, version=version, selection=sel, extra=extra)


def _write_scored(path: str | Path, name: str, bench, items: list[dict], rows: list[dict]) -> None:
    from sightsound.evaluate.predictions import write_predictions
    from sightsound.evaluate.scoring import item_prediction, put_prediction

    by_id = {str(it["id"]): it for it in items}
    out = []
    for s, row in zip(bench, rows):
        it = dict(by_id.get(s.id) or {"id": s.id})
        put_prediction(it, name, item_prediction(it))
        # The fields the official scripts read, from the annotations (the file may lack them).
        it.setdefault("question", s.question)
        it.setdefault("choices", list(s.choices))
        it.setdefault("answer", s.answer_text)
        for k, v in s.meta.items():
            it.setdefault(k, v)
        it["correct"], it["choice_parsed_correct"] = row["correct"], row["choice_parsed_correct"]
        out.append(it)
    write_predictions(path, out)


def _pct_ci(acc: float | None, ci: list[float] | None) -> str:
    if acc is None:
        return "–"
    return f"{100 * acc:.2f}%" + (f" [95% CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f}]" if ci else "")


def format_summary(res: dict) -> str:
    acc = res["accuracy"]
    line = (f"{res['benchmark']}: official accuracy {_pct_ci(acc, res.get('ci95'))} ({res['correct']}/{res['n']})"
            if acc is not None else f"{res['benchmark']}: no items")
    cp = res.get("choice_parsed")
    if cp and res["benchmark"] in ("mmau", "mmar"):
        line += f"; choice_parsed {_pct_ci(cp['accuracy'], cp.get('ci95'))}"
    if res.get("version"):
        line += f"; version: {res['version']}"
    if res.get("prediction_keys"):
        line += f"; read key(s) {', '.join(res['prediction_keys'])}"
    if res.get("format_rate") is not None:
        line += f"; format rate {100 * res['format_rate']:.1f}%"
    line += (f"; missing predictions {res['missing_predictions']} (counted wrong; "
             f"{res['not_in_predictions']} absent from the file); unparsable {res['unparsable']}")
    if res.get("unknown_ids"):
        line += f"; {res['unknown_ids']} predictions for unselected ids ignored"
    skipped = (res.get("load") or {}).get("skipped")
    if skipped:
        line += f"; {skipped} malformed annotation record(s) skipped ({(res['load'] or {}).get('skipped_reasons')})"
    return line
