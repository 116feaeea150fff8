"""Reliability under hostile use: one table per class of fault.

One writer per output, errors that are not final, bounded inputs, run directories never destroyed
silently, one-line errors, and ``sightsound serve``'s answers to malformed requests. Real files and
real processes throughout: lock holders are other processes, the concurrent writers and the
unreadable-media runs are the CLI in subprocesses, the endpoint is the project's own ``sightsound
serve`` over HTTP. README's "Reliability" section quotes these tables' rows.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from verify_world import write_world

from sightsound.cli import main
from sightsound.config import load_recipe
from sightsound.jsonl import lock_path, output_lock, read_json, read_jsonl
from sightsound.schema import Sample

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "configs" / "demo.yaml"
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
# A process that holds the lock on argv[1] until it is killed (what a second writer meets).
HOLDER = ("import sys, time\nfrom sightsound.jsonl import output_lock\n"
          "with output_lock(sys.argv[1], inside=sys.argv[2] == '1'):\n"
          "    print('locked', flush=True)\n    time.sleep(600)\n")


def _cli(*args, timeout: float = 300, prefix: tuple[str, ...] = (), **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "sightsound", *map(str, args)], env=ENV, check=False,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, **kw)


def _one_error_line(stderr: str, *needles: str) -> str:
    """The CLI's one ``error:`` line (log lines may precede it), with no traceback anywhere."""
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = [ln for ln in stderr.splitlines() if ": error: " in ln]
    assert len(lines) == 1, stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _records(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _record(rid: str = "r0", **kw) -> dict:
    return {"id": rid, "question": "Which animal is heard?", "choices": ["cat", "dog"], "answer": 0, "audio": None,
            "video": None, "frames": None, **kw}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    from sightsound.config import SynthConfig
    from sightsound.synth import generate

    return generate(tmp_path_factory.mktemp("synth"), SynthConfig(num=4, seed=3, write_mp4=False), progress=False)


def _teach_args(data, out, models: Path, *extra) -> list[str]:
    return ["teach", "--data", str(data), "--out", str(out), "--no-progress",
            f"models.teacher.name_or_path={models / 'teacher'}", "teach.n=2", "teach.max_new_tokens=12",
            "teach.batch_size=2", "teach.require_label_match=false", *extra]


def _world_without_missing_audio(root: Path) -> dict[str, Path]:
    """verify_world's records and traces less r2 (whose audio is missing on purpose): every error is ours."""
    w = write_world(root)
    for key in ("data", "traces"):
        rows = [r for r in read_jsonl(w[key]) if r["id"] != "r2"]
        _records(w[key], rows)
    return w


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ================================================================================== 1. one writer
def _lock_cases(tmp: Path, models: Path, synth: Path) -> dict[str, tuple[Path, bool, list[str]]]:
    """command -> (the output it locks, lock inside it?, the CLI arguments of a second writer)."""
    w = write_world(tmp / "world")
    run = tmp / "run"
    run.mkdir()
    return {
        "teach": (tmp / "t.jsonl", False, _teach_args(synth, tmp / "t.jsonl", models)),
        "verify": (tmp / "v.jsonl", False, ["verify", "--traces", w["traces"], "--out", tmp / "v.jsonl",
                                            f"models.verifier.name_or_path={models / 'student'}"]),
        "eval": (tmp / "e.json", False, ["eval", "--benchmark", "synthetic", "--annotations", synth,
                                         "--model", models / "student", "--out", tmp / "e.json"]),
        "run": (run, True, ["run", str(DEMO), "--out", run]),
        "sft": (tmp / "cot_sft", False, ["sft", "--config", str(DEMO), f"sft.train_file={tmp / 'cot.jsonl'}",
                                         f"sft.output_dir={tmp / 'cot_sft'}"]),
    }


@pytest.mark.parametrize("command", ["teach", "verify", "eval", "run", "sft"])
def test_a_second_writer_is_refused_at_once_naming_the_holder(command, tmp_path, tiny_models_dir, synth, capsys):
    out, inside, args = _lock_cases(tmp_path, tiny_models_dir, synth)[command]
    if not inside and command != "sft":
        out.write_text('{"id": "done-before"}\n')  # what an earlier run wrote: must survive
    before = out.read_bytes() if out.is_file() else None
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out), "1" if inside else "0"], env=ENV,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        assert main([str(a) for a in args]) == 2
        assert time.monotonic() - t0 < 20  # refused at once, not after loading a model
        line = _one_error_line(capsys.readouterr().err, f"pid {holder.pid}", "in use by another sightsound process")
        assert str(out) in line
        if before is not None:
            assert out.read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The holder died without unlocking: the kernel released the lock, so the next writer is not blocked.
    with output_lock(out, inside=inside) as lp:
        assert lp == lock_path(out, inside) and lp.read_text().strip() == str(os.getpid())


