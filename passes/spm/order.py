"""Order search for the scratchpad ILP: memory-aware topological orders, each priced by
the fixed-order belady allocator.

Why: with a fixed order, furthest-next-use eviction with compaction is optimal or close
on most problems, so most of what an exact allocator gains over belady comes from the
op order (finish one branch before opening the next, run the op that frees the most
first). The ILP gets its warm start and its fallback from the best order found here,
and graphs too large for the exact model get this order search as their answer.

How: candidates are the given order, a beam search over "which ops are done" states
that minimizes the peak resident bytes (every tensor resident from its first to its
last use: the footprint that needs no traffic at all) and then the bytes live now,
greedy orders (least growth of live bytes first, with a few tie-breaks), a
depth-first "finish the branch" order, and seeded random topological orders. Each is
priced with `simulate(..., evict="furthest", compact=True)` and the cheapest wins
(ties: the lower peak footprint, then the earlier candidate).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Iterator

from hetc.passes.spm.problem import SpmOp, SpmPlan, SpmProblem, replay
from hetc.passes.spm.sim import peak_footprint, simulate


class _Graph:
    """Indexes for live-bytes bookkeeping: per op, what its running allocates and frees."""

    def __init__(self, problem: SpmProblem) -> None:
        self.p = problem
        self.ops = problem.ops
        self.n = len(self.ops)
        idx = {op.name: i for i, op in enumerate(self.ops)}
        deps = problem.deps()
        self.preds = [frozenset(idx[d] for d in deps[op.name]) for op in self.ops]
        self.succs: list[list[int]] = [[] for _ in self.ops]
        for i, ps in enumerate(self.preds):
            for j in ps:
                self.succs[j].append(i)
        # tensor -> ops using it (a tensor is live from its first to its last use)
        self.users: dict[str, list[int]] = {t: [] for t in problem.tensors}
        for i, op in enumerate(self.ops):
            for t in dict.fromkeys((*op.reads, *op.writes)):
                self.users[t].append(i)
        self.size = {t: problem.aligned(t) for t in problem.tensors}
        self.touch = [tuple(dict.fromkeys((*op.reads, *op.writes))) for op in self.ops]

    def step(self, done: frozenset[int] | set[int], i: int) -> tuple[int, int]:
        """(bytes that become live when op i runs, bytes it frees after) given that the
        ops in `done` ran (a tensor is live from its first to its last use)."""
        during = freed = 0
        for t in self.touch[i]:
            us = self.users[t]
            if not any(u in done for u in us):
                during += self.size[t]
            if all(u in done or u == i for u in us):
                freed += self.size[t]
        return during, freed


def beam_order(problem: SpmProblem, width: int = 16, deadline: float | None = None) -> list[SpmOp] | None:
    """A topological order with a low peak footprint, by beam search over done-sets
    (None when `deadline`, a perf_counter time, passes first)."""
    g = _Graph(problem)
    start_ready = frozenset(i for i in range(g.n) if not g.preds[i])
    # state: (peak, live, tie, done, ready, order)
    beam = [(0, 0, 0, frozenset(), start_ready, ())]
    tie = 0
    for _ in range(g.n):
        if deadline is not None and time.perf_counter() > deadline:
            return None
        cand: dict[frozenset[int], tuple] = {}
        for peak, live, _, done, ready, order in beam:
            for i in ready:
                during, freed = g.step(done, i)
                now = live + during
                key = done | {i}
                if key in cand and cand[key][:2] <= (max(peak, now), now - freed):
                    continue
                tie += 1
                nready = ready - {i} | {s for s in g.succs[i] if g.preds[s] <= key}
                cand[key] = (max(peak, now), now - freed, tie, key, nready, order + (i,))
        beam = heapq.nsmallest(width, cand.values(), key=lambda s: (s[0], s[1], s[2]))
    return [g.ops[i] for i in beam[0][5]]


def greedy_order(problem: SpmProblem, tie: str = "index") -> list[SpmOp]:
    """Repeatedly run the ready op that grows the live bytes least ("index": ties to the
    given order; "deep": ties to the most recently readied op, finishing branches)."""
    g = _Graph(problem)
    done: set[int] = set()
    readied = {i: 0 for i in range(g.n) if not g.preds[i]}
    order: list[int] = []
    clock = 0
    while len(order) < g.n:
        best = None
        for i, when in readied.items():
            during, freed = g.step(done, i)
            key = (during - freed, during, -when if tie == "deep" else i, i)
            if best is None or key < best[0]:
                best = (key, i)
        i = best[1]
        del readied[i]
        done.add(i)
        order.append(i)
        clock += 1
        for s in g.succs[i]:
            if s not in readied and s not in done and g.preds[s] <= done:
                readied[s] = clock
    return [g.ops[i] for i in order]


def dfs_order(problem: SpmProblem) -> list[SpmOp]:
    """Depth-first from the last op backwards: each op right after its inputs' subtrees,
    the largest-input subtree first (finishes one branch before opening the next)."""
    g = _Graph(problem)
    seen: set[int] = set()
    order: list[int] = []
    prod = {t: i for i, op in enumerate(g.ops) for t in op.writes}

    def visit(root: int) -> None:
        stack = [(root, False)]
        while stack:
            i, expanded = stack.pop()
            if i in seen:
                continue
            if expanded:
                seen.add(i)
                order.append(i)
                continue
            stack.append((i, True))
            ins = [prod[t] for t in g.ops[i].reads if t in prod and prod[t] not in seen]
            # pushed smallest first so the largest-output subtree is expanded first
            for j in sorted(dict.fromkeys(ins), key=lambda j: sum(g.size[t] for t in g.ops[j].writes)):
                stack.append((j, False))

    for i in reversed(range(g.n)):
        visit(i)
    return [g.ops[i] for i in order]


def random_order(problem: SpmProblem, rng: random.Random) -> list[SpmOp]:
    g = _Graph(problem)
    done: set[int] = set()
    ready = [i for i in range(g.n) if not g.preds[i]]
    order: list[int] = []
    while ready:
        i = ready.pop(rng.randrange(len(ready)))
        done.add(i)
        order.append(i)
        for s in g.succs[i]:
            if s not in done and s not in ready and g.preds[s] <= done:
                ready.append(s)
    return [g.ops[i] for i in order]


def candidates(
    problem: SpmProblem, seed: int = 0, n_random: int = 64, deadline: float | None = None
) -> Iterator[tuple[str, list[SpmOp]]]:
    yield "given", list(problem.ops)
    for w in (4, 16, 64):
        order = beam_order(problem, w, deadline)
        if order is None:
            break
        yield f"beam{w}", order
    yield "greedy", greedy_order(problem, "index")
    yield "greedy-deep", greedy_order(problem, "deep")
    yield "dfs", dfs_order(problem)
    rng = random.Random(seed)
    for k in range(n_random):
        yield f"random{k}", random_order(problem, rng)


def search(
    problem: SpmProblem, *, seed: int = 0, time_limit_s: float = 2.0, progress: Callable[[str], None] | None = None
) -> tuple[str, list[SpmOp], SpmPlan, int]:
    """The best candidate order: (its name, the order, its belady plan, its non-compulsory
    bytes). Stops drawing candidates after `time_limit_s` (at least the given order is
    priced)."""
    t0 = time.perf_counter()
    best = None
    for name, order in candidates(problem, seed, deadline=t0 + time_limit_s):
        plan = SpmPlan("belady", simulate(problem, order, evict="furthest", compact=True))
        cost = replay(problem, plan).noncompulsory
        key = (cost, peak_footprint(problem, order))
        if best is None or key < best[0]:
            best = (key, name, order, plan)
            if progress:
                progress(f"order search: {name} -> {cost} non-compulsory bytes (peak {key[1]})")
        if time.perf_counter() - t0 > time_limit_s:
            break
    assert best is not None
    return best[1], best[2], best[3], best[0][0]
