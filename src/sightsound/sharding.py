"""Deterministic data sharding for multi-node runs.

``--shard i/N`` (0-based ``i``) selects the records whose id hashes to ``i`` modulo ``N``. The
hash is of the id, not the position, so a shard's content does not change when records are
added, removed or reordered elsewhere in the file, and every node computes the same split
without coordination. :mod:`sightsound.merge` joins the shards' outputs again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TypeVar

from sightsound.config import ConfigError

T = TypeVar("T")


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``; None/empty -> None (no sharding)."""
    if spec is None or spec == "":
        return None
    try:
        i_str, n_str = spec.split("/")
        i, n = int(i_str), int(n_str)
    except ValueError:
        raise ConfigError(f"--shard must look like i/N (e.g. 0/4), got {spec!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {spec!r}: need N >= 1 and 0 <= i < N (shards are numbered from 0)")
    return i, n


def stable_hash(key: str) -> int:
    """A process-independent 64-bit hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def shard_index(key: str, num_shards: int) -> int:
    return stable_hash(key) % num_shards


def select_shard(items: Iterable[T], shard: tuple[int, int] | str | None, key=lambda x: x.id) -> list[T]:
    """The items of shard ``(i, N)``, in their original order; all items when ``shard`` is None."""
    if isinstance(shard, str):
        shard = parse_shard(shard)
    items = list(items)
    if shard is None:
        return items
    i, n = shard
    return [x for x in items if shard_index(str(key(x)), n) == i]
