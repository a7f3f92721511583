"""Order-independent facts about a scratchpad problem that make the exact model tighter
and give lower bounds of its traffic without solving it.

Why: the residency model (`ilp.py`) lets every op go anywhere in a topological order, so
CP-SAT's relaxation sees no capacity pressure at all and its bound stays at 0 on tiled
graphs even where the optimum is found in a second. Facts that hold in *every*
topological order fix most of that:

- positions: op i has |ancestors(i)| ops before it and |descendants(i)| after it in any
  order, so pos[i] lies in [|anc(i)|, n - 1 - |desc(i)|]. On tiled graphs every join
  that all later ops depend on (a concat of tiles, a residual add) pins its position,
  and the graph falls into phases whose relative order is fixed (`phase_cuts`);
- forced liveness: a tensor used (produced or read) by an ancestor of op j and read by
  a descendant of j, not by j, is live while j runs, whatever the order. If j's own operands plus those tensors exceed the capacity, some of them must
  leave the scratchpad at least once, which costs at least `spill_cost` each (store +
  reload of an intermediate, a reload of anything else). One covering inequality per
  such op (`forced_live`) goes into the model, and the cheapest cover of all of them
  together (a small knapsack-cover ILP, `cover_bound`) is a lower bound by itself;
- phases: since every phase runs after the previous one in every order, the sum of the
  phases' own optima (`phases`: a phase as a problem of its own, what crosses a cut a
  free output / input of it) is a lower bound of the whole. Why: restricted to a
  phase's ops and tensors (a load made earlier moved to the phase's start, where the
  whole plan holds the tensor too), any plan gives a plan of that phase that holds no
  more at any op and pays no more (each reload is charged to the phase of the use it
  serves, each spill store to the phase that made the tensor, and what crosses a cut is
  compulsory there). Phases are small, so CP-SAT proves them where the whole model
  cannot.

Every fact here is valid for every legal plan (the tests check the strengthened model's
optimum against the plain model's on random problems).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hetc.passes.spm.problem import SpmProblem


@dataclass(frozen=True)
class Closure:
    """Ancestor / descendant bit masks per op (index in `problem.ops`)."""

    anc: list[int]
    desc: list[int]


def closure(problem: SpmProblem) -> Closure:
    """The transitive closure of the producer -> reader edges, as Python int bit masks."""
    n = len(problem.ops)
    idx = {op.name: i for i, op in enumerate(problem.ops)}
    prod = {t: idx[o] for t, o in problem.producer().items()}
    anc = [0] * n
    succs: list[set[int]] = [set() for _ in range(n)]
    # problem.ops is a topological order, so predecessors are complete when visited
    for i, op in enumerate(problem.ops):
        a = 0
        for t in op.reads:
            j = prod.get(t)
            if j is not None:
                a |= anc[j] | (1 << j)
                succs[j].add(i)
        anc[i] = a
    desc = [0] * n
    for i in reversed(range(n)):
        d = 0
        for s in succs[i]:
            d |= desc[s] | (1 << s)
        desc[i] = d
    return Closure(anc, desc)


def position_windows(problem: SpmProblem, cl: Closure | None = None) -> list[tuple[int, int]]:
    """Per op, the (lowest, highest) position it can take in any topological order."""
    cl = cl or closure(problem)
    n = len(problem.ops)
    return [(cl.anc[i].bit_count(), n - 1 - cl.desc[i].bit_count()) for i in range(n)]


def phase_cuts(problem: SpmProblem, cl: Closure | None = None) -> list[int]:
    """Positions 0 < c < n such that every op before c (in `problem.ops`) is an ancestor of
    every op from c on: the prefix is the same set of ops in every topological order."""
    cl = cl or closure(problem)
    n = len(problem.ops)
    suffix_and = (1 << n) - 1
    common = [0] * (n + 1)
    common[n] = suffix_and
    for d in range(n - 1, -1, -1):
        suffix_and &= cl.anc[d]
        common[d] = suffix_and
    return [c for c in range(1, n) if common[c] & ((1 << c) - 1) == (1 << c) - 1]


def spill_cost(problem: SpmProblem, t: str) -> int:
    """The least non-compulsory bytes a tensor costs if it leaves the scratchpad once
    while still needed: a store and a reload of an intermediate, a reload otherwise
    (an output's store is compulsory, an input/weight is in DRAM already)."""
    x = problem.tensors[t]
    return 2 * x.size if x.kind == "intermediate" else x.size


def users_of(problem: SpmProblem) -> dict[str, list[int]]:
    """tensor -> indices (in `problem.ops`) of the ops that read or write it."""
    users: dict[str, list[int]] = {t: [] for t in problem.tensors}
    for i, op in enumerate(problem.ops):
        for t in dict.fromkeys((*op.reads, *op.writes)):
            users[t].append(i)
    return users


def forced_live(problem: SpmProblem, cl: Closure | None = None) -> list[tuple[int, int, list[str]]]:
    """(op index, excess bytes, tensors) for every op j whose operands plus the tensors
    live across it in every order (used by an ancestor and by a descendant of j, not by
    j) exceed the capacity by `excess` > 0: at least that many (aligned) bytes of those
    tensors are out of the scratchpad while j runs."""
    cl = cl or closure(problem)
    users = users_of(problem)
    # a tensor's users as a bit mask, to test "some user is an ancestor / a descendant"
    masks = {t: sum(1 << u for u in us) for t, us in users.items() if len(us) >= 2}
    out = []
    for j, op in enumerate(problem.ops):
        own = set(op.reads) | set(op.writes)
        live = [t for t, mk in masks.items() if t not in own and mk & cl.anc[j] and mk & cl.desc[j]]
        excess = problem.footprint(op) + sum(problem.aligned(t) for t in live) - problem.capacity
        if excess > 0:
            out.append((j, excess, sorted(live)))
    return out


def cover_bound(problem: SpmProblem, *, time_limit_s: float = 2.0, seed: int = 0) -> tuple[int, bool]:
    """(a lower bound of the problem's non-compulsory bytes, whether it is the cover
    problem's proven optimum): the cheapest set of tensors to take out of the
    scratchpad once so that every `forced_live` op fits. 0 when no op is forced over."""
    rows = forced_live(problem)
    if not rows:
        return 0, True
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        return 0, False
    m = cp_model.CpModel()
    ts = sorted({t for _, _, live in rows for t in live})
    y = {t: m.new_bool_var(f"y_{t}") for t in ts}
    for _, excess, live in rows:
        m.add(sum(problem.aligned(t) * y[t] for t in live) >= excess)
    m.minimize(sum(spill_cost(problem, t) * y[t] for t in ts))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = seed
    status = solver.solve(m)
    if status == cp_model.OPTIMAL:
        return round(solver.objective_value), True
    if status == cp_model.FEASIBLE:
        return max(0, int(solver.best_objective_bound + 1e-6)), False
    return 0, False


def phases(problem: SpmProblem, group_ops: int = 1) -> list[tuple[int, int, SpmProblem]]:
    """The problem cut at `phase_cuts` positions: (first op, end op, the phase as a
    problem of its own) per phase, built like the windows of `windows.py` (a tensor made
    before the phase is an input of it, one made in it and needed after is an output).
    Consecutive phases are merged while the merged one has at most `group_ops` ops
    (fewer cuts, less of the cut relaxation lost; 1: every cut)."""
    from hetc.passes.spm.windows import window_problem

    ops = problem.ops
    cs = [0]
    for c in [*phase_cuts(problem), len(ops)]:
        if len(cs) > 1 and c - cs[-2] <= group_ops:
            cs[-1] = c  # merge into the previous group
        else:
            cs.append(c)
    if cs[-1] != len(ops):
        cs.append(len(ops))
    users = users_of(problem)
    out = []
    for a, b in itertools.pairwise(cs):
        touched = {t for op in ops[a:b] for t in (*op.reads, *op.writes)}
        before = {t for t in touched if users[t][0] < a}
        after = {t for t in touched if users[t][-1] >= b}
        out.append((a, b, window_problem(problem, ops[a:b], before, after)))
    return out
