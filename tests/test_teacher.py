"""Step 1 (teach): traces, the stats recomputed from them, and end-to-end runs through real backends.

The first tests feed hand-written teacher outputs (GenerationResult data) to the trace builder and
the stats; everything after them runs the real tiny Qwen2.5-VL teacher through the ``hf`` and the
``openai`` backends on synthetic data, including a SIGKILL-and-resume run of the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _kill import kill_after_lines, still_alive, tear

from sightsound.backends.base import Generation, GenerationResult
from sightsound.config import ConfigError, Recipe, load_recipe
from sightsound.jsonl import ArtefactError, read_json, read_jsonl
from sightsound.schema import RecordError, Sample
from sightsound.stage_io import config_path, stats_path
from sightsound.teacher import compute_stats, error_trace, make_trace

CHOICES = ["violin", "drum", "dog", "car"]
TRACE_FIELDS = {"id", "kept", "reason", "samples", "agreed_choice", "agreement", "n", "label", "label_match",
                "teacher", "error", "audio", "question", "choices"}
SAMPLE_FIELDS = {"index", "text", "think", "answer", "choice", "status", "num_tokens", "finish_reason"}


def _sample(rid: str, label: int | None = 1, evidence: str = "audio", family: str = "which", vision: int | None = 0):
    return Sample(id=rid, question="Which object makes the sound?", choices=CHOICES, answer=label,
                  audio=f"/data/{rid}.wav", video=f"/data/{rid}.mp4", source="synthetic",
                  meta={"family": family, "evidence": evidence, "vision_answer": vision})


def _result(rid: str, answers: list[str]) -> GenerationResult:
    gens = [Generation(text=f"<think>I would hear a {a}.</think> <answer>{a}</answer>", num_tokens=9,
                       finish_reason="stop") for a in answers]
    return GenerationResult(request_id=rid, generations=gens)


TEACHER = {"backend": "test-data", "model": "none"}


def test_trace_has_the_pinned_fields_and_applies_the_filter():
    cfg = Recipe().teach
    t = make_trace(_sample("a"), _result("a", ["B. drum"] * 4), cfg, TEACHER, num_frames=6)
    assert TRACE_FIELDS <= set(t) and all(SAMPLE_FIELDS == set(s) for s in t["samples"])
    assert t["kept"] and t["reason"] is None and t["agreed_choice"] == 1 and t["agreement"] == 4
    assert t["label_match"] is True and t["n"] == 4 and t["num_frames"] == 6
    assert (t["audio"], t["choices"]) == ("/data/a.wav", CHOICES)
    json.dumps(t)  # a trace is plain JSON

    wrong = make_trace(_sample("b", label=2), _result("b", ["drum"] * 4), cfg, TEACHER, num_frames=6)
    assert not wrong["kept"] and wrong["reason"] == "label_mismatch" and wrong["agreed_choice"] == 1
    cfg.require_label_match = False
    assert make_trace(_sample("b", label=2), _result("b", ["drum"] * 4), cfg, TEACHER, 6)["kept"]

    torn = make_trace(_sample("c"), _result("c", ["drum", "drum", "maybe a cow", "drum"]), cfg, TEACHER, 6)
    assert torn["reason"] == "parse_failure" and torn["samples"][2]["status"] == "no_match"
    assert torn["agreement"] == 3 and torn["majority_choice"] == 1


def test_backend_errors_and_short_results_become_error_traces():
    cfg = Recipe().teach
    failed = make_trace(_sample("a"), GenerationResult("a", error="timeout after 5 tries"), cfg, TEACHER, 0)
    assert failed["reason"] == "error" and "timeout" in failed["error"] and not failed["kept"]
    short = make_trace(_sample("b"), _result("b", ["drum"] * 3), cfg, TEACHER, 4)  # n=4 asked
    assert short["reason"] == "error" and "3 samples" in short["error"]


def test_stats_are_computed_from_the_traces():
    cfg = Recipe().teach
    traces = [
        make_trace(_sample("a", 1, "audio", "which", vision=1), _result("a", ["drum"] * 4), cfg, TEACHER, 4),
        make_trace(_sample("b", 2, "audio", "which", vision=0), _result("b", ["violin"] * 4), cfg, TEACHER, 4),
        make_trace(_sample("c", 0, "visual", "count"), _result("c", ["A", "A", "B", "zzz"]), cfg, TEACHER, 4),
        make_trace(_sample("d", 3, "both", "count"), _result("d", ["A", "A", "B", "B"]), cfg, TEACHER, 4),
        error_trace(_sample("e", 0, "visual", "count"), "media: broken.mp4: cannot open", cfg, TEACHER),
    ]
    s = compute_stats(traces)
    assert (s["records"], s["errors"], s["samples"], s["kept"]) == (5, 1, 16, 1)
    assert s["parse_failures"] == 1 and s["parse_status"] == {"no_match": 1, "ok": 15}
    assert s["unanimous_fraction"] == 2 / 5 and s["unanimous_label_match_fraction"] == 1 / 5
    assert s["kept_fraction"] == 1 / 5
    assert s["agreement_histogram"] == {"0": 0, "1": 0, "2": 2, "3": 0, "4": 2}  # c, d: 2; a, b: 4
    assert s["reasons"] == {"disagreement": 1, "error": 1, "kept": 1, "label_mismatch": 1, "parse_failure": 1}
    # majority: a=1 (right), b=0 (wrong), c=0 (right), d tie -> None (wrong)
    assert s["teacher_accuracy"] == 2 / 4
    assert s["by_evidence"]["audio"]["teacher_accuracy"] == 1 / 2
    assert s["by_evidence"]["visual"]["teacher_accuracy"] == 1.0 and s["by_evidence"]["visual"]["errors"] == 1
    assert s["by_family"]["count"]["records"] == 3
    # vision_answer: a's majority 1 == 1, b's 0 == 0, c's 0 == 0, d tie != 0
    assert s["majority_is_vision_answer"] == 3 / 4


# ------------------------------------------------------------------------------- end to end (real models)
N_RECORDS = 12


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    from sightsound.models.tiny import build_tiny_model

    return build_tiny_model("teacher", tmp_path_factory.mktemp("models") / "teacher")


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> Path:
    from sightsound.config import SynthConfig
    from sightsound.synth import generate

    return generate(tmp_path_factory.mktemp("synth"), SynthConfig(num=N_RECORDS, seed=3), progress=False)


@pytest.fixture(scope="module")
def hf_teacher(tiny_teacher):
    import torch

    from sightsound.backends.base import make_backend
    from sightsound.config import ModelSpec

    # One thread: on a busy 2-core machine, torch's thread pool spinning costs ~8x on these tiny models.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield make_backend(ModelSpec(name_or_path=str(tiny_teacher), backend="hf"))
    torch.set_num_threads(threads)


def _recipe(tiny_teacher: Path, *extra: str) -> Recipe:
    return load_recipe(None, [f"models.teacher.name_or_path={tiny_teacher}", "teach.max_new_tokens=24",
                              "teach.batch_size=3", *extra])


def _data_with_bad_media(synth_data: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The synthetic records (absolute paths) with one garbage video, one missing video, one video-only."""
    from sightsound.artefacts import read_records

    samples = read_records(synth_data)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not an mp4 file" * 50)
    samples[2].frames, samples[2].video = None, str(garbage)
    samples[5].frames, samples[5].video = None, str(tmp_path / "missing.mp4")
    samples[7].frames = None  # the teacher decodes this one's mp4 (its silent video track)
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in samples))
    return path, {samples[2].id: "garbage.mp4", samples[5].id: "missing.mp4", "video_only": samples[7].id}


