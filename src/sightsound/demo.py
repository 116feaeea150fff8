"""``sightsound demo [--quick] --out DIR``: the whole SightSound-R1 pipeline on a CPU, end to end.

It takes the SightSound-mini checkpoints (small models of the real architectures trained here on
the synthetic world: a vision teacher, an audio fact-checker, an audio student) when they are
available, else tiny *random* models of the same architectures built offline; makes synthetic
data; runs teach -> verify -> build-sft -> SFT/GRPO for every system -> eval; and prints the table.
The recipe is ``configs/demo.yaml``; ``--quick`` shrinks records and steps.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from sightsound.config import ConfigError, load_recipe

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEMO_RECIPE = REPO / "configs" / "demo.yaml"

# --quick: fewer records, fewer steps, fewer systems' worth of work; same stages.
QUICK = [
    "synth.num=96",
    "pipeline.test_num=32",
    "sft.num_train_epochs=3",
    "grpo.max_steps=6",
    "grpo.max_completion_length=64",
    "eval.max_new_tokens=64",
    "pipeline.shuffle_choices_seed=null",
]


def demo_models(out: Path, prefer_mini: bool = True) -> tuple[dict[str, str], str]:
    """Model directories per role and where they came from ("mini" or "tiny-random")."""
    if prefer_mini:
        from sightsound.mini.checkpoints import mini_model_dir

        try:
            return {role: str(mini_model_dir(role, train_if_missing=False))
                    for role in ("teacher", "verifier", "student")}, "mini"
        except FileNotFoundError as e:
            log.warning("%s; using tiny random models instead (train them with 'sightsound pretrain')", e)
    from sightsound.models.tiny import build_tiny_models

    dirs = build_tiny_models(out / "models", seed=0, roles=("teacher", "student"))
    # The random tiny student architecture doubles as the fact-checker (Qwen2-Audio, as the paper's open alternative).
    return {"teacher": str(dirs["teacher"]), "verifier": str(dirs["student"]), "student": str(dirs["student"])}, \
        "tiny-random"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    parser.add_argument("--quick", action="store_true", help="the short version (< 3 minutes on 2 CPU cores)")
    parser.add_argument("--tiny-random", action="store_true",
                        help="use tiny random models even when SightSound-mini checkpoints are available")
    parser.add_argument("--config", default=str(DEMO_RECIPE), help="recipe (default configs/demo.yaml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="dotted recipe overrides")
    from sightsound.pipeline import add_run_arguments

    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from sightsound.pipeline import print_incomplete, run_pipeline

    if not Path(args.config).is_file():
        raise ConfigError(f"demo recipe not found: {args.config} (run from a source checkout, or pass --config)")
    out = Path(args.out)
    t0 = time.time()
    models, origin = demo_models(out, prefer_mini=not args.tiny_random)
    overrides = (QUICK if args.quick else []) + [
        f"output_dir={out}",
        f"models.teacher.name_or_path={models['teacher']}",
        f"models.verifier.name_or_path={models['verifier']}",
        f"models.student.name_or_path={models['student']}",
    ] + list(args.overrides)
    recipe = load_recipe(args.config, overrides)
    results = run_pipeline(recipe, out, retry_errors=args.retry_errors, overwrite=args.overwrite)
    print((out / "report.md").read_text(encoding="utf-8"))
    print_incomplete(results)
    print(f"models: {origin}; run directory: {out}; report: {out / 'report.html'}; "
          f"{time.time() - t0:.0f} s in all")
    return 0
