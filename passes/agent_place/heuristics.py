"""Heuristic placements: the fallback when CP-SAT finds nothing, and its warm start.

From the fastest placement (`fastest`) or a homogeneous one (`homogeneous`: one device
type for every op it can run, host-only ops and ops it cannot hold on the host CPU), move
ops one at a time to cheaper devices while the SLA still holds on all sampled scenarios
(`descend`). `speed_up` repairs a placement that misses the SLA; `relieve` one that needs
more instances of a type than the fleet has at the target rate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hetc.passes.agent_place.evaluation import evaluate
from hetc.passes.agent_place.problem import Problem
from hetc.passes.agent_place.sizing import instances_needed


def fastest(pb: Problem) -> dict[str, str]:
    """Every unit on its fastest allowed device (expected time)."""
    out = {}
    for u in pb.units:
        ts = [t for t in pb.tasks.values() if t.unit == u]
        out[u] = min(
            pb.allowed[u], key=lambda d: (sum(float(np.mean(pb.dur[t.name][d])) for t in ts), pb.unit_cost(u, d))
        )
    return out


def homogeneous(pb: Problem, dev: str) -> tuple[dict[str, str] | None, str]:
    """Every unit on `dev` where it can run there, else on the host CPU; (None, why) if some
    unit can go on neither."""
    host = next((d for d in pb.devices if pb.fleet.device(d).kind == "cpu"), None)
    host_only = {t.unit for t in pb.tasks.values() if t.host_only}
    out = {}
    for u in pb.units:
        if dev in pb.allowed[u]:
            out[u] = dev
        elif u in host_only and host in pb.allowed[u]:
            out[u] = host
        else:
            return None, f"{u}: {pb.why_not.get(u, {}).get(dev, 'cannot run there')}"
    return out, ""


def descend(
    pb: Problem, place: dict[str, str], sla: float | None, check: Callable[[dict[str, str]], bool] | None = None
) -> dict[str, str]:
    """Local search: move one unit to another device when that lowers the cost and the
    plan still meets the SLA (and `check`); best move first, until none helps."""
    cur = dict(place)
    for _ in range(4 * len(pb.units) * max(1, len(pb.devices))):
        best = None
        for u in pb.units:
            for d in pb.allowed[u]:
                if d == cur[u]:
                    continue
                delta = pb.unit_cost(u, d) - pb.unit_cost(u, cur[u])
                if delta >= -1e-15 or (best is not None and delta >= best[0]):
                    continue
                trial = dict(cur)
                trial[u] = d
                ev = evaluate(pb, trial)
                if ev.meets(sla) and (check is None or check(trial)):
                    best = (delta, u, d)
        if best is None:
            break
        cur[best[1]] = best[2]
    return cur


def speed_up(pb: Problem, place: dict[str, str], sla: float | None) -> dict[str, str]:
    """Greedy repair: while the SLA is missed, move the unit whose move to a faster device
    gains the most latency per extra dollar."""
    cur = dict(place)
    ev = evaluate(pb, cur)
    for _ in range(len(pb.units) * max(1, len(pb.devices))):
        if ev.meets(sla):
            break
        best = None
        for u in pb.units:
            for d in pb.allowed[u]:
                if d == cur[u]:
                    continue
                trial = dict(cur)
                trial[u] = d
                e2 = evaluate(pb, trial)
                gain = ev.latency_p - e2.latency_p
                if gain <= 0:
                    continue
                extra = max(e2.cost_per_request - ev.cost_per_request, 1e-12)
                score = gain / extra
                if best is None or score > best[0]:
                    best = (score, trial, e2)
        if best is None:
            break
        cur, ev = best[1], best[2]
    return cur


def relieve(pb: Problem, place: dict[str, str], sla: float | None, rate: float, util: float) -> dict[str, str]:
    """Greedy repair for a rate: while a device type needs more instances than the fleet
    has, move its busiest unit to the allowed type with the most spare capacity that keeps
    the SLA."""
    cur = dict(place)
    for _ in range(len(pb.units) * max(1, len(pb.devices))):
        inst, over = instances_needed(pb, cur, rate, util)
        bad = [d for d, n in inst.items() if n > pb.fleet.counts.get(d, 0)]
        if not bad:
            break
        d = bad[0]
        moved = False
        for u in sorted((u for u in pb.units if cur[u] == d), key=lambda u: -pb.unit_busy(u, d)):
            opts = []
            for d2 in pb.allowed[u]:
                if d2 == d:
                    continue
                trial = dict(cur)
                trial[u] = d2
                i2, _ = instances_needed(pb, trial, rate, util)
                spare = pb.fleet.counts.get(d2, 0) - i2.get(d2, 0)
                if spare >= 0 and evaluate(pb, trial).meets(sla):
                    opts.append((pb.unit_cost(u, d2), d2, trial))
            if opts:
                cur = min(opts, key=lambda o: (o[0], o[1]))[2]
                moved = True
                break
        if not moved:
            break
    return cur
