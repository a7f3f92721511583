"""Scratchpad (SPM) allocation for the NPU target: the problem/plan contract
(`problem.py`), the allocators (ILP, Belady, LRU) and their shared helpers."""
