"""Step 1 of SightSound-R1: audio-focused chains of thought from the vision teacher.

For every record the teacher (Qwen2.5-VL) sees frames of the **silent** video, never audio, with the
paper's exact prompt, and answers ``n`` times (test-time scaling, one backend request with ``n``
samples). Each answer is parsed (:mod:`sightsound.parsing`) and the record goes through the
consistency filter (:mod:`sightsound.consistency`): kept only when all n choices agree [paper], and
by default only when they agree on the label [ours].

:func:`teach` writes ``TRACES.jsonl``, one trace per record (:func:`make_trace`: the n parsed
samples and the filter's verdict, plus the record's audio path, question and choices so later
stages need nothing else), ``TRACES.stats.json`` (recomputed from the traces alone, see
:func:`compute_stats`) and ``TRACES.config.yaml`` (the resolved recipe). Output, resume and error
lines follow :mod:`sightsound.stage_io`: rerun, it continues where it stopped.

An unreadable video, or a request the backend could not answer after its own retries, is written
as an error trace (``reason: "error"`` with the cause) and the run goes on; a rerun drops such
lines first and tries those records again unless told to keep them. The output is locked while
the stage runs (:func:`sightsound.jsonl.output_lock`): a second writer is refused.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sightsound.artefacts import Trace, read_records
from sightsound.backends.base import (
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    backend_usage,
    make_backend,
)
from sightsound.config import ConfigError, Recipe, TeachConfig, check_settings
from sightsound.consistency import ERROR, consistency_filter, majority
from sightsound.errors import MediaError
from sightsound.jsonl import ArtefactError, JsonlWriter, atomic_write_json, output_lock, read_jsonl
from sightsound.parsing import OK, parse_response
from sightsound.prompts import teacher_prompt
from sightsound.schema import RecordError, Sample
from sightsound.sharding import parse_shard, select_shard
from sightsound.stage_io import OutputSettings, start_output, stats_path, write_batches

log = logging.getLogger(__name__)

# What shapes a trace: the teach section (speed settings aside) and the teacher model. One video or
# separate images is a different teacher input: half a file of each is not one run.
OUTPUT_SETTINGS = OutputSettings("teach", "teacher", model_keys=("name_or_path", "frames_as", "video_fps"),
                                 speed_only=frozenset({"batch_size", "decode_workers"}))


# ---------------------------------------------------------------------------------------- requests
def teacher_frames(sample: Sample, cfg: TeachConfig) -> list:
    """The frames the teacher sees: extracted frames or the video, never the soundtrack."""
    from sightsound.media import load_frames  # PyAV/PIL: paid only by stages that read media

    use_frames = cfg.frames_from == "frames" or (cfg.frames_from == "auto" and sample.frames)
    if use_frames:
        if not sample.frames:
            raise MediaError(sample.video or sample.id, "teach.frames_from=frames but the record has no frames")
        return load_frames(sample.frames, fps=cfg.fps, max_frames=cfg.max_frames, max_pixels=cfg.max_pixels)
    if not sample.video:
        raise MediaError(sample.id, "record has no video (and no frames) to show the teacher")
    # load_frames decodes the video stream only: the teacher never receives the audio track.
    return load_frames(sample.video, fps=cfg.fps, max_frames=cfg.max_frames, max_pixels=cfg.max_pixels)


def build_request(sample: Sample, cfg: TeachConfig) -> GenerationRequest:
    """The teacher's request for one record: frames + the paper's prompt, ``n`` samples. May raise MediaError."""
    return GenerationRequest(
        id=sample.id,
        text=teacher_prompt(sample.question, sample.choices, template=cfg.prompt),
        images=teacher_frames(sample, cfg),
        audio=None,  # the teacher reasons from sight alone; this is the premise of the method
        sampling=SamplingParams(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p,
                                max_new_tokens=cfg.max_new_tokens, seed=cfg.seed),
    )


# ------------------------------------------------------------------------------------------ traces
def _record_fields(sample: Sample) -> dict[str, Any]:
    """What later stages need from the record, so a trace file is self-contained."""
    return {"audio": sample.audio, "question": sample.question, "choices": sample.choices,
            "question_type": sample.question_type, "source": sample.source, "meta": sample.meta}


def error_trace(sample: Sample, error: str, cfg: TeachConfig, teacher: dict[str, Any]) -> Trace:
    return {"id": sample.id, "kept": False, "reason": ERROR, "samples": [], "agreed_choice": None,
            "agreement": 0, "majority_choice": None, "n": cfg.n, "label": sample.answer, "label_match": None,
            "num_frames": 0, "teacher": teacher, "error": error, **_record_fields(sample)}


def make_trace(sample: Sample, result: GenerationResult, cfg: TeachConfig, teacher: dict[str, Any],
               num_frames: int) -> Trace:
    """Parse the n samples of one record and apply the consistency filter."""
    if not result.ok:
        return error_trace(sample, f"backend: {result.error}", cfg, teacher)
    if len(result.generations) != cfg.n:
        # Unanimity is over n samples; judging fewer would loosen the paper's filter silently.
        return error_trace(sample, f"backend returned {len(result.generations)} samples, expected n={cfg.n}",
                           cfg, teacher)
    samples = []
    for k, gen in enumerate(result.generations):
        # [ours] A teacher sample counts only in the paper's tagged format: it becomes a training CoT.
        parsed = parse_response(gen.text, sample.choices, require_answer_tag=True)
        samples.append({"index": k, "text": gen.text, "think": parsed.think, "answer": parsed.answer,
                        "choice": parsed.choice, "status": parsed.status, "num_tokens": gen.num_tokens,
                        "finish_reason": gen.finish_reason})
    verdict = consistency_filter([s["choice"] for s in samples], sample.answer, cfg.require_label_match)
    return {"id": sample.id, "kept": verdict.kept, "reason": verdict.reason, "samples": samples,
            "agreed_choice": verdict.agreed_choice, "agreement": verdict.agreement,
            "majority_choice": verdict.majority_choice, "n": cfg.n, "label": sample.answer,
            "label_match": verdict.label_match, "num_frames": num_frames, "teacher": teacher, "error": None,
            **_record_fields(sample)}


# ------------------------------------------------------------------------------------------- stats
def _frac(num: int, den: int) -> float | None:
    return num / den if den else None


def _group_stats(traces: list[dict]) -> dict[str, Any]:
    """Teacher accuracy, yield and how often it answers what vision alone implies, for one group."""
    ok = [t for t in traces if t["reason"] != ERROR]
    labeled = [t for t in ok if t["label"] is not None]
    maj = {id(t): majority([s["choice"] for s in t["samples"]])[0] for t in ok}
    vis = [t for t in ok if (t.get("meta") or {}).get("vision_answer") is not None]
    return {
        "records": len(traces),
        "errors": len(traces) - len(ok),
        "teacher_accuracy": _frac(sum(maj[id(t)] == t["label"] for t in labeled), len(labeled)),
        "kept_fraction": _frac(sum(bool(t["kept"]) for t in traces), len(traces)),
        "unanimous_fraction": _frac(sum(_unanimous(t) is not None for t in ok), len(traces)),
        "majority_is_vision_answer": _frac(sum(maj[id(t)] == t["meta"]["vision_answer"] for t in vis), len(vis)),
    }


def _unanimous(trace: dict) -> int | None:
    choices = [s["choice"] for s in trace["samples"]]
    if choices and all(c is not None for c in choices) and len(set(choices)) == 1:
        return choices[0]
    return None


def compute_stats(traces: Iterable[dict]) -> dict[str, Any]:
    """Summary of a trace file, from the traces alone (so a merged or resumed file gets the same numbers).

    Fractions are over all records (errors included) unless named otherwise; teacher accuracy is the
    majority choice (a tie counts as wrong) against the label, over labeled records without error.
    ``unanimous_fraction`` is the yield of the paper's filter (no label match);
    ``unanimous_label_match_fraction`` adds the label check; ``kept_fraction`` is what this run kept
    (depends on ``teach.require_label_match``). On synthetic data, per evidence type and family too.
    """
    traces = list(traces)
    ok = [t for t in traces if t["reason"] != ERROR]
    samples = [s for t in ok for s in t["samples"]]
    status = Counter(s["status"] for s in samples)
    unanimous = [(t, c) for t in ok if (c := _unanimous(t)) is not None]
    agreement = Counter(majority([s["choice"] for s in t["samples"]])[1] for t in ok)
    max_n = max([t["n"] for t in ok], default=0)
    stats: dict[str, Any] = {
        "records": len(traces),
        "errors": len(traces) - len(ok),
        "samples": len(samples),
        "n": sorted({t["n"] for t in traces}),
        "parse_failures": sum(v for k, v in status.items() if k != OK),
        "parse_status": dict(sorted(status.items())),
        "finish_reasons": dict(sorted(Counter(s["finish_reason"] for s in samples).items())),
        "kept": sum(bool(t["kept"]) for t in traces),
        "kept_fraction": _frac(sum(bool(t["kept"]) for t in traces), len(traces)),
        "unanimous_fraction": _frac(len(unanimous), len(traces)),
        "unanimous_label_match_fraction": _frac(sum(c == t["label"] for t, c in unanimous), len(traces)),
        "reasons": dict(sorted(Counter(t["reason"] or "kept" for t in traces).items())),
        # Records by the size of their largest group of equal parsed choices (0..n).
        "agreement_histogram": {str(k): agreement.get(k, 0) for k in range(max_n + 1)},
        # How the teacher was shown the silent video: "video" (one clip) or "images" (frames as separate
        # images), from each trace's backend description; more than one value means a mixed file.
        "teacher_frames_as": sorted({f for t in traces if (f := (t.get("teacher") or {}).get("frames_as"))}),
        **{k: v for k, v in _group_stats(traces).items() if k in ("teacher_accuracy", "majority_is_vision_answer")},
    }
    for field in ("evidence", "family"):
        groups: dict[str, list[dict]] = defaultdict(list)
        for t in traces:
            value = (t.get("meta") or {}).get(field)
            if value is not None:
                groups[str(value)].append(t)
        if groups:
            stats[f"by_{field}"] = {k: _group_stats(v) for k, v in sorted(groups.items())}
    return stats


def write_stats(traces_path: str | Path) -> dict[str, Any]:
    """Recompute ``TRACES.stats.json`` from ``TRACES.jsonl`` (atomically) and return it."""
    stats = compute_stats(read_jsonl(traces_path))
    atomic_write_json(stats_path(traces_path), stats)
    return stats


def is_error_trace(trace: dict) -> bool:
    """An error trace records a failed attempt, not the teacher's answer: a rerun retries it by default."""
    return trace.get("reason") == ERROR


