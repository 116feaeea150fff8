"""The ``openai`` backend against a real HTTP server on 127.0.0.1 backed by a tiny model.

Every test below goes through the official ``openai`` client, real sockets and
:mod:`sightsound.serve` in front of the ``hf`` backend over the tiny Qwen2-Audio / Qwen2.5-VL
models (built offline). Faults are injected by the server
(:class:`~sightsound.testing.fault_server.FaultPlan`), keyed by a marker in the request text so they
hit the request a test means under concurrency.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import time
import uuid

import numpy as np
import pytest
from PIL import Image

from sightsound.backends.base import GenerationRequest, SamplingParams, make_backend
from sightsound.backends.openai_backend import (
    MAX_RETRY_AFTER_S,
    OpenAIBackend,
    backoff_delay,
    image_data_url,
    openai_chat_messages,
    parse_retry_after,
    public_url,
    scrub,
    wav_base64,
)
from sightsound.config import ConfigError, ModelSpec, Recipe
from sightsound.serve import decode_image_url, decode_input_audio, parse_chat_request
from sightsound.testing.fault_server import FaultPlan, serve_backend

MODEL = "tiny-student"
FAST = {"max_retries": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 20.0}


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def student(tiny_models_dir):
    """The hf backend over the tiny Qwen2-Audio: what the server serves."""
    return make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "student"), backend="hf"), progress=False)


@pytest.fixture(scope="module")
def teacher(tiny_models_dir):
    return make_backend(ModelSpec(name_or_path=str(tiny_models_dir / "teacher"), backend="hf"), progress=False)


def tone(seconds: float = 1.0, freq: float = 440.0, sr: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def frames(k: int = 2, size=(56, 56)) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)) for _ in range(k)]


def audio_request(rid: str, text: str = "What do you hear?", n: int = 1, seed: int | None = 0,
                  max_new_tokens: int = 6, temperature: float = 1.0) -> GenerationRequest:
    return GenerationRequest(id=rid, text=text, audio=tone(), sampling=SamplingParams(
        n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed))


def client(server, **overrides) -> OpenAIBackend:
    spec = ModelSpec(name_or_path=MODEL, backend="openai", base_url=server.base_url,
                     **{**FAST, **overrides})
    return OpenAIBackend(spec, progress=False)


def served(server, marker: str) -> list:
    return [e for e in server.log if marker in e.text]


# -------------------------------------------------------------------------------------- happy path
def test_tiny_student_over_http_matches_the_model_itself(student):
    """n samples per request come back over HTTP exactly as the hf backend makes them."""
    reqs = [audio_request(f"r{i}", text=f"Question {i}: what sounds?", n=2, seed=10 + i) for i in range(3)]
    with serve_backend(student, model_name=MODEL) as server:
        # Concurrency 1: the server then runs each request alone, as the direct calls below do.
        results = client(server, max_concurrency=1).generate(reqs)
    assert [r.request_id for r in results] == ["r0", "r1", "r2"]
    assert all(r.ok for r in results), [r.error for r in results]
    assert [e.status for e in server.log] == [200, 200, 200]
    assert all(e.has_audio and e.n == 2 for e in server.log)
    for req, res in zip(reqs, results):
        # What the server decoded from the wav part (16-bit PCM), given straight to the model.
        received = decode_input_audio({"data": wav_base64(req.audio, 16000), "format": "wav"})
        direct = GenerationRequest(id=req.id, text=req.text, audio=received, sampling=req.sampling)
        [expected] = student.generate([direct])
        assert len(res.generations) == 2
        assert [g.text for g in res.generations] == [g.text for g in expected.generations]
        assert [g.finish_reason for g in res.generations] == [g.finish_reason for g in expected.generations]
        assert [g.num_tokens for g in res.generations] == [g.num_tokens for g in expected.generations]
        assert all(0 < g.num_tokens <= 6 for g in res.generations)


def test_tiny_teacher_frames_over_http(teacher):
    """Frames travel as PNG data URLs (lossless): the served teacher gives the model's own outputs."""
    req = GenerationRequest(id="v0", text="Which object sounds?", images=frames(2),
                            sampling=SamplingParams(n=3, temperature=1.0, max_new_tokens=5, seed=3))
    with serve_backend(teacher, model_name=MODEL) as server:
        [res] = client(server).generate([req])
    assert res.ok, res.error
    assert server.log[0].num_images == 2 and not server.log[0].has_audio
    [expected] = teacher.generate([req])
    assert [g.text for g in res.generations] == [g.text for g in expected.generations]


