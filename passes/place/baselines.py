"""The baselines every placement is compared with.

- `single_device`: everything on one device, in topological order (no transfers at all);
  the best such device. At high communication-to-computation ratios this beats HEFT.
- `greedy`: each task in topological order (no priorities, no insertion) to the device
  where it finishes earliest, or (objective "cost") to its cheapest device, ties to the
  earliest finish.
"""

from __future__ import annotations

import math

from hetc.diagnostics import HetcError
from hetc.passes.place.heft import list_schedule
from hetc.passes.place.taskgraph import EPS, Placement, Schedule, TaskGraph, total_cost


def single_device_schedules(graph: TaskGraph) -> dict[str, Schedule]:
    """device -> the schedule with every task on it, for each device that can run every
    task and hold all their memory."""
    out = {}
    for d in graph.devices:
        if any(d not in graph.cost[t] for t in graph.cost):
            continue
        if graph.uses_memory and sum(graph.memory.values()) > graph.capacity.get(d, math.inf) + EPS:
            continue
        tasks, now = {}, 0.0
        for t in graph.topological_order:
            w = graph.cost[t][d]
            tasks[t] = Placement(d, now, now + w)
            now += w
        out[d] = Schedule(tasks, "single", "HEURISTIC", cost=total_cost(graph, tasks), notes=[f"all tasks on {d}"])
    return out


def single_device(graph: TaskGraph, objective: str = "makespan", sla: float | None = None) -> Schedule:
    """The best single-device schedule: least makespan, or (objective "cost") least cost
    among those that meet the SLA."""
    options = single_device_schedules(graph)
    if not options:
        why = []
        for d in graph.devices:
            missing = [t for t in graph.cost if d not in graph.cost[t]]
            if missing:
                why.append(f"{d} cannot run task '{missing[0]}'")
            else:
                why.append(f"{d} cannot hold all tasks' memory")
        raise HetcError("no single device can run every task: " + "; ".join(why),
                        hint="use --scheduler heft, greedy or ilp")  # fmt: skip
    if objective == "cost":
        ok = [s for s in options.values() if sla is None or s.makespan <= sla + EPS]
        if not ok:
            best = min(options.values(), key=lambda s: s.makespan)
            raise HetcError(
                f"no single device meets the SLA {sla:g}: the fastest, {best.tasks and best.by_device().popitem()[0]}, "
                f"takes {best.makespan:g}"
            )
        return min(ok, key=lambda s: (s.cost if s.cost is not None else s.makespan, s.makespan))
    return min(options.values(), key=lambda s: s.makespan)


def greedy(graph: TaskGraph, objective: str = "makespan") -> Schedule:
    """Topological order, each task to its earliest-finish (or cheapest) device."""
    tasks = list_schedule(
        graph, graph.topological_order, insertion=False, choose="cost" if objective == "cost" else "eft"
    )
    note = "cheapest device per task" if objective == "cost" else "earliest-finish device per task"
    return Schedule(tasks, "greedy", "HEURISTIC", cost=total_cost(graph, tasks), notes=[note])
