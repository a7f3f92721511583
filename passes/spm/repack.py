"""Re-place a scratchpad plan's tensors at fixed offsets so that it needs no compaction.

Why: belady and the ILP's residency model decide *when* each tensor is resident and
realize it with first-fit plus compaction (Move steps: no DRAM traffic, but SPM
bandwidth on the NPU). With the residency intervals fixed, finding offsets that never
overlap is the same 2-D packing the C backend's arena planner solves
(`hetc.passes.plan_memory.plan_memory`: greedy by size, then CP-SAT). When that packing
fits the capacity, the plan keeps its DRAM traffic exactly and loses every Move.
"""

from __future__ import annotations

from collections.abc import Sequence

from hetc.passes.plan_memory import ALIGNMENT, Buffer, plan_memory
from hetc.passes.spm.problem import Alloc, Free, Load, Move, SpmProblem, Step

#: plans with more resident intervals than this are not repacked (see `repack`)
MAX_BUFFERS = 4000


def repack(problem: SpmProblem, steps: Sequence[Step], time_limit_s: float = 1.0) -> list[Step] | None:
    """The same plan without Move steps, every resident interval at one fixed offset, or
    None when no packing found in time fits the capacity."""
    if problem.alignment % ALIGNMENT:
        return None  # the arena planner aligns to ALIGNMENT only
    kept = [s for s in steps if not isinstance(s, Move)]
    bufs: list[Buffer] = []
    where: dict[int, int] = {}  # step index of a Load/Alloc -> its buffer
    open_: dict[str, int] = {}
    for i, s in enumerate(kept):
        if isinstance(s, (Load, Alloc)):
            open_[s.tensor] = i
        elif isinstance(s, Free):
            first = open_.pop(s.tensor)
            where[first] = len(bufs)
            bufs.append(Buffer(s.tensor, problem.aligned(s.tensor), first, i))
    for t, first in open_.items():
        where[first] = len(bufs)
        bufs.append(Buffer(t, problem.aligned(t), first, len(kept)))
    if not bufs:
        return list(kept)
    if len(bufs) > MAX_BUFFERS:
        return None  # the arena planner's greedy is quadratic: 11 s on 11k buffers, past any limit
    plan = plan_memory(bufs, time_limit=time_limit_s)
    if plan.arena_bytes > problem.capacity:
        return None
    out: list[Step] = []
    for i, s in enumerate(kept):
        if isinstance(s, Load):
            out.append(Load(s.tensor, plan.offsets[where[i]]))
        elif isinstance(s, Alloc):
            out.append(Alloc(s.tensor, plan.offsets[where[i]]))
        else:
            out.append(s)
    return out
