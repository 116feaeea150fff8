"""Benchmark loaders: AVQA, MUSIC-AVQA, MMAU test-mini, MMAR and the synthetic world, as :class:`Sample` lists.

>>> bench = load_benchmark("mmau", "mmau-test-mini.json", media_root="mmau/")   # doctest: +SKIP
>>> bench.summary()["skipped"], bench[0].question, bench[0].choices, bench[0].answer
"""

from sightsound.data.base import Benchmark, MalformedRecord, Skipped
from sightsound.data.registry import BENCHMARKS, canonical_name, load_benchmark, select

__all__ = ["BENCHMARKS", "Benchmark", "MalformedRecord", "Skipped", "canonical_name", "load_benchmark", "select"]