# -------------------------------------------------------------------------------------------- main
def _check_records(samples: list[Sample], cfg: TeachConfig, data_path: Path) -> None:
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise RecordError(f"{data_path}: record id {s.id!r} appears twice")
        seen.add(s.id)
        if not s.choices:
            raise RecordError(f"{data_path}: record {s.id!r} has no choices; the teacher answers multiple choice only")
        if len(s.choices) == 1:
            # Every sample "agrees" on the only option: the consistency filter would keep it untested.
            raise RecordError(f"{data_path}: record {s.id!r} has a single option; a question needs at least two")
        texts = [c.strip().casefold() for c in s.choices]
        if len(set(texts)) < len(texts):
            # The answer parser matches option text: equal texts make the parsed choice ambiguous.
            dup = next(c for c in s.choices if texts.count(c.strip().casefold()) > 1)
            log.warning("%s: record %r lists the option %r more than once; answers naming it are ambiguous",
                        data_path, s.id, dup)
        if cfg.require_label_match and s.answer is None:
            raise ConfigError(f"{data_path}: record {s.id!r} has no label but teach.require_label_match is on "
                              "(set teach.require_label_match=false to distil unlabeled data)")


def _check_config(cfg: TeachConfig) -> None:
    if cfg.n < 1:
        raise ConfigError(f"teach.n must be >= 1, got {cfg.n}")
    if cfg.batch_size < 1:
        raise ConfigError(f"teach.batch_size must be >= 1, got {cfg.batch_size}")
    if cfg.n > 1 and cfg.temperature == 0:
        log.warning("teach.n=%d with temperature 0: greedy samples are identical, so the consistency "
                    "filter tests nothing", cfg.n)