@pytest.mark.slow
def test_two_concurrent_teach_processes_one_is_refused_and_the_output_is_intact(tmp_path, tiny_models_dir, synth):
    out = tmp_path / "traces.jsonl"
    args = [sys.executable, "-m", "sightsound", *_teach_args(synth, out, tiny_models_dir)]
    first = subprocess.Popen(args, env=ENV, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = lock_path(out)
    deadline = time.time() + 60
    while time.time() < deadline and not (lock.exists() and lock.read_text().strip() == str(first.pid)):
        time.sleep(0.02)
    second = subprocess.run(args, env=ENV, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 2
    _one_error_line(second.stderr, f"pid {first.pid}")
    ids = [r["id"] for r in read_jsonl(out)]
    assert sorted(ids) == sorted(r["id"] for r in read_jsonl(synth)) and len(ids) == len(set(ids)) == 4


# ============================================================================ 2. errors not final
@pytest.mark.slow
def test_endpoint_down_then_up_the_rerun_completes_the_stage(tmp_path, tiny_models_dir):
    from sightsound.pipeline import Layout, _verify_stage
    from sightsound.stages import StageRunner

    port = _free_port()
    L = Layout(tmp_path / "run")
    w = _world_without_missing_audio(tmp_path / "world")
    L.data.parent.mkdir(parents=True)
    L.traces.parent.mkdir(parents=True)
    shutil.copy(w["data"], L.data)
    shutil.copytree(w["data_dir"] / "audio", L.data.parent / "audio")
    shutil.copy(w["traces"], L.traces)
    recipe = load_recipe(DEMO, [
        "models.verifier.backend=openai", f"models.verifier.base_url=http://127.0.0.1:{port}/v1",
        "models.verifier.name_or_path=tiny-verifier", "models.verifier.architecture=qwen2_audio",
        "models.verifier.max_retries=0", "models.verifier.timeout_s=20", "pipeline.progress=false",
        "verify.max_new_tokens=4"])
    manifest = lambda: read_json(L.root / "manifest.json")["artefacts"]["verify"]

    # Nothing listens: every sample is an error entry, and the stage is incomplete, not complete.
    stats = StageRunner(L.root).run(_verify_stage(recipe, L))
    assert stats["errors"] == 9 and manifest()["status"] == "incomplete" and manifest()["errors"] == 9
    # --no-retry-errors keeps them: the stage is skipped and stays incomplete.
    runner = StageRunner(L.root, retry_errors=False)
    runner.run(_verify_stage(recipe, L))
    assert runner.skipped == ["verify"] and runner.incomplete == {"verify": 9}

    # The endpoint comes back on the same address: the server of `sightsound serve`, over the tiny student.
    from sightsound.backends.base import make_backend
    from sightsound.config import ModelSpec
    from sightsound.serve import serve_backend

    backend = make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "student")))
    with serve_backend(backend, model_name="tiny-verifier", port=port):
        runner = StageRunner(L.root)
        stats = runner.run(_verify_stage(recipe, L))
    assert runner.ran == ["verify"] and stats["errors"] == 0 and stats["lines"] == 9
    assert manifest()["status"] == "complete" and "errors" not in manifest()
    keys = [r["key"] for r in read_jsonl(L.verified)]
    assert len(keys) == len(set(keys)) == 9  # retried in place: no duplicates, nothing lost
    assert StageRunner(L.root).run(_verify_stage(recipe, L)) == stats  # now final: skipped


SETTINGS = {  # override -> the key the one-line error must name
    "teach.temperature=-1": "teach.temperature",
    "teach.temperature=.nan": "teach.temperature",
    "teach.max_new_tokens=0": "teach.max_new_tokens",
    "teach.top_p=0": "teach.top_p",
    "verify.vote_temperature=-0.5": "verify.vote_temperature",
    "eval.max_new_tokens=0": "eval.max_new_tokens",
    "eval.limit=-300": "eval.limit",
    "limits.max_audio_s=0": "limits.max_audio_s",
}


