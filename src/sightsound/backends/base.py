"""The generation interface every stage imports, and :func:`make_backend`, which builds a backend.

The request and result types are defined in :mod:`.interface` (described there) and re-exported
here. The backends import :mod:`.interface`, not this module: this one imports them (in
:func:`make_backend`), so an import back would be a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sightsound.backends.interface import (
    Backend,
    Generation,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    backend_usage,
)

if TYPE_CHECKING:  # pragma: no cover
    from sightsound.config import ModelSpec

__all__ = ["Backend", "Generation", "GenerationRequest", "GenerationResult", "SamplingParams", "backend_usage",
           "make_backend"]


def make_backend(spec: ModelSpec, **kwargs: Any) -> Backend:
    """Build the backend a :class:`ModelSpec` names; heavy imports happen only here."""
    if spec.backend == "hf":
        from sightsound.backends.hf import HFBackend

        return HFBackend(spec, **kwargs)
    if spec.backend == "openai":
        from sightsound.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(spec, **kwargs)
    if spec.backend == "vllm":
        from sightsound.backends.vllm_backend import VLLMBackend

        return VLLMBackend(spec, **kwargs)
    raise ValueError(f"unknown backend {spec.backend!r}")
