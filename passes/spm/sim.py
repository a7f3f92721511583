"""The fixed-order scratchpad allocator both baselines share, and the cost of an order.

Why one simulator: `lru` and `belady` differ only in two choices (which resident tensor
to evict, and whether the scratchpad may be compacted), and the ILP's order search
evaluates many candidate orders with the same machinery, so all three must agree on
every other rule. Those rules (from issue 8):

- ops run in the given order; before an op, every tensor it reads is loaded (DRAM ->
  SPM) and every tensor it writes is allocated, each first-fit at the lowest free aligned
  offset;
- when a tensor does not fit, resident tensors the op does not use are evicted in the
  policy's order ("lru": least recently used first; "furthest": the one whose next use
  is furthest away, ties broken towards clean (already in DRAM) then larger tensors).
  Eviction stores a value with no DRAM copy (it is always still needed: dead tensors are
  freed at once) and frees it;
- with `compact`, eviction stops as soon as the total free space suffices and the
  scratchpad is then compacted (Move steps, lowest offset first); without it, eviction
  goes on until a contiguous hole fits. If even evicting every other tensor leaves no
  hole (the op's own operands fragment the space), the op's already placed operands are
  dropped (stored if dirty) and all of them are placed again into the empty space;
- an output is stored right after the op that writes it (its compulsory store); a
  tensor with no later use is freed right after its last use.

`simulate` returns the plan steps; `replay` in problem.py checks and prices them.
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

INF = 1 << 60


def use_steps(problem: SpmProblem, order: Sequence[SpmOp]) -> dict[str, list[int]]:
    """tensor -> the sorted positions in `order` of the ops that read or write it."""
    uses: dict[str, list[int]] = {t: [] for t in problem.tensors}
    for i, op in enumerate(order):
        for t in dict.fromkeys((*op.reads, *op.writes)):
            uses[t].append(i)
    return uses


def first_fit(resident: dict[str, int], sizes: dict[str, int], size: int, capacity: int) -> int | None:
    """Lowest offset of a hole of `size` bytes between the resident tensors, or None."""
    off = 0
    for o, t in sorted((o, t) for t, o in resident.items()):
        if o - off >= size:
            return off
        off = max(off, o + sizes[t])
    return off if off + size <= capacity else None


def simulate(problem: SpmProblem, order: Sequence[SpmOp], *, evict: str, compact: bool) -> list[Step]:
    """The plan steps of the fixed-order allocator (see the module docstring)."""
    if evict not in ("lru", "furthest"):
        raise ValueError(f"evict must be 'lru' or 'furthest', not {evict!r}")
    tensors = problem.tensors
    sizes = {t: problem.aligned(t) for t in tensors}
    cap = problem.capacity
    uses = use_steps(problem, order)
    nxt = {t: 0 for t in tensors}  # index into uses[t] of the next use at or after the current step
    resident: dict[str, int] = {}
    in_dram = {t for t, x in tensors.items() if x.kind in ("input", "weight")}
    last_touch: dict[str, int] = {}
    steps: list[Step] = []

    def next_use(t: str) -> int:
        u = uses[t]
        return u[nxt[t]] if nxt[t] < len(u) else INF

    def drop(t: str) -> None:
        if t not in in_dram:
            steps.append(Store(t))
            in_dram.add(t)
        steps.append(Free(t))
        del resident[t]

    def compact_all() -> None:
        off = 0
        for o, t in sorted((o, t) for t, o in resident.items()):
            if o != off:
                steps.append(Move(t, off))
                resident[t] = off
            off += sizes[t]

    for i, op in enumerate(order):
        if problem.footprint(op) > cap:
            problem.validate()  # raises SpmTooLarge naming the op
        needed = list(dict.fromkeys((*op.reads, *op.writes)))
        pinned = set(needed)
        missing = [t for t in needed if t not in resident]
        k = 0
        while k < len(missing):
            t = missing[k]
            off = first_fit(resident, sizes, sizes[t], cap)
            while off is None:
                free = cap - sum(sizes[r] for r in resident)
                if compact and free >= sizes[t]:
                    compact_all()
                    off = first_fit(resident, sizes, sizes[t], cap)
                    break
                victims = [r for r in resident if r not in pinned]
                if not victims:
                    # only this op's operands are left and they fragment the space: place
                    # them all again from an empty scratchpad (their sum fits: validated)
                    for r in [r for r in needed if r in resident]:
                        if r in op.writes:
                            steps.append(Free(r))  # allocated, not written yet: no value
                            del resident[r]
                        else:
                            drop(r)
                    missing = [r for r in needed if r not in resident]
                    k = -1
                    break
                if evict == "lru":
                    v = min(victims, key=lambda r: (last_touch.get(r, -1), r))
                else:
                    v = max(victims, key=lambda r: (next_use(r), r in in_dram, sizes[r], r))
                drop(v)
                off = first_fit(resident, sizes, sizes[t], cap)
            if k >= 0:
                assert off is not None
                resident[t] = off
                steps.append(Alloc(t, off) if t in op.writes else Load(t, off))
            k += 1
        steps.append(Compute(op.name))
        for t in needed:
            last_touch[t] = i
            nxt[t] += 1
        for t in op.writes:
            if tensors[t].kind == "output":
                steps.append(Store(t))
                in_dram.add(t)
        for t in needed:
            if next_use(t) == INF:
                steps.append(Free(t))
                del resident[t]
    return steps


def peak_footprint(problem: SpmProblem, order: Sequence[SpmOp]) -> int:
    """The most bytes resident at once when every tensor stays in the scratchpad from its
    first to its last use in `order` (what zero non-compulsory traffic needs, compaction
    allowed)."""
    uses = use_steps(problem, order)
    delta = [0] * (len(order) + 1)
    for t, u in uses.items():
        if u:
            delta[u[0]] += problem.aligned(t)
            delta[u[-1] + 1] -= problem.aligned(t)
    peak = cur = 0
    for d in delta[:-1]:
        cur += d
        peak = max(peak, cur)
    return peak


def heuristic_report(noncompulsory: int, seconds: float, method: str) -> dict:
    """`plan.solver` of a plan no solver proved: its only bound is 0, so it is OPTIMAL
    when it moves nothing non-compulsory and HEURISTIC with gap 1 otherwise."""
    return {"status": "HEURISTIC" if noncompulsory else "OPTIMAL", "gap": 1.0 if noncompulsory else 0.0,
            "seconds": seconds, "objective": noncompulsory, "bound": 0, "method": method}
