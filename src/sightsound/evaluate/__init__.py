"""Evaluation: benchmarks through the student, the official scoring rules, controls and comparisons.

``run`` (``sightsound eval``, :func:`evaluate`), ``score`` (``sightsound score``), ``compare``
(``sightsound compare``); the rules live in :mod:`sightsound.evaluate.scoring`.
"""
