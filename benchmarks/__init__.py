"""Benchmarks (`paystream bench` and the scripts beside them), kept apart from product code.

May import every product package and the dev runtime (they start the real services they
measure); nothing but the `paystream` command imports them.
"""
