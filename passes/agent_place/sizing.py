"""Instances and link loads of a placement at a target request rate.

`cost_per_hour` at a target rate: instances of each type needed for the load (rate x busy
seconds per request / utilization, rounded up) and for the resident models (their weights
+ KV must fit the instances' memory) x $/hour; the fleet's counts cap both. Links: every
transfer's time is on the latency path (`evaluation`); with a rate, the payload bytes/s
crossing each catalog link (every instance brings its own link to the host) must fit
n x bandwidth x utilization, which can ask for more instances.

Kept apart from `planner` because the heuristics (`relieve`) and the CP-SAT model (link
constraints) use it too.
"""

from __future__ import annotations

import math

import numpy as np

from hetc.passes.agent_place.evaluation import evaluate
from hetc.passes.agent_place.problem import Problem


def instances_needed(pb: Problem, place: dict[str, str], rate: float, utilization: float) -> tuple[dict[str, int], str]:
    """Instances of each type for `rate` requests/s (load and resident models), and what
    exceeds the fleet's counts ('' if nothing)."""
    ev = evaluate(pb, place)
    out, why = {}, ""
    for d in set(place.values()):
        dev = pb.fleet.device(d)
        load = math.ceil(rate * ev.busy.get(d, 0.0) / utilization - 1e-9)
        foot: dict[str, float] = {}
        for t in pb.tasks.values():
            if place[t.unit] == d and t.model:
                foot[t.model] = max(foot.get(t.model, 0.0), t.footprint)
        mem = math.ceil(sum(foot.values()) / dev.capacity - 1e-9) if foot else 0
        out[d] = max(1, load, mem)
    # each instance brings its own link to the host: payload traffic may need more of them
    for name, (bps, end) in link_loads(pb, place, rate).items():
        link = pb.fleet.catalog.links[name]
        need = math.ceil(bps / (link.bandwidth_Bps * utilization) - 1e-9)
        if need > out.get(end, 0):
            out[end] = need
            if need > pb.fleet.counts.get(end, 0) and not why:
                why = (f"link {name}: {bps / 1e9:.1f} GB/s of payloads at {rate:g} req/s needs {need} {end} instances "
                       f"(of {link.bandwidth_Bps / 1e9:g} GB/s each), the fleet has {pb.fleet.counts.get(end, 0)}")  # fmt: skip
    for d, n in out.items():
        if n > pb.fleet.counts.get(d, 0) and not why:
            why = f"{d}: needs {n} instances at {rate:g} req/s, the fleet has {pb.fleet.counts.get(d, 0)}"
    return out, why


def pair_traffic(pb: Problem) -> dict[tuple[str, str], float]:
    """Mean payload bytes per request from unit a to unit b (over the scenarios where both run)."""
    out: dict[tuple[str, str], float] = {}
    for e in pb.edges:
        ua, ub = pb.tasks[e.src].unit, pb.tasks[e.dst].unit
        if ua != ub:
            both = pb.exec[e.src] & pb.exec[e.dst]
            out[ua, ub] = out.get((ua, ub), 0.0) + float(np.mean(np.where(both, e.bytes, 0.0)))
    return out


def link_endpoint(pb: Problem, name: str) -> str | None:
    """The device type whose instances each bring one of these links (the non-host end)."""
    link = pb.fleet.catalog.links[name]
    host = pb.fleet.catalog.host.name
    ends = [x for x in (link.a, link.b) if x != host]
    return ends[0] if ends else None


def link_loads(pb: Problem, place: dict[str, str], rate: float) -> dict[str, tuple[float, str]]:
    """Bytes/s on each catalog link at `rate` requests/s, and the device type it belongs to."""
    out: dict[str, tuple[float, str]] = {}
    for (ua, ub), nbytes in pair_traffic(pb).items():
        da, db = place[ua], place[ub]
        if da == db:
            continue
        for link in pb.fleet.catalog.route(da, db):
            end = link_endpoint(pb, link.name)
            if end is None or link.a == link.b:
                continue
            prev = out.get(link.name, (0.0, end))[0]
            out[link.name] = (prev + rate * nbytes, end)
    return out
