"""Teacher throughput: n samples in one request (test-time scaling, batched) vs n separate requests.

    python benchmarks/bench_teacher.py [--records 8] [--n 4] [--max-new-tokens 48] [--threads 1]

Builds the tiny Qwen2.5-VL teacher and a few synthetic records in a temporary folder (offline),
loads each record's frames once, and times only ``backend.generate`` through the real ``hf``
backend for three ways of asking for the same n samples per record:

* ``sequential``: n calls with n=1 each, one record at a time (what a naive loop does);
* ``batched``: one call per record with n samples (the prompt is encoded once, n sequences decode together);
* ``batched x B``: one call per B records, n samples each (what ``teach`` does with teach.batch_size=B).

Prints records/second for each and the speed-up over sequential. Numbers depend on the machine;
the tiny model makes decoding cheap, so the ratio, not the absolute rate, is the point.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path


def _requests(data: Path, recipe, n: int):
    from sightsound.artefacts import read_records
    from sightsound.teacher import build_request

    cfg = dataclasses.replace(recipe.teach, n=n)
    return [build_request(s, cfg) for s in read_records(data)]


def _with_n(req, n: int, seed_offset: int = 0):
    sampling = dataclasses.replace(req.sampling, n=n, seed=req.sampling.seed + seed_offset)
    return dataclasses.replace(req, sampling=sampling)


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=8)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--batch-records", type=int, default=4, help="B for the 'batched x B' row")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per mode (median reported)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from sightsound.backends.base import make_backend
    from sightsound.config import SynthConfig, load_recipe
    from sightsound.models.tiny import build_tiny_model
    from sightsound.synth import generate

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = build_tiny_model("teacher", tmp / "teacher")
        data = generate(tmp / "synth", SynthConfig(num=args.records, seed=0), progress=False)
        recipe = load_recipe(None, [f"models.teacher.name_or_path={model_dir}", "models.teacher.backend=hf",
                                    f"teach.max_new_tokens={args.max_new_tokens}", "teach.temperature=1.0"])
        backend = make_backend(recipe.models.teacher)
        reqs = _requests(data, recipe, args.n)
        # min_new_tokens is not ours to set: force equal work by letting every mode decode to the
        # same cap; the untrained tiny model rarely stops early, and tokens are reported below.
        backend.generate([_with_n(reqs[0], 1)])  # warm-up (first-call allocations, lazy imports)

        def tokens(results):
            return sum(g.num_tokens for r in results for g in r.generations)

        counted: dict[str, int] = {}

        def sequential():
            out = []
            for r in reqs:
                for k in range(args.n):
                    out += backend.generate([_with_n(r, 1, seed_offset=k)])
            counted["sequential"] = tokens(out)

        def batched():
            out = []
            for r in reqs:
                out += backend.generate([r])
            counted["batched"] = tokens(out)

        def batched_b():
            out = []
            for i in range(0, len(reqs), args.batch_records):
                out += backend.generate(reqs[i:i + args.batch_records])
            counted["batched_b"] = tokens(out)

        rows = [("sequential (n calls of n=1)", "sequential", _time(sequential, args.repeats)),
                (f"batched (1 call, n={args.n})", "batched", _time(batched, args.repeats)),
                (f"batched x {args.batch_records} records per call", "batched_b", _time(batched_b, args.repeats))]

    base = rows[0][2]
    print(f"tiny teacher, hf backend, {args.records} records, n={args.n}, max_new_tokens={args.max_new_tokens}, "
          f"torch threads={args.threads}, median of {args.repeats}")
    print(f"{'mode':<36} {'records/s':>10} {'tokens':>8} {'speed-up':>9}")
    for label, key, sec in rows:
        print(f"{label:<36} {args.records / sec:>10.2f} {counted[key]:>8d} {base / sec:>8.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
