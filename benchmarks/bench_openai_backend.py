"""``openai`` backend throughput at concurrency 1 vs 8 against a local server with fixed latency.

    python benchmarks/bench_openai_backend.py [--server fixed|tiny] [--requests 16] [--n 1] [--latency-s 0.25]

The server is :mod:`sightsound.serve` in **its own process** on 127.0.0.1 (a remote endpoint is
another process) with a fixed artificial latency per request, standing in for the network and
queueing time of a remote vLLM/OpenAI endpoint. Behind it: ``--server fixed`` (default) answers
every sample at once, so its response time is the latency whatever the load, the case the target
"concurrency 8 vs 1 at fixed server latency" describes; ``--server tiny`` runs the tiny Qwen2-Audio
student (built offline, or ``--model DIR``) through ``sightsound serve``, so its compute on this
CPU adds to every answer. The real :class:`~sightsound.backends.openai_backend.OpenAIBackend` sends
the same audio requests (1 s clips, n samples) with ``max_concurrency`` 1 and 8; printed: requests/s
and samples/s, the ratio, and what a request costs beyond the latency at concurrency 1.

Where the time went (issue 17, 2026-11-30, 2 cores shared with other jobs, load average ~5), from
the old 4.7x (in-process server, tiny model, n=4):

1. Every keep-alive answer of the server stalled ~40 ms: headers and body left in two writes and
   Nagle held the body until the client's delayed ACK. ``serve`` sets TCP_NODELAY now: transport
   per request at concurrency 1 went from 55 ms to 11 ms.
2. Every ``generate`` call built a new HTTP client and with it a TLS context (reading the CA
   bundle): 0.12 s per call, 14 % of a 16-request batch at concurrency 8 (and paid by every batch
   of a stage). The backend now builds the context once.
3. The server, its model and the client shared one process and one GIL (now separate processes).
4. What remains with ``--server tiny`` is the server's compute: on this machine it answers ~17
   requests/s at most even batched (audio decoding, Whisper features and generation per request),
   which caps concurrency 8 near 5x at 0.25 s latency, whatever the client does. A GPU endpoint
   batches 8 requests at almost no extra latency; ``--server fixed`` measures the client alone.
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


class FixedReply:
    """``--server fixed``: a backend that answers every sample "Yes" at once (one token), so the
    server's response time is its artificial latency alone, whatever the load: what a remote
    endpoint with spare capacity looks like to the client. Isolates the client and the transport."""

    name = "fixed"

    def generate(self, requests):
        from sightsound.backends.base import Generation, GenerationResult

        return [GenerationResult(request_id=r.id, generations=[Generation("Yes", 1, "stop")] * r.sampling.n)
                for r in requests]

    def describe(self):
        return {"backend": self.name}


def _serve_fixed(port: int, latency_s: float) -> None:
    """Child process of ``--server fixed``: :mod:`sightsound.serve` in front of :class:`FixedReply`."""
    import threading

    from sightsound.serve import ChatServer

    ChatServer(FixedReply(), model_name="bench", port=port, latency_s=latency_s).start()
    threading.Event().wait()


def _start_server(model_dir: str | None, latency_s: float, threads: int):
    """The server in a child process (``sightsound serve`` of the student, or the fixed-reply one)."""
    import os
    import subprocess
    import sys
    import urllib.request

    port = _free_port()
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    if model_dir is None:
        cmd = [sys.executable, __file__, "--serve-fixed", str(port), "--latency-s", str(latency_s)]
    else:
        cmd = [sys.executable, "-m", "sightsound", "serve", "--role", "student", "--port", str(port),
               "--latency-s", str(latency_s), "--served-model-name", "bench",
               f"models.student.name_or_path={model_dir}", "models.student.backend=hf"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
    p.add_argument("--server", choices=["tiny", "fixed"], default="fixed",
                   help="tiny: the tiny Qwen2-Audio behind sightsound serve; fixed: replies at once after the "
                        "latency (the client and transport alone)")
    p.add_argument("--json", help="also write the numbers to this file")
    p.add_argument("--serve-fixed", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the child process
    args = p.parse_args(argv)
    if args.serve_fixed:
        _serve_fixed(args.serve_fixed, args.latency_s)
        return 0

    from sightsound.backends.openai_backend import OpenAIBackend
    from sightsound.config import ModelSpec

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None and args.server == "tiny":
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

    served = "tiny Qwen2-Audio" if args.server == "tiny" else "fixed reply, no model"
    print(f"openai backend -> sightsound serve (own process, {served}), {args.requests} requests x "
          f"n={args.n}, {args.max_new_tokens} new tokens, artificial latency {args.latency_s:.3f} s, "
          f"server torch threads {args.threads}")
    print(f"{'concurrency':>12} {'seconds':>9} {'req/s':>8} {'samples/s':>10}")
    for r in rows:
        print(f"{r['concurrency']:>12} {r['seconds']:>9.3f} {r['requests_per_s']:>8.2f} {r['samples_per_s']:>10.2f}")
    base = rows[0]
    per_request = base["seconds"] / args.requests
    print(f"at concurrency {base['concurrency']}: {per_request:.3f} s per request = latency {args.latency_s:.3f} s "
          f"+ {per_request - args.latency_s:.3f} s model, transport and client")
    import os

    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for r in rows[1:]:
        r["ratio"] = r["requests_per_s"] / base["requests_per_s"]
        print(f"throughput ratio concurrency {r['concurrency']} / {base['concurrency']}: {r['ratio']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
