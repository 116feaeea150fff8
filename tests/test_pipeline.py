"""``sightsound run``: one run directory, stages skipped by fingerprint, an interrupted run resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sightsound.config import load_recipe
from sightsound.jsonl import read_json, read_jsonl

REPO = Path(__file__).resolve().parents[1]


def _overrides(models: Path, out: Path) -> list[str]:
    return [
        f"output_dir={out}",
        f"models.teacher.name_or_path={models / 'teacher'}",
        f"models.verifier.name_or_path={models / 'student'}",
        f"models.student.name_or_path={models / 'student'}",
        "synth.num=12", "pipeline.test_num=8", "teach.batch_size=1", "teach.max_new_tokens=24",
        "eval.max_new_tokens=16", "pipeline.progress=false", "pipeline.shuffle_choices_seed=null",
        "systems=[pretrained,cot_sft,sightsound_r1]",
        # groups of 4, as before the demo's groups of 8: this tests resuming, not GRPO's settings
        "grpo.num_generations=4", "grpo.per_device_train_batch_size=8", "grpo.max_steps=5",
    ]


def _run(models: Path, out: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "sightsound", "run", str(REPO / "configs" / "demo.yaml"), *_overrides(models, out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def _finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=600)
    # Random tiny models may keep no trace, so a system can go untrained: then the run exits 1 and
    # says so; anything else failing is a real failure.
    failed = [ln.strip() for ln in out.split("sightsound run: FAILED")[-1].splitlines()[1:] if ln.startswith("  ")]
    assert proc.returncode == 0 or (proc.returncode == 1 and failed and all(
        ln.startswith("train/") and "not trained" in ln for ln in failed)), out[-3000:]
    return out


@pytest.mark.slow
def test_interrupted_run_resumes_and_finished_stages_are_skipped(tmp_path, tiny_models_dir):
    ref, run = tmp_path / "ref", tmp_path / "run"
    _finish(_run(tiny_models_dir, ref))

    proc = _run(tiny_models_dir, run)
    traces = run / "teach" / "traces.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if traces.exists() and len(traces.read_bytes().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted during teach"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manifest = read_json(run / "manifest.json")["artefacts"]
    assert manifest["teach"]["status"] == "running" and manifest["data"]["status"] == "complete"
    data_started = manifest["data"]["started"]

    _finish(_run(tiny_models_dir, run))
    res = read_json(run / "results.json")
    assert "data" in res["stages_skipped"] and "teach" not in res["stages_skipped"]
    assert read_json(run / "manifest.json")["artefacts"]["data"]["started"] == data_started

    # Same artefacts as the uninterrupted run: same records, one trace per id, same verdicts and sets.
    ids = lambda p: [r["id"] for r in read_jsonl(p)]
    assert sorted(ids(run / "teach" / "traces.jsonl")) == sorted(ids(ref / "teach" / "traces.jsonl"))
    assert len(set(ids(run / "teach" / "traces.jsonl"))) == 12
    assert (run / "data" / "train" / "data.jsonl").read_bytes() == (ref / "data" / "train" / "data.jsonl").read_bytes()
    for rel in ("verify/verified.jsonl", "sft_data/cot.jsonl", "sft_data/grpo.jsonl"):
        assert (run / rel).read_bytes() == (ref / rel).read_bytes(), rel
    assert res["systems"].keys() == read_json(ref / "results.json")["systems"].keys()

    # A third run finds everything up to date.
    _finish(_run(tiny_models_dir, run))
    res = read_json(run / "results.json")
    manifest = read_json(run / "manifest.json")["artefacts"]
    assert set(res["stages_skipped"]) == set(manifest), "every stage should be skipped on an unchanged rerun"
    for name in ("recipe.yaml", "report.md", "report.html", "results.json", "logs/run.log"):
        assert (run / name).exists(), name

    # The same run moved elsewhere and named by a relative path is still up to date: stage fingerprints
    # know the run's own files by their place in it, not by how the directory is spelled.
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    run.rename(moved)
    _finish(_run(tiny_models_dir, Path("elsewhere") / "moved", cwd=tmp_path))
    res = read_json(moved / "results.json")
    assert set(res["stages_skipped"]) == set(manifest), "a moved run should find every stage up to date"
    run = moved
    # GRPO's signal, where sightsound_r1 trained (random tiny models may keep no trace to train on).
    if (run / "train" / "sightsound_r1" / "metrics.jsonl").is_file():
        sig = res["grpo_signal"]["sightsound_r1"]
        assert sig["steps"] >= 1 and 0 <= sig["zero_std_fraction_mean"] <= 1
        assert (run / "plots" / "grpo_signal.png").is_file()
        assert "![grpo_signal](plots/grpo_signal.png)" in (run / "report.md").read_text()


@pytest.mark.slow
def test_changed_stage_config_redoes_only_what_depends_on_it(tmp_path, tiny_models_dir):
    from sightsound.pipeline import run_pipeline

    out = tmp_path / "run"
    base = _overrides(tiny_models_dir, out) + ["synth.num=4", "pipeline.test_num=4", "eval.benchmarks=[synthetic]",
                                               "systems=[pretrained]", "pipeline.eval_distill_records=false",
                                               "pipeline.silent_audio_control=false", "pipeline.html_report=false"]
    run_pipeline(load_recipe(REPO / "configs" / "demo.yaml", base))
    res = run_pipeline(load_recipe(REPO / "configs" / "demo.yaml", base + ["verify.max_new_tokens=5"]))
    assert {"data", "test_data", "teach"} <= set(res["stages_skipped"])
    assert "verify" not in res["stages_skipped"]
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["systems"]["pretrained"]["synthetic"]["n"] == 4
    # The stage figures (tests/test_stage_figures.py checks their values): synthetic data has a truth.
    assert on_disk["truth"] == "synthetic scene graphs" and on_disk["grpo_signal"] == {}
    teacher = on_disk["teacher_by_evidence"]
    assert sum(g["records"] for g in teacher.values()) == 4
    assert all(0 <= g["teacher_accuracy"] <= 1 for g in teacher.values() if g["teacher_accuracy"] is not None)
    f = on_disk["filter"]  # None when no teacher sample was consistent (random tiny models)
    assert f is None or (f["kept"] + f["discarded"] == f["samples"] and all(
        f[k] is None or 0 <= f[k] <= 1 for k in ("precision", "recall", "hallucination_rate_before",
                                                  "hallucination_rate_after", "modality_leak_before",
                                                  "modality_leak_after")))
    assert "## Stage figures" in (out / "report.md").read_text()


RECIPES = [p for p in sorted((REPO / "configs").glob("*.yaml")) + sorted((REPO / "configs" / "train").glob("*.yaml"))
           if p.name != "models.yaml"]  # models.yaml is the checkpoint registry (tested in test_models.py)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipes_parse_with_known_keys_and_existing_files(recipe):
    r = load_recipe(recipe)  # strict: unknown keys or wrong types raise
    text = recipe.read_text()
    for token in text.split():
        token = token.strip("'\",")
        if token.startswith("configs/") and not token.endswith("/"):
            assert (REPO / token).exists(), f"{recipe.name} refers to missing {token}"
    assert r.teach.n >= 1


def test_each_system_is_evaluated_with_its_training_prompt_and_r1_aqa_uses_its_recipe(tmp_path):
    from sightsound.pipeline import Layout, _train_stage, eval_prompt

    recipe = load_recipe(REPO / "configs" / "paper.yaml")
    assert {s: eval_prompt(recipe, s) for s in recipe.systems} == {
        "pretrained": "paper", "pretrained_r1_aqa_prompt": "r1_aqa", "label_sft": "paper", "label_grpo": "paper",
        "r1_aqa": "r1_aqa", "cot_sft_unverified": "paper", "cot_sft": "paper", "sightsound_r1": "paper"}
    demo = load_recipe(REPO / "configs" / "demo.yaml")  # the mini student's pretraining prompt, no " ."
    assert {eval_prompt(demo, s) for s in demo.systems} == {"plain", "r1_aqa"}
    L = Layout(tmp_path)
    r1 = _train_stage(recipe, L, "r1_aqa").config["grpo"]
    label = _train_stage(recipe, L, "label_grpo").config["grpo"]
    assert r1["reward_funcs"] == ["answer_format", "accuracy"] and label["reward_funcs"] == ["format", "accuracy"]
    assert (r1["loss_type"], r1["lr_scheduler_type"], r1["max_completion_length"]) == ("grpo", "linear", 256)
    assert (label["loss_type"], label["lr_scheduler_type"]) == ("dapo", "constant")
    assert r1["train_file"].endswith("grpo_r1_aqa.jsonl") and label["train_file"].endswith("grpo.jsonl")
    # Everything R1-AQA's recipe does not name is label_grpo's.
    same = {k for k in r1 if k not in ("reward_funcs", "reward_weights", "loss_type", "lr_scheduler_type",
                                       "max_completion_length", "train_file", "output_dir")}
    assert {k: r1[k] for k in same} == {k: label[k] for k in same}


def test_exported_stage_configs_are_the_runs_own(tmp_path):
    """export-stage-config writes what `run` trains with: paper.yaml's numbers, the run directory's files."""
    from sightsound.cli import main
    from sightsound.pipeline import TRAINING, Layout, stage_recipe

    recipe = load_recipe(REPO / "configs" / "paper.yaml")
    for system, (trainer, set_name, start) in TRAINING.items():
        to = tmp_path / f"{system}.yaml"
        assert main(["export-stage-config", str(REPO / "configs" / "paper.yaml"), "--stage", f"train/{system}",
                     "--to", str(to), "--out", str(tmp_path / "run"), "sft.learning_rate=5e-5"]) == 0
        exported = load_recipe(to)  # strict: a launcher reads it with the same loader
        _, expected = stage_recipe(load_recipe(REPO / "configs" / "paper.yaml", ["sft.learning_rate=5e-5"]),
                                   Layout((tmp_path / "run").resolve()), system)
        assert exported == expected
        section = getattr(exported, trainer)
        assert section.train_file == str((tmp_path / "run" / "sft_data" / f"{set_name}.jsonl").resolve())
        assert section.output_dir == str((tmp_path / "run" / "train" / system).resolve())
        assert section.gradient_checkpointing and exported.models.student.dtype == "bfloat16"  # paper.yaml's, not a copy's
    assert exported.grpo.init_adapter == str((tmp_path / "run" / "train" / "cot_sft" / "adapter").resolve())
    assert load_recipe(tmp_path / "cot_sft.yaml").sft.gradient_accumulation_steps == recipe.sft.gradient_accumulation_steps == 4


def test_export_refuses_a_path_the_run_would_replace(tmp_path):
    """A training file or output folder given to export-stage-config is an error, not silently the run's:
    the launch would otherwise train (or resume) the run's own stage."""
    from sightsound.config import ConfigError
    from sightsound.stage_config import export_stage_config

    paper = REPO / "configs" / "paper.yaml"
    for key, stage in (("sft.train_file", "train/cot_sft"), ("sft.output_dir", "train/cot_sft"),
                       ("grpo.init_adapter", "train/sightsound_r1")):
        with pytest.raises(ConfigError, match=rf"{key}='/elsewhere'.*{stage} trains the run's own files"):
            export_stage_config(load_recipe(paper, [f"{key}=/elsewhere"]), tmp_path / "run", stage, tmp_path / "x.yaml")
        assert not (tmp_path / "x.yaml").exists()
    # The run's own paths, given again (a re-export of an exported file), are no clash.
    to = export_stage_config(load_recipe(paper), tmp_path / "run", "train/cot_sft", tmp_path / "a.yaml")
    again = export_stage_config(load_recipe(to), tmp_path / "run", "train/cot_sft", tmp_path / "b.yaml")
    assert load_recipe(again) == load_recipe(to)


def test_a_stage_that_produced_only_errors_is_named_with_its_endpoint(tmp_path):
    from sightsound.jsonl import write_jsonl_atomic
    from sightsound.pipeline import _all_failed

    traces = tmp_path / "traces.jsonl"
    write_jsonl_atomic(traces, [{"id": "a", "error": None}, {"id": "b", "error": "backend: connection: refused"}])
    where = "models.teacher http://127.0.0.1:8000/v1"
    assert _all_failed("teach", {"records": 2, "errors": 1}, "records", traces, where) is None  # one worked
    assert _all_failed("teach", {"records": 0, "errors": 0}, "records", traces, where) is None  # nothing to do
    assert _all_failed("teach", {"records": 2, "errors": 2}, "records", traces, where) == (
        "teach: all 2 records failed (models.teacher http://127.0.0.1:8000/v1); first error: backend: connection: refused")
