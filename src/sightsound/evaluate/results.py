"""The results JSON that ``eval`` and ``score`` write (and ``compare`` reads).

Top level: ``benchmark``, ``version``, ``split``, ``selection`` (which items), ``n``, ``correct``,
``accuracy`` (a fraction), ``missing_predictions``, ``not_in_predictions``, ``unparsable``,
``unparsable_rate``, ``breakdowns`` (per category / sub-category / difficulty / task / question
type / evidence / family: ``{"n", "correct", "accuracy"}``), ``scoring`` (the rule), ``annotations``
(path and content hash), ``load`` (records read and malformed ones skipped), ``packages``, and from
``eval`` also ``model``, ``adapter``, ``config_hash``, ``answer_parser``, ``generation``,
``control`` (null for the main run) and ``controls`` (the control runs' scores beside the main one).
"""

from __future__ import annotations

import time
from typing import Any

from sightsound.data.base import Benchmark
from sightsound.runinfo import file_fingerprint, package_versions

SCORING_RULES = {
    "mmau": "official MMAU string_match (token sets of \\b\\w+\\b, lower case); no prediction counts wrong",
    "mmar": "official MMAR string_match (same rule as MMAU); no prediction counts wrong",
    "music-avqa": "normalized exact match (lower case, '_' and punctuation as spaces, digits as words, "
                  "articles dropped)",
    "avqa": "exact choice match (option read by sightsound.parsing)",
    "synthetic": "exact choice match (option read by sightsound.parsing)",
}


def results_dict(bench: Benchmark, metrics: dict[str, Any], *, version: str | None = None,
                 selection: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {
        "benchmark": bench.name,
        "version": version,
        "split": bench.split,
        "selection": selection or {},
        **{k: v for k, v in metrics.items() if k != "breakdowns"},
        "breakdowns": metrics.get("breakdowns", {}),
        "scoring": SCORING_RULES[bench.name],
        "annotations": {"path": bench.annotations, "sha256_16": file_fingerprint(bench.annotations)},
        "load": {k: v for k, v in bench.summary().items() if k != "skipped_records"},
        "packages": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.update(extra or {})
    return out


def benchmark_version(name: str, eval_cfg) -> str | None:
    """The benchmark version to record (MMAU's two releases score very differently)."""
    if name == "mmau":
        return eval_cfg.mmau_version
    return None
