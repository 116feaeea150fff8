"""``sightsound experiment`` in a reduced setting: seeds share the distillation, differ in training."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _kill import alive, still_alive

from sightsound.config import load_recipe
from sightsound.jsonl import read_json, read_jsonl
from sightsound.mini.experiment import run_experiment

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_reduced_experiment_two_seeds(tmp_path):
    overrides = [
        "synth.num=16", "pipeline.test_num=12", "teach.batch_size=8", "teach.require_label_match=false",
        "sft.num_train_epochs=1", "eval.max_new_tokens=48", "teach.max_new_tokens=64", "pipeline.progress=false",
        "pipeline.shuffle_choices_seed=null", "pipeline.eval_distill_records=false", "pipeline.html_report=false",
        "systems=[pretrained,pretrained_r1_aqa_prompt,cot_sft_unverified]",
    ]
    recipe = load_recipe(REPO / "configs" / "demo.yaml", overrides)
    summary = run_experiment(recipe, seeds=2, out=tmp_path, jobs=2)  # the shared stages once, then a pool

    # The second seed reused seed 0's data, traces, verdicts, sets and pretrained scores.
    second = read_json(tmp_path / "seed_1" / "results.json")
    # Every shared stage was made in the shared phase, none by the pool's seeds themselves (two seeds
    # evaluating the pretrained student with R1-AQA's prompt at once once locked each other out).
    assert {"data", "test_data", "teach", "verify", "sft_data", "eval/pretrained/synthetic",
            "eval/pretrained_r1_aqa_prompt/synthetic"} <= set(second["stages_skipped"])
    assert all(p.stat().st_nlink == 1 for p in (tmp_path / "seed_1").rglob(".*lock"))  # no lock linked from seed 0
    assert not any(s.startswith("train/") for s in second["stages_skipped"])
    # The splits are SightSound-mini's distill and test splits, not the demo's.
    from sightsound.mini.splits import split

    assert read_json(tmp_path / "seed_0" / "manifest.json")["artefacts"]["data"]["stats"]["records"] == 16
    ids = [r["id"] for r in read_jsonl(tmp_path / "seed_0" / "data" / "train" / "data.jsonl")]
    assert len(ids) == 16 and all(i.startswith(f"synth-{split('distill').seed}-") for i in ids)

    acc = summary["accuracy"]
    assert set(acc) == {"pretrained", "pretrained_r1_aqa_prompt", "cot_sft_unverified"}
    assert acc["pretrained"]["n"] == 2 and acc["pretrained"]["std"] == 0.0  # greedy eval of one model: no variance
    assert "cot_sft_unverified - pretrained" in summary["paired"]
    assert summary["stages"]["records"] == 16
    # Which question families the distilled set teaches, beside the test split's (every test family
    # is named, with 0 where Step 1 kept no record of it).
    tested, taught = summary["stages"]["eval_records_by_family"], summary["stages"]["distilled_records_by_family"]
    assert sum(tested.values()) == 12 and set(tested) <= set(taught)
    assert sum(taught.values()) == len(list(read_jsonl(tmp_path / "seed_0" / "sft_data" / "label.jsonl")))
    md = (tmp_path / "results.md").read_text()
    assert "| pretrained |" in md and "2 training seeds" in md
    assert "### By question family" in md and "| *distilled records* |" in md and "| *test records* |" in md
    assert (tmp_path / "plots" / "experiment_accuracy.png").stat().st_size > 1000
    # The stage gates are read from the same runs (no GRPO system here: its gates have no figure).
    gates = {g["gate"]: g for g in summary["gates"]}
    assert gates["seeds"]["measured"] == 2 and gates["seeds"]["passed"] is False
    assert gates["GRPO zero-variance groups"]["passed"] is None
    assert "### Stage gates" in md and summary["eval_split"] == "test"


def test_a_later_seed_takes_seed_0s_remade_shared_stage_and_keeps_its_training(tmp_path):
    """Seed 0 remade verify (a new verifier at the same path): a later seed gets the new verdicts and
    seed 0's manifest entry, so it does not verify again itself; its own training entries stay."""
    from sightsound.jsonl import atomic_write_json
    from sightsound.mini.experiment import _share_from

    first, run = tmp_path / "seed_0", tmp_path / "seed_1"

    def entry(fp, outputs):
        return {"status": "complete", "fingerprint": fp, "outputs": outputs, "inputs": []}

    for d in (first, run):
        (d / "verify").mkdir(parents=True)
        (d / "teach").mkdir()
        (d / "teach" / "traces.jsonl").write_text("traces\n")
    (first / "verify" / "verified.jsonl").write_text("new verdicts\n")
    (first / "verify" / ".verified.jsonl.lock").write_text("4242\n")  # seed 0's lock: never shared
    (run / "verify" / "verified.jsonl").write_text("old verdicts\n")
    (run / "train" / "label_sft").mkdir(parents=True)
    atomic_write_json(first / "manifest.json", {"artefacts": {
        "teach": entry("t1", ["teach/traces.jsonl"]), "verify": entry("v2", ["verify/verified.jsonl"])}})
    atomic_write_json(run / "manifest.json", {"artefacts": {
        "teach": entry("t1", ["teach/traces.jsonl"]), "verify": entry("v1", ["verify/verified.jsonl"]),
        "train/label_sft": entry("s1", ["train/label_sft"])}})
    teach_inode = (run / "teach" / "traces.jsonl").stat().st_ino

    _share_from(first, run)

    assert (run / "verify" / "verified.jsonl").read_text() == "new verdicts\n"
    assert (run / "verify" / "verified.jsonl").stat().st_ino == (first / "verify" / "verified.jsonl").stat().st_ino
    assert (run / "teach" / "traces.jsonl").stat().st_ino == teach_inode  # up to date: untouched
    assert not (run / "verify" / ".verified.jsonl.lock").exists()
    arts = read_json(run / "manifest.json")["artefacts"]
    assert arts["verify"]["fingerprint"] == "v2"
    assert arts["train/label_sft"]["fingerprint"] == "s1" and (run / "train" / "label_sft").is_dir()


