"""Large-neighbourhood search around an incumbent schedule, for the CP-SAT scheduler.

Why: at 50-100 tasks the full CP-SAT model (cpsat.py) spends its 10 s mostly proving
nothing and improves the warm start slowly; CP-SAT's own LNS is generic. Here each step
frees a small set of tasks (the neighbourhood), keeps every other task on its device and
in its order on that device (times stay free, so the rest of the schedule shifts), and
re-solves that much smaller model with the incumbent as a complete hint and its makespan
as the upper bound. A better schedule becomes the new incumbent.

Neighbourhoods, chosen in turn:
- "window": consecutive tasks in the incumbent's start order (a time window);
- "critical": the incumbent's critical chain (the tasks and device hand-overs that set its
  makespan) plus the tasks running beside it;
- "devices": the tasks of two devices in a time window (moves and swaps between them);
- "random": tasks drawn at random, with their predecessors and successors.
The neighbourhood size adapts: it grows after a sub-problem was solved to optimality and
shrinks after one timed out. Every sub-solve has a time limit and a seed derived from the
main seed; the sub-solves use `workers` threads (1 gives repeatable steps). Makespan
objective only, without memory capacities (the caller checks).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping

from hetc.passes.place.taskgraph import EPS, Placement, TaskGraph, timetable

KINDS = ("window", "critical", "devices", "random")
# experiments: "secondary" breaks makespan ties by the sum of end times (measured worse:
# 8.2% instead of 13.3% over HEFT on the 100-task graphs, the sub-problems stop proving)
# "step_limit": seconds per sub-solve at most; "size": the first neighbourhood's size
SETTINGS: dict = {"secondary": False, "step_limit": 0.5, "size": 16}
# CP-SAT parameters of the sub-solves: without the LP and symmetry detection a sub-solve
# of 16 free tasks takes about half the time (it is mostly presolve and LP cuts)
PARAMS: dict = {"linearization_level": 0, "symmetry_level": 0}


def _order(
    tasks: Mapping[str, Placement], gi: TaskGraph | None = None
) -> dict[str, list[str]]:
    """device -> its tasks by start (ties, e.g. zero-length tasks: topological position)."""
    pos = {t: i for i, t in enumerate(gi.topological_order)} if gi is not None else {}
    per: dict[str, list[str]] = {}
    for t, p in sorted(
        tasks.items(), key=lambda kv: (kv[1].start, kv[1].end, pos.get(kv[0], 0))
    ):
        per.setdefault(p.device, []).append(t)
    return per


def _shifted(gi: TaskGraph, tasks: Mapping[str, Placement]) -> dict[str, Placement]:
    """The same devices and per-device orders, every task as early as it can start."""
    return timetable(gi, {t: p.device for t, p in tasks.items()}, _order(tasks, gi))


def _makespan(tasks: Mapping[str, Placement]) -> float:
    return max(p.end for p in tasks.values())


def critical_chain(
    gi: TaskGraph, tasks: Mapping[str, Placement], rng: random.Random
) -> list[str]:
    """The tasks of one chain that sets the makespan of the (left-shifted) schedule: from a
    task ending last, step back to a predecessor whose output arrives exactly at the start,
    or to the task before it on its device that ends exactly then (ties at random)."""
    per = _order(tasks, gi)
    prev_on: dict[str, str] = {}
    for seq in per.values():
        for a, b in zip(seq, seq[1:]):
            prev_on[b] = a
    mk = _makespan(tasks)
    ends = [t for t, p in tasks.items() if p.end >= mk - EPS]
    t = rng.choice(sorted(ends))
    chain = [t]
    while True:
        p = tasks[t]
        if p.start <= EPS:
            break
        binding = [
            a for a, c in gi.preds[t]
            if abs(tasks[a].end + (c if tasks[a].device != p.device else 0.0) - p.start) <= EPS
        ]  # fmt: skip
        if t in prev_on and abs(tasks[prev_on[t]].end - p.start) <= EPS:
            binding.append(prev_on[t])
        if not binding:
            break
        t = rng.choice(sorted(binding))
        chain.append(t)
    return chain[::-1]


def _neighbourhood(
    kind: str, gi: TaskGraph, tasks: Mapping[str, Placement], k: int, rng: random.Random
) -> set[str]:
    by_start = sorted(tasks, key=lambda t: (tasks[t].start, tasks[t].end, t))
    n = len(by_start)
    if kind == "window":
        a = rng.randrange(max(1, n - k + 1))
        return set(by_start[a : a + k])
    if kind == "critical":
        chain = critical_chain(gi, tasks, rng)
        if len(chain) > k:
            a = rng.randrange(len(chain) - k + 1)
            chain = chain[a : a + k]
        out = set(chain)
        # add the tasks overlapping the chain's span in time, nearest first
        lo, hi = min(tasks[t].start for t in out), max(tasks[t].end for t in out)
        beside = [
            t
            for t in by_start
            if t not in out and tasks[t].end > lo and tasks[t].start < hi
        ]
        rng.shuffle(beside)
        out.update(beside[: max(0, k - len(out))])
        return out
    if kind == "devices":
        devs = sorted({p.device for p in tasks.values()})
        pair = (
            rng.sample(gi.devices, min(2, len(gi.devices)))
            if len(devs) < 2 or rng.random() < 0.3
            else rng.sample(devs, 2)
        )
        on = [t for t in by_start if tasks[t].device in pair]
        if len(on) <= k:
            return set(on) | set(rng.sample(by_start, min(n, k - len(on))))
        a = rng.randrange(len(on) - k + 1)
        return set(on[a : a + k])
    # random seeds and their neighbours
    out: set[str] = set()
    while len(out) < min(k, n):
        t = rng.choice(by_start)
        out.add(t)
        for s, _ in gi.preds[t] + gi.succs[t]:
            if len(out) < k and rng.random() < 0.5:
                out.add(s)
    return out


def _subsolve(
    gi: TaskGraph,
    tasks: Mapping[str, Placement],
    free: set[str],
    dtail: Mapping[str, Mapping[str, float]],
    dhead: Mapping[str, Mapping[str, float]],
    allowed: Mapping[str, list[str]],
    upper: int,
    time_limit: float,
    seed: int,
    workers: int,
) -> tuple[str, dict[str, Placement] | None, int | None]:
    """Re-solve with the tasks in `free` free and the others on their devices in their
    per-device order; returns (status, schedule or None, makespan)."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    per = _order(tasks, gi)
    s, e, x, dev = {}, {}, {}, {}
    intervals: dict[str, list] = {d: [] for d in gi.devices}
    # `tasks` is left-shifted, so a kept task that starts before every free task depends
    # only on kept tasks that start before it: it cannot start earlier in any answer, and
    # later is never needed; it becomes a constant (smaller sub-models)
    t_free = min(tasks[t].start for t in free) if free else math.inf
    const = {t for t in gi.cost if t not in free and tasks[t].start < t_free}
    for t in gi.topological_order:
        devs = allowed[t] if t in free else [tasks[t].device]
        if tasks[t].device not in devs:
            devs = list(devs) + [tasks[t].device]
        dev[t] = devs
        if t in const:
            p = tasks[t]
            s[t], e[t] = int(p.start), int(p.end)
            x[t, p.device] = m.new_constant(1)
            intervals[p.device].append(
                m.new_fixed_size_interval_var(s[t], e[t] - s[t], f"c_{t}")
            )
            continue
        lo = int(min(dhead[t].get(d, 0) for d in devs))
        hi = int(upper)
        s[t] = m.new_int_var(lo, hi, f"s_{t}")
        e[t] = m.new_int_var(lo, hi, f"e_{t}")
        if len(devs) == 1:
            d = devs[0]
            x[t, d] = m.new_constant(1)
            intervals[d].append(
                m.new_interval_var(s[t], int(gi.cost[t][d]), e[t], f"i_{t}")
            )
            continue
        for d in devs:
            x[t, d] = m.new_bool_var(f"x_{t}_{d}")
            intervals[d].append(
                m.new_optional_fixed_size_interval_var(
                    s[t], int(gi.cost[t][d]), x[t, d], f"i_{t}_{d}"
                )
            )
        m.add_exactly_one(x[t, d] for d in devs)
        m.add(e[t] == s[t] + sum(int(gi.cost[t][d]) * x[t, d] for d in devs))
        if len({dhead[t].get(d, 0) for d in devs}) > 1:
            m.add(s[t] >= sum(int(dhead[t].get(d, 0)) * x[t, d] for d in devs))
    # the kept tasks keep their order on their device
    for seq in per.values():
        kept = [t for t in seq if t not in free]
        for a, b in zip(kept, kept[1:]):
            if b not in const:
                m.add(s[b] >= e[a])
    for d in gi.devices:
        if len(intervals[d]) > 1:
            m.add_no_overlap(intervals[d])
    for edge in gi.edges:
        i, j, comm = edge.src, edge.dst, int(edge.comm)
        if j in const:  # then i is too
            continue
        m.add(s[j] >= e[i])
        if not comm:
            continue
        if len(dev[i]) == 1 and len(dev[j]) == 1:
            if dev[i][0] != dev[j][0]:
                m.add(s[j] >= e[i] + comm)
            continue
        for d in dev[j]:
            lits = [x[j, d], x[i, d].negated()] if d in dev[i] else [x[j, d]]
            m.add(s[j] >= e[i] + comm).only_enforce_if(lits)
    mk = m.new_int_var(0, int(upper), "makespan")
    for t in gi.cost:
        if t in const or len(dev[t]) == 1:
            m.add(mk >= e[t] + int(dtail[t].get(dev[t][0], 0)))
        else:
            m.add(mk >= e[t] + sum(int(dtail[t].get(d, 0)) * x[t, d] for d in dev[t]))
    if SETTINGS["secondary"]:
        # ties in makespan broken by the sum of end times: slack for the next steps
        var = [t for t in gi.cost if t not in const]
        m.minimize(mk * (len(var) * int(upper) + 1) + sum(e[t] for t in var))
    else:
        m.minimize(mk)
    for t, p in tasks.items():
        if t in const:
            continue
        m.add_hint(s[t], int(p.start))
        m.add_hint(e[t], int(p.end))
        if len(dev[t]) > 1:
            for d in dev[t]:
                m.add_hint(x[t, d], p.device == d)
    m.add_hint(
        mk, int(max(p.end + dtail[t].get(p.device, 0) for t, p in tasks.items()))
    )

    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.max_time_in_seconds = max(0.01, time_limit)
    prm.num_workers = workers
    prm.random_seed = seed
    prm.log_search_progress = False
    for kk, v in PARAMS.items():
        setattr(prm, kk, v)
    status = solver.solve(m)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return name, None, None
    out = {}
    for t in gi.cost:
        d = (
            dev[t][0]
            if len(dev[t]) == 1
            else next(d for d in dev[t] if solver.boolean_value(x[t, d]))
        )
        st = s[t] if t in const else solver.value(s[t])
        out[t] = Placement(d, st, st + gi.cost[t][d])
    return name, out, solver.value(mk)


