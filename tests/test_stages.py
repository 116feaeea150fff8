"""Stage skipping by fingerprint, redo on change, resume after interruption."""

import pytest

from sightsound.jsonl import JsonlWriter, read_json, read_jsonl
from sightsound.stages import Stage, StageRunner


def _pipeline(run_dir, calls, n=5, crash_at=None, param=1):
    src = run_dir / "src.jsonl"
    mid = run_dir / "mid.jsonl"
    out = run_dir / "out.txt"

    def make_src():
        calls.append("src")
        with JsonlWriter(src) as w:
            w.write_many([{"id": str(i), "v": i * param} for i in range(n)])
        return {"n": n}

    def make_mid():
        calls.append("mid")
        with JsonlWriter(mid) as w:  # resumable: skips ids already written
            for row in read_jsonl(src):
                if row["id"] in w.done:
                    continue
                if crash_at is not None and row["id"] == str(crash_at):
                    raise KeyboardInterrupt("simulated interruption")
                w.write({"id": row["id"], "v2": row["v"] * 2})
        return {"rows": len(list(read_jsonl(mid)))}

    def make_out():
        calls.append("out")
        out.write_text(str(sum(r["v2"] for r in read_jsonl(mid))))

    runner = StageRunner(run_dir)
    runner.run(Stage("src", make_src, [src], [], {"n": n, "param": param}))
    runner.run(Stage("mid", make_mid, [mid], [src], {}))
    runner.run(Stage("out", make_out, [out], [mid], {}))
    return runner


def test_rerun_skips_finished_stages(tmp_path):
    calls = []
    _pipeline(tmp_path, calls)
    assert calls == ["src", "mid", "out"]
    calls.clear()
    runner = _pipeline(tmp_path, calls)
    assert calls == [] and runner.skipped == ["src", "mid", "out"]
    assert (tmp_path / "out.txt").read_text() == str(2 * sum(range(5)))
    m = read_json(tmp_path / "manifest.json")["artefacts"]
    assert m["mid"]["status"] == "complete" and m["mid"]["stats"] == {"rows": 5}
    assert m["mid"]["inputs"] == ["src.jsonl"] and "packages" in m["mid"]


def test_changed_config_redoes_that_stage_and_what_depends_on_it(tmp_path):
    calls = []
    _pipeline(tmp_path, calls)
    calls.clear()
    _pipeline(tmp_path, calls, param=3)
    assert calls == ["src", "mid", "out"]
    assert (tmp_path / "out.txt").read_text() == str(2 * 3 * sum(range(5)))


def test_interrupted_stage_resumes_and_earlier_stages_are_not_redone(tmp_path):
    calls = []
    with pytest.raises(KeyboardInterrupt):
        _pipeline(tmp_path, calls, crash_at=3)
    assert [r["id"] for r in read_jsonl(tmp_path / "mid.jsonl")] == ["0", "1", "2"]
    assert read_json(tmp_path / "manifest.json")["artefacts"]["mid"]["status"] == "running"
    calls.clear()
    _pipeline(tmp_path, calls)
    assert calls == ["mid", "out"]  # src was complete; mid resumed
    assert [r["id"] for r in read_jsonl(tmp_path / "mid.jsonl")] == ["0", "1", "2", "3", "4"]
    assert (tmp_path / "out.txt").read_text() == str(2 * sum(range(5)))
