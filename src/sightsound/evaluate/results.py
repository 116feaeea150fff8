"""The results JSON that ``eval`` and ``score`` write (and ``compare`` reads).

Top level: ``benchmark``, ``version`` (the detected revision, in words), ``version_detail``
(:func:`sightsound.data.versions.detect_version`: revision id, line, content and file sha256),
``split``, ``selection`` (which items), ``n``, ``correct``, ``accuracy`` (a fraction, the
benchmark's official rule), ``ci95`` (its Wilson 95 % interval), ``choice_parsed`` (the letter-aware
reading, with its own interval), ``interval`` (the method), ``missing_predictions``,
``not_in_predictions``, ``unparsable``, ``unparsable_rate``, ``format_rate``, ``answer_tag_rate``,
``breakdowns`` (per category / sub-category / difficulty / task / question type / evidence /
family: ``{"n", "correct", "accuracy", "ci95"}``), ``scoring`` (the rule), ``extraction`` (what text
of a reply is scored), ``annotations`` (path and content hash), ``load`` (records read and malformed
ones skipped), ``packages``, and from ``eval`` also ``system``, ``model``, ``adapter``,
``config_hash``, ``answer_parser``, ``prompt`` / ``prompt_style``, ``generation``, ``control`` (null
for the main run) and ``controls`` (the control runs' scores beside the main one); from ``score``,
``prediction_keys`` (which keys of the file were read).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sightsound.data.base import Benchmark
from sightsound.evaluate.intervals import WILSON
from sightsound.runinfo import file_fingerprint, package_versions

EXTRACTION = ("the last <answer>...</answer> block's content, else the whole reply (as R1-AQA's MMAU script); "
              "missing = empty reply or generation error")
SCORING_RULES = {
    "mmau": "official MMAU string_match (token sets of \\b\\w+\\b, lower case) on the extracted text, "
            "no letter mapping; no prediction counts wrong",
    "mmar": "official MMAR string_match (same rule as MMAU) on the extracted text, no letter mapping; "
            "no prediction counts wrong",
    "music-avqa": "normalized exact match (lower case, '_' and punctuation as spaces, digits as words, "
                  "articles dropped)",
    "avqa": "exact choice match (option read by sightsound.parsing)",
    "synthetic": "exact choice match (option read by sightsound.parsing)",
}


def results_dict(bench: Benchmark, metrics: dict[str, Any], *, version: dict[str, Any] | None = None,
                 selection: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {
        "benchmark": bench.name,
        "version": (version or {}).get("description"),
        "version_detail": version,
        "split": bench.split,
        "selection": selection or {},
        **{k: v for k, v in metrics.items() if k != "breakdowns"},
        "breakdowns": metrics.get("breakdowns", {}),
        "interval": WILSON,
        "scoring": SCORING_RULES[bench.name],
        "extraction": EXTRACTION,
        "annotations": {"path": bench.annotations, "sha256_16": file_fingerprint(bench.annotations)},
        "load": {k: v for k, v in bench.summary().items() if k != "skipped_records"},
        "packages": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.update(extra or {})
    return out


def benchmark_version(name: str, annotations: str | Path, expected: str | None = None) -> dict[str, Any]:
    """The detected revision of the annotation file (MMAU by content); ``expected`` asserts it.

    A mismatch is a :class:`~sightsound.config.ConfigError` (one line, through the CLI's user-error path).
    """
    from sightsound.config import ConfigError
    from sightsound.data.versions import check_expected, detect_version

    detected = detect_version(name, annotations)
    if expected and name == "mmau":
        try:
            check_expected(detected, expected, annotations)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    return detected