@pytest.mark.parametrize("override", SETTINGS)
def test_bad_sampling_settings_are_refused_before_any_model_loads(override, tmp_path, synth, capsys):
    # The teacher path does not exist: reaching the model would fail differently.
    args = _teach_args(synth, tmp_path / "t.jsonl", tmp_path / "no-models", override)
    assert main(args) == 2
    _one_error_line(capsys.readouterr().err, SETTINGS[override])
    assert not (tmp_path / "t.jsonl").exists()


# ======================================================================================= 3. limits
LIMIT_CASES = {  # name -> (records, what the one line says)
    "100k-character question": ([_record(question="Which? " * 14_286)], "limits.max_question_chars"),
    "5k-character option": ([_record(choices=["cat", "d" * 5000])], "limits.max_choice_chars"),
    "30 options": ([_record(choices=[f"o{i}" for i in range(30)])], "at most 26"),
    "a JSON array as a record": ([[1, 2, 3]], "must be a JSON object"),
    "no records at all": ([], "no records"),
    "a single option": ([_record(choices=["cat"])], "a single option"),
}


@pytest.mark.parametrize("case", LIMIT_CASES)
def test_inputs_over_the_limits_are_one_line_naming_file_and_line(case, tmp_path, tiny_models_dir, capsys):
    rows, needle = LIMIT_CASES[case]
    data = _records(tmp_path / "data.jsonl", [_record("ok")] * (case != "no records at all") + rows)
    assert main(_teach_args(data, tmp_path / "t.jsonl", tiny_models_dir)) == 2
    line = _one_error_line(capsys.readouterr().err, needle)
    if rows and case != "a single option":
        assert f"{data}:2" in line  # file and line
    else:
        assert str(data) in line


def test_duplicate_option_texts_are_named_in_a_warning(tmp_path, tiny_models_dir, caplog):
    from sightsound.teacher import _check_records

    samples = [Sample(**_record(choices=["Dog", "cat", "dog "]))]
    with caplog.at_level(logging.WARNING):
        _check_records(samples, load_recipe().teach, tmp_path / "data.jsonl")
    assert "record 'r0' lists the option 'Dog' more than once" in caplog.text


def test_a_100k_character_question_stays_far_below_2_gb(tmp_path, tiny_models_dir):
    data = _records(tmp_path / "data.jsonl", [_record(question="x" * 100_000)])
    with (tmp_path / "err.txt").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "sightsound",
                                 *_teach_args(data, tmp_path / "t.jsonl", tiny_models_dir)],
                                env=ENV, cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak memory, not the session's
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 2
    _one_error_line((tmp_path / "err.txt").read_text(), "question is 100000 characters", f"{data}:1")
    assert usage.ru_maxrss < 2 * 1024 * 1024, f"{usage.ru_maxrss / 1024:.0f} MB"  # KiB on Linux


@pytest.mark.parametrize("policy", ["truncate", "refuse"])
def test_audio_longer_than_the_window_is_cut_with_a_warning_or_refused(policy, tmp_path, caplog):
    import numpy as np
    import soundfile as sf

    from sightsound.errors import MediaError
    from sightsound.media import load_audio_limited

    wav = tmp_path / "ten_minutes.wav"
    sf.write(str(wav), (0.1 * np.random.default_rng(0).standard_normal(600 * 8000)).astype("float32"), 8000)
    if policy == "refuse":
        with pytest.raises(MediaError, match=r"ten_minutes.wav: 600.0 s of audio, over limits.max_audio_s=30"):
            load_audio_limited(wav, 30.0, policy)
        return
    with caplog.at_level(logging.WARNING):
        audio, full = load_audio_limited(wav, 30.0, policy)
    assert full == pytest.approx(600.0) and len(audio) == 30 * 16000
    assert "cut to limits.max_audio_s=30" in caplog.text


