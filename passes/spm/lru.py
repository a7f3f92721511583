"""The `lru` scratchpad allocator: the baseline COSMA compares against.

The given topological order, first-fit at the lowest free aligned offset, least-recently
used eviction until a contiguous hole fits, and no compaction (so fragmentation costs
evictions). Dead tensors are freed at once and outputs are stored when produced; the
shared rules are in `sim.py`.
"""

from __future__ import annotations

import time

from hetc.passes.spm.problem import SpmPlan, SpmProblem, replay
from hetc.passes.spm.sim import heuristic_report, simulate


def lru(problem: SpmProblem) -> SpmPlan:
    """LRU eviction, first-fit, no compaction, in `problem.ops` order (checked by replay)."""
    t0 = time.perf_counter()
    plan = SpmPlan("lru", simulate(problem, problem.ops, evict="lru", compact=False))
    traffic = replay(problem, plan)
    plan.solver = heuristic_report(traffic.noncompulsory, time.perf_counter() - t0, "lru, first-fit, no compaction, given order")
    return plan
