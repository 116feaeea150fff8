"""Stage figures in ``results.json`` and ``report.md``: the teacher by evidence, the filter against the
truth (with the modality leak), GRPO's signal and its plot, on a hand-made run directory."""

import json
import shutil
from pathlib import Path

import pytest

from sightsound.config import load_recipe
from sightsound.jsonl import read_json, write_jsonl_atomic
from sightsound.pipeline import Layout, collect_results, write_markdown
from sightsound.stage_figures import grpo_signal

REPO = Path(__file__).resolve().parents[1]


def _grpo_rows(zero_std: list[float], kl: list[float], fmt: str = "format") -> list[dict]:
    rows = [{"step": 5 * (i + 1), "loss": 0.01, "reward": 0.5 + 0.1 * i, f"rewards/{fmt}/mean": 0.1 * i,
             "rewards/accuracy/mean": 0.5, "frac_reward_zero_std": z, "kl": k}
            for i, (z, k) in enumerate(zip(zero_std, kl))]
    # TRL's closing summary row carries no reward: it must not count as a step.
    return rows + [{"step": 5 * len(rows), "train_runtime": 3.0, "train_loss": 0.01}]


def test_grpo_signal_means_over_logged_steps_and_the_last_kl():
    sig = grpo_signal(_grpo_rows([0.2, 0.4, 0.6], [0.001, 0.002, float("nan")]))
    assert sig["steps"] == 3 and sig["last_step"] == 15
    assert sig["reward_mean"] == pytest.approx(0.6) and sig["accuracy_reward_mean"] == pytest.approx(0.5)
    assert sig["format_reward_mean"] == pytest.approx(0.1) and sig["zero_std_fraction_mean"] == pytest.approx(0.4)
    assert sig["format_reward_first"] == 0.0  # the starting policy's format rate (first logged window)
    assert sig["kl_final"] == 0.002 and sig["kl_mean"] == pytest.approx(0.0015)  # a NaN KL is no figure
    r1 = grpo_signal(_grpo_rows([1.0], [0.5], fmt="answer_format"))  # R1-AQA's format reward
    assert r1["format_reward_mean"] == 0.0 and r1["rewards"] == {"accuracy": 0.5, "answer_format": 0.0}
    assert grpo_signal([{"step": 1, "loss": 0.1}]) is None


def _synthetic_run(root: Path, tmp: Path) -> Layout:
    """The hand-made Step 2 world as a run directory: its records, traces (with the scene graphs'
    evidence), a verifier that discards exactly the hallucinated samples, and two GRPO logs."""
    from verify_world import HALLUCINATED, RECORDS, THINKS, write_world

    from sightsound.synth.hallucination import write_truth_scores
    from sightsound.teacher import write_stats as teach_stats
    from sightsound.verify import write_stats as verify_stats

    world = write_world(tmp / "world")
    L = Layout(root)
    L.data.parent.mkdir(parents=True)
    shutil.copy(world["data"], L.data)
    meta = {r["id"]: r["meta"] for r in map(json.loads, world["data"].read_text().splitlines())}
    traces = [dict(t, meta=meta[t["id"]]) for t in map(json.loads, world["traces"].read_text().splitlines())]
    write_jsonl_atomic(L.traces, traces)
    teach_stats(L.traces)
    rows = [{"key": key, "id": r["id"], "sample_index": k, "verdict": "no" if HALLUCINATED[key] else "yes",
             "kept": not HALLUCINATED[key], "think": think, "choice": choice, "label": r["answer"], "error": None}
            for r in RECORDS if not r.get("missing_audio") and len({c for _, c in THINKS[r["id"]]}) == 1
            for k, (think, choice) in enumerate(THINKS[r["id"]]) if (key := f"{r['id']}#{k}")]
    write_jsonl_atomic(L.verified, rows)
    verify_stats(L.verified)
    write_truth_scores(L.verified, L.traces, L.data)
    for system, zero_std in (("sightsound_r1", [0.2, 0.4]), ("r1_aqa", [1.0, 1.0])):
        write_jsonl_atomic(L.train(system) / "metrics.jsonl", _grpo_rows(zero_std, [0.01, 0.03]))
    return L


def test_results_and_report_carry_the_stage_figures_and_the_grpo_plot(tmp_path):
    L = _synthetic_run(tmp_path / "run", tmp_path)
    recipe = load_recipe(REPO / "configs" / "demo.yaml")
    systems = ["pretrained", "cot_sft", "sightsound_r1", "label_grpo", "r1_aqa"]  # label_grpo: never trained
    res = collect_results(recipe, L, systems, ["synthetic"], {})
    assert res["truth"] == "synthetic scene graphs"
    assert res["teacher_by_evidence"] == {"audio": {"records": 5, "teacher_accuracy": 0.8, "kept_fraction": 0.8,
                                                    "majority_is_vision_answer": None}}
    f = res["filter"]
    assert (f["samples"], f["hallucinated"], f["discarded"], f["kept"]) == (9, 3, 3, 6)
    assert f["precision"] == f["recall"] == 1.0
    assert f["hallucination_rate_before"] == pytest.approx(1 / 3) and f["hallucination_rate_after"] == 0.0
    # "on the left" in r0#0 and r4#2, both kept: 2 of 12 claims before, 2 of 8 after.
    assert f["modality_leak_before"] == pytest.approx(2 / 12) and f["modality_leak_after"] == pytest.approx(2 / 8)
    assert f["recall_by_reason"] == {"inaudible": {"samples": 2, "discarded": 2, "recall": 1.0},
                                     "order": {"samples": 1, "discarded": 1, "recall": 1.0}}
    assert all(0 <= f[k] <= 1 for k in ("precision", "recall", "hallucination_rate_before",
                                         "hallucination_rate_after", "modality_leak_before", "modality_leak_after"))
    assert set(res["grpo_signal"]) == {"sightsound_r1", "r1_aqa"}
    assert res["grpo_signal"]["r1_aqa"]["zero_std_fraction_mean"] == 1.0
    assert res["grpo_signal_plot"] == "plots/grpo_signal.png"
    assert (L.root / "plots" / "grpo_signal.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    json.dumps(res)  # results.json stays plain JSON
    report = write_markdown(res, L).read_text()
    assert "![grpo_signal](plots/grpo_signal.png)" in report
    assert "| audio | 5 | 80.0 | 80.0 | — |" in report
    assert "| hallucination rate | 0.333 | 0.000 |" in report
    assert "| modality leak [ours] (visual claims / claims) | 0.167 | 0.250 |" in report
    assert "| sightsound_r1 | 2 | 0.550 | 0.050 | 0.500 | 0.300 | 0.0300 | 0.0200 |" in report


def test_without_truth_the_figures_are_null_and_the_report_says_so(tmp_path):
    L = Layout(tmp_path / "run")
    write_jsonl_atomic(L.traces, [])
    L.verified.parent.mkdir(parents=True)
    L.verified.with_name("verified.stats.json").write_text(json.dumps({"hallucination": None}))
    res = collect_results(load_recipe(REPO / "configs" / "demo.yaml"), L, ["pretrained"], ["synthetic"], {})
    assert {k: res[k] for k in ("truth", "teacher_by_evidence", "filter", "grpo_signal", "grpo_signal_plot")} == {
        "truth": None, "teacher_by_evidence": None, "filter": None, "grpo_signal": {}, "grpo_signal_plot": None}
    assert "No ground truth on this data (not synthetic)" in write_markdown(res, L).read_text()
    assert read_json(L.verified.with_name("verified.stats.json")) == {"hallucination": None}  # nothing written