# ===================================================================== 4. run directory protection
def test_a_run_directory_of_another_recipe_is_refused_unless_overwrite(tmp_path, capsys):
    from sightsound.pipeline import check_run_directory
    from sightsound.runinfo import write_resolved_config

    run = tmp_path / "run"
    write_resolved_config(load_recipe(DEMO), run, name="recipe.yaml")
    (run / "data" / "train").mkdir(parents=True)
    (run / "data" / "train" / "data.jsonl").write_text('{"id": "x"}\n')
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}

    assert main(["run", str(REPO / "configs" / "paper.yaml"), "--out", str(run)]) == 2
    _one_error_line(capsys.readouterr().err, "holds a run of another recipe", "name: 'demo' -> 'paper'", "--overwrite")
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before
    check_run_directory(load_recipe(REPO / "configs" / "paper.yaml"), run, overwrite=True)  # the way through
    check_run_directory(load_recipe(DEMO, ["teach.n=2"]), run)  # a changed stage setting is the same run


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_changed_stage_moves_its_finished_outputs_aside_with_a_warning(overwrite, tmp_path, caplog):
    from sightsound.jsonl import JsonlWriter
    from sightsound.stages import Stage, StageRunner, prev_path

    out = tmp_path / "traces.jsonl"

    def stage(n: int) -> Stage:
        def fn():
            with JsonlWriter(out) as w:
                w.write_many([{"id": str(i), "n": n} for i in range(3)])
            return {"records": 3}
        return Stage("teach", fn, [out], [], {"n": n})

    StageRunner(tmp_path).run(stage(4))
    finished = out.read_bytes()
    with caplog.at_level(logging.WARNING):
        StageRunner(tmp_path, overwrite=overwrite).run(stage(2))
    assert [r["n"] for r in read_jsonl(out)] == [2, 2, 2]
    if overwrite:
        assert not prev_path(out).exists() and "--overwrite: removing traces.jsonl" in caplog.text
    else:
        assert prev_path(out).read_bytes() == finished  # data lost: 0
        assert "previous outputs were moved to traces.jsonl.prev" in caplog.text


# ===================================================================================== 5. one line
def _broken_model(tmp: Path, models: Path, how: str) -> Path:
    d = tmp / f"teacher-{how}"
    shutil.copytree(models / "teacher", d)
    if how == "corrupt config.json":
        (d / "config.json").write_text('{"model_type": "qwen2_5_vl", ')
    elif how == "truncated weights":
        weights = d / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif how == ".bin only":
        (d / "model.safetensors").unlink()
        (d / "pytorch_model.bin").write_bytes(b"not a pickle")
    return d


ONE_LINE = {  # case -> (argument builder (tmp, models, synth) -> CLI args, what the line names)
    "--data is a directory": (lambda t, m, s: _teach_args(t, t / "o.jsonl", m), "Is a directory"),
    "--data missing": (lambda t, m, s: _teach_args(t / "nope.jsonl", t / "o.jsonl", m), "nope.jsonl"),
    "--out is a directory": (lambda t, m, s: _teach_args(s, t, m), "Is a directory"),
    "--config is a directory": (lambda t, m, s: _teach_args(s, t / "o.jsonl", m, "--config", str(t)),
                                "config file not found"),
    "missing local model": (lambda t, m, s: _teach_args(s, t / "o.jsonl", Path("runs/nowhere/models")),
                            "model directory not found"),
    "corrupt config.json": (lambda t, m, s: _teach_args(s, t / "o.jsonl", m, "models.teacher.name_or_path="
                                                        + str(_broken_model(t, m, "corrupt config.json"))),
                            "cannot load the model"),
    "truncated weights": (lambda t, m, s: _teach_args(s, t / "o.jsonl", m, "models.teacher.name_or_path="
                                                      + str(_broken_model(t, m, "truncated weights"))),
                          "cannot load the model"),
    ".bin-only checkpoint": (lambda t, m, s: _teach_args(s, t / "o.jsonl", m, "models.teacher.name_or_path="
                                                         + str(_broken_model(t, m, ".bin only"))),
                             "cannot load the model"),
    "score --limit=-300": (lambda t, m, s: ["score", "--benchmark", "synthetic", "--predictions", str(t / "p.json"),
                                            "--annotations", str(s), "--limit=-300"], "must be >= 1"),
    "eval --limit 0": (lambda t, m, s: ["eval", "--benchmark", "synthetic", "--annotations", str(s),
                                        "--out", str(t / "r.json"), "--limit", "0"], "must be >= 1"),
}


