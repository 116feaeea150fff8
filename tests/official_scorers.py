"""Minimal re-implementations of the official MMAU and MMAR scoring loops, to read our files with.

Each keeps what matters for compatibility: the **key** the official script reads the prediction
from (MMAU's ``evaluation.py``: ``model_output``; MMAR's: ``answer_prediction``), its **skip rule**
(an item without that key is skipped, not counted), and its ``string_match`` on the item's own
``answer`` and ``choices``. Written independently of ``sightsound.evaluate`` on purpose: a test
that reads our predictions files through these and gets our numbers shows the official scripts would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path


def _tokenize(text: str) -> set[str]:
    return set(re.findall(r"\b\w+\b", text.lower()))


def string_match(answer: str, prediction: str, choices: list[str]) -> bool:
    prediction_tokens = _tokenize(prediction)
    answer_tokens = _tokenize(answer)
    if not prediction_tokens:
        return False
    incorrect_tokens: set[str] = set()
    for choice in choices:
        choice_tokens = _tokenize(choice)
        if choice_tokens != answer_tokens:
            incorrect_tokens.update(choice_tokens - answer_tokens)
    return answer_tokens.issubset(prediction_tokens) and prediction_tokens.isdisjoint(incorrect_tokens)


def _loop(path: Path, key: str, group_field: str) -> dict:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    corr = total = 0
    groups: dict[str, list[int]] = {}
    for sample in data:
        if key not in sample:  # the official skip rule
            continue
        ok = string_match(sample["answer"], sample[key], sample["choices"])
        g = groups.setdefault(str(sample[group_field]), [0, 0])
        g[0] += ok
        g[1] += 1
        corr += ok
        total += 1
    return {"correct": corr, "total": total, "accuracy": corr / total if total else None, "groups": groups}


def mmau_official(path: str | Path) -> dict:
    """MMAU ``evaluation.py``: key ``model_output``, per ``task``."""
    return _loop(Path(path), "model_output", "task")


def mmar_official(path: str | Path) -> dict:
    """MMAR's evaluation script: key ``answer_prediction``, per ``modality``."""
    return _loop(Path(path), "answer_prediction", "modality")
