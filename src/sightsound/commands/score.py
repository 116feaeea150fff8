"""Score a predictions file with the benchmark's official rule (no model needed).

    sightsound score --benchmark mmau --annotations mmau-test-mini.json --predictions P.json [--out R.json]
        [--task TASK | --types T ...] [--limit N] [--mmau-version V]

``P.json`` is a list of items with ``id`` and a prediction under ``model_output`` (MMAU's key),
``answer_prediction`` (MMAR's) or ``model_prediction`` (what ``eval`` writes beside the official
key). A malformed file is refused in one line and nothing is written. The items are selected as
``eval`` selects them, from the recipe, then ``--task`` / ``--types`` / ``--limit``; an item
without a prediction counts as wrong (the official scripts skip it) and is counted apart.
``--out R.json`` writes the results and ``R.predictions.json``, the scored items in the official
format; without it, the summary and the headline numbers are printed only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sightsound.cli import add_recipe_arguments, load_recipe_from_args, positive_int
from sightsound.config import ConfigError
from sightsound.data import canonical_name
from sightsound.evaluate.score_file import format_summary, score_file
from sightsound.jsonl import atomic_write_json


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, help="avqa | mmau | mmar | music-avqa | synthetic")
    parser.add_argument("--annotations", required=True, help="the benchmark's annotation file (or records JSONL)")
    parser.add_argument("--predictions", required=True,
                        help="predictions JSON list (key model_output, answer_prediction or model_prediction)")
    parser.add_argument("--mmau-version", metavar="V",
                        help="assert the MMAU revision (original, v05.15.25, or a revision id); detected either way")
    parser.add_argument("--out", help="write the results JSON here, and the scored items beside it as "
                                      "OUT.predictions.json in the official format (default: print only)")
    add_selection_arguments(parser)
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        name = canonical_name(args.benchmark)
    except ValueError as e:
        raise ConfigError(str(e)) from None  # one clear line through the CLI's user-error path
    recipe = load_recipe_from_args(args)
    scored = Path(args.out).with_name(Path(args.out).name.removesuffix(".json") + ".predictions.json") \
        if args.out else None
    res = score_file(name, args.annotations, args.predictions, selection=selection_from_args(args, recipe.eval),
                     mmau_version=args.mmau_version or recipe.eval.mmau_version, predictions_out=scored)
    print(format_summary(res))
    if args.out:
        atomic_write_json(args.out, res)
        print(f"wrote {args.out} and {scored}")
    else:
        print(json.dumps({k: res[k] for k in ("n", "correct", "accuracy", "ci95", "missing_predictions",
                                              "unparsable_rate")}))
    return 0