def test_the_shared_phase_evaluates_each_untrained_system_as_the_full_run_does():
    """Controls go to `pretrained` and to the run's last system: the shared phase must give each
    untrained system the same, or its fingerprint differs and every seed redoes it in the pool."""
    from sightsound.mini.experiment import _shared_systems
    from sightsound.pipeline import eval_plan

    recipe = load_recipe(REPO / "configs" / "demo.yaml", ["pipeline.eval_distill_records=false"])
    for systems in (recipe.systems, ["pretrained", "pretrained_r1_aqa_prompt"], ["pretrained_r1_aqa_prompt", "cot_sft"],
                    ["pretrained_r1_aqa_prompt", "pretrained", "sightsound_r1"]):
        full = {(s, b): c for s, b, c in eval_plan(recipe, systems)}
        shared = eval_plan(recipe, _shared_systems(recipe, systems))
        assert all(full[(s, b)] == c for s, b, c in shared), systems
    assert _shared_systems(recipe, recipe.systems) == ["pretrained_r1_aqa_prompt", "pretrained"]
    assert _shared_systems(recipe, ["pretrained_r1_aqa_prompt", "cot_sft"]) == []


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads process states from /proc (Linux)")
def test_a_killed_experiment_takes_its_seed_workers_with_it(tmp_path):
    """The experiment's seed pool (``seed_pool``, what ``--jobs 2`` trains in): SIGTERM to the
    experiment process ends a worker in the middle of a task. Without the pool's initializer the
    worker keeps running its task (here a 2-minute sleep; in a run, a seed's training)."""
    script = tmp_path / "pool.py"
    script.write_text(textwrap.dedent("""
        import os, time
        from sightsound.mini.experiment import seed_pool

        if __name__ == "__main__":
            pool = seed_pool(1)
            print(pool.submit(os.getpid).result(), flush=True)
            pool.submit(time.sleep, 120)
            time.sleep(120)
    """))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(parent.stdout.readline())
        assert alive(worker)  # busy with the sleep
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=30)
        assert not still_alive([worker], timeout_s=30), "the seed worker outlived the experiment process"
    finally:
        parent.kill()
        parent.wait()
