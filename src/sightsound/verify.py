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
verdicts and, on synthetic data (scene graphs from ``--data``, or the copy the teacher keeps in its
traces), scores them against the ground truth (:mod:`sightsound.hallucination`): precision and
recall of discarding hallucinated samples.
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
from sightsound.errors import MediaError
from sightsound.jsonl import ArtefactError, JsonlWriter, atomic_write_json, read_jsonl
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


def sample_key(record_id: str, index: int | None) -> str:
    return f"{record_id}#{index if index is not None else 'none'}"


def consistent_samples(trace: dict, which: str = "all") -> list[dict]:
    """The samples of a kept trace that carry its agreed choice, by index; ``first``: only the first.

    For a trace the paper's unanimity filter kept, that is every sample; the check is repeated so
    that a hand-edited or differently-filtered trace cannot slip a dissenting sample into training.
    """
    agreed = trace.get("agreed_choice")
    samples = [s for s in trace.get("samples") or [] if agreed is not None and s.get("choice") == agreed]
    samples.sort(key=lambda s: s.get("index", 0))
    if which == "first":
        return samples[:1]
    if which != "all":
        raise ValueError(f"samples must be 'all' or 'first', got {which!r}")
    return samples


def load_traces(path: str | Path) -> list[dict]:
    """Teacher traces, checked for the fields this stage reads (the error names file and line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"traces file not found: {path}")
    out = []
    for lineno, row in read_jsonl(path, with_lineno=True):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or "kept" not in row:
            raise ArtefactError(f"{path}:{lineno}: not a teacher trace (needs 'id' and 'kept')")
        if row["kept"] and not isinstance(row.get("samples"), list):
            raise ArtefactError(f"{path}:{lineno}: kept trace {row['id']!r} has no 'samples' list")
        out.append(row)
    return out


def plan(traces: list[dict], which: str = "all", records: dict[str, dict] | None = None) -> list[Job]:
    """The jobs for the kept traces, in trace order. ``records`` (id -> record) fills a missing audio path."""
    jobs = []
    for t in traces:
        if not t.get("kept"):
            continue
        rid = t["id"]
        audio = t.get("audio") or ((records or {}).get(rid) or {}).get("audio")
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
         note: str | None = None, *, identity: dict, rule: str = "strict") -> dict[str, Any]:
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
def _index_records(data_path: str | Path | None) -> dict[str, dict]:
    """id -> raw record (audio resolved against the data file's folder), without failing on one bad row."""
    if data_path is None:
        return {}
    from sightsound.schema import resolve_media

    data_path = Path(data_path)
    if not data_path.is_file():
        raise FileNotFoundError(f"data file not found: {data_path}")
    base = data_path.parent.resolve()
    out = {}
    for row in read_jsonl(data_path):
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            row = dict(row)
            row["audio"] = resolve_media(row.get("audio"), base)
            out[row["id"]] = row
    return out


def truth_sources(traces: list[dict], records: dict[str, dict]) -> dict[str, dict]:
    """id -> {"answer", "meta"} for scoring: the data file's record where given, else the trace's copy."""
    out = {t["id"]: {"answer": t.get("label"), "meta": t.get("meta") or {}} for t in traces}
    for rid, rec in records.items():
        out[rid] = {"answer": rec.get("answer"), "meta": rec.get("meta") or {}}
    return out


def _vocabulary() -> list[str]:
    """The synthetic world's sound classes: a think naming one that is not audible is a hallucination."""
    try:
        from sightsound.synth.vocab import all_classes
    except ImportError:  # the truth then uses the classes named in each scene graph only
        return []
    return all_classes()


def hallucination_stats(rows: list[dict], records: dict[str, dict]) -> dict[str, Any] | None:
    """Verdicts against the scene-graph truth (rows of records with a scene only), or None.

    Besides the overall precision/recall of discarding hallucinated samples: per kind of
    hallucination how many samples had it and how many of those were discarded, and the scores per
    evidence type of the synthetic question (visual / audio / both), where the teacher's blind spot is.
    """
    from sightsound import hallucination as H

    vocab = _vocabulary()
    pairs: list[tuple[bool, bool]] = []
    by_evidence: dict[str, list[tuple[bool, bool]]] = {}
    by_reason, discarded_by_reason = Counter(), Counter()
    for row in rows:
        if row["verdict"] == verdicts.ERROR:
            continue  # no decision was made
        rec = records.get(row["id"]) or {}
        meta = rec.get("meta") or {}
        if not meta.get("scene"):
            continue
        label = rec.get("answer") if rec.get("answer") is not None else row.get("label")
        truth = H.judge(row.get("think"), row.get("choice"), label, meta["scene"], vocab)
        pair = (not row["kept"], truth.hallucinated)
        pairs.append(pair)
        if meta.get("evidence"):
            by_evidence.setdefault(str(meta["evidence"]), []).append(pair)
        for kind in {r.split(":", 1)[0] for r in truth.reasons}:
            by_reason[kind] += 1
            discarded_by_reason[kind] += not row["kept"]
    if not pairs:
        return None
    out = H.score(pairs)
    out["by_reason"] = {k: {"samples": n, "discarded": discarded_by_reason[k]} for k, n in sorted(by_reason.items())}
    out["by_evidence"] = {k: H.score(v) for k, v in sorted(by_evidence.items())}
    return out


def compute_stats(rows: list[dict], records: dict[str, dict] | None = None) -> dict[str, Any]:
    """Verdict counts of a verified file; ``records`` (id -> {"answer", "meta"}) adds the truth scores."""
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
    stats["hallucination"] = hallucination_stats(rows, records) if records else None
    return stats


def write_stats(out_path: str | Path, traces_path: str | Path | None = None, data_path: str | Path | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """(Re)compute ``<out>.stats.json`` from a whole verified file (also usable after ``merge``).

    The truth for the hallucination scores comes from the scene graphs of ``data_path`` or, where
    the teacher copied them into its traces, of ``traces_path``.
    """
    rows = list(read_jsonl(out_path)) if Path(out_path).exists() else []
    traces = load_traces(traces_path) if traces_path else []
    stats = compute_stats(rows, truth_sources(traces, _index_records(data_path)))
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
    built only when there is work left, so a finished run resumes in no time. ``data_path`` gives
    audio paths to traces without one and scene graphs for the truth scores. ``out_path`` is locked
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
    traces = select_shard(load_traces(traces_path), shard, key=lambda t: t["id"])
    records = _index_records(data_path)
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
    stats = write_stats(out, traces_path, data_path, extra=None if usage is None else {"api_usage": usage})
    stats["run"] = {"kept_traces": sum(1 for t in traces if t.get("kept")), "planned": len(jobs),
                    "written": written, "already_done": len(jobs) - written, "seconds": round(elapsed, 3),
                    "shard": list(shard) if shard else None, "samples": cfg.samples, "votes": cfg.votes}
    return stats