def _batches(items: list[Sample], size: int) -> Iterator[list[Sample]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _prepare_one(s: Sample, cfg: TeachConfig, encode: str | None = None,
                 ) -> tuple[Sample, GenerationRequest | None, str | None]:
    """Load one record's frames (and, for an endpoint, their data URLs in format ``encode``);
    an unreadable video becomes an error for that record only."""
    try:
        req = build_request(s, cfg)
    except MediaError as e:
        return s, None, f"media: {e}"
    if encode:
        from sightsound.backends.openai_backend import attach_data_urls

        attach_data_urls(req.images, encode)
    return s, req, None


def decode_workers(cfg: TeachConfig, records: int) -> int:
    """Frame-decoding processes: ``teach.decode_workers`` (0: the machine's cores), never more than records."""
    if cfg.decode_workers < 0:
        raise ConfigError(f"teach.decode_workers must be >= 0, got {cfg.decode_workers}")
    return max(1, min(cfg.decode_workers or os.cpu_count() or 1, records))


def exit_with_parent(parent: int) -> None:
    """Worker initializer: leave when the process that made the pool is gone (killed with SIGKILL, it
    cannot stop us). Teach's decoding workers would otherwise wait on their task queue forever, holding
    their memory; the experiment's seed workers (``mini.experiment.seed_pool``) would go on training,
    on the cores and holding their seeds' locks. A watching thread, not a signal: it works on any
    platform and while the worker is busy in a task."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def decode_pool(workers: int) -> Executor:
    """A pool of ``workers`` processes (one thread when 1: no process to start for a small job).

    Processes, not threads: PyAV and the PIL resizing hold the GIL for much of a decode. Forked where
    the platform allows (milliseconds to start; the children only decode) so short runs pay nothing.
    """
    if workers <= 1:
        return ThreadPoolExecutor(max_workers=1)
    import multiprocessing as mp

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(method),
                               initializer=exit_with_parent, initargs=(os.getpid(),))


def prefetch(batches: list[list[Sample]], cfg: TeachConfig, pool: Executor, workers: int, encode: str | None = None,
             ) -> Iterator[list[tuple[Sample, GenerationRequest | None, str | None]]]:
    """Each batch's (record, request, error), decoded by ``pool`` while earlier batches are generated.

    The first batches are submitted now (so worker processes fork before a model is loaded and
    decode while it loads; with ``encode``, the frames' data URLs for an endpoint are written there
    too); records go one by one, enough batches ahead to keep every worker busy
    (two batches, or two records per worker if more), and come back in order.
    """
    depth = max(2, -(-2 * workers // max(1, cfg.batch_size)))
    submit = lambda batch: [pool.submit(_prepare_one, s, cfg, encode) for s in batch]
    ahead: deque[list[Future]] = deque(submit(b) for b in batches[:depth])

    def results() -> Iterator[list[tuple[Sample, GenerationRequest | None, str | None]]]:
        nxt = len(ahead)
        while ahead:
            futures = ahead.popleft()
            if nxt < len(batches):
                ahead.append(submit(batches[nxt]))
                nxt += 1
            yield [f.result() for f in futures]

    return results()


def trace_batch(prepared: list[tuple[Sample, GenerationRequest | None, str | None]], backend: Any,
                cfg: TeachConfig, teacher: dict[str, Any]) -> list[dict[str, Any]]:
    """One batch through the teacher: a trace per record, an error trace where its frames failed."""
    requests = [req for _, req, _ in prepared if req is not None]
    results = iter(backend.generate(requests) if requests else [])
    rows = []
    for sample, req, err in prepared:
        if req is None:
            rows.append(error_trace(sample, err, cfg, teacher))
            continue
        result = next(results)
        if result.request_id != sample.id:
            raise RuntimeError(f"backend answered {result.request_id!r} for {sample.id!r}")
        rows.append(make_trace(sample, result, cfg, teacher, num_frames=len(req.images or [])))
    return rows


def teach(recipe: Recipe, data_path: str | Path, out_path: str | Path, shard: str | tuple[int, int] | None = None,
          backend: Any = None, progress: bool = True, retry_errors: bool = False) -> dict[str, Any]:
    """Run Step 1 over ``data_path`` (or one shard of it) into ``out_path``; returns the stats.

    ``backend`` defaults to ``make_backend(recipe.models.teacher)``, built only if work remains.
    The returned dict is the stats file's content plus ``run`` (what this invocation did).
    ``out_path`` is locked for the whole run: a second writer is refused at once.
    """
    with output_lock(out_path, "teach output"):
        return _teach(recipe, data_path, out_path, shard, backend, progress, retry_errors)


def _teach(recipe: Recipe, data_path: str | Path, out_path: str | Path, shard: str | tuple[int, int] | None,
           backend: Any, progress: bool, retry_errors: bool) -> dict[str, Any]:
    cfg = recipe.teach
    check_settings(recipe)
    _check_config(cfg)
    data_path, out = Path(data_path), Path(out_path)
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    samples = select_shard(read_records(data_path, limits=recipe.limits), shard)
    if not samples:
        # An empty records file "distilled" 0 records with exit 0: say so instead.
        raise RecordError(f"{data_path}: no records{f' in shard {shard[0]}/{shard[1]}' if shard else ''}")
    _check_records(samples, cfg, data_path)
    start_output(out, recipe, OUTPUT_SETTINGS, is_error_trace, retry_errors)

    started = time.perf_counter()
    written = 0
    with JsonlWriter(out, key=lambda r: r["id"]) as writer:
        wanted = {s.id for s in samples}
        foreign = [k for k in writer.done if k not in wanted]
        if foreign:
            # Stats describe the whole file: traces of other data (or another shard) would skew them.
            raise ArtefactError(f"{out}: holds {len(foreign)} ids that are not in {data_path}"
                                f"{f' shard {shard[0]}/{shard[1]}' if shard else ''} (e.g. {foreign[0]!r}); "
                                "use a new --out")
        todo = [s for s in samples if s.id not in writer.done]
        if todo:
            log.info("teach: %d records to do, %d already in %s", len(todo), len(samples) - len(todo), out)
            workers = decode_workers(cfg, len(todo))
            # Frames of the next batches decode in worker processes while the teacher generates this one.
            with decode_pool(workers) as pool:
                spec = recipe.models.teacher
                encode = spec.image_format if spec.backend == "openai" else None
                prepared_batches = prefetch(list(_batches(todo, cfg.batch_size)), cfg, pool, workers, encode)
                # The backend's own per-call bar would fight with ours over the same terminal line.
                backend = backend if backend is not None else make_backend(recipe.models.teacher, progress=False)
                teacher = backend.describe()
                tally = Counter(kept=sum(bool(r["kept"]) for r in writer.existing), done=len(writer.existing))

                def postfix(rows: list[dict]) -> dict[str, Any]:
                    tally.update(kept=sum(bool(r["kept"]) for r in rows), done=len(rows))
                    return {"kept": f"{tally['kept'] / tally['done']:.2f}", "errors": sum(map(is_error_trace, rows))}

                written = write_batches(writer, prepared_batches,
                                       lambda prepared: trace_batch(prepared, backend, cfg, teacher),
                                       total=len(todo), desc="teach", unit="rec", progress=progress, postfix=postfix)
    elapsed = time.perf_counter() - started
    stats = write_stats(out)
    if (usage := backend_usage(backend)) is not None:
        # This invocation's API calls (a resumed run reports its own); the rest is from the traces alone.
        stats["api_usage"] = usage
        atomic_write_json(stats_path(out), stats)
    stats["run"] = {"written": written, "already_done": len(samples) - written, "seconds": round(elapsed, 3),
                    "records_per_s": round(written / elapsed, 4) if written and elapsed > 0 else None,
                    "shard": list(shard) if shard else None}
    return stats
