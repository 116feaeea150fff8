"""Sharded generation across processes: `teach`/`verify --shard i/3` as three concurrent
`sightsound` processes against one local OpenAI-compatible server, then `merge`.

The server is :mod:`sightsound.serve` in front of the ``hf`` backend over the tiny models (real
HTTP on 127.0.0.1). It runs with ``max_batch=1``: the hf backend's samples depend on which requests
share a ``generate`` call (padding, one seed per call), and three processes interleave their
requests at random; served one at a time, every request's output depends on the request alone, so
the merged shards must equal one unsharded run row for row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from verify_world import write_world

from sightsound.config import load_recipe
from sightsound.jsonl import ArtefactError, read_jsonl
from sightsound.merge import merge_outputs

SHARDS = 3


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> Path:
    from sightsound.config import SynthConfig
    from sightsound.synth import generate

    return generate(tmp_path_factory.mktemp("synth"), SynthConfig(num=9, seed=5), progress=False)


def _serve(tiny_models_dir: Path, role_dir: str, name: str):
    from sightsound.backends.base import make_backend
    from sightsound.config import ModelSpec
    from sightsound.testing.fault_server import serve_backend

    hf = make_backend(ModelSpec(name_or_path=str(tiny_models_dir / role_dir), backend="hf"), progress=False)
    return serve_backend(hf, model_name=name, max_batch=1)


def _run_shards(command: list[str], outs: list[Path]) -> None:
    """Start every shard at once, as a SLURM array would, and wait for all of them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "sightsound", *command, "--out", str(out),
                               "--shard", f"{i}/{len(outs)}", "--no-progress"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i, out in enumerate(outs)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err[-2000:]


def _merge(capsys, outs: list[Path], merged: Path, *extra: str) -> tuple[int, str]:
    """``sightsound merge`` through the CLI's own entry point (exit code, stderr)."""
    from sightsound.cli import main

    capsys.readouterr()
    rc = main(["merge", "--inputs", *map(str, outs), "--out", str(merged), *extra])
    return rc, capsys.readouterr().err


@pytest.mark.slow
def test_three_concurrent_teach_shards_merge_to_the_unsharded_run(tiny_models_dir, synth_data, tmp_path, capsys):
    from sightsound.teacher import teach

    with _serve(tiny_models_dir, "teacher", "tiny-teacher") as server:
        overrides = ["models.teacher.backend=openai", "models.teacher.name_or_path=tiny-teacher",
                     f"models.teacher.base_url={server.base_url}", "models.teacher.api_key_env=SIGHTSOUND_NO_KEY",
                     "teach.n=2", "teach.max_new_tokens=12", "teach.batch_size=2", "teach.require_label_match=false"]
        outs = [tmp_path / f"shard{i}" / "traces.jsonl" for i in range(SHARDS)]
        _run_shards(["teach", "--data", str(synth_data), *overrides], outs)
        sharded_requests = len(server.log)
        whole = tmp_path / "whole" / "traces.jsonl"
        teach(load_recipe(None, overrides), synth_data, whole, progress=False)
        assert server.max_in_flight >= 2  # the shards really overlapped on the one server
    assert sharded_requests == 9 and all(e.status == 200 for e in server.log)
    sizes = [len(list(read_jsonl(o))) for o in outs]
    assert sum(sizes) == 9 and max(sizes) < 9
    merged = tmp_path / "merged.jsonl"
    rc, err = _merge(capsys, outs, merged, "--data", str(synth_data))
    assert rc == 0, err
    assert list(read_jsonl(merged)) == list(read_jsonl(whole))  # same ids, order, samples, kept flags
    assert json.loads((tmp_path / "merged.stats.json").read_text())["records"] == 9

    # Shards of different recipes are refused in one line, and nothing is written.
    other = tmp_path / "other" / "traces.jsonl"
    other.parent.mkdir()
    other.write_text(outs[2].read_text())
    cfg = (outs[2].parent / "traces.config.yaml").read_text()
    assert "max_new_tokens: 12" in cfg
    (other.parent / "traces.config.yaml").write_text(cfg.replace("max_new_tokens: 12", "max_new_tokens: 64"))
    rc, err = _merge(capsys, [*outs[:2], other], tmp_path / "mixed.jsonl")
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "different recipes" in err and "teach.max_new_tokens: 12 vs 64" in err
    assert not (tmp_path / "mixed.jsonl").exists()


