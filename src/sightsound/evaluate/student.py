"""The student under evaluation: a base model plus, optionally, a PEFT LoRA adapter on top.

The ``hf`` backend takes a ready ``model``/``processor`` pair, so an adapter is applied here with
PEFT's own loader (``PeftModel.from_pretrained``) and the wrapped model handed to the backend. The
adapter is not merged: generation then runs the exact modules training ran (LoRA's extra matmuls
cost little next to decoding), and the base weights stay untouched for the next system.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def check_adapter_dir(adapter: str | Path) -> Path:
    path = Path(adapter)
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{path}: not a PEFT adapter directory (no adapter_config.json)")
    if not (path / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"{path}: no adapter_model.safetensors (only safetensors adapters are loaded)")
    return path


def load_student_backend(spec, adapter: str | Path | None = None, **backend_kwargs: Any):
    """A generation backend for ``spec``; with ``adapter``, base + LoRA through PEFT (hf backend only)."""
    from sightsound.backends.base import make_backend

    if adapter is None:
        return make_backend(spec, **backend_kwargs)
    if spec.backend != "hf":
        raise ValueError(f"--adapter needs the hf backend (the student spec says {spec.backend!r}); "
                         "for vllm/openai serve a merged model instead")
    path = check_adapter_dir(adapter)
    from peft import PeftModel

    from sightsound.models.loading import load_model

    base, processor = load_model(spec)
    model = PeftModel.from_pretrained(base, str(path), is_trainable=False)
    model.eval()
    log.info("applied LoRA adapter %s to %s", path, spec.name_or_path)
    return make_backend(spec, model=model, processor=processor, **backend_kwargs)
