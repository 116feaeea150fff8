"""The predictions file: a JSON list in the official MMAU/MMAR format, one item per sample.

Each item carries the benchmark's own fields (so the official MMAU/MMAR scripts find ``task``,
``difficulty``, ``sub-category``, ``modality``, ...) and on top of them::

    {"id", "question", "choices" (as the model saw them), "answer" (the gold option's *text*),
     "answer_index", "prompt", "prompt_style", "model_prediction", "model_output" (MMAU) /
     "answer_prediction" (MMAR), "response" (the raw generation), "parsed_choice", "parse_status",
     "correct", "choice_parsed_correct", "error" (null, or why there is no response), "control"}

The prediction is what is scored: the last ``<answer>`` block's content, else the whole reply
(:func:`sightsound.evaluate.scoring.prediction_from_response`). It is written under our key
``model_prediction`` *and* under the key the benchmark's official script reads — MMAU's
``evaluation.py`` reads ``model_output``, MMAR's reads ``answer_prediction`` — so the official scripts
read our files unchanged. Where there is no prediction (empty reply, generation error) the keys are
omitted, which is how the official scripts recognise (and skip) such an item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sightsound.evaluate.scoring import PREDICTION_KEYS, prediction_from_response, put_prediction
from sightsound.jsonl import ArtefactError, atomic_write_json, read_json
from sightsound.schema import Sample

OURS = ("id", "question", "choices", "answer", "answer_index", "prompt", "prompt_style", *PREDICTION_KEYS,
        "response", "parsed_choice", "parse_status", "correct", "choice_parsed_correct", "error", "control",
        "question_type", "source")


def prediction_item(sample: Sample, prompt: str, response: str | None, benchmark: str, error: str | None = None,
                    control: str | None = None, prompt_style: str | None = None) -> dict[str, Any]:
    pred, choice, status = prediction_from_response(response, sample.choices) if error is None \
        else (None, None, "error")
    item: dict[str, Any] = {
        "id": sample.id,
        "question": sample.question,
        "choices": list(sample.choices),
        "answer": sample.answer_text,
        "answer_index": sample.answer,
        "question_type": sample.question_type,
        "prompt": prompt,
        "prompt_style": prompt_style,
        "response": response,
        "parsed_choice": choice,
        "parse_status": status,
        "correct": None,  # filled in by the scorer
        "choice_parsed_correct": None,
        "error": error,
        "control": control,
    }
    put_prediction(item, benchmark, pred)
    # The benchmark's own fields after ours (the official scripts read e.g. task, difficulty, modality).
    item.update({k: v for k, v in sample.meta.items() if k not in OURS})
    return item


def write_predictions(path: str | Path, items: list[dict[str, Any]]) -> None:
    atomic_write_json(path, items)


def read_predictions(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Read a predictions JSON list: ours, or any official-format file with ``id`` and a prediction key.

    Returns ``(items, keys)``: ``keys`` are the prediction keys found (``model_output``,
    ``answer_prediction``, ``model_prediction``). Refused with one line naming the file and the
    first offending item: not a list of objects, an item without ``id``, a duplicate id, a
    prediction that is not a string, or two keys of one item that disagree.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file not found: {path}")
    data = read_json(path)
    if not isinstance(data, list):
        raise ArtefactError(f"{path}: expected a JSON list of prediction items, got {type(data).__name__}")
    seen: set[str] = set()
    keys: set[str] = set()
    for i, it in enumerate(data):
        if not isinstance(it, dict):
            raise ArtefactError(f"{path}: item {i} is not a JSON object")
        if "id" not in it:
            raise ArtefactError(f"{path}: item {i} has no 'id'")
        rid = str(it["id"])
        if rid in seen:
            raise ArtefactError(f"{path}: item {i}: id {it['id']!r} appears twice")
        seen.add(rid)
        present = {k: it[k] for k in PREDICTION_KEYS if k in it and it[k] is not None}
        for k, v in present.items():
            if not isinstance(v, str):
                raise ArtefactError(f"{path}: item {i} (id {it['id']!r}): {k!r} must be a string, "
                                    f"got {type(v).__name__}")
        if len(set(present.values())) > 1:
            raise ArtefactError(f"{path}: item {i} (id {it['id']!r}): prediction keys disagree: "
                                + ", ".join(f"{k}={v!r}" for k, v in present.items()))
        keys.update(present)
    return data, [k for k in PREDICTION_KEYS if k in keys]
