"""Scoring rules, one per benchmark, and the aggregation every results file uses.

* ``mmau``, ``mmar``: the official string-match rule of the MMAU and MMAR scripts, reproduced
  exactly (:func:`official_string_match`). Tokens are the set of ``\\b\\w+\\b`` of the lower-cased
  text; a prediction is correct iff its token set is non-empty, holds every token of the answer, and
  holds no token that belongs to another choice but not to the answer, where a choice whose token
  set equals the answer's is not "another choice". A bare letter therefore scores 0, and so does
  echoing two options. The one deliberate difference from the official scripts: they *skip* an item
  without a prediction; here it counts as wrong and the number of such items is reported.
* ``music-avqa``: open answers, normalized exact match (:func:`normalize_open`).
* ``avqa``, ``synthetic``: exact choice match; the option is read by :mod:`sightsound.parsing`, the
  same parser the teacher's consistency filter and the GRPO accuracy reward use.

:func:`score_predictions` joins a benchmark's samples with a predictions list (the official format,
``model_prediction`` per item) and returns per-item verdicts plus the metrics and breakdowns; the
``eval`` and ``score`` commands both go through it, so they cannot disagree.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sightsound.jsonl import ArtefactError
from sightsound.parsing import OK, choice_from_answer, normalize, parse_response
from sightsound.schema import Sample

TOKEN_RULE_BENCHMARKS = ("mmau", "mmar")
OPEN_BENCHMARKS = ("music-avqa",)
CHOICE_BENCHMARKS = ("avqa", "synthetic")

_WORD = re.compile(r"\b\w+\b")


# ------------------------------------------------------------------------------------ MMAU / MMAR
def official_tokens(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def official_string_match(answer: str, prediction: str, choices: list[str]) -> bool:
    """The MMAU / MMAR ``string_match`` rule (see the module docstring), exactly."""
    prediction_tokens = official_tokens(prediction)
    answer_tokens = official_tokens(answer)
    if not prediction_tokens:
        return False
    incorrect_tokens: set[str] = set()
    for choice in choices:
        choice_tokens = official_tokens(choice)
        if choice_tokens != answer_tokens:
            incorrect_tokens |= choice_tokens - answer_tokens
    return answer_tokens <= prediction_tokens and prediction_tokens.isdisjoint(incorrect_tokens)


# -------------------------------------------------------------------------------------- MUSIC-AVQA
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ARTICLES = {"a", "an", "the"}


def number_words(n: int) -> str:
    """``2 -> "two"``, ``21 -> "twenty one"`` (hyphens become spaces in normalized text anyway)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return _ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    return str(n)


def normalize_open(text: str) -> str:
    """MUSIC-AVQA answer normalization: lower case, ``_`` and punctuation as spaces, digits as number
    words (``"2" -> "two"``), articles dropped (``"a violin" == "violin"``, as in VQA scoring),
    whitespace collapsed. ``"acoustic_guitar" == "Acoustic guitar."``, ``"More than 10" == "more than ten"``.
    """
    words = normalize(text).split()
    out = []
    for w in words:
        if w.isdigit():
            out.extend(number_words(int(w)).split())
        elif w not in _ARTICLES:
            out.append(w)
    return " ".join(out)


def open_match(answer: str, prediction: str) -> bool:
    p = normalize_open(prediction)
    return bool(p) and p == normalize_open(answer)


_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:correct\s+|final\s+)?answer\s*(?:is)?\s*[:\-]?\s*", re.IGNORECASE)


def strip_answer_prefix(text: str) -> str:
    """``"The correct answer is: two"`` -> ``"two"`` (the paper's answer wording, for open answers)."""
    return _ANSWER_PREFIX.sub("", text, count=1).strip() or text.strip()


# ------------------------------------------------------------------------- predictions from responses
PREDICTION_MODES = ("choice_text", "answer")


def prediction_from_response(response: str | None, choices: list[str], mode: str = "choice_text"
                             ) -> tuple[str | None, int | None, str]:
    """What goes into ``model_prediction`` for one response: ``(prediction, parsed_choice, status)``.

    The prediction is the content of the response's last ``<answer>`` block; ``None`` (no
    prediction) when there is none or it is empty. With options and ``mode="choice_text"``, an answer
    the parser maps to exactly one option (``"The correct answer is: B. cat"``, ``"B"``, ``"cat"``)
    becomes that option's text, so the paper's letter-and-text answer wording is not penalized by
    the token rule for its letter; an answer the parser cannot map is passed on verbatim for the
    benchmark's rule to judge. ``mode="answer"`` always passes the ``<answer>`` content verbatim.
    Open questions (no options) get the content with a leading "The correct answer is:" removed.
    """
    if mode not in PREDICTION_MODES:
        raise ValueError(f"unknown prediction mode {mode!r} (known: {PREDICTION_MODES})")
    parsed = parse_response(response or "", choices)
    if parsed.answer is None or not parsed.answer.strip():
        return None, None, parsed.status
    if not choices:
        return strip_answer_prefix(parsed.answer), None, OK
    if mode == "choice_text" and parsed.choice is not None:
        return choices[parsed.choice], parsed.choice, parsed.status
    return parsed.answer, parsed.choice, parsed.status


# -------------------------------------------------------------------------------------- per item
def _same_options(a: list[str], b: list[str]) -> bool:
    return sorted(a) == sorted(b)


