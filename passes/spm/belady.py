"""The `belady` scratchpad allocator: the strong fixed-order baseline.

The given topological order, first-fit at the lowest free aligned offset with compaction
(Move steps when the free space suffices but no hole does), and furthest-next-use
eviction (Belady's MIN; a tensor never used again is freed at once, and ties go to the
one already in DRAM, whose eviction costs no store). With a fixed order this is optimal
or close on most points; what it cannot do is choose the order, which the ILP does.
The shared rules are in `sim.py`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from hetc.passes.spm.problem import SpmOp, SpmPlan, SpmProblem, replay
from hetc.passes.spm.sim import heuristic_report, simulate


def belady(problem: SpmProblem, order: Sequence[SpmOp] | None = None) -> SpmPlan:
    """Furthest-next-use eviction with compaction, in `order` (default `problem.ops`),
    checked by replay."""
    t0 = time.perf_counter()
    plan = SpmPlan("belady", simulate(problem, problem.ops if order is None else order, evict="furthest", compact=True))
    traffic = replay(problem, plan)
    plan.solver = heuristic_report(traffic.noncompulsory, time.perf_counter() - t0, "furthest next use, first-fit with compaction, given order")
    return plan
