"""Deterministic --shard i/N and `sightsound merge` (duplicates and gaps refused)."""

import json
import subprocess
import sys

import pytest

from sightsound.config import ConfigError
from sightsound.jsonl import ArtefactError, read_jsonl
from sightsound.merge import merge_outputs
from sightsound.sharding import parse_shard, select_shard, shard_index


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_parse_shard():
    assert parse_shard("0/4") == (0, 4) and parse_shard("3/4") == (3, 4) and parse_shard(None) is None
    for bad in ["4/4", "-1/4", "1/0", "1", "a/b", "1/2/3"]:
        with pytest.raises(ConfigError):
            parse_shard(bad)


def test_shards_partition_the_ids_and_ignore_position():
    ids = [f"rec-{i}" for i in range(200)]
    parts = [select_shard(ids, (i, 4), key=str) for i in range(4)]
    assert sorted(x for p in parts for x in p) == sorted(ids)
    assert all(len(p) > 20 for p in parts)  # a hash, not all in one shard
    # Order and neighbours do not matter: a record's shard depends on its id alone.
    shuffled = list(reversed(ids))[:50]
    assert {x for x in select_shard(shuffled, "1/4", key=str)} == {x for x in parts[1] if x in shuffled}


def test_shard_index_is_stable_across_processes():
    code = "from sightsound.sharding import shard_index; print([shard_index(f'k{i}', 7) for i in range(20)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [shard_index(f"k{i}", 7) for i in range(20)]


def test_merge_joins_in_data_order(tmp_path):
    data = _write(tmp_path / "data.jsonl", [{"id": f"r{i}"} for i in range(6)])
    a = _write(tmp_path / "a.jsonl", [{"id": "r4", "v": 4}, {"id": "r0", "v": 0}, {"id": "r2", "v": 2}])
    b = _write(tmp_path / "b.jsonl", [{"id": "r5", "v": 5}, {"id": "r1", "v": 1}, {"id": "r3", "v": 3}])
    stats = merge_outputs([a, b], tmp_path / "out.jsonl", data=data)
    assert [r["v"] for r in read_jsonl(tmp_path / "out.jsonl")] == list(range(6))
    assert stats["rows"] == 6


def test_merge_refuses_duplicates(tmp_path):
    a = _write(tmp_path / "a.jsonl", [{"id": "r0"}, {"id": "r1"}])
    b = _write(tmp_path / "b.jsonl", [{"id": "r1"}])
    with pytest.raises(ArtefactError, match="duplicate id 'r1'.*a.jsonl"):
        merge_outputs([a, b], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_merge_refuses_gaps_and_foreign_ids(tmp_path):
    data = _write(tmp_path / "data.jsonl", [{"id": f"r{i}"} for i in range(3)])
    a = _write(tmp_path / "a.jsonl", [{"id": "r0"}, {"id": "r2"}])
    with pytest.raises(ArtefactError, match=r"1 of 3 ids.*'r1'"):
        merge_outputs([a], tmp_path / "out.jsonl", data=data)
    c = _write(tmp_path / "c.jsonl", [{"id": "r1"}, {"id": "zz"}])
    with pytest.raises(ArtefactError, match="not in"):
        merge_outputs([a, c], tmp_path / "out.jsonl", data=data)


def test_merge_refuses_a_torn_shard(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text('{"id": "r0"}\n{"id": "r1"')
    with pytest.raises(ArtefactError, match="a.jsonl:2"):
        merge_outputs([a], tmp_path / "out.jsonl")


def test_merge_verify_outputs_by_key_with_filtered_data(tmp_path):
    traces = _write(tmp_path / "traces.jsonl", [{"id": "r0", "kept": True}, {"id": "r1", "kept": False},
                                                 {"id": "r2", "kept": True}])
    a = _write(tmp_path / "a.jsonl", [{"key": "r0#0", "id": "r0"}, {"key": "r0#1", "id": "r0"}])
    b = _write(tmp_path / "b.jsonl", [{"key": "r2#0", "id": "r2"}])
    merge_outputs([b, a], tmp_path / "v.jsonl", key="key", data=traces, data_filter="kept")
    assert [r["key"] for r in read_jsonl(tmp_path / "v.jsonl")] == ["r0#0", "r0#1", "r2#0"]
    dup = _write(tmp_path / "dup.jsonl", [{"key": "r0#1", "id": "r0"}])
    with pytest.raises(ArtefactError, match="duplicate key 'r0#1'"):
        merge_outputs([a, b, dup], tmp_path / "v2.jsonl", key="key")
    with pytest.raises(ArtefactError, match="no 'key' field"):
        merge_outputs([traces], tmp_path / "v3.jsonl", key="key")


def test_merge_cli_reports_errors_in_one_line(tmp_path):
    a = _write(tmp_path / "a.jsonl", [{"id": "r0"}])
    b = _write(tmp_path / "b.jsonl", [{"id": "r0"}])
    proc = subprocess.run([sys.executable, "-m", "sightsound", "merge", "--inputs", str(a), str(b),
                           "--out", str(tmp_path / "o.jsonl")], check=False, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "duplicate id 'r0'" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(ArtefactError, match="listed twice"):
        merge_outputs([a, a], tmp_path / "o.jsonl")


def test_merge_compares_shard_settings_by_the_resume_rule(tmp_path):
    """Speed settings may differ, a setting one shard does not record reads as its default, others refuse."""
    from sightsound.config import Recipe, dump_yaml, to_dict

    def shard(name, edit=lambda cfg: None):
        path = tmp_path / f"{name}.jsonl"
        _write(path, [{"key": f"{name}#0", "id": name}])
        cfg = to_dict(Recipe())
        edit(cfg)
        path.with_name(f"{name}.config.yaml").write_text(dump_yaml(cfg))
        return path

    a = shard("a")
    b = shard("b", lambda cfg: cfg["verify"].update(batch_size=1))  # speed only
    c = shard("c", lambda cfg: cfg["verify"].pop("verdict"))  # written before verify.verdict existed
    assert merge_outputs([a, b, c], tmp_path / "m.jsonl", key="key")["rows"] == 3
    d = shard("d", lambda cfg: cfg["verify"].update(votes=3))
    with pytest.raises(ArtefactError, match=r"different recipes \(verify\.votes: 1 vs 3\)"):
        merge_outputs([a, d], tmp_path / "m2.jsonl", key="key")
    e = shard("e", lambda cfg: cfg["verify"].update(verdict="final"))
    with pytest.raises(ArtefactError, match=r"verify\.verdict: 'strict' \(not recorded: the default\) vs 'final'"):
        merge_outputs([c, e], tmp_path / "m3.jsonl", key="key")