def test_generate_works_inside_a_running_event_loop(student):
    with serve_backend(student, model_name=MODEL) as server:
        backend = client(server)

        async def caller():
            return backend.generate([audio_request("a"), audio_request("b")])

        results = asyncio.run(caller())
    assert [r.ok for r in results] == [True, True]


def test_concurrency_is_bounded_by_max_concurrency(student):
    reqs = [audio_request(f"c{i}", f"concurrent {i}") for i in range(6)]
    with serve_backend(student, model_name=MODEL, latency_s=0.3) as server:
        started = time.monotonic()
        results = client(server, max_concurrency=2).generate(reqs)
        elapsed = time.monotonic() - started
    assert all(r.ok for r in results)
    assert server.max_in_flight == 2
    assert elapsed >= 3 * 0.3  # 6 requests, 2 at a time, each waits 0.3 s


def test_requests_that_cannot_be_sent_fail_alone_without_a_call(student):
    stereo = GenerationRequest(id="stereo", text="x", audio=np.zeros((800, 2), np.float32))
    zero_n = audio_request("zero", "no samples", n=0)
    with serve_backend(student, model_name=MODEL) as server:
        backend = client(server)
        assert backend.generate([]) == []
        results = backend.generate([audio_request("ok", "fine"), stereo, zero_n])
    assert results[0].ok
    assert results[1].error.startswith("bad_request: cannot encode media") and "mono" in results[1].error
    assert results[2].error.startswith("bad_request: n must be >= 1")
    assert [e.text for e in server.log] == ["fine"]


# ------------------------------------------------------------------------------------------ faults
def test_retries_on_429_500_malformed_empty_and_dropped_connection_then_succeed(student):
    plan = FaultPlan(by_text={"RATE": ["429", "429"], "ERR": ["500", "503"], "BROKEN": ["malformed"],
                              "EMPTY": ["empty"], "DROP": ["drop"]}, retry_after_s=0.5)
    markers = ["RATE", "ERR", "BROKEN", "EMPTY", "DROP", "CLEAN"]
    reqs = [audio_request(m, text=f"{m} what do you hear?") for m in markers]
    with serve_backend(student, model_name=MODEL, faults=plan) as server:
        results = client(server).generate(reqs)
    assert [r.request_id for r in results] == markers
    assert all(r.ok and len(r.generations) == 1 for r in results), [r.error for r in results]
    expect = {"RATE": ["429", "429", None], "ERR": ["500", "503", None], "BROKEN": ["malformed", None],
              "EMPTY": ["empty", None], "DROP": ["drop", None], "CLEAN": [None]}
    for m, faults in expect.items():
        seen = served(server, m)
        assert [e.fault for e in seen] == faults, m
        assert seen[-1].status == 200
    # Retry-After: 0.5 s was honoured although our own backoff is at most 0.05 s.
    rate = served(server, "RATE")
    gaps = [b.arrived - a.arrived for a, b in itertools.pairwise(rate)]
    assert min(gaps) >= 0.49, gaps
    # (A 429's Retry-After now holds every call of the backend: test_scale_api.py checks that pause,
    # and that a 500 without Retry-After retries after the short backoff alone.)


def test_final_failures_are_records_and_the_batch_completes(student, caplog):
    plan = FaultPlan(by_text={"DOWN": ["500"] * 10, "FLAKY": ["503"]})
    reqs = [audio_request("ok1", "fine 1"), audio_request("down", "DOWN always"),
            audio_request("flaky", "FLAKY once"), audio_request("ok2", "fine 2")]
    with serve_backend(student, model_name=MODEL, faults=plan) as server:
        results = client(server, max_retries=2).generate(reqs)
        # A wrong model name is a client error: reported at once, not retried.
        wrong = OpenAIBackend(ModelSpec(name_or_path="no-such-model", backend="openai",
                                        base_url=server.base_url, **FAST), progress=False)
        [missing] = wrong.generate([audio_request("m", "which model?")])
    by_id = {r.request_id: r for r in results}
    assert [r.request_id for r in results] == ["ok1", "down", "flaky", "ok2"]
    assert by_id["ok1"].ok and by_id["ok2"].ok and by_id["flaky"].ok
    down = by_id["down"]
    assert not down.ok and down.generations == []
    assert down.error.startswith("server_error: HTTP 500") and "after 3 attempts" in down.error
    assert len(served(server, "DOWN")) == 3  # 1 try + max_retries=2
    assert missing.error.startswith("client_error: HTTP 404") and "after 1 attempt" in missing.error
    assert len(served(server, "which model?")) == 1
    assert any("request down failed" in r.getMessage() for r in caplog.records)


