"""Which revision of a benchmark a file is, detected from its content, never assumed.

MMAU test-mini exists in revisions that score very differently (Qwen2-Audio-Instruct, official
leaderboard: Sound 54.95 on the original, 67.27 on v05.15.25), so every result names the revision
that was read. A revision is recognised by a fingerprint of its *content* — the sha256 of the
sorted ``(id, question, choices, answer)`` of every item — so the same benchmark with other audio
paths, key order or whitespace is still recognised, while one changed answer is not. A file that
matches no known fingerprint is reported as an ``unknown revision`` with its fingerprints; it is
never guessed to be the nearest one.

Known MMAU test-mini revisions (files of the Sakshi113/MMAU repository):

=========================  ==============  =====================================================
id                         line            what
=========================  ==============  =====================================================
``original-2025-03-25``    ``original``    the original test-mini, last revision before v05.15.25
                                           (commit 1f675a9; the version of most 2024–25 papers)
``v05.15.25-2025-05-15``   ``v05.15.25``   v05.15.25 as first released (commit 6674fa1)
``v05.15.25-2025-08-09``   ``v05.15.25``   the 2025-08-09 revision of v05.15.25 (commit f0a4a97)
=========================  ==============  =====================================================
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sightsound.runinfo import file_sha256

UNKNOWN = "unknown revision"

# content fingerprint -> (revision id, line, description)
MMAU_REVISIONS: dict[str, tuple[str, str, str]] = {
    "65a7702513f72f0b3a72d65854c8b0993168ffabc9e2703b4267357a41278999":
        ("original-2025-03-25", "original", "MMAU test-mini, original release (revision of 2025-03-25)"),
    "6dfa98e1160e61db3999027ca2310b35ae35966d3a5b3a2400b20f0e6fd5e873":
        ("v05.15.25-2025-05-15", "v05.15.25", "MMAU test-mini v05.15.25, as first released (2025-05-15)"),
    "be711248bfb6e1f4c403ee552be205089dc206c9d2f9b74f13112ac0502e8422":
        ("v05.15.25-2025-08-09", "v05.15.25", "MMAU test-mini v05.15.25, revision of 2025-08-09"),
}


def content_fingerprint(items: list[Any]) -> str:
    """sha256 of the sorted ``[id, question, choices, answer]`` of every item (JSON, compact, UTF-8)."""
    rows = sorted(([str(it.get("id")), it.get("question"), it.get("choices"), it.get("answer")]
                   for it in items if isinstance(it, dict)), key=lambda r: r[0])
    blob = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def detect_version(benchmark: str, annotations: str | Path) -> dict[str, Any]:
    """``{"benchmark", "revision", "line", "description", "known", "content_sha256", "file_sha256"}``.

    For MMAU the revision is looked up by content; other benchmarks have one public release here,
    so only the file's hash is recorded (``revision`` None).
    """
    path = Path(annotations)
    out: dict[str, Any] = {"benchmark": benchmark, "revision": None, "line": None, "description": None,
                           "known": None, "content_sha256": None, "file_sha256": file_sha256(path)}
    if benchmark != "mmau":
        return out
    from sightsound.data.base import read_json_list

    fp = content_fingerprint(read_json_list(path))
    rev = MMAU_REVISIONS.get(fp)
    out.update(content_sha256=fp, known=rev is not None)
    if rev:
        out.update(revision=rev[0], line=rev[1], description=rev[2])
    else:
        out.update(revision=UNKNOWN, description=f"MMAU test-mini, {UNKNOWN} (content sha256 {fp[:16]}…)")
    return out


def check_expected(detected: dict[str, Any], expected: str | None, where: str | Path) -> None:
    """Refuse (ValueError, one line) when ``expected`` names another revision or line than ``detected``."""
    if not expected:
        return
    if expected in (detected.get("revision"), detected.get("line")):
        return
    known = sorted({r for r, _, _ in MMAU_REVISIONS.values()} | {line for _, line, _ in MMAU_REVISIONS.values()})
    raise ValueError(f"{where}: expected MMAU version {expected!r} but the file is "
                     f"{detected.get('revision')!r} ({detected.get('description')}); known: {', '.join(known)}")
