"""An independent check of a schedule against its task graph.

Written apart from the schedulers (it reads only the graph's raw fields and the schedule's
per-task device/start/end, and shares no helper with them), so a bug in a scheduler's
bookkeeping cannot hide itself. Every schedule in the tests and the benchmarks goes
through `violations`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hetc.passes.place.taskgraph import Schedule, TaskGraph

TOL = 1e-6


def _placements(schedule: Schedule | Mapping[str, Any]) -> dict[str, tuple[str, float, float]]:
    tasks = schedule.tasks if isinstance(schedule, Schedule) else schedule
    out = {}
    for t, p in tasks.items():
        if isinstance(p, Mapping):
            out[t] = (p["device"], float(p["start"]), float(p["end"]))
        else:
            out[t] = (p.device, float(p.start), float(p.end))
    return out


def violations(
    graph: TaskGraph,
    schedule: Schedule | Mapping[str, Any],
    *,
    sla: float | None = None,
    makespan: float | None = None,
    tol: float = TOL,
) -> list[str]:
    """Everything wrong with `schedule` (a Schedule, or {task: {"device", "start", "end"}}
    as in the JSON result), as readable lines; empty when it is valid. Checks: every task
    scheduled once, on a known device that can run it, for exactly its run time there,
    not before time 0; every edge's destination starts after its source ends plus the
    transfer time when they are on different devices; no two tasks overlap on a device;
    memory fits each device's capacity; the makespan (if given) is the last end, and
    meets the SLA (if given)."""
    out: list[str] = []
    sched = _placements(schedule)
    devices = set(graph.devices)
    for t in graph.cost:
        if t not in sched:
            out.append(f"task {t} is not scheduled")
    for t, (d, s, e) in sched.items():
        if t not in graph.cost:
            out.append(f"unknown task {t} is scheduled")
            continue
        if d not in devices:
            out.append(f"task {t} is on unknown device {d}")
            continue
        if d not in graph.cost[t]:
            out.append(f"task {t} is on device {d}, which cannot run it")
            continue
        if s < -tol:
            out.append(f"task {t} starts at {s} < 0")
        if abs((e - s) - graph.cost[t][d]) > tol * max(1.0, abs(e)):
            out.append(f"task {t} on {d} runs {e - s}, but its run time there is {graph.cost[t][d]}")
    for edge in graph.edges:
        if edge.src not in sched or edge.dst not in sched:
            continue
        ds, _, es = sched[edge.src]
        dd, sd, _ = sched[edge.dst]
        delay = 0.0 if ds == dd else edge.comm
        if sd + tol * max(1.0, abs(sd)) < es + delay:
            out.append(
                f"edge {edge.src} -> {edge.dst}: {edge.dst} starts at {sd} but {edge.src} ends at {es}"
                + (f" and the transfer {ds} -> {dd} takes {edge.comm}" if delay else "")
            )
    per_device: dict[str, list[tuple[float, float, str]]] = {}
    for t, (d, s, e) in sched.items():
        per_device.setdefault(d, []).append((s, e, t))
    for d, items in per_device.items():
        items.sort()
        reach: tuple[float, float, str] | None = None  # the task reaching furthest so far
        for s2, e2, t2 in items:
            if e2 <= s2:  # zero-length tasks occupy no time
                continue
            if reach is not None and s2 + tol * max(1.0, abs(s2)) < reach[1]:
                s1, e1, t1 = reach
                out.append(f"tasks {t1} [{s1}, {e1}) and {t2} [{s2}, {e2}) overlap on {d}")
            if reach is None or e2 > reach[1]:
                reach = (s2, e2, t2)
        if graph.capacity and graph.memory and d in graph.capacity:
            used = sum(graph.memory.get(t, 0.0) for _, _, t in items)
            if used > graph.capacity[d] + tol:
                out.append(f"device {d} holds memory {used} > its capacity {graph.capacity[d]}")
    last = max((e for _, _, e in sched.values()), default=0.0)
    if makespan is not None and abs(makespan - last) > tol * max(1.0, last):
        out.append(f"makespan is reported as {makespan} but the last task ends at {last}")
    if sla is not None and last > sla + tol * max(1.0, sla):
        out.append(f"makespan {last} misses the SLA {sla}")
    return out


def assert_valid(graph: TaskGraph, schedule: Schedule | Mapping[str, Any], **kw: Any) -> None:
    """Raise AssertionError listing the violations, if any."""
    bad = violations(graph, schedule, **kw)
    if bad:
        raise AssertionError("invalid schedule:\n  " + "\n  ".join(bad[:20]))