@pytest.mark.parametrize("case", ONE_LINE)
def test_errors_are_one_line_naming_the_file_and_the_reason(case, tmp_path, tiny_models_dir, synth, capsys):
    build, needle = ONE_LINE[case]
    args = [str(a) for a in build(tmp_path, tiny_models_dir, synth)]
    if "--limit" in " ".join(args):  # argparse refuses it: usage, then one error line, exit 2
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err
        return
    assert main(args) == 2
    _one_error_line(capsys.readouterr().err, needle)


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, synth):
    out = tmp_path / "merged.jsonl"

    def small_files():  # writes past 512 bytes fail as a full disk does (EFBIG instead of ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    r = _cli("merge", "--inputs", synth, "--out", out, preexec_fn=small_files, timeout=120)
    assert r.returncode == 2
    _one_error_line(r.stderr, str(out), "cannot write")
    assert not out.exists()  # atomic: no half-written file either


def test_a_read_only_output_directory_is_one_line_naming_the_file(tmp_path, synth):
    ro = tmp_path / "read-only"
    ro.mkdir()
    os.chmod(ro, 0o555)
    r = _cli("merge", "--inputs", synth, "--out", ro / "merged.jsonl", prefix=_without_root_file_access(),
             timeout=120)
    assert r.returncode == 2
    _one_error_line(r.stderr, str(ro), "Permission denied")


def _without_root_file_access() -> tuple[str, ...]:
    """A command prefix under which chmod 000 denies reading: root reads anything, unless the process
    drops the capabilities that bypass file permissions (the files stay root's: nothing else changes)."""
    if os.geteuid() != 0:
        return ()
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv (util-linux): a chmod 000 file stays readable")
    caps = "-dac_override,-dac_read_search"
    return ("setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--")


# verify, then eval, through the CLI's entry point in one process (one start-up instead of two).
VERIFY_THEN_EVAL = ("import sys\nfrom sightsound.cli import main\n"
                    "sys.exit(main(sys.argv[1:sys.argv.index('--then')]) or main(sys.argv[sys.argv.index('--then') + 1:]))")


@pytest.mark.slow
def test_unreadable_media_is_that_records_error_and_verify_and_eval_finish(tiny_models_dir, tmp_path):
    w = _world_without_missing_audio(tmp_path / "world")
    bad = w["data_dir"] / "audio" / "r0.wav"
    os.chmod(bad, 0o000)
    student = tiny_models_dir / "student"
    args = ["verify", "--traces", w["traces"], "--out", tmp_path / "v.jsonl", "--data", w["data"], "--no-progress",
            f"models.verifier.name_or_path={student}", "verify.max_new_tokens=4", "--then",
            "eval", "--benchmark", "synthetic", "--annotations", w["data"], "--model", student,
            "--out", tmp_path / "e.json", "eval.max_new_tokens=4"]
    r = subprocess.run([*_without_root_file_access(), sys.executable, "-c", VERIFY_THEN_EVAL, *map(str, args)],
                       env=ENV, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {r["key"]: r for r in read_jsonl(tmp_path / "v.jsonl")}
    assert len(rows) == 9 and all(rows[f"r0#{k}"]["verdict"] == "error" for k in range(3))
    assert "Permission denied" in rows["r0#0"]["error"] and str(bad) in rows["r0#0"]["error"]
    assert all(r["verdict"] != "error" for k, r in rows.items() if not k.startswith("r0#"))
    res = read_json(tmp_path / "e.json")
    assert res["errors"] == 1 and res["n"] == 4
    preds = {p["id"]: p for p in read_json(tmp_path / "e.predictions.json")}
    assert "Permission denied" in preds["r0"]["error"]


# ========================================================================= 6. serve's bad requests
def _http(port: int, head: str, body: bytes = b"", stream_mb: int = 0, pause_s: float = 0.0) -> tuple[int, str]:
    """Send a raw request (``stream_mb`` MiB of body sent in chunks) and read the status and body back."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        try:
            chunk = b"x" * (1 << 20)
            for _ in range(stream_mb):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the rest: its answer is already on the way
        time.sleep(pause_s)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            part = s.recv(1 << 16)
            if not part:
                break
            data += part
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1].decode()


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def _post(body: str | bytes, length: str | None = "auto") -> str:
    raw = body.encode() if isinstance(body, str) else body
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if length is not None:
        head += f"Content-Length: {len(raw) if length == 'auto' else length}\r\n"
    return head


def _chat(**kw) -> str:
    return json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "Hello?"}], "max_tokens": 4, **kw})


SERVE_CASES = {  # case -> (head, body, MiB streamed after the body, expected status, words of the message)
    "200 MB body": (_post("", "209715200"), b"", 200, 413, "over the limit"),
    "Content-Length: abc": (_post("", "abc"), b"", 0, 400, "bad Content-Length"),
    "Content-Length: -5": (_post("", "-5"), b"", 0, 400, "bad Content-Length"),
    "no Content-Length": (_post("", None), b"", 0, 411, "Content-Length is required"),
    "Content-Length larger than the body": (_post("", "100"), b"{}", 0, 408, "not received within 2 s"),
    "a JSON array": (_post("[1, 2]"), b"[1, 2]", 0, 400, "must be a JSON object"),
    "not JSON": (_post("{nope"), b"{nope", 0, 400, "not JSON"),
    "content: 5": (_post(b := json.dumps({"model": "tiny", "messages": [{"role": "user", "content": 5}]})),
                   b.encode(), 0, 400, "user content must be"),
    "temperature -1": (_post(b := _chat(temperature=-1)), b.encode(), 0, 400, "temperature"),
    "temperature NaN": (_post(b := _chat().replace('"max_tokens"', '"temperature": NaN, "max_tokens"')),
                        b.encode(), 0, 400, "temperature"),
    "max_tokens 0": (_post(b := _chat(max_tokens=0)), b.encode(), 0, 400, "max_tokens"),
}


@pytest.fixture(scope="module")
def served(tiny_models_dir):
    """The server of ``sightsound serve`` (same class, same limits as the CLI's flags) over the tiny student."""
    from sightsound.backends.base import make_backend
    from sightsound.config import ModelSpec
    from sightsound.serve import serve_backend

    backend = make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "student")))
    with serve_backend(backend, model_name="tiny", max_body_bytes=8 << 20, body_timeout_s=2.0) as server:
        yield server


