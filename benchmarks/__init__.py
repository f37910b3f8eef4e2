"""Benchmarks of resode: ``python -m benchmarks`` runs them all, prints one table, writes JSON.

- :mod:`benchmarks.step_time`: forward+backward time against a plain loop and torchdiffeq.
- :mod:`benchmarks.throughput`: achieved GFLOP/s against the machine's sgemm.
- :mod:`benchmarks.memory`: peak memory and time of the memory modes of ODEBlock.

The other scripts here (``tasks.py``, ``guard_overhead.py``, …) run on their own.
"""
