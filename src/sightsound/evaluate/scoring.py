"""Scoring rules, one per benchmark, and the aggregation every results file uses.

What is scored for a reply is the same for every system (:func:`sightsound.parsing.scored_text`):
the content of its last ``<answer>`` block when it has one, else the whole reply. A plain-text
answer is therefore scored, not counted missing; *missing* means an empty reply or a generation
error. How often the tags were there is reported apart (``format_rate``, ``answer_tag_rate``).

* ``mmau``, ``mmar``: ``accuracy`` is the **official** string-match rule of the MMAU and MMAR
  scripts (:func:`official_string_match`) on that text, verbatim — no letter mapping, so
  ``<answer>B</answer>`` scores 0 exactly as the official script scores it. Tokens are the set of
  ``\\b\\w+\\b`` of the lower-cased text; a prediction is correct iff its token set is non-empty,
  holds every token of the answer, and holds no token that belongs to another choice but not to the
  answer (a choice whose token set equals the answer's is not "another choice"). Beside it,
  ``choice_parsed`` reports the letter-aware reading (the option our parser reads, letter or text,
  equals the answer); a paper table quotes ``accuracy`` (official). The one difference from the
  official scripts: they *skip* an item without a prediction; here it counts wrong and the number
  of such items is reported.
* ``music-avqa``: open answers, normalized exact match (:func:`normalize_open`) after a leading
  "The correct answer is:" is dropped.
* ``avqa``, ``synthetic``: exact choice match; the option is read by :mod:`sightsound.parsing`, the
  same parser the teacher's consistency filter and the GRPO accuracy reward use.

Every accuracy carries a Wilson 95 % interval (:mod:`sightsound.evaluate.intervals`).
:func:`score_predictions` joins a benchmark's samples with a predictions list and returns per-item
verdicts plus the metrics and breakdowns; ``eval`` and ``score`` both go through it, so they cannot
disagree.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sightsound.evaluate.intervals import wilson
from sightsound.jsonl import ArtefactError
from sightsound.parsing import (
    NO_ANSWER,
    OK,
    choice_from_answer,
    extract_answer,
    format_ok,
    normalize,
    parse_response,
    scored_text,
)
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
    p = normalize_open(strip_answer_prefix(prediction))
    return bool(p) and p == normalize_open(answer)


_ANSWER_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:correct\s+|final\s+)?answer\s*(?:is)?\s*[:\-]?\s*", re.IGNORECASE)


def strip_answer_prefix(text: str) -> str:
    """``"The correct answer is: two"`` -> ``"two"`` (the paper's answer wording, for open answers)."""
    return _ANSWER_PREFIX.sub("", text, count=1).strip() or text.strip()


# ------------------------------------------------------------------------- predictions from responses
# The key each official script reads its prediction from; ``model_prediction`` is ours (and was
# MMAU's for a few weeks in 2024). ``score`` accepts any of them.
OFFICIAL_KEYS = {"mmau": "model_output", "mmar": "answer_prediction"}
PREDICTION_KEYS = ("model_output", "answer_prediction", "model_prediction")


def prediction_from_response(response: str | None, choices: list[str]) -> tuple[str | None, int | None, str]:
    """``(prediction, parsed_choice, status)`` for one reply.

    The prediction is :func:`~sightsound.parsing.scored_text` verbatim (the last ``<answer>``
    block's content, else the whole reply); ``None`` only for an empty reply. ``parsed_choice`` is
    the option the parser reads from it (letter or text; None for open questions).
    """
    prediction = scored_text(response)
    if prediction is None:
        return None, None, NO_ANSWER
    if not choices:
        return prediction, None, OK
    parsed = parse_response(response or "", choices)
    return prediction, parsed.choice, parsed.status


def put_prediction(item: dict[str, Any], benchmark: str, prediction: str | None) -> None:
    """Write ``prediction`` under ``model_prediction`` and the benchmark's official key, dropping any
    other prediction key; no prediction leaves every key absent (how the official scripts skip it)."""
    for key in PREDICTION_KEYS:
        item.pop(key, None)
    if prediction is not None:
        item["model_prediction"] = prediction
        if benchmark in OFFICIAL_KEYS:
            item[OFFICIAL_KEYS[benchmark]] = prediction


def item_prediction(item: dict[str, Any]) -> str | None:
    """The item's prediction under whichever official key it carries (files are checked to agree)."""
    for key in PREDICTION_KEYS:
        if item.get(key) is not None:
            return item[key]
    return None


# -------------------------------------------------------------------------------------- per item
def _same_options(a: list[str], b: list[str]) -> bool:
    return sorted(a) == sorted(b)


def _shown(sample: Sample, item_choices: list[str] | None) -> list[str]:
    """The options as the model saw them (a shuffled control permutes them): they decide what a letter means."""
    return item_choices if item_choices and _same_options(item_choices, sample.choices) else sample.choices


def choice_parsed_correct(sample: Sample, prediction: str | None, item_choices: list[str] | None = None) -> bool:
    """The letter-aware reading: the option the parser reads from ``prediction`` is the gold option."""
    if prediction is None or not str(prediction).strip() or not sample.choices:
        return False
    shown = _shown(sample, item_choices)
    index, status = choice_from_answer(str(prediction), shown)
    return status == OK and index is not None and normalize(shown[index]) == normalize(sample.answer_text or "")


def is_correct(benchmark: str, sample: Sample, prediction: str | None, item_choices: list[str] | None = None) -> bool:
    """Score one prediction with the benchmark's official rule; no prediction is wrong."""
    if prediction is None or not str(prediction).strip():
        return False
    gold = sample.answer_text
    if gold is None:
        raise ValueError(f"sample {sample.id!r} has no answer to score against")
    if benchmark in TOKEN_RULE_BENCHMARKS:
        return official_string_match(gold, prediction, sample.choices)
    if benchmark in OPEN_BENCHMARKS:
        return open_match(gold, prediction)
    return choice_parsed_correct(sample, prediction, item_choices)


def item_parse_status(benchmark: str, item: dict[str, Any], sample: Sample) -> str:
    """Whether the answer named one option (``ok``) or why not; open questions: answered or not."""
    if item.get("parse_status"):
        return item["parse_status"]
    choices = item.get("choices") or sample.choices
    if item.get("response") is not None:
        return prediction_from_response(item["response"], choices)[2]
    pred = item_prediction(item)
    if pred is None or not str(pred).strip():
        return NO_ANSWER
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


def _score(correct: int, n: int) -> dict[str, Any]:
    return {"correct": correct, "n": n, "accuracy": _rate(correct, n), "ci95": wilson(correct, n)}


def score_predictions(benchmark: str, samples: list[Sample], items: list[dict[str, Any]]
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Join samples with prediction items by id and score them.

    Returns ``(rows, metrics)``: one row per sample ``{"id", "correct", "choice_parsed_correct",
    "missing", "parse_status"}`` and the metrics: ``n``, ``correct``, ``accuracy`` (the official
    rule) and its ``ci95`` (Wilson), ``choice_parsed`` (``{"correct", "n", "accuracy", "ci95"}``,
    benchmarks with options), ``missing_predictions`` (empty reply or error; counted wrong),
    ``not_in_predictions`` (ids absent from the file; included in ``missing_predictions``),
    ``unparsable`` / ``unparsable_rate`` (a reply that names no single option; over all items),
    ``format_rate`` (replies in the paper's ``<think>…</think><answer>…</answer>`` format) and
    ``answer_tag_rate`` (replies with an ``<answer>`` block), both over all items and ``None`` when
    the file has no raw responses, ``unknown_ids`` (predictions for no selected sample) and
    ``breakdowns`` ``{field: {value: {"n", "correct", "accuracy", "ci95"}}}``.
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
    correct = parsed_correct = missing = absent = unparsable = 0
    responses = formatted = tagged = 0
    for s in samples:
        it = by_id.get(s.id)
        if it is None:
            absent += 1
            pred, status = None, "no_prediction"
        else:
            pred = item_prediction(it)
            status = item_parse_status(benchmark, it, s)
            if "response" in it:
                responses += 1
                formatted += format_ok(it["response"] or "")
                tagged += extract_answer(it["response"] or "") is not None
        is_missing = pred is None or not str(pred).strip()
        shown = (it or {}).get("choices")
        ok = False if is_missing else is_correct(benchmark, s, str(pred), shown)
        # For AVQA and the synthetic world the official rule *is* the choice reading: not parsed twice.
        cp_ok = ok if benchmark in CHOICE_BENCHMARKS else (
            False if is_missing else choice_parsed_correct(s, str(pred), shown))
        correct += ok
        parsed_correct += cp_ok
        missing += is_missing
        # An answer that names no option; items with no response at all count as missing only.
        unparsable += status not in (OK, NO_ANSWER, "error", "no_prediction")
        rows.append({"id": s.id, "correct": ok, "choice_parsed_correct": cp_ok, "missing": is_missing,
                     "parse_status": status})
        for field, values in breakdown_keys(benchmark, s).items():
            for v in values:
                groups[field][v][0] += ok
                groups[field][v][1] += 1

    n = len(samples)
    breakdowns = {field: {v: _score(c, t) for v, (c, t) in sorted(vals.items())} for field, vals in groups.items()}
    has_choices = any(s.choices for s in samples)
    metrics = {
        "n": n,
        "correct": correct,
        "accuracy": _rate(correct, n),
        "ci95": wilson(correct, n),
        "choice_parsed": _score(parsed_correct, n) if has_choices else None,
        "missing_predictions": missing,
        "not_in_predictions": absent,
        "unparsable": unparsable,
        "unparsable_rate": _rate(unparsable, n),
        "format_rate": _rate(formatted, n) if responses else None,
        "answer_tag_rate": _rate(tagged, n) if responses else None,
        "unknown_ids": len(unknown),
        "unknown_id_examples": unknown[:10],
        "breakdowns": breakdowns,
    }
    return rows, metrics
