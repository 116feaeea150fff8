"""A small OpenAI-compatible chat-completions server over any :class:`~sightsound.backends.base.Backend`.

It lets the ``openai`` backend (and anything else that speaks the protocol) talk to a local model,
e.g. a tiny Qwen2-Audio behind :class:`~sightsound.backends.hf.HFBackend`, over real HTTP on
127.0.0.1: tests, benchmarks and the CPU demo use it where production would use ``vllm serve``.

What it speaks (the subset the pipeline uses, in vLLM's dialect):

* ``POST /v1/chat/completions`` with an optional system turn and one user turn whose content is a
  string or a list of ``text``, ``image_url`` (base64 ``data:image/...`` URLs only; decoded to PIL),
  one ``video_url`` (vLLM's part; base64 ``data:video/mp4`` and other PyAV-readable containers; its
  video stream is decoded to PIL frames, which become the request's frames) and ``input_audio``
  parts (base64 wav/flac; decoded to float32 mono and resampled to 16 kHz);
  ``n``, ``temperature``, ``top_p``, ``max_completion_tokens``/``max_tokens``, ``seed``.
* ``GET /v1/models`` and ``GET /health``.

Requests that arrive together are handed to ``backend.generate`` as one batch by a single worker
thread (the backend is never called concurrently, so it need not be thread-safe).

An optional fixed artificial latency (``latency_s``, slept outside the model lock, like network and
queueing time of a remote server) lets benchmarks measure a client against a slow endpoint. Tests
that need a misbehaving server (429, 5xx, hangs, malformed bodies) subclass :class:`ChatServer` in
:mod:`sightsound.testing.fault_server`.

Usage::

    from sightsound.serve import serve_backend
    with serve_backend(backend, model_name="tiny-student") as server:
        spec = ModelSpec(name_or_path="tiny-student", backend="openai", base_url=server.base_url)
        OpenAIBackend(spec).generate(requests)

or from the shell: ``sightsound serve --role student models.student.name_or_path=DIR --port 8000``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from sightsound.backends.base import Backend, GenerationRequest, GenerationResult, SamplingParams

log = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 16000
DEFAULT_MAX_TOKENS = 512
# A video part decodes to at most this many frames (the teacher sends ~16; 10 s at vLLM's 32-frame
# default would be 32): a longer one is refused before it fills memory.
MAX_VIDEO_FRAMES = 256
# [ours] A request carries at most one 30 s clip (~1.3 MB as base64 wav) or 16 frames (a few MB as
# PNG): 64 MB is ample, and a 200 MB body is refused (413) before it is read into memory.
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# [ours] The whole body must arrive within this; a client that stalls (or declares more bytes than it
# sends) gets 408 instead of holding a server thread forever.
DEFAULT_BODY_TIMEOUT_S = 30.0
# After refusing a body, read and discard what is still in flight for at most this long, so the
# client receives the answer instead of a reset (the "lingering close" of web servers).
_LINGER_S = 5.0


class BadRequest(ValueError):
    """A request body the server cannot turn into a :class:`GenerationRequest` (answered with 400)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


# ---------------------------------------------------------------------------------------- decoding
def decode_image_url(url: str) -> Any:
    from PIL import Image

    if not url.startswith("data:image/"):
        raise BadRequest("only base64 data:image/... URLs are supported (this server fetches nothing)")
    try:
        header, payload = url.split(",", 1)
        if not header.endswith(";base64"):
            raise BadRequest("image data URL must be base64-encoded")
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
    except BadRequest:
        raise
    except (ValueError, binascii.Error, OSError) as e:
        raise BadRequest(f"cannot decode image data URL: {e}") from None
    return image.convert("RGB")


def decode_video_url(url: str) -> tuple[list[Any], float | None]:
    """A base64 ``data:video/...`` URL (vLLM's ``video_url`` part) -> its frames (RGB PIL) and frame rate.

    Only the video stream is decoded; an audio track in the file is never read, so what reaches the
    backend is the silent video whatever the client sent. ``video/jpeg`` (vLLM's other form:
    comma-separated base64 JPEG frames) is not supported; send an mp4.
    """
    from sightsound.media import decode_video_bytes

    if not url.startswith("data:video/"):
        raise BadRequest("only base64 data:video/... URLs are supported (this server fetches nothing)")
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise BadRequest("video data URL must be base64-encoded")
    if header.startswith("data:video/jpeg"):
        raise BadRequest("data:video/jpeg frame lists are not supported; send the frames as an mp4")
    try:
        return decode_video_bytes(base64.b64decode(payload, validate=True), max_frames=MAX_VIDEO_FRAMES)
    except (ValueError, binascii.Error) as e:
        raise BadRequest(f"cannot decode video data URL: {e}") from None


