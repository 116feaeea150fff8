"""Preflight and paths on the real AVQA clips in the paper's own layout: no model is loaded here."""

import json
import os
from pathlib import Path

import pytest
from _paper_world import build_paper_world

from sightsound.artefacts import read_records
from sightsound.cli import main
from sightsound.config import load_recipe

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "configs" / "paper.yaml"


@pytest.fixture
def world(tmp_path, shared_dir, monkeypatch):
    """The paper's data/ under tmp/project, two training clips and one val clip gone; cwd = the project."""
    names = sorted(p.stem for p in (shared_dir / "data" / "avqa_clips").glob("*.mp4"))
    project = tmp_path / "project"
    info = build_paper_world(project, shared_dir, missing=(names[3], names[7], names[13]))
    monkeypatch.chdir(project)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return {"project": project, "names": names, **info}


def _student(tmp_path: Path) -> str:
    d = tmp_path / "student"
    d.mkdir()
    (d / "config.json").write_text("{}")
    return f"models.student.name_or_path={d}"


def test_preflight_counts_missing_clips_and_names_every_problem(world, tmp_path, capsys):
    """Per split: records, missing clips and the first names; the dead endpoint and the key; the plan."""
    rc = main(["run", str(PAPER), "--preflight", "--out", str(tmp_path / "run"), _student(tmp_path),
               "models.teacher.base_url=http://127.0.0.1:9/v1"])
    out = capsys.readouterr().out
    assert rc == 1
    lines = {ln.split(":")[0].strip(): ln for ln in out.splitlines() if ln.startswith("  ")}
    n = world["names"]
    # 2 of 12 training clips missing: 17 % > the 5 % training tolerance; 1 of 4 val clips > 0 % for eval.
    assert lines["FAIL  data"].endswith(f"12 records, media missing 2/12 (first: {n[3]}, {n[7]}); "
                                        "more than pipeline.preflight_missing_train=0.05")
    assert "4 records, media missing 1/4 (first: " + n[13] in lines["FAIL  eval/avqa"]
    assert "3 records, media missing 0/3" in lines["ok    eval/mmau"]
    assert "3 records, media missing 0/3" in lines["ok    eval/music-avqa"]
    assert "127.0.0.1:9/v1 unreachable" in lines["FAIL  models.teacher"]
    assert "OPENAI_API_KEY is not set" in lines["FAIL  models.verifier"]
    assert lines["ok    models.student"] and lines["ok    disk"]
    # The plan: 12 teacher calls of n=4; the API verifier gets at most 10 clips x 10 s x 4 samples.
    assert "teacher (openai) http://127.0.0.1:9/v1: 12 requests of 4 samples" in out
    assert "; audio sent <= 401 s (100 s of clips x 4 samples x 1 vote(s))" in out
    assert "eval items: avqa 4, mmau 3, music-avqa 3" in out
    assert not (tmp_path / "run").exists(), "preflight writes nothing"


def test_preflight_tolerance_and_offline_hub_ids(world, tmp_path, capsys):
    rc = main(["run", str(PAPER), "--preflight", "pipeline.preflight_missing_train=0.2",
               "pipeline.preflight_missing_eval=0.25", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "ok    data:" in out and "ok    eval/avqa:" in out
    assert ("FAIL  models.student: Qwen/Qwen2-Audio-7B-Instruct: hub id, not in the local cache and "
            "HF_HUB_OFFLINE is set") in out


def test_missing_benchmark_file_fails_before_anything_runs(world, tmp_path, capsys):
    (world["project"] / "data" / "mmau" / "mmau-test-mini.json").unlink()
    rc = main(["run", str(PAPER), "--out", str(tmp_path / "run"), _student(tmp_path)])
    captured = capsys.readouterr()
    assert rc == 1 and "nothing was run" in captured.err
    assert "FAIL  eval/mmau: annotation file not found: data/mmau/mmau-test-mini.json" in captured.out
    assert not (tmp_path / "run").exists()


def test_data_stage_stores_paths_that_work_from_any_directory(world, tmp_path, monkeypatch):
    """paper.yaml's relative media_root: the run's data file holds absolute paths."""
    from sightsound.pipeline import Layout, _data_stage

    L = Layout(tmp_path / "elsewhere" / "run")
    _data_stage(load_recipe(PAPER), L).fn()
    monkeypatch.chdir(tmp_path)
    samples = read_records(L.data)
    assert len(samples) == 12
    present = [s for s in samples if s.meta["video_name"] not in (world["names"][3], world["names"][7])]
    assert len(present) == 10
    for s in present:
        assert os.path.isabs(s.video) and Path(s.video).is_file() and Path(s.audio).is_file()
    assert json.loads(L.data.read_text().splitlines()[0])["video"].startswith(str(world["project"]))


def test_options_anywhere_around_recipe_and_overrides(tmp_path, capsys):
    """`run RECIPE --out X k=v`, `run k=v RECIPE --preflight`, `--out` last: all parse the same."""
    from sightsound.cli import main as cli

    for argv in (["run", str(PAPER), "--out", str(tmp_path / "a"), "data.limit=1", "--preflight"],
                 ["run", "--preflight", str(PAPER), "data.limit=1", "--out", str(tmp_path / "a")]):
        assert cli(argv) == 1  # the data is absent here: preflight fails, but the overrides were taken
        out = capsys.readouterr().out
        assert "annotation file not found: data/avqa/train_qa.json" in out
