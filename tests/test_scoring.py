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
            # Official: the option's text. The paper's wording ("The correct answer is: B. cat") is
            # read letter-aware by choice_parsed only (the official rule also judges its extra words).
            response = f"<think>guessing</think> <answer>{s.choices[k]}</answer>"
            paper = f"<think>guessing</think> <answer>The correct answer is: {LETTERS[k]}. {s.choices[k]}</answer>"
            items.append(prediction_item(s, "p", response, name))
            if seed == 0:
                _, mp = score_predictions(name, [s], [prediction_item(s, "p", paper, name)])
                assert mp["choice_parsed"]["correct"] == (k == s.answer or s.choices[k] == s.answer_text) \
                    or not s.choices[k].strip() or s.choices.count(s.choices[k]) > 1
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
    assert bd["task"]["sound"]["n"] == 333 and bd["task"]["sound"]["accuracy"] == 1.0
    assert bd["task"]["sound"]["ci95"][0] > 0.98 and bd["task"]["sound"]["ci95"][1] == 1.0
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
def test_prediction_is_the_extracted_text_verbatim():
    choices = ["dog bark", "cat meow", "car horn"]
    r = "<think>barking</think> <answer>The correct answer is: A. dog bark</answer>"
    assert prediction_from_response(r, choices) == ("The correct answer is: A. dog bark", 0, "ok")
    assert prediction_from_response("<answer>B</answer>", choices) == ("B", 1, "ok")  # no letter mapping
    # Unparsable: passed on verbatim, the rule judges it (here: two options -> wrong).
    assert prediction_from_response("<answer>dog bark or car horn</answer>", choices) == \
        ("dog bark or car horn", None, "ambiguous")
    # No tags: the whole reply is the prediction, never "missing".
    assert prediction_from_response("It sounds like a cat meow.", choices) == ("It sounds like a cat meow.", 1, "ok")
    assert prediction_from_response("no tags at all", choices) == ("no tags at all", None, "no_match")
    assert prediction_from_response("   ", choices) == (None, None, "no_answer")
    assert prediction_from_response(None, choices) == (None, None, "no_answer")
    assert prediction_from_response("<answer> </answer>", choices)[0] == ""  # answered empty: wrong, not missing
    assert prediction_from_response("<answer>The correct answer is: two</answer>", []) == \
        ("The correct answer is: two", None, "ok")


def test_official_rule_on_plain_text_letters_and_paper_wording(bench_dir):
    """On the real MMAU file: what the official script would score, and the letter-aware reading beside it."""
    bench = load_benchmark("mmau", bench_dir / "mmau-test-mini.json")
    s = next(x for x in bench if x.meta["task"] == "sound" and len(x.choices) == 4
             and not any(official_tokens(x.answer_text) & official_tokens(c) for c in x.choices if c != x.answer_text))
    letter = LETTERS[s.answer]
    cases = {
        f"The sound is {s.answer_text}.": (True, True),  # plain text naming the right option: correct
        s.answer_text: (True, True),
        f"<answer>{letter}</answer>": (False, True),  # a bare letter: 0 under the official rule
        f"<think>x</think><answer>{letter}. {s.answer_text}</answer>": (None, True),  # official: its words decide
    }
    for reply, (official, parsed) in cases.items():
        item = prediction_item(s, "p", reply, "mmau")
        assert "model_prediction" in item and item["model_output"] == item["model_prediction"]  # not missing
        rows, m = score_predictions("mmau", [s], [item])
        assert m["missing_predictions"] == 0, reply
        if official is not None:
            assert rows[0]["correct"] is official, reply
        assert rows[0]["choice_parsed_correct"] is parsed, reply


def test_wording_is_judged_by_the_official_rule_and_read_by_choice_parsed():
    # "The correct answer is" shares "the" with a distractor: the official rule marks it wrong.
    s = Sample(id="x", question="?", choices=["the former is louder", "it is quiet"], answer=1, source="mmau")
    item = prediction_item(s, "p", "<answer>The correct answer is: B. it is quiet</answer>", "mmau")
    rows, m = score_predictions("mmau", [s], [item])
    assert rows[0]["correct"] is False and rows[0]["choice_parsed_correct"] is True
    assert m["accuracy"] == 0.0 and m["choice_parsed"]["accuracy"] == 1.0


