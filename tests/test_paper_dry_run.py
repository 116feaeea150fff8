"""The paper recipe's CPU dry run: the real clips, the teacher and the verifier behind ``sightsound serve``.

``sightsound run configs/paper.yaml`` is started as a user would: from the project folder that holds
``data/`` (AVQA / MMAU / MUSIC-AVQA files in their own formats), not the repository, with the run
directory elsewhere, the teacher and verifier served over HTTP by ``sightsound serve --config
configs/paper.yaml --role ...`` and the tiny Qwen2-Audio as student. Overrides: the models and
endpoints, plus lengths and steps that keep a CPU test short (the paper's 512 new tokens and 1,000
GRPO steps are hours on a CPU; they change how long each stage runs, not which stages run).
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from _paper_world import build_paper_world

from sightsound.jsonl import read_json, read_jsonl

REPO = Path(__file__).resolve().parents[1]
PAPER = REPO / "configs" / "paper.yaml"
SHORT = ["teach.max_new_tokens=12", "teach.max_pixels=12544", "eval.max_new_tokens=6", "sft.max_steps=1",
         "grpo.max_steps=1", "grpo.max_completion_length=8", "pipeline.progress=false", "pipeline.min_free_disk_gb=0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO / "src")}


def _serve(role: str, model: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sightsound", "serve", "--config", str(PAPER), "--role", role, "--port", str(port),
           f"models.{role}.name_or_path={model}"]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_up(port: int, procs: list, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in procs:
            assert p.poll() is None, p.stdout.read()[-2000:]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"server on port {port} did not come up")


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sightsound", "run", str(PAPER), *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=900, check=False)


@pytest.mark.slow
def test_paper_recipe_dry_run_on_real_clips(tmp_path, shared_dir, tiny_models_dir):
    project = tmp_path / "project"
    world = build_paper_world(project, shared_dir)
    tport, vport = _free_port(), _free_port()
    servers = [_serve("teacher", tiny_models_dir / "teacher", tport),
               _serve("verifier", tiny_models_dir / "student", vport)]
    try:
        models = [f"models.teacher.name_or_path={tiny_models_dir / 'teacher'}",
                  f"models.teacher.base_url=http://127.0.0.1:{tport}/v1",
                  f"models.verifier.name_or_path={tiny_models_dir / 'student'}",
                  f"models.verifier.base_url=http://127.0.0.1:{vport}/v1",
                  f"models.student.name_or_path={tiny_models_dir / 'student'}"]

        # 1. One benchmark's annotation file missing: preflight names it and nothing runs (no teach).
        mmau = project / "data" / "mmau" / "mmau-test-mini.json"
        mmau.rename(mmau.with_suffix(".away"))
        run = tmp_path / "runs" / "paper"
        t0 = time.time()
        p = _run(project, "--out", str(run), *models, *SHORT)
        assert p.returncode == 1, p.stdout + p.stderr
        assert "FAIL  eval/mmau: annotation file not found: data/mmau/mmau-test-mini.json" in p.stdout
        assert not (run / "teach").exists() and time.time() - t0 < 60
        mmau.with_suffix(".away").rename(mmau)

        _wait_up(tport, servers)
        _wait_up(vport, servers)
        # 2. The teacher endpoint down: preflight names it; without preflight, teach fails and the run says so.
        dead = _free_port()
        down = [*models, f"models.teacher.base_url=http://127.0.0.1:{dead}/v1", "models.teacher.max_retries=0"]
        p = _run(project, *down, *SHORT, "--out", str(tmp_path / "down"))
        assert p.returncode == 1 and f"FAIL  models.teacher: http://127.0.0.1:{dead}/v1 unreachable" in p.stdout
        assert not (tmp_path / "down" / "teach").exists()
        p = _run(project, "--no-preflight", *down, *SHORT, "data.limit=2", "--out", str(tmp_path / "down"))
        assert p.returncode == 1, p.stdout + p.stderr
        assert (f"teach: all 2 records failed (models.teacher http://127.0.0.1:{dead}/v1); first error: backend: "
                in p.stderr), p.stderr
        assert not (tmp_path / "down" / "train").exists()

        # 3. Everything up: every stage writes its outputs, from the project folder, into a run directory elsewhere.
        p = _run(project, *models, *SHORT, "--out", str(run))
        log = p.stdout + p.stderr
        assert "preflight: all checks passed" in p.stdout, log
        assert "teacher (openai) http://127.0.0.1" in p.stdout and ": 12 requests of 4 samples" in p.stdout
    finally:
        for s in servers:
            s.terminate()
        for s in servers:
            s.wait(timeout=30)

    records = list(read_jsonl(run / "data" / "train" / "data.jsonl"))
    assert [Path(r["video"]).stem for r in records] == world["train"]
    assert all(os.path.isabs(r["video"]) and Path(r["video"]).is_file() for r in records)
    traces = list(read_jsonl(run / "teach" / "traces.jsonl"))
    # The failure: every trace `media: ... file not found`. Now every record reached the teacher.
    assert len(traces) == 12 and all(t["error"] is None and t["num_frames"] == 16 for t in traces), traces[0]
    assert (run / "verify" / "verified.jsonl").exists()
    for name in ("cot", "label", "grpo", "cot_unverified"):
        assert (run / "sft_data" / f"{name}.jsonl").exists(), name
    results = read_json(run / "results.json")
    for bench, n in (("avqa", 4), ("mmau", world["mmau"]), ("music-avqa", world["music-avqa"])):
        r = read_json(run / "eval" / "pretrained" / f"{bench}.json")
        assert r["n"] == n and r["accuracy"] is not None, bench
        assert "silent_audio" in r["controls"], bench  # paper.yaml's silent-audio control ran too
    kept = sum(bool(t["kept"]) for t in traces)
    trained = {s for s in ("label_sft", "label_grpo", "cot_sft_unverified", "cot_sft", "sightsound_r1")
               if (run / "train" / s / "adapter" / "adapter_config.json").is_file()}
    untrained = {s for s in ("label_sft", "label_grpo", "cot_sft_unverified", "cot_sft", "sightsound_r1")} - trained
    # A random tiny teacher rarely agrees with itself 4 times: systems without examples are not trained,
    # and the run says so by name and exit code instead of printing "—" and exiting 0.
    assert p.returncode == (1 if untrained else 0), log
    for s in untrained:
        assert f"train/{s}: not trained" in p.stderr, (s, kept, p.stderr)
    assert results["failures"] == [f for f in results["failures"] if f.startswith("train/")]
    assert (run / "report.html").is_file()