def lns(
    gi: TaskGraph,
    incumbent: Mapping[str, Placement],
    *,
    time_limit: float,
    seed: int = 0,
    workers: int = 1,
    bounds: tuple[dict, dict, dict] | None = None,
    step_limit: float | None = None,
    size: int | None = None,
    stop_at: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Placement], list[tuple[float, float]], dict[str, int]]:
    """Improve `incumbent` (model units, integer times, on integer graph `gi`) for about
    `time_limit` seconds; returns the best schedule (left-shifted), the trace of
    (seconds, makespan) improvements and a count of steps per outcome. `bounds` =
    `bounds.device_bounds(gi, ...)` (heads, tails, allowed devices). Stops early at
    makespan `stop_at` (a proven lower bound). `step_limit` and `size` default to
    SETTINGS."""
    from hetc.passes.place.bounds import device_bounds

    t0 = time.perf_counter()
    step_limit = SETTINGS["step_limit"] if step_limit is None else step_limit
    size = SETTINGS["size"] if size is None else size
    rng = random.Random(seed)
    best = _shifted(gi, incumbent)
    best_mk = _makespan(best)
    dhead, dtail, allowed = bounds if bounds is not None else device_bounds(gi, best_mk)
    n = len(gi.cost)
    k = min(n, size)
    trace: list[tuple[float, float]] = []
    stats = {"steps": 0, "improved": 0, "optimal": 0, "timeout": 0}
    step = 0
    while best_mk > stop_at + EPS:
        left = time_limit - (time.perf_counter() - t0)
        if left < 0.05:
            break
        kind = KINDS[step % len(KINDS)]
        free = _neighbourhood(kind, gi, best, k, rng)
        status, tasks, _ = _subsolve(
            gi, best, free, dtail, dhead, allowed, int(best_mk), min(step_limit, left), seed + step, workers
        )  # fmt: skip
        step += 1
        stats["steps"] += 1
        if status == "OPTIMAL":
            stats["optimal"] += 1
            k = min(n, k + 1)
        else:
            stats["timeout"] += 1
            k = max(4, k - 2)
        if tasks is None:
            continue
        tasks = _shifted(gi, tasks)
        mk = _makespan(tasks)
        if mk < best_mk - EPS or (mk <= best_mk + EPS and rng.random() < 0.5):
            # equal makespans are accepted half the time: a plateau move frees other chains
            if mk < best_mk - EPS:
                stats["improved"] += 1
                stats[kind] = stats.get(kind, 0) + 1
                trace.append((time.perf_counter() - t0, mk))
                if progress:
                    progress(f"lns ({kind}, {len(free)} tasks): makespan {mk:g}")
            if mk < best_mk - EPS:
                dhead, dtail, allowed = device_bounds(
                    gi, mk
                )  # the better bound prunes devices
            best, best_mk = tasks, mk
    return best, trace, stats
