"""A fault-injecting :class:`~sightsound.serve.ChatServer` for tests of the HTTP clients.

:class:`FaultServer` answers like ``sightsound serve`` except where its :class:`FaultPlan` says
otherwise (429 with Retry-After, 500/503, a hang, a malformed or empty body, a dropped connection,
an error that echoes the Authorization header). It also keeps a :class:`RequestLog` per chat
request, counts requests in flight (tests check client concurrency) and can refuse ``n`` above
``max_n`` the way some hosted audio models do::

    from sightsound.testing.fault_server import FaultPlan, serve_backend
    with serve_backend(backend, model_name="m", faults=FaultPlan(by_text={"RATE": ["429"]})) as server:
        ...  # requests whose user text contains RATE get one 429, then normal answers
        assert server.log[0].status == 429
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sightsound.backends.base import Backend, GenerationRequest
from sightsound.serve import ChatServer, _Handler
from sightsound.serve import serve_backend as plain_serve_backend

FAULT_KINDS = ("429", "500", "503", "hang", "malformed", "empty", "drop", "echo_auth")


@dataclass
class FaultPlan:
    """Faults to inject, consumed one per incoming chat request.

    ``by_text`` maps a substring of the user text to that request family's own queue of faults
    (deterministic under concurrency: a test marks the request it wants to break); other requests
    consume ``sequence`` in arrival order. A request whose queue is empty is served normally.
    Kinds: ``429`` (with ``Retry-After: retry_after_s``), ``500``, ``503``, ``hang`` (no answer
    for ``hang_s`` or until the server stops, then the connection closes), ``malformed`` (200 with
    a truncated JSON body), ``empty`` (200 with ``{}``), ``drop`` (connection closed, no response),
    ``echo_auth`` (400 whose message repeats the Authorization header: a misbehaving proxy, used to
    prove that clients scrub the key from error text).
    """

    sequence: list[str] = field(default_factory=list)
    by_text: dict[str, list[str]] = field(default_factory=dict)
    retry_after_s: float = 0.05
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        for kind in [*self.sequence, *(k for q in self.by_text.values() for k in q)]:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        self.sequence = list(self.sequence)
        self.by_text = {k: list(v) for k, v in self.by_text.items()}
        self._lock = threading.Lock()

    def next_fault(self, text: str) -> str | None:
        with self._lock:
            for marker, faults in self.by_text.items():
                if marker in text:
                    return faults.pop(0) if faults else None
            return self.sequence.pop(0) if self.sequence else None


@dataclass
class RequestLog:
    """What the server saw for one chat request (for tests and benchmarks; holds no headers)."""

    text: str
    n: int
    num_images: int
    has_audio: bool
    fault: str | None
    seed: int | None = None
    arrived: float = 0.0  # time.monotonic() on arrival
    status: int | None = None  # HTTP status sent; 0 = connection closed without one; None = in progress
    seconds: float | None = None
    num_videos: int = 0  # video_url parts (the teacher's silent mp4)


class FaultServer(ChatServer):
    """:class:`ChatServer` with injected faults, a request log, in-flight counts and an optional ``max_n``."""

    def __init__(self, backend: Backend, *, faults: FaultPlan | None = None, max_n: int | None = None,
                 **kwargs: Any):
        super().__init__(backend, **kwargs)
        self.faults = faults or FaultPlan()
        self.max_n = max_n
        self.log: list[RequestLog] = []
        self.in_flight = 0  # chat requests being answered now
        self.max_in_flight = 0  # the most at once

    def handle_chat(self, handler: _Handler, body: Any) -> None:
        started = time.monotonic()
        text = _user_text(body)
        fault = self.faults.next_fault(text)
        n = body.get("n", 1) if isinstance(body, dict) else 1
        # Logged on arrival (status filled in at the end), so a hanging request is visible too.
        seed = body.get("seed") if isinstance(body, dict) else None
        entry = RequestLog(text=text, n=n if isinstance(n, int) else -1,
                           num_images=_count_parts(body, "image_url"),
                           num_videos=_count_parts(body, "video_url"),
                           has_audio=_count_parts(body, "input_audio") > 0, fault=fault,
                           seed=seed if isinstance(seed, int) else None, arrived=started)
        with self._lock:
            self.log.append(entry)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            entry.status = handler.answer(body) if fault is None else self._inject(handler, fault)
        finally:
            with self._lock:
                self.in_flight -= 1
        entry.seconds = time.monotonic() - started

    def refusal(self, request: GenerationRequest) -> tuple[str, str] | None:
        if self.max_n is not None and request.sampling.n > self.max_n:
            return f"n={request.sampling.n} is not supported by this model (max {self.max_n})", "n"
        return None

    def _inject(self, handler: _Handler, fault: str) -> int:
        plan = self.faults
        if fault == "429":
            handler._error(429, "Rate limit reached (injected)", "rate_limit_error",
                        headers={"Retry-After": f"{plan.retry_after_s:g}"})
            return 429
        if fault in ("500", "503"):
            handler._error(int(fault), "injected server error", "server_error")
            return int(fault)
        if fault == "malformed":
            handler._send(200, b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind')
            return 200
        if fault == "empty":
            handler._json(200, {})
            return 200
        if fault == "echo_auth":
            handler._error(400, f"bad request; you sent Authorization: {handler.headers.get('Authorization')}",
                        "invalid_request_error")
            return 400
        if fault == "hang":
            self._stopping.wait(plan.hang_s)
        # "hang" (after waiting) and "drop": close without a response.
        handler.close_connection = True
        return 0


def _user_text(body: Any) -> str:
    try:
        for m in body.get("messages") or []:
            if m.get("role") == "user":
                c = m.get("content")
                return c if isinstance(c, str) else "\n".join(p.get("text", "") for p in c if p.get("type") == "text")
    except (AttributeError, TypeError):
        pass
    return ""


def _count_parts(body: Any, kind: str) -> int:
    try:
        return sum(1 for m in body["messages"] if isinstance(m.get("content"), list)
                   for p in m["content"] if isinstance(p, dict) and p.get("type") == kind)
    except (KeyError, TypeError, AttributeError):
        return 0


def serve_backend(backend: Backend, **kwargs: Any) -> AbstractContextManager[FaultServer]:
    """:func:`sightsound.serve.serve_backend` with the fault-injecting server."""
    return plain_serve_backend(backend, server_class=FaultServer, **kwargs)