def test_a_hang_past_the_client_timeout_is_retried_then_recorded(student):
    # A 2 s client timeout: room for a real generation on a loaded machine (0.5 s was not: "ok" timed
    # out beside a training job), far below the 30 s hang.
    plan = FaultPlan(by_text={"HANG_ONCE": ["hang"], "HANG_ALWAYS": ["hang"] * 5}, hang_s=30.0)
    reqs = [audio_request("once", "HANG_ONCE"), audio_request("always", "HANG_ALWAYS"), audio_request("ok", "fine")]
    started = time.monotonic()
    with serve_backend(student, model_name=MODEL, faults=plan) as server:
        results = client(server, timeout_s=2.0, max_retries=1).generate(reqs)
    elapsed = time.monotonic() - started
    once, always, ok = results
    assert once.ok and ok.ok
    assert not always.ok and always.error.startswith("timeout") and "after 2 attempts" in always.error
    assert [e.fault for e in served(server, "HANG_ALWAYS")] == ["hang", "hang"]
    assert elapsed < 15, elapsed  # two 2 s timeouts, not the 30 s hang


def test_n_rejected_falls_back_to_one_call_per_sample_with_distinct_seeds(student):
    with serve_backend(student, model_name=MODEL, max_n=1) as server:
        [res] = client(server).generate([audio_request("n3", "three samples", n=3, seed=7)])
        [again] = client(server, n_mode="native").generate([audio_request("nat", "native only", n=2, seed=7)])
    assert res.ok and len(res.generations) == 3, res.error
    seen = served(server, "three samples")
    assert [(e.n, e.status) for e in seen[:1]] == [(3, 400)]
    assert sorted((e.n, e.seed, e.status) for e in seen[1:]) == [(1, 7, 200), (1, 8, 200), (1, 9, 200)]
    assert not again.ok and again.error.startswith("client_error: HTTP 400")


# ----------------------------------------------------------------------------------------- secrets
def test_api_key_never_lands_in_logs_files_or_errors(student, tmp_path, caplog, capfd, monkeypatch):
    from sightsound.jsonl import JsonlWriter, atomic_write_json
    from sightsound.runinfo import write_resolved_config

    key = f"sk-sightsound-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("SIGHTSOUND_TEST_API_KEY", key)
    caplog.set_level(logging.DEBUG)  # the openai and http client libraries' debug logs too
    plan = FaultPlan(by_text={"ECHO": ["echo_auth"], "RETRY": ["429", "500"]}, retry_after_s=0.01)
    with serve_backend(student, model_name=MODEL, api_key=key, faults=plan) as server:
        backend = client(server, api_key_env="SIGHTSOUND_TEST_API_KEY", max_retries=2)
        reqs = [audio_request("a", "plain"), audio_request("b", "RETRY then fine"), audio_request("c", "ECHO my key")]
        results = backend.generate(reqs)
        # The key is really in use: the server accepts only it.
        wrong = client(server, api_key_env="SIGHTSOUND_NO_SUCH_VAR")
        [denied] = wrong.generate([audio_request("d", "no key")])
    assert results[0].ok and results[1].ok
    assert "***" in results[2].error and "Authorization: Bearer" in results[2].error
    assert denied.error.startswith("client_error: HTTP 401")

    # Write what a stage writes: results, the backend's identity, the resolved config.
    recipe = Recipe()
    recipe.models.verifier = backend.spec
    with JsonlWriter(tmp_path / "out.jsonl") as w:
        for r in results + [denied]:
            w.write({"id": r.request_id, "error": r.error, "texts": [g.text for g in r.generations]})
    atomic_write_json(tmp_path / "backend.json", backend.describe())
    write_resolved_config(recipe, tmp_path)

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 3
    for path in files:
        assert key not in path.read_text(encoding="utf-8", errors="replace"), path
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "request c failed" in logged and len(caplog.records) > 5
    assert key not in logged and key not in caplog.text
    out, err = capfd.readouterr()
    assert key not in out and key not in err
    assert backend.describe()["api_key_env"] == "SIGHTSOUND_TEST_API_KEY"
    assert key not in repr(backend.__dict__)


