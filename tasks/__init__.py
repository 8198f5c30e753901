"""The tasks that ship with l2s-bench, read through `l2s_bench.builtin` (package data, not code)."""
