"""The `ilp` scratchpad allocator: CP-SAT jointly choosing the op order, each tensor's
residency intervals and scratchpad offsets, and its spills and reloads (COSMA-style),
minimizing non-compulsory DRAM bytes.

Why: with a fixed order, belady is near optimal; what is left comes from choosing the
order, from keeping the right tensors (not only the furthest-used one) and from placing
tensors so that no hole is wasted, and those interact, so they are solved together.

Model (time = op positions 0..n-1, address = alignment units 0..capacity/alignment):
- `pos[op]`, all different, each op after the producers of what it reads;
- every tensor x used by u ops has up to K optional residency intervals k (k = 0
  present): time [s, e) (x address [q, q + size) with offsets), k+1 present only if k
  is, and starting after k ends (symmetry breaking: intervals in time order); absent
  intervals are pinned at (0, 1, 0) so they add no symmetric solutions;
- interval 0 of an intermediate or output starts at its producer's position (Alloc);
  every other interval starts with a Load;
- each use of x (op j reads or writes x) picks one present interval covering pos[j];
  a present interval covers at least one use;
- capacity: a cumulative over time (bytes); with offsets, NoOverlap2D over all
  (time, address) boxes as well (the cumulative stays as a redundant, stronger
  relaxation), and one mirror symmetry of the address axis is broken on the largest
  tensor;
- objective (bytes as `replay` counts them): inputs/weights pay size for every interval
  after the first (reloads); intermediates pay size for every interval after the first
  plus one store if there is a second (the spill); outputs are stored when produced
  (compulsory) and pay only their reloads.
Intervals that end at a step boundary free before the ones that start there load.
Strengthening (`bounds.py`, facts true in every topological order, so no optimum is cut
off; the tests compare with the plain model): pos[op] is limited to
[|ancestors|, n - 1 - |descendants|] (on tiled graphs every join all later ops need is
pinned), and for every op whose operands plus the tensors live across it in every order
exceed the capacity, enough of those tensors have a second interval (they left once).
Without these the relaxation saw no capacity pressure and the bound of tiled graphs
stayed 0.

Solves of that model (`ilp()`, in this order after the order search):
0. the phase bound: the graph cut where every order keeps the ops before the cut
   before it; each phase solved on its own (small, so proven) and the phases' bounds
   summed, a lower bound of the whole (`bounds.py` says why); the phases' best orders,
   priced by belady, are candidates;
0b. "fixed order": the best order so far with only residency and spills free (belady's
   eviction is not optimal for sizes that differ);
1. "residency": no offsets, K = u (lossless; on graphs where that model would be too
   large, capped at MAX_RESIDENCY_INTERVALS, and then its bound is not used). Since compaction (Move) costs no DRAM
   traffic, this is exact for the problem `replay` prices: its plan is realized by
   first-fit with compaction where no hole fits, and its CP-SAT bound is a lower bound
   of every allocator's traffic (what `plan.solver["bound"]` and OPTIMAL rest on); run
   twice when not proven: once for plans (CP-SAT's default portfolio, LNS included),
   once for the bound (PROVE_PARAMS: LP and core-based search on both workers);
2. "offsets": NoOverlap2D with K = min(u, MAX_INTERVALS), hinted with a
   furthest-next-use plan without compaction: a plan with no Move at all, run with the
   time left when the best plan so far moves tensors or is not proven optimal.

Around them: an order search first (`order.py`: memory-aware topological orders priced
by belady), whose best plan is the warm start of the residency model and the fallback.
OPTIMAL: the best plan's cost equals the largest proven lower bound (phases or the
lossless residency model), whichever closes first ends the search.
Graphs above `max_exact_ops` get the phase bound and the fixed-order solve, then are
divided and conquered (`windows.py`: windows of
the best order cut where the fewest bytes cross, each solved by this function, stitched
with an empty scratchpad at the cuts); that plan is kept only when it beats the order
search's. Each CP-SAT solution becomes explicit steps checked by `replay` (a mismatch
with the model's objective raises: a bug must not report a wrong number). The answer is
the cheapest plan (ties: fewer bytes moved inside the SPM), never worse than belady on
the given order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hetc.diagnostics import HetcError
from hetc.passes.spm.belady import belady
from hetc.passes.spm.bounds import cover_bound, forced_live, phases, position_windows
from hetc.passes.spm.gaps import fill_gaps, steps_from_intervals
from hetc.passes.spm.problem import (
    Alloc,
    Compute,
    Free,
    Load,
    Move,
    SpmOp,
    SpmPlan,
    SpmProblem,
    Step,
    replay,
)
from hetc.passes.spm.repack import repack
from hetc.passes.spm.sim import simulate

#: graphs with more ops than this are solved in windows of at most this many ops
MAX_EXACT_OPS = 150
#: residency intervals per tensor in the model with offsets
MAX_INTERVALS = 4
#: ... and in the residency model: as many as uses (lossless, so its bound is the
#: problem's) while the coverage literals (sum of uses squared) stay under
#: RESIDENCY_LITERALS, else at most MAX_RESIDENCY_INTERVALS (and the bound is not used)
MAX_RESIDENCY_INTERVALS = 12
RESIDENCY_LITERALS = 40000
#: CP-SAT parameters of a solve that is there to prove a bound: with 2 workers the
#: default gives one to LNS (no bound); an LP-based and a core-based full search close
#: the tiled phases 2-3x faster (measured on densenet/mobilenetv2 phases, 6 s vs > 12 s)
PROVE_PARAMS: dict = {"num_full_subsolvers": 2, "use_lns": False, "subsolvers": ["default_lp", "core"]}
#: the order search gets time_limit_s / ORDER_SEARCH_SHARE (beam and greedy orders come
#: first; the rest of its time draws random orders, which rarely win on tiled graphs)
ORDER_SEARCH_SHARE = 10
#: most seconds per phase in the first round of the phase bound
PHASE_FIRST_ROUND_S = 1.5
#: most seconds for the exact spills of the best order (step 2b of `ilp`)
FIXED_ORDER_SECONDS = 3.0
#: ... and on graphs of at most this many ops (building the model is Python work that
#: the solver's time limit does not bound)
FIXED_ORDER_MAX_OPS = 600
#: phases merged up to this many ops for the second try of the phase bound
PHASE_GROUP_OPS = 48
#: CP-SAT workers (the machine has 2 cores)
NUM_WORKERS = 2
_DEBUG_FIX_HINT = False
_DEBUG_LOG = False
_EXTRA_PARAMS: dict = {}


@dataclass
class _Var:
    pres: list
    s: list
    e: list
    q: list
    d: list
    #: use (op index) -> [z per interval] (the producer's use of its output has none)
    z: dict


def _intervals_of(
    problem: SpmProblem, steps: Sequence[Step], allow_moves: bool = False
) -> dict[str, list[tuple[int, int, int]]] | None:
    """Residency intervals (start, end, offset in bytes at the start) per tensor of a plan,
    in time units of op positions; None if the plan moves tensors and that is not allowed."""
    out: dict[str, list[tuple[int, int, int]]] = {t: [] for t in problem.tensors}
    open_: dict[str, tuple[int, int]] = {}
    t_now = 0
    for s in steps:
        if isinstance(s, Move):
            if not allow_moves:
                return None
            continue
        if isinstance(s, (Load, Alloc)):
            open_[s.tensor] = (t_now, s.offset)
        elif isinstance(s, Free):
            st, off = open_.pop(s.tensor)
            if t_now > st:
                out[s.tensor].append((st, t_now, off))
        elif isinstance(s, Compute):
            t_now += 1
    for x, (st, off) in open_.items():
        if t_now > st:
            out[x].append((st, t_now, off))
    return out


def _solve_exact(
    problem: SpmProblem,
    hint_order: Sequence[SpmOp],
    hint_steps: Sequence[Step] | None,
    *,
    time_limit_s: float,
    seed: int,
    addresses: bool = True,
    max_intervals: int | None = MAX_INTERVALS,
    strengthen: bool = True,
    prove: bool = False,
    fixed_order: bool = False,
) -> tuple[str, list[Step] | None, int | None, float, float, bool]:
    """Build and solve the model: with `addresses`, offsets under NoOverlap2D (a plan with
    no Move steps); without, only the capacity over time (cumulative), which is exact for
    the problem since compaction moves no DRAM bytes (the plan compacts where needed).
    Returns (status name, steps or None, objective, bound, seconds, lossless): lossless
    when every tensor may have as many intervals as uses, so the bound of the model
    without addresses is a lower bound of the problem itself. `strengthen` adds the
    order-independent facts of `bounds.py` (position windows, forced-liveness covers);
    the plain model is kept for the tests that check those facts cut off no optimum.
    `prove`: both workers search the full model for the bound (LP and core-based search,
    PROVE_PARAMS) instead of one of them improving the hint by neighbourhood search.
    `fixed_order`: the ops run in `hint_order` (only residency and spills are chosen; the
    bound is then that order's, not the problem's, so `lossless` is returned False)."""
    from ortools.sat.python import cp_model

    ops = problem.ops
    n = len(ops)
    idx = {op.name: i for i, op in enumerate(ops)}
    A = problem.alignment
    cap_u = problem.capacity // A
    tensors = problem.tensors
    units = {t: problem.aligned(t) // A for t in tensors}
    prod = {t: idx[o] for t, o in problem.producer().items()}
    users: dict[str, list[int]] = {t: [] for t in tensors}
    for i, op in enumerate(ops):
        for t in dict.fromkeys((*op.reads, *op.writes)):
            users[t].append(i)
    used = [t for t in tensors if users[t]]
    if max_intervals is None:  # as many as uses, if the model stays small
        lossless_size = sum(len(users[t]) ** 2 for t in used)
        max_intervals = n if lossless_size <= RESIDENCY_LITERALS else MAX_RESIDENCY_INTERVALS
    hint_iv = _intervals_of(problem, hint_steps, allow_moves=not addresses) if hint_steps is not None else None

    m = cp_model.CpModel()
    if fixed_order:
        at = {op.name: i for i, op in enumerate(hint_order)}
        pos = [m.new_constant(at[op.name]) for op in ops]
    elif strengthen:
        # every topological order puts op i after its ancestors and before its descendants
        win = position_windows(problem)
        pos = [m.new_int_var(lo, hi, f"pos_{op.name}") for op, (lo, hi) in zip(ops, win)]
    else:
        pos = [m.new_int_var(0, n - 1, f"pos_{op.name}") for op in ops]
    m.add_all_different(pos)
    for op in ops:
        for t in op.reads:
            if t in prod:
                m.add(pos[prod[t]] < pos[idx[op.name]])

    K: dict[str, int] = {}
    V: dict[str, _Var] = {}
    boxes_t, boxes_a, demands = [], [], []
    obj = []
    for t in used:
        k_t = min(len(users[t]), max_intervals)
        if hint_iv is not None:
            k_t = max(k_t, min(len(users[t]), len(hint_iv[t])))
        K[t] = k_t
        v = _Var([], [], [], [], [], {})
        for k in range(k_t):
            p = m.new_constant(1) if k == 0 else m.new_bool_var(f"p_{t}_{k}")
            s = m.new_int_var(0, n - 1, f"s_{t}_{k}")
            e = m.new_int_var(1, n, f"e_{t}_{k}")
            q = m.new_int_var(0, max(0, cap_u - units[t]), f"q_{t}_{k}") if addresses else None
            d = m.new_int_var(1, n, f"d_{t}_{k}")
            iv_t = m.new_optional_interval_var(s, d, e, p, f"it_{t}_{k}")
            m.add(s + d == e)  # also when absent, so (0, 1, 0) pins it
            if units[t] > 0:
                if addresses:
                    boxes_a.append(m.new_optional_fixed_size_interval_var(q, units[t], p, f"ia_{t}_{k}"))
                boxes_t.append(iv_t)
                demands.append(units[t])
            if k > 0:
                m.add_implication(p, v.pres[k - 1])
                m.add(s >= v.e[k - 1]).only_enforce_if(p)
                # an absent interval is pinned, so it adds no symmetric solutions
                m.add(s == 0).only_enforce_if(~p)
                m.add(e == 1).only_enforce_if(~p)
                if addresses:
                    m.add(q == 0).only_enforce_if(~p)
                obj.append((tensors[t].size, p))
            v.pres.append(p)
            v.s.append(s)
            v.e.append(e)
            v.q.append(q)
            v.d.append(d)
        V[t] = v
        kind = tensors[t].kind
        if kind in ("intermediate", "output"):
            m.add(v.s[0] == pos[prod[t]])
        if kind == "intermediate" and k_t > 1:
            obj.append((tensors[t].size, v.pres[1]))  # the spill store
        # each use is covered by one present interval
        covers: list[list] = [[] for _ in range(k_t)]
        for j in users[t]:
            zs = []
            for k in range(k_t):
                if kind in ("intermediate", "output") and j == prod[t]:
                    if k == 0:
                        zs.append(m.new_constant(1))
                        covers[0].append(zs[-1])
                    continue
                z = m.new_bool_var(f"z_{t}_{j}_{k}")
                m.add_implication(z, v.pres[k])
                m.add(v.s[k] <= pos[j]).only_enforce_if(z)
                m.add(v.e[k] >= pos[j] + 1).only_enforce_if(z)
                zs.append(z)
                covers[k].append(z)
            if not (kind in ("intermediate", "output") and j == prod[t]):
                v.z[j] = zs
            m.add_exactly_one(zs)
        for k in range(1, k_t):
            m.add_bool_or(covers[k]).only_enforce_if(v.pres[k])
    lossless = all(K[t] == len(users[t]) for t in used) and not fixed_order
    if strengthen:
        # an op whose operands and forced-live tensors exceed the capacity: enough of those
        # tensors have a second interval (left the scratchpad once); a tensor limited to
        # one interval stays, so it contributes nothing
        for _, excess, live in forced_live(problem):
            terms = [units[t] * V[t].pres[1] for t in live if K[t] >= 2]
            m.add(sum(terms) >= -(-excess // A))
    if addresses:
        m.add_no_overlap_2d(boxes_t, boxes_a)
    m.add_cumulative(boxes_t, demands, cap_u)
    if used and addresses:
        big = max(used, key=lambda t: units[t])
        m.add(2 * V[big].q[0] <= cap_u - units[big])

    g = 0
    for c, _ in obj:
        g = math.gcd(g, c)
    g = g or 1
    objective = sum((c // g) * p for c, p in obj)
    m.minimize(objective)

    # warm start: the hint plan's order, intervals and offsets
    hint_pos = {op.name: i for i, op in enumerate(hint_order)}
    for op in ops:
        m.add_hint(pos[idx[op.name]], hint_pos[op.name])
    if hint_iv is not None:
        # the mirror symmetry breaking above holds for the hint or for its mirror image
        if used and addresses and hint_iv[big] and 2 * (hint_iv[big][0][2] // A) > cap_u - units[big]:
            hint_iv = {t: [(s, e, (cap_u - units[t]) * A - off) for s, e, off in ivs] for t, ivs in hint_iv.items()}
        for t in used:
            ivs = hint_iv[t]
            if len(ivs) > K[t]:
                continue
            v = V[t]
            for k in range(K[t]):
                if k < len(ivs):
                    s, e, off = ivs[k]
                    if k > 0:
                        m.add_hint(v.pres[k], True)
                    m.add_hint(v.s[k], s)
                    m.add_hint(v.e[k], e)
                    m.add_hint(v.d[k], e - s)
                    if addresses:
                        m.add_hint(v.q[k], off // A)
                else:
                    m.add_hint(v.pres[k], False)
                    m.add_hint(v.s[k], 0)
                    m.add_hint(v.e[k], 1)
                    m.add_hint(v.d[k], 1)
                    if addresses:
                        m.add_hint(v.q[k], 0)
            for j, zs in v.z.items():
                pj = hint_pos[ops[j].name]
                for k, z in enumerate(zs):
                    m.add_hint(z, k < len(ivs) and ivs[k][0] <= pj < ivs[k][1])

    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.max_time_in_seconds = max(0.1, time_limit_s)
    prm.num_workers = NUM_WORKERS
    prm.random_seed = seed
    # probing in presolve expands the all-different over positions into n^2 literals
    # and spends the whole limit there on 100-op graphs; search does better with it off
    prm.cp_model_probing_level = 0
    if _DEBUG_FIX_HINT:
        prm.fix_variables_to_their_hinted_value = True
    for k_, v_ in ({**PROVE_PARAMS, **_EXTRA_PARAMS} if prove else _EXTRA_PARAMS).items():
        if isinstance(v_, list):  # repeated fields (subsolvers) are extended, not assigned
            getattr(prm, k_).extend(v_)
        else:
            setattr(prm, k_, v_)
    if _DEBUG_LOG:
        prm.log_search_progress = True
    status = solver.solve(m)
    name = solver.status_name(status)
    secs = solver.wall_time
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        bound = 0.0 if status != cp_model.INFEASIBLE else math.inf
        return name, None, None, bound, secs, lossless
    obj_val = round(solver.objective_value) * g
    bound = math.ceil(solver.best_objective_bound - 1e-6) * g

    # the solution as steps: frees (with spill stores) before loads at each boundary
    order = sorted(range(n), key=lambda i: solver.value(pos[i]))
    ivs: dict[str, list[tuple[int, int, int]]] = {}
    for t in used:
        v = V[t]
        ivs[t] = sorted(
            (solver.value(v.s[k]), solver.value(v.e[k]), solver.value(v.q[k]) * A if addresses else -1)
            for k in range(K[t]) if k == 0 or solver.value(v.pres[k])
        )
    steps = steps_from_intervals(problem, [ops[i] for i in order], ivs, addresses=addresses)
    return name, steps, obj_val, bound, secs, lossless


def _phase_bound(
    problem: SpmProblem, *, time_limit_s: float, seed: int, max_ops: int, target: int, say: Callable[[str], None]
) -> tuple[int, dict, list[list[SpmOp]]]:
    """A lower bound of the problem's non-compulsory bytes: the sum of its phases' bounds
    (`bounds.phases`), each phase's from the lossless residency model (its proven optimum
    when CP-SAT closes it in its share of the time; hinted with the phase's own order
    search) and `bounds.cover_bound`. Phases belady moves nothing in are 0 and skipped.
    Every cut is tried first (small phases, quickly closed); when that sum is below
    `target` (the best plan's cost) and merging phases up to PHASE_GROUP_OPS ops changes
    one that needs traffic, the merged phases next (a cut gives up what crosses it); the
    larger sum is the bound. Also returns, per level, the whole order made of each
    phase's best order (phases keep their relative order, so it is topological): the
    caller prices it with belady, a plan close to the phases' optima."""
    from hetc.passes.spm.order import search

    t0 = time.perf_counter()
    levels = []
    seen: set[tuple[int, int]] = set()
    for group in dict.fromkeys((1, PHASE_GROUP_OPS, max_ops)):
        parts = phases(problem, group)
        if len(parts) < 2:
            break
        work = []
        for a, b, sub in parts:
            plan = belady(sub)
            cost = replay(sub, plan).noncompulsory
            if cost > 0:
                work.append((a, b, sub, plan, cost))
        spans = {(a, b) for a, b, *_ in work}
        if levels and spans <= seen:
            break  # merging changed no phase that needs traffic
        seen |= spans
        levels.append((group, parts, work))
    best, info, orders = 0, {}, []
    for li, (group, parts, work) in enumerate(levels):
        # the finest level (most likely to close) gets 2/3 of the time when another follows
        budget = (time_limit_s - (time.perf_counter() - t0)) * (0.65 if li + 1 < len(levels) else 1.0)
        t1 = time.perf_counter()
        best_order = {a: list(problem.ops[a:b]) for a, b, _ in parts}
        # per phase: [lower bound, closed, hint steps, hint cost]
        state: dict[int, list] = {}
        each = min(0.5, budget / (8 * len(work))) if work else 0.0
        for a, b, sub, plan, cost in work:
            if time.perf_counter() - t1 > budget / 2:
                state[a] = [0, False, plan, cost]  # out of time: 0 is a valid bound
                continue
            _, order, hint, hint_cost = search(sub, seed=seed, time_limit_s=each)
            best_order[a] = order
            lb, _ = cover_bound(sub, time_limit_s=each, seed=seed)
            state[a] = [lb, lb >= hint_cost, hint, hint_cost]
        # two rounds: a short solve of every phase (most close in a second), then the
        # time left shared by the phases still open, so easy phases do not hold it
        for rnd in range(2):
            todo = [w for w in work if not state[w[0]][1] and w[1] - w[0] <= max_ops]
            ops_left = sum(b - a for a, b, *_ in todo)
            for a, b, sub, plan, cost in todo:
                share_s = (budget - (time.perf_counter() - t1)) * (b - a) / ops_left
                ops_left -= b - a
                # a lone open phase gets its whole share at once (round 2 would restart it)
                secs = min(share_s, PHASE_FIRST_ROUND_S) if rnd == 0 and len(todo) > 1 else share_s
                if secs < 0.3:
                    continue
                st = state[a]
                status, steps, obj, bound, _, lossless = _solve_exact(
                    sub, best_order[a], st[2].steps, time_limit_s=secs,
                    seed=seed, addresses=False, max_intervals=None, prove=True,
                )
                if steps is not None and obj < st[3]:
                    by_name = {op.name: op for op in sub.ops}
                    best_order[a] = [by_name[s.op] for s in steps if isinstance(s, Compute)]
                    st[2], st[3] = SpmPlan("ilp", steps), obj
                if lossless and math.isfinite(bound):
                    st[0] = max(st[0], int(bound))
                    st[1] = status in ("OPTIMAL", "INFEASIBLE") or st[0] >= st[3]
                say(f"  phase ops {a}..{b - 1} (round {rnd + 1}): belady {cost} B, {status}, bound {bound:.0f}, "
                    f"{secs:.1f} s")
        total = sum(min(state[a][0], cost) for a, _, _, _, cost in work)
        closed = sum(state[a][1] for a, *_ in work)
        orders.append([op for a, _, _ in parts for op in best_order[a]])
        say(f"phase bound (phases of up to {group} ops): {total} B over {len(parts)} phases ({len(work)} need traffic, "
            f"{closed} of them closed), {time.perf_counter() - t1:.1f} s")
        if total >= best:
            best = total
            info = {"phases": len(parts), "phases_with_traffic": len(work), "phases_closed": closed, "phase_bound": total}
        if best >= target:
            break
    return best, info, orders


def ilp(
    problem: SpmProblem,
    *,
    time_limit_s: float = 10.0,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    max_exact_ops: int = MAX_EXACT_OPS,
) -> SpmPlan:
    """The jointly optimized plan (see the module docstring); never worse than belady."""
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    from hetc.passes.spm.order import search

    def left() -> float:
        return time_limit_s - (time.perf_counter() - t0)

    # 1. the baseline and the order search (a tenth of the time)
    given = SpmPlan("ilp", simulate(problem, problem.ops, evict="furthest", compact=True))
    given_cost = replay(problem, given).noncompulsory
    name, best_order, best_plan, best_cost = search(problem, seed=seed, time_limit_s=time_limit_s / ORDER_SEARCH_SHARE, progress=say)
    if given_cost <= best_cost:
        name, best_order, best_plan, best_cost = "given", list(problem.ops), given, given_cost
    say(f"belady {given_cost} B, best order ({name}) {best_cost} B non-compulsory")
    filled = SpmPlan("ilp", fill_gaps(problem, best_plan.steps))
    filled_cost = replay(problem, filled).noncompulsory
    if filled_cost < best_cost:
        say(f"gaps filled: {filled_cost} B")
        name, best_plan, best_cost = f"{name}, gaps filled", filled, filled_cost
    info: dict = {"belady": given_cost, "order_search": best_cost, "order": name, "ops": len(problem.ops)}
    # candidates: (cost, moved bytes, steps, method)
    cands = [(best_cost, replay(problem, best_plan).moved, best_plan.steps, f"order search ({name}) + belady")]
    lower = 0  # a proven lower bound of the problem's non-compulsory bytes

    def finish(status_if_unproven: str) -> SpmPlan:
        cost, _, steps, method = min(cands, key=lambda c: (c[0], c[1]))
        plan = SpmPlan("ilp", steps)
        traffic = replay(problem, plan)
        assert traffic.noncompulsory == cost
        bound = min(lower, cost)
        proven = cost <= bound
        plan.solver = {"status": "OPTIMAL" if proven else status_if_unproven, "gap": (cost - bound) / cost if cost else 0.0,
                       "seconds": time.perf_counter() - t0, "objective": cost, "bound": bound, "method": method,
                       "moved": traffic.moved, **info}
        return plan

    if best_cost == 0:
        return finish("OPTIMAL")
    try:
        import ortools.sat.python.cp_model  # noqa: F401
    except ImportError:
        info["note"] = "ortools is not installed: exact models skipped"
        return finish("HEURISTIC")
    # 2. a lower bound from the phases (groups of ops whose relative order every
    #    topological order keeps): small, so CP-SAT proves each where the whole cannot
    share = 0.3 if len(problem.ops) > max_exact_ops else 0.6
    phase_lb, phase_info, phase_orders = _phase_bound(problem, time_limit_s=left() * share, seed=seed,
                                                      max_ops=max_exact_ops, target=best_cost, say=say)
    info.update(phase_info)
    lower = max(lower, phase_lb)
    for order in phase_orders:
        plan = SpmPlan("ilp", simulate(problem, order, evict="furthest", compact=True))
        traffic = replay(problem, plan)
        say(f"phases' best orders + belady: {traffic.noncompulsory} B")
        cands.append((traffic.noncompulsory, traffic.moved, plan.steps, "phases' best orders + belady"))
        if traffic.noncompulsory < best_cost:
            best_order, best_plan, best_cost = order, plan, traffic.noncompulsory
    if lower >= best_cost:
        return finish("OPTIMAL")
    # 2b. the best order so far with its spills chosen exactly (belady's eviction is not
    #     optimal for an order): cheap, since no position is free
    if left() > 1.0 and len(problem.ops) <= FIXED_ORDER_MAX_OPS:
        status, steps, obj, _, secs, _ = _solve_exact(
            problem, best_order, best_plan.steps, time_limit_s=min(left() * 0.15, FIXED_ORDER_SECONDS), seed=seed,
            addresses=False, max_intervals=None, fixed_order=True, strengthen=False,
        )
        say(f"CP-SAT fixed order: {status}, objective {obj}, {secs:.1f} s")
        if steps is not None:
            traffic = replay(problem, SpmPlan("ilp", steps))
            if traffic.noncompulsory != obj:
                raise HetcError(f"scratchpad ILP (fixed order): the plan replays to {traffic.noncompulsory} "
                                f"non-compulsory bytes but the model says {obj} (a bug)")
            cands.append((obj, traffic.moved, steps, "cp-sat, best order fixed"))
            if obj < best_cost:
                best_plan, best_cost = SpmPlan("ilp", steps), obj
        if lower >= best_cost:
            return finish("OPTIMAL")
    if len(problem.ops) > max_exact_ops:
        # divide and conquer: windows of the best order, each solved by this function
        from hetc.passes.spm.windows import stitched

        info["note"] = f"{len(problem.ops)} ops > {max_exact_ops}: windows of at most {max_exact_ops} ops"
        steps = stitched(
            problem, best_order, window_ops=max_exact_ops, time_limit_s=max(0.5, left() * 0.85), progress=say,
            # a window whose share of the time is too short for CP-SAT gets belady
            solve=lambda sub, secs: ilp(sub, time_limit_s=secs, seed=seed, max_exact_ops=max_exact_ops)
            if secs >= 0.3 else belady(sub),
        )
        traffic = replay(problem, SpmPlan("ilp", steps))
        # the cuts emptied the scratchpad: keep what has room across them instead
        filled = fill_gaps(problem, steps)
        after = replay(problem, SpmPlan("ilp", filled))
        say(f"windows: {traffic.noncompulsory} B non-compulsory, {after.noncompulsory} B with the gaps filled "
            f"(best so far {best_cost} B)")
        info["windows"] = after.noncompulsory
        cands.append((traffic.noncompulsory, traffic.moved, steps, "windows of the best order, each by cp-sat"))
        cands.append((after.noncompulsory, after.moved, filled, "windows of the best order, each by cp-sat, gaps filled"))
        best = min(cands, key=lambda c: (c[0], c[1]))
        if best[1] and left() > 0.2:
            packed = repack(problem, best[2], time_limit_s=min(2.0, left()))
            if packed is not None:
                cands.append((best[0], replay(problem, SpmPlan("ilp", packed)).moved, packed, best[3] + ", repacked"))
        return finish("HEURISTIC")

    def run(addresses: bool, hint_steps: list[Step], budget: float, label: str, prove: bool = False) -> None:
        nonlocal lower
        hint_cost = replay(problem, SpmPlan("ilp", hint_steps)).noncompulsory
        say(f"CP-SAT {label}: {len(problem.ops)} ops, {len(problem.tensors)} tensors, hint {hint_cost} B, {budget:.1f} s")
        status, steps, obj, bound, secs, lossless = _solve_exact(
            problem, best_order, hint_steps, time_limit_s=budget, seed=seed, addresses=addresses,
            max_intervals=MAX_INTERVALS if addresses else None, prove=prove,
        )
        say(f"CP-SAT {label} {status}: objective {obj}, bound {bound}, {secs:.1f} s")
        info[f"cpsat_{label}"] = {"status": status, "objective": obj, "bound": bound, "seconds": round(secs, 3), "hint": hint_cost}
        if not addresses and lossless and status in ("OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNKNOWN"):
            # exact for the problem (compaction is free of DRAM traffic): its bound is the problem's
            lower = max(lower, int(bound) if math.isfinite(bound) else lower)
        if steps is not None:
            traffic = replay(problem, SpmPlan("ilp", steps))
            if traffic.noncompulsory != obj:
                raise HetcError(f"scratchpad ILP ({label}): the plan replays to {traffic.noncompulsory} non-compulsory "
                                f"bytes but the model says {obj} (a bug)")
            cands.append((obj, traffic.moved, steps, f"cp-sat {label}"))

    # 3. order + residency + spills, the capacity over time (exact: compaction is free),
    #    first for better plans, then (if the best is not proven yet) for the bound
    run(False, best_plan.steps, max(0.5, left() * 0.4), "residency")
    best = min(cands, key=lambda c: (c[0], c[1]))
    if lower < best[0] and left() > 1.0:
        run(False, best[2], max(0.5, left() * 0.6), "residency_bound", prove=True)
    # 4. the best plan's intervals at fixed offsets (no compaction) when a packing fits
    best = min(cands, key=lambda c: (c[0], c[1]))
    if best[1]:
        packed = repack(problem, best[2], time_limit_s=min(2.0, max(0.2, left() / 4)))
        if packed is not None:
            cands.append((best[0], replay(problem, SpmPlan("ilp", packed)).moved, packed, best[3] + ", repacked"))
            say("repacked the best plan at fixed offsets: no compaction needed")
    # 5. order, residency and offsets together (NoOverlap2D) with the time left, when the
    #    best plan is not proven optimal or still compacts
    best = min(cands, key=lambda c: (c[0], c[1]))
    if left() > 0.5 and (lower < best[0] or best[1]):
        packed = repack(problem, best_plan.steps, time_limit_s=0.5) if best_plan.steps is not best[2] else None
        hint = packed or simulate(problem, best_order, evict="furthest", compact=False)
        # only to remove Moves from a proven plan: a quarter of the limit at most
        budget = left() if lower < best[0] else min(left(), time_limit_s / 4)
        run(True, hint, max(0.5, budget), "offsets")
    return finish("FEASIBLE")
