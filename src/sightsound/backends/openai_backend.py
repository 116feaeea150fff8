"""The ``openai`` backend: any OpenAI-compatible chat-completions endpoint.

One backend for a vLLM server (``vllm serve Qwen/Qwen2.5-VL-32B-Instruct``, Qwen2-Audio), OpenAI's
gpt-4o / gpt-4o-audio-preview, or the local server in :mod:`sightsound.serve`. It goes through the
official ``openai`` client (``AsyncOpenAI``) and adds what a long distillation run needs:

* media in the user turn before the text: frames as one ``video_url`` part holding a silent
  ``data:video/mp4;base64,`` mp4 at ``ModelSpec.video_fps`` (``frames_as: video``; ``auto`` for a
  Qwen2.5-VL endpoint) or as ``image_url`` parts holding base64 PNG/JPEG data URLs
  (``frames_as: images``), audio as an ``input_audio`` part holding a base64 16-bit wav;
* ``n`` samples through the ``n`` parameter, or n separate calls (seed, seed+1, ...) where the
  endpoint rejects ``n > 1`` (``ModelSpec.n_mode``);
* bounded concurrency (``ModelSpec.max_concurrency`` calls in flight);
* our own retries (the client's are switched off, so the count in the config is the count that
  happens): exponential backoff with jitter on 429 (Retry-After honoured), 408/409/5xx, timeouts,
  connection errors and malformed bodies, up to ``ModelSpec.max_retries`` retries;
* a request that still fails becomes ``GenerationResult(error="<kind>: <reason> (after k
  attempts)")``; nothing is raised out of a batch;
* at scale: client-side rate limiting (:class:`RateLimiter`: ``rate_limit_rpm`` requests and
  ``rate_limit_tpm`` tokens per minute; a 429's Retry-After pauses every call of the backend, not
  only the refused one), a response cache (:class:`ResponseCache`, ``cache_path``) keyed by
  (model, request content, sampling) so a rerun does not pay twice, and a usage summary
  (:meth:`OpenAIBackend.usage`: requests, cache hits, retries, input audio seconds, tokens) that
  the stages write into their stats;
* the API key is read from the environment variable named by ``ModelSpec.api_key_env`` when a
  batch starts, and is scrubbed from every error and log line; :meth:`OpenAIBackend.describe`
  records the variable's *name* only.

Usage::

    from sightsound.config import ModelSpec
    from sightsound.backends import GenerationRequest, SamplingParams, make_backend

    spec = ModelSpec(name_or_path="gpt-4o-audio-preview", backend="openai",
                     api_key_env="OPENAI_API_KEY")            # or base_url="http://127.0.0.1:8000/v1"
    backend = make_backend(spec)                               # -> OpenAIBackend
    [res] = backend.generate([GenerationRequest(id="r1", text="What sounds?", audio=wav16k,
                                                sampling=SamplingParams(n=1, temperature=0))])
    res.error or res.generations[0].text

Serving the paper's models with vLLM for this backend: with ``frames_as: video`` the frames arrive
as one video, ``vllm serve Qwen/Qwen2.5-VL-32B-Instruct --limit-mm-per-prompt '{"video": 1}'``;
with ``frames_as: images`` they arrive as several images, and ``vllm serve`` may allow fewer per
prompt than ``teach.max_frames`` unless told, e.g. ``--limit-mm-per-prompt '{"image": 16}'``.
Qwen2-Audio takes its one ``input_audio`` part as is.

``generate`` is synchronous (it runs its own event loop, in a worker thread if the caller is
already inside one); ``agenerate`` is the coroutine.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import email.utils
import hashlib
import io
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from sightsound.backends.interface import Generation, GenerationRequest, GenerationResult, SamplingParams
from sightsound.config import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from sightsound.config import ModelSpec

log = logging.getLogger(__name__)

# A server asking us to wait longer than this is treated as asking for this long: a batch should
# not sleep for an hour on one header.
MAX_RETRY_AFTER_S = 600.0
# Local servers (vLLM without --api-key, sightsound.serve) accept any key; the client insists on one.
PLACEHOLDER_KEY = "EMPTY"
_REASON_MAX_CHARS = 400


# ----------------------------------------------------------------------------------------- media
def _url_key(fmt: str) -> str:
    return f"sightsound.data_url.{fmt}"


def attach_data_urls(images: list[Image.Image] | None, fmt: str = "png") -> None:
    """Encode each image's data URL now and keep it in ``image.info`` (it survives pickling).

    teach's frame-decoding processes call this, so the encoding (as costly as the decoding) runs
    in parallel there instead of one image at a time in the process that talks to the endpoint.
    """
    for image in images or []:
        image.info[_url_key(fmt)] = image_data_url(image, fmt)


def image_data_url(image: Image.Image, fmt: str = "png") -> str:
    """A PIL image as a ``data:image/...;base64,`` URL (PNG is lossless; JPEG is ~10x smaller)."""
    cached = image.info.get(_url_key(fmt))
    if isinstance(cached, str):
        return cached
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=90)
        mime = "image/jpeg"
    elif fmt == "png":
        # Level 1: still lossless, 12 % larger than the default 6 but 4x faster to write (16 frames of a
        # 10 s clip: 0.4 s instead of 1.5 s, more than decoding them); teach would otherwise wait on it.
        image.save(buf, format="PNG", compress_level=1)
        mime = "image/png"
    else:
        raise ValueError(f"image format must be 'png' or 'jpeg', got {fmt!r}")
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def wav_base64(audio: np.ndarray, sample_rate: int) -> str:
    """Mono float audio as base64 of a 16-bit PCM wav (what ``input_audio`` with format wav expects)."""
    import soundfile as sf

    wave = np.asarray(audio, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {wave.shape}")
    buf = io.BytesIO()
    sf.write(buf, np.clip(wave, -1.0, 1.0), int(sample_rate), format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def openai_chat_messages(request: GenerationRequest, image_format: str = "png", frames_as: str = "images",
                         video_fps: float = 2.0) -> list[dict[str, Any]]:
    """The chat-completions messages sent for one request: optional system turn, then one user turn,
    media first as data URLs (local models get chat-template messages: :mod:`sightsound.models.chat`).

    Frames go as one ``video_url`` part (``frames_as="video"``, see :func:`video_part`) or as one
    ``image_url`` part each (``"images"``).
    """
    content: list[dict[str, Any]] = []
    if frames_as == "video" and request.images:
        content.append(video_part(request.images, video_fps))
    else:
        for image in request.images or []:
            content.append({"type": "image_url", "image_url": {"url": image_data_url(image, image_format)}})
    if request.audio is not None:
        content.append({"type": "input_audio",
                        "input_audio": {"data": wav_base64(request.audio, request.sample_rate), "format": "wav"}})
    content.append({"type": "text", "text": request.text})
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.append({"role": "user", "content": content})
    return messages


def video_data_url(frames: list[Image.Image], fps: float) -> str:
    """Frames as a ``data:video/mp4;base64,`` URL: an h264 mp4 at ``fps`` with no audio stream."""
    from sightsound.media import encode_silent_mp4

    return f"data:video/mp4;base64,{base64.b64encode(encode_silent_mp4(frames, fps)).decode('ascii')}"


def video_part(frames: list[Image.Image], fps: float) -> dict[str, Any]:
    """One ``video_url`` content part holding the request's frames as a silent mp4 at ``fps``.

    The shape is vLLM's extension of the chat API (``ChatCompletionContentPartVideoParam`` in
    ``vllm/entrypoints/chat_utils.py``: ``{"type": "video_url", "video_url": {"url": ...}}``, where the
    url is "either a URL of the video or a data URL with base64 encoded video data"). vLLM's
    ``MediaConnector`` hands a base64 data URL to ``VideoMediaIO.load_base64``
    (``vllm/multimodal/media/video.py``): ``video/jpeg`` means comma-separated JPEG frames with no
    frame rate, any other type (our ``video/mp4``) is decoded by the video loader (OpenCV by
    default), which reads the frame rate from the container, so Qwen2.5-VL's temporal positions
    match the times the frames were taken. (vLLM 0.6.x took only ``video/jpeg`` data URLs,
    vllm-project/vllm#11640; mp4 needs a newer server.) vLLM resamples the decoded video: by default
    to at most 32 frames, or, with its Qwen2-VL loader, to 2 fps; at ``video_fps`` <= 2 and
    ``teach.max_frames`` <= 32 every frame sent is kept.

    An odd number of frames is padded with a copy of the last one: Qwen2.5-VL groups frames in pairs
    (temporal patch 2); its HF processor pads the same way, whereas the fps-based frame sampler
    that vLLM ports from HF (``Qwen2VLVideoBackend``) floors the count to a multiple of 2 and would
    drop the last frame instead.
    """
    frames = list(frames)
    if len(frames) % 2:
        frames.append(frames[-1])
    return {"type": "video_url", "video_url": {"url": video_data_url(frames, fps)}}


def resolve_frames_as(spec: ModelSpec) -> str:
    """``"video"`` or ``"images"``: how this endpoint gets a request's frames.

    ``auto`` is video for a Qwen2.5-VL endpoint (vLLM takes ``video_url`` for it; the paper shows the
    teacher the video) and images for anything else: OpenAI's own chat API has no video content part,
    and an endpoint of unknown architecture may not take one either.
    """
    if spec.frames_as == "auto":
        return "video" if spec.architecture == "qwen2_5_vl" else "images"
    if spec.frames_as not in ("images", "video"):
        raise ConfigError(f"openai backend: frames_as must be auto, images or video, got {spec.frames_as!r}")
    return spec.frames_as


def sampling_kwargs(sampling: SamplingParams, n: int, seed: int | None) -> dict[str, Any]:
    """Chat-completions sampling arguments (``max_completion_tokens``: the current name of max_tokens)."""
    kwargs: dict[str, Any] = {
        "n": n,
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_completion_tokens": int(sampling.max_new_tokens),
    }
    if seed is not None:
        kwargs["seed"] = int(seed)
    return kwargs


# ---------------------------------------------------------------------------------------- secrets
def scrub(text: str, secrets: list[str | None]) -> str:
    """``text`` with every secret replaced by ``***`` (exception text can echo headers or URLs)."""
    for secret in secrets:
        if secret and secret != PLACEHOLDER_KEY and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def public_url(url: str | None) -> str | None:
    """A base URL without user-info or query string (either may carry a key, e.g. Azure's ``api-key=``)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# --------------------------------------------------------------------------------------- failures
class MalformedResponse(Exception):
    """A 2xx response whose body is not a usable chat completion."""


@dataclass
class Failure:
    kind: str  # rate_limit | server_error | timeout | connection | malformed_response | client_error | error
    detail: str
    retryable: bool
    retry_after: float | None = None
    n_rejected: bool = False  # a 400/422 that names the ``n`` parameter


def parse_retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), else None."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _mentions_n(exc: Any) -> bool:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("param") == "n":
            return True
    text = str(getattr(exc, "message", "") or exc)
    return bool(re.search(r"(\bn\b|'n'|`n`|\"n\"|number of (choices|completions))", text, re.IGNORECASE))


def classify(exc: BaseException, n: int) -> Failure:
    """Map an exception from one attempt to a :class:`Failure` (what happened, and is it worth retrying)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return Failure("timeout", "request timed out", True)
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return Failure("connection", f"{exc}{f' ({type(cause).__name__})' if cause else ''}", True)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = re.sub(r"^Error code: \d+ - ", "", str(getattr(exc, "message", None) or exc))
        detail = f"HTTP {status}: {message}"
        retry_after = parse_retry_after(getattr(exc.response, "headers", None))
        if status == 429:
            return Failure("rate_limit", detail, True, retry_after)
        if status >= 500 or status in (408, 409):
            return Failure("server_error", detail, True, retry_after)
        if status in (400, 422) and n > 1 and _mentions_n(exc):
            return Failure("client_error", detail, False, n_rejected=True)
        return Failure("client_error", detail, False)
    if isinstance(exc, json.JSONDecodeError):
        return Failure("malformed_response", f"body is not valid JSON ({exc})", True)
    if isinstance(exc, (MalformedResponse, openai.APIResponseValidationError)):
        return Failure("malformed_response", str(exc), True)
    try:
        import pydantic

        if isinstance(exc, pydantic.ValidationError):
            return Failure("malformed_response", str(exc), True)
    except ImportError:  # pragma: no cover - pydantic ships with openai
        pass
    return Failure("error", f"{type(exc).__name__}: {exc}", False)


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None,
                  rng: random.Random) -> float:
    """Wait before retry ``attempt`` (0-based): capped exponential with "equal jitter", never less
    than the server's Retry-After (itself capped at :data:`MAX_RETRY_AFTER_S`).

    Jitter spreads out the retries of many concurrent requests that failed together (a 429 burst),
    so they do not hit the server again in lockstep.
    """
    ceiling = min(cap, base * (2.0 ** attempt))
    delay = ceiling / 2.0 + rng.uniform(0.0, ceiling / 2.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


# ------------------------------------------------------------------------------------ rate limits
# [ours] Prompt-token estimates for the tokens-per-minute bucket, before the server reports usage:
# Qwen2-Audio's encoder emits 25 tokens per second of audio (gpt-4o-audio bills fewer, so this errs
# on the safe side), Qwen2.5-VL one token per 28x28 pixels of a frame, text about 4 characters a token.
AUDIO_TOKENS_PER_S = 25.0
IMAGE_PIXELS_PER_TOKEN = 28 * 28
TEXT_CHARS_PER_TOKEN = 4.0
# [ours] A bucket holds one second's worth of its per-minute limit (at least one request): a limit
# of 600 rpm sends 10 at once at most, then one per 0.1 s, never a minute's worth in one burst (hosted
# APIs enforce their per-minute limits over shorter windows).
BURST_S = 1.0


def estimate_prompt_tokens(request: GenerationRequest) -> int:
    tokens = len(request.text or "") / TEXT_CHARS_PER_TOKEN + len(request.system or "") / TEXT_CHARS_PER_TOKEN
    if request.audio is not None:
        tokens += audio_seconds(request) * AUDIO_TOKENS_PER_S
    for image in request.images or []:
        tokens += image.width * image.height / IMAGE_PIXELS_PER_TOKEN
    return int(tokens) + 1


def audio_seconds(request: GenerationRequest) -> float:
    return 0.0 if request.audio is None else len(request.audio) / float(request.sample_rate)


class RateLimiter:
    """Requests- and tokens-per-minute buckets shared by every call of one backend, plus a shared pause.

    Each bucket refills at ``limit / 60`` per second up to :data:`BURST_S` seconds' worth. A call
    waits until the requests bucket holds one request and the tokens bucket holds its estimate (or
    is full: a call bigger than the bucket goes when it is full and leaves it in debt, so the rate
    over time still holds); :meth:`settle` corrects the estimate with the usage the server reports.
    :meth:`pause` (a 429 with Retry-After) holds back every call until then: the server said the
    account is over its limit, not that one request was. Calls are admitted in arrival order.
    """

    def __init__(self, rpm: int | None, tpm: int | None, clock: Any = time.monotonic):
        for name, value in (("rate_limit_rpm", rpm), ("rate_limit_tpm", tpm)):
            if value is not None and value <= 0:
                raise ConfigError(f"openai backend: {name} must be > 0 (or null for no limit), got {value}")
        self.rpm, self.tpm, self._clock = rpm, tpm, clock
        self._req_cap = max(1.0, (rpm or 0) * BURST_S / 60.0)
        self._tok_cap = max(1.0, (tpm or 0) * BURST_S / 60.0)
        self._req, self._tok = self._req_cap, self._tok_cap
        self._t = clock()
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None
        self.waited_s = 0.0  # total time calls spent held back (usage summary)

    def _refill(self, now: float) -> None:
        dt, self._t = now - self._t, now
        if self.rpm:
            self._req = min(self._req_cap, self._req + dt * self.rpm / 60.0)
        if self.tpm:
            self._tok = min(self._tok_cap, self._tok + dt * self.tpm / 60.0)

    def _wait_for(self, tokens: int, now: float) -> float:
        wait = self._paused_until - now
        if self.rpm and self._req < 1.0:
            wait = max(wait, (1.0 - self._req) * 60.0 / self.rpm)
        need = min(float(tokens), self._tok_cap)
        if self.tpm and self._tok < need:
            wait = max(wait, (need - self._tok) * 60.0 / self.tpm)
        return wait

    async def acquire(self, tokens: int) -> None:
        if self._lock is None:  # created in the running loop (generate() runs a fresh loop per batch)
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                now = self._clock()
                self._refill(now)
                wait = self._wait_for(tokens, now)
                if wait <= 0:
                    break
                self.waited_s += wait
                await asyncio.sleep(wait)
            if self.rpm:
                self._req -= 1.0
            if self.tpm:
                self._tok -= tokens

    def settle(self, estimated: int, actual: int) -> None:
        """The server's usage replaces the estimate a call was admitted with."""
        if self.tpm:
            self._tok -= actual - estimated

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self._clock() + min(seconds, MAX_RETRY_AFTER_S))

    def reset_loop(self) -> None:
        self._lock = None


