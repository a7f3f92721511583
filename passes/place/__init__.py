"""Placement and scheduling of task graphs on heterogeneous devices.

    from hetc.passes.place import load_dag_json, schedule, violations
    g = load_dag_json("examples/dag_topcuoglu.json")
    s = schedule(g, "ilp", time_limit=10)       # or "heft", "greedy", "single"
    s.makespan, s.optimal, s.gap, s.status      # 73, True, 0.0, "OPTIMAL"
    s.tasks["n1"].device, s.tasks["n1"].start   # "p3", 0
    assert not violations(g, s)                 # the independent checker

Build a `TaskGraph` directly (devices, per-task run time per device, edges with transfer
times, optional memory/capacity/cost rates) to place anything that is not a JSON file:

    g = TaskGraph(["cpu", "gpu"], {"a": {"cpu": 5, "gpu": 1}, "b": {"cpu": 3}}, [Edge("a", "b", 2)])

Schedulers:
- "heft": HEFT as published (upward rank, insertion-based earliest finish time);
- "ilp": CP-SAT over placement and order, warm-started from the best of HEFT, the single
  devices and greedy, with a time limit and a fixed seed, proven optimal or with its gap;
- "greedy": topological order, each task to its earliest-finish (objective "cost":
  cheapest) device;
- "single": everything on the best single device.

Objectives: "makespan", or "cost" (sum of run time x the device's cost_rate) under a
makespan SLA. Errors in the input or infeasible SLAs/capacities raise
`hetc.diagnostics.HetcError` naming the task or constraint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hetc.diagnostics import HetcError
from hetc.passes.place.baselines import greedy, single_device
from hetc.passes.place.bounds import lower_bound
from hetc.passes.place.check import assert_valid, violations
from hetc.passes.place.cpsat import cpsat_schedule
from hetc.passes.place.heft import heft, upward_ranks
from hetc.passes.place.taskgraph import Edge, Placement, Schedule, TaskGraph, load_dag_json, timetable

SCHEDULERS = ("heft", "ilp", "greedy", "single")
OBJECTIVES = ("makespan", "cost")

__all__ = [
    "lower_bound", "SCHEDULERS", "OBJECTIVES", "Edge", "Placement", "Schedule", "TaskGraph", "assert_valid", "greedy",
    "heft", "load_dag_json", "schedule", "single_device", "timetable", "upward_ranks", "violations",
]  # fmt: skip


def schedule(
    graph: TaskGraph,
    scheduler: str = "ilp",
    time_limit: float = 10.0,
    seed: int = 0,
    objective: str = "makespan",
    sla: float | None = None,
    *,
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
) -> Schedule:
    """Place and schedule every task of `graph` (validated first).

    `time_limit` (seconds) and `seed` and `workers` (CP-SAT threads) concern "ilp" only.
    `objective="cost"` needs cost rates in the graph (a device without one costs 1 per
    unit of time) and minimises total cost subject to makespan <= `sla` (if given). The
    heuristics ignore the objective except greedy (cheapest device) and single (cheapest
    device that meets the SLA); any scheduler whose schedule misses a given SLA raises."""
    if scheduler not in SCHEDULERS:
        raise HetcError(f"unknown scheduler '{scheduler}' (choose from {', '.join(SCHEDULERS)})")
    if objective not in OBJECTIVES:
        raise HetcError(f"unknown objective '{objective}' (choose from {', '.join(OBJECTIVES)})")
    if sla is not None and not sla > 0:
        raise HetcError(f"the SLA must be a positive makespan, not {sla!r}")
    if time_limit is None or not time_limit > 0:
        raise HetcError(f"the time limit must be positive, not {time_limit!r}")
    graph.validate()
    t0 = time.perf_counter()
    if scheduler == "ilp":
        s = cpsat_schedule(
            graph, time_limit=time_limit, seed=seed, objective=objective, sla=sla, workers=workers,
            progress=progress,
        )  # fmt: skip
        return _checked(graph, s, sla)
    if scheduler == "heft":
        s = heft(graph)
    elif scheduler == "greedy":
        s = greedy(graph, objective)
    else:
        s = single_device(graph, objective, sla)
    s.objective = objective
    s.solve_time = time.perf_counter() - t0
    lb = lower_bound(graph)
    if objective == "makespan":
        s.lower_bound = lb
        s.gap = (s.makespan - lb) / s.makespan if s.makespan else 0.0
        s.optimal = s.gap <= 1e-12
    if sla is not None and s.makespan > sla * (1 + 1e-9):
        raise HetcError(
            f"the {scheduler} schedule takes {s.makespan:g}, which misses the SLA {sla:g}",
            hint="try --scheduler ilp, or raise --sla",
        )
    return _checked(graph, s, sla)


def _checked(graph: TaskGraph, s: Schedule, sla: float | None) -> Schedule:
    """Every schedule handed out passes the independent checker (a failure is a bug here)."""
    bad = violations(graph, s, sla=sla)
    if bad:
        raise RuntimeError(f"{s.scheduler} produced an invalid schedule: " + "; ".join(bad[:5]))
    return s
