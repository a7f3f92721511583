"""Exact placement and scheduling with OR-Tools CP-SAT.

The model (times in integer units; see `_time_scale`):

- per task t: start s_t, end e_t; per device d that can run t a literal x_td, exactly one
  true, and an optional interval [s_t, s_t + cost_td) present iff x_td;
- per device: no overlap of its optional intervals;
- per edge (i, j, comm): s_j >= e_i, and s_j >= e_i + comm enforced by "j on d and i not
  on d" for each device d: the transfer is paid exactly when the ends are on different
  devices (TUNING["z"] switches to same-device literals z_ijd = x_id AND x_jd with the
  linear s_j >= e_i + comm * (1 - sum_d z_ijd): a tighter LP, a heavier model, worse
  schedules in 10 s on the benchmark set);
- memory: sum_t memory_t x_td <= capacity_d per device;
- objective "makespan": minimise M; objective "cost": minimise sum cost_td * rate_d * x_td
  subject to M <= SLA.

Tightening (bounds.device_bounds): for every task and device, a lower bound on the start
(head) and on the time after the end (tail) that pays transfers to neighbours on other
devices and serialises neighbours that share the device; s_t >= sum_d head_td x_td and
M >= e_t + sum_d tail_td x_td (linear, so CP-SAT drops a device as soon as the incumbent
makes head + cost + tail too long there), device choices that cannot beat the warm start
removed before solving, every s_t / e_t / M domain cut to those bounds; M >= each device's
load (sum_t cost_td x_td); identical devices (same cost column, capacity and rate) are
interchangeable, so the k+1-th of a group may only be used by a task after some earlier
task (topological order) used the k-th. Above LP_MAX_TASKS tasks the LP relaxation is
off (it proves nothing there in 10 s and slows the search).

Warm start: the best of HEFT, every single device, the greedy baselines and a portfolio of
list schedules (other priority lists, PEFT-style lookahead, device subsets), given to
CP-SAT as a complete hint and as M's upper bound, so the answer is never worse than any of
them. A solution callback reports each improvement. The solver runs with a time limit and
a fixed seed (with 2 workers CP-SAT is not bit-for-bit deterministic at its time limit);
the best schedule found is re-timed exactly (in the input's own units) from its placement
and per-device order. Graphs above `max_tasks` tasks are scheduled window by window (see
`_windowed`).

From LNS_MIN_TASKS tasks on (makespan objective, no memory capacities; `_solve_lns`) the
time is shared: the large-neighbourhood search of lns.py first, from the warm start (20%
of the time up to LP_MAX_TASKS tasks, 85% above), then the full model for the rest, hinted
with the LNS answer and asked for a makespan strictly below it: the tighter upper bound
prunes devices (bounds.device_bounds) and domains, and "infeasible" proves the LNS answer
optimal. One long run of the full model proves more than two short ones, so the LNS goes
first (TUNING["lns_first"] > 0 puts a run of the full model before it instead; measured
worse: fewer proofs at 50 tasks, equal at 100).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from hetc.diagnostics import HetcError
from hetc.passes.place.baselines import greedy, single_device_schedules
from hetc.passes.place.bounds import device_bounds, lower_bound
from hetc.passes.place.heft import heft, heft_order, list_schedule, upward_ranks
from hetc.passes.place.taskgraph import EPS, Placement, Schedule, TaskGraph, timetable, total_cost

# Model switches and extra CP-SAT parameters, for experiments (the defaults are the
# measured best on the benchmark set; see benchmarks/RESULTS.md):
#   z: same-device literals z_ijd and a linear transfer constraint instead of enforced ones
#      (tighter LP, but the heavier model found worse schedules in 10 s);
#   cumulative: a redundant cumulative over all tasks (no gain measured);
#   load / devbounds / devlinear: the per-device load and head/tail constraints;
#   portfolio: the list-scheduling warm starts beyond HEFT, greedy and single device;
#   params: extra CP-SAT parameters (e.g. {"linearization_level": 0});
#   lns: the large-neighbourhood search (lns.py) from LNS_MIN_TASKS tasks on; lns_first /
#      lns_share: the shares of the time of a first full-model run (0: none) and of the LNS
#      up to LP_MAX_TASKS tasks (the rest: the full model, asked to beat the LNS answer);
#      lns_first_large / lns_share_large: the same above LP_MAX_TASKS tasks; lns_workers:
#      CP-SAT threads per LNS step (1 and 2 measured equal on the shared machine; 1 keeps
#      the steps repeatable).
TUNING: dict = {"z": False, "cumulative": False, "load": True, "devbounds": True, "devlinear": True,
                "portfolio": True, "params": {}, "lns": True, "lns_first": 0.0, "lns_share": 0.2,
                "lns_first_large": 0.0, "lns_share_large": 0.85, "lns_workers": 1}  # fmt: skip
LNS_MIN_TASKS = 30  # from this many tasks on, the full model shares its time with lns.py
LP_MAX_TASKS = 60  # above this, CP-SAT runs without its LP relaxation (faster search, same proofs)

MAX_TASKS = 400  # above this many tasks, schedule in topological windows
WINDOW = 150  # tasks per window

Progress = Callable[[str], None]


# ------------------------------------------------------------------------------ helpers


def _time_scale(graph: TaskGraph) -> tuple[float, bool]:
    """The factor that turns the graph's times into integers, and whether that is exact.
    Integer or short-decimal times scale exactly (1, 10, 100, 1000); others are rounded
    up to a grid of about a millionth of the horizon (a scheduled makespan then can only
    shrink when re-timed in real units, but optimality is no longer proven)."""
    vals = [v for c in graph.cost.values() for v in c.values()] + [e.comm for e in graph.edges]
    horizon = sum(max(c.values()) for c in graph.cost.values()) + sum(e.comm for e in graph.edges)
    for k in range(4):
        f = 10.0**k
        if horizon * f > 1e12:
            break
        if all(abs(v * f - round(v * f)) <= 1e-9 * max(1.0, v * f) for v in vals):
            return f, True
    return (1e6 / horizon if horizon > 0 else 1.0), False


def _cost_scale(graph: TaskGraph) -> tuple[float, bool]:
    """Like `_time_scale`, for run time x cost rate (rounded to the nearest on a fine grid)."""
    vals = [graph.run_cost(t, d) for t in graph.cost for d in graph.cost[t]]
    for k in range(7):
        f = 10.0**k
        if all(abs(v * f - round(v * f)) <= 1e-9 * max(1.0, v * f) for v in vals):
            if sum(vals) * f < 1e12:
                return f, True
    top = sum(max(graph.run_cost(t, d) for d in graph.cost[t]) for t in graph.cost)
    return (1e6 / top if top > 0 else 1.0), False


def device_groups(graph: TaskGraph) -> list[list[str]]:
    """Groups (of two or more) of interchangeable devices: same run time for every task,
    same capacity, same cost rate."""
    sig: dict[tuple, list[str]] = {}
    for d in graph.devices:
        key = (
            tuple(graph.cost[t].get(d) for t in graph.cost),
            graph.capacity.get(d),
            graph.cost_rate.get(d),
        )
        sig.setdefault(key, []).append(d)
    return [g for g in sig.values() if len(g) > 1]


def canonical(graph: TaskGraph, tasks: dict[str, Placement], groups: list[list[str]]) -> dict[str, Placement]:
    """Relabel interchangeable devices in order of first use (in topological order), the
    form the symmetry-breaking constraints admit."""
    rename: dict[str, str] = {}
    for group in groups:
        first_use = []
        for t in graph.topological_order:
            d = tasks[t].device
            if d in group and d not in first_use:
                first_use.append(d)
        first_use += [d for d in group if d not in first_use]
        rename.update(zip(first_use, group))
    return {t: Placement(rename.get(p.device, p.device), p.start, p.end) for t, p in tasks.items()}


def _order(tasks: dict[str, Placement]) -> dict[str, list[str]]:
    per: dict[str, list[str]] = {}
    for t, p in sorted(tasks.items(), key=lambda kv: (kv[1].start, kv[1].end)):
        per.setdefault(p.device, []).append(t)
    return per


def retime(graph: TaskGraph, tasks: dict[str, Placement]) -> dict[str, Placement]:
    """The same placement and per-device order, at the earliest times in `graph`'s units."""
    return timetable(graph, {t: p.device for t, p in tasks.items()}, _order(tasks))


