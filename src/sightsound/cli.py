"""``sightsound <command>``: one entry point, one module per stage.

Commands are registered here by module path and imported only when called, so ``sightsound
--help`` is instant and a stage's heavy imports (torch, transformers) are paid only by that stage.
Each command module provides ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> (module, one-line help). Order = the pipeline's order.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("sightsound.commands.synth", "generate the synthetic audio-visual world (records, wav, frames, mp4)"),
    "tiny-models": ("sightsound.commands.tiny_models", "build tiny offline teacher/student/omni models of the real architectures"),
    "pretrain": ("sightsound.commands.pretrain", "train a SightSound-mini role (teacher|verifier|student) from scratch"),
    "teach": ("sightsound.commands.teach", "Step 1: teacher CoT from the silent video, n samples, consistency filter"),
    "verify": ("sightsound.commands.verify", "Step 2: audio-grounded fact-check of the teacher's <think>"),
    "merge": ("sightsound.commands.merge", "join shard outputs of teach/verify, refusing duplicates and gaps"),
    "adopt": ("sightsound.commands.adopt", "take teach/verify shard outputs into a run, checking each shard's fingerprint"),
    "build-sft": ("sightsound.commands.build_sft", "build the student's SFT / GRPO sets from verified traces"),
    "sft": ("sightsound.commands.sft", "Step 3a: LoRA SFT of the audio student (audio in the loss)"),
    "grpo": ("sightsound.commands.grpo", "Step 3b: GRPO of the student with format + accuracy rewards"),
    "eval": ("sightsound.commands.eval", "evaluate a student on a benchmark (greedy, batched)"),
    "score": ("sightsound.commands.score", "score a predictions file with the benchmark's official rule"),
    "compare": ("sightsound.commands.compare", "compare results files: markdown table and bar charts"),
    "serve": ("sightsound.commands.serve", "serve a role's local model over an OpenAI-compatible HTTP API"),
    "run": ("sightsound.commands.run", "the whole pipeline from one recipe, resumable stage by stage"),
    "export-stage-config": ("sightsound.commands.export_stage_config", "a training stage's config derived from the run recipe (for accelerate)"),
    "experiment": ("sightsound.commands.experiment", "the paper's comparison on SightSound-mini over several seeds"),
    "demo": ("sightsound.commands.demo", "the CPU demo: every stage on synthetic data with tiny models"),
    "report": ("sightsound.commands.report", "a static HTML page to browse a run's distillation"),
}


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config RECIPE.yaml`` and trailing dotted ``key=value`` overrides, shared by all stages."""
    parser.add_argument("--config", metavar="RECIPE", help="YAML recipe (see configs/); defaults if omitted")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value",
        help="dotted overrides of the recipe, values read as YAML, e.g. teach.n=8 "
             "'eval.benchmarks=[avqa,mmau]' 'models.teacher={backend: openai, base_url: \"http://h:8000/v1\"}'",
    )


def positive_int(text: str) -> int:
    """argparse type for counts such as ``--limit``: a negative N would slice from the end of the list."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_stage_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--shard``, ``--retry-errors``/``--no-retry-errors`` and ``--no-progress``: teach's and verify's (stage_io)."""
    parser.add_argument("--shard", metavar="i/N", help="only shard i of N (0-based; stable hash of the id)")
    parser.add_argument("--retry-errors", dest="retry_errors", action="store_true", default=True,
                        help="try again the units whose lines are errors (the default)")
    parser.add_argument("--no-retry-errors", dest="retry_errors", action="store_false",
                        help="keep the error lines of an earlier run as they are")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_recipe_from_args(args: argparse.Namespace):
    from sightsound.config import load_recipe

    return load_recipe(getattr(args, "config", None), getattr(args, "overrides", None) or [])


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<12} {helptext}" for name, (_, helptext) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="sightsound",
        description="SightSound-R1: cross-modal reasoning distillation from vision to audio language models.",
        epilog=f"commands:\n{lines}\n\n'sightsound <command> --help' describes each one.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", nargs="?", help="one of the commands below")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if not argv or argv[0] not in COMMANDS:
        top = _top_parser()
        if not argv or argv[0] in ("-h", "--help"):
            top.print_help()
            return 0
        ns, _ = top.parse_known_args(argv)
        if ns.version:
            from sightsound import __version__

            print(__version__)
            return 0
        if ns.command and ns.command not in COMMANDS:
            top.error(f"unknown command {ns.command!r}")
        top.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    module_name, helptext = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"sightsound {name}", description=(module.__doc__ or helptext).strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    # Intermixed: options may come before, between or after the recipe and its key=value overrides
    # (plain parse_args stops collecting overrides at the first option after the recipe).
    args = parser.parse_intermixed_args(rest)
    from sightsound.errors import USER_ERRORS, os_error_line

    try:
        code = int(module.run(args) or 0)
        from sightsound.train.common import close_process_group

        close_process_group()
        return code
    except USER_ERRORS as e:  # bad input: one clear line, no traceback
        print(f"sightsound {name}: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # permission, disk full, a directory given as a file: the file and the reason
        if e.filename is None and not isinstance(e, (PermissionError, IsADirectoryError, NotADirectoryError)) \
                and e.errno is None:
            raise  # not about a file (a network or library error): keep the traceback
        print(f"sightsound {name}: error: {_one_line(os_error_line(e))}", file=sys.stderr)
        return 2


def _one_line(message: str) -> str:
    """The first line of a message (library errors sometimes add paragraphs of advice)."""
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    return lines[0] if lines else message


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
