"""Where the SightSound-mini checkpoints live: shipped with the project, else trained once and cached.

The three roles are shipped in the repository under ``assets/mini/<role>/`` (float16 safetensors,
about 8 MB each), because the CPU demo must run on a fresh 2-core machine in minutes and training
all three takes half an hour there. Each directory carries ``pretrain_info.json``: seeds, steps,
seconds, held-out accuracy and the command that reproduces it.

``$SIGHTSOUND_MINI_ASSETS`` points at another folder of ``<role>/`` directories (e.g. retrained
ones). Where the assets are absent (an installed wheel, a trimmed checkout), :func:`mini_model_dir`
trains the role once with the default budget into ``$SIGHTSOUND_CACHE/mini/models/<role>`` and
reuses it afterwards. The verifier starts from the student (an audio model that already
perceives) with the audio encoder frozen, as the shipped one did, so the student is trained first.
(The shipped verifier trained longer, 3,000 steps: a default-budget one checks audio less well.)
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from sightsound.mini.roles import ROLES

log = logging.getLogger(__name__)

# src/sightsound/mini/checkpoints.py -> repository root
ASSETS = Path(__file__).resolve().parents[3] / "assets" / "mini"
INIT_FROM = {"verifier": "student"}  # warm starts used for the shipped checkpoints


def _complete(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file() \
        and (path / "pretrain_info.json").is_file()


def shipped_dir(role: str) -> Path | None:
    path = Path(os.environ.get("SIGHTSOUND_MINI_ASSETS") or ASSETS) / role
    return path if _complete(path) else None


def cached_dir(role: str) -> Path:
    from sightsound.mini.world import cache_root

    return cache_root() / "models" / role


def mini_model_dir(role: str, train_if_missing: bool = True) -> Path:
    """The model directory of a SightSound-mini role (shipped, else cached, else trained now)."""
    if role not in ROLES:
        raise ValueError(f"unknown SightSound-mini role {role!r} (expected one of {', '.join(ROLES)})")
    shipped = shipped_dir(role)
    if shipped is not None:
        return shipped
    cached = cached_dir(role)
    if _complete(cached):
        return cached
    if not train_if_missing:
        raise FileNotFoundError(f"no SightSound-mini {role} checkpoint: neither {ASSETS / role} nor {cached}")
    from sightsound.mini.pretrain import pretrain

    init = mini_model_dir(INIT_FROM[role]) if role in INIT_FROM else None
    log.info("no shipped SightSound-mini %s: training one into %s (about 10 minutes)", role, cached)
    tmp = cached.with_name(cached.name + ".partial")  # a killed run never leaves a half model in place
    pretrain(role, tmp, init=init, freeze_encoder=init is not None)
    if cached.exists():
        shutil.rmtree(cached)
    tmp.rename(cached)
    return cached
