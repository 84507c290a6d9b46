"""External benchmarks of the detectors (NAB v1.1, GECCO 2018): loaders, scorers, runners.

The data is read from ``envmon.paths.SHARED / "bench"`` and never copied into the repo.
"""
