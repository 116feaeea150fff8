"""Shared pytest fixtures. Helpers append their own fixtures below (keep each one small)."""

from __future__ import annotations

from pathlib import Path

import pytest

# The real-data folder lives beside the checkout (../shared), never inside it.
SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository; tests that need real data skip with the reason when absent."""
    if not (SHARED_DIR / "data").is_dir():
        pytest.skip(f"real data folder {SHARED_DIR / 'data'} is absent (it sits beside the checkout)")
    return SHARED_DIR


# ------------------------------------------------------------------ tiny models
@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """``sightsound tiny-models`` output built once per session: ``teacher/``, ``student/``, ``omni/``.

    Ordinary Hugging Face directories of the real architectures (hidden 64, 2 layers), built
    offline with seed 0; load them with ``sightsound.models.loading.load_model(path)``.
    """
    from sightsound.models.tiny import build_tiny_models

    out = tmp_path_factory.mktemp("tiny_models")
    build_tiny_models(out, seed=0)
    return out


@pytest.fixture(scope="session")
def student(tiny_models_dir) -> Path:
    """The tiny Qwen2-Audio student the training tests train."""
    return tiny_models_dir / "student"
