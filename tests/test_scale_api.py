"""The API verifier at scale: rate limits, the response cache and the usage summary of the ``openai``
backend, against :mod:`sightsound.serve` (real HTTP on 127.0.0.1, the tiny Qwen2-Audio behind it)
with injected faults (429 with Retry-After, 500, a hang)."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from verify_world import write_world

from sightsound.backends.base import GenerationRequest, SamplingParams, make_backend
from sightsound.backends.openai_backend import OpenAIBackend, RateLimiter, estimate_prompt_tokens
from sightsound.config import ConfigError, ModelSpec, load_recipe
from sightsound.jsonl import read_json, read_jsonl
from sightsound.testing.fault_server import FaultPlan, serve_backend

MODEL = "tiny-verifier"
FAST = {"max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 20.0}


@pytest.fixture(scope="module")
def student(tiny_models_dir):
    return make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "student"), backend="hf"), progress=False)


def _req(rid: str, text: str, seconds: float = 0.5, seed: int | None = 0, temperature: float = 1.0,
         max_new_tokens: int = 3) -> GenerationRequest:
    t = np.arange(int(16000 * seconds)) / 16000
    return GenerationRequest(id=rid, text=text, audio=(0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32),
                             sampling=SamplingParams(n=1, temperature=temperature, max_new_tokens=max_new_tokens,
                                                     seed=seed))


def _client(server, name: str = MODEL, **overrides) -> OpenAIBackend:
    spec = ModelSpec(name_or_path=name, backend="openai", base_url=server.base_url, **{**FAST, **overrides})
    return OpenAIBackend(spec, progress=False)


def _arrivals(server, marker: str) -> list[float]:
    return [e.arrived for e in server.log if marker in e.text]


# ------------------------------------------------------------------------------------ rate limits
def test_requests_per_minute_are_spaced_out(student):
    reqs = [_req(f"r{i}", f"RPM {i}") for i in range(8)]
    with serve_backend(student, model_name=MODEL) as server:
        start = time.monotonic()
        results = _client(server, rate_limit_rpm=240, max_concurrency=8).generate(reqs)
    assert all(r.ok for r in results)
    t = sorted(_arrivals(server, "RPM"))
    # 240/min = 4/s with a one-second burst of 4: requests 4..7 are admitted one per 0.25 s after
    # the burst, so the k-th arrival cannot come before (k - 3) * 0.25 s. Only lower bounds on
    # arrivals: a loaded machine delays a request between admission and arrival, never advances it
    # (test_rate_limiter_schedule checks the exact schedule on a simulated clock).
    shown = [round(x - start, 3) for x in t]
    assert all(t[k] - start >= (k - 3) * 0.25 - 0.02 for k in range(4, 8)), shown


def test_rate_limiter_schedule(monkeypatch):
    """The admission times themselves, on a simulated clock: bursts, steady rate, token debt, pause."""
    now = [0.0]

    async def sleep(seconds):
        now[0] += seconds

    monkeypatch.setattr(asyncio, "sleep", sleep)

    def admitted(limiter, costs, pause_at=None):
        async def go():
            times = []
            for i, cost in enumerate(costs):
                if i == pause_at:
                    limiter.pause(2.0)
                await limiter.acquire(cost)
                times.append(round(now[0], 6))
            return times

        return asyncio.run(go())

    # 240 rpm: a burst of 4, then one per 0.25 s.
    assert admitted(RateLimiter(240, None, clock=lambda: now[0]), [1] * 7) == [0, 0, 0, 0, 0.25, 0.5, 0.75]
    # 6000 tpm = 100 tokens/s, bucket 100: a 250-token call goes when the bucket is full, and its debt
    # holds the next one back until it is paid (2.5 s of budget in all).
    now[0] = 0.0
    assert admitted(RateLimiter(None, 6000, clock=lambda: now[0]), [50, 50, 250, 10]) == [0, 0, 1.0, 2.6]
    # A Retry-After of 2 s holds the next call even though the buckets have room.
    now[0] = 0.0
    assert admitted(RateLimiter(600, None, clock=lambda: now[0]), [1, 1, 1], pause_at=1) == [0, 2.0, 2.0]


def test_tokens_per_minute_are_spaced_out_and_settled_with_the_reported_usage(student):
    reqs = [_req(f"t{i}", f"TPM {i}", seconds=1.0) for i in range(5)]
    cost = estimate_prompt_tokens(reqs[0]) + 1  # at least one completion token each
    tpm = cost * 60 * 4  # four cheapest calls a second; the bucket holds one second
    with serve_backend(student, model_name=MODEL) as server:
        backend = _client(server, rate_limit_tpm=tpm, max_concurrency=8)
        # The backend's own limiter, watched: when each call was admitted, and what it was settled with.
        admitted, settled, acquire, settle = [], [], backend.limiter.acquire, backend.limiter.settle

        async def watched_acquire(tokens):
            await acquire(tokens)
            admitted.append(time.monotonic())

        def watched_settle(estimated, actual):
            settled.append((estimated, actual))
            settle(estimated, actual)

        backend.limiter.acquire, backend.limiter.settle = watched_acquire, watched_settle
        start = time.monotonic()
        results = backend.generate(reqs)
    assert all(r.ok for r in results)
    rate, cap = tpm / 60.0, tpm / 60.0
    bound = [max(0.0, ((k + 1) * cost - cap) / rate) for k in range(5)]  # the burst, then one per 0.25 s
    # Admission times, not server arrivals: measured from the first arrival, this failed once on a
    # loaded machine, where the burst's connections reached the server 0.23 s after their admission.
    assert all(a - admitted[0] >= b - 0.01 for a, b in zip(admitted, bound)), [round(a - start, 3) for a in admitted]
    t = sorted(_arrivals(server, "TPM"))  # a call arrives after its admission, never before
    assert all(x - start >= b - 0.01 for x, b in zip(t, bound)), [round(x - start, 3) for x in t]
    assert backend.usage()["rate_limit_wait_s"] > 0
    # Each call was admitted on an estimate (prompt estimate + max_new_tokens 3) and settled with the
    # completion tokens the server reported (sightsound.serve reports no prompt tokens: the estimate stands).
    usage = backend.usage()
    assert [estimated for estimated, _ in settled] == [cost + 2] * 5 and usage["prompt_tokens"] == 0
    assert sum(actual for _, actual in settled) == 5 * (cost - 1) + usage["completion_tokens"]
    with pytest.raises(ConfigError, match="rate_limit_tpm must be > 0"):
        RateLimiter(None, 0)


def test_retry_after_holds_every_call_and_a_500_retries_on_its_own_backoff(student):
    plan = FaultPlan(by_text={"LIMITED": ["429"], "BROKEN": ["500"]}, retry_after_s=0.6)
    # One call at a time: LIMITED gets its 429, then NEXT would go at once if only LIMITED waited.
    reqs = [_req("a", "LIMITED first"), _req("b", "NEXT second"), _req("c", "BROKEN third")]
    with serve_backend(student, model_name=MODEL, faults=plan) as server:
        backend = _client(server, max_concurrency=1)
        results = backend.generate(reqs)
    assert all(r.ok for r in results), [r.error for r in results]
    limited, nxt, broken = _arrivals(server, "LIMITED"), _arrivals(server, "NEXT"), _arrivals(server, "BROKEN")
    assert len(limited) == 2 and limited[1] - limited[0] >= 0.59
    assert nxt[0] - limited[0] >= 0.59  # the other call honoured the server's Retry-After too
    assert len(broken) == 2 and broken[1] - broken[0] < 0.3  # no Retry-After: our 0.05 s backoff
    usage = backend.usage()
    assert usage["requests"] == len(server.log) == 5
    assert usage["rate_limited"] == 1 and usage["retries"] == 2 and usage["failed_calls"] == 0
    assert usage["input_audio_s"] == pytest.approx(5 * 0.5)
    assert usage["completion_tokens"] == sum(g.num_tokens for r in results for g in r.generations)


# ------------------------------------------------------------------------------------------ cache
def test_cache_rerun_pays_only_for_unfinished_items_and_never_crosses_model_or_prompt(student, tmp_path):
    cache = str(tmp_path / "cache" / "api.sqlite")
    reqs = [_req(f"c{i}", f"CACHED {i}") for i in range(4)] + [_req("h", "HANGS once")]
    plan = FaultPlan(by_text={"HANGS": ["hang"]}, hang_s=10.0)
    with serve_backend(student, faults=plan) as server:  # serves any model name
        # The hang (10 s) outlasts the timeout; the timeout leaves room for a loaded machine.
        first = _client(server, cache_path=cache, timeout_s=3.0, max_retries=0).generate(reqs)
        assert [r.ok for r in first] == [True] * 4 + [False] and first[4].error.startswith("timeout")
        before = len(server.log)
        rerun_backend = _client(server, cache_path=cache)
        rerun = rerun_backend.generate(reqs)
        sent = [e.text for e in server.log[before:]]
        # Only the item that did not finish was asked again; the others came from the cache, identical.
        assert sent == ["HANGS once"]
        assert [r.generations for r in rerun[:4]] == [r.generations for r in first[:4]] and rerun[4].ok
        assert rerun_backend.usage()["cache_hits"] == 4 and rerun_backend.usage()["requests"] == 1

        # Another model, another prompt, another sampling setting or another clip: never served from the cache.
        before = len(server.log)
        _client(server, name="another-model", cache_path=cache).generate(reqs[:1])
        _client(server, cache_path=cache).generate([_req("p", "CACHED 0, reworded"), _req("s", "CACHED 0", seed=1),
                                                    _req("a", "CACHED 0", seconds=0.6)])
        assert len(server.log) - before == 4
        # An unseeded sample is a new draw each time: not cached; a greedy one is.
        before = len(server.log)
        for _ in range(2):
            _client(server, cache_path=cache).generate([_req("u", "UNSEEDED", seed=None),
                                                        _req("g", "GREEDY", seed=None, temperature=0.0)])
        # (The two requests of a call go concurrently: compare without their order.)
        assert sorted(e.text for e in server.log[before:]) == ["GREEDY", "UNSEEDED", "UNSEEDED"]


def test_verify_stage_stats_carry_the_usage_and_a_changed_recipe_reuses_the_cache(student, tmp_path):
    from sightsound.verify import stats_path, verify

    world = write_world(tmp_path / "world")
    with serve_backend(student, model_name=MODEL, faults=FaultPlan(sequence=["429", "500"])) as server:
        base = ["models.verifier.backend=openai", f"models.verifier.name_or_path={MODEL}",
                f"models.verifier.base_url={server.base_url}", "models.verifier.backoff_base_s=0.01",
                f"models.verifier.cache_path={tmp_path / 'api.sqlite'}", "verify.max_new_tokens=4"]
        stats = verify(load_recipe(None, base), world["traces"], tmp_path / "v1.jsonl", progress=False)
        first = len(server.log)
        # A recipe change that does not change the requests (how the reply is read) pays nothing again.
        again = verify(load_recipe(None, [*base, "verify.verdict=final"]), world["traces"], tmp_path / "v2.jsonl",
                       progress=False)
        assert len(server.log) == first
    usage = read_json(stats_path(tmp_path / "v1.jsonl"))["api_usage"]
    assert usage == stats["api_usage"]
    # 9 samples with readable audio (r2's is missing), 2 injected faults retried.
    assert usage["requests"] == first == 11 and usage["retries"] == 2 and usage["rate_limited"] == 1
    assert usage["input_audio_s"] > 0 and usage["completion_tokens"] > 0
    assert again["api_usage"]["requests"] == 0 and again["api_usage"]["cache_hits"] == 9
    replies = lambda p: {r["key"]: r["replies"] for r in read_jsonl(p)}
    assert replies(tmp_path / "v1.jsonl") == replies(tmp_path / "v2.jsonl")
    assert json.loads((tmp_path / "v2.stats.json").read_text())["api_usage"]["cache_hits"] == 9
