"""Evaluate a student on a benchmark: greedy, batched, the student prompt, the benchmark's own rule.

:func:`evaluate` writes ``RESULTS.json`` (official accuracy with its Wilson 95 % interval, the letter-aware
``choice_parsed`` score, format rate, breakdowns, unparsable rate, missing predictions, the detected
benchmark revision, prompt, model and adapter identity, config hash, package versions),
``RESULTS.predictions.json`` (the official format: the prediction under ``model_prediction`` and
under the official script's own key, ``model_output`` for MMAU and ``answer_prediction`` for MMAR;
``sightsound score`` and the official scripts read it)
and ``RESULTS.generations.jsonl`` (raw responses, appended as they come: a rerun resumes there).
Each control (silent audio: zeros of the clip's length; shuffled choices with a seed: permuted
options) runs after the main pass with the same loaded model and writes
``RESULTS.<control>.json`` / ``.predictions.json`` with ``"control"`` set; the main results list the
controls' scores under ``"controls"``.

Benchmarks: ``avqa`` (the val split serves as test), ``mmau`` (test-mini, ``eval.mmau_task``,
default ``sound`` as the paper reports), ``mmar``, ``music-avqa`` (``Audio`` question types by
default), ``synthetic`` (a records JSONL from ``sightsound synth``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from sightsound.prompts import STUDENT_PROMPT_DESCRIPTIONS

log = logging.getLogger(__name__)

ANSWER_PARSER = "sightsound.parsing.parse_response (text read: sightsound.parsing.scored_text)"


# ------------------------------------------------------------------------------------------ paths
def output_paths(out: str | Path, control: str | None = None) -> dict[str, Path]:
    """``RESULTS.json`` -> its predictions, generations and resolved-config files (per control)."""
    out = Path(out)
    stem = out.name.removesuffix(".json")
    if control:
        stem = f"{stem}.{control}"
    d = out.parent
    return {
        "results": d / f"{stem}.json",
        "predictions": d / f"{stem}.predictions.json",
        "generations": d / f"{stem}.generations.jsonl",
        "config": d / f"{stem}.resolved_config.yaml",
    }


# -------------------------------------------------------------------------------------- generation
def _run_key(model_identity: dict[str, Any], settings: dict[str, Any]) -> str:
    blob = json.dumps({"model": model_identity, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def generate_responses(samples: list, backend, *, prompts: dict[str, str], path: Path, run_key: str,
                       batch_size: int, max_new_tokens: int, silent: bool = False, desc: str = "eval",
                       limits=None) -> dict[str, dict[str, Any]]:
    """Greedy responses for ``samples``, appended to ``path`` as they come; returns ``id -> row``.

    Rows already in ``path`` (an interrupted run) are reused when they were made by the same model
    and settings (``run_key``); otherwise the file is refused rather than silently mixed. A sample
    whose audio cannot be read, or whose generation failed, gets a row with ``error`` that is *not*
    written, so a rerun retries it.
    """
    from sightsound.backends.base import SamplingParams
    from sightsound.jsonl import ArtefactError, JsonlWriter
    from sightsound.stage_io import write_batches

    rows: dict[str, dict[str, Any]] = {}
    with JsonlWriter(path, key=lambda r: r["id"]) as writer:
        for row in writer.existing:
            if row.get("run_key") != run_key:
                raise ArtefactError(f"{path}: written by a different model or settings (run_key "
                                    f"{row.get('run_key')} != {run_key}); delete it or choose another --out")
            rows[row["id"]] = row
        todo = [s for s in samples if s.id not in rows]
        if rows:
            log.info("%s: resuming, %d of %d responses already there", path, len(samples) - len(todo), len(samples))
        sampling = SamplingParams(n=1, temperature=0.0, top_p=1.0, max_new_tokens=max_new_tokens, seed=0)
        batches = (todo[i:i + batch_size] for i in range(0, len(todo), batch_size))

        def respond(batch: list) -> list[dict[str, Any]]:
            made = _respond(batch, backend, prompts, sampling, run_key, silent, limits)
            rows.update((row["id"], row) for row in made)  # failed rows too: the results count them
            return made

        write_batches(writer, batches, respond, total=len(todo), desc=desc, unit="item",
                      keep=lambda row: not row["error"])
    errors = [r for r in rows.values() if r.get("error")]
    if errors:
        log.warning("%d of %d items have no response; first: %s", len(errors), len(samples), errors[0]["error"])
    return rows


def _respond(batch: list, backend, prompts: dict[str, str], sampling, run_key: str, silent: bool,
             limits) -> list[dict[str, Any]]:
    """One batch through the student: a response row per item, or an ``error`` row (audio unreadable,
    generation failed), in the batch's order."""
    from sightsound.backends.base import GenerationRequest
    from sightsound.errors import MediaError
    from sightsound.evaluate.controls import silence_like
    from sightsound.media import load_audio, load_audio_limited

    rows: dict[str, dict[str, Any]] = {}
    cut: dict[str, float] = {}
    requests = []
    for s in batch:
        try:
            if not s.audio:
                raise MediaError(f"<{s.id}>", "no audio file for this item (check --media-root)")
            if limits is None:
                audio, cut_from_s = load_audio(s.audio), None
            else:
                audio, cut_from_s = load_audio_limited(s.audio, limits.max_audio_s, limits.audio_policy)
        except MediaError as e:
            rows[s.id] = {"id": s.id, "response": None, "error": str(e), "run_key": run_key}
            continue
        if cut_from_s is not None:
            cut[s.id] = round(cut_from_s, 3)
        requests.append(GenerationRequest(id=s.id, text=prompts[s.id], audio=silence_like(audio) if silent else audio,
                                          sampling=sampling))
    results = backend.generate(requests) if requests else []
    if len(results) != len(requests):  # the interface promises one result per request, in order
        raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
    for req, res in zip(requests, results):
        if res.error or not res.generations:
            rows[req.id] = {"id": req.id, "response": None, "error": res.error or "no generation", "run_key": run_key}
            continue
        g = res.generations[0]
        rows[req.id] = {"id": req.id, "response": g.text, "num_tokens": g.num_tokens,
                        "finish_reason": g.finish_reason, "error": None, "run_key": run_key}
        if req.id in cut:  # the student heard only the first limits.max_audio_s seconds
            rows[req.id]["audio_truncated_s"] = cut[req.id]
    return [rows[s.id] for s in batch]


