"""Running benchmark suites and storing their run records.

This file imports nothing on purpose: ``chaosbench.records`` is read by the leaderboard,
which must never load model or training code.
"""
