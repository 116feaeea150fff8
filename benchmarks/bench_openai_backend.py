"""``openai`` backend throughput at concurrency 1 vs 8 against a local server with fixed latency.

    python benchmarks/bench_openai_backend.py [--requests 16] [--n 1] [--latency-s 0.25] [--threads 1]

Builds the tiny Qwen2-Audio student offline in a temporary folder (or takes ``--model DIR``),
serves it with ``sightsound serve`` in **its own process** on 127.0.0.1 with a fixed artificial
latency per request (standing in for the network and queueing time of a remote vLLM/OpenAI
endpoint), and times the real :class:`~sightsound.backends.openai_backend.OpenAIBackend` sending
the same audio requests with ``max_concurrency`` 1 and 8. Prints requests/s and samples/s for each,
the ratio, and where a request's time goes at concurrency 1 (latency vs the rest).

Where the time went (2026-11-30, 2 shared cores; issue 17), with the old in-process server and n=4:
4.7x. (1) Every keep-alive answer of the server stalled ~40 ms: headers and body left in two writes
and Nagle held the body for the client's delayed ACK (``serve`` now sets TCP_NODELAY): 55 ms of
transport per request at concurrency 1, 11 ms after. (2) The server, its model and the client shared
one process: the model's Python decode loop held the GIL the client and the HTTP threads need; a
remote endpoint is another process, so the server now runs in one. (3) The tiny model on one CPU
thread computes the 8 concurrent requests one batch after another (a GPU server batches them at
almost no extra cost): with n=4 samples of 8 tokens a batch of 8 takes 0.27 s, as long as the
latency itself, which caps the ratio near 5 whatever the client does. The default is therefore the
verifier's request, n=1 (one Yes/No reply per call, the API verifier this benchmark is about);
``--n 4`` shows the teacher-like case where the server's compute, not the client, is the limit.
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(model_dir: str, latency_s: float, threads: int):
    """``sightsound serve`` of the student in a child process; returns (process, base_url)."""
    import os
    import subprocess
    import sys
    import urllib.request

    port = _free_port()
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen([sys.executable, "-m", "sightsound", "serve", "--role", "student", "--port", str(port),
                             "--latency-s", str(latency_s), "--served-model-name", "bench",
                             f"models.student.name_or_path={model_dir}", "models.student.backend=hf"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not come up within 180 s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a student model directory (default: build the tiny one)")
    p.add_argument("--requests", type=int, default=16)
    p.add_argument("--n", type=int, default=1, help="samples per request (1: the verifier's case)")
    p.add_argument("--max-new-tokens", type=int, default=8)
    p.add_argument("--latency-s", type=float, default=0.25, help="artificial latency per request")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeats", type=int, default=2, help="timed repeats per setting (median reported)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads of the server")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)

    from sightsound.backends.openai_backend import OpenAIBackend
    from sightsound.config import ModelSpec

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:
            from sightsound.models.tiny import build_tiny_model

            model_dir = str(build_tiny_model("student", Path(tmp) / "student", seed=0))
        reqs = _requests(args.requests, args.n, args.max_new_tokens)
        rows = []
        server, base_url = _start_server(model_dir, args.latency_s, args.threads)
        try:
            for conc in args.concurrency:
                spec = ModelSpec(name_or_path="bench", backend="openai", base_url=base_url,
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
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"openai backend -> sightsound serve (own process, tiny Qwen2-Audio), {args.requests} requests x "
          f"n={args.n}, {args.max_new_tokens} new tokens, artificial latency {args.latency_s:.3f} s, "
          f"server torch threads {args.threads}")
    print(f"{'concurrency':>12} {'seconds':>9} {'req/s':>8} {'samples/s':>10}")
    for r in rows:
        print(f"{r['concurrency']:>12} {r['seconds']:>9.3f} {r['requests_per_s']:>8.2f} {r['samples_per_s']:>10.2f}")
    base = rows[0]
    per_request = base["seconds"] / args.requests
    print(f"at concurrency {base['concurrency']}: {per_request:.3f} s per request = latency {args.latency_s:.3f} s "
          f"+ {per_request - args.latency_s:.3f} s model, transport and client")
    for r in rows[1:]:
        r["ratio"] = r["requests_per_s"] / base["requests_per_s"]
        print(f"throughput ratio concurrency {r['concurrency']} / {base['concurrency']}: {r['ratio']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
