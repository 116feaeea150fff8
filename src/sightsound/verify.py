"""Step 2 of SightSound-R1: audio-grounded validation of the teacher's reasoning.

For every trace the consistency filter kept, each consistent sample's ``<think>`` goes to an audio
fact-checker together with the record's **real audio** and the paper's prompt
(:func:`sightsound.prompts.verifier_prompt`). The reply is read strictly
(:mod:`sightsound.verdicts`): ``Yes`` keeps the sample, ``No`` discards it, anything else is
*unparsable* and counts as ``No``. ``verify.verdict: final`` [ours] reads the reply's last word
instead, for verifiers that write something before the verdict (the SightSound-mini one writes a
checklist of the sound classes).

Output (``--out VERIFIED.jsonl``), one line per checked (record, sample), keyed ``"<id>#<index>"``::

    {"key", "id", "sample_index", "verdict": "yes"|"no"|"unparsable"|"error", "kept",
     "replies": [raw], "verdict_rule": "strict"|"final", "verifier": {identity}, "error", "think",
     "choice", "label"}

``think`` and ``choice`` travel along so ``build-sft`` needs only this file and the records. A
record whose audio is missing or undecodable gets one ``error`` line per sample and the run goes
on. Lines are appended per batch through :class:`~sightsound.jsonl.JsonlWriter`, so a killed run
resumes where it stopped and never writes a sample twice (``VERIFIED.config.yaml`` holds the
settings, and resuming with other verifier settings is refused). ``--shard i/N`` checks the records
whose id hashes to shard i (:mod:`sightsound.sharding`), each shard into its own ``--out``, and
``sightsound merge --key key --data TRACES.jsonl --data-filter kept`` joins them (then
:func:`write_stats` recomputes the stats of the merged file).

``VERIFIED.stats.json`` (rewritten atomically at the end from the whole output file) counts the
verdicts. Its ``hallucination`` entry (precision and recall of discarding hallucinated samples) is
filled in only where a ground truth exists, by the synthetic world's scorer
(:mod:`sightsound.synth.hallucination`): this stage knows nothing of scene graphs.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sightsound import verdicts
from sightsound.artefacts import Verdict, consistent_samples, index_records, read_traces, sample_key
from sightsound.errors import MediaError
from sightsound.jsonl import JsonlWriter, atomic_write_json, read_jsonl
from sightsound.schema import RecordError, Sample
from sightsound.stage_io import OutputSettings, start_output, stats_path, write_batches

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- planning
@dataclass
class Job:
    """One consistent teacher sample to fact-check."""

    key: str
    id: str
    sample_index: int | None
    think: str
    choice: int | None
    label: int | None
    audio: str | None


def plan(traces: list[dict], which: str = "all", records: dict[str, Sample | RecordError] | None = None) -> list[Job]:
    """The jobs for the kept traces, in trace order. ``records`` (id -> record) fills a missing audio path."""
    jobs = []
    for t in traces:
        if not t.get("kept"):
            continue
        rid = t["id"]
        rec = (records or {}).get(rid)
        audio = t.get("audio") or (rec.audio if isinstance(rec, Sample) else None)
        chosen = consistent_samples(t, which)
        if not chosen:
            # A kept trace must yield a line, or `merge` would report it as a gap; this one is corrupt.
            jobs.append(Job(sample_key(rid, None), rid, None, "", None, t.get("label"), audio))
            continue
        for s in chosen:
            jobs.append(Job(sample_key(rid, s.get("index")), rid, s.get("index"), s.get("think") or "",
                            s.get("choice"), t.get("label"), audio))
    return jobs


# ------------------------------------------------------------------------------------------ checking
def _row(job: Job, verdict: str, kept: bool, replies: list[str], error: str | None,
         note: str | None = None, *, identity: dict, rule: str = "strict") -> Verdict:
    row = {"key": job.key, "id": job.id, "sample_index": job.sample_index, "verdict": verdict, "kept": kept,
           "replies": replies, "verdict_rule": rule, "verifier": identity, "error": error, "think": job.think,
           "choice": job.choice, "label": job.label}
    if note:
        row["note"] = note
    return row


def _sampling(cfg):
    from sightsound.backends.base import SamplingParams

    # One vote is the paper's single greedy check; k votes need k *different* replies, so sample.
    temperature = cfg.temperature if cfg.votes == 1 else cfg.vote_temperature
    # One seed for every request: requests with equal sampling parameters share a generate call
    # in the hf backend (a per-sample seed would split every batch into single requests).
    return SamplingParams(n=cfg.votes, temperature=temperature, top_p=cfg.top_p,
                          max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)


def check_batch(jobs: list[Job], backend, cfg, identity: dict, audio_cache: dict, limits=None) -> list[dict]:
    """Fact-check one batch of jobs; every job gets exactly one row, whatever fails."""
    from sightsound.backends.base import GenerationRequest
    from sightsound.media import load_audio, load_audio_limited
    from sightsound.prompts import verifier_prompt

    rows: dict[str, dict] = {}
    cut: dict[str, float] = {}
    row = functools.partial(_row, identity=identity, rule=cfg.verdict)
    requests = []
    for job in jobs:
        if job.sample_index is None:
            rows[job.key] = row(job, verdicts.ERROR, False, [], "kept trace has no sample with its agreed choice")
            continue
        if job.id not in audio_cache:
            try:
                if not job.audio:
                    raise MediaError("<none>", "the record has no audio path")
                if limits is None:
                    audio_cache[job.id] = (load_audio(job.audio), None)
                else:
                    audio_cache[job.id] = load_audio_limited(job.audio, limits.max_audio_s, limits.audio_policy)
            except MediaError as e:
                audio_cache[job.id] = e
        if isinstance(audio_cache[job.id], MediaError):
            rows[job.key] = row(job, verdicts.ERROR, False, [], f"audio: {audio_cache[job.id]}")
            continue
        audio, cut_from_s = audio_cache[job.id]
        if not job.think.strip():
            # Nothing to fact-check, and nothing to teach: a CoT example needs reasoning.
            rows[job.key] = row(job, verdicts.NO, False, [], None, note="empty <think>: not sent")
            continue
        if limits is not None and len(job.think) > limits.max_cot_chars:
            # A runaway <think> would cost the verifier its whole context; it is no training example either.
            rows[job.key] = row(job, verdicts.NO, False, [], None,
                                note=f"<think> of {len(job.think)} characters, over limits.max_cot_chars: not sent")
            continue
        requests.append((job, GenerationRequest(id=job.key, text=verifier_prompt(job.think, cfg.prompt),
                                                audio=audio, sampling=_sampling(cfg))))
        if cut_from_s is not None:
            cut[job.key] = round(cut_from_s, 3)
    if requests:
        results = backend.generate([r for _, r in requests])
        if len(results) != len(requests):
            raise RuntimeError(f"backend returned {len(results)} results for {len(requests)} requests")
        for (job, _), res in zip(requests, results):
            if res.request_id != job.key:
                raise RuntimeError(f"backend answered {res.request_id!r} for {job.key!r}")
            if res.error is not None or not res.generations:
                rows[job.key] = row(job, verdicts.ERROR, False, [], res.error or "no generations")
                continue
            replies = [g.text for g in res.generations]
            verdict, kept = verdicts.decide(replies, cfg.verdict)
            rows[job.key] = row(job, verdict, kept, replies, None)
            if job.key in cut:  # the verifier heard only the first limits.max_audio_s seconds
                rows[job.key]["audio_truncated_s"] = cut[job.key]
    return [rows[j.key] for j in jobs]


# ------------------------------------------------------------------------------------------ stats
def compute_stats(rows: list[dict]) -> dict[str, Any]:
    """Verdict counts of a verified file.

    ``hallucination`` is left None: where the data has a ground truth (the synthetic world's scene
    graphs), its own scorer fills it in (:mod:`sightsound.synth.hallucination`).
    """
    counts = Counter(r["verdict"] for r in rows)
    replies = Counter(verdicts.parse_verdict(x, r.get("verdict_rule", "strict"))
                      for r in rows for x in r.get("replies") or [])
    checked = len(rows) - counts[verdicts.ERROR]
    stats: dict[str, Any] = {
        "lines": len(rows),
        "records": len({r["id"] for r in rows}),
        "checked": checked,
        "kept": sum(1 for r in rows if r["kept"]),
        "discarded": checked - sum(1 for r in rows if r["kept"]),
        "unparsable": counts[verdicts.UNPARSABLE],
        "errors": counts[verdicts.ERROR],
        "audio_truncated": sum(1 for r in rows if r.get("audio_truncated_s") is not None),
        "verdicts": dict(sorted(counts.items())),
        "replies": dict(sorted(replies.items())),
        "records_with_a_kept_sample": len({r["id"] for r in rows if r["kept"]}),
        "keep_rate": (sum(1 for r in rows if r["kept"]) / checked) if checked else None,
    }
    stats["hallucination"] = None
    return stats


def write_stats(out_path: str | Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """(Re)compute ``<out>.stats.json`` from a whole verified file (also usable after ``merge``)."""
    rows = list(read_jsonl(out_path)) if Path(out_path).exists() else []
    stats = compute_stats(rows)
    stats.update(extra or {})
    atomic_write_json(stats_path(out_path), stats)
    return stats


# ------------------------------------------------------------------------------------------- stage
# What shapes a verdict: the verify section (its batch size aside) and the verifier model.
OUTPUT_SETTINGS = OutputSettings("verify", "verifier", speed_only=frozenset({"batch_size"}))


def is_error_line(row: dict) -> bool:
    """An ``error`` verdict records a failed attempt, not a verdict: a rerun retries it by default."""
    return row.get("verdict") == verdicts.ERROR


def verify(recipe, traces_path: str | Path, out_path: str | Path, shard: str | tuple[int, int] | None = None,
           backend=None, data_path: str | Path | None = None, progress: bool = True,
           retry_errors: bool = False) -> dict[str, Any]:
    """Fact-check the kept traces of ``traces_path`` (or one shard) into ``out_path``; return the stats.

    ``backend`` (anything with ``generate`` and ``describe``) defaults to the recipe's verifier,
    built only when there is work left, so a finished run resumes in no time. ``data_path`` (the
    records) gives audio paths to traces without one. ``out_path`` is locked
    for the whole run: a second writer is refused at once.
    """
    from sightsound.jsonl import output_lock

    with output_lock(out_path, "verify output"):
        return _verify(recipe, traces_path, out_path, shard, backend, data_path, progress, retry_errors)


def _verify(recipe, traces_path, out_path, shard, backend, data_path, progress, retry_errors) -> dict[str, Any]:
    from sightsound.config import ConfigError, check_settings
    from sightsound.sharding import parse_shard, select_shard

    check_settings(recipe)
    cfg = recipe.verify
    if cfg.votes < 1 or cfg.batch_size < 1:
        raise ConfigError(f"verify.votes and verify.batch_size must be >= 1, got {cfg.votes}, {cfg.batch_size}")
    if cfg.votes > 1 and cfg.vote_temperature == 0:
        log.warning("verify.votes=%d with vote_temperature 0: greedy votes are identical", cfg.votes)
    out = Path(out_path)
    shard = parse_shard(shard) if isinstance(shard, str) else shard
    traces = select_shard(read_traces(traces_path), shard, key=lambda t: t["id"])
    records = index_records(data_path) if data_path is not None else {}
    jobs = plan(traces, cfg.samples, records)
    start_output(out, recipe, OUTPUT_SETTINGS, is_error_line, retry_errors)

    started, written = time.perf_counter(), 0
    with JsonlWriter(out, key=lambda r: r["key"]) as writer:
        todo = [j for j in jobs if j.key not in writer.done]
        log.info("verify: %d kept traces, %d samples to check, %d already in %s",
                 sum(1 for t in traces if t.get("kept")), len(todo), len(jobs) - len(todo), out)
        if todo:
            if backend is None:
                from sightsound.backends.base import make_backend

                # The stage shows one bar; the backend's own per-call bars would only add noise.
                backend = make_backend(recipe.models.verifier, progress=False)
            identity = backend.describe()
            audio_cache: dict[str, Any] = {}
            tally = Counter()

            def check(batch: list[Job]) -> list[dict]:
                # Keep only audio this batch needs (a record's samples are adjacent, so at most one carries over).
                ids = {j.id for j in batch}
                for k in [k for k in audio_cache if k not in ids]:
                    del audio_cache[k]
                return check_batch(batch, backend, cfg, identity, audio_cache, recipe.limits)

            def postfix(rows: list[dict]) -> dict[str, Any]:
                tally.update(kept=sum(r["kept"] for r in rows), written=len(rows))
                return {"kept": f"{tally['kept'] / tally['written']:.2f}"}

            batches = (todo[i:i + cfg.batch_size] for i in range(0, len(todo), cfg.batch_size))
            written = write_batches(writer, batches, check, total=len(todo), desc="verify", unit="sample",
                                    progress=progress, postfix=postfix)
    elapsed = time.perf_counter() - started
    from sightsound.backends.base import backend_usage

    # An API verifier's calls of this invocation (requests, audio seconds, tokens) go into the stats.
    usage = backend_usage(backend)
    stats = write_stats(out, extra=None if usage is None else {"api_usage": usage})
    stats["run"] = {"kept_traces": sum(1 for t in traces if t.get("kept")), "planned": len(jobs),
                    "written": written, "already_done": len(jobs) - written, "seconds": round(elapsed, 3),
                    "shard": list(shard) if shard else None, "samples": cfg.samples, "votes": cfg.votes}
    return stats
