"""Evaluation: benchmarks through the student, the official scoring rules, controls and comparisons.

:mod:`~sightsound.evaluate.run` (:func:`~sightsound.evaluate.run.evaluate`: the student answers a
benchmark), :mod:`~sightsound.evaluate.score_file` (a predictions file scored without the model),
:mod:`~sightsound.evaluate.compare` (systems side by side); the rules live in
:mod:`sightsound.evaluate.scoring`.
"""
