"""Build the student's SFT / GRPO sets from the fact-checked teacher samples.

    sightsound build-sft --verified VERIFIED.jsonl --data DATA.jsonl --out SFT.jsonl [--grpo-out GRPO.jsonl]
        [--label-only [--label-set per_record|per_sample]] [--prompt-style paper|r1_aqa]
        [--labels distilled|ground_truth] [--answer-style letter_text|text]

One chat example per sample the verifier kept (``--traces TRACES.jsonl`` instead of
``--verified``: every consistent sample of every kept trace, unverified, for the ablation).
``--label-only`` writes the label-only baseline on the same records; ``--grpo-out`` the GRPO prompt
set with the distilled label (``--labels ground_truth``: the record's own answer) as solution.
Refused samples are counted, with their reasons, in ``SFT.summary.json``; outputs are written
atomically.
"""

from __future__ import annotations

import argparse

from sightsound.parsing import ANSWER_STYLES
from sightsound.prompts import STUDENT_PROMPTS
from sightsound.sft_data import LABEL_SETS, LABELS, build_sft


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--verified", help="verify output: only samples the fact-checker kept (the paper's set)")
    src.add_argument("--traces", help="teach output: every consistent sample, unverified (ablation set)")
    parser.add_argument("--data", required=True, help="records JSONL the traces were made from (audio, question, choices)")
    parser.add_argument("--out", required=True, help="SFT chat-messages JSONL (written atomically)")
    parser.add_argument("--label-only", action="store_true",
                        help="label-only baseline: the CoT set's records, assistant turn = the answer only")
    parser.add_argument("--label-set", choices=LABEL_SETS, default="per_record",
                        help="label-only: each record once (default [ours]) or once per kept sample, as the CoT set")
    parser.add_argument("--grpo-out", help="also write the GRPO prompt set with the distilled label as solution")
    parser.add_argument("--answer-style", choices=ANSWER_STYLES, default="letter_text",
                        help="'The correct answer is: B. cat' (the paper's, default) or '...: cat' (tiny models)")
    parser.add_argument("--prompt-style", choices=sorted(STUDENT_PROMPTS), default="paper",
                        help="the user turn: the paper's '<audio> (AVQA Question) .' (default) or R1-AQA's")
    parser.add_argument("--labels", choices=LABELS, default="distilled",
                        help="GRPO solution: the distilled label (default, the paper's) or the record's ground truth")


def run(args: argparse.Namespace) -> int:
    s = build_sft(args.data, args.out, verified_path=args.verified, traces_path=args.traces,
                  label_only=args.label_only, grpo_out=args.grpo_out, answer_style=args.answer_style,
                  label_set=args.label_set, prompt_style=args.prompt_style, labels=args.labels)
    refused = ", ".join(f"{k} {v}" for k, v in s["refused"].items()) or "none"
    grpo = f", {s['grpo_prompts']} GRPO prompts -> {args.grpo_out}" if args.grpo_out else ""
    print(f"build-sft ({s['variant']}, {s['source']}): {s['examples']} examples from {s['records']} records "
          f"-> {args.out}{grpo}; refused: {refused}")
    return 0