def is_correct(benchmark: str, sample: Sample, prediction: str | None, item_choices: list[str] | None = None) -> bool:
    """Score one prediction against a sample with the benchmark's rule; no prediction is wrong."""
    if prediction is None or not str(prediction).strip():
        return False
    gold = sample.answer_text
    if gold is None:
        raise ValueError(f"sample {sample.id!r} has no answer to score against")
    if benchmark in TOKEN_RULE_BENCHMARKS:
        return official_string_match(gold, prediction, sample.choices)
    if benchmark in OPEN_BENCHMARKS:
        return open_match(gold, prediction)
    # Exact choice match. The options as the model saw them (a shuffled control permutes them)
    # decide what a letter means; the chosen option's text is then compared with the gold text.
    shown = item_choices if item_choices and _same_options(item_choices, sample.choices) else sample.choices
    index, status = choice_from_answer(str(prediction), shown)
    return status == OK and index is not None and normalize(shown[index]) == normalize(gold)


def item_parse_status(benchmark: str, item: dict[str, Any], sample: Sample) -> str:
    """Whether the model's answer named one option (``ok``) or why not; open questions: answered or not."""
    if item.get("parse_status"):
        return item["parse_status"]
    choices = item.get("choices") or sample.choices
    if item.get("response") is not None:
        parsed = parse_response(item["response"], choices)
        if not choices:
            return OK if parsed.answer else parsed.status
        return parsed.status
    pred = item.get("model_prediction")
    if pred is None or not str(pred).strip():
        return "no_answer"
    if not choices:
        return OK
    return choice_from_answer(str(pred), choices)[1]


# --------------------------------------------------------------------------------------- breakdowns
def breakdown_keys(benchmark: str, sample: Sample) -> dict[str, list[str]]:
    """The groups one sample counts in, per breakdown field (whatever the benchmark has)."""
    m = sample.meta
    out: dict[str, list[str]] = {}

    def put(field: str, value: Any) -> None:
        if value is None or value == "" or value == []:
            return
        out[field] = [str(v) for v in value] if isinstance(value, list) else [str(value)]

    if benchmark == "mmau":
        put("task", m.get("task"))
        put("category", m.get("categories") or m.get("category"))
        put("sub-category", m.get("sub-category"))
        put("difficulty", m.get("difficulty"))
        put("dataset", m.get("dataset"))
    elif benchmark == "mmar":
        put("modality", m.get("modality"))
        put("category", m.get("categories") or m.get("category"))
        put("sub-category", m.get("sub-category"))
    elif benchmark == "music-avqa":
        put("modality", m.get("modality"))
        put("question_type", sample.question_type)
    elif benchmark == "avqa":
        put("question_type", sample.question_type)
        put("question_relation", m.get("question_relation"))
    elif benchmark == "synthetic":
        put("family", m.get("family"))
        put("evidence", m.get("evidence"))
        put("question_type", sample.question_type)
        va = m.get("vision_answer")
        # Items where sight and sound disagree are the ones a vision-biased model gets wrong.
        put("vision_implies", "none" if va is None else ("the answer" if va == sample.answer else "a distractor"))
    put("num_choices", len(sample.choices) if sample.choices else None)
    return out


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 6) if den else None


def score_predictions(benchmark: str, samples: list[Sample], items: list[dict[str, Any]]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Join samples with prediction items by id and score them.

    Returns ``(rows, metrics)``: one row per sample ``{"id", "correct", "missing", "parse_status"}``
    and the metrics: ``n``, ``correct``, ``accuracy``, ``missing_predictions`` (counted wrong),
    ``not_in_predictions`` (ids absent from the file; included in ``missing_predictions``),
    ``unparsable`` / ``unparsable_rate`` (a response whose answer names no single option, or has no
    ``<answer>``; over all items), ``unknown_ids`` (predictions for no selected sample) and
    ``breakdowns`` ``{field: {value: {"n", "correct", "accuracy"}}}``.
    """
    by_id: dict[str, dict[str, Any]] = {}
    for it in items:
        key = str(it.get("id"))
        if key in by_id:
            raise ArtefactError(f"predictions: id {key!r} appears twice")
        by_id[key] = it
    wanted = {s.id for s in samples}
    unknown = sorted(k for k in by_id if k not in wanted)

    rows = []
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    correct = missing = absent = unparsable = 0
    for s in samples:
        it = by_id.get(s.id)
        if it is None:
            absent += 1
            pred, status = None, "no_prediction"
        else:
            pred = it.get("model_prediction")
            status = item_parse_status(benchmark, it, s)
        is_missing = pred is None or not str(pred).strip()
        ok = False if is_missing else is_correct(benchmark, s, str(pred), (it or {}).get("choices"))
        correct += ok
        missing += is_missing
        # An answer that names no option; items with no response at all count as missing only.
        unparsable += status not in (OK, "error", "no_prediction")
        rows.append({"id": s.id, "correct": ok, "missing": is_missing, "parse_status": status})
        for field, values in breakdown_keys(benchmark, s).items():
            for v in values:
                groups[field][v][0] += ok
                groups[field][v][1] += 1

    n = len(samples)
    breakdowns = {
        field: {v: {"n": t, "correct": c, "accuracy": _rate(c, t)} for v, (c, t) in sorted(vals.items())}
        for field, vals in groups.items()
    }
    metrics = {
        "n": n,
        "correct": correct,
        "accuracy": _rate(correct, n),
        "missing_predictions": missing,
        "not_in_predictions": absent,
        "unparsable": unparsable,
        "unparsable_rate": _rate(unparsable, n),
        "unknown_ids": len(unknown),
        "unknown_id_examples": unknown[:10],
        "breakdowns": breakdowns,
    }
    return rows, metrics
