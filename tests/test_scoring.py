"""Scoring rules: the official MMAU/MMAR rule on the real annotation files, MUSIC-AVQA normalized
exact match, exact choice match, missing predictions, and the ``score`` command."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from sightsound.cli import main
from sightsound.data import load_benchmark, select
from sightsound.evaluate.predictions import prediction_item, read_predictions
from sightsound.evaluate.scoring import (
    is_correct,
    normalize_open,
    official_string_match,
    official_tokens,
    prediction_from_response,
    score_predictions,
)
from sightsound.jsonl import ArtefactError
from sightsound.prompts import LETTERS
from sightsound.schema import Sample

REAL = [("mmau", "mmau-test-mini.json"), ("mmar", "mmar-meta.jsonl")]


@pytest.fixture(scope="module")
def bench_dir(shared_dir) -> Path:
    return shared_dir / "data" / "benchmarks"


# ------------------------------------------------------------------------------ the official rule
@pytest.mark.parametrize("answer, prediction, choices, expected", [
    ("Man", "man", ["Man", "Woman"], True),  # case-insensitive
    ("Man", "It is a man.", ["Man", "Woman"], True),  # extra words without distractor tokens
    ("Man", "man or woman", ["Man", "Woman"], False),  # a distractor's token
    ("Man", "B", ["Man", "Woman"], False),  # a bare letter
    ("Man", "", ["Man", "Woman"], False),  # empty
    ("Man", "...", ["Man", "Woman"], False),  # no tokens at all
    ("Male speech", "male", ["Male speech", "Bird"], False),  # must hold every answer token
    # Tokens shared with the answer are not "another choice's" tokens.
    ("Both bird sound and male speech", "both bird sound and male speech", ["Male speech", "Bird",
                                                                            "Both bird sound and male speech"], True),
    # A choice whose token set equals the answer's is not counted as another choice.
    ("From far to near", "from far to near", ["From far to near", "From near to far", "Circling"], True),
    ("Guitar, Piano", "guitar piano", ["Guitar, Piano", "Piano, Guitar", "Drums"], True),
    ("Guitar, Piano", "guitar piano drums", ["Guitar, Piano", "Piano, Guitar", "Drums"], False),
    ("1.63 seconds", "1.63 seconds", ["1.63 seconds", "2.74 seconds"], True),
    ("1.63 seconds", "2.74 seconds", ["1.63 seconds", "2.74 seconds"], False),
])
def test_official_rule_cases(answer, prediction, choices, expected):
    assert official_string_match(answer, prediction, choices) is expected


def test_tokens_are_word_runs_of_lower_case():
    assert official_tokens("Twenty-two, A/B_c!") == {"twenty", "two", "a", "b_c"}


# ------------------------------------------------------------------------ real MMAU / MMAR files
def _gold_items(bench, transform=lambda s: s.answer_text):
    return [{"id": s.id, "model_prediction": transform(s)} for s in bench]


@pytest.mark.parametrize("name, filename", REAL)
def test_gold_answers_score_100(bench_dir, name, filename):
    bench = load_benchmark(name, bench_dir / filename)
    _, m = score_predictions(name, list(bench), _gold_items(bench))
    assert m["n"] == 1000 and m["correct"] == 1000 and m["accuracy"] == 1.0 and m["missing_predictions"] == 0


@pytest.mark.parametrize("name, filename", REAL)
def test_bare_letter_scores_0(bench_dir, name, filename):
    bench = load_benchmark(name, bench_dir / filename)
    # MMAU has two items whose options *are* the letters A-D; there the letter is the answer text.
    letters_are_options = [s for s in bench if official_tokens(s.answer_text) == {LETTERS[s.answer].lower()}]
    assert len(letters_are_options) == (2 if name == "mmau" else 0)
    rest = [s for s in bench if s not in letters_are_options]
    for fmt in ("{L}", "({L})", "{L}."):
        _, m = score_predictions(name, rest, _gold_items(rest, lambda s, f=fmt: f.format(L=LETTERS[s.answer])))
        assert m["correct"] == 0, fmt


@pytest.mark.parametrize("name, filename", REAL)
def test_echoing_two_options_scores_0(bench_dir, name, filename):
    bench = load_benchmark(name, bench_dir / filename)
    items, used = [], []
    for s in bench:
        gold = official_tokens(s.answer_text)
        # A distractor with a word the answer lacks (where none has one, the rule cannot tell them apart).
        other = next((c for c in s.choices if official_tokens(c) - gold), None)
        if other is not None:
            items.append({"id": s.id, "model_prediction": f"{s.answer_text} or {other}"})
            used.append(s)
    assert len(used) >= 980  # 1,000 MMAU items, 988 MMAR items
    _, m = score_predictions(name, used, items)
    assert m["correct"] == 0


@pytest.mark.parametrize("name, filename", REAL)
def test_extra_words_without_distractor_tokens_score_correct(bench_dir, name, filename):
    bench = load_benchmark(name, bench_dir / filename)
    fillers = ["I", "am", "confident", "that", "after", "listening", "carefully", "reply", "given", "would", "be"]
    items = []
    for s in bench:
        forbidden = set().union(*(official_tokens(c) for c in s.choices))
        words = [w for w in fillers if w.lower() not in forbidden]
        assert len(words) >= 5
        items.append({"id": s.id, "model_prediction": f"{' '.join(words[:4])}: {s.answer_text}. {' '.join(words[4:])}!"})
    _, m = score_predictions(name, list(bench), items)
    assert m["accuracy"] == 1.0


@pytest.mark.parametrize("name, filename", REAL)
def test_seeded_random_guesser_lands_near_chance(bench_dir, name, filename):
    """Random options through the whole path: response -> <answer> -> parser -> official rule."""
    bench = load_benchmark(name, bench_dir / filename)
    chance = sum(1 / len(s.choices) for s in bench) / len(bench)
    accs = []
    for seed in range(5):
        rng = random.Random(seed)
        items, empty_picks = [], 0
        for s in bench:
            k = rng.randrange(len(s.choices))
            empty_picks += not s.choices[k].strip()  # 4 MMAR items list an empty option
            response = f"<think>guessing</think> <answer>The correct answer is: {LETTERS[k]}. {s.choices[k]}</answer>"
            items.append(prediction_item(s, "p", response, "choice_text"))
        _, m = score_predictions(name, list(bench), items)
        assert m["missing_predictions"] == empty_picks
        accs.append(m["accuracy"])
    mean = sum(accs) / len(accs)
    # 5 x 1,000 draws: the standard error is ~0.6 points; the rule's equal-token options add < 1 point.
    assert abs(mean - chance) < 0.03, (accs, chance)
    assert 0.2 < chance < 0.35


def test_mmau_task_breakdowns_and_selection(bench_dir):
    bench = load_benchmark("mmau", bench_dir / "mmau-test-mini.json")
    items = [{"id": s.id, "model_prediction": s.answer_text if s.meta["task"] == "sound" else "nothing"} for s in bench]
    _, m = score_predictions("mmau", list(bench), items)
    bd = m["breakdowns"]
    assert bd["task"]["sound"] == {"n": 333, "correct": 333, "accuracy": 1.0}
    assert bd["task"]["music"]["correct"] == 0 and bd["task"]["speech"]["n"] == 333
    assert sum(v["n"] for v in bd["difficulty"].values()) == 1000
    assert set(bd) >= {"task", "category", "sub-category", "difficulty", "dataset", "num_choices"}
    assert bd["num_choices"]["8"]["n"] == 1
    _, m = score_predictions("mmau", list(select(bench, mmau_task="sound")), items)
    assert m["accuracy"] == 1.0 and m["unknown_ids"] == 667


# -------------------------------------------------------------------------------- missing / unknown
def _mc(i: int, answer: int = 0) -> Sample:
    return Sample(id=f"q{i}", question="Which?", choices=["dog bark", "cat meow", "car horn"], answer=answer,
                  source="mmau", meta={"task": "sound", "difficulty": "easy"})


def test_missing_predictions_count_wrong_and_are_reported():
    samples = [_mc(i) for i in range(5)]
    items = [{"id": "q0", "model_prediction": "dog bark"},
             {"id": "q1", "model_prediction": ""},  # empty: missing
             {"id": "q2"},  # no key (the official scripts would skip it)
             {"id": "zz", "model_prediction": "dog bark"}]  # an id the benchmark does not have
    rows, m = score_predictions("mmau", samples, items)
    assert m["n"] == 5 and m["correct"] == 1 and m["accuracy"] == 0.2
    assert m["missing_predictions"] == 4 and m["not_in_predictions"] == 2
    assert m["unknown_ids"] == 1 and m["unknown_id_examples"] == ["zz"]
    assert [r["missing"] for r in rows] == [False, True, True, True, True]
    with pytest.raises(ArtefactError, match="appears twice"):
        score_predictions("mmau", samples, items + [{"id": "q0"}])


# ------------------------------------------------------------------------ predictions from responses
def test_prediction_from_response_modes():
    choices = ["dog bark", "cat meow", "car horn"]
    r = "<think>barking</think> <answer>The correct answer is: A. dog bark</answer>"
    assert prediction_from_response(r, choices) == ("dog bark", 0, "ok")
    assert prediction_from_response(r, choices, "answer") == ("The correct answer is: A. dog bark", 0, "ok")
    assert prediction_from_response("<answer>B</answer>", choices) == ("cat meow", 1, "ok")
    # Unparsable: passed on verbatim, the rule judges it (here: two options -> wrong).
    pred, choice, status = prediction_from_response("<answer>dog bark or car horn</answer>", choices)
    assert (pred, choice, status) == ("dog bark or car horn", None, "ambiguous")
    assert prediction_from_response("no tags at all", choices) == (None, None, "no_answer")
    assert prediction_from_response("<answer> </answer>", choices)[0] is None
    # Open questions: the answer wording's prefix is dropped.
    assert prediction_from_response("<answer>The correct answer is: two</answer>", []) == ("two", None, "ok")
    with pytest.raises(ValueError, match="prediction mode"):
        prediction_from_response(r, choices, "bogus")


def test_answer_mode_lets_the_official_rule_judge_the_wording():
    # "The correct answer is" shares "the" with a distractor: the official rule marks it wrong.
    s = Sample(id="x", question="?", choices=["the former is louder", "it is quiet"], answer=1, source="mmau")
    r = "<answer>The correct answer is: B. it is quiet</answer>"
    for mode, expected in (("choice_text", True), ("answer", False)):
        item = prediction_item(s, "p", r, mode)
        assert is_correct("mmau", s, item["model_prediction"]) is expected, mode


# ------------------------------------------------------------------------------------ MUSIC-AVQA
@pytest.mark.parametrize("gold, pred, expected", [
    ("acoustic_guitar", "Acoustic guitar.", True),
    ("two", "2", True),
    ("two", "Two", True),
    ("more than ten", "More than 10", True),
    ("yes", "Yes.", True),
    ("violin", "a violin", True),
    ("left", "right", False),
    ("two", "twenty", False),
    ("yes", "yes no", False),
    ("zero", "", False),
])
def test_music_avqa_normalized_exact_match(gold, pred, expected):
    s = Sample(id="m", question="?", choices=[], answer=None, source="music-avqa", meta={"answer_text": gold})
    assert is_correct("music-avqa", s, pred) is expected


def test_normalize_open_numbers():
    assert normalize_open("21 violins_and 3") == "twenty one violins and three"
    assert normalize_open("THE Piano!") == "piano"


def test_music_avqa_real_answers(bench_dir):
    bench = load_benchmark("music-avqa", bench_dir / "music-avqa-test.json")
    words = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
             "nine": 9}

    def reply(s):  # digits for number words, spaces for underscores, upper case: all must still match
        text = s.answer_text
        text = str(words[text]) if text in words else text.replace("_", " ").upper()
        return f"<think>x</think><answer>The correct answer is: {text}</answer>"

    items = [prediction_item(s, s.question, reply(s), "choice_text") for s in bench]
    _, m = score_predictions("music-avqa", list(bench), items)
    assert m["accuracy"] == 1.0 and m["unparsable"] == 0
    assert set(m["breakdowns"]) == {"modality", "question_type"}
    wrong = [{"id": s.id, "model_prediction": "banjo" if s.answer_text != "banjo" else "yes"} for s in bench]
    assert score_predictions("music-avqa", list(bench), wrong)[1]["correct"] == 0


# --------------------------------------------------------------------------------- exact choice match
def test_choice_match_with_shuffled_options():
    s = Sample(id="a", question="?", choices=["dog", "cat", "car", "violin"], answer=2, source="avqa")
    assert is_correct("avqa", s, "car") and is_correct("avqa", s, "C") and not is_correct("avqa", s, "A")
    # The model saw the options shuffled: its letter refers to what it saw.
    shown = ["violin", "car", "dog", "cat"]
    assert is_correct("avqa", s, "B", shown) and not is_correct("avqa", s, "C", shown)
    # Options that are not a permutation of the benchmark's are ignored (letters then mean the original order).
    assert is_correct("avqa", s, "C", ["x", "y", "z", "w"])
    assert not is_correct("avqa", s, "dog or car")  # ambiguous


# --------------------------------------------------------------------------------------- the CLI
def test_score_cli_on_real_mmau(bench_dir, tmp_path, capsys):
    bench = load_benchmark("mmau", bench_dir / "mmau-test-mini.json")
    sound = [s for s in bench if s.meta["task"] == "sound"]
    items = []
    for i, s in enumerate(sound):
        k = s.answer if i % 3 else (s.answer + 1) % len(s.choices)  # every third wrong
        r = f"<think>t</think><answer>{LETTERS[k]}. {s.choices[k]}</answer>" if i % 10 else "no answer tag"
        items.append(prediction_item(s, "p", r, "choice_text"))
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps(items))
    # The official format: the key is model_prediction, and absent where there is no prediction.
    assert all(("model_prediction" in it) == bool(i % 10) for i, it in enumerate(items))
    assert all({"answer", "choices", "task", "difficulty"} <= set(it) for it in items)
    out = tmp_path / "res.json"
    assert main(["score", "--benchmark", "mmau", "--annotations", str(bench_dir / "mmau-test-mini.json"),
                 "--predictions", str(preds), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    # MMAU repeats some options verbatim, so a "wrong" pick can still be the answer's text.
    expected = sum(1 for i, s in enumerate(sound) if i % 10 and official_string_match(
        s.answer_text, s.choices[s.answer if i % 3 else (s.answer + 1) % len(s.choices)], s.choices))
    missing = sum(1 for i in range(len(sound)) if not i % 10)
    assert res["n"] == 333 and res["correct"] == expected and res["missing_predictions"] == missing
    assert res["version"] == "test-mini (original release)" and res["selection"] == {"mmau_task": "sound",
                                                                                      "limit": None}
    assert re.search(r"missing predictions \d+ \(counted wrong", capsys.readouterr().out)
    # --task all: the other 667 items are not in the file: counted wrong as missing.
    assert main(["score", "--benchmark", "mmau", "--annotations", str(bench_dir / "mmau-test-mini.json"),
                 "--predictions", str(preds), "--out", str(out), "--task", "all"]) == 0
    res = json.loads(out.read_text())
    assert res["n"] == 1000 and res["not_in_predictions"] == 667 and res["correct"] == expected


def test_score_cli_bad_inputs(bench_dir, tmp_path, capsys):
    ann = str(bench_dir / "mmar-meta.jsonl")
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"not": "a list"}))
    assert main(["score", "--benchmark", "mmar", "--annotations", ann, "--predictions", str(p)]) == 2
    assert "expected a JSON list" in capsys.readouterr().err
    p.write_text(json.dumps([{"id": "nope", "model_prediction": "x"}]))
    assert main(["score", "--benchmark", "mmar", "--annotations", ann, "--predictions", str(p)]) == 2
    assert "none of its 1 ids" in capsys.readouterr().err
    assert main(["score", "--benchmark", "imagenet", "--annotations", ann, "--predictions", str(p)]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    p.write_text(json.dumps([{"id": "x", "model_prediction": 3}]))
    with pytest.raises(ArtefactError, match="must be a string"):
        read_predictions(p)
