"""The stage I/O rules shared by teach, verify and eval: the resume check, error lines, the write loop."""

from __future__ import annotations

import pytest

from sightsound.config import ConfigError, Recipe, dump_yaml, load_recipe, to_dict
from sightsound.jsonl import JsonlWriter, read_jsonl
from sightsound.stage_io import check_resume, config_path, drop_error_rows, stats_path, write_batches
from sightsound.teacher import OUTPUT_SETTINGS as TEACH
from sightsound.verify import OUTPUT_SETTINGS as VERIFY


def _old_output(tmp_path, settings, edit=lambda cfg: None):
    """An output with one line, its config sidecar written by Recipe() and then edited as an older version would."""
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\n')
    cfg = to_dict(Recipe())
    edit(cfg)
    config_path(out).write_text(dump_yaml(cfg))
    return out


def _drop(section, key):
    return lambda cfg: cfg[section].pop(key)


def _add(section, key, value):
    return lambda cfg: cfg[section].__setitem__(key, value)


# (case, settings, edit of the old sidecar, overrides of the resumed run, refused with)
RESUME_TABLE = [
    ("same config", TEACH, None, [], None),
    ("same config", VERIFY, None, [], None),
    ("speed-only setting changed", TEACH, None, ["teach.batch_size=1", "teach.decode_workers=3"], None),
    ("speed-only setting changed", VERIFY, None, ["verify.batch_size=1"], None),
    ("key changed", TEACH, None, ["teach.n=8"], r"teach\.n: 4 -> 8"),
    ("key changed", VERIFY, None, ["verify.votes=3"], r"verify\.votes: 1 -> 3"),
    ("model changed", TEACH, None, ["models.teacher.name_or_path=/other"], "models.teacher.name_or_path"),
    ("model changed", VERIFY, None, ["models.verifier.name_or_path=/other"], "models.verifier.name_or_path"),
    ("teacher input changed", TEACH, None, ["models.teacher.frames_as=video"], "models.teacher.frames_as"),
    # A key added to the recipe after the old output was written: at its default it is the old behaviour.
    ("key added, at its default", VERIFY, _drop("verify", "verdict"), [], None),
    ("key added, at its default", TEACH, _drop("teach", "frames_from"), [], None),
    # The old output lacks the key and the resumed run sets it: the old lines were not made that way.
    ("old key missing, set now", VERIFY, _drop("verify", "verdict"), ["verify.verdict=final"],
     r"verify\.verdict: 'strict' \(not recorded: the default\) -> 'final'"),
    ("old key missing, set now", TEACH, _drop("teach", "frames_from"), ["teach.frames_from=video"],
     r"teach\.frames_from: 'auto' \(not recorded: the default\) -> 'video'"),
    # A key the recipe no longer has: nothing to compare it with.
    ("old key removed since", TEACH, _add("teach", "retired_option", 7), [], None),
]


@pytest.mark.parametrize("case,settings,edit,overrides,refused", RESUME_TABLE,
                         ids=[f"{s.section}: {c}" for c, s, *_ in RESUME_TABLE])
def test_resume_table(tmp_path, case, settings, edit, overrides, refused):
    out = _old_output(tmp_path, settings, edit or (lambda cfg: None))
    recipe = load_recipe(None, overrides)
    if refused is None:
        check_resume(out, recipe, settings)
    else:
        with pytest.raises(ConfigError, match=refused):
            check_resume(out, recipe, settings)


def _model_dir(path, tail: bytes):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text('{"model_type": "qwen2_audio"}')
    (path / "model.safetensors").write_bytes(b"\0" * 1000 + tail)
    return str(path)


@pytest.mark.parametrize("settings", [TEACH, VERIFY], ids=["teach", "verify"])
def test_a_checkpoint_retrained_at_the_same_path_is_not_resumed_into(tmp_path, settings):
    """The sidecar records the weights' content: same path, new weights -> refused, naming the weights;
    the same files under another path (another clone) resume."""
    import shutil

    from sightsound.stage_io import start_output

    role = settings.role
    model = _model_dir(tmp_path / "model", b"weights-1")
    recipe = load_recipe(None, [f"models.{role}.name_or_path={model}"])
    out = tmp_path / "out.jsonl"
    start_output(out, recipe, settings, lambda r: False, retry_errors=False)
    out.write_text('{"id": "a"}\n')
    assert load_recipe(config_path(out)) == recipe  # the sidecar still reads back as the recipe
    check_resume(out, recipe, settings)  # same weights: resumes
    shutil.copytree(model, tmp_path / "clone" / "model")  # the same checkpoint in another clone
    check_resume(out, load_recipe(None, [f"models.{role}.name_or_path={tmp_path / 'clone' / 'model'}"]), settings)
    _model_dir(tmp_path / "model", b"weights-2")  # retrained in place
    with pytest.raises(ConfigError, match=rf"weights\.{role} \(the model's content at "):
        check_resume(out, recipe, settings)


def test_a_sidecar_from_before_weights_were_recorded_resumes_on_its_settings(tmp_path):
    out = _old_output(tmp_path, VERIFY)  # to_dict(Recipe()): no weights key
    check_resume(out, load_recipe(None, []), VERIFY)


