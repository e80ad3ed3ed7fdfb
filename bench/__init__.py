"""Benchmarks: long measurements kept out of the test suite (see README, Measured)."""
