"""Ratio benchmarks of the engines against the tutorial algorithms (see README.md)."""
