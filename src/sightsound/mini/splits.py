"""The SightSound-mini data splits: one place that says which synthetic seeds belong to which use.

Each split is one call of the synthetic generator (``sightsound.synth.generate``) with its own base
seed; the generator derives every scene from (base seed, index), so different base seeds give
different scenes. The pretraining splits teach the tiny roles their skills; the distillation and
test splits are what the paper's experiment (``sightsound experiment``) runs on, and no pretrained
role has seen them. A test checks that no scene of a pretraining split reappears in the others.

    split            base seed   used by
    pretrain         1000        ``sightsound pretrain`` (all three roles, each its own targets)
    pretrain_check   1001        held-out accuracy of each role (``evaluate_role``), recorded in
                                 ``pretrain_info.json`` and re-checked by the tests
    distill          2000        the experiment's teacher -> verifier -> student distillation set
    test             3000        the experiment's held-out test set
    validation       5000        [ours] where the experiment's settings (GRPO's learning rate, beta,
                                 temperature, group size) are tuned: ``sightsound experiment
                                 --eval-split validation``; never the test split
    demo             4000        ``sightsound demo`` (the CPU demo's records)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Split:
    name: str
    seed: int
    num: int  # default number of scenes
    purpose: str


SPLITS: dict[str, Split] = {
    s.name: s
    for s in (
        Split("pretrain", 1000, 1500, "pretraining of the tiny teacher, verifier and student"),
        Split("pretrain_check", 1001, 100, "held-out accuracy of each pretrained role"),
        Split("distill", 2000, 200, "distillation set of the experiment (teacher, verifier, SFT, GRPO)"),
        Split("test", 3000, 200, "held-out test set of the experiment"),
        Split("demo", 4000, 48, "records of the CPU demo"),
        Split("validation", 5000, 200, "tuning the experiment's settings (never the test split)"),
    )
}
PRETRAIN_SPLITS = ("pretrain", "pretrain_check")


def split(name: str) -> Split:
    if name not in SPLITS:
        raise KeyError(f"unknown SightSound-mini split {name!r} (known: {', '.join(SPLITS)})")
    return SPLITS[name]