def test_format_and_answer_tag_rates():
    samples = [_mc(i) for i in range(4)]
    replies = ["<think>t</think><answer>dog bark</answer>", "<answer>dog bark</answer>", "dog bark", ""]
    items = [prediction_item(s, "p", r, "mmau") for s, r in zip(samples, replies)]
    _, m = score_predictions("mmau", samples, items)
    assert m["format_rate"] == 0.25 and m["answer_tag_rate"] == 0.5
    assert m["correct"] == 3 and m["missing_predictions"] == 1
    # A file without raw responses cannot say: None, not 0.
    assert score_predictions("mmau", samples, [{"id": "q0", "model_output": "dog bark"}])[1]["format_rate"] is None


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

    items = [prediction_item(s, s.question, reply(s), "music-avqa") for s in bench]
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
        r = f"<think>t</think><answer>{s.choices[k]}</answer>" if i % 10 else ""
        items.append(prediction_item(s, "p", r, "mmau"))
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps(items))
    # The official format: MMAU's key model_output (and ours), absent where there is no prediction.
    assert all(("model_output" in it) == ("model_prediction" in it) == bool(i % 10) for i, it in enumerate(items))
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
    assert res["version_detail"]["revision"] == "v05.15.25-2025-08-09" and "v05.15.25" in res["version"]
    assert res["selection"] == {"mmau_task": "sound", "limit": None}
    assert res["prediction_keys"] == ["model_output", "model_prediction"]
    lo, hi = res["ci95"]
    assert lo < res["accuracy"] < hi and 0.03 < hi - lo < 0.12  # 333 items: about +-5 points
    printed = capsys.readouterr().out
    assert re.search(r"missing predictions \d+ \(counted wrong", printed) and "95% CI" in printed
    assert "read key(s) model_output, model_prediction" in printed
    # The scored copy beside the results carries the official key and the verdicts.
    scored = json.loads((tmp_path / "res.predictions.json").read_text())
    assert len(scored) == 333 and sum(it["correct"] for it in scored) == expected
    # --task all: the other 667 items are not in the file: counted wrong as missing.
    assert main(["score", "--benchmark", "mmau", "--annotations", str(bench_dir / "mmau-test-mini.json"),
                 "--predictions", str(preds), "--out", str(out), "--task", "all"]) == 0
    res = json.loads(out.read_text())
    assert res["n"] == 1000 and res["not_in_predictions"] == 667 and res["correct"] == expected
    # Asserting the wrong revision is refused in one line before anything is written.
    out.unlink()
    assert main(["score", "--benchmark", "mmau", "--annotations", str(bench_dir / "mmau-test-mini.json"),
                 "--predictions", str(preds), "--out", str(out), "--mmau-version", "original"]) == 2
    err = capsys.readouterr().err
    assert "expected MMAU version 'original'" in err and len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("content, message", [
    ({"not": "a list"}, "expected a JSON list"),
    ([{"id": "nope", "model_prediction": "x"}], "item 0: id 'nope' is not in"),
    ([{"id": "{ID0}", "answer_prediction": "x"}, {"id": "{ID0}", "answer_prediction": "y"}], "item 1: id '{ID0}' appears twice"),
    ([{"id": "{ID0}", "answer_prediction": "x"}, {"id": "{ID1}", "answer_prediction": "a", "model_prediction": "b"}],
     "item 1 (id '{ID1}'): prediction keys disagree"),
    ([{"id": "{ID0}", "answer_prediction": 3}], "item 0 (id '{ID0}'): 'answer_prediction' must be a string"),
    ([{"id": "{ID0}", "model_output": ["a"]}], "'model_output' must be a string"),
])
def test_score_cli_bad_inputs(bench_dir, tmp_path, capsys, content, message):
    ann = bench_dir / "mmar-meta.jsonl"
    ids = [json.loads(line)["id"] for line in ann.read_text().splitlines()[:2]]
    text = json.dumps(content).replace("{ID0}", ids[0]).replace("{ID1}", ids[1])
    p = tmp_path / "p.json"
    p.write_text(text)
    out = tmp_path / "r.json"
    assert main(["score", "--benchmark", "mmar", "--annotations", str(ann), "--predictions", str(p),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    message = message.replace("{ID0}", ids[0]).replace("{ID1}", ids[1])
    assert message in err and str(p) in err and len(err.splitlines()) == 1, err
    assert not out.exists() and not (tmp_path / "r.predictions.json").exists()  # nothing written


def test_score_cli_unknown_benchmark(bench_dir, tmp_path, capsys):
    p = tmp_path / "p.json"
    p.write_text("[]")
    assert main(["score", "--benchmark", "imagenet", "--annotations", str(bench_dir / "mmar-meta.jsonl"),
                 "--predictions", str(p)]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    with pytest.raises(ArtefactError, match="must be a string"):
        p.write_text(json.dumps([{"id": "x", "model_prediction": 3}]))
        read_predictions(p)


# ------------------------------------------------------------------ the official scripts read our files
def _official(name):
    from official_scorers import mmar_official, mmau_official

    return {"mmau": mmau_official, "mmar": mmar_official}[name]


@pytest.mark.parametrize("name, filename", REAL)
def test_official_loops_read_the_files_score_writes(bench_dir, tmp_path, name, filename):
    """Plain-text, tagged, letter-only and empty replies; `score` writes a file the official loop agrees with."""
    bench = load_benchmark(name, bench_dir / filename)
    rng = random.Random(1)
    items = []
    for i, s in enumerate(bench):
        k = rng.randrange(len(s.choices))
        reply = [f"<answer>{s.choices[k]}</answer>", f"It sounds like {s.choices[k]}.", f"<answer>{LETTERS[k]}</answer>",
                 "", f"<think>t</think><answer>The correct answer is: {LETTERS[k]}. {s.choices[k]}</answer>"][i % 5]
        items.append({"id": s.id, "model_prediction": prediction_item(s, "p", reply, name).get("model_prediction")})
    items = [it if it["model_prediction"] is not None else {"id": it["id"]} for it in items]  # ours, key only
    preds = tmp_path / "ours.json"
    preds.write_text(json.dumps(items))
    out = tmp_path / "res.json"
    assert main(["score", "--benchmark", name, "--annotations", str(bench_dir / filename), "--predictions",
                 str(preds), "--out", str(out), "--task", "all"]) == 0
    res = json.loads(out.read_text())
    official = _official(name)(tmp_path / "res.predictions.json")
    assert official["correct"] == res["correct"] > 0
    # The official scripts skip items with no prediction; we count them wrong and report them.
    assert official["total"] == res["n"] - res["missing_predictions"] and res["missing_predictions"] == 200
    assert res["prediction_keys"] == ["model_prediction"]
    # Letter-only replies are 0 under the official rule but read by choice_parsed.
    assert res["choice_parsed"]["correct"] > res["correct"]


# ------------------------------------------------------------------------------ MMAU version detection
MMAU_FILES = {
    "mmau-test-mini.2025-03-25-original.json": ("original-2025-03-25", "original"),
    "mmau-test-mini.2025-05-15-v05.15.25.json": ("v05.15.25-2025-05-15", "v05.15.25"),
    "mmau-test-mini.json": ("v05.15.25-2025-08-09", "v05.15.25"),
}


@pytest.mark.parametrize("filename", sorted(MMAU_FILES))
def test_mmau_revision_is_detected_by_content(bench_dir, tmp_path, filename):
    from sightsound.data.versions import check_expected, detect_version, file_sha256

    path = bench_dir / filename
    d = detect_version("mmau", path)
    revision, line = MMAU_FILES[filename]
    assert d["known"] and d["revision"] == revision and d["line"] == line
    assert d["file_sha256"] == file_sha256(path) and len(d["file_sha256"]) == 64
    check_expected(d, line, path)
    check_expected(d, revision, path)
    other = "original" if line != "original" else "v05.15.25"
    with pytest.raises(ValueError, match=f"expected MMAU version {other!r}"):
        check_expected(d, other, path)
    # Same content, other layout (indentation, key order, audio paths): still recognised.
    items = json.loads(path.read_text())
    moved = [{**{k: it[k] for k in reversed(list(it))}, "audio_id": "/elsewhere/" + it["id"] + ".wav"} for it in items]
    (tmp_path / "moved.json").write_text(json.dumps(moved, indent=1))
    assert detect_version("mmau", tmp_path / "moved.json")["revision"] == revision


def test_one_changed_answer_is_an_unknown_revision(bench_dir, tmp_path):
    from sightsound.data.versions import UNKNOWN, detect_version

    items = json.loads((bench_dir / "mmau-test-mini.json").read_text())
    it = next(x for x in items if len(x["choices"]) > 1)
    it["answer"] = next(c for c in it["choices"] if c != it["answer"])
    changed = tmp_path / "mmau-test-mini.json"
    changed.write_text(json.dumps(items))
    d = detect_version("mmau", changed)
    assert d["revision"] == UNKNOWN and d["known"] is False and d["line"] is None
    assert "unknown revision" in d["description"]
    # score records it as such, never guessed.
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps([{"id": it["id"], "model_output": it["answer"]}]))
    res_path = tmp_path / "r.json"
    assert main(["score", "--benchmark", "mmau", "--annotations", str(changed), "--predictions", str(preds),
                 "--out", str(res_path), "--task", "all"]) == 0
    res = json.loads(res_path.read_text())
    assert res["version_detail"]["revision"] == UNKNOWN and res["version_detail"]["file_sha256"]
    assert main(["score", "--benchmark", "mmau", "--annotations", str(changed), "--predictions", str(preds),
                 "--mmau-version", "v05.15.25"]) == 2