def test_bad_data_is_refused_before_any_model_loads(synth_data, tmp_path):
    from sightsound.teacher import teach

    rows = list(read_jsonl(synth_data))
    recipe = load_recipe(None, ["models.teacher.name_or_path=/nonexistent/model"])  # never loaded
    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text("".join(json.dumps({**r, "answer": None if i == 1 else r["answer"]}) + "\n"
                                 for i, r in enumerate(rows)))
    with pytest.raises(ConfigError, match=f"{rows[1]['id']}.*require_label_match"):
        teach(recipe, unlabeled, tmp_path / "t.jsonl", progress=False)
    dup = tmp_path / "dup.jsonl"
    dup.write_text("".join(json.dumps(r) + "\n" for r in rows + rows[:1]))
    with pytest.raises(RecordError, match="appears twice"):
        teach(recipe, dup, tmp_path / "t.jsonl", progress=False)
    with pytest.raises(ConfigError, match="teach.n"):
        teach(load_recipe(None, ["teach.n=0"]), synth_data, tmp_path / "t.jsonl", progress=False)
    assert not (tmp_path / "t.jsonl").exists()


class _Recorder:
    """Delegates to a real backend and keeps the requests it was given (to check what the teacher saw)."""

    def __init__(self, backend):
        self.backend, self.calls = backend, []

    def describe(self):
        return self.backend.describe()

    def generate(self, requests):
        self.calls.append(list(requests))
        return self.backend.generate(requests)


