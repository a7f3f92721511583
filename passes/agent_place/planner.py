"""The plan: baselines, heuristic, CP-SAT, and the check on the full sample.

`plan` builds the problem (`problem`), prices every homogeneous fleet as a baseline, runs
the heuristics (`heuristics`) and then CP-SAT (`cpsat`) warm-started with their answer.
Every plan is checked on the full sample (`scenarios`) afterwards; if CP-SAT's subset was
optimistic the SLA given to it is tightened and it runs again. An infeasible answer says
why: an op that fits no device, the critical path of the fastest placement, or a fleet too
small for the rate.

Baselines: each homogeneous fleet, one device type for every op it can run (host-only ops
and ops it cannot hold on the host CPU). The heterogeneous plan is never costlier than
the best homogeneous one that meets the SLA (that one is a candidate too).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hetc.diagnostics import HetcError
from hetc.frontend.agent import AgentGraph
from hetc.passes.agent_place.cpsat import SolveInfo, cpsat_place
from hetc.passes.agent_place.evaluation import Evaluation, critical_path, evaluate
from hetc.passes.agent_place.fleet import Fleet
from hetc.passes.agent_place.heuristics import descend, fastest, homogeneous, relieve, speed_up
from hetc.passes.agent_place.problem import Problem, build_problem, unplaceable
from hetc.passes.agent_place.sizing import instances_needed

Progress = Callable[[str], None]


@dataclass
class Plan:
    problem: Problem
    placement: dict[str, str]
    evaluation: Evaluation | None
    feasible: bool
    solver: SolveInfo
    baselines: list[dict[str, Any]]
    infeasible_reason: str = ""
    objective: str = "cost_per_request"
    rate: float | None = None
    instances: dict[str, int] = field(default_factory=dict)
    cost_per_hour: float | None = None

    @property
    def latency_s(self) -> float | None:
        return None if self.evaluation is None else self.evaluation.latency_p

    @property
    def cost_per_request(self) -> float | None:
        return None if self.evaluation is None else self.evaluation.cost_per_request

    @property
    def best_homogeneous(self) -> dict[str, Any] | None:
        ok = [b for b in self.baselines if b["meets_sla"]]
        key = "cost_per_hour" if self.objective == "cost_per_hour" else "cost_per_request"
        return min(ok, key=lambda b: b[key]) if ok else None

    @property
    def saving(self) -> float | None:
        """1 - heterogeneous cost / best homogeneous cost (None without a feasible homogeneous fleet)."""
        b = self.best_homogeneous
        if not self.feasible or b is None:
            return None
        if self.objective == "cost_per_hour":
            return 1.0 - self.cost_per_hour / b["cost_per_hour"] if b["cost_per_hour"] else 0.0
        return 1.0 - self.cost_per_request / b["cost_per_request"] if b["cost_per_request"] else 0.0


def _baseline_rows(
    pb: Problem, sla: float | None, rate: float | None, util: float
) -> tuple[list[dict], dict[str, dict]]:
    rows, places = [], {}
    for d in pb.devices:
        place, why = homogeneous(pb, d)
        label = f"all {d}" if pb.fleet.device(d).kind == "cpu" else f"{d} (+ host CPU)"
        if place is None:
            rows.append({"name": label, "device": d, "meets_sla": False, "reason": why, "latency_s": None,
                         "cost_per_request": None, "cost_per_hour": None})  # fmt: skip
            continue
        ev = evaluate(pb, place)
        row = {"name": label, "device": d, "meets_sla": ev.meets(sla), "latency_s": ev.latency_p,
               "cost_per_request": ev.cost_per_request, "reason": "" if ev.meets(sla) else
               f"p{pb.percentile:g} latency {ev.latency_p:.3f} s > SLA {sla:g} s", "cost_per_hour": None}  # fmt: skip
        if rate:
            # a homogeneous fleet is an alternative purchase: sized for the load, not capped
            # by this fleet's counts
            inst, _ = instances_needed(pb, place, rate, util)
            row["instances"] = inst
            row["cost_per_hour"] = sum(n * pb.fleet.device(k).cost_per_hour for k, n in inst.items())
        rows.append(row)
        places[d] = place
    return rows, places


def _infeasible_sla(pb: Problem, fast: dict[str, str], fev: Evaluation, rows: list, obj, rate, info: SolveInfo,
                    say: Progress) -> Plan:  # fmt: skip
    """The plan that says the SLA cannot be met, and on which critical path."""
    s_star = int(np.argmin(np.abs(fev.latency - fev.latency_p)))
    path = critical_path(pb, fast, fev, s_star)
    pretty = " → ".join(f"{t} ({fast[pb.tasks[t].unit]})" for t in path)
    reason = (f"even the fastest device for every op gives {fev.latency_p:.3f} s at p{pb.percentile:g} > SLA "
              f"{pb.sla:g} s, on the critical path {pretty}")  # fmt: skip
    if info.optimal:
        reason += " (and CP-SAT proved that no placement meets the SLA on its scenarios)"
    say("infeasible: " + reason)
    return Plan(pb, fast, fev, False, info, rows, reason, obj.minimize, rate)


def plan(
    graph: AgentGraph, fleet: Fleet, *, sla: float | None = None, percentile: float | None = None,
    scenarios: int = 400, cp_scenarios: int = 48, time_limit: float = 10.0, seed: int = 0, workers: int = 2,
    solver: str = "cpsat", progress: Progress | None = None,
) -> Plan:  # fmt: skip
    """Place `graph` on `fleet` (see the module docstring). `solver`: "cpsat" (warm-started
    by the heuristic, falls back to it) or "heuristic"."""
    say = progress or (lambda _m: None)
    if solver not in ("cpsat", "heuristic"):
        raise HetcError(f"unknown solver '{solver}' (choose cpsat or heuristic)")
    if time_limit is None or not time_limit > 0:
        raise HetcError(f"the time limit must be positive, not {time_limit!r}")
    pb = build_problem(graph, fleet, sla=sla, percentile=percentile, scenarios=scenarios, seed=seed)
    sla = pb.sla
    obj = graph.objective
    rate, util = obj.rate, obj.utilization
    missing = unplaceable(pb)
    if missing:  # the report says which op fits nowhere (and why on each device type)
        say("infeasible: " + missing)
        rows, _ = _baseline_rows(pb, sla, rate, util)
        return Plan(pb, {}, None, False, SolveInfo("INFEASIBLE (devices)", True, None, 0.0), rows, missing, obj.minimize,
                    rate)  # fmt: skip
    say(
        f"{len(pb.units)} units ({len(pb.tasks)} ops unrolled), {len(pb.devices)} device types, {pb.scenarios} scenarios"
    )
    rows, places = _baseline_rows(pb, sla, rate, util)
    fast = fastest(pb)
    fev = evaluate(pb, fast, keep_times=True)
    notes: list[str] = []
    # per-op fastest ignores transfers, so a homogeneous fleet (or CP-SAT) may still be
    # faster: only when none of them meets the SLA is it reported infeasible
    sla_hopeless = not fev.meets(sla) and not any(b["meets_sla"] for b in rows)
    if sla_hopeless and solver != "cpsat":
        return _infeasible_sla(pb, fast, fev, rows, obj, rate, SolveInfo("INFEASIBLE (SLA)", False, None, 0.0), say)
    t0 = time.perf_counter()

    def fits(p: dict[str, str]) -> bool:
        return rate is None or not instances_needed(pb, p, rate, util)[1]

    # the heuristic: the cheapest feasible homogeneous fleet, or the fastest plan, then descend
    cands = [places[b["device"]] for b in rows if b["meets_sla"]] + [fast]
    if rate:  # move load off the types the fleet has too few of
        cands += [relieve(pb, c, sla, rate, util) for c in list(cands)]
    ok = [c for c in cands if fits(c) and evaluate(pb, c).meets(sla)]
    # the candidates themselves too: descend lowers the cost per request, which need not
    # lower the cost per hour (a new device type costs a whole instance)
    starts = ok + [descend(pb, c, sla, fits) for c in ok]
    if not starts:
        start = speed_up(pb, fast, sla)
        starts = [start] if evaluate(pb, start).meets(sla) and fits(start) else []

    def key(p: dict[str, str]) -> float:
        if obj.minimize == "cost_per_hour":
            inst, _ = instances_needed(pb, p, rate, util)
            return sum(n * pb.fleet.device(k).cost_per_hour for k, n in inst.items())
        return evaluate(pb, p).cost_per_request

    heur = min(starts, key=key) if starts else None
    info = SolveInfo("HEURISTIC", False, None, time.perf_counter() - t0)
    best = heur
    if solver == "cpsat" and (sla is not None or rate):
        rng = np.random.default_rng(seed + 1)
        k = min(cp_scenarios, pb.scenarios)
        # a uniform sample of the scenarios (a biased one would make the percentile too
        # strict); if it was optimistic, the check on the full sample below tightens it
        subset = np.sort(rng.choice(pb.scenarios, k, replace=False))
        target = sla
        for attempt in range(4):
            say(f"CP-SAT: {len(subset)} scenarios, SLA {target if target else 0:.4g} s at p{pb.percentile:g}, "
                f"time limit {time_limit:g} s")  # fmt: skip
            place, info = cpsat_place(
                pb, target, subset, time_limit=time_limit, seed=seed, workers=workers, hint=heur,
                objective=obj.minimize, rate=rate, utilization=util,
            )  # fmt: skip
            if place is None:
                notes.append(
                    f"CP-SAT: {info.status} after {info.solve_time:.2f} s" + ("; heuristic kept" if heur else "")
                )
                break
            ev = evaluate(pb, place)
            if ev.meets(sla) and fits(place):
                if heur is None or key(place) <= key(heur) + 1e-15:
                    best = place
                else:
                    notes.append("CP-SAT's plan was costlier on the full sample than the heuristic's; heuristic kept")
                break
            # the subset was optimistic: tighten the SLA given to CP-SAT and add the violators
            if target is not None and not ev.meets(sla):
                target *= min(0.98, sla / ev.latency_p)
            subset = np.unique(np.concatenate([subset, np.argsort(-ev.latency, kind="stable")[:8]]))
            notes.append(f"CP-SAT plan gave p{pb.percentile:g} {ev.latency_p:.3f} s on the full sample; retrying")
        else:
            notes.append(
                "CP-SAT did not find a plan that holds on the full sample" + ("; heuristic kept" if heur else "")
            )
    if best is None and sla_hopeless:
        proved = info.status == "INFEASIBLE"
        info.notes = notes
        return _infeasible_sla(pb, fast, fev, rows, obj, rate, SolveInfo(
            "INFEASIBLE (SLA)", proved, None, info.solve_time, notes=notes), say)  # fmt: skip
    if best is None:
        _, over = instances_needed(pb, fast, rate or 0.0, util)
        reason = f"the fleet is too small for {rate:g} req/s at this SLA: with the fastest placement, {over}"
        if info.status == "INFEASIBLE":
            reason += " (CP-SAT proved that no placement fits the fleet's counts and the SLA on its scenarios)"
        info.notes = notes
        return Plan(pb, fast, fev, False, SolveInfo("INFEASIBLE (fleet)", info.status == "INFEASIBLE", None,
                                                    info.solve_time, notes=notes), rows, reason, obj.minimize, rate)  # fmt: skip
    info.notes = notes
    ev = evaluate(pb, best, keep_times=True)
    p = Plan(pb, best, ev, True, info, rows, "", obj.minimize, rate)
    if rate:
        p.instances, _ = instances_needed(pb, best, rate, util)
        p.cost_per_hour = sum(n * pb.fleet.device(k).cost_per_hour for k, n in p.instances.items())
    say(
        f"plan: p{pb.percentile:g} latency {ev.latency_p:.3f} s, ${ev.cost_per_request:.6f} per request ({info.status})"
    )
    return p
