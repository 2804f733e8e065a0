"""`make bench`: the performance harness (see `bench/run.py` and the README's Performance section)."""
