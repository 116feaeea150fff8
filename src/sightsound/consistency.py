"""The paper's consistency filter (Step 1, test-time scaling): keep a question only if all n agree.

The teacher answers each question n times. SightSound-R1 keeps the question only when **all n
parsed choices are equal** (unanimity, not majority) [paper]. A sample whose answer could not be
parsed has no choice, so it breaks unanimity: the filter never guesses what it meant.
``require_label_match`` [ours, default on] additionally asks the unanimous choice to be the label.

This module is pure (lists of ints in, a small record out) so the rule is tested on its own and
reused wherever a kept/not-kept decision is recomputed (stats, reports).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# Reasons a record is not kept, in the order they are checked (the pinned trace format's values).
PARSE_FAILURE = "parse_failure"
DISAGREEMENT = "disagreement"
LABEL_MISMATCH = "label_mismatch"
ERROR = "error"


@dataclass(frozen=True)
class Consistency:
    kept: bool
    reason: str | None  # None when kept
    agreed_choice: int | None  # the unanimous choice, None unless all n agree
    agreement: int  # size of the largest group of equal parsed choices (0 when none parsed)
    majority_choice: int | None  # the single most frequent parsed choice; None on a tie or none parsed
    label_match: bool | None  # agreed_choice == label; None without unanimity or without a label

    def to_dict(self) -> dict:
        return asdict(self)


def majority(choices: Sequence[int | None]) -> tuple[int | None, int]:
    """(most frequent parsed choice or None on a tie, its count). Parse failures (None) do not vote."""
    counts = Counter(c for c in choices if c is not None).most_common()
    if not counts:
        return None, 0
    top = counts[0][1]
    if len(counts) > 1 and counts[1][1] == top:
        return None, top  # a tie has no majority; reporting one would be a guess
    return counts[0][0], top


def consistency_filter(choices: Sequence[int | None], label: int | None,
                       require_label_match: bool = True) -> Consistency:
    """Apply the filter to the parsed choices of one question's n samples.

    ``choices`` holds one entry per sample (None for a parse failure); its length is n. With
    ``require_label_match`` the label must be known: a record without one cannot pass.
    """
    if not choices:
        raise ValueError("consistency_filter needs at least one sample")
    majority_choice, agreement = majority(choices)
    unanimous = all(c is not None for c in choices) and len(set(choices)) == 1
    agreed = choices[0] if unanimous else None
    label_match = (agreed == label) if (agreed is not None and label is not None) else None
    if any(c is None for c in choices):
        reason = PARSE_FAILURE
    elif not unanimous:
        reason = DISAGREEMENT
    elif require_label_match and label_match is not True:
        reason = LABEL_MISMATCH
    else:
        reason = None
    return Consistency(kept=reason is None, reason=reason, agreed_choice=agreed, agreement=agreement,
                       majority_choice=majority_choice, label_match=label_match)