@pytest.mark.parametrize("case", SERVE_CASES)
def test_serve_answers_every_malformed_request_with_400_and_one_line(case, served, caplog):
    import tracemalloc

    head, body, stream_mb, want, words = SERVE_CASES[case]
    tracemalloc.start()  # every Python allocation in this process, the server's threads included
    try:
        status, text = _http(served.port, head, body, stream_mb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == want, (status, text)
    assert peak < 16 << 20, f"{peak >> 20} MiB held while answering"  # a 200 MB body is never read into memory
    message = json.loads(text)["error"]["message"]
    assert words in message and "\n" not in message, message
    # ... and goes on answering.
    status, text = _http(served.port, _post(b := _chat()), b.encode())
    assert status == 200 and json.loads(text)["choices"][0]["message"]["content"] is not None
    assert "Traceback" not in caplog.text


# ======================================================================== README, by hand, verbatim
def _readme_stage_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Reliability", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [ln for ln in block.splitlines() if ln.startswith("sightsound ")]


@pytest.mark.slow
def test_readme_stage_commands_run_verbatim_with_the_demo_recipe(tmp_path, monkeypatch, capsys):
    import shlex
    import warnings

    import torch

    commands = _readme_stage_commands()
    assert {c.split()[1] for c in commands} >= {"teach", "verify", "build-sft", "sft", "grpo", "eval"}
    # A fresh working directory that looks like the repository root (the recipe's paths are relative to it).
    for name in ("configs", "assets"):
        (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on a busy 2-core machine a spinning thread pool costs far more than it gives
    try:
        for command in commands:
            # Through the CLI's own entry point, in this process (a process per command would add a minute of
            # imports); the command line is the README's, to the letter.
            with warnings.catch_warnings(record=True) as seen:
                assert main(shlex.split(command)[1:]) == 0, f"{command}\n{capsys.readouterr().err[-3000:]}"
            future = [str(w.message) for w in seen if issubclass(w.category, FutureWarning)]
            assert not future, f"{command}: {future}"
    finally:
        torch.set_num_threads(threads)
    res = read_json(tmp_path / "runs" / "by-hand" / "eval" / "r1.json")
    assert res["n"] == 8 and res["errors"] == 0
    assert (tmp_path / "runs" / "by-hand" / "r1" / "adapter" / "adapter_config.json").is_file()
