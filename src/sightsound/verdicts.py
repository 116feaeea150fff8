"""The verifier's reply, read strictly: ``Yes`` keeps a sample, ``No`` discards it, anything else
is *unparsable* and counts as ``No`` (the paper's rule), but is counted on its own.

The rule (documented because it decides what the student learns from):

1. Surrounding whitespace is removed.
2. Wrapping that does not change the word is peeled off, repeatedly: quotes (``'``, ``"``,
   typographic quotes), backticks, markdown emphasis (``*``, ``_``) and a trailing ``.`` or ``!``.
3. What remains, compared case-insensitively, must be exactly ``yes`` or ``no``.

So ``Yes``, ``yes.``, ``'No'``, ``**YES**`` parse; ``Yes, but the barking is faint``, ``Yes No``,
``The answer is Yes``, the empty string and any longer text are unparsable, because the prompt
demands "only 'Yes' or 'No'": a reply that adds a qualification did not follow it, and a keep
decision must never rest on a guess about what a hedge meant.

Rule ``final`` [ours, not the paper's]: the reply's *last word* is read by the rule above, whatever
comes before it. It exists for verifiers that write something before their verdict, as the
SightSound-mini verifier does ("guitar no piano yes ... wind no. No": a checklist of the sound
classes, named and heard or not): a 4 M-parameter model trained from scratch on a CPU does not learn
a one-token audio check in the budget, but does learn the checklist (README, SightSound-mini). The
paper's ``strict`` rule is the default.

With ``votes`` k > 1 (k sampled replies to one prompt) a sample is kept only when a strict
majority of the k replies is ``Yes``; unparsable replies count as ``No`` for that decision.
"""

from __future__ import annotations

from collections import Counter

YES = "yes"
NO = "no"
UNPARSABLE = "unparsable"
ERROR = "error"  # the verifier call failed (no reply at all); set by the stage, never by the parser
RULES = ("strict", "final")  # strict [paper]: the whole reply is one word; final [ours]: the last word decides

# Characters that may wrap the one word without changing it.
_WRAP = "\"'`*_\u2018\u2019\u201c\u201d"
_TRAILING = ".!"


def parse_verdict(reply: str | None, rule: str = "strict") -> str:
    """``"yes"``, ``"no"`` or ``"unparsable"`` for one raw verifier reply; never raises on a reply."""
    if rule not in RULES:
        raise ValueError(f"unknown verdict rule {rule!r} (known: {', '.join(RULES)})")
    if not isinstance(reply, str):
        return UNPARSABLE
    text = reply.strip()
    if rule == "final":
        words = text.split()
        text = words[-1] if words else ""
    while True:
        peeled = text.strip().rstrip(_TRAILING).strip()
        if len(peeled) >= 2 and peeled[0] in _WRAP and peeled[-1] in _WRAP:
            peeled = peeled[1:-1]
        if peeled == text:
            break
        text = peeled
    word = text.lower()
    if word == YES:
        return YES
    if word == NO:
        return NO
    return UNPARSABLE


def decide(replies: list[str], rule: str = "strict") -> tuple[str, bool]:
    """The verdict and keep decision for the k replies of one sample.

    ``kept`` iff strictly more than half of the replies parse as ``yes``. The reported verdict is
    ``yes`` when kept; otherwise the more frequent of ``no`` and ``unparsable`` (``no`` on a tie),
    so with one vote the verdict is simply the parsed reply. An empty list is an error.
    """
    if not replies:
        return ERROR, False
    counts = Counter(parse_verdict(r, rule) for r in replies)
    if counts[YES] * 2 > len(replies):
        return YES, True
    if counts[UNPARSABLE] > counts[NO]:
        return UNPARSABLE, False
    return NO, False