@pytest.mark.slow
def test_three_concurrent_verify_shards_merge_to_the_unsharded_run(tiny_models_dir, tmp_path, capsys):
    from sightsound.verify import verify

    world = write_world(tmp_path / "world")
    # Three copies of the hand-made world (15 traces, 36 kept samples), so every shard has work.
    traces = [json.loads(x) for x in world["traces"].read_text().splitlines()]
    big = tmp_path / "traces.jsonl"
    big.write_text("".join(json.dumps(dict(t, id=f"{t['id']}_{c}")) + "\n" for c in range(3) for t in traces))
    with _serve(tiny_models_dir, "student", "tiny-verifier") as server:
        overrides = ["models.verifier.backend=openai", "models.verifier.name_or_path=tiny-verifier",
                     f"models.verifier.base_url={server.base_url}", "models.verifier.max_retries=0",
                     "verify.max_new_tokens=4", "verify.batch_size=4"]
        outs = [tmp_path / f"shard{i}" / "verified.jsonl" for i in range(SHARDS)]
        _run_shards(["verify", "--traces", str(big), *overrides], outs)
        whole = tmp_path / "whole" / "verified.jsonl"
        verify(load_recipe(None, overrides), big, whole, progress=False)
    merged = tmp_path / "merged.jsonl"
    rc, err = _merge(capsys, outs, merged, "--key", "key", "--data", str(big), "--data-filter", "kept")
    assert rc == 0, err
    rows, expected = list(read_jsonl(merged)), list(read_jsonl(whole))
    assert len(rows) == 36 and all(1 <= len(list(read_jsonl(o))) < 36 for o in outs)
    # Verify writes a record's samples in plan order: compare as sets of whole rows, then verdicts by key.
    assert sorted(r["key"] for r in rows) == sorted(r["key"] for r in expected)
    assert {r["key"]: (r["verdict"], r["replies"]) for r in rows} == \
        {r["key"]: (r["verdict"], r["replies"]) for r in expected}
    assert sum(r["verdict"] == "error" for r in rows) == 9  # r2's missing audio, in each copy

    # A verify shard made with another verifier model is refused.
    cfg_file = outs[1].parent / "verified.config.yaml"
    from sightsound.config import dump_yaml, load_yaml

    cfg = load_yaml(cfg_file)
    cfg["models"]["verifier"]["name_or_path"], cfg["weights"]["verifier"] = "other-model", "other-weights"
    cfg_file.write_text(dump_yaml(cfg))
    rc, err = _merge(capsys, outs, tmp_path / "mixed.jsonl", "--key", "key")
    assert rc == 2 and "models.verifier.name_or_path" in err


@pytest.mark.parametrize("spec", ["3/3", "0/0", "a/b", "1/2/3", "-1/3"])
def test_bad_shard_specs_get_one_line(spec, tmp_path, capsys):
    from sightsound.cli import main

    for command in (["teach", "--data"], ["verify", "--traces"]):
        rc = main([*command, str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "o.jsonl"), f"--shard={spec}"])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1 and "--shard" in err and "Traceback" not in err


def test_merge_without_configs_still_works_and_detects_mixed_recipes(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"id": "r0"}\n')
    b.write_text('{"id": "r1"}\n')
    merge_outputs([a, b], tmp_path / "out.jsonl")  # hand-made files carry no config: nothing to compare
    (tmp_path / "a.config.yaml").write_text("teach: {n: 4, batch_size: 1}\nmodels: {teacher: {name_or_path: m}}\n")
    (tmp_path / "b.config.yaml").write_text("teach: {n: 4, batch_size: 8}\nmodels: {teacher: {name_or_path: m}}\n")
    merge_outputs([a, b], tmp_path / "out2.jsonl")  # batch_size changes no trace
    (tmp_path / "b.config.yaml").write_text("teach: {n: 8}\nmodels: {teacher: {name_or_path: m}}\n")
    with pytest.raises(ArtefactError, match=r"teach.n: 4 vs 8"):
        merge_outputs([a, b], tmp_path / "out3.jsonl")