def decode_input_audio(part: dict[str, Any]) -> np.ndarray:
    """``input_audio`` {data: base64, format} -> float32 mono at 16 kHz."""
    import soundfile as sf

    fmt = part.get("format", "wav")
    if fmt not in ("wav", "flac"):
        raise BadRequest(f"input_audio format {fmt!r} not supported (wav or flac)")
    try:
        wave, sr = sf.read(io.BytesIO(base64.b64decode(part.get("data", ""), validate=True)),
                           dtype="float32", always_2d=True)
    except (ValueError, binascii.Error, RuntimeError, sf.LibsndfileError) as e:
        raise BadRequest(f"cannot decode input_audio: {e}") from None
    wave = wave.mean(axis=1)
    if sr != TARGET_SAMPLE_RATE:
        import soxr

        wave = soxr.resample(wave, sr, TARGET_SAMPLE_RATE)
    return np.ascontiguousarray(wave, dtype=np.float32)


def _number(body: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise BadRequest(f"{key} must be {'an integer' if kind is int else 'a number'}", param=key)
    return kind(value)


def parse_chat_request(body: Any, request_id: str) -> GenerationRequest:
    """A chat-completions body -> :class:`GenerationRequest`; anything unsupported raises :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty list", param="messages")
    system, user = None, None
    for m in messages:
        role = m.get("role") if isinstance(m, dict) else None
        if role in ("system", "developer") and user is None:
            system = _text_only(m.get("content"))
        elif role == "user" and user is None:
            user = m.get("content")
        else:
            raise BadRequest("only an optional system message followed by one user message is supported",
                             param="messages")
    if user is None:
        raise BadRequest("no user message", param="messages")
    if not isinstance(user, (str, list)):
        raise BadRequest("user content must be a string or a list of parts", param="messages")
    texts, images, audio, video = [], [], None, None
    for part in [{"type": "text", "text": user}] if isinstance(user, str) else user:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            url = part.get("image_url")
            images.append(decode_image_url(url.get("url", "") if isinstance(url, dict) else str(url)))
        elif kind == "video_url":
            if video is not None:
                raise BadRequest("at most one video_url part per request")
            url = part.get("video_url")
            # The container's frame rate is not passed on: the backend times frames by its own video_fps.
            video, _ = decode_video_url(url.get("url", "") if isinstance(url, dict) else str(url))
        elif kind == "input_audio":
            if audio is not None:
                raise BadRequest("at most one input_audio part per request")
            audio = decode_input_audio(part.get("input_audio") or {})
        else:
            raise BadRequest(f"unsupported content part type {kind!r}")
    if video is not None:
        if images:
            # One frame sequence per request: the backend could not tell the video's frames from images.
            raise BadRequest("a request takes either one video_url part or image_url parts, not both")
        # The decoded frames go to the backend as the request's frames; the backend shows them to its
        # model as one video where its processor takes video (hf with torchvision, vllm), else as
        # images (hf on CPU), by its own frames_as, at its own video_fps.
        images = video
    n = _number(body, "n", 1, int)
    if n < 1:
        raise BadRequest("n must be >= 1", param="n")
    max_tokens = _number(body, "max_completion_tokens", None, int)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", DEFAULT_MAX_TOKENS, int)
    temperature = _number(body, "temperature", 1.0, float)
    if not (math.isfinite(temperature) and temperature >= 0):
        raise BadRequest("temperature must be a finite number >= 0", param="temperature")
    top_p = _number(body, "top_p", 1.0, float)
    if not (math.isfinite(top_p) and 0 < top_p <= 1):
        raise BadRequest("top_p must be in (0, 1]", param="top_p")
    if max_tokens < 1:
        raise BadRequest("max_tokens must be >= 1", param="max_completion_tokens")
    sampling = SamplingParams(
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_tokens,
        seed=_number(body, "seed", None, int),
    )
    return GenerationRequest(id=request_id, text="\n".join(texts), images=images or None, audio=audio,
                             sample_rate=TARGET_SAMPLE_RATE, system=system, sampling=sampling)


def _text_only(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "\n".join(str(p.get("text", "")) for p in content)
    raise BadRequest("system message must be text", param="messages")


def completion_body(result: GenerationResult, model: str, request_id: str) -> dict[str, Any]:
    # ``num_tokens`` per choice is our extension (the protocol has only the usage total); clients
    # that do not know it ignore it, :class:`~sightsound.backends.openai_backend.OpenAIBackend` reads it.
    choices = [{"index": i, "message": {"role": "assistant", "content": g.text},
                "finish_reason": g.finish_reason, "logprobs": None, "num_tokens": g.num_tokens}
               for i, g in enumerate(result.generations)]
    completion_tokens = sum(g.num_tokens for g in result.generations)
    return {"id": f"chatcmpl-{request_id}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": choices,
            "usage": {"prompt_tokens": 0, "completion_tokens": completion_tokens,
                      "total_tokens": completion_tokens}}


def error_body(message: str, kind: str, code: int, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


# ---------------------------------------------------------------------------------------- batching
class _BatchWorker:
    """One thread that owns the backend: drains whatever requests are queued into one generate() call."""

    def __init__(self, backend: Backend, max_batch: int):
        self.backend = backend
        self.max_batch = max_batch
        self.queue: queue.Queue[tuple[GenerationRequest, Future] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="sightsound-serve-worker", daemon=True)
        self.thread.start()

    def submit(self, request: GenerationRequest) -> Future:
        fut: Future = Future()
        self.queue.put((request, fut))
        return fut

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = self.queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            try:
                results = self.backend.generate([req for req, _ in batch])
                for (_, fut), res in zip(batch, results, strict=True):
                    fut.set_result(res)
            except Exception as e:  # the backend broke: every waiting request gets a 500
                log.exception("backend failed on a batch of %d", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)


# ------------------------------------------------------------------------------------------ server
class ChatServer:
    """The HTTP server; start/stop it yourself or use :func:`serve_backend`."""

    def __init__(self, backend: Backend, *, model_name: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, latency_s: float = 0.0, api_key: str | None = None, max_batch: int = 16,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S):
        self.backend = backend
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.model_name = model_name
        self.host, self.port = host, port
        self.latency_s = latency_s
        self._api_key = api_key  # checked, never logged or stored elsewhere
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._worker: _BatchWorker | None = None
        self._counter = 0

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ChatServer:
        handler = type("Handler", (_Handler,), {"app": self})
        httpd = ThreadingHTTPServer((self.host, self.port), handler)
        httpd.daemon_threads = True  # a hung handler must not keep the process alive
        httpd.request_queue_size = 128
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._worker = _BatchWorker(self.backend, self.max_batch)
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sightsound-serve", daemon=True)
        self._thread.start()
        log.info("serving %s on %s", self.model_name or "<any model>", self.base_url)
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers and latency sleeps
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._worker is not None:
            self._worker.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ChatServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_id(self) -> str:
        with self._lock:
            self._counter += 1
            return f"{self._counter:06d}-{uuid.uuid4().hex[:8]}"

    # ---- what a test server overrides (:mod:`sightsound.testing.fault_server`)
    def handle_chat(self, handler: _Handler, body: Any) -> None:
        """Answer one chat-completions request whose body is JSON."""
        handler.answer(body)

    def refusal(self, request: GenerationRequest) -> tuple[str, str] | None:
        """``(message, param)`` to refuse a well-formed request with 400; None to serve it."""
        return None


class _Handler(BaseHTTPRequestHandler):
    app: ChatServer
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server; every answer sets Content-Length
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed
    # ACK of the headers (~40 ms on Linux) on every keep-alive answer. uvicorn (vLLM) sets it too.
    disable_nagle_algorithm = True
    server_version = "sightsound-serve"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)  # request line only, never headers

    # ---- replies
    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            self.close_connection = True

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, message: str, kind: str, param: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        self._json(status, error_body(message, kind, status, param), headers)

    # ---- routes
    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            name = self.app.model_name or "default"
            self._json(200, {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "sightsound"}]})
        elif self.path.rstrip("/") == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._error(404, f"no route {self.path}", "not_found")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}", "not_found")
            return
        raw = self._read_body()
        if raw is None:  # refused and answered (400, 408, 411 or 413)
            return
        app = self.app
        if app._api_key is not None and self.headers.get("Authorization") != f"Bearer {app._api_key}":
            self._error(401, "invalid API key", "authentication_error")  # never echo what was sent
            return
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            self._error(400, f"body is not JSON: {e}", "invalid_request_error")
            return
        app.handle_chat(self, body)

    def _read_body(self) -> bytes | None:
        """The request body, within the size cap and the time limit; None when refused (answered here)."""
        app = self.app
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(411, "chunked bodies are not supported; send Content-Length")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return self._refuse(411, "Content-Length is required")
        try:
            length = int(raw_length.strip())
        except ValueError:
            length = -1
        if length < 0 or not raw_length.strip().isdigit():
            return self._refuse(400, f"bad Content-Length {raw_length[:40]!r}")
        if length > app.max_body_bytes:
            return self._refuse(413, f"body of {length} bytes is over the limit of {app.max_body_bytes} bytes",
                                drain=length)
        deadline = time.monotonic() + app.body_timeout_s
        chunks, got = [], 0
        try:
            while got < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - got, 1 << 20))
                if not chunk:
                    return self._refuse(400, f"body ended after {got} of the {length} bytes Content-Length declares")
                chunks.append(chunk)
                got += len(chunk)
        except TimeoutError:  # socket.timeout is TimeoutError
            return self._refuse(408, f"body not received within {app.body_timeout_s:g} s "
                                     f"({got} of {length} bytes arrived)")
        finally:
            self.connection.settimeout(None)
        return b"".join(chunks)

    def _refuse(self, status: int, message: str, drain: int = 0) -> None:
        """Answer ``status`` with one line and close the connection (its remaining bytes are garbage)."""
        log.warning("%s: %d %s", self.address_string(), status, message)
        self._error(status, message, "invalid_request_error", headers={"Connection": "close"})
        self.close_connection = True
        if drain:
            # Discard what the client is still sending, in small reads for a bounded time, so that it
            # reads our answer rather than a connection reset.
            try:
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(0.5)
                end = time.monotonic() + _LINGER_S
                while time.monotonic() < end and self.connection.recv(1 << 16):
                    pass
            except OSError:
                pass

    def answer(self, body: Any) -> int:
        """Answer a chat-completions body; returns the HTTP status sent."""
        app = self.app
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object", "invalid_request_error")
            return 400
        model = body.get("model")
        if app.model_name is not None and model != app.model_name:
            self._error(404, f"The model `{model}` does not exist (serving `{app.model_name}`).",
                        "NotFoundError", param="model")
            return 404
        try:
            request = parse_chat_request(body, app._next_id())
        except BadRequest as e:
            self._error(400, str(e), "invalid_request_error", param=e.param)
            return 400
        except (TypeError, AttributeError, KeyError, ValueError) as e:  # a shape no check above foresaw
            self._error(400, f"malformed request ({type(e).__name__}: {e})", "invalid_request_error")
            return 400
        refused = app.refusal(request)
        if refused is not None:
            self._error(400, refused[0], "invalid_request_error", param=refused[1])
            return 400
        if app.latency_s > 0 and app._stopping.wait(app.latency_s):
            self._error(503, "server shutting down", "server_error")
            return 503
        try:
            result = app._worker.submit(request).result()
        except Exception as e:  # noqa: BLE001 - answered as a 500
            self._error(500, f"backend failed: {type(e).__name__}: {e}", "server_error")
            return 500
        if not result.ok:
            self._error(500, f"generation failed: {result.error}", "server_error")
            return 500
        self._json(200, completion_body(result, model or "default", request.id))
        return 200


@contextmanager
def serve_backend(backend: Backend, server_class: type[ChatServer] = ChatServer, **kwargs: Any) -> Iterator[ChatServer]:
    """Serve ``backend`` on 127.0.0.1 (a free port unless ``port=`` is given) for the ``with`` block."""
    server = server_class(backend, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