def _fits_memory(graph: TaskGraph, tasks: dict[str, Placement]) -> bool:
    if not graph.uses_memory:
        return True
    used: dict[str, float] = {}
    for t, p in tasks.items():
        used[p.device] = used.get(p.device, 0.0) + graph.memory.get(t, 0.0)
    return all(v <= graph.capacity.get(d, math.inf) + EPS for d, v in used.items())


def warm_starts(graph: TaskGraph, objective: str = "makespan", portfolio: bool = True) -> list[Schedule]:
    """HEFT, every single-device schedule and the greedy baselines that fit memory, and
    (`portfolio`) list schedules over other priority lists (upward ranks at the cheapest
    run times, ranks without transfers), with and without PEFT-style lookahead (the
    per-device tail bound added to the finish time), on every subset of two or more
    devices (at high transfer costs fewer devices is often better)."""
    import itertools

    out = []
    for make in (lambda: heft(graph), lambda: greedy(graph, "makespan"), lambda: greedy(graph, "cost")):
        try:
            out.append(make())
        except HetcError:  # a list scheduler ran out of memory capacity
            pass
    for d, s in single_device_schedules(graph).items():
        s.scheduler = f"single:{d}"
        out.append(s)
    if portfolio:
        n, q = len(graph.cost), len(graph.devices)
        subsets: list[tuple[str, ...] | None] = [None]
        if q <= 5:
            subsets += [c for k in range(2, q) for c in itertools.combinations(graph.devices, k)]
        ranks = {"rank": upward_ranks(graph), "min-rank": upward_ranks(graph, "min"),
                 "no-comm-rank": upward_ranks(graph, "mean", 0.0)}  # fmt: skip
        _, dtail, _ = device_bounds(graph)
        budget = 2_000_000  # list-scheduling work (tasks x devices x variants), about a second
        for (rname, rank), sub, la in itertools.product(ranks.items(), subsets, (None, dtail)):
            if rname == "rank" and sub is None and la is None:
                continue  # that is HEFT
            budget -= n * (q if sub is None else len(sub))
            if budget < 0:
                break
            try:
                tasks = list_schedule(graph, heft_order(graph, rank), devices=sub, lookahead=la)
            except HetcError:
                continue
            name = f"list({rname}{', lookahead' if la else ''}{', ' + '+'.join(sub) if sub else ''})"
            out.append(Schedule(tasks, name, "HEURISTIC", cost=total_cost(graph, tasks)))
    return [s for s in out if _fits_memory(graph, s.tasks)]


