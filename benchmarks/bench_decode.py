"""Teach's frame preparation: records/s vs decoding processes, and teach against an endpoint with fixed latency.

    python benchmarks/bench_decode.py [--workers 1 2 4] [--latency-s 2.0] [--repeats 1] [--json OUT]

Both parts use the 16 real AVQA clips (``../shared/data/avqa_clips``: 10 s, h264) at the paper
recipe's teacher settings (2 fps, 16 frames, max_pixels 151,200 per frame).

1. *Frame preparation*: ``teacher.prefetch`` over all clips (teach.batch_size 4) with a pool of
   ``w`` decoding processes, no backend: records/s per ``w``. Preparation = decoding the frames and
   encoding them as the PNG data URLs an endpoint receives, both in the workers. This is the rate a teacher server can
   be fed at, whatever its speed.
2. *Teach against an endpoint*: the real ``teach()`` with the ``openai`` backend (frames sent as PNG
   data URLs) to ``sightsound serve``'s HTTP server on 127.0.0.1 with a fixed latency per request
   (``--latency-s``), in front of a backend that answers instantly (a fixed, parseable reply: the
   endpoint stands for a GPU server whose own compute is in the latency). Records/s per ``w``.

Numbers depend on the machine's free cores (this project's CPU box has 2, shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "avqa_clips"


class FixedLatencyTeacher:
    """Answers every request at once with n copies of one well-formed reply (the server adds the latency)."""

    name = "fixed"

    def generate(self, requests):
        from sightsound.backends.base import Generation, GenerationResult

        reply = "<think> The frames show the source of the sound. </think> <answer> A </answer>"
        return [GenerationResult(r.id, [Generation(reply, 12, "stop")] * r.sampling.n) for r in requests]

    def describe(self):
        return {"backend": "fixed", "name_or_path": "fixed"}


def _records(tmp: Path) -> Path:
    from sightsound.jsonl import write_jsonl_atomic

    clips = sorted(CLIPS.glob("*.mp4"))
    if not clips:
        raise SystemExit(f"no clips under {CLIPS} (the real-data folder sits beside the checkout)")
    rows = [{"id": c.stem, "question": "What is making the sound?", "choices": ["A", "B", "C", "D"], "answer": 0,
             "audio": str(c.with_suffix(".wav")), "video": str(c)} for c in clips]
    path = tmp / "data.jsonl"
    write_jsonl_atomic(path, rows)
    return path


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the pool's workers, once shut down)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _prepare_rate(data: Path, recipe, workers: int) -> tuple[float, float]:
    """(records/s, CPU seconds per record) of preparing every clip with ``workers`` processes."""
    from sightsound.artefacts import read_records
    from sightsound.teacher import _batches, decode_pool, prefetch

    samples = read_records(data)
    t0, c0 = time.perf_counter(), _cpu()
    with decode_pool(workers) as pool:
        batches = list(_batches(samples, recipe.teach.batch_size))
        n = sum(len(b) for b in prefetch(batches, recipe.teach, pool, workers, encode="png"))
    return n / (time.perf_counter() - t0), (_cpu() - c0) / n


def _teach_rate(data: Path, recipe, workers: int, url: str, tmp: Path) -> float:
    from sightsound.teacher import teach

    r = dataclasses.replace(recipe, teach=dataclasses.replace(recipe.teach, decode_workers=workers))
    out = tmp / f"traces_{workers}_{time.monotonic_ns()}.jsonl"
    models = dataclasses.replace(r.models, teacher=dataclasses.replace(
        r.models.teacher, name_or_path="fixed", backend="openai", base_url=url, max_retries=0))
    stats = teach(dataclasses.replace(r, models=models), data, out, progress=False)
    if stats["errors"]:
        raise SystemExit(f"teach had {stats['errors']} errors")
    return stats["run"]["records_per_s"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, nargs="+", default=sorted({1, 2, os.cpu_count() or 1}))
    p.add_argument("--latency-s", type=float, default=2.0, help="fixed latency of the endpoint per request")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)

    from sightsound.config import load_recipe
    from sightsound.serve import serve_backend

    recipe = load_recipe(Path(__file__).resolve().parents[1] / "configs" / "paper.yaml",
                         ["teach.batch_size=4", "models.teacher.max_concurrency=32"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp, serve_backend(FixedLatencyTeacher(), model_name="fixed",
                                                             latency_s=args.latency_s) as server:
        data = _records(Path(tmp))
        for w in args.workers:
            runs = [_prepare_rate(data, recipe, w) for _ in range(args.repeats)]
            prep, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            rate = statistics.median(_teach_rate(data, recipe, w, server.base_url, Path(tmp))
                                     for _ in range(args.repeats))
            rows.append({"workers": w, "prepare_records_per_s": prep, "prepare_cpu_s_per_record": cpu,
                         "teach_records_per_s": rate, "load_average": os.getloadavg()[0]})
    print(f"16 real AVQA clips, 16 frames at 2 fps, max_pixels {recipe.teach.max_pixels}; "
          f"endpoint latency {args.latency_s:.1f} s; {os.cpu_count()} cores")
    print(f"{'workers':>8} {'prepare rec/s':>14} {'x':>6} {'CPU s/rec':>10} {'teach rec/s':>12} {'x':>6} {'load':>6}")
    for r in rows:
        print(f"{r['workers']:>8} {r['prepare_records_per_s']:>14.2f} "
              f"{r['prepare_records_per_s'] / rows[0]['prepare_records_per_s']:>6.2f} "
              f"{r['prepare_cpu_s_per_record']:>10.2f} "
              f"{r['teach_records_per_s']:>12.2f} {r['teach_records_per_s'] / rows[0]['teach_records_per_s']:>6.2f} "
              f"{r['load_average']:>6.1f}")
    print("CPU s/rec: decoding + PNG encoding per record, all processes; on w idle cores preparation "
          "runs at up to w / (CPU s/rec) records/s. load: the machine's 1-minute load average.")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "cores": os.cpu_count(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
