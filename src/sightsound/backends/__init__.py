"""Generation backends behind one interface (see :mod:`sightsound.backends.base`).

``hf`` (transformers ``generate``), ``openai`` (any OpenAI-compatible endpoint) and ``vllm``
(offline engine, GPU only). :func:`make_backend` picks one from a :class:`~sightsound.config.ModelSpec`.
"""

from sightsound.backends.base import (
    Backend,
    Generation,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    make_backend,
)

__all__ = ["Backend", "Generation", "GenerationRequest", "GenerationResult", "SamplingParams", "make_backend"]
