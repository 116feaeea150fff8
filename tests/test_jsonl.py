"""Crash-safe artefacts: resumable writers, torn-tail repair, no duplicates, atomic summaries."""

import json
import os
import subprocess
import sys

import pytest

from sightsound.artefacts import read_records
from sightsound.jsonl import (
    ArtefactError,
    JsonlWriter,
    atomic_write_json,
    read_json,
    read_jsonl,
    repair_torn_tail,
    write_jsonl_atomic,
)
from sightsound.schema import RecordError, Sample


def test_writer_resumes_and_skips_done(tmp_path):
    p = tmp_path / "out.jsonl"
    with JsonlWriter(p) as w:
        w.write_many([{"id": "a", "v": 1}, {"id": "b", "v": 2}])
    with JsonlWriter(p) as w:
        assert w.done == {"a", "b"}
        w.write({"id": "c", "v": 3})
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b", "c"]


def test_writer_refuses_duplicates(tmp_path):
    p = tmp_path / "out.jsonl"
    with JsonlWriter(p) as w:
        w.write({"id": "a"})
        with pytest.raises(ArtefactError, match="second time"):
            w.write({"id": "a"})
    p.write_text('{"id": "x"}\n{"id": "x"}\n')
    with pytest.raises(ArtefactError, match="appears twice"):
        JsonlWriter(p)


def test_torn_tail_is_dropped_not_kept(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b", "text": "half a li')
    with pytest.raises(ArtefactError, match=r"out.jsonl:2"):
        list(read_jsonl(p))
    assert [r["id"] for r in read_jsonl(p, allow_torn_tail=True)] == ["a"]
    with JsonlWriter(p) as w:
        assert w.done == {"a"}
        w.write({"id": "b"})
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b"]
    assert p.read_bytes().endswith(b"\n")


def test_complete_last_line_without_newline_is_kept(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_bytes(b'{"id": "a"}\n{"id": "b"}')
    assert repair_torn_tail(p) == 0
    assert [r["id"] for r in read_jsonl(p)] == ["a", "b"]


def test_corruption_in_the_middle_is_an_error(tmp_path):
    p = tmp_path / "out.jsonl"
    p.write_bytes(b'{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(ArtefactError, match=r"out.jsonl:2"):
        JsonlWriter(p)


def test_killed_writer_leaves_a_resumable_file(tmp_path):
    """A child writes forever and is SIGKILLed; what is on disk reopens cleanly with no torn line."""
    p = tmp_path / "out.jsonl"
    code = (
        "import sys, itertools; from sightsound.jsonl import JsonlWriter\n"
        f"w = JsonlWriter({str(p)!r})\n"
        "for i in itertools.count():\n"
        "    w.write_many([{'id': f'{i}-{j}', 'pad': 'x' * 5000} for j in range(3)])\n"
        "    if i == 20: print('ready', flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    proc.kill()
    proc.wait()
    with JsonlWriter(p) as w:
        n = len(w.done)
    # Every batch written before "ready" is there (fsynced); a kill mid-batch may leave some of the
    # batch's lines (a large write can land in pieces) but never a torn one, and never a gap.
    assert n >= 63
    expected = [f"{i}-{j}" for i in range(n // 3 + 1) for j in range(3)][:n]
    assert [json.loads(line)["id"] for line in p.read_text().splitlines()] == expected


def test_atomic_files(tmp_path):
    atomic_write_json(tmp_path / "s.json", {"a": 1})
    assert read_json(tmp_path / "s.json") == {"a": 1}
    write_jsonl_atomic(tmp_path / "d.jsonl", [{"id": "1"}, {"id": "2"}])
    assert len(list(read_jsonl(tmp_path / "d.jsonl"))) == 2
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_sample_schema_checks_and_resolves_paths(tmp_path):
    s = Sample(id="x", question="q?", choices=["a", "b"], answer=1, audio="a.wav", video="v.mp4")
    assert s.answer_text == "b"
    with pytest.raises(RecordError, match="outside its 2 choices"):
        Sample(id="y", question="q", choices=["a", "b"], answer=2)
    with pytest.raises(RecordError, match="'answer' must be an int"):
        Sample(id="y", question="q", choices=["a", "b"], answer=True)
    write_jsonl_atomic(tmp_path / "data.jsonl", [s.to_dict()])
    (loaded,) = read_records(tmp_path / "data.jsonl")
    assert loaded.audio == str(tmp_path.resolve() / "a.wav")
    (tmp_path / "bad.jsonl").write_text('{"id": "z", "question": "q", "choices": ["a"], "bogus": 1}\n')
    with pytest.raises(RecordError, match=r"bad.jsonl:1.*'z'.*bogus"):
        read_records(tmp_path / "bad.jsonl")
