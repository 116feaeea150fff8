"""SightSound-mini's stage gates: each row from hand-made per-seed results, met and missed."""

import json
from pathlib import Path

import pytest

from sightsound.config import load_recipe
from sightsound.jsonl import ArtefactError
from sightsound.mini.experiment import experiment_recipe
from sightsound.mini.gates import markdown, stage_gates
from sightsound.mini.splits import split


def _seed(zero_std: float, fmt_first: float) -> dict:
    return {"filter": {"precision": 0.85, "recall": 0.5, "hallucination_rate_before": 0.6,
                       "hallucination_rate_after": 0.2, "kept": 520,
                       "recall_by_reason": {"inaudible": {"samples": 10, "discarded": 9, "recall": 0.9},
                                            "count": {"samples": 4, "discarded": 1, "recall": 0.25}}},
            "grpo_signal": {"sightsound_r1": {"format_reward_first": fmt_first, "zero_std_fraction_mean": zero_std}}}


def test_gates_met_and_missed(tmp_path):
    (tmp_path / "pretrain_info.json").write_text(json.dumps({"heldout": {"margins": {"listening_auc": 0.93}}}))
    per_seed = {0: _seed(0.3, 0.95), 1: _seed(0.6, 0.92)}
    acc = {"pretrained": {"mean": 0.45, "per_seed": {0: 0.45, 1: 0.45}},
           "cot_sft": {"mean": 0.47, "per_seed": {0: 0.46, 1: 0.48}},
           "sightsound_r1": {"mean": 0.46, "per_seed": {0: 0.47, 1: 0.45}}}
    rows = {r["gate"]: r for r in stage_gates(per_seed, acc, verifier_dir=tmp_path)}
    assert rows["verifier precision"]["passed"] is True and rows["verifier recall"]["passed"] is False
    assert rows["hallucination rate after / before"]["passed"] is True  # 0.2 / 0.6
    assert rows["verifier recall, inaudible"]["passed"] is True and rows["verifier recall, count"]["passed"] is False
    assert rows["verifier recall, order"]["passed"] is None  # no such sample: no figure, not a pass
    assert rows["verifier listening AUC"]["passed"] is True
    assert rows["student fluency (format at GRPO temperature)"]["passed"] is True
    assert rows["CoT SFT keeps accuracy"]["passed"] is True
    assert rows["GRPO zero-variance groups"]["passed"] is False  # seed 1 above 0.5
    # seed 1: 45 - 48 = -3 points: more than 2 below its own SFT start
    assert rows["GRPO does no harm (R1 - CoT SFT, points)"]["passed"] is False
    assert rows["GRPO does no harm (R1 - CoT SFT, points)"]["measured"].startswith("worst -3.00")
    assert rows["verified samples"]["passed"] is True and rows["seeds"]["passed"] is False
    md = markdown(list(rows.values()))
    assert "| verifier recall | >= 0.8 | 0.50 | **missed** |" in md


def test_no_harm_gate_exactly_at_its_limit_and_one_answer_past_it():
    """400 questions move in quarter points: a seed exactly 2 points below its SFT start (8 answers) meets
    the gate although 0.3825 - 0.4025 is a hair below -0.02 in floats; 2.25 below (9 answers) misses,
    and the table says -2.25, not a rounded -2.3."""
    per_seed = {0: _seed(0.3, 0.95), 1: _seed(0.3, 0.95)}
    gate = "GRPO does no harm (R1 - CoT SFT, points)"

    def row(r1_seed1: float) -> dict:
        acc = {"pretrained": {"mean": 0.45, "per_seed": {0: 0.45, 1: 0.45}},
               "cot_sft": {"mean": 0.41, "per_seed": {0: 0.41, 1: 0.4025}},
               "sightsound_r1": {"mean": 0.40, "per_seed": {0: 0.41, 1: r1_seed1}}}
        return {r["gate"]: r for r in stage_gates(per_seed, acc)}[gate]

    assert 100 * (0.3825 - 0.4025) < -2  # the float trap the gate must not fall into
    assert row(0.3825)["passed"] is True and row(0.3825)["measured"].startswith("worst -2.00")
    assert row(0.38)["passed"] is False and row(0.38)["measured"].startswith("worst -2.25")