def test_scrub_and_public_url():
    assert scrub("token sk-abcdef123 rejected", ["sk-abcdef123"]) == "token *** rejected"
    assert scrub("nothing here", [None, ""]) == "nothing here"
    assert public_url("https://user:sk-secret@host.example:8443/v1?api-key=sk-secret") == "https://host.example:8443/v1"
    assert public_url(None) is None


def test_openai_proper_without_a_key_is_a_config_error(monkeypatch):
    monkeypatch.delenv("SIGHTSOUND_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SIGHTSOUND_UNSET_KEY"):
        OpenAIBackend(ModelSpec(name_or_path="gpt-4o-audio-preview", backend="openai",
                                api_key_env="SIGHTSOUND_UNSET_KEY"))


# -------------------------------------------------------------------------------- encoding, backoff
def test_messages_put_media_before_text_and_round_trip():
    imgs = frames(2)
    audio = tone(0.5)
    req = GenerationRequest(id="x", text="Which?", images=imgs, audio=audio, system="Be brief.")
    messages = openai_chat_messages(req)
    assert messages[0] == {"role": "system", "content": "Be brief."}
    parts = messages[1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "input_audio", "text"]
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert np.array_equal(np.asarray(decode_image_url(parts[1]["image_url"]["url"])), np.asarray(imgs[1]))
    wav = base64.b64decode(parts[2]["input_audio"]["data"])
    assert wav[:4] == b"RIFF" and parts[2]["input_audio"]["format"] == "wav"
    back = decode_input_audio(parts[2]["input_audio"])
    assert back.dtype == np.float32 and back.shape == audio.shape
    assert np.max(np.abs(back - audio)) < 1e-4  # 16-bit PCM
    # And the server's parser turns the body back into the same request.
    parsed = parse_chat_request({"messages": messages, "n": 4, "temperature": 0.5, "seed": 3,
                                 "max_completion_tokens": 9}, "id1")
    assert parsed.system == "Be brief." and parsed.text == "Which?" and len(parsed.images) == 2
    assert (parsed.sampling.n, parsed.sampling.temperature, parsed.sampling.seed,
            parsed.sampling.max_new_tokens) == (4, 0.5, 3, 9)
    jpeg = image_data_url(imgs[0], "jpeg")
    assert jpeg.startswith("data:image/jpeg;base64,") and decode_image_url(jpeg).size == imgs[0].size


def test_audio_at_another_rate_is_resampled_by_the_server():
    audio = tone(1.0, sr=8000)
    back = decode_input_audio({"data": wav_base64(audio, 8000), "format": "wav"})
    assert back.shape == (16000,)


def test_token_counts_without_per_choice_counts_are_shared_by_length():
    from sightsound.backends.openai_backend import _split_total

    assert _split_total(10, ["a" * 30, "b" * 10]) == [7, 3]
    assert _split_total(5, ["", "x" * 100]) == [1, 4]  # every sample has at least its stop token
    assert sum(_split_total(17, ["abc", "de", "f" * 9])) == 17


def test_backoff_grows_is_capped_jittered_and_honours_retry_after():
    import random

    rng = random.Random(0)
    delays = [[backoff_delay(a, 1.0, 8.0, None, rng) for _ in range(200)] for a in range(6)]
    for a, ds in enumerate(delays):
        ceiling = min(8.0, 2.0 ** a)
        assert all(ceiling / 2 <= d <= ceiling for d in ds)
        assert len({round(d, 6) for d in ds}) > 100  # jittered, not lockstep
    assert backoff_delay(0, 1.0, 8.0, 5.0, rng) >= 5.0
    assert backoff_delay(0, 1.0, 8.0, 1e6, rng) == MAX_RETRY_AFTER_S


def test_parse_retry_after():
    import email.utils

    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after({"retry-after": when}) <= 31


def test_server_rejects_what_it_cannot_decode():
    from sightsound.serve import BadRequest

    with pytest.raises(BadRequest, match="data:image"):
        parse_chat_request({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://example.com/x.png"}}]}]}, "1")
    with pytest.raises(BadRequest, match="one user message"):
        parse_chat_request({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "1")
    with pytest.raises(BadRequest, match="n must be an integer"):
        parse_chat_request({"messages": [{"role": "user", "content": "a"}], "n": "4"}, "1")
    with pytest.raises(BadRequest, match="input_audio"):
        parse_chat_request({"messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"junk").decode(), "format": "wav"}}]}]}, "1")


def test_fault_plan_refuses_unknown_kinds():
    with pytest.raises(ValueError, match="unknown fault"):
        FaultPlan(sequence=["418"])
