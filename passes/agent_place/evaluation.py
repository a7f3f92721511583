"""Evaluation of one placement on the sampled scenarios: latency and cost per request.

A request's latency in one scenario is the longest path through the ops that run (each
op's time on its device plus every payload's transfer between devices). The SLA holds at
its percentile p when at least p% of the scenarios finish within it (`quantile`).
`cost_per_request`: expected device busy time x $/hour over the ops that run (external
tool waits are not billed). `critical_path` names the ops that set one scenario's latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hetc.passes.agent_place.problem import Problem


@dataclass
class Evaluation:
    latency: np.ndarray  # per scenario
    latency_p: float  # at the percentile
    cost_per_request: float
    busy: dict[str, float]  # device -> expected busy seconds per request
    start: dict[str, np.ndarray] = field(default_factory=dict)
    finish: dict[str, np.ndarray] = field(default_factory=dict)

    def meets(self, sla: float | None) -> bool:
        return sla is None or self.latency_p <= sla * (1 + 1e-9)


def quantile(x: np.ndarray, pct: float) -> float:
    """The smallest sampled value v with at least pct% of the samples <= v."""
    return float(np.quantile(x, pct / 100.0, method="inverted_cdf"))


def evaluate(
    pb: Problem, place: dict[str, str], *, keep_times: bool = False, only: np.ndarray | None = None
) -> Evaluation:
    """Latency per scenario (longest path over the ops that run), its percentile, and the
    expected cost per request of placement `place` (unit -> device)."""
    S = pb.scenarios
    preds = pb.preds
    start: dict[str, np.ndarray] = {}
    finish: dict[str, np.ndarray] = {}
    lat = np.zeros(S)
    for t in pb.tasks.values():
        d = place[t.unit]
        run = pb.exec[t.name]
        if preds[t.name]:
            st = np.zeros(S)
            for e in preds[t.name]:
                a = pb.tasks[e.src]
                arrive = finish[e.src] + pb.comm(e.bytes, place[a.unit], d)
                st = np.maximum(st, np.where(pb.exec[e.src], arrive, 0.0))
        else:
            st = np.full(
                S, pb.comm(pb.req_bytes, pb.fleet.catalog.host.name, d) if d != pb.fleet.catalog.host.name else 0.0
            )
        fin = np.where(run, st + pb.dur[t.name][d], 0.0)
        start[t.name], finish[t.name] = st, fin
        lat = np.maximum(lat, fin)
    busy: dict[str, float] = {}
    for u, d in place.items():
        busy[d] = busy.get(d, 0.0) + pb.unit_busy(u, d)
    cost = sum(b * pb.fleet.device(d).cost_per_hour / 3600.0 for d, b in busy.items())
    sel = lat if only is None else lat[only]
    ev = Evaluation(lat, quantile(sel, pb.percentile), cost, busy)
    if keep_times:
        ev.start, ev.finish = start, finish
    return ev


def critical_path(pb: Problem, place: dict[str, str], ev: Evaluation, scenario: int) -> list[str]:
    """The ops on the longest path of one scenario, first to last."""
    s = scenario
    last = max((t for t in pb.tasks if pb.exec[t][s]), key=lambda t: ev.finish[t][s])
    path = [last]
    preds = pb.preds
    while True:
        t = path[-1]
        best, when = None, -1.0
        for e in preds[t]:
            if not pb.exec[e.src][s]:
                continue
            arrive = ev.finish[e.src][s] + float(
                pb.comm(e.bytes[s], place[pb.tasks[e.src].unit], place[pb.tasks[t].unit])
            )
            if arrive > when:
                best, when = e.src, arrive
        if best is None:
            break
        path.append(best)
    return path[::-1]