def _check_traces_match_data(traces: list[dict], data: Path, n: int) -> None:
    records = list(read_jsonl(data))
    assert [t["id"] for t in traces] == [r["id"] for r in records]
    for t, r in zip(traces, records):
        assert TRACE_FIELDS <= set(t)
        assert (t["question"], t["choices"], t["label"], t["n"]) == (r["question"], r["choices"], r["answer"], n)
        assert Path(t["audio"]).is_absolute() and Path(t["audio"]).name == Path(r["audio"]).name
        if t["reason"] != "error":
            assert len(t["samples"]) == n and [s["index"] for s in t["samples"]] == list(range(n))
            assert all(SAMPLE_FIELDS == set(s) for s in t["samples"])
            assert t["kept"] == (t["reason"] is None)
            if t["kept"]:  # the filter's promise, checked on the raw parsed choices
                assert {s["choice"] for s in t["samples"]} == {t["label"]}


def test_teach_through_hf_backend_writes_a_trace_per_record(tiny_teacher, synth_data, hf_teacher, tmp_path):
    from sightsound.teacher import teach

    data, bad = _data_with_bad_media(synth_data, tmp_path)
    out = tmp_path / "run" / "traces.jsonl"
    recorder = _Recorder(hf_teacher)
    stats = teach(_recipe(tiny_teacher), data, out, backend=recorder, progress=False)

    traces = list(read_jsonl(out))
    _check_traces_match_data(traces, data, n=4)
    by_id = {t["id"]: t for t in traces}
    for rid, name in bad.items():
        if rid != "video_only":
            assert by_id[rid]["reason"] == "error" and name in by_id[rid]["error"] and by_id[rid]["samples"] == []
    assert by_id[bad["video_only"]]["reason"] != "error" and by_id[bad["video_only"]]["num_frames"] > 0
    assert by_id[bad["video_only"]]["teacher"]["backend"] == "hf"

    # One backend call per batch of 3 records, each request asking for n=4 samples, frames only.
    requests = [r for call in recorder.calls for r in call]
    assert len(recorder.calls) == 4 and len(requests) == N_RECORDS - 2
    assert all(r.audio is None and r.images and r.sampling.n == 4 for r in requests)
    assert all("Watch this video and imagine what someone would hear" in r.text for r in requests)
    assert all("Available options: A. " in r.text for r in requests)

    # The stats file is exactly what the traces say, and a few of its numbers checked by hand.
    on_disk = read_json(stats_path(out))
    assert on_disk == compute_stats(traces) == {k: v for k, v in stats.items() if k != "run"}
    assert on_disk["records"] == N_RECORDS and on_disk["errors"] == 2
    assert on_disk["samples"] == 4 * (N_RECORDS - 2) == sum(on_disk["parse_status"].values())
    assert on_disk["kept"] == sum(t["kept"] for t in traces)
    assert sum(on_disk["agreement_histogram"].values()) == N_RECORDS - 2
    evidences = {r["meta"]["evidence"] for r in read_jsonl(data)}
    assert set(on_disk["by_evidence"]) == evidences
    assert sum(g["records"] for g in on_disk["by_family"].values()) == N_RECORDS
    assert load_recipe(config_path(out)).teach == _recipe(tiny_teacher).teach

    # Running again does nothing: every id is done, the file is unchanged.
    before = out.read_bytes()
    again = teach(_recipe(tiny_teacher), data, out, backend=recorder, progress=False)
    assert again["run"]["written"] == 0 and out.read_bytes() == before and len(recorder.calls) == 4

    # --retry-errors drops the two error lines and retries exactly those records.
    retried = teach(_recipe(tiny_teacher), data, out, backend=recorder, progress=False, retry_errors=True)
    assert retried["run"]["written"] == 2 and retried["errors"] == 2 and len(list(read_jsonl(out))) == N_RECORDS


