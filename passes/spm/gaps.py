"""Residency intervals <-> plan steps, and `fill_gaps`: keep a tensor resident across a
gap in its residency wherever the scratchpad has room, instead of freeing and reloading it.

Why: plans stitched from windows (`windows.py`) empty the scratchpad at every cut, and
belady frees what it evicts even when a later eviction makes room again; a tensor that
is dropped and loaded back while the bytes resident in between would have left room
for it pays a reload (and, for an intermediate, a spill store) for nothing. With
compaction free of DRAM traffic, only the bytes resident per op matter, so closing such
a gap is a check on the capacity profile between its ends.

How: the plan becomes, per tensor, its residency intervals in op time ([s, e): resident
while ops s..e-1 run); an interval covering no use of its tensor is dropped (a wasted
load); then gaps are closed greedily, the largest saving first (a reload, plus the spill
store when it was the tensor's only gap and it has no DRAM copy otherwise), each only if
every op inside the gap has room for the tensor. `steps_from_intervals` turns intervals
back into steps (frees before loads at each op, a spill store where a value without a
DRAM copy is dropped while still needed, first-fit with compaction), the same conversion
the exact model's solutions use. The result is checked by `replay` by the caller and
never costs more than the plan it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from hetc.passes.spm.problem import (
    Alloc,
    Compute,
    Free,
    Load,
    Move,
    SpmOp,
    SpmProblem,
    Step,
    Store,
)
from hetc.passes.spm.sim import first_fit

#: tensor -> [(start, end, offset or -1)] in op positions, in time order
Intervals = dict[str, list[tuple[int, int, int]]]


def intervals_of(problem: SpmProblem, steps: Sequence[Step]) -> tuple[list[str], Intervals]:
    """(the op order, the residency intervals) of a plan; Moves are ignored (offsets are
    the first ones), intervals that hold no op are dropped."""
    out: Intervals = {t: [] for t in problem.tensors}
    open_: dict[str, tuple[int, int]] = {}
    order: list[str] = []
    for s in steps:
        if isinstance(s, (Load, Alloc)):
            open_[s.tensor] = (len(order), s.offset)
        elif isinstance(s, Free):
            st, off = open_.pop(s.tensor)
            if len(order) > st:
                out[s.tensor].append((st, len(order), off))
        elif isinstance(s, Compute):
            order.append(s.op)
    for t, (st, off) in open_.items():
        if len(order) > st:
            out[t].append((st, len(order), off))
    for ivs in out.values():
        ivs.sort()
    return order, out


def steps_from_intervals(
    problem: SpmProblem, order: Sequence[SpmOp], ivs: Intervals, *, addresses: bool = False
) -> list[Step]:
    """The plan of `order` with each tensor resident over its intervals (positions in
    `order`). With `addresses`, the intervals' offsets are used as they are; without,
    offsets are first-fit with compaction (Move) where no hole fits, which is always
    possible when the resident bytes fit the capacity."""
    tensors = problem.tensors
    users: dict[str, int] = {}
    for op in order:
        for t in dict.fromkeys((*op.reads, *op.writes)):
            users[t] = users.get(t, 0) + 1
    starts: dict[int, list[tuple[str, int, int]]] = {}
    ends: dict[int, list[str]] = {}
    for t, lst in ivs.items():
        for k, (s, e, off) in enumerate(lst):
            starts.setdefault(s, []).append((t, k, off))
            ends.setdefault(e, []).append(t)
    in_dram = {t for t, x in tensors.items() if x.kind in ("input", "weight")}
    remaining = dict(users)
    steps: list[Step] = []
    resident: dict[str, int] = {}
    sizes = {t: problem.aligned(t) for t in tensors}
    for step_i, op in enumerate(order):
        for t in sorted(ends.get(step_i, [])):
            if t not in in_dram and remaining.get(t, 0) > 0:
                steps.append(Store(t))
                in_dram.add(t)
            steps.append(Free(t))
            del resident[t]
        # largest first: fewer compactions when offsets are placed here (no addresses)
        for t, k, off in sorted(starts.get(step_i, []), key=lambda x: (-sizes[x[0]], x[0])):
            if not addresses:
                off = first_fit(resident, sizes, sizes[t], problem.capacity)
                if off is None:  # the capacity holds them all (cumulative): compact
                    at = 0
                    for o, r in sorted((o, r) for r, o in resident.items()):
                        if o != at:
                            steps.append(Move(r, at))
                            resident[r] = at
                        at += sizes[r]
                    off = at
            resident[t] = off
            first_write = k == 0 and tensors[t].kind in ("intermediate", "output")
            steps.append(Alloc(t, off) if first_write else Load(t, off))
        steps.append(Compute(op.name))
        for t in dict.fromkeys((*op.reads, *op.writes)):
            remaining[t] -= 1
        for t in op.writes:
            if tensors[t].kind == "output":
                steps.append(Store(t))
                in_dram.add(t)
    return steps


def fill_gaps(problem: SpmProblem, steps: Sequence[Step]) -> list[Step]:
    """The plan with every affordable residency gap closed (see the module docstring);
    same order, never more DRAM traffic."""
    names, ivs = intervals_of(problem, steps)
    by_name = {op.name: op for op in problem.ops}
    order = [by_name[n] for n in names]
    n = len(order)
    uses: dict[str, set[int]] = {}
    for i, op in enumerate(order):
        for t in (*op.reads, *op.writes):
            uses.setdefault(t, set()).add(i)
    size = {t: problem.aligned(t) for t in problem.tensors}
    # drop intervals that serve no use (a load evicted before it was needed)
    for t, lst in ivs.items():
        keep = [iv for k, iv in enumerate(lst) if any(iv[0] <= u < iv[1] for u in uses.get(t, ()))]
        if len(keep) != len(lst):
            ivs[t] = keep
    load = [0] * n
    for t, lst in ivs.items():
        for s, e, _ in lst:
            for i in range(s, e):
                load[i] += size[t]
    cands = []
    for t, lst in ivs.items():
        x = problem.tensors[t]
        for k in range(len(lst) - 1):
            # a reload saved; an intermediate's spill store too when this is its only gap
            saving = x.size * (2 if x.kind == "intermediate" and len(lst) == 2 else 1)
            cands.append((-saving, t, lst[k][1], lst[k + 1][0]))
    cands.sort()
    cap = problem.capacity
    for _, t, gs, ge in cands:
        lst = ivs[t]
        k = next((k for k in range(len(lst) - 1) if lst[k][1] == gs and lst[k + 1][0] == ge), None)
        if k is None or any(load[i] + size[t] > cap for i in range(gs, ge)):
            continue
        for i in range(gs, ge):
            load[i] += size[t]
        lst[k:k + 2] = [(lst[k][0], lst[k + 1][1], lst[k][2])]
    return steps_from_intervals(problem, order, ivs)
