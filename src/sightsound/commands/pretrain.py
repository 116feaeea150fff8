"""``sightsound pretrain --role teacher|verifier|student --out DIR``: train a SightSound-mini role from scratch.

A 3-5 M-parameter model of the real architecture (Qwen2.5-VL for the teacher, Qwen2-Audio for the
verifier and the student), trained on the pretraining split of the synthetic world; the result is an
ordinary Hugging Face model directory, with ``DIR/pretrain_info.json`` recording seeds, steps,
seconds, losses and the held-out accuracy (:mod:`sightsound.mini.pretrain` describes the training).

``--init MODEL_DIR`` starts from a trained model instead of a fresh one: the shipped verifier
starts from the pretrained student, an audio model that already perceives.

Reproduce a checkpoint: ``--seed S --steps N --num M [--init DIR]`` with the values recorded in its
``pretrain_info.json`` (a time budget stops at a machine-dependent step; a step count does not).
"""

from __future__ import annotations

import argparse
import json

from sightsound.mini import roles as R
from sightsound.mini import targets as T
from sightsound.mini.pretrain import DEFAULT_SECONDS, LR, pretrain
from sightsound.mini.splits import split


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True, choices=R.ROLES, help="which role to train")
    parser.add_argument("--out", required=True, help="model directory to write (replaced if it exists)")
    parser.add_argument("--seconds", type=float, default=None,
                        help=f"training time budget (default {DEFAULT_SECONDS:.0f} s unless --steps is given)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (reproducible)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and data-order seed (default 0)")
    parser.add_argument("--num", type=int, default=None,
                        help=f"pretraining records to use (default {split('pretrain').num})")
    parser.add_argument("--check-num", type=int, default=None,
                        help=f"held-out records to evaluate on (default {split('pretrain_check').num})")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all available cores)")
    parser.add_argument("--init", default=None, metavar="MODEL_DIR",
                        help="warm start from a model directory of the same architecture (e.g. the pretrained "
                             "student for the verifier: an audio model that already perceives) instead of "
                             "a fresh initialisation")
    parser.add_argument("--size", choices=R.SIZE_NAMES, default="mini",
                        help="mini: the 3-5 M-parameter models (default); test: hidden 64, for fast tests")
    parser.add_argument("--device", default="cpu",
                        help="where the training steps run (default cpu; e.g. cuda). Weights are float32 "
                             "either way; evaluation always runs on CPU")
    parser.add_argument("--lr", type=float, default=LR, help=f"AdamW learning rate (default {LR:g})")
    parser.add_argument("--freeze-encoder", action="store_true",
                        help="freeze the audio/vision encoder and projector (with --init: keep its perception)")
    parser.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    parser.add_argument("--describe", action="store_true",
                        help="student: add the audio description in the teacher's counting sentence to the "
                             "mixture [ours; tried, not shipped: assets/mini/README.md]")
    parser.add_argument("--focus-weight", type=float, default=1.0,
                        help="verifier: loss weight of the reply words a verdict turns on (the checklist's "
                             "'silent', 'heard' and 'first' marks, Yes, No) against 1 for every other word "
                             "[ours; default 1 = plain loss]")
    parser.add_argument("--teacher-traces", default=None, metavar="TRACES.jsonl",
                        help="verifier: add the mini teacher's sampled thinks (a `sightsound teach` output on "
                             "pretraining-split records), labelled by the scene-graph truth, to the examples: "
                             "the hallucinations the teacher really samples [ours]")
    parser.add_argument("--reading-drill", type=float, default=0.0, metavar="SHARE",
                        help="verifier: for this share of records add one of their accounts over a silent "
                             "clip, where every class the account names is 'silent': the checklist's marks "
                             "can only be got right by reading the account [ours; default 0]")
    parser.add_argument("--hearing-drill", type=float, default=0.0, metavar="SHARE",
                        help="verifier: for this share of records add their true account with one or more "
                             "heard sounds left out or doubled (another copy of a named class in their place), "
                             "over the real clip: the left-out classes are 'heard' and only listening gets "
                             "them right [ours; default 0; assets/mini/README.md, session 17]")
    parser.add_argument("--order-mark", choices=T.ORDER_MARKS, default="none",
                        help="verifier: how the checklist carries the order of sounds, which a checklist of "
                             "classes otherwise lacks. 'first': a named class heard first reads 'first' instead "
                             "of 'yes', and an account naming another heard class before it is false; 'late': "
                             "the class the account names first reads 'late' when it is heard but not first; "
                             "'listed': the late mark in a reply that opens with the sounds heard, in order; "
                             "'named': as listed, then the sound the account names first "
                             "[ours; default none; the reply format is recorded in pretrain_info.json; "
                             "assets/mini/README.md, sessions 19-20]")
    parser.add_argument("--order-drill", type=float, default=0.0, metavar="SHARE",
                        help="verifier (with --order-mark): for this share of records add their true account with "
                             "a clearly later sound named first, verdict No [ours; default 0; "
                             "assets/mini/README.md, session 19]")
    parser.add_argument("--listing-drill", type=float, default=0.0, metavar="SHARE",
                        help="verifier: for this share of records add the student's listing task over the "
                             "record's clip (the sounds heard, in the order heard): an ear for which sound "
                             "comes first, which the order marks need [ours; default 0; assets/mini/README.md, "
                             "session 20]")
    parser.add_argument("--qa-share", type=float, default=R.STUDENT_QA_SHARE, metavar="SHARE",
                        help="student: share of the examples that are answer-only replies to the record's "
                             f"question, at most 0.5 (one per record) [ours; default {R.STUDENT_QA_SHARE:g}, "
                             "the shipped student's first stage]")


def run(args: argparse.Namespace) -> int:
    seconds = args.seconds if args.seconds is not None else (None if args.steps is not None else DEFAULT_SECONDS)
    info = pretrain(args.role, args.out, seconds=seconds, steps=args.steps, seed=args.seed, num=args.num,
                    check_num=args.check_num, threads=args.threads, evaluate=not args.no_eval, init=args.init,
                    size=args.size, device=args.device, lr=args.lr, freeze_encoder=args.freeze_encoder,
                    describe=args.describe, focus_weight=args.focus_weight,
                    teacher_traces=args.teacher_traces, reading_drill=args.reading_drill,
                    qa_share=args.qa_share, hearing_drill=args.hearing_drill, order_mark=args.order_mark,
                    order_drill=args.order_drill, listing_drill=args.listing_drill)
    summary = {k: info[k] for k in ("role", "num_parameters", "steps", "train_seconds", "loss_first", "loss_last")}
    if "heldout" in info:
        summary["heldout_accuracy"] = info["heldout"]["accuracy"]
        summary["chance"] = info["heldout"]["chance"]
    print(json.dumps(summary, indent=2))
    return 0
