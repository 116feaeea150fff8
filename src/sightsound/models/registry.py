"""The paper's checkpoints by role, so recipes and scripts name roles, not hub ids.

``models:`` in a recipe (see ``configs/models.yaml``) is what the pipeline reads; this registry
gives the same defaults plus the alternatives the paper and issue name, as ready
:class:`ModelSpec` objects: ``spec_for("verifier-local")``.
"""

from __future__ import annotations

import dataclasses

from sightsound.config import ModelsConfig, ModelSpec

_DEFAULTS = ModelsConfig()

CHECKPOINTS: dict[str, ModelSpec] = {
    # [paper] the three roles
    "teacher": dataclasses.replace(_DEFAULTS.teacher, architecture="qwen2_5_vl"),  # Qwen/Qwen2.5-VL-32B-Instruct
    "student": dataclasses.replace(_DEFAULTS.student, architecture="qwen2_audio"),  # Qwen/Qwen2-Audio-7B-Instruct
    "verifier": dataclasses.replace(_DEFAULTS.verifier),  # gpt-4o-audio-preview through the OpenAI API
    # alternatives
    "teacher-7b": ModelSpec(name_or_path="Qwen/Qwen2.5-VL-7B-Instruct", architecture="qwen2_5_vl"),
    "teacher-omni": ModelSpec(name_or_path="Qwen/Qwen2.5-Omni-7B", architecture="qwen2_5_omni_thinker"),
    "verifier-local": ModelSpec(name_or_path="Qwen/Qwen2-Audio-7B-Instruct", architecture="qwen2_audio"),
    "verifier-omni": ModelSpec(name_or_path="Qwen/Qwen2.5-Omni-7B", architecture="qwen2_5_omni_thinker"),
    # the same local models served by vLLM's OpenAI-compatible server (`vllm serve <id>`)
    "verifier-vllm-server": ModelSpec(name_or_path="Qwen/Qwen2-Audio-7B-Instruct", backend="openai",
                                      architecture="qwen2_audio", base_url="http://127.0.0.1:8000/v1",
                                      api_key_env="VLLM_API_KEY"),
}


def spec_for(name: str) -> ModelSpec:
    """A copy of the registered spec (callers may change it freely)."""
    if name not in CHECKPOINTS:
        raise KeyError(f"no checkpoint named {name!r} (known: {', '.join(sorted(CHECKPOINTS))})")
    return dataclasses.replace(CHECKPOINTS[name])
