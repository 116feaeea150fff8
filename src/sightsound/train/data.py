"""Reading the student's training sets (the pinned formats written by ``build-sft``).

SFT set, one line per example::

    {"id", "messages": [{"role": "user", "content": [{"type": "audio", "path": ...}, {"type": "text", "text": ...}]},
                        {"role": "assistant", "content": [{"type": "text", "text": "<think> ... </think> <answer> ... </answer>"}]}],
     "audio", "question", "choices", "solution", "source_key"}

GRPO prompt set: the same minus the assistant message, under ``prompt``. A GRPO run may also read
an SFT set (its assistant turns are dropped), so label-only GRPO can start from the same records.
Relative audio paths are resolved against the JSONL's folder. A malformed line is reported with
the file, line and record id.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sightsound.jsonl import read_jsonl
from sightsound.schema import RecordError


def _where(path: Path, lineno: int, row: Any) -> str:
    rid = row.get("id", "?") if isinstance(row, dict) else "?"
    return f"{path}:{lineno} (record {rid!r})"


def _resolve_paths(messages: list[dict], base: Path) -> list[dict]:
    messages = copy.deepcopy(messages)
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "audio":
                    key = "path" if part.get("path") else "audio"
                    p = part.get(key)
                    if not isinstance(p, str) or not p:
                        raise RecordError("an audio part has no path")
                    if not Path(p).is_absolute():
                        part[key] = str(base / p)
    return messages


def _check_label(row: dict) -> None:
    choices, solution = row.get("choices"), row.get("solution")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
        raise RecordError("'choices' must be a non-empty list of strings")
    if isinstance(solution, bool) or not isinstance(solution, int) or not 0 <= solution < len(choices):
        raise RecordError(f"'solution' must be an option index in 0..{len(choices) - 1}, got {solution!r}")


def _audio_of(messages: list[dict]) -> str:
    paths = [part.get("path") or part.get("audio") for m in messages if isinstance(m.get("content"), list)
             for part in m["content"] if isinstance(part, dict) and part.get("type") == "audio"]
    if len(paths) != 1:
        raise RecordError(f"expected exactly one audio part in the user turn, found {len(paths)}")
    return paths[0]


def label_only_messages(messages: list[dict], choices: list[str], solution: int) -> list[dict]:
    """The label-only baseline's target: the same prompt, the answer alone in the paper's wording."""
    from sightsound.sft_data import assistant_message, target_text  # the one place that words targets

    prompt = [m for m in messages if m["role"] != "assistant"]
    return prompt + [assistant_message(target_text(None, choices, solution, label_only=True))]


def _read_rows(path: str | Path, what: str, empty: str, convert: Callable[[dict, Path], dict]) -> list[dict]:
    """Every line of a training set through ``convert(row, folder)``.

    The checks both sets share live here: the file exists, each line is an object with a string
    ``id`` seen once, and an error from ``convert`` (a :class:`RecordError`) names file, line and id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    base = path.parent.resolve()
    rows, seen = [], set()
    for lineno, row in read_jsonl(path, with_lineno=True):
        try:
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise RecordError("a record needs a string 'id'")
            if row["id"] in seen:
                raise RecordError("duplicate id")
            rows.append(convert(row, base))
            seen.add(row["id"])
        except RecordError as e:
            raise RecordError(f"{_where(path, lineno, row)}: {e}") from None
    if not rows:
        raise RecordError(f"{path}: {empty}")
    return rows


def load_sft_rows(path: str | Path, target: str = "as_is") -> list[dict]:
    """Rows for SFT: ``{"id", "messages", "audio", "choices", "solution"}`` (audio paths absolute)."""
    if target not in ("as_is", "label_only"):
        raise ValueError(f"unknown SFT target {target!r}")

    def convert(row: dict, base: Path) -> dict:
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages or messages[-1].get("role") != "assistant":
            raise RecordError("'messages' must be a list ending with the assistant turn")
        _check_label(row)
        messages = _resolve_paths(messages, base)
        if target == "label_only":
            messages = label_only_messages(messages, row["choices"], row["solution"])
        return {"id": row["id"], "messages": messages, "audio": _audio_of(messages),
                "choices": row["choices"], "solution": row["solution"]}

    return _read_rows(path, "SFT set", "no training examples", convert)


def load_grpo_rows(path: str | Path) -> list[dict]:
    """Rows for GRPO: ``{"id", "prompt", "audio", "question", "choices", "solution"}``."""

    def convert(row: dict, base: Path) -> dict:
        prompt = row.get("prompt")
        if prompt is None and isinstance(row.get("messages"), list):
            prompt = [m for m in row["messages"] if m.get("role") != "assistant"]  # an SFT set
        if not isinstance(prompt, list) or not prompt or prompt[-1].get("role") != "user":
            raise RecordError("'prompt' must be a list of messages ending with the user turn")
        _check_label(row)
        prompt = _resolve_paths(prompt, base)
        return {"id": row["id"], "prompt": prompt, "audio": _audio_of(prompt), "question": row.get("question", ""),
                "choices": row["choices"], "solution": row["solution"]}

    return _read_rows(path, "GRPO prompt set", "no prompts", convert)
