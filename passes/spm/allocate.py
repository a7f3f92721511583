"""The one entry point of the scratchpad allocators: `allocate(problem, method)`.

`method` is "ilp" (CP-SAT over order, offsets and spills, with order search and a
belady fallback: `ilp.py`), "belady" (`belady.py`) or "lru" (`lru.py`). Every plan
returned has been checked by `replay`, so `replay(problem, plan)` is its traffic.
"""

from __future__ import annotations

from collections.abc import Callable

from hetc.diagnostics import HetcError
from hetc.passes.spm.problem import SpmPlan, SpmProblem

METHODS: tuple[str, ...] = ("ilp", "belady", "lru")


def allocate(
    problem: SpmProblem,
    method: str = "ilp",
    *,
    time_limit_s: float = 10.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> SpmPlan:
    """Plan the scratchpad for `problem` with `method`; raises HetcError for an unknown
    method or a malformed problem, SpmTooLarge for an op that cannot fit."""
    if method not in METHODS:
        raise HetcError(f"unknown scratchpad allocator '{method}' (known: {', '.join(METHODS)})")
    problem.validate()
    if method == "lru":
        from hetc.passes.spm.lru import lru

        return lru(problem)
    if method == "belady":
        from hetc.passes.spm.belady import belady

        return belady(problem)
    from hetc.passes.spm.ilp import ilp

    return ilp(problem, time_limit_s=time_limit_s, seed=seed, progress=progress)
