"""``sightsound tiny-models --out DIR``: build tiny offline models of the real architectures.

Writes three ordinary Hugging Face model directories that load through exactly the same code as
the real checkpoints:

    DIR/teacher  Qwen2_5_VLForConditionalGeneration            (the vision teacher)
    DIR/student  Qwen2AudioForConditionalGeneration            (the audio student / verifier)
    DIR/omni     Qwen2_5OmniThinkerForConditionalGeneration    (the omni option, audio + vision)

Same seed, same bytes (:mod:`sightsound.models.tiny` describes the recipes).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sightsound.models.tiny import ROLES, TinySizes, build_tiny_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder; gets teacher/, student/, omni/")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument("--roles", nargs="+", choices=ROLES, default=list(ROLES), help="which models to build")
    parser.add_argument("--hidden-size", type=int, default=TinySizes.hidden_size, help="text model width (default 64)")
    parser.add_argument("--layers", type=int, default=TinySizes.num_hidden_layers,
                        help="text model layers (default 2)")
    parser.add_argument("--corpus", help="extra text file for the tokenizer (one sentence a line)")


def run(args: argparse.Namespace) -> int:
    corpus = None
    if args.corpus:
        if not Path(args.corpus).is_file():
            raise FileNotFoundError(f"--corpus {args.corpus}: no such file")
        corpus = Path(args.corpus).read_text(encoding="utf-8").splitlines()
    paths = build_tiny_models(args.out, seed=args.seed, roles=args.roles, corpus=corpus,
                              hidden_size=args.hidden_size, num_hidden_layers=args.layers)
    for role, path in paths.items():
        print(f"{role}: {path}")
    return 0
