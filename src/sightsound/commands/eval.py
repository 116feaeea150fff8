"""Evaluate a student on a benchmark: greedy, batched, the student prompt, the benchmark's own rule.

    sightsound eval --config RECIPE --benchmark mmau --model PATH [--adapter DIR] --out runs/x/mmau.json \\
        [--annotations FILE] [--media-root DIR] [--silent-audio] [--shuffle-choices SEED] [--limit N]

``--out RESULTS.json`` gets the scores (official accuracy with its 95 % interval, breakdowns,
missing and unparsable answers, the benchmark revision, model, adapter and prompt); beside it go
``RESULTS.predictions.json`` in the official MMAU/MMAR format (``sightsound score`` and the
official scripts read it) and ``RESULTS.generations.jsonl``, the raw replies, from which an
interrupted eval resumes. ``--silent-audio`` (the clips replaced by silence) and
``--shuffle-choices SEED`` (the options permuted) run controls with the same model, each into its
own ``RESULTS.<control>.json``. Benchmarks: avqa, mmau (test-mini, the ``sound`` task unless
``eval.mmau_task`` says otherwise), mmar, music-avqa (``Audio`` questions by default) and
synthetic (records from ``sightsound synth``).
"""

from __future__ import annotations

import argparse

from sightsound.cli import add_recipe_arguments, load_recipe_from_args, positive_int
from sightsound.evaluate.run import evaluate, output_paths
from sightsound.evaluate.score_file import format_summary
from sightsound.prompts import STUDENT_PROMPT_DESCRIPTIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--benchmark", required=True, help="avqa | mmau | mmar | music-avqa | synthetic")
    parser.add_argument("--model", help="student model: HF id or local directory (default: the recipe's student)")
    parser.add_argument("--adapter", help="a PEFT LoRA adapter directory applied on top of --model")
    parser.add_argument("--out", required=True, help="results JSON path; predictions and controls go beside it")
    parser.add_argument("--annotations", help="annotation file (default: eval.annotations.<benchmark>)")
    parser.add_argument("--media-root", help="folder holding the clips (default: eval.media_roots.<benchmark>)")
    parser.add_argument("--silent-audio", action="store_true",
                        help="also run the silent-audio control (zeros of the same length)")
    parser.add_argument("--shuffle-choices", type=int, metavar="SEED",
                        help="also run the shuffled-options control with this seed")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the first N selected items")
    parser.add_argument("--prompt", choices=sorted(STUDENT_PROMPT_DESCRIPTIONS),
                        help="student prompt: paper (default, '<audio> (AVQA Question) .'), plain (the same "
                             "without the trailing ' .') or r1_aqa (R1-AQA's, with 'Output the final answer in "
                             "<answer> </answer>.')")
    parser.add_argument("--mmau-version", metavar="V",
                        help="assert the MMAU revision the annotation file must be (original, v05.15.25, or a "
                             "revision id); it is detected from the content and recorded either way")
    parser.add_argument("--system", help="the system's name in comparisons (pretrained, label_sft, label_grpo, "
                                         "cot_sft, sightsound_r1, ...); default: the adapter's or model's folder name")
    add_recipe_arguments(parser)


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe_from_args(args)
    res = evaluate(recipe, benchmark=args.benchmark, out=args.out, model=args.model, adapter=args.adapter,
                   annotations=args.annotations, media_root=args.media_root, silent_audio=args.silent_audio,
                   shuffle_choices=args.shuffle_choices, limit=args.limit, system=args.system,
                   prompt=args.prompt, mmau_version=args.mmau_version)
    print(format_summary(res))
    for cname, c in res["controls"].items():
        print(f"  control {cname}: accuracy {100 * (c['accuracy'] or 0):.2f}% (delta {100 * (c['delta'] or 0):+.2f} points)")
    print(f"wrote {output_paths(args.out)['results']}")
    return 0
