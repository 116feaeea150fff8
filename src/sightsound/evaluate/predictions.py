"""The predictions file: a JSON list in the official MMAU/MMAR format, one item per sample.

Each item carries the benchmark's own fields (so the official MMAU/MMAR scripts find ``task``,
``difficulty``, ``sub-category``, ``modality``, ...) and on top of them::

    {"id", "question", "choices" (as the model saw them), "answer" (the gold option's *text*),
     "answer_index", "prompt", "model_prediction" (omitted when there is none, as the official
     scripts expect), "response" (the raw generation), "parsed_choice", "parse_status", "correct",
     "error" (null, or why there is no response), "control"}

``model_prediction`` is what the benchmark's rule scores (see
:func:`sightsound.evaluate.scoring.prediction_from_response`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sightsound.evaluate.scoring import prediction_from_response
from sightsound.jsonl import ArtefactError, atomic_write_json, read_json
from sightsound.schema import Sample

OURS = ("id", "question", "choices", "answer", "answer_index", "prompt", "model_prediction", "response",
        "parsed_choice", "parse_status", "correct", "error", "control", "question_type", "source")


def prediction_item(sample: Sample, prompt: str, response: str | None, mode: str, error: str | None = None,
                    control: str | None = None) -> dict[str, Any]:
    pred, choice, status = prediction_from_response(response, sample.choices, mode) if error is None \
        else (None, None, "error")
    item: dict[str, Any] = {
        "id": sample.id,
        "question": sample.question,
        "choices": list(sample.choices),
        "answer": sample.answer_text,
        "answer_index": sample.answer,
        "question_type": sample.question_type,
        "prompt": prompt,
        "response": response,
        "parsed_choice": choice,
        "parse_status": status,
        "correct": None,  # filled in by the scorer
        "error": error,
        "control": control,
    }
    if pred is not None:
        item["model_prediction"] = pred
    # The benchmark's own fields after ours (the official scripts read e.g. task, difficulty, modality).
    item.update({k: v for k, v in sample.meta.items() if k not in OURS})
    return item


def write_predictions(path: str | Path, items: list[dict[str, Any]]) -> None:
    atomic_write_json(path, items)


def read_predictions(path: str | Path) -> list[dict[str, Any]]:
    """Read a predictions JSON list (ours or any official-format file with ``id`` and ``model_prediction``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    data = read_json(path)
    if not isinstance(data, list):
        raise ArtefactError(f"{path}: expected a JSON list of prediction items, got {type(data).__name__}")
    for i, it in enumerate(data):
        if not isinstance(it, dict):
            raise ArtefactError(f"{path}: item {i} is not a JSON object")
        if "id" not in it:
            raise ArtefactError(f"{path}: item {i} has no 'id'")
        pred = it.get("model_prediction")
        if pred is not None and not isinstance(pred, str):
            raise ArtefactError(f"{path}: item {i} (id {it['id']!r}): 'model_prediction' must be a string")
    return data
