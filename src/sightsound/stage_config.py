"""One recipe from one GPU to many: per-stage training configs and sharded outputs, both tied to the run.

:func:`export_stage_config` (``sightsound export-stage-config``) writes the recipe the pipeline itself
would train ``<system>`` with (its ``sft``/``grpo`` section pointing at the run directory's training
set, output folder and starting adapter), for a launcher such as ``accelerate``: multi-GPU training
reads the same numbers as ``sightsound run`` and writes where ``run`` looks.

:func:`adopt` (``sightsound adopt``) takes the outputs of ``sightsound teach/verify --shard i/N`` run
elsewhere into the run directory, refusing a shard whose fingerprint (:func:`fingerprint_diffs`, and
its ids against the run's data) differs from the run's, and records the stage as complete in the
manifest with the fingerprint ``run`` computes, so ``run`` skips it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sightsound.artefacts import read_records, read_traces
from sightsound.config import ConfigError, Recipe, dump_yaml, load_yaml
from sightsound.jsonl import ArtefactError, read_jsonl
from sightsound.schema import Sample

log = logging.getLogger(__name__)

# Settings that change how fast a stage runs, not what it writes.
ROLE = {"teach": "teacher", "verify": "verifier"}
# A training section's paths that the run sets for each system (``pipeline.stage_recipe``).
RUN_PATHS = ("train_file", "output_dir", "init_adapter")


# ----------------------------------------------------------------------------------- export-stage-config
def export_stage_config(recipe: Recipe, run_dir: str | Path, stage: str, to: str | Path) -> Path:
    """Write the resolved recipe of training stage ``train/<system>`` (as ``run`` builds it) to ``to``."""
    from sightsound.pipeline import TRAINING, Layout, _check_systems, stage_recipe

    system = stage.removeprefix("train/")
    if not stage.startswith("train/") or system not in TRAINING:
        raise ConfigError(f"--stage must be one of {', '.join(f'train/{s}' for s in TRAINING)}, got {stage!r}")
    if system not in _check_systems(recipe):
        log.warning("%s is not among the recipe's systems %s", system, recipe.systems)
    trainer, sub = stage_recipe(recipe, Layout(Path(run_dir).resolve()), system)
    # The run decides where a system trains; a path given on the command line would be silently
    # replaced by the run's, and the launch would train (or resume) the run's own stage instead.
    given, used = getattr(recipe, trainer), getattr(sub, trainer)
    clash = [f"{trainer}.{key}={getattr(given, key)!r}" for key in RUN_PATHS
             if getattr(given, key, None) and getattr(given, key) != getattr(used, key)]
    if clash:
        raise ConfigError(f"{', '.join(clash)}: {stage} trains the run's own files ({trainer}.train_file="
                          f"{used.train_file}, {trainer}.output_dir={used.output_dir}); "
                          f"to train other files, pass them to `sightsound {trainer}` instead of exporting this stage")
    to = Path(to)
    to.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# {stage} of recipe {recipe.name!r}, exported by `sightsound export-stage-config` (do not edit:\n"
              f"# re-export after changing the recipe). Launch:\n"
              f"#   accelerate launch --config_file configs/accelerate/zero2.yaml -m sightsound {trainer} "
              f"--config {to}\n")
    to.write_text(header + dump_yaml(sub), encoding="utf-8")
    return to


# ------------------------------------------------------------------------------------------------ adopt
def shard_config(shard: Path) -> dict[str, Any]:
    cfg = shard.with_name(shard.stem + ".config.yaml")
    if not cfg.is_file():
        raise ArtefactError(f"{shard}: no {cfg.name} beside it (written by sightsound teach/verify): "
                            "cannot tell which recipe and model produced it")
    return load_yaml(cfg)


def fingerprint_diffs(stage: str, before: dict[str, Any], recipe: Recipe) -> list[str]:
    """What differs between a shard's recipe and the run's: the stage's resume rule
    (:class:`sightsound.stage_io.OutputSettings`), plus the backend, which must match to adopt."""
    from sightsound.teacher import OUTPUT_SETTINGS as TEACH_SETTINGS
    from sightsound.verify import OUTPUT_SETTINGS as VERIFY_SETTINGS

    settings = {"teach": TEACH_SETTINGS, "verify": VERIFY_SETTINGS}[stage]
    now = settings.sidecar(recipe)
    diffs = settings.diffs(before, now, sep="!=")
    role = settings.role
    old_backend = ((before.get("models") or {}).get(role) or {}).get("backend")
    if old_backend != now["models"][role]["backend"]:
        diffs.append(f"models.{role}.backend: {old_backend!r} != {now['models'][role]['backend']!r}")
    return diffs


def _check_data(shard: Path, stage: str, records: dict[str, Sample], traces: dict[str, dict]) -> None:
    for lineno, row in read_jsonl(shard, with_lineno=True):
        rid = row.get("id")
        rec = records.get(rid)
        if rec is None:
            raise ArtefactError(f"{shard}:{lineno}: id {rid!r} is not a record of the run's data")
        if stage == "teach" and (row.get("question"), row.get("choices")) != (rec.question, rec.choices):
            raise ArtefactError(f"{shard}:{lineno}: record {rid!r} has another question or options than the run's data")
        if stage == "verify" and not (traces.get(rid) or {}).get("kept"):
            raise ArtefactError(f"{shard}:{lineno}: {rid!r} is not a kept trace of the run's teach output")


def adopt(recipe: Recipe, run_dir: str | Path | None, stage: str, shards: list[str | Path]) -> dict[str, Any]:
    """Check each shard against the run, merge them into the run's stage output, record the stage done."""
    from sightsound.merge import merge_outputs
    from sightsound.pipeline import Layout, _data_stage, _teach_stage, _verify_stage
    from sightsound.stages import StageRunner, fingerprint

    if stage not in ROLE:
        raise ConfigError(f"--stage must be teach or verify, got {stage!r}")
    L = Layout(Path(run_dir or recipe.output_dir))
    runner = StageRunner(L.root)
    runner.run(_data_stage(recipe, L))  # the records the shards must have been made from
    if stage == "verify" and (runner.manifest.get("teach") or {}).get("status") != "complete":
        raise ArtefactError(f"{L.root}: teach is not complete; adopt or run it before verify")
    records = {s.id: s for s in read_records(L.data)}
    traces = {t["id"]: t for t in read_traces(L.traces)} if stage == "verify" else {}
    shards = [Path(s) for s in shards]
    for shard in shards:
        diffs = fingerprint_diffs(stage, shard_config(shard), recipe)
        if diffs:
            raise ArtefactError(f"{shard}: made with another recipe or model than the run ({'; '.join(diffs)})")
        _check_data(shard, stage, records, traces)
    out = L.traces if stage == "teach" else L.verified
    out.parent.mkdir(parents=True, exist_ok=True)
    if stage == "teach":
        merged = merge_outputs(shards, out, key="id", data=L.data)
        from sightsound.teacher import write_stats

        stats = write_stats(out)
        st = _teach_stage(recipe, L)
    else:
        merged = merge_outputs(shards, out, key="key", data=L.traces, data_filter="kept")
        from sightsound.synth.hallucination import write_truth_scores
        from sightsound.verify import write_stats

        stats = write_stats(out)
        stats["hallucination"] = write_truth_scores(out, L.traces, L.data)
        st = _verify_stage(recipe, L)
    from sightsound.pipeline import _yields

    runner.manifest.start(st.name, fingerprint(st), [runner._rel(p) for p in st.inputs],
                          [runner._rel(p) for p in st.outputs])
    runner.manifest.complete(st.name, {"stats": _yields(stats), "adopted": [str(s.resolve()) for s in shards]})
    return {"rows": merged["rows"], "shards": len(shards), "out": str(out)}
