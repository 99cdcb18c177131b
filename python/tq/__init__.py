"""tq: run Python functions on a tq cluster, the way multiprocessing.Pool does.

This file stays import-light on purpose: ``python -m tq.runner`` (the process a
worker runs users' code in) executes it first, and a runner must start fast.
"""
