"""Benchmarks under ``envmon bench``: each module defines ``register(sub)``."""