def test_validation_split_for_tuning_never_the_test_split():
    recipe = load_recipe(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml", [])
    models = {r: f"assets/mini/{r}" for r in ("teacher", "verifier", "student")}
    assert experiment_recipe(recipe, models).pipeline.test_seed == split("test").seed
    tuned = experiment_recipe(recipe, models, eval_split="validation")
    assert tuned.pipeline.test_seed == split("validation").seed != split("test").seed
    with pytest.raises(ValueError, match="eval split"):
        experiment_recipe(recipe, models, eval_split="train")


def test_experiment_keeps_a_model_override_and_maps_the_demo_default_to_the_shipped_checkpoint():
    """``sightsound experiment ... models.student.name_or_path=DIR`` trains from DIR (it was silently
    replaced by the shipped student); the demo's ``assets/mini/<role>`` becomes the shipped checkpoint."""
    from sightsound.mini.checkpoints import mini_model_dir

    config = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
    recipe = load_recipe(config, ["models.student.name_or_path=/candidates/student"])
    models = experiment_recipe(recipe).models
    assert models.student.name_or_path == "/candidates/student"
    assert models.teacher.name_or_path == str(mini_model_dir("teacher", train_if_missing=False))
    assert models.verifier.name_or_path == str(mini_model_dir("verifier", train_if_missing=False))


def test_answers_changed_per_seed_from_the_predictions_files(tmp_path):
    """GRPO against its SFT start item by item: gained, lost and McNemar's p per seed, read from the eval
    stage's predictions files; the no-harm row names the worst seed's counts."""
    from sightsound.mini.experiment import answers_changed

    def preds(run, system, correct):
        path = run / "eval" / system / "synthetic.predictions.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([{"id": f"q{i}", "correct": c} for i, c in enumerate(correct)]))

    runs = {k: tmp_path / f"seed_{k}" for k in (0, 1, 2)}
    preds(runs[0], "cot_sft", [True] * 6 + [False] * 4)
    preds(runs[0], "sightsound_r1", [False] * 5 + [True] + [True] * 1 + [False] * 3)  # 5 lost, 1 gained
    preds(runs[1], "cot_sft", [True, False])
    preds(runs[1], "sightsound_r1", [True, False])
    preds(runs[2], "cot_sft", [True])  # no SightSound-R1 predictions: left out, not counted as zero
    changed = answers_changed(runs, "sightsound_r1", "cot_sft")
    assert changed[0] == {"items": 10, "gained": 1, "lost": 5, "mcnemar_p": pytest.approx(0.21875)}
    assert changed[1] == {"items": 2, "gained": 0, "lost": 0, "mcnemar_p": 1.0}
    assert 2 not in changed
    preds(runs[2], "sightsound_r1", [True])
    (runs[2] / "eval" / "sightsound_r1" / "synthetic.predictions.json").write_text(json.dumps([{"id": "q0"}]))
    with pytest.raises(ArtefactError, match="seed_2/eval/sightsound_r1/synthetic.predictions.json"):
        answers_changed(runs, "sightsound_r1", "cot_sft")  # a file without verdicts: an error naming it

    acc = {"pretrained": {"mean": 0.5, "per_seed": {0: 0.5, 1: 0.5}},
           "cot_sft": {"mean": 0.55, "per_seed": {0: 0.6, 1: 0.5}},
           "sightsound_r1": {"mean": 0.4, "per_seed": {0: 0.2, 1: 0.5}}}
    row = {r["gate"]: r for r in stage_gates({0: _seed(0.3, 0.95), 1: _seed(0.3, 0.95)}, acc, changed=changed)}
    harm = row["GRPO does no harm (R1 - CoT SFT, points)"]
    assert harm["passed"] is False and harm["note"] == "seed 0: +1 -5 answers, McNemar p 0.22"

    from sightsound.mini.experiment import markdown as experiment_markdown

    summary = {"seeds": [0, 1], "paired": {}, "breakdowns": {}, "stages": {}, "grpo_answers_changed": {"sightsound_r1": changed},
               "accuracy": {s: {"mean": v["mean"], "std": 0.0, "per_seed": v["per_seed"]} for s, v in acc.items()},
               "grpo_signal_per_seed": {0: {"sightsound_r1": {"kl_final": 0.0031, "zero_std_fraction_mean": 0.35}}}}
    md = experiment_markdown(summary)
    assert "| 0 | -40.00 | 1 | 5 | 0.22 | 0.003 | 0.35 |" in md and "| 1 | +0.00 | 0 | 0 | 1.00 | — | — |" in md


def test_answers_off_options_say_what_the_unread_answers_name(tmp_path):
    """Answers that read as no option, sorted by what they say: a sound of the reply's own think that no
    option holds, another such sound, option words but no one option, anything else; controls and
    parsed answers are not counted as off, and a system without predictions gives None."""
    from sightsound.mini.experiment import OFF_OPTION_KINDS, answers_off_options
    from sightsound.mini.experiment import markdown as experiment_markdown

    def item(response, status, choices=("dog", "flute"), control=None):
        return {"id": "q", "response": response, "parse_status": status, "choices": list(choices), "control": control}

    think = "<think> I would hear two sounds: a cat on the left, then a dog. </think> "
    rows = [item(think + "<answer> The correct answer is: dog </answer>", "ok"),
            item(think + "<answer> The correct answer is: cat </answer>", "no_match"),  # its think's sound
            item(think + "<answer> The correct answer is: cow </answer>", "no_match"),  # a sound it never named
            item("<answer> The correct answer is: a dog plays </answer>", "no_match",
                 choices=("a dog barks", "a flute plays")),  # option words, no one option
            item(think + "<answer> The correct answer is: no </answer>", "no_match",
                 choices=("rising", "falling")),  # anything else
            item("", "no_answer"),  # an empty reply: anything else
            item(think + "<answer> cat </answer>", "no_match", control="silent_audio")]  # a control: not counted
    run = tmp_path / "seed_0"
    path = run / "eval" / "cot_sft" / "synthetic.predictions.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rows))
    got = answers_off_options({0: run, 1: tmp_path / "seed_1"}, "cot_sft")
    assert got == {"items": 6, "off_options": 5, "rate": 5 / 6,
                   "kinds": {"own_think_sound": 1, "other_sound": 1, "option_words": 1, "other": 2}}
    assert tuple(got["kinds"]) == OFF_OPTION_KINDS
    assert answers_off_options({0: run}, "pretrained") is None

    summary = {"seeds": [0], "paired": {}, "breakdowns": {}, "stages": {}, "answers_off_options": {"cot_sft": got},
               "accuracy": {"cot_sft": {"mean": 0.2, "std": 0.0, "per_seed": {0: 0.2}}}}
    assert "| cot_sft | 5 of 6 | 83.3% | 1 | 1 | 1 | 2 |" in experiment_markdown(summary)
