"""The artefact readers: each refuses a bad file naming file and line, and only they read records."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from sightsound.artefacts import (
    index_records,
    read_records,
    read_traces,
    read_verdicts,
    write_records,
)
from sightsound.jsonl import ArtefactError
from sightsound.schema import RecordError, Sample

SRC = Path(__file__).resolve().parents[1] / "src" / "sightsound"
GOOD = {"id": "a", "question": "q?", "choices": ["x", "y"], "answer": 0, "audio": "clips/a.wav"}


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# -------------------------------------------------------------------------------------------- records
@pytest.mark.parametrize("bad,why", [
    (["x", "y"], "must be a JSON object"),
    ({"id": "b", "question": "q", "choices": ["x"], "bogus": 1}, "'b'.*unknown fields.*bogus"),
    ({"id": "b", "question": "q", "choices": ["x", "y"], "answer": 5}, "'b'.*outside its 2 choices"),
    ({"id": "b", "question": "q"}, "missing fields.*choices"),
])
def test_read_records_names_file_and_line_of_a_bad_record(tmp_path, bad, why):
    path = _write(tmp_path / "data.jsonl", [GOOD, bad])
    with pytest.raises(RecordError, match=rf"data.jsonl:2: .*{why}"):
        read_records(path)


def test_read_records_resolves_media_against_the_file_and_writes_them_absolute(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    path = _write(tmp_path / "d" / "data.jsonl", [dict(GOOD, frames=["f0.png"]), dict(GOOD, id="b", audio="/abs.wav")])
    a, b = read_records(path)
    assert a.audio == str(tmp_path.resolve() / "d" / "clips" / "a.wav") and b.audio == "/abs.wav"
    assert a.frames == [str(tmp_path.resolve() / "d" / "f0.png")]
    assert read_records(path, resolve=False)[0].audio == "clips/a.wav"
    # A writer stores absolute paths: the copy reads back the same wherever it lies.
    monkeypatch.chdir(tmp_path)
    write_records(tmp_path / "elsewhere" / "data.jsonl", [Sample(**dict(GOOD, audio="d/clips/a.wav"))])
    assert read_records(tmp_path / "elsewhere" / "data.jsonl")[0].audio == a.audio
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "none.jsonl")
    with pytest.raises(FileNotFoundError, match="data file not found"):
        index_records(tmp_path / "none.jsonl")


def test_read_records_refuses_over_long_text_with_the_key_to_raise(tmp_path):
    from sightsound.config import LimitsConfig

    path = _write(tmp_path / "data.jsonl", [GOOD, dict(GOOD, id="b", question="q" * 50)])
    with pytest.raises(RecordError, match=r"data.jsonl:2: record 'b'.*limits.max_question_chars"):
        read_records(path, limits=LimitsConfig(max_question_chars=10))


def test_index_records_keeps_the_error_of_an_invalid_record_and_refuses_one_without_id(tmp_path):
    path = _write(tmp_path / "data.jsonl", [GOOD, {"id": "b", "question": "q", "choices": "xy"}])
    index = index_records(path)
    assert isinstance(index["a"], Sample) and index["a"].audio.endswith("clips/a.wav")
    assert isinstance(index["b"], RecordError) and "data.jsonl:2: record 'b'" in str(index["b"])
    _write(path, [GOOD, {"question": "q", "choices": ["x"]}])
    with pytest.raises(RecordError, match=r"data.jsonl:2: .*id"):
        index_records(path)


def test_a_records_file_that_is_not_jsonl_names_its_line(tmp_path):
    path = _write(tmp_path / "data.jsonl", [GOOD, "{not json", GOOD])
    with pytest.raises(ArtefactError, match=r"data.jsonl:2: not valid JSON"):
        read_records(path)


# --------------------------------------------------------------------------------- traces and verdicts
@pytest.mark.parametrize("bad,why", [
    ({"kept": True, "samples": []}, "not a teacher trace"),
    ({"id": "b", "kept": True}, "kept trace 'b' has no 'samples' list"),
])
def test_read_traces_names_file_and_line(tmp_path, bad, why):
    path = _write(tmp_path / "traces.jsonl", [{"id": "a", "kept": False}, bad])
    with pytest.raises(ArtefactError, match=rf"traces.jsonl:2: {why}"):
        read_traces(path)
    with pytest.raises(FileNotFoundError, match="traces file not found"):
        read_traces(tmp_path / "none.jsonl")


@pytest.mark.parametrize("bad,why", [
    ({"id": "b", "kept": False}, r"not a verified line \(needs 'key', 'id', 'kept'\)"),
    ({"key": "b#0", "id": "b", "kept": True, "think": "t"}, "kept line 'b#0' lacks 'think'/'choice'"),
])
def test_read_verdicts_names_file_and_line(tmp_path, bad, why):
    ok = {"key": "a#0", "id": "a", "kept": True, "think": "t", "choice": 1}
    path = _write(tmp_path / "verified.jsonl", [ok, bad])
    with pytest.raises(ArtefactError, match=rf"verified.jsonl:2: {why}"):
        read_verdicts(path)
    _write(path, [ok, {"key": "a#1", "id": "a", "kept": False}])  # a discarded line needs no think
    assert [r["key"] for r in read_verdicts(path)] == ["a#0", "a#1"]


# ------------------------------------------------------------------------------------- one reader each
def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.AST) -> set[str]:
    """Modules a library module imports; its command-line functions (``add_arguments``, ``run``) are
    the command layer, which may know more than the stage (the ``verify`` command scores synthetic data)."""
    out = set()
    cli = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name in ("add_arguments", "run")
           for n in ast.walk(f)}
    for node in ast.walk(tree):
        if id(node) in cli:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_only_the_artefacts_module_turns_lines_into_records():
    """Validation and media-path resolution of records happen in one place: no second reader."""
    readers = {}
    for name, tree in _modules():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_dict"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "Sample"):
                readers.setdefault(name, []).append(node.lineno)
            if isinstance(node, ast.FunctionDef) and node.name in ("resolve_media", "load_samples", "index_records",
                                                                  "load_traces", "read_traces", "read_verdicts"):
                readers.setdefault(name, []).append(node.lineno)
    assert set(readers) == {"artefacts.py"}, readers


@pytest.mark.parametrize("stage,earlier", [
    ("teacher.py", {"sightsound.verify", "sightsound.sft_data", "sightsound.synth", "sightsound.mini"}),
    ("verify.py", {"sightsound.teacher", "sightsound.sft_data", "sightsound.synth", "sightsound.mini",
                   "sightsound.hallucination"}),
    ("sft_data.py", {"sightsound.teacher", "sightsound.verify", "sightsound.synth", "sightsound.mini"}),
])
def test_a_stage_reads_the_artefact_before_it_not_another_stage(stage, earlier):
    imports = _imports(ast.parse((SRC / stage).read_text(encoding="utf-8")))
    reached = {m for m in imports if any(m == e or m.startswith(e + ".") for e in earlier)}
    assert not reached, f"{stage} imports {sorted(reached)}"
    assert any(m.startswith("sightsound.artefacts") for m in imports)


# ------------------------------------------------------------------ the line types list what is written
def test_trace_and_verdict_types_list_exactly_the_fields_the_stages_write():
    import typing

    from sightsound.artefacts import Trace, TraceSample, Verdict
    from sightsound.backends.interface import Generation, GenerationResult
    from sightsound.config import TeachConfig
    from sightsound.schema import Sample
    from sightsound.teacher import error_trace, make_trace
    from sightsound.verify import Job, _row

    rec = Sample(id="r1", question="Which sounds?", choices=["dog", "cat"], answer=1, audio="/a.wav")
    cfg = TeachConfig(n=2)
    reply = "<think> a cat meows </think><answer> cat </answer>"
    result = GenerationResult("r1", [Generation(reply, 9, "stop")] * 2)
    trace = make_trace(rec, result, cfg, {"name": "t"}, num_frames=4)
    assert set(trace) == set(typing.get_type_hints(Trace)) == set(error_trace(rec, "x", cfg, {}))
    assert set(trace["samples"][0]) == set(typing.get_type_hints(TraceSample))
    job = Job("r1#0", "r1", 0, "a cat meows", 1, 1, "/a.wav")
    row = _row(job, "yes", True, ["Yes"], None, "a note", identity={"name": "v"})
    assert set(row) == set(typing.get_type_hints(Verdict))
    assert set(_row(job, "yes", True, ["Yes"], None, identity={})) == set(typing.get_type_hints(Verdict)) - {"note"}
