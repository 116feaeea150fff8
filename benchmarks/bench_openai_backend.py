"""``openai`` backend throughput at concurrency 1 vs 8 against a local server with fixed latency.

    python benchmarks/bench_openai_backend.py [--requests 16] [--n 4] [--latency-s 0.25] [--threads 1]

Builds the tiny Qwen2-Audio student offline in a temporary folder (or takes ``--model DIR``),
serves it with :mod:`sightsound.serve` on 127.0.0.1 with a fixed artificial latency per request
(standing in for the network and queueing time of a remote vLLM/OpenAI endpoint), and times the
real :class:`~sightsound.backends.openai_backend.OpenAIBackend` sending the same audio requests
(n samples each) with ``max_concurrency`` 1 and 8. Prints requests/s and samples/s for each and
the ratio. At concurrency 1 every request pays latency + model time in turn; at 8 the latencies
overlap and the server batches the requests that arrive together into one ``generate`` call, as
vLLM does. Bounded concurrency pays off whenever the endpoint's latency dominates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def _requests(count: int, n: int, max_new_tokens: int):
    import numpy as np

    from sightsound.backends.base import GenerationRequest, SamplingParams

    t = np.arange(16000) / 16000
    out = []
    for i in range(count):
        wave = (0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t)).astype(np.float32)
        # One shared seed: the server may batch concurrent requests into one generate call.
        out.append(GenerationRequest(id=f"bench-{i}", text=f"Question {i}: which object makes the sound?",
                                     audio=wave, sampling=SamplingParams(n=n, temperature=1.0,
                                                                         max_new_tokens=max_new_tokens, seed=0)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a student model directory (default: build the tiny one)")
    p.add_argument("--requests", type=int, default=16)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--latency-s", type=float, default=0.25, help="artificial latency per request")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per setting (median reported)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from sightsound.backends.base import make_backend
    from sightsound.backends.openai_backend import OpenAIBackend
    from sightsound.config import ModelSpec
    from sightsound.serve import serve_backend

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from sightsound.models.tiny import build_tiny_model

            model_dir = str(build_tiny_model("student", Path(tmp) / "student", seed=0))
        hf = make_backend(ModelSpec(name_or_path=model_dir, backend="hf"), progress=False)
        reqs = _requests(args.requests, args.n, args.max_new_tokens)
        rows = []
        with serve_backend(hf, model_name="bench", latency_s=args.latency_s) as server:
            for conc in args.concurrency:
                spec = ModelSpec(name_or_path="bench", backend="openai", base_url=server.base_url,
                                 max_concurrency=conc, max_retries=0, timeout_s=120.0)
                backend = OpenAIBackend(spec, progress=False)
                backend.generate(reqs[:2])  # warm-up: connection, first forward pass
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    results = backend.generate(reqs)
                    times.append(time.perf_counter() - t0)
                    failed = [r.error for r in results if not r.ok]
                    if failed:
                        raise SystemExit(f"benchmark requests failed: {failed[:3]}")
                secs = statistics.median(times)
                rows.append({"concurrency": conc, "seconds": secs, "requests_per_s": len(reqs) / secs,
                             "samples_per_s": len(reqs) * args.n / secs})

    print(f"openai backend -> local server (tiny Qwen2-Audio), {args.requests} requests x n={args.n}, "
          f"{args.max_new_tokens} new tokens, artificial latency {args.latency_s:.3f} s, "
          f"torch threads {args.threads}")
    print(f"{'concurrency':>12} {'seconds':>9} {'req/s':>8} {'samples/s':>10}")
    for r in rows:
        print(f"{r['concurrency']:>12} {r['seconds']:>9.3f} {r['requests_per_s']:>8.2f} {r['samples_per_s']:>10.2f}")
    base = rows[0]
    for r in rows[1:]:
        print(f"throughput ratio concurrency {r['concurrency']} / {base['concurrency']}: "
              f"{r['requests_per_s'] / base['requests_per_s']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
