"""The CP-SAT placement model.

CP-SAT over the placement literals with one latency per scenario (a subset of the sampled
scenarios, `cp_scenarios` of them in `plan`; start times per op and scenario, transfers
priced by pair literals, enforcement literals for "this scenario meets the SLA" and a
count of them >= p%), a time limit, a fixed seed, warm-started with a hint (the
heuristic's answer), status and gap reported. Objective `cost_per_request` (the units'
expected $ per request) or, with a target rate, `cost_per_hour`: instances per type
(`n[d]`, capped by the fleet's counts) for the load (busy time / utilization), for the
resident models (their weights + KV fit the instances' memory) and for the payloads over
each instance's link to the host (n x bandwidth x utilization >= traffic), x $/hour.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetc.passes.agent_place.problem import Problem
from hetc.passes.agent_place.sizing import link_endpoint, pair_traffic

TIME_UNITS = 1e5  # CP-SAT time grid: 10 us
COST_UNITS = 1e9  # CP-SAT cost grid: a nano-dollar


@dataclass
class SolveInfo:
    status: str
    optimal: bool
    gap: float | None
    solve_time: float
    objective: float | None = None
    bound: float | None = None
    notes: list[str] = field(default_factory=list)


def cpsat_place(
    pb: Problem, sla: float | None, subset: np.ndarray, *, time_limit: float = 10.0, seed: int = 0, workers: int = 2,
    hint: dict[str, str] | None = None, objective: str = "cost_per_request", rate: float | None = None,
    utilization: float = 0.7,
) -> tuple[dict[str, str] | None, SolveInfo]:  # fmt: skip
    """The CP-SAT model of the module docstring over the scenarios in `subset`."""
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    m = cp_model.CpModel()
    x = {(u, d): m.NewBoolVar(f"x[{u},{d}]") for u in pb.units for d in pb.allowed[u]}
    for u in pb.units:
        m.AddExactlyOne(x[u, d] for d in pb.allowed[u])
    unit_of = {t: pb.tasks[t].unit for t in pb.tasks}
    # pair literals for every unit pair joined by an edge: the transfer is priced by the pair
    pairs: dict[tuple[str, str], dict[tuple[str, str], Any]] = {}
    for e in pb.edges:
        ua, ub = unit_of[e.src], unit_of[e.dst]
        if (ua, ub) in pairs or ua == ub:
            continue
        lits = {}
        for da in pb.allowed[ua]:
            for db in pb.allowed[ub]:
                y = m.NewBoolVar(f"y[{ua},{ub},{da},{db}]")
                m.AddBoolAnd([x[ua, da], x[ub, db]]).OnlyEnforceIf(y)
                m.AddBoolOr([x[ua, da].Not(), x[ub, db].Not(), y])
                lits[da, db] = y
        pairs[ua, ub] = lits
    host = pb.fleet.catalog.host.name
    sla_i = None if sla is None else int(math.floor(sla * TIME_UNITS))
    # a horizon: every op at its slowest allowed device, plus slack for transfers
    slowest = sum(max(float(np.max(pb.dur[t][d])) for d in pb.allowed[pb.tasks[t].unit]) for t in pb.tasks)
    for e in pb.edges:
        ua, ub = unit_of[e.src], unit_of[e.dst]
        slowest += max(float(np.max(pb.comm(e.bytes, a, b))) for a in pb.allowed[ua] for b in pb.allowed[ub])
    big = int(math.ceil(TIME_UNITS * (slowest + 1.0)))
    ok = []
    if sla_i is not None:
        for s in subset:
            s = int(s)
            L = m.NewIntVar(0, big, f"L{s}")
            st: dict[str, Any] = {}
            for t, task in pb.tasks.items():
                if not pb.exec[t][s]:
                    continue
                st[t] = m.NewIntVar(0, big, f"s[{t},{s}]")
                u = task.unit
                durexpr = sum(int(math.ceil(pb.dur[t][d][s] * TIME_UNITS)) * x[u, d] for d in pb.allowed[u])
                if not any(pb.exec[e.src][s] for e in pb.preds[t]):
                    m.Add(st[t] >= sum(int(math.ceil(float(pb.comm(pb.req_bytes, host, d)) * TIME_UNITS)) * x[u, d]
                                       for d in pb.allowed[u]))  # fmt: skip
                m.Add(L >= st[t] + durexpr)
                for e in pb.preds[t]:
                    if not pb.exec[e.src][s]:
                        continue
                    a = pb.tasks[e.src]
                    ua = a.unit
                    fin = st[e.src] + sum(
                        int(math.ceil(pb.dur[e.src][d][s] * TIME_UNITS)) * x[ua, d] for d in pb.allowed[ua]
                    )
                    if ua == u:
                        m.Add(st[t] >= fin)
                        continue
                    comm = sum(int(math.ceil(float(pb.comm(e.bytes[s], da, db)) * TIME_UNITS)) * y
                               for (da, db), y in pairs[ua, u].items() if da != db)  # fmt: skip
                    m.Add(st[t] >= fin + comm)
            b = m.NewBoolVar(f"ok{s}")
            m.Add(L <= sla_i).OnlyEnforceIf(b)
            ok.append(b)
        need = int(math.ceil(pb.percentile / 100.0 * len(subset) - 1e-9))
        m.Add(sum(ok) >= need)
    cost = {(u, d): int(round(pb.unit_cost(u, d) * COST_UNITS)) for (u, d) in x}
    n_vars: dict[str, Any] = {}  # instances per type (cost_per_hour)
    if objective == "cost_per_hour" or rate is not None:
        r = rate or 0.0
        n_of: dict[str, Any] = {}
        for d in pb.devices:
            dev = pb.fleet.device(d)
            busy = {u: pb.unit_busy(u, d) for u in pb.units if d in pb.allowed[u]}
            n = m.NewIntVar(0, pb.fleet.counts[d], f"n[{d}]")
            # n x utilization x 1e6 >= rate x busy x 1e6 (microseconds of busy time per second)
            m.Add(n * int(utilization * 1e6) >= sum(int(math.ceil(r * b * 1e6)) * x[u, d] for u, b in busy.items()))
            # the models resident on this type fit its instances' memory
            models: dict[str, list[str]] = {}
            foot: dict[str, float] = {}
            for t in pb.tasks.values():
                if d in pb.allowed[t.unit] and t.model:
                    models.setdefault(t.model, []).append(t.unit)
                    foot[t.model] = max(foot.get(t.model, 0.0), t.footprint)
            mem_terms = []
            for mdl, us in models.items():
                z = m.NewBoolVar(f"res[{mdl},{d}]")
                for u in set(us):
                    m.AddImplication(x[u, d], z)
                mem_terms.append(int(math.ceil(foot[mdl] / 1e6)) * z)
            if mem_terms:
                m.Add(n * int(dev.capacity / 1e6) >= sum(mem_terms))
            n_of[d] = n
        # payloads over each instance's link to the host: n x bandwidth x utilization >= traffic (kB/s)
        traffic = pair_traffic(pb)
        per_link: dict[str, list] = {}
        for (ua, ub), lits in pairs.items():
            nbytes = traffic.get((ua, ub), 0.0)
            if nbytes <= 0:
                continue
            for (da, db), y in lits.items():
                if da == db:
                    continue
                for link in pb.fleet.catalog.route(da, db):
                    end = link_endpoint(pb, link.name)
                    if end is not None and end in n_of and link.a != link.b:
                        per_link.setdefault(link.name, []).append(int(math.ceil(r * nbytes / 1e3)) * y)
        for name, terms in per_link.items():
            link = pb.fleet.catalog.links[name]
            end = link_endpoint(pb, name)
            m.Add(n_of[end] * max(1, int(link.bandwidth_Bps * utilization / 1e3)) >= sum(terms))
        if objective == "cost_per_hour":
            n_vars = n_of
    if objective == "cost_per_hour":
        m.Minimize(sum(int(round(pb.fleet.device(d).cost_per_hour * 1000)) * n for d, n in n_vars.items()))
    else:
        m.Minimize(sum(c * x[k] for k, c in cost.items()))
    if hint:
        for (u, d), v in x.items():
            m.AddHint(v, hint.get(u) == d)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit)
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = workers
    st_code = solver.Solve(m)
    name = solver.StatusName(st_code)
    dt = time.perf_counter() - t0
    if st_code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        place = {u: d for (u, d), v in x.items() if solver.BooleanValue(v)}
        obj, bound = solver.ObjectiveValue(), solver.BestObjectiveBound()
        gap = 0.0 if st_code == cp_model.OPTIMAL else (abs(obj - bound) / abs(obj) if obj else 0.0)
        return place, SolveInfo(name, st_code == cp_model.OPTIMAL, gap, dt, obj, bound)
    return None, SolveInfo(name, False, None, dt)
