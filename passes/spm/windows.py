"""Divide and conquer for graphs the exact scratchpad models cannot close: cut the best
order into windows, solve each window with the ILP, and stitch the plans.

Why: the CP-SAT models grow with ops x uses and stop proving (or even improving) past
a hundred-odd ops, while tiled NPU graphs have thousands. A window of the order is a
problem of its own once the tensors that cross its boundaries are given DRAM homes.

How: the cuts go where the fewest bytes cross (a crossing intermediate costs a store
and a reload, a crossing input/weight a reload), one per stretch of at most
`window_ops` ops. Each window becomes an `SpmProblem`: a tensor produced before it is an
input of the window, one produced in it and needed after it (or a graph output) is an
output, weights and graph inputs stay what they are. The scratchpad is empty at every
cut (everything resident is stored if needed, then freed), so the stitched plan's traffic
is exactly the windows' plus what crosses the cuts; `replay` checks the whole. The
caller keeps it only if it beats the plan it already has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from hetc.passes.spm.problem import (
    Alloc,
    Free,
    Load,
    SpmOp,
    SpmPlan,
    SpmProblem,
    SpmTensor,
    Step,
    replay,
)


def cuts(problem: SpmProblem, order: Sequence[SpmOp], window_ops: int) -> list[int]:
    """Positions (0 < c < n) at which to cut `order`, each window at most `window_ops` ops
    and at least half that, every cut where the cost of what crosses it is lowest."""
    n = len(order)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, op in enumerate(order):
        for t in (*op.reads, *op.writes):
            first.setdefault(t, i)
            last[t] = i
    # cost[c] = bytes a cut before op c adds: tensors used on both sides
    delta = [0] * (n + 1)
    for t, f in first.items():
        kind = problem.tensors[t].kind
        w = problem.tensors[t].size * (2 if kind == "intermediate" else 1)
        if last[t] > f:
            delta[f + 1] += w
            delta[last[t] + 1] -= w
    cost = [0] * (n + 1)
    run = 0
    for c in range(n + 1):
        run += delta[c]
        cost[c] = run
    out: list[int] = []
    at = 0
    while n - at > window_ops:
        lo, hi = at + max(1, window_ops // 2), min(n - 1, at + window_ops)
        c = min(range(lo, hi + 1), key=lambda x: (cost[x], -x))
        out.append(c)
        at = c
    return out


def window_problem(problem: SpmProblem, ops: Sequence[SpmOp], before: set[str], after: set[str]) -> SpmProblem:
    """The window of `ops` as a problem of its own; `before`/`after`: the tensors used by
    ops before / after the window."""
    produced = {t for op in ops for t in op.writes}
    tensors: dict[str, SpmTensor] = {}
    for op in ops:
        for t in dict.fromkeys((*op.reads, *op.writes)):
            x = problem.tensors[t]
            if t in produced:
                kind = "output" if x.kind == "output" or t in after else "intermediate"
            elif x.kind in ("intermediate", "output"):
                kind = "input"  # produced by an earlier window, in DRAM at the cut
            else:
                kind = x.kind
            tensors[t] = SpmTensor(t, x.size, kind)
    return SpmProblem(tensors, list(ops), problem.capacity, problem.alignment)


def stitched(
    problem: SpmProblem,
    order: Sequence[SpmOp],
    *,
    window_ops: int,
    time_limit_s: float,
    solve: Callable[[SpmProblem, float], SpmPlan],
    progress: Callable[[str], None] | None = None,
) -> list[Step]:
    """The plan made of per-window plans (`solve(window, seconds)`), empty SPM at each cut."""
    t0 = time.perf_counter()
    cs = [0, *cuts(problem, order, window_ops), len(order)]
    used_at: dict[str, list[int]] = {}
    for i, op in enumerate(order):
        for t in dict.fromkeys((*op.reads, *op.writes)):
            used_at.setdefault(t, []).append(i)
    steps: list[Step] = []
    nwin = len(cs) - 1
    for w in range(nwin):
        a, b = cs[w], cs[w + 1]
        ops = order[a:b]
        touched = {t for op in ops for t in (*op.reads, *op.writes)}
        before = {t for t in touched if used_at[t][0] < a}
        after = {t for t in touched if used_at[t][-1] >= b}
        sub = window_problem(problem, ops, before, after)
        left = time_limit_s - (time.perf_counter() - t0)
        plan = solve(sub, left / (nwin - w))
        if progress:
            progress(f"window {w + 1}/{nwin}: ops {a}..{b - 1}, {replay(sub, plan).noncompulsory} B non-compulsory")
        resident: set[str] = set()
        for s in plan.steps:
            steps.append(s)
            if isinstance(s, (Load, Alloc)):
                resident.add(s.tensor)
            elif isinstance(s, Free):
                resident.discard(s.tensor)
        # empty the scratchpad at the cut: what is needed later is a window output, which
        # its plan stored when it was computed
        steps.extend(Free(t) for t in sorted(resident))
    return steps