def test_resume_check_needs_an_old_output_with_its_sidecar(tmp_path):
    out = tmp_path / "out.jsonl"
    check_resume(out, load_recipe(None, ["teach.n=8"]), TEACH)  # nothing written yet
    out.write_text("")
    config_path(out).write_text(dump_yaml(Recipe()))
    check_resume(out, load_recipe(None, ["teach.n=8"]), TEACH)  # an empty output: nothing to mix with
    assert stats_path(out).name == "out.stats.json" and config_path(out).name == "out.config.yaml"


def test_error_lines_are_dropped_and_the_rest_kept(tmp_path):
    out = tmp_path / "out.jsonl"
    assert drop_error_rows(out, lambda r: r["error"]) == 0  # no file yet
    out.write_text('{"id": "a", "error": null}\n{"id": "b", "error": "timeout"}\n{"id": "c", "err')
    assert drop_error_rows(out, lambda r: r["error"]) == 1  # the torn tail is cut off first
    assert [r["id"] for r in read_jsonl(out)] == ["a"]


def test_write_batches_writes_kept_rows_batch_by_batch(tmp_path):
    out = tmp_path / "out.jsonl"
    with JsonlWriter(out) as writer:
        made = write_batches(writer, [[1, 2], [3]], lambda b: [{"id": str(i), "ok": i != 2} for i in b],
                             total=3, desc="t", unit="x", progress=False, keep=lambda r: r["ok"],
                             postfix=lambda rows: {"n": len(rows)})
    assert made == 3
    assert [r["id"] for r in read_jsonl(out)] == ["1", "3"]  # the refused row is made, not written


def test_model_fingerprint_follows_content_not_path_or_mtime(tmp_path):
    """A checkpoint retrained at the same path makes the stages that used it stale; a copy of the
    same files (a fresh clone: new mtimes) does not."""
    import os
    import shutil

    from sightsound.runinfo import model_fingerprint

    a = tmp_path / "student"
    a.mkdir()
    (a / "config.json").write_text('{"model_type": "qwen2_audio"}')
    (a / "model.safetensors").write_bytes(b"\0" * 3_000_000 + b"weights-1")
    first = model_fingerprint(str(a))
    b = tmp_path / "clone"
    shutil.copytree(a, b)
    os.utime(b / "model.safetensors", (1, 1))
    assert model_fingerprint(str(b)) == first
    (b / "pretrain_info.json").write_text('{"distill_check": {}}')  # a training record, not the model
    assert model_fingerprint(str(b)) == first
    (a / "model.safetensors").write_bytes(b"\0" * 3_000_000 + b"weights-2")  # same size, new tail
    assert model_fingerprint(str(a)) != first
    assert model_fingerprint("Qwen/Qwen2-Audio-7B-Instruct") == "Qwen/Qwen2-Audio-7B-Instruct"


def test_a_pipeline_stage_knows_a_local_model_by_content_not_path(tmp_path):
    """The same weights in another clone give the same stage fingerprint (a run resumes from anywhere);
    other weights or another hub model do not."""
    import shutil

    from sightsound.config import ModelSpec
    from sightsound.pipeline import model_config

    a = _model_dir(tmp_path / "clone_a" / "student", b"weights-1")
    b = tmp_path / "clone_b" / "student"
    shutil.copytree(a, b)
    assert model_config(ModelSpec(name_or_path=a)) == model_config(ModelSpec(name_or_path=str(b)))
    _model_dir(b, b"weights-2")
    assert model_config(ModelSpec(name_or_path=a)) != model_config(ModelSpec(name_or_path=str(b)))
    hub = model_config(ModelSpec(name_or_path="Qwen/Qwen2-Audio-7B-Instruct"))
    assert hub["name_or_path"] == "Qwen/Qwen2-Audio-7B-Instruct"


def test_a_training_stage_is_known_by_its_run_relative_paths_not_their_spelling(tmp_path, monkeypatch):
    """The same run directory spelled relative, absolute or through ``..``, or moved elsewhere, gives the
    training stages the same fingerprint (an experiment resumed with another ``--out`` spelling does not
    redo every training); a training set with other content, or a user's path outside the run, still counts."""
    from pathlib import Path

    from sightsound.pipeline import Layout, _train_stage, run_relative
    from sightsound.stages import fingerprint

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "x"
    (run / "sft_data").mkdir(parents=True)
    (run / "sft_data" / "grpo.jsonl").write_text('{"id": "a"}\n')
    adapter = run / "train" / "cot_sft" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")

    def fp(root):
        return fingerprint(_train_stage(recipe, Layout(Path(root)), "sightsound_r1"))

    first = fp(run)
    stage = _train_stage(recipe, Layout(Path("runs/x")), "sightsound_r1")
    assert stage.config["grpo"]["init_adapter"] == "<run>/train/cot_sft/adapter"
    assert stage.config["grpo"]["train_file"] == "<run>/sft_data/grpo.jsonl"
    assert {fp("runs/x"), fp("./runs/x"), fp("runs/../runs/x")} == {first}
    run.rename(tmp_path / "moved")  # a rename keeps the files' content and times
    assert fp(tmp_path / "moved") == first

    (tmp_path / "moved" / "sft_data" / "grpo.jsonl").write_text('{"id": "b"}\n')
    assert fp(tmp_path / "moved") != first
    outside = str(tmp_path / "shared_sets" / "grpo.jsonl")  # not under the run: kept as the user gave it
    assert run_relative({"train_file": outside}, tmp_path / "moved") == {"train_file": outside}
