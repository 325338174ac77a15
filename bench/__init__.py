"""Benchmarks of loketvalinso against a hand-written baseline (``python -m bench``).

See ``bench/README.md``. Nothing here is imported by the package; tests run a tiny smoke run.
"""
