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


# ------------------------------------------------------------------ test order
# Seconds each of the heaviest test files takes on the 2-core CI machine (from `--durations=0`,
# rounded; refresh when a file's cost changes a lot). The suite runs in two xdist workers that take
# whole files (`--dist loadfile`); by default xdist hands out the files with the most tests first,
# which puts the few-test, minute-long files (a training run, a whole pipeline) at the tail, where
# one worker runs them while the other idles. Handing out the longest files first (with
# `--no-loadscope-reorder`, collection order decides) keeps both workers busy to the end.
HEAVY_FILES = {
    "test_pipeline.py": 80, "test_eval.py": 75, "test_mini_gates.py": 60, "test_reliability.py": 60,
    "test_paper_dry_run.py": 45, "test_train_distributed.py": 45, "test_experiment.py": 40,
    "test_teacher.py": 35, "test_mini.py": 30, "test_verify.py": 25, "test_shard_processes.py": 25,
    "test_media.py": 20,
}


def pytest_collection_modifyitems(config, items):
    """Longest files first (stable: files keep their tests together and in order)."""
    weight = lambda item: -HEAVY_FILES.get(Path(str(item.fspath)).name, 0)
    items.sort(key=weight)


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
