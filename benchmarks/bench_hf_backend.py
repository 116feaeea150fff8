"""``hf`` backend: 8 requests x n=4 in one batched call vs one call per sample.

    python benchmarks/bench_hf_backend.py [--requests 8] [--n 4] [--max-new-tokens 32] [--threads 1]
                                          [--roles teacher student] [--models DIR] [--repeats 3]

Builds the tiny teacher (Qwen2.5-VL, 4 frames per request) and student (Qwen2-Audio, 2 s of audio)
offline in a temporary folder, or takes ``--models DIR`` from ``sightsound tiny-models``. For each
it times the real :class:`~sightsound.backends.hf.HFBackend` two ways:

* batched: one ``generate`` call with all requests, each asking for n samples (left padding,
  ``num_return_sequences=n``: one prefill per prompt, n*requests rows decoded together);
* per sample: requests x n calls, each one request asking for one sample.

Prints the median wall time of each, the generated tokens (random tiny models stop at random, so
tokens/s is the fair rate) and the ratio per-sample / batched.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _requests(role: str, count: int, n: int, max_new_tokens: int, seed: int):
    import numpy as np
    from PIL import Image

    from sightsound.backends.base import GenerationRequest, SamplingParams

    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    out = []
    for i in range(count):
        sp = SamplingParams(n=n, temperature=1.0, max_new_tokens=max_new_tokens, seed=seed)
        if role == "teacher":
            frames = [Image.fromarray(rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)) for _ in range(4)]
            out.append(GenerationRequest(id=f"r{i}", text=f"Which object sounds first? ({i})", images=frames,
                                         sampling=sp))
        else:
            audio = (0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t)).astype(np.float32)
            out.append(GenerationRequest(id=f"r{i}", text=f"What do you hear? ({i})", audio=audio, sampling=sp))
    return out


def _one_sample(req):
    from dataclasses import replace

    return replace(req, sampling=replace(req.sampling, n=1))


def _time(fn, repeats: int) -> tuple[float, int]:
    times, tokens = [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = fn()
        times.append(time.perf_counter() - t0)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        tokens = sum(g.num_tokens for r in results for g in r.generations)
    return statistics.median(times), tokens


def bench(role: str, model_dir: Path, args) -> dict:
    from sightsound.backends.base import make_backend
    from sightsound.config import ModelSpec

    backend = make_backend(ModelSpec(name_or_path=str(model_dir), batch_size=args.requests), progress=False)
    reqs = _requests(role, args.requests, args.n, args.max_new_tokens, args.seed)
    singles = [_one_sample(r) for r in reqs for _ in range(args.n)]
    backend.generate(reqs[:1])  # warm-up (first-call allocations)
    batched_s, batched_tok = _time(lambda: backend.generate(reqs), args.repeats)
    single_s, single_tok = _time(lambda: [res for r in singles for res in backend.generate([r])], args.repeats)
    return {"role": role, "batched_s": batched_s, "batched_tok": batched_tok,
            "single_s": single_s, "single_tok": single_tok}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: comparable on a shared machine)")
    p.add_argument("--roles", nargs="+", default=["teacher", "student"], choices=["teacher", "student", "omni"])
    p.add_argument("--models", help="a `sightsound tiny-models` folder (default: build one in a temp dir)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        models = Path(args.models) if args.models else Path(tmp)
        if not args.models:
            from sightsound.models.tiny import build_tiny_models

            build_tiny_models(models, seed=0, roles=args.roles)
        print(f"hf backend, {args.requests} requests x n={args.n}, max_new_tokens={args.max_new_tokens}, "
              f"torch threads={args.threads}, device={'cuda' if torch.cuda.is_available() else 'cpu'}")
        print(f"{'model':<8} {'batched s':>10} {'tok/s':>8} {'per-sample s':>13} {'tok/s':>8} {'ratio':>6}")
        for role in args.roles:
            r = bench(role, models / role, args)
            ratio = r["single_s"] / r["batched_s"]
            print(f"{role:<8} {r['batched_s']:>10.2f} {r['batched_tok'] / r['batched_s']:>8.0f} "
                  f"{r['single_s']:>13.2f} {r['single_tok'] / r['single_s']:>8.0f} {ratio:>5.1f}x")


if __name__ == "__main__":
    main()