# ----------------------------------------------------------------------------------------- cache
class ResponseCache:
    """Answers to identical requests, in one sqlite file shared by runs (and by shard processes).

    The key is a SHA-256 of the served model's name, the full messages (prompt text and every byte
    of media, base64) and the sampling arguments (n, temperature, top_p, max tokens, seed): a
    different model, prompt, clip or setting is a different key, so an answer is never reused for
    a request it was not given to. Only parsed, successful answers are stored.
    """

    def __init__(self, path: str | os.PathLike):
        from pathlib import Path

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection used from the event loop and worker threads; sqlite's own file lock makes
        # concurrent processes (shards sharing the file) safe, the timeout waits out their writes.
        self._db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                             "generations TEXT NOT NULL, created REAL NOT NULL)")

    @staticmethod
    def key(model: str, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> str:
        blob = json.dumps({"model": model, "messages": messages, "sampling": kwargs}, sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> list[Generation] | None:
        with self._lock:
            row = self._db.execute("SELECT generations FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        return [Generation(text=g["text"], num_tokens=g["num_tokens"], finish_reason=g["finish_reason"])
                for g in json.loads(row[0])]

    def put(self, key: str, model: str, generations: list[Generation]) -> None:
        blob = json.dumps([{"text": g.text, "num_tokens": g.num_tokens, "finish_reason": g.finish_reason}
                           for g in generations])
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", (key, model, blob, time.time()))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def cacheable(sampling: SamplingParams, seed: int | None) -> bool:
    """Greedy or seeded requests have one answer; an unseeded sample is a new draw every time."""
    return float(sampling.temperature) == 0.0 or seed is not None


# ------------------------------------------------------------------------------------- responses
def _split_total(total: int, texts: list[str]) -> list[int]:
    """Share a usage total across choices by text length, summing exactly to ``total``.

    Chat-completions reports one ``completion_tokens`` for all n choices; per-choice counts exist
    only as logprobs (or the ``num_tokens`` extension of :mod:`sightsound.serve`). This estimate
    is used only for n > 1 without either. Every choice gets at least one token (its stop token).
    """
    n = len(texts)
    floor = 1 if total >= n else 0
    rest = total - floor * n
    weights = [max(len(t), 1) for t in texts]
    raw = [rest * w / sum(weights) for w in weights]
    counts = [int(r) for r in raw]
    for i in sorted(range(n), key=lambda i: raw[i] - counts[i], reverse=True)[: rest - sum(counts)]:
        counts[i] += 1
    return [c + floor for c in counts]


def _choice_tokens(choice: Any) -> int | None:
    """Exact token count of one choice: its logprobs, or a ``num_tokens`` field (sightsound.serve)."""
    lp = getattr(choice, "logprobs", None)
    if lp is not None and getattr(lp, "content", None) is not None:
        return len(lp.content)
    extra = getattr(choice, "model_extra", None) or {}
    value = extra.get("num_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_completion(resp: Any, n: int) -> list[Generation]:
    """Generations from a chat-completion object; anything unusable raises :class:`MalformedResponse`."""
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or not choices:
        shown = resp if isinstance(resp, str) else type(resp).__name__
        raise MalformedResponse(f"no choices in response body ({str(shown)[:120]!r})")
    if len(choices) != n:
        raise MalformedResponse(f"asked for n={n} choices, got {len(choices)}")
    try:
        ordered = sorted(choices, key=lambda c: c.index)
        texts, reasons, exact = [], [], []
        for c in ordered:
            msg = c.message
            text = msg.content
            if text is None and getattr(msg, "refusal", None) is None:
                raise MalformedResponse(f"choice {c.index} has no message content")
            texts.append(text or "")
            reasons.append("refusal" if text is None else str(c.finish_reason or "unknown"))
            exact.append(_choice_tokens(c))
    except (AttributeError, TypeError) as e:
        raise MalformedResponse(f"choice without the expected fields ({e})") from None
    total = getattr(getattr(resp, "usage", None), "completion_tokens", None)
    if all(c is not None for c in exact):
        counts = exact
    elif isinstance(total, int) and n == 1:
        counts = [total]
    elif isinstance(total, int):
        counts = _split_total(total, texts)
    else:
        counts = [0] * n  # the endpoint reported no usage
    return [Generation(text=t, num_tokens=int(k), finish_reason=r) for t, k, r in zip(texts, counts, reasons)]


class _RequestFailed(Exception):
    def __init__(self, failure: Failure, attempts: int):
        self.failure = failure
        self.attempts = attempts
        super().__init__(f"{failure.kind}: {failure.detail}")


# --------------------------------------------------------------------------------------- backend
class OpenAIBackend:
    """Chat-completions backend over ``openai.AsyncOpenAI`` (see the module docstring)."""

    name = "openai"

    def __init__(self, spec: ModelSpec, *, progress: bool = True, seed: int | None = None):
        if not spec.name_or_path:
            raise ConfigError("openai backend: models.<role>.name_or_path must name the served model")
        if spec.max_concurrency < 1:
            raise ConfigError(f"openai backend: max_concurrency must be >= 1, got {spec.max_concurrency}")
        if spec.max_retries < 0:
            raise ConfigError(f"openai backend: max_retries must be >= 0, got {spec.max_retries}")
        if spec.base_url is None and not os.environ.get(spec.api_key_env):
            # OpenAI itself needs a key; a local server (base_url set) may not.
            raise ConfigError(f"openai backend: environment variable {spec.api_key_env} is not set "
                              f"(needed for {spec.name_or_path} at api.openai.com)")
        self.spec = spec
        self.progress = progress
        self._rng = random.Random(seed)  # backoff jitter only; never affects outputs
        # Whether one call may ask for n > 1; "auto" turns it off on the first rejection.
        self._native_n = spec.n_mode != "separate"
        self.frames_as = resolve_frames_as(spec)
        if self.frames_as == "video" and not spec.video_fps > 0:
            raise ConfigError(f"openai backend: video_fps must be > 0 for frames_as=video, "
                              f"got {spec.video_fps}")
        self.limiter = RateLimiter(spec.rate_limit_rpm, spec.rate_limit_tpm)
        self.cache = ResponseCache(spec.cache_path) if spec.cache_path else None
        self._usage: Counter = Counter()
        self._ssl: Any = None  # see _ssl_context

    # ---- public API
    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.spec.name_or_path,
            "architecture": self.spec.architecture,
            "base_url": public_url(self.spec.base_url),
            "api_key_env": self.spec.api_key_env,  # the variable's name, never its value
            "n_mode": self.spec.n_mode,
            # How frames travel: one silent mp4 (video_url) or one image_url part per frame; not
            # recorded for an audio-only model (the verifier), which is never sent frames.
            **({"frames_as": self.frames_as} if self.spec.architecture != "qwen2_audio" else {}),
            **({"video_fps": self.spec.video_fps} if self.frames_as == "video" else {}),
        }

    def usage(self) -> dict[str, Any]:
        """What this backend has asked the endpoint for so far (the stages put it in their stats).

        ``requests``: HTTP calls sent (retries included); ``cache_hits``: calls answered from the
        cache instead; ``input_audio_s``: seconds of audio sent (a clip sent n times in separate
        mode counts n times, as an API bills it); tokens as the endpoint reported them
        (``prompt_tokens`` may be 0 where it reports none, e.g. :mod:`sightsound.serve`).
        """
        u = self._usage
        return {"requests": u["requests"], "cache_hits": u["cache_hits"], "retries": u["retries"],
                "rate_limited": u["rate_limited"], "failed_calls": u["failed_calls"],
                "input_audio_s": round(u["input_audio_s"], 3), "input_images": u["input_images"],
                "prompt_tokens": u["prompt_tokens"], "completion_tokens": u["completion_tokens"],
                "rate_limit_wait_s": round(self.limiter.waited_s, 3)}

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Synchronous wrapper around :meth:`agenerate`."""
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(requests))
        # Called from inside an event loop (a notebook, an async stage): run ours in a thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.agenerate(requests)).result()

    async def agenerate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        """Results for ``requests``, in order; one failed request never fails the others."""
        import openai
        from tqdm.auto import tqdm

        key = os.environ.get(self.spec.api_key_env) or None
        if key is None:
            log.debug("%s is not set; sending a placeholder key to %s", self.spec.api_key_env,
                      public_url(self.spec.base_url))
        # Two bounds: requests in progress (each holds its encoded media, so a 10k-request batch
        # must not encode everything up front) and HTTP calls in flight (n separate calls per
        # request in "separate" mode).
        req_slots = asyncio.Semaphore(self.spec.max_concurrency)
        sem = asyncio.Semaphore(self.spec.max_concurrency)
        client = openai.AsyncOpenAI(
            api_key=key or PLACEHOLDER_KEY,
            base_url=self.spec.base_url,
            timeout=self.spec.timeout_s,
            max_retries=0,  # ours are the retries that count (see _call)
            http_client=openai.DefaultAsyncHttpxClient(verify=self._ssl_context()),
        )
        bar = tqdm(total=len(requests), desc=f"openai:{self.spec.name_or_path}", unit="req",
                   disable=not self.progress or len(requests) < 2, leave=False)
        self.limiter.reset_loop()

        async def one(req: GenerationRequest) -> GenerationResult:
            try:
                async with req_slots:
                    return await self._request(client, sem, req, key)
            except Exception as e:  # noqa: BLE001 - a bug for one request must still not sink the batch
                # No log.exception: a traceback's text is not scrubbed, the reason is.
                reason = self._reason(Failure("error", f"{type(e).__name__}: {e}", False), 1, key)
                log.error("request %s: unexpected error: %s", req.id, reason)
                return GenerationResult(request_id=req.id, error=reason)
            finally:
                bar.update(1)

        try:
            return list(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            bar.close()
            await client.close()

    # ---- internals
    def _ssl_context(self) -> Any:
        """One TLS context for every client of this backend.

        Each ``generate`` call runs its own event loop, so it needs its own client; building the
        client's TLS context (reading the CA bundle) cost ~0.12 s, paid by every batch a stage sent
        (measured: 14 % of a 16-request batch at concurrency 8 against a 0.25 s server). The CA
        files are the ones httpx would read: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, else certifi's.
        """
        if self._ssl is None:
            import ssl

            import certifi

            self._ssl = ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where(),
                                                   capath=os.environ.get("SSL_CERT_DIR"))
        return self._ssl

    def _reason(self, failure: Failure, attempts: int, key: str | None) -> str:
        detail = scrub(failure.detail, [key])
        if len(detail) > _REASON_MAX_CHARS:
            detail = detail[:_REASON_MAX_CHARS] + "..."
        return f"{failure.kind}: {detail} (after {attempts} attempt{'s' if attempts != 1 else ''})"

    async def _request(self, client: Any, sem: asyncio.Semaphore, req: GenerationRequest,
                       key: str | None) -> GenerationResult:
        n = int(req.sampling.n)
        if n < 1:
            return GenerationResult(request_id=req.id, error=f"bad_request: n must be >= 1, got {n}")
        try:
            # PNG/mp4/wav encoding is CPU work: keep the event loop free for the calls in flight.
            messages = await asyncio.to_thread(openai_chat_messages, req, self.spec.image_format, self.frames_as,
                                             self.spec.video_fps)
        except (ValueError, OSError) as e:
            return GenerationResult(request_id=req.id, error=f"bad_request: cannot encode media ({e})")
        try:
            if n == 1 or self._native_n:
                try:
                    gens = await self._call(client, sem, req, messages, n, req.sampling.seed, key)
                    return GenerationResult(request_id=req.id, generations=gens)
                except _RequestFailed as e:
                    if not (e.failure.n_rejected and self.spec.n_mode == "auto"):
                        raise
                    if self._native_n:
                        log.warning("%s rejected n=%d (%s); asking for samples one call each from now on",
                                    self.spec.name_or_path, n, scrub(e.failure.detail, [key])[:200])
                    self._native_n = False
            # n separate calls; seeds differ per sample or every sample would be the same text.
            seeds = [None if req.sampling.seed is None else req.sampling.seed + k for k in range(n)]
            parts = await asyncio.gather(*(
                self._call(client, sem, req, messages, 1, s, key) for s in seeds))
            return GenerationResult(request_id=req.id, generations=[g for p in parts for g in p])
        except _RequestFailed as e:
            reason = self._reason(e.failure, e.attempts, key)
            log.warning("request %s failed: %s", req.id, reason)
            return GenerationResult(request_id=req.id, error=reason)

    async def _call(self, client: Any, sem: asyncio.Semaphore, req: GenerationRequest,
                    messages: list[dict[str, Any]], n: int, seed: int | None, key: str | None) -> list[Generation]:
        """One chat completion with retries; raises :class:`_RequestFailed` once retries are spent."""
        req_id, sampling = req.id, req.sampling
        kwargs = sampling_kwargs(sampling, n, seed)
        cache_key = None
        if self.cache is not None and cacheable(sampling, seed):
            cache_key = ResponseCache.key(self.spec.name_or_path, messages, kwargs)
            cached = self.cache.get(cache_key)
            if cached is not None and len(cached) == n:
                self._usage["cache_hits"] += 1
                return cached
        prompt_estimate = estimate_prompt_tokens(req)
        estimate = prompt_estimate + int(sampling.max_new_tokens) * n  # what the call may cost at most
        attempt = 0
        while True:
            try:
                async with sem:  # held for the HTTP call only, not while backing off
                    await self.limiter.acquire(estimate)
                    self._count_sent(req)
                    resp = await client.chat.completions.create(
                        model=self.spec.name_or_path, messages=messages, **kwargs)
                gens = parse_completion(resp, n)
                self._count_answered(resp, gens, prompt_estimate, estimate)
                if cache_key is not None:
                    self._remember(cache_key, gens)
                return gens
            except Exception as e:  # noqa: BLE001 - classify() decides what is retryable
                failure = classify(e, n)
            if failure.kind == "rate_limit":
                self._usage["rate_limited"] += 1
                if failure.retry_after is not None:
                    self.limiter.pause(failure.retry_after)
            if not failure.retryable or attempt >= self.spec.max_retries:
                self._usage["failed_calls"] += 1
                raise _RequestFailed(failure, attempt + 1)
            self._usage["retries"] += 1
            delay = backoff_delay(attempt, self.spec.backoff_base_s, self.spec.backoff_max_s,
                                  failure.retry_after, self._rng)
            log.info("request %s: attempt %d/%d: %s; retrying in %.2fs", req_id, attempt + 1,
                     self.spec.max_retries + 1, scrub(f"{failure.kind}: {failure.detail}", [key])[:200], delay)
            await asyncio.sleep(delay)
            attempt += 1

    def _remember(self, cache_key: str, gens: list[Generation]) -> None:
        try:
            self.cache.put(cache_key, self.spec.name_or_path, gens)
        except sqlite3.Error as e:  # a full disk or a lock held too long: the answer itself is still good
            log.warning("response cache %s: cannot store an answer (%s); going on without it", self.cache.path, e)

    def _count_sent(self, req: GenerationRequest) -> None:
        self._usage["requests"] += 1
        self._usage["input_audio_s"] += audio_seconds(req)
        self._usage["input_images"] += len(req.images or [])

    def _count_answered(self, resp: Any, gens: list[Generation], prompt_estimate: int, estimate: int) -> None:
        usage = getattr(resp, "usage", None)
        prompt = getattr(usage, "prompt_tokens", None)
        prompt = prompt if isinstance(prompt, int) and prompt > 0 else None
        completion = sum(g.num_tokens for g in gens)
        self._usage["prompt_tokens"] += prompt or 0
        self._usage["completion_tokens"] += completion
        # Where the endpoint reports no prompt tokens, the estimate stands for them.
        prompt_part = prompt if prompt is not None else prompt_estimate
        self.limiter.settle(estimate, prompt_part + completion)
