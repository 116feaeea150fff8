"""Score a predictions file with the benchmark's official rule (no model needed).

    sightsound score --benchmark mmau --annotations mmau-test-mini.json --predictions P.json [--out R.json]

The predictions file is a JSON list of items with ``id`` and ``model_prediction`` (the official
MMAU/MMAR key; ``eval`` writes exactly this, and the official MMAU script reads it too). The items
scored are the annotation file's, selected as ``eval`` selects them (MMAU ``eval.mmau_task``,
default ``sound``; MUSIC-AVQA ``eval.music_avqa_types``, default ``Audio``; change with
``--task`` / ``--types`` or recipe overrides). Unlike the official scripts, an item with no
prediction counts as wrong; how many there were is printed and written.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from sightsound.cli import add_recipe_arguments, load_recipe_from_args, positive_int

log = logging.getLogger(__name__)


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", metavar="TASK",
                        help="MMAU task / MMAR modality to keep ('all' for every item); default from the recipe")
    parser.add_argument("--types", metavar="T", nargs="+",
                        help="MUSIC-AVQA question types to keep (e.g. Audio, Audio/Counting, all)")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N selected items")


def selection_from_args(args: argparse.Namespace, eval_cfg) -> dict:
    """The item selection, recipe first, command-line flags on top."""
    task, modality = eval_cfg.mmau_task, eval_cfg.mmar_modality
    types = list(eval_cfg.music_avqa_types)
    if getattr(args, "task", None):
        task = modality = None if args.task == "all" else args.task
    if getattr(args, "types", None):
        types = [] if args.types == ["all"] else list(args.types)
    limit = args.limit if getattr(args, "limit", None) is not None else eval_cfg.limit
    return {"mmau_task": task, "mmar_modality": modality, "music_avqa_types": types, "limit": limit}


def selection_for(name: str, selection: dict) -> dict:
    """Only the parts of a selection that apply to benchmark ``name`` (recorded in results)."""
    keep = {"mmau": ("mmau_task",), "mmar": ("mmar_modality",), "music-avqa": ("music_avqa_types",)}.get(name, ())
    return {k: v for k, v in selection.items() if k in keep or k == "limit"}


def score_file(benchmark: str, annotations: str | Path, predictions: str | Path, *, selection: dict | None = None,
               media_root: str | Path | None = None, version: str | None = None) -> dict:
    """Python API of ``sightsound score``: returns the results dict."""
    from sightsound.data import canonical_name, load_benchmark, select
    from sightsound.evaluate.predictions import read_predictions
    from sightsound.evaluate.results import results_dict
    from sightsound.evaluate.scoring import score_predictions
    from sightsound.jsonl import ArtefactError

    name = canonical_name(benchmark)
    sel = selection_for(name, selection or {})
    bench = select(load_benchmark(name, annotations, media_root), **sel)
    items = read_predictions(predictions)
    _, metrics = score_predictions(name, list(bench), items)
    if items and metrics["unknown_ids"] == len(items):
        raise ArtefactError(f"{predictions}: none of its {len(items)} ids is among the {len(bench)} selected "
                         f"{name} items of {annotations} (wrong file, or a different selection?)")
    return results_dict(bench, metrics, version=version, selection=sel,
                        extra={"predictions": str(predictions)})


def format_summary(res: dict) -> str:
    acc = res["accuracy"]
    line = (f"{res['benchmark']}: accuracy {100 * acc:.2f}% ({res['correct']}/{res['n']})" if acc is not None
            else f"{res['benchmark']}: no items")
    line += (f"; missing predictions {res['missing_predictions']} (counted wrong; "
             f"{res['not_in_predictions']} absent from the file); unparsable {res['unparsable']}")
    if res.get("unknown_ids"):
        line += f"; {res['unknown_ids']} predictions for unselected ids ignored"
    skipped = (res.get("load") or {}).get("skipped")
    if skipped:
        line += f"; {skipped} malformed annotation record(s) skipped ({(res['load'] or {}).get('skipped_reasons')})"
    return line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, help="avqa | mmau | mmar | music-avqa | synthetic")
    parser.add_argument("--annotations", required=True, help="the benchmark's annotation file (or records JSONL)")
    parser.add_argument("--predictions", required=True, help="predictions JSON list (official 'model_prediction' key)")
    parser.add_argument("--out", help="write the results JSON here (default: print only)")
    add_selection_arguments(parser)
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from sightsound.config import ConfigError
    from sightsound.data import canonical_name
    from sightsound.evaluate.results import benchmark_version
    from sightsound.jsonl import atomic_write_json

    recipe = load_recipe_from_args(args)
    try:
        name = canonical_name(args.benchmark)
    except ValueError as e:
        raise ConfigError(str(e)) from None  # one clear line through the CLI's user-error path
    res = score_file(name, args.annotations, args.predictions, selection=selection_from_args(args, recipe.eval),
                     version=benchmark_version(name, recipe.eval))
    print(format_summary(res))
    if args.out:
        atomic_write_json(args.out, res)
        print(f"wrote {args.out}")
    else:
        print(json.dumps({k: res[k] for k in ("n", "correct", "accuracy", "missing_predictions", "unparsable_rate")}))
    return 0