@pytest.mark.slow
def test_shards_merge_to_the_whole(tiny_teacher, synth_data, hf_teacher, tmp_path):
    from sightsound.teacher import teach

    recipe = _recipe(tiny_teacher, "teach.n=2")
    outs = [tmp_path / f"shard{i}.jsonl" for i in range(3)]
    for i, out in enumerate(outs):
        teach(recipe, synth_data, out, shard=f"{i}/3", backend=hf_teacher, progress=False)
    sizes = [len(list(read_jsonl(o))) for o in outs]
    assert sum(sizes) == N_RECORDS and all(s < N_RECORDS for s in sizes)
    merged = tmp_path / "merged.jsonl"
    proc = subprocess.run([sys.executable, "-m", "sightsound", "merge", "--inputs", *map(str, outs),
                           "--out", str(merged), "--data", str(synth_data)], check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    traces = list(read_jsonl(merged))
    _check_traces_match_data(traces, synth_data, n=2)
    assert read_json(stats_path(merged)) == compute_stats(traces)
    # A shard's output is not another shard's: resuming shard 1 into shard 0's file is refused.
    with pytest.raises(ArtefactError, match="not in"):
        teach(recipe, synth_data, outs[0], shard="1/3", backend=hf_teacher, progress=False)
    # Merging without one shard is a gap, refused.
    proc = subprocess.run([sys.executable, "-m", "sightsound", "merge", "--inputs", *map(str, outs[:2]),
                           "--out", str(tmp_path / "gap.jsonl"), "--data", str(synth_data)],
                          check=False, capture_output=True, text=True)
    assert proc.returncode == 2 and "ids of" in proc.stderr and not (tmp_path / "gap.jsonl").exists()

    # Adopted into a run: each shard's fingerprint (teach section, teacher, data) checked, then `run` skips teach.
    from sightsound.pipeline import Layout, _teach_stage
    from sightsound.stage_config import adopt
    from sightsound.stages import fingerprint

    run = tmp_path / "run"
    data = ["data.source=jsonl", f"data.annotations={synth_data}"]
    with pytest.raises(ArtefactError, match=r"shard0.jsonl: made with another recipe .*teach.temperature: 1.0 != 0.7"):
        adopt(_recipe(tiny_teacher, "teach.n=2", "teach.temperature=0.7", *data), run, "teach", outs)
    with pytest.raises(ArtefactError, match="models.teacher.name_or_path"):
        adopt(_recipe(tiny_teacher, "teach.n=2", "models.teacher.name_or_path=other", *data), run, "teach", outs)
    with pytest.raises(ArtefactError, match="ids of .* are in no input"):  # a shard left out is a gap
        adopt(_recipe(tiny_teacher, "teach.n=2", *data), run, "teach", outs[:2])
    ok = _recipe(tiny_teacher, "teach.n=2", "teach.batch_size=5", *data)  # speed-only settings may differ
    assert adopt(ok, run, "teach", outs)["rows"] == N_RECORDS
    entry = read_json(run / "manifest.json")["artefacts"]["teach"]
    assert entry["status"] == "complete" and entry["fingerprint"] == fingerprint(_teach_stage(ok, Layout(run)))
    assert sorted(r["id"] for r in read_jsonl(run / "teach" / "traces.jsonl")) == sorted(r["id"] for r in traces)
    # Verify shards of the adopted traces go in the same way (the verifier is only built when a trace was kept).
    from sightsound.verify import verify

    vouts = [tmp_path / f"verified{i}.jsonl" for i in range(2)]
    for i, vout in enumerate(vouts):
        verify(ok, run / "teach" / "traces.jsonl", vout, shard=f"{i}/2", data_path=run / "data" / "train" / "data.jsonl",
               progress=False)
    with pytest.raises(ArtefactError, match="verify.votes: 1 != 3"):
        adopt(_recipe(tiny_teacher, "teach.n=2", "verify.votes=3", *data), run, "verify", vouts)
    kept = sum(bool(t["kept"]) for t in traces)
    assert adopt(ok, run, "verify", vouts)["rows"] == sum(len(list(read_jsonl(v))) for v in vouts)
    assert read_json(run / "manifest.json")["artefacts"]["verify"]["status"] == "complete", kept


def test_teach_through_openai_backend_and_local_server(tiny_teacher, synth_data, hf_teacher, tmp_path):
    from sightsound.teacher import teach
    from sightsound.testing.fault_server import serve_backend

    with serve_backend(hf_teacher, model_name="tiny-teacher") as server:
        recipe = _recipe(tiny_teacher, "teach.n=2", "models.teacher.backend=openai",
                         "models.teacher.name_or_path=tiny-teacher", f"models.teacher.base_url={server.base_url}",
                         "models.teacher.api_key_env=SIGHTSOUND_TEST_NO_KEY")
        out = tmp_path / "traces.jsonl"
        stats = teach(recipe, synth_data, out, progress=False)
        log = list(server.log)
    traces = list(read_jsonl(out))
    _check_traces_match_data(traces, synth_data, n=2)
    assert stats["errors"] == 0 and stats["samples"] == 2 * N_RECORDS
    assert all(t["teacher"]["backend"] == "openai" and t["teacher"]["model"] == "tiny-teacher" for t in traces)
    # Over HTTP too the teacher sent frames and never audio, asking for both samples in one request.
    assert len(log) == N_RECORDS
    assert all(not e.has_audio and e.num_images > 0 and e.n == 2 and e.status == 200 for e in log)


@pytest.mark.slow
def test_sigkill_and_resume_gives_the_same_traces(tiny_teacher, synth_data, hf_teacher, tmp_path):
    """Kill `sightsound teach` mid-run, resume it, and compare with an uninterrupted run."""
    args = ["--data", str(synth_data), "--no-progress", f"models.teacher.name_or_path={tiny_teacher}",
            "teach.batch_size=1", "teach.n=2", "teach.max_new_tokens=48"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def teach_cli(out: Path, **kw):
        return subprocess.Popen([sys.executable, "-m", "sightsound", "teach", "--out", str(out), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)

    killed = tmp_path / "killed" / "traces.jsonl"
    lines_at_kill = kill_after_lines(teach_cli(killed), killed, lines=3, timeout_s=120)
    assert 3 <= lines_at_kill < N_RECORDS
    # Simulate the worst moment too: a kill in the middle of writing a line.
    tear(killed, b'{"id": "synth-3-00011", "kept": tr')

    resumed = teach_cli(killed)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-2000:]
    assert "torn last line" in err

    # The uninterrupted run, in this process (same model files, same settings, same seed).
    from sightsound.teacher import teach

    whole = tmp_path / "whole" / "traces.jsonl"
    recipe = load_recipe(None, [a for a in args if "=" in a and not a.startswith("--")])
    teach(recipe, synth_data, whole, backend=hf_teacher, progress=False)

    raw = killed.read_bytes()
    assert raw.endswith(b"\n")
    resumed_traces = [json.loads(line) for line in raw.splitlines()]  # every line is whole JSON
    whole_traces = list(read_jsonl(whole))
    ids = [t["id"] for t in resumed_traces]
    assert len(ids) == len(set(ids)) == N_RECORDS
    assert ids == [t["id"] for t in whole_traces]
    # One record per call with a fixed seed: the resumed run even reproduces the same samples.
    assert resumed_traces == whole_traces
    assert read_json(stats_path(killed)) == read_json(stats_path(whole))


def test_decode_pool_gives_the_frames_in_order_and_errors_per_record(tmp_path, shared_dir):
    """Worker processes decode real clips ahead of the backend: same frames as in-process, same order."""
    import numpy as np

    from sightsound.backends.openai_backend import image_data_url
    from sightsound.config import TeachConfig
    from sightsound.schema import Sample
    from sightsound.teacher import _batches, build_request, decode_pool, decode_workers, prefetch

    clips = sorted((shared_dir / "data" / "avqa_clips").glob("*.mp4"))[:2]
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    videos = [clips[0], tmp_path / "broken.mp4", clips[1]]
    samples = [Sample(id=f"r{i}", question="q", choices=["a", "b"], answer=0, video=str(v)) for i, v in enumerate(videos)]
    cfg = TeachConfig(max_frames=4, max_pixels=6272, batch_size=1, decode_workers=2)
    assert decode_workers(cfg, 4) == 2 and decode_workers(TeachConfig(), 1) == 1
    with decode_pool(2) as pool:
        got = [b for batch in prefetch(list(_batches(samples, 1)), cfg, pool, 2, encode="png") for b in batch]
    assert [s.id for s, _, _ in got] == ["r0", "r1", "r2"]
    assert got[1][1] is None and got[1][2].startswith("media: ") and "broken.mp4" in got[1][2]
    assert len(got[2][1].images) == 4
    for s, req, _ in got[:1]:
        direct = build_request(s, cfg).images
        assert len(req.images) == len(direct) == 4
        assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(req.images, direct))
        # The data URL an endpoint gets was encoded in the worker, and is the one encoded here.
        assert "sightsound.data_url.png" in req.images[0].info and "sightsound.data_url.png" not in direct[0].info
        assert image_data_url(req.images[0]) == image_data_url(direct[0])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads process states from /proc (Linux)")
def test_decode_workers_leave_when_teach_is_killed():
    """SIGKILL of teach (as a preempted job gets) must not leave its decoding processes behind."""
    code = ("import os, time\nfrom sightsound.teacher import decode_pool\np = decode_pool(2)\n"
            "print(*{p.submit(os.getpid).result() for _ in range(8)}, flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    workers = [int(x) for x in proc.stdout.readline().split()]
    assert workers and proc.pid not in workers
    proc.kill()
    proc.wait()
    assert not still_alive(workers, timeout_s=10), f"decoding processes {workers} outlived their teach process"
