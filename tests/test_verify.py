"""Step 2 (verify): the fact-check stage over hand-made traces with real audio.

The verifier is the tiny Qwen2-Audio (the student architecture) through the ``hf`` backend, and the
same model behind the local OpenAI-compatible server through the ``openai`` backend. A random tiny
model says anything at all, which is the point for the plumbing: every kept sample must get exactly
one verdict whatever the reply. The verdict *scoring* is checked with two scripted verifiers whose
answers are known (an oracle and a yes-sayer); they stand in for the model only there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _kill import kill_after_lines, tear
from verify_world import HALLUCINATED, kept_sample_keys, write_world

from sightsound.artefacts import consistent_samples, index_records, read_traces
from sightsound.backends.base import Generation, GenerationResult
from sightsound.config import ConfigError, Recipe, load_recipe
from sightsound.jsonl import read_json, read_jsonl
from sightsound.prompts import verifier_prompt
from sightsound.synth.hallucination import hallucination_stats, truth_sources, write_truth_scores
from sightsound.verify import compute_stats, plan, stats_path, verify

ALL_KEYS = kept_sample_keys()  # r0, r1, r2, r4 x 3 samples; r3 was not kept
ERROR_KEYS = {"r2#0", "r2#1", "r2#2"}  # r2's audio file is missing


@pytest.fixture()
def world(tmp_path):
    return write_world(tmp_path)


def _recipe(student_dir: Path | None = None, **verify_overrides) -> Recipe:
    overrides = [f"verify.{k}={v}" for k, v in verify_overrides.items()]
    if student_dir is not None:
        overrides += [f"models.verifier.name_or_path={student_dir}", "models.verifier.backend=hf",
                      "models.verifier.architecture=auto"]
    return load_recipe(None, overrides)


class ScriptedVerifier:
    """A stand-in for the verifier *model* with known replies (scoring tests only)."""

    name = "scripted"

    def __init__(self, reply_for):
        self.reply_for = reply_for
        self.requests = []

    def describe(self):
        return {"backend": "scripted"}

    def generate(self, requests):
        self.requests += requests
        return [GenerationResult(r.id, [Generation(self.reply_for(r), 1, "stop") for _ in range(r.sampling.n)])
                for r in requests]


# ------------------------------------------------------------------------------------------- planning
def test_consistent_samples_and_plan(world):
    traces = read_traces(world["traces"])
    r0 = traces[0]
    assert [s["index"] for s in consistent_samples(r0, "all")] == [0, 1, 2]
    assert [s["index"] for s in consistent_samples(r0, "first")] == [0]
    # A dissenting sample never reaches the verifier, even in a (hand-edited) kept trace.
    edited = dict(r0, samples=[dict(r0["samples"][0], choice=2)] + r0["samples"][1:])
    assert [s["index"] for s in consistent_samples(edited)] == [1, 2]
    jobs = plan(traces, "all")
    assert {j.key for j in jobs} == ALL_KEYS
    assert {j.key for j in plan(traces, "first")} == {"r0#0", "r1#0", "r2#0", "r4#0"}
    assert all(j.audio and j.audio.endswith(f"{j.id}.wav") for j in jobs)


def test_prompt_is_the_papers_with_the_think_and_the_real_audio(world, tmp_path):
    from sightsound.media import load_audio

    v = ScriptedVerifier(lambda r: "Yes")
    verify(_recipe(), world["traces"], tmp_path / "v.jsonl", backend=v, progress=False)
    req = next(r for r in v.requests if r.id == "r0#1")
    assert req.text == verifier_prompt("A car engine hums while a dog barks.")
    assert req.text.startswith("Given the original assistant's chain-of-thought, and the actual audio clip")
    assert (req.audio == load_audio(world["data_dir"] / "audio" / "r0.wav")).all() and req.images is None
    assert req.sampling.n == 1 and req.sampling.temperature == 0.0


# --------------------------------------------------------------------------------------------- scoring
def test_oracle_and_yes_sayer_give_the_expected_precision_and_recall(world, tmp_path):
    def oracle(req):
        return "No." if HALLUCINATED[req.id] else "Yes"

    stats = verify(_recipe(), world["traces"], tmp_path / "oracle.jsonl", backend=ScriptedVerifier(oracle),
                   data_path=world["data"], progress=False)
    assert (stats["checked"], stats["kept"], stats["discarded"], stats["errors"]) == (9, 6, 3, 3)
    assert stats["hallucination"] is None  # Step 2 knows no truth; the synthetic world's scorer adds it
    h = write_truth_scores(tmp_path / "oracle.jsonl", world["traces"], world["data"])
    assert read_json(stats_path(tmp_path / "oracle.jsonl"))["hallucination"] == h
    assert (h["samples"], h["hallucinated"], h["precision"], h["recall"]) == (9, 3, 1.0, 1.0)
    assert h["by_reason"] == {"inaudible": {"samples": 2, "discarded": 2}, "order": {"samples": 1, "discarded": 1}}
    assert h["by_evidence"]["audio"]["precision"] == 1.0 and h["by_evidence"]["audio"]["samples"] == 9

    yes = verify(_recipe(), world["traces"], tmp_path / "yes.jsonl", backend=ScriptedVerifier(lambda r: "Yes"),
                 progress=False)
    assert yes["kept"] == 9 and yes["discarded"] == 0
    # These traces carry no scene graph, and no --data was given.
    assert write_truth_scores(tmp_path / "yes.jsonl", world["traces"]) is None
    rows = list(read_jsonl(tmp_path / "yes.jsonl"))
    h = hallucination_stats(rows, truth_sources(read_traces(world["traces"]), index_records(world["data"])))
    assert h["precision"] is None and h["recall"] == 0.0


def test_unparsable_replies_count_as_no_and_are_counted(world, tmp_path):
    replies = {"r0": "Yes, but the dog is faint.", "r1": "yes.", "r4": ""}
    stats = verify(_recipe(), world["traces"], tmp_path / "v.jsonl",
                   backend=ScriptedVerifier(lambda r: replies[r.id.split("#")[0]]), progress=False)
    assert (stats["checked"], stats["kept"], stats["unparsable"]) == (9, 3, 6)
    assert stats["verdicts"] == {"error": 3, "unparsable": 6, "yes": 3}
    rows = {r["key"]: r for r in read_jsonl(tmp_path / "v.jsonl")}
    assert rows["r0#0"]["verdict"] == "unparsable" and rows["r0#0"]["kept"] is False
    assert rows["r0#0"]["replies"] == ["Yes, but the dog is faint."]
    assert rows["r1#2"] == {**rows["r1#2"], "verdict": "yes", "kept": True, "choice": 1,
                            "think": "I hear a violin, then a drum.", "sample_index": 2, "id": "r1"}


def test_final_verdict_rule_reads_the_last_word_and_is_recorded(world, tmp_path):
    replies = {"r0": "I hear a dog. Yes", "r1": "I hear a violin, then a drum. No", "r4": "I hear a dog."}
    stats = verify(_recipe(verdict="final"), world["traces"], tmp_path / "v.jsonl",
                   backend=ScriptedVerifier(lambda r: replies[r.id.split("#")[0]]), progress=False)
    assert stats["verdicts"] == {"error": 3, "no": 3, "unparsable": 3, "yes": 3}
    assert stats["replies"] == {"no": 3, "unparsable": 3, "yes": 3}  # recomputed with the recorded rule
    rows = list(read_jsonl(tmp_path / "v.jsonl"))
    assert {r["verdict_rule"] for r in rows} == {"final"}
    assert compute_stats(rows)["replies"] == stats["replies"]
    strict = verify(_recipe(), world["traces"], tmp_path / "s.jsonl",
                    backend=ScriptedVerifier(lambda r: replies[r.id.split("#")[0]]), progress=False)
    assert strict["kept"] == 0 and strict["unparsable"] == 9  # the paper's rule refuses every such reply


def test_votes_take_a_strict_majority(world, tmp_path):
    seq = iter(["Yes", "No", "Yes"] * 100)

    class ThreeReplies(ScriptedVerifier):
        def generate(self, requests):
            assert all(r.sampling.n == 3 and r.sampling.temperature == 1.0 for r in requests)
            return [GenerationResult(r.id, [Generation(next(seq), 1, "stop") for _ in range(3)]) for r in requests]

    stats = verify(_recipe(votes=3), world["traces"], tmp_path / "v.jsonl", backend=ThreeReplies(None),
                   progress=False)
    assert stats["kept"] == 9
    assert all(len(r["replies"]) == 3 for r in read_jsonl(tmp_path / "v.jsonl") if r["verdict"] != "error")


def test_missing_audio_is_an_error_line_and_the_run_goes_on(world, tmp_path):
    stats = verify(_recipe(), world["traces"], tmp_path / "v.jsonl", backend=ScriptedVerifier(lambda r: "No"),
                   progress=False)
    rows = {r["key"]: r for r in read_jsonl(tmp_path / "v.jsonl")}
    assert set(rows) == ALL_KEYS
    for k in ERROR_KEYS:
        assert rows[k]["verdict"] == "error" and rows[k]["kept"] is False
        assert "file not found" in rows[k]["error"] and rows[k]["replies"] == []
    assert stats["errors"] == 3 and stats["checked"] == 9
    assert read_json(stats_path(tmp_path / "v.jsonl"))["errors"] == 3
    # --retry-errors tries them again (still missing: same lines, no duplicates).
    stats = verify(_recipe(), world["traces"], tmp_path / "v.jsonl", backend=ScriptedVerifier(lambda r: "No"),
                   progress=False, retry_errors=True)
    assert stats["run"]["written"] == 3 and stats["lines"] == 12


def test_resume_refuses_other_verifier_settings(world, tmp_path):
    out = tmp_path / "v.jsonl"
    verify(_recipe(), world["traces"], out, backend=ScriptedVerifier(lambda r: "Yes"), progress=False)
    with pytest.raises(ConfigError, match="verify.votes"):
        verify(_recipe(votes=3), world["traces"], out, backend=ScriptedVerifier(lambda r: "Yes"), progress=False)
    # batch_size does not change a verdict: resuming with another one is fine (and has nothing to do).
    s = verify(_recipe(batch_size=2), world["traces"], out, backend=ScriptedVerifier(lambda r: "Yes"), progress=False)
    assert s["run"]["written"] == 0 and s["lines"] == 12


def test_shards_partition_the_samples(world, tmp_path):
    from sightsound.merge import merge_outputs

    outs = []
    for i in range(3):
        out = tmp_path / f"v{i}.jsonl"
        verify(_recipe(), world["traces"], out, shard=f"{i}/3", backend=ScriptedVerifier(lambda r: "Yes"),
               progress=False)
        outs.append(out)
    keys = [r["key"] for o in outs for r in read_jsonl(o)]
    assert sorted(keys) == sorted(ALL_KEYS)
    merge_outputs(outs, tmp_path / "merged.jsonl", key="key", data=world["traces"], data_filter="kept")
    assert {r["key"] for r in read_jsonl(tmp_path / "merged.jsonl")} == ALL_KEYS

    # The CLI merge also writes the merged verdicts' stats file, as a single run would.
    from sightsound.cli import main

    merged = tmp_path / "cli_merged.jsonl"
    assert main(["merge", "--inputs", *map(str, outs), "--out", str(merged), "--key", "key",
                 "--data", str(world["traces"]), "--data-filter", "kept"]) == 0
    stats = json.loads(merged.with_name("cli_merged.stats.json").read_text())
    assert stats["lines"] == len(ALL_KEYS) and stats["kept"] == stats["checked"] > 0  # the scripted verifier says Yes


# ------------------------------------------------------------------------------------ real backends
@pytest.mark.slow
def test_hf_verifier_gives_every_kept_sample_a_verdict(world, tmp_path, tiny_models_dir):
    student = tiny_models_dir / "student"
    out = tmp_path / "v.jsonl"
    stats = verify(_recipe(student, max_new_tokens=6), world["traces"], out, data_path=world["data"],
                   progress=False)
    rows = list(read_jsonl(out))
    assert sorted(r["key"] for r in rows) == sorted(ALL_KEYS)
    for r in rows:
        assert r["verifier"]["backend"] == "hf" and r["verifier"]["architecture"] == "qwen2_audio"
        if r["key"] in ERROR_KEYS:
            assert r["verdict"] == "error"
        else:
            assert r["error"] is None and len(r["replies"]) == 1 and isinstance(r["replies"][0], str)
            assert r["verdict"] in ("yes", "no", "unparsable")
            assert r["kept"] == (r["verdict"] == "yes")
    assert stats["checked"] == 9 and stats["errors"] == 3
    h = write_truth_scores(out, world["traces"], world["data"])
    assert h["samples"] == 9 and h["hallucinated"] == 3
    # Rerun: nothing left to do, the verifier model is not even loaded.
    again = verify(_recipe(student, max_new_tokens=6), world["traces"], out, backend=None, progress=False)
    assert again["run"]["written"] == 0 and again["lines"] == 12


@pytest.mark.slow
def test_openai_verifier_against_the_local_server(world, tmp_path, tiny_models_dir):
    from sightsound.backends.base import make_backend
    from sightsound.config import ModelSpec
    from sightsound.testing.fault_server import serve_backend

    hf = make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "student"), backend="hf"), progress=False)
    with serve_backend(hf, model_name="tiny-verifier") as server:
        recipe = load_recipe(None, ["models.verifier.backend=openai", "models.verifier.name_or_path=tiny-verifier",
                                    f"models.verifier.base_url={server.base_url}", "models.verifier.max_retries=1",
                                    "verify.votes=2", "verify.max_new_tokens=4"])
        stats = verify(recipe, world["traces"], tmp_path / "v.jsonl", progress=False)
        served = len(server.log)
    rows = list(read_jsonl(tmp_path / "v.jsonl"))
    assert sorted(r["key"] for r in rows) == sorted(ALL_KEYS)
    ok = [r for r in rows if r["verdict"] != "error"]
    assert len(ok) == 9 and all(len(r["replies"]) == 2 for r in ok)
    assert all(r["verifier"]["backend"] == "openai" and r["verifier"]["model"] == "tiny-verifier" for r in rows)
    assert served >= 9  # the audio really went over HTTP, one request (n=2) per sample at least
    assert stats["checked"] == 9


@pytest.mark.slow
def test_kill_and_resume_writes_each_sample_exactly_once(world, tmp_path, tiny_models_dir):
    # 3 copies of the world's traces: 36 planned samples, enough that a kill lands mid-run.
    traces = [json.loads(x) for x in world["traces"].read_text().splitlines()]
    big = tmp_path / "big_traces.jsonl"
    big.write_text("".join(json.dumps(dict(t, id=f"{t['id']}_{c}")) + "\n" for c in range(3) for t in traces))
    expected = {f"{k.split('#')[0]}_{c}#{k.split('#')[1]}" for c in range(3) for k in ALL_KEYS}
    out = tmp_path / "v.jsonl"
    args = ["verify", "--traces", str(big), "--out", str(out), "--no-progress",
            f"models.verifier.name_or_path={tiny_models_dir / 'student'}", "models.verifier.backend=hf",
            "verify.batch_size=1", "verify.max_new_tokens=6"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "sightsound", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    partial = kill_after_lines(proc, out, lines=3, timeout_s=240)
    assert 3 <= partial < len(expected)
    tear(out, b'{"key": "r0_2#1", "id": "r0_2", "verd')  # and a torn half line
    from sightsound.cli import main as cli_main

    # Resumed with a bigger batch (batch_size does not change a verdict, so the settings check allows it).
    assert cli_main([a if a != "verify.batch_size=1" else "verify.batch_size=8" for a in args]) == 0
    keys = [r["key"] for r in read_jsonl(out)]
    assert len(keys) == len(set(keys)) == len(expected) and set(keys) == expected
    assert read_json(stats_path(out))["lines"] == len(expected)


def test_traces_written_by_the_teacher_stage_are_read_as_written(world, tmp_path):
    """Traces made by teach's own trace builder (pinned format, meta copied) need no --data for the truth."""
    from verify_world import THINKS

    from sightsound.artefacts import read_records
    from sightsound.teacher import make_trace

    recipe = _recipe()
    recipe.teach.n = 3
    lines = []
    for sample in read_records(world["data"]):
        texts = [f"<think>{t}</think> <answer>The correct answer is: {'ABCD'[c]}. {sample.choices[c]}</answer>"
                 for t, c in THINKS[sample.id]]
        result = GenerationResult(sample.id, [Generation(x, 20, "stop") for x in texts])
        lines.append(make_trace(sample, result, recipe.teach, {"backend": "hand"}, num_frames=0))
    traces = tmp_path / "teach_traces.jsonl"
    traces.write_text("".join(json.dumps(t) + "\n" for t in lines))
    verify(recipe, traces, tmp_path / "v.jsonl",
                   backend=ScriptedVerifier(lambda r: "No" if HALLUCINATED[r.id] else "Yes"), progress=False)
    assert {r["key"] for r in read_jsonl(tmp_path / "v.jsonl")} == ALL_KEYS
    h = write_truth_scores(tmp_path / "v.jsonl", traces)
    assert h["precision"] == 1.0 and h["recall"] == 1.0