# ------------------------------------------------------------------------------------------- one pass
def _one_pass(bench, samples: list, backend, *, out: Path, control: str | None, silent: bool,
              recipe, identity: dict[str, Any], settings: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    from sightsound.evaluate.predictions import prediction_item, write_predictions
    from sightsound.evaluate.results import results_dict
    from sightsound.evaluate.scoring import score_predictions
    from sightsound.jsonl import atomic_write_json
    from sightsound.prompts import build_student_prompt

    paths = output_paths(out, control)
    style = recipe.eval.prompt
    prompts = {s.id: build_student_prompt(style, s.question, s.choices) for s in samples}
    key = _run_key(identity, {**settings, "control": control})
    t0 = time.time()
    rows = generate_responses(samples, backend, prompts=prompts, path=paths["generations"], run_key=key,
                              batch_size=recipe.eval.batch_size, max_new_tokens=recipe.eval.max_new_tokens,
                              silent=silent, desc=f"eval {bench.name}" + (f" [{control}]" if control else ""),
                              limits=recipe.limits)
    items = [prediction_item(s, prompts[s.id], rows[s.id].get("response"), bench.name,
                             error=rows[s.id].get("error"), control=control, prompt_style=style) for s in samples]
    verdicts, metrics = score_predictions(bench.name, samples, items)
    for it, v in zip(items, verdicts):
        it["correct"] = v["correct"]
        it["choice_parsed_correct"] = v["choice_parsed_correct"]
    write_predictions(paths["predictions"], items)
    res = results_dict(bench, metrics, version=extra.get("version"), selection=extra.get("selection"), extra={
        "control": control,
        "system": extra["system"],
        "model": identity["model"],
        "adapter": identity["adapter"],
        "config_hash": extra["config_hash"],
        "answer_parser": ANSWER_PARSER,
        "prompt_style": style,
        "prompt": STUDENT_PROMPT_DESCRIPTIONS[style],
        "generation": {"greedy": True, "max_new_tokens": recipe.eval.max_new_tokens,
                       "batch_size": recipe.eval.batch_size, "backend": recipe.models.student.backend},
        "errors": sum(1 for it in items if it["error"]),
        "audio_truncated": sum(1 for s in samples if rows[s.id].get("audio_truncated_s") is not None),
        "finish_reasons": _count(rows[s.id].get("finish_reason") for s in samples if rows[s.id].get("response")),
        "seconds": round(time.time() - t0, 3),
        "predictions": str(paths["predictions"]),
    })
    atomic_write_json(paths["results"], res)
    return res


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


# ----------------------------------------------------------------------------------------- the API
def evaluate(recipe=None, *, benchmark: str, out: str | Path, model: str | None = None, adapter: str | None = None,
             annotations: str | None = None, media_root: str | None = None, silent_audio: bool = False,
             shuffle_choices: int | None = None, limit: int | None = None, system: str | None = None,
             backend=None, prompt: str | None = None, mmau_version: str | None = None) -> dict[str, Any]:
    """Run one benchmark through the student and write results, predictions and controls.

    ``recipe`` is a :class:`~sightsound.config.Recipe` (defaults when None); the student is
    ``recipe.models.student`` with ``name_or_path`` replaced by ``model`` when given, and the LoRA
    ``adapter`` (a PEFT directory) applied on top. ``system`` names the system in comparisons
    (``pretrained``, ``label_sft``, ..., default: the adapter's or model's folder name). ``backend``
    may be passed to reuse a loaded model. ``prompt`` (``paper`` | ``r1_aqa``) overrides
    ``eval.prompt``; ``mmau_version`` asserts the detected MMAU revision. ``out`` is locked for the whole run (one writer per
    output). Items without a response are never written to the generations file, so a rerun always
    retries them.
    Returns the main results dict (with ``"controls"``).
    """
    from sightsound.jsonl import output_lock

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with output_lock(out, "eval output"):
        return _evaluate(recipe, benchmark=benchmark, out=out, model=model, adapter=adapter, annotations=annotations,
                         media_root=media_root, silent_audio=silent_audio, shuffle_choices=shuffle_choices,
                         limit=limit, system=system, backend=backend, prompt=prompt, mmau_version=mmau_version)


def _evaluate(recipe, *, benchmark, out, model, adapter, annotations, media_root, silent_audio, shuffle_choices,
              limit, system, backend, prompt, mmau_version) -> dict[str, Any]:
    from sightsound.config import ConfigError, Recipe, check_settings
    from sightsound.data import canonical_name, load_benchmark, select
    from sightsound.errors import MediaError
    from sightsound.evaluate.controls import SHUFFLE, SILENT, control_name, shuffle_sample
    from sightsound.evaluate.results import benchmark_version
    from sightsound.evaluate.score_file import selection_for
    from sightsound.jsonl import atomic_write_json
    from sightsound.runinfo import config_hash, file_fingerprint, write_resolved_config

    recipe = recipe or Recipe()
    check_settings(recipe)
    try:
        name = canonical_name(benchmark)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    annotations = annotations or recipe.eval.annotations.get(name)
    if not annotations:
        raise ConfigError(f"no annotation file for benchmark {name!r}: pass --annotations or set eval.annotations.{name}")
    media_root = media_root or recipe.eval.media_roots.get(name)
    student = dataclasses.replace(recipe.models.student, name_or_path=model or recipe.models.student.name_or_path)
    if limit is not None and limit < 1:  # a negative limit would slice from the end
        raise ConfigError(f"limit must be >= 1, got {limit}")
    ev = recipe.eval if limit is None else dataclasses.replace(recipe.eval, limit=limit)
    ev = dataclasses.replace(ev, prompt=prompt or ev.prompt, mmau_version=mmau_version or ev.mmau_version)
    if ev.prompt not in STUDENT_PROMPT_DESCRIPTIONS:
        raise ConfigError(f"eval.prompt: unknown student prompt {ev.prompt!r} (known: {', '.join(STUDENT_PROMPT_DESCRIPTIONS)})")
    recipe = dataclasses.replace(recipe, models=dataclasses.replace(recipe.models, student=student), eval=ev)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    sel = selection_for(name, {"mmau_task": ev.mmau_task, "mmar_modality": ev.mmar_modality,
                               "music_avqa_types": list(ev.music_avqa_types), "limit": ev.limit})
    bench = select(load_benchmark(name, annotations, media_root), **sel)
    version = benchmark_version(name, annotations, ev.mmau_version)  # a wrong revision fails before the model loads
    samples = list(bench)
    if not samples:
        raise ConfigError(f"{annotations}: the selection {sel} leaves no {name} items")
    from sightsound.schema import check_limits

    for s in samples:
        check_limits(s, recipe.limits, str(annotations))
    have_audio = [s for s in samples if s.audio and Path(s.audio).is_file()]
    if not have_audio:
        first = samples[0].audio or f"<no file for {samples[0].id} under {media_root}>"
        raise MediaError(first, f"none of the {len(samples)} {name} items has its audio file "
                                f"(media root: {media_root or 'beside the annotations'})")
    if len(have_audio) < len(samples):
        log.warning("%d of %d %s items have no audio file; they count as missing predictions",
                    len(samples) - len(have_audio), len(samples), name)

    if backend is None:
        from sightsound.evaluate.student import load_student_backend

        backend = load_student_backend(student, adapter)
    identity = {
        "model": backend.describe() if hasattr(backend, "describe") else {"name_or_path": student.name_or_path},
        "adapter": None if not adapter else {"path": str(adapter), "fingerprint": file_fingerprint(adapter)},
    }
    chash = config_hash(recipe)
    settings = {"benchmark": name, "annotations": str(annotations), "prompt": ev.prompt,
                "max_new_tokens": ev.max_new_tokens, "config_hash": chash}
    write_resolved_config(recipe, out.parent, name=output_paths(out)["config"].name)
    system = system or Path(adapter or student.name_or_path).name or "model"
    extra = {"version": version, "selection": sel, "config_hash": chash, "system": system}

    main = _one_pass(bench, samples, backend, out=out, control=None, silent=False, recipe=recipe,
                     identity=identity, settings=settings, extra=extra)
    controls: dict[str, Any] = {}
    if silent_audio:
        res = _one_pass(bench, samples, backend, out=out, control=SILENT, silent=True, recipe=recipe,
                        identity=identity, settings=settings, extra=extra)
        controls[SILENT] = _control_summary(main, res, output_paths(out, SILENT)["results"])
    if shuffle_choices is not None:
        cname = control_name(SHUFFLE, shuffle_choices)
        if not any(s.choices for s in samples):
            log.warning("%s has no options to shuffle; the shuffled-choice control is skipped", name)
        else:
            shuffled = [shuffle_sample(s, shuffle_choices) for s in samples]
            res = _one_pass(bench, shuffled, backend, out=out, control=cname, silent=False, recipe=recipe,
                            identity=identity, settings={**settings, "shuffle_seed": shuffle_choices}, extra=extra)
            controls[cname] = _control_summary(main, res, output_paths(out, cname)["results"])
    main["controls"] = controls
    atomic_write_json(output_paths(out)["results"], main)
    return main


def _control_summary(main: dict[str, Any], res: dict[str, Any], path: Path) -> dict[str, Any]:
    delta = None if main["accuracy"] is None or res["accuracy"] is None else round(res["accuracy"] - main["accuracy"], 6)
    return {"accuracy": res["accuracy"], "ci95": res.get("ci95"), "n": res["n"], "correct": res["correct"],
            "delta": delta, "unparsable_rate": res["unparsable_rate"], "results": str(path)}
