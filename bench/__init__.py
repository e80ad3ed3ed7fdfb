"""Benchmarks: long measurements kept out of the test suite (see docs/benchmarks.md)."""
