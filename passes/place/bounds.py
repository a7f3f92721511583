"""Lower bounds on the makespan, used to prune the CP-SAT model and to report gaps.

`device_bounds` gives, for every task and every device it may run on, a lower bound on its
start (head) and on the time from its end to the makespan (tail), paying transfers for
neighbours on other devices and serialising the neighbours that share its device.
`lower_bound` combines them with the critical path and the work per device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hetc.passes.place.taskgraph import EPS, TaskGraph


def _single_machine_end(jobs: list[tuple[float, float]]) -> float:
    """Least end of running `jobs` (release, duration) one after another on one device:
    max over k of (k-th smallest release + the durations released no earlier)."""
    best, acc = 0.0, 0.0
    for r, w in sorted(jobs, reverse=True):
        acc += w
        best = max(best, r + acc)
    return best


def _side_bound(
    graph: TaskGraph,
    order: Sequence[str],
    near: dict[str, list[tuple[str, float]]],
    allowed: dict[str, list[str]],
) -> dict[str, dict[str, float]]:
    """One direction of `device_bounds` (heads along `order` over predecessors `near`)."""
    out: dict[str, dict[str, float]] = {}
    for j in order:
        out[j] = {}
        for d in allowed[j]:
            local: list[tuple[float, float, float]] = []  # (remote, release on d, duration on d)
            remote_only = 0.0
            for i, comm in near[j]:
                h = out[i]
                far = min((h[e] + graph.cost[i][e] + comm for e in h if e != d), default=math.inf)
                if d in h:
                    local.append((far, h[d], graph.cost[i][d]))
                else:
                    remote_only = max(remote_only, far)
            # the neighbours on d run one after another on d; the others pay the transfer:
            # try every split "the k farthest (by transfer) stay on d"
            local.sort(key=lambda v: -v[0])
            best = max(remote_only, local[0][0]) if local else remote_only
            for k in range(1, len(local) + 1):
                rest = local[k][0] if k < len(local) else 0.0
                on_d = _single_machine_end([(r, w) for _, r, w in local[:k]])
                best = min(best, max(remote_only, rest, on_d))
            out[j][d] = best
    return out


def device_bounds(
    graph: TaskGraph, upper: float = math.inf
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], dict[str, list[str]]]:
    """head[t][d]: a lower bound on t's start if t runs on d; tail[t][d]: on the time from
    t's end to the makespan; allowed[t]: t's devices where head + cost + tail <= `upper`.
    Both pay a transfer for every neighbour on another device and run the neighbours that
    share d one after another (so a fan-in cannot both dodge transfers and run in
    parallel). Devices ruled out by `upper` are dropped and the bounds recomputed until
    nothing changes (a task left with no device means nothing beats `upper`)."""
    allowed = {t: graph.can_run(t) for t in graph.cost}
    topo = graph.topological_order
    while True:
        head = _side_bound(graph, topo, graph.preds, allowed)
        tail = _side_bound(graph, list(reversed(topo)), graph.succs, allowed)
        changed = False
        for t in graph.cost:
            keep = [d for d in allowed[t] if head[t][d] + graph.cost[t][d] + tail[t][d] <= upper + EPS]
            if len(keep) < len(allowed[t]):
                allowed[t], changed = keep, True
        if not changed or any(not v for v in allowed.values()):
            return head, tail, allowed


def lower_bound(graph: TaskGraph) -> float:
    """A valid lower bound on any schedule's makespan: the best of the critical path at
    the cheapest run times, the cheapest total work spread over all devices, and per task
    the least head + run time + tail over its devices (`device_bounds`)."""
    head, tail, allowed = device_bounds(graph)
    per_task = max(min(head[t][d] + graph.cost[t][d] + tail[t][d] for d in allowed[t]) for t in graph.cost)
    return max(graph.makespan_lower_bound(), per_task)