def _key(s: Schedule, objective: str, sla: float | None) -> tuple:
    if objective == "cost":
        meets = sla is None or s.makespan <= sla + EPS * max(1.0, sla)
        return (not meets, s.cost if s.cost is not None else s.makespan, s.makespan)
    return (s.makespan, s.cost or 0.0)


def _fallback_name(s: Schedule) -> str:
    if s.scheduler == "heft":
        return "HEFT"
    if s.scheduler.startswith("single"):
        return "single-device"
    return s.scheduler


# -------------------------------------------------------------------------------- model


@dataclass
class _Result:
    tasks: dict[str, Placement] | None  # in the integer graph's units
    status: str  # OPTIMAL FEASIBLE INFEASIBLE UNKNOWN
    bound: float  # objective bound, model units
    value: float | None
    wall: float
    trace: list[tuple[float, float]]


def _solve(
    gi: TaskGraph,
    *,
    hint: dict[str, Placement] | None,
    upper: int,
    time_limit: float,
    seed: int,
    workers: int,
    objective: str,
    sla: int | None,
    cost_coef: dict[tuple[str, str], int] | None,
    progress: Progress | None,
    fixed: dict[str, Placement] | None = None,
    window_tail: dict[str, float] | None = None,
) -> _Result:
    """Build and solve the CP-SAT model on integer graph `gi`. With `fixed` (tasks already
    scheduled, model units), only the other tasks are free; `window_tail` then replaces
    the makespan by max(e_t + window_tail[t]) over the free tasks."""
    from ortools.sat.python import cp_model

    t_start = time.perf_counter()
    fixed = fixed or {}
    free = [t for t in gi.topological_order if t not in fixed]
    free_set = set(free)
    m = cp_model.CpModel()
    horizon = int(upper) if sla is None else min(int(upper), sla)

    # per-device heads and tails (whole-graph runs only; windows use their own tails)
    if not fixed and window_tail is None and TUNING.get("devbounds", True):
        dhead, dtail, allowed = device_bounds(gi, horizon)
        if any(not v for v in allowed.values()):
            return _Result(None, "INFEASIBLE", math.inf, None, time.perf_counter() - t_start, [])
    else:
        allowed = {t: gi.can_run(t) for t in free}
        wt = window_tail if window_tail is not None else gi.tail
        dhead = {t: {d: gi.head[t] for d in allowed[t]} for t in free}
        dtail = {t: {d: wt[t] for d in allowed[t]} for t in free}

    s, e, x = {}, {}, {}
    intervals: dict[str, list] = {d: [] for d in gi.devices}
    durations = {}
    for t in free:
        devs = allowed[t]
        lo = int(min(dhead[t][d] for d in devs))
        e_lo = int(min(dhead[t][d] + gi.cost[t][d] for d in devs))
        e_hi = max(e_lo, int(horizon - min(dtail[t][d] for d in devs)))
        s_hi = max(lo, int(max(horizon - dtail[t][d] - gi.cost[t][d] for d in devs)))
        s[t] = m.new_int_var(lo, s_hi, f"s_{t}")
        e[t] = m.new_int_var(e_lo, e_hi, f"e_{t}")
        for d in devs:
            x[t, d] = m.new_constant(1) if len(devs) == 1 else m.new_bool_var(f"x_{t}_{d}")
            size = int(gi.cost[t][d])
            intervals[d].append(m.new_optional_fixed_size_interval_var(s[t], size, x[t, d], f"i_{t}_{d}"))
        if len(devs) > 1:
            m.add_exactly_one(x[t, d] for d in devs)
        sizes = sorted({int(gi.cost[t][d]) for d in devs})
        dur = m.new_int_var_from_domain(cp_model.Domain.from_values(sizes), f"d_{t}")
        m.add(dur == sum(int(gi.cost[t][d]) * x[t, d] for d in devs))
        durations[t] = dur
        m.add(e[t] == s[t] + dur)
        if TUNING.get("devlinear", True) and len({dhead[t][d] for d in devs}) > 1:  # start >= head on its device
            m.add(s[t] >= sum(int(dhead[t][d]) * x[t, d] for d in devs))
    for t, p in fixed.items():
        intervals[p.device].append(m.new_fixed_size_interval_var(int(p.start), int(p.end - p.start), f"f_{t}"))
    for d in gi.devices:
        if len(intervals[d]) > 1:
            m.add_no_overlap(intervals[d])

    # precedence, with the transfer paid only across devices
    z_lits: dict[tuple[str, str, str], object] = {}
    for edge in gi.edges:
        i, j, comm = edge.src, edge.dst, int(edge.comm)
        if j not in free_set:
            continue
        if i in fixed:
            fi = fixed[i]
            m.add(s[j] >= int(fi.end))
            for d in allowed[j]:
                if comm and d != fi.device:
                    m.add(s[j] >= int(fi.end) + comm).only_enforce_if(x[j, d])
            continue
        common = [d for d in allowed[i] if d in allowed[j]]
        if comm == 0 or not common:
            m.add(s[j] >= e[i] + (comm if not common else 0))
            continue
        if not TUNING["z"]:
            m.add(s[j] >= e[i])
            for d in allowed[j]:
                lits = [x[j, d], x[i, d].negated()] if d in common else [x[j, d]]
                m.add(s[j] >= e[i] + comm).only_enforce_if(lits)
            continue
        zs = []
        for d in common:
            xi, xj = x[i, d], x[j, d]
            if len(allowed[i]) == 1 and len(allowed[j]) == 1:
                zs.append(1)
                continue
            z = m.new_bool_var(f"z_{i}_{j}_{d}")
            m.add_implication(z, xi)
            m.add_implication(z, xj)
            m.add_bool_or([xi.negated(), xj.negated(), z])
            z_lits[i, j, d] = z
            zs.append(z)
        m.add(s[j] >= e[i] + comm - comm * sum(zs))

    # memory capacity
    if gi.uses_memory:
        for d in gi.devices:
            cap = gi.capacity.get(d)
            if cap is None:
                continue
            used = sum(gi.memory.get(t, 0.0) for t, p in fixed.items() if p.device == d)
            terms = [(gi.memory.get(t, 0.0), x[t, d]) for t in free if (t, d) in x and gi.memory.get(t, 0.0) > 0]
            if terms:
                mf = 1000.0  # memory to integers: 1/1000 of a unit, rounded up (conservative)
                m.add(
                    sum(int(math.ceil(w * mf - EPS)) * v for w, v in terms)
                    <= int(math.floor((cap - used) * mf + EPS))
                )

    # makespan, its bounds, the redundant load and cumulative constraints
    lb = max((int(min(dhead[t][d] + gi.cost[t][d] + dtail[t][d] for d in allowed[t])) for t in free), default=0)
    if window_tail is None:
        lb = max([lb] + [int(p.end) for p in fixed.values()])
    mk = m.new_int_var(min(lb, horizon), horizon, "makespan")
    for t in free:
        if TUNING.get("devlinear", True):
            m.add(mk >= e[t] + sum(int(dtail[t][d]) * x[t, d] for d in allowed[t]))
        else:
            m.add(mk >= e[t] + int(min(dtail[t][d] for d in allowed[t])))
    if window_tail is None:
        for p in fixed.values():
            m.add(mk >= int(p.end))
    for d in gi.devices if TUNING["load"] else []:
        terms = [int(gi.cost[t][d]) * x[t, d] for t in free if (t, d) in x]
        if len(terms) > 1:
            m.add(mk >= sum(terms) + sum(int(p.end - p.start) for p in fixed.values() if p.device == d))
    if len(gi.devices) > 1 and len(free) > 1 and TUNING["cumulative"]:
        main = [m.new_interval_var(s[t], durations[t], e[t], f"m_{t}") for t in free]
        m.add_cumulative(main, [1] * len(main), len(gi.devices))

    # symmetry among identical devices
    if not fixed:
        for group in device_groups(gi):
            for a, b in zip(group, group[1:]):
                seen = []
                for t in free:
                    if (t, b) in x:
                        m.add(x[t, b] <= sum(seen))
                    if (t, a) in x:
                        seen.append(x[t, a])

    if objective == "cost":
        m.minimize(sum(cost_coef[t, d] * x[t, d] for t in free for d in allowed[t]))
    else:
        m.minimize(mk)

    if hint is not None and all(hint[t].device in allowed[t] for t in free):
        for t in free:
            p = hint[t]
            m.add_hint(s[t], int(p.start))
            m.add_hint(e[t], int(p.end))
            m.add_hint(durations[t], int(p.end - p.start))
            if len(allowed[t]) > 1:
                for d in allowed[t]:
                    m.add_hint(x[t, d], p.device == d)
        for (i, j, d), z in z_lits.items():
            m.add_hint(z, hint[i].device == d and hint[j].device == d)
        hint_mk = max(int(hint[t].end + dtail[t][hint[t].device]) for t in free) if free else 0
        if window_tail is None:
            hint_mk = max([hint_mk] + [int(p.end) for p in fixed.values()])
        m.add_hint(mk, min(max(hint_mk, lb), horizon))

    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.max_time_in_seconds = max(0.01, time_limit - (time.perf_counter() - t_start))
    prm.num_workers = workers
    prm.random_seed = seed
    prm.log_search_progress = False
    if len(free) > LP_MAX_TASKS:
        prm.linearization_level = 0
    for k, v in TUNING["params"].items():
        if isinstance(v, list):
            getattr(prm, k).extend(v)
        else:
            setattr(prm, k, v)

    trace: list[tuple[float, float]] = []

    class _Cb(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            v = self.objective_value if objective == "cost" else self.value(mk)
            trace.append((self.wall_time, v))
            if progress:
                what = "cost" if objective == "cost" else "makespan"
                progress(f"cp-sat: {what} {v:g} (bound {self.best_objective_bound:g})")

    status = solver.solve(m, _Cb())
    name = solver.status_name(status)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        tasks = {}
        for t in free:
            d = next(d for d in allowed[t] if len(allowed[t]) == 1 or solver.boolean_value(x[t, d]))
            st = solver.value(s[t])
            tasks[t] = Placement(d, st, st + gi.cost[t][d])
        value = solver.value(mk) if objective != "cost" else solver.objective_value
        return _Result(tasks, name, solver.best_objective_bound, value, solver.wall_time, trace)
    bound = math.inf if status == cp_model.INFEASIBLE else solver.best_objective_bound
    return _Result(None, name, bound, None, solver.wall_time, trace)


# ------------------------------------------------------------------------------ driver


def cpsat_schedule(
    graph: TaskGraph,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    objective: str = "makespan",
    sla: float | None = None,
    workers: int = 2,
    max_tasks: int = MAX_TASKS,
    progress: Progress | None = None,
) -> Schedule:
    """The CP-SAT schedule (see the module docstring); never worse than its warm starts."""
    t0 = time.perf_counter()
    say = progress or (lambda _m: None)
    f, time_exact = _time_scale(graph)
    exact = time_exact
    gi = graph if (f == 1.0 and exact and _all_int(graph)) else graph.scaled(f)
    notes = []
    if f != 1.0:
        notes.append(f"times scaled by {f:g} to integers" + ("" if exact else " (rounded up; the bound is widened to match)"))
    cf, cost_exact = _cost_scale(graph) if objective == "cost" else (1.0, True)
    # the cost objective's integer coefficients, from the real run times
    coef = {(t, d): int(round(graph.run_cost(t, d) * cf)) for t in graph.cost for d in graph.cost[t]}
    if not cost_exact:
        notes.append(f"costs scaled by {cf:g} and rounded to integers (the bound is widened to match)")
    exact = exact and cost_exact

    pf = TUNING.get("portfolio", True)
    starts = warm_starts(graph, objective, pf)
    starts_i = warm_starts(gi, objective, pf) if gi is not graph else starts
    sla_i = None if sla is None else int(math.floor(sla * f + EPS))
    if objective == "cost" and sla is not None:
        lb = lower_bound(graph)
        if lb > sla + EPS * max(1.0, sla):
            raise HetcError(
                f"the SLA {sla:g} is infeasible: no schedule can take less than {lb:g} (critical path, "
                "transfers and work per device)",
                hint="raise --sla",
            )
    best_real = min(starts, key=lambda s: _key(s, objective, sla)) if starts else None
    usable_i = [s for s in starts_i if objective != "cost" or sla_i is None or s.makespan <= sla_i]
    best_i = min(usable_i, key=lambda s: _key(s, objective, None)) if usable_i else None
    if best_real is not None:
        say(f"warm start: {best_real.scheduler} makespan {best_real.makespan:g}"
            + (f" cost {best_real.cost:g}" if objective == "cost" and best_real.cost is not None else ""))  # fmt: skip

    horizon = int(sum(max(c.values()) for c in gi.cost.values()) + sum(e.comm for e in gi.edges))
    upper = int(best_i.makespan) if (best_i is not None and objective == "makespan") else horizon
    if objective == "cost" and sla_i is not None:
        upper = min(horizon, sla_i)

    groups = device_groups(gi)
    hint = canonical(gi, best_i.tasks, groups) if best_i is not None else None
    remaining = time_limit - (time.perf_counter() - t0)
    if len(graph.cost) > max_tasks and objective == "makespan":
        res = _windowed(gi, hint, remaining, seed, workers, say, notes)
    elif objective == "makespan" and not gi.uses_memory and TUNING.get("lns", True) and len(gi.cost) >= LNS_MIN_TASKS:
        res = _solve_lns(gi, hint, upper, remaining, seed, workers, progress, notes)
    else:
        res = _solve(
            gi, hint=hint, upper=upper, time_limit=remaining, seed=seed, workers=workers,
            objective=objective, sla=sla_i, cost_coef=coef, progress=progress,
        )  # fmt: skip

    feasible_starts = [s for s in starts if objective != "cost" or sla is None or s.makespan <= sla + EPS * sla]
    if res.status == "INFEASIBLE" and feasible_starts:
        # a warm start is a feasible schedule, so this cannot be; keep the warm start
        notes.append("CP-SAT reported the model infeasible although a warm start is feasible (kept the warm start)")
        res = _Result(None, "UNKNOWN", math.inf, None, res.wall, res.trace)
    elif res.status == "INFEASIBLE":
        if objective == "cost" and sla is not None:
            raise HetcError(
                f"no schedule meets the SLA {sla:g}"
                + (" and the memory capacities" if graph.uses_memory else "")
                + (f": the fastest warm start takes {min(s.makespan for s in starts):g}" if starts else ""),
                hint="raise --sla",
            )
        raise HetcError("no placement fits the devices' memory capacities (CP-SAT proved it infeasible)",
                        hint="raise a device's capacity or lower the tasks' memory")  # fmt: skip

    candidates: list[tuple[Schedule, str]] = []
    if res.tasks is not None:
        real = retime(graph, res.tasks)
        candidates.append((Schedule(real, "ilp", res.status, cost=total_cost(graph, real)), "cp-sat"))
    for s in starts:
        candidates.append((s, "warm"))
    if not candidates:
        raise HetcError(
            f"CP-SAT found no schedule in {time_limit:g} s and no heuristic fits the memory capacities",
            hint="raise --time-limit",
        )
    best, origin = min(candidates, key=lambda c: (_key(c[0], objective, sla), c[1] != "cp-sat"))
    if objective == "cost" and sla is not None and best.makespan > sla + EPS * max(1.0, sla):
        raise HetcError(
            f"no schedule found that meets the SLA {sla:g} in {time_limit:g} s "
            f"(CP-SAT: {res.status.lower()}; the fastest heuristic takes {min(s.makespan for s in starts):g})",
            hint="raise --sla or --time-limit",
        )

    # status, bound and gap
    # A model with rounded times or costs is not quite the user's problem: a schedule's
    # makespan moves by less than one grid step per task and edge on its critical chain
    # (at most 2n steps), its cost by less than half a step per task; the bound is widened
    # by that much to stay valid.
    n = len(graph.cost)
    if objective == "cost":
        slack = 0.0 if cost_exact else n / (2 * cf)
        bound = res.bound / cf - slack if math.isfinite(res.bound) else None
        value = best.cost if best.cost is not None else None
    else:
        slack = 0.0 if time_exact else 2 * n / f
        bound = max(res.bound / f - slack if math.isfinite(res.bound) else 0.0, lower_bound(graph))
        value = best.makespan
    proven = res.status == "OPTIMAL" and exact
    if origin == "cp-sat":
        status = "OPTIMAL" if proven else "FEASIBLE"
    elif proven:
        status = "OPTIMAL"  # the warm start was already optimal
    elif res.tasks is None:
        status = f"timeout, {_fallback_name(best)} fallback"
    else:
        status = "FEASIBLE"
    if bound is not None and value is not None and not proven:
        bound = min(bound, value)
    gap = 0.0 if proven else (None if bound is None or value is None else (value - bound) / value if value else 0.0)
    optimal = proven or (gap is not None and gap <= 1e-12)
    if optimal:
        status = "OPTIMAL"
    notes.append(
        f"cp-sat {res.status.lower()} in {res.wall:.2f} s, {len(res.trace)} improving solutions"
        + (f"; warm start {best_real.scheduler} {best_real.makespan:g}" if best_real is not None else "")
    )
    if origin != "cp-sat":
        notes.append(f"kept the warm start ({best.scheduler}): CP-SAT found nothing better")
    return Schedule(
        best.tasks, "ilp", status, optimal=optimal, gap=gap, lower_bound=bound, objective=objective,
        cost=total_cost(graph, best.tasks), solve_time=time.perf_counter() - t0, notes=notes,
    )  # fmt: skip


def _solve_lns(
    gi: TaskGraph,
    hint: dict[str, Placement] | None,
    upper: int,
    time_limit: float,
    seed: int,
    workers: int,
    progress: Progress | None,
    notes: list[str],
) -> _Result:
    """Makespan without memory capacities, at LNS_MIN_TASKS tasks or more (see the module
    docstring): optionally the full model (share TUNING["lns_first"]), then the
    large-neighbourhood search (lns.py) from the best schedule so far, then the full model
    asked to beat the LNS answer for the rest of the time (its proof or bound)."""
    from hetc.passes.place.lns import lns

    t0 = time.perf_counter()
    left = lambda: time_limit - (time.perf_counter() - t0)  # noqa: E731
    share_a, share_b = TUNING.get("lns_first", 0.0), TUNING.get("lns_share", 0.2)
    if len(gi.cost) > LP_MAX_TASKS:
        share_a, share_b = TUNING.get("lns_first_large", 0.0), TUNING.get("lns_share_large", 0.85)
    if time_limit < 1.0 or hint is None:  # no room for the LNS (or nothing to start it from)
        share_a = 1.0
    if share_a <= 0:  # straight to the LNS, from the warm start
        first = _Result(hint, "FEASIBLE", 0.0, float(upper), 0.0, [])
    else:
        first = _solve(
            gi, hint=hint, upper=upper, time_limit=share_a * time_limit, seed=seed, workers=workers,
            objective="makespan", sla=None, cost_coef=None, progress=progress,
        )  # fmt: skip
    if first.status in ("OPTIMAL", "INFEASIBLE") or left() < 0.2:
        return first
    inc = first.tasks if first.tasks is not None else hint
    if inc is None:
        return first
    inc_mk = max(p.end for p in inc.values())
    budget = share_b * time_limit if share_a + share_b < 1.0 else left()
    lb = int(math.ceil(max(first.bound, lower_bound(gi)) - 1e-9)) if math.isfinite(first.bound) else 0
    best, trace, stats = lns(
        gi, inc, time_limit=min(budget, left()), seed=seed, workers=TUNING.get("lns_workers", 1) or workers,
        stop_at=lb, progress=progress,
    )  # fmt: skip
    mk = max(p.end for p in best.values())
    notes.append(
        f"large-neighbourhood search: {stats['steps']} steps, {stats['improved']} improving, makespan "
        f"{inc_mk:g} -> {mk:g}"
    )
    bound, status, tasks = first.bound, "FEASIBLE", best
    if mk <= lb:
        status = "OPTIMAL"
    elif left() >= 0.2:
        # the full model again, asked for something strictly better than the LNS answer:
        # the tighter upper bound prunes devices (bounds.device_bounds) and domains, and
        # "infeasible" is then a proof that the LNS answer is optimal
        last = _solve(
            gi, hint=canonical(gi, best, device_groups(gi)), upper=int(mk) - 1, time_limit=left(), seed=seed,
            workers=workers, objective="makespan", sla=None, cost_coef=None, progress=progress,
        )  # fmt: skip
        if last.status == "INFEASIBLE":
            status, bound = "OPTIMAL", float(mk)
        else:
            # its bound holds for schedules shorter than mk; the LNS answer covers the rest
            bound = max(bound, min(last.bound, float(mk)))
            if last.tasks is not None and last.value is not None and last.value < mk:
                tasks, mk = last.tasks, last.value
            if last.status == "OPTIMAL" or bound >= mk:
                status = "OPTIMAL"
    trace = first.trace + [(first.wall + w, v) for w, v in trace]
    return _Result(tasks, status, bound, mk, time.perf_counter() - t0, trace)


def _all_int(graph: TaskGraph) -> bool:
    return all(isinstance(v, int) for c in graph.cost.values() for v in c.values()) and all(
        isinstance(e.comm, int) for e in graph.edges
    )


def _windowed(
    gi: TaskGraph,
    hint: dict[str, Placement] | None,
    time_limit: float,
    seed: int,
    workers: int,
    say: Progress,
    notes: list[str],
) -> _Result:
    """Large graphs: tasks in the order they start in the warm start `hint` (else HEFT's
    priority order), cut into windows of WINDOW tasks; each window is solved with the
    earlier windows fixed, minimising max(end + estimated time left after the task, from
    HEFT's upward rank) so the windows still to come are accounted for. Each window is
    hinted with the better of two feasible continuations of the fixed part: the warm
    start's devices, or HEFT's choices. Makespan objective only."""
    t0 = time.perf_counter()
    rank = upward_ranks(gi)
    if hint is not None:
        pos = {t: i for i, t in enumerate(gi.topological_order)}
        order = sorted(gi.cost, key=lambda t: (hint[t].start, pos[t]))
    else:
        order = heft_order(gi)
    tail_est = {t: rank[t] - sum(gi.cost[t].values()) / len(gi.cost[t]) for t in gi.cost}
    windows = [order[k : k + WINDOW] for k in range(0, len(order), WINDOW)]
    notes.append(f"decomposed: {len(gi.cost)} tasks in {len(windows)} windows of up to {WINDOW}")
    fixed: dict[str, Placement] = {}
    trace = []
    for k, win in enumerate(windows):
        left = time_limit - (time.perf_counter() - t0)
        budget = max(0.05, left / (len(windows) - k))
        wt = {t: int(tail_est[t]) for t in win}
        conts = []
        for devs in [None] + ([{t: hint[t].device for t in win}] if hint is not None else []):
            try:  # HEFT's continuation, then the warm start's devices
                conts.append(list_schedule(gi, win, preplaced=fixed, fixed_device=devs))
            except HetcError:  # out of memory capacity
                pass
        cont = min(conts, key=lambda c: max(c[t].end + wt[t] for t in win)) if conts else None
        sub = TaskGraph(
            gi.devices, {t: gi.cost[t] for t in gi.topological_order if t in fixed or t in win},
            [e for e in gi.edges if (e.src in fixed or e.src in win) and (e.dst in fixed or e.dst in win)],
            gi.memory, gi.capacity, gi.cost_rate,
        )  # fmt: skip
        if cont is not None:
            upper = int(max(cont[t].end + wt.get(t, 0) for t in cont)) + 1
        else:
            upper = int(max((p.end for p in fixed.values()), default=0) + sum(max(gi.cost[t].values()) for t in win)
                        + sum(e.comm for e in gi.edges) + max(wt.values()) + 1)  # fmt: skip
        res = _solve(
            sub, hint=cont, upper=upper, time_limit=budget, seed=seed, workers=workers,
            objective="makespan", sla=None, cost_coef=None, progress=None, fixed=dict(fixed),
            window_tail=wt,
        )  # fmt: skip
        if res.tasks is None and cont is None:
            return _Result(None, res.status, math.inf if res.status == "INFEASIBLE" else 0.0, None,
                           time.perf_counter() - t0, trace)  # fmt: skip
        res_tasks = res.tasks if res.tasks is not None else {t: cont[t] for t in win}
        fixed.update({t: res_tasks[t] for t in win})
        trace.append((time.perf_counter() - t0, max(p.end for p in fixed.values())))
        say(f"window {k + 1}/{len(windows)}: {res.status.lower()}, makespan so far {trace[-1][1]:g}")
    return _Result(fixed, "FEASIBLE", 0.0, max(p.end for p in fixed.values()), time.perf_counter() - t0, trace)
