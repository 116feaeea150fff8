"""The one generation interface every stage uses (imported through :mod:`sightsound.backends.base`).

A stage builds :class:`GenerationRequest` objects (text plus optional frames and/or audio, each
asking for ``n`` samples) and hands a batch to ``backend.generate``. It gets back one
:class:`GenerationResult` per request, in order, each with ``n`` :class:`Generation` objects or an
``error`` string. Backends never raise for a single failed request: a batch always completes, so
a long stage keeps what it has done.

Media goes before the text in the user turn, as in the paper's prompts (``<video> Watch this ...``,
``<audio> Given the ...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int | None = None


@dataclass
class GenerationRequest:
    id: str
    text: str
    images: list[Image.Image] | None = None  # video frames, in time order
    audio: np.ndarray | None = None  # float32 mono at ``sample_rate``
    sample_rate: int = 16000
    system: str | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)


@dataclass
class Generation:
    text: str
    num_tokens: int
    finish_reason: str  # "stop" | "length" | backend-specific


@dataclass
class GenerationResult:
    request_id: str
    generations: list[Generation] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(Protocol):
    name: str

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]: ...

    def describe(self) -> dict[str, Any]:
        """Identity recorded in artefacts (model, backend, revision); never secrets."""
        ...


def backend_usage(backend: Any) -> dict[str, Any] | None:
    """An API backend's usage summary (requests, audio seconds, tokens); None for local backends."""
    usage = getattr(backend, "usage", None)
    return usage() if callable(usage) else None
