"""Task graphs and schedules: the data every scheduler in `hetc.passes.place` reads and writes.

A `TaskGraph` is a DAG of tasks on a set of devices. Each task has a run time on every
device that can run it (a task omits the devices it cannot run on); each edge has a
transfer time `comm`, paid only when its two ends run on different devices. Optional:
per-task `memory` and per-device `capacity` (the memory of the tasks placed on a device
must fit its capacity: think weights resident on an accelerator), and per-device
`cost_rate` (cost, or power, per unit of run time: the `cost` objective minimises the sum
of run time x rate under a makespan SLA).

The JSON form (`load_dag_json`)::

    {"devices": ["p0", "p1"],
     "tasks": {"t1": {"cost": {"p0": 14, "p1": 16}, "memory": 2}, "t2": {"cost": {"p1": 9}}},
     "edges": [{"src": "t1", "dst": "t2", "comm": 18}],
     "capacity": {"p0": 4}, "cost_rate": {"p0": 1.0, "p1": 3.5}}

A `Schedule` is the answer: a device, start and end per task, the makespan, whether it is
proven optimal and the gap to the best lower bound known. `timetable` turns a placement
and a per-device order into the earliest times that respect precedence and transfers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hetc.diagnostics import HetcError

EPS = 1e-9


@dataclass(frozen=True)
class Edge:
    """`dst` needs `src`'s output; moving it between two devices takes `comm`."""

    src: str
    dst: str
    comm: float = 0.0


@dataclass
class TaskGraph:
    """A DAG of tasks on devices. `cost[task][device]` is the task's run time on a device
    that can run it; a device missing from `cost[task]` cannot run that task. Task order is
    the order of `cost` (it breaks ties everywhere, so results are reproducible)."""

    devices: list[str]
    cost: dict[str, dict[str, float]]
    edges: list[Edge] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)  # task -> memory it needs on its device
    capacity: dict[str, float] = field(default_factory=dict)  # device -> memory capacity
    cost_rate: dict[str, float] = field(default_factory=dict)  # device -> cost per unit of run time
    name: str = ""

    # ---- structure (computed once; build a new graph rather than mutate one) ----

    @property
    def tasks(self) -> list[str]:
        return list(self.cost)

    def can_run(self, task: str) -> list[str]:
        """The devices that can run `task`, in device order."""
        c = self.cost[task]
        return [d for d in self.devices if d in c]

    @cached_property
    def preds(self) -> dict[str, list[tuple[str, float]]]:
        """task -> [(predecessor, comm)]"""
        out: dict[str, list[tuple[str, float]]] = {t: [] for t in self.cost}
        for e in self.edges:
            out[e.dst].append((e.src, e.comm))
        return out

    @cached_property
    def succs(self) -> dict[str, list[tuple[str, float]]]:
        """task -> [(successor, comm)]"""
        out: dict[str, list[tuple[str, float]]] = {t: [] for t in self.cost}
        for e in self.edges:
            out[e.src].append((e.dst, e.comm))
        return out

    @cached_property
    def topological_order(self) -> list[str]:
        """Kahn's order; among ready tasks the earliest in task order goes first."""
        import heapq

        index = {t: i for i, t in enumerate(self.cost)}
        indeg = {t: len(p) for t, p in self.preds.items()}
        ready = [index[t] for t, d in indeg.items() if d == 0]
        heapq.heapify(ready)
        names = self.tasks
        order = []
        while ready:
            t = names[heapq.heappop(ready)]
            order.append(t)
            for s, _ in self.succs[t]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    heapq.heappush(ready, index[s])
        if len(order) != len(names):
            raise HetcError(f"the task graph has a cycle: {' -> '.join(self._find_cycle())}")
        return order

    def _find_cycle(self) -> list[str]:
        import networkx as nx

        g = nx.DiGraph()
        g.add_edges_from((e.src, e.dst) for e in self.edges)
        cycle = nx.find_cycle(g)
        return [u for u, _ in cycle] + [cycle[0][0]]

    def min_cost(self, task: str) -> float:
        return min(self.cost[task].values())

    def run_cost(self, task: str, device: str) -> float:
        """The cost objective's price of running `task` on `device` (run time x rate; rate 1 if unset)."""
        return self.cost[task][device] * self.cost_rate.get(device, 1.0)

    @cached_property
    def head(self) -> dict[str, float]:
        """Earliest possible start of each task: longest path from a source, with every
        task at its cheapest run time and no transfers (a lower bound)."""
        out: dict[str, float] = {}
        for t in self.topological_order:
            out[t] = max((out[p] + self.min_cost(p) for p, _ in self.preds[t]), default=0.0)
        return out

    @cached_property
    def tail(self) -> dict[str, float]:
        """Least time that must follow a task's end: longest path through its successors at
        their cheapest run times, no transfers (a lower bound)."""
        out: dict[str, float] = {}
        for t in reversed(self.topological_order):
            out[t] = max((self.min_cost(s) + out[s] for s, _ in self.succs[t]), default=0.0)
        return out

    def makespan_lower_bound(self) -> float:
        """max(critical path at cheapest run times, total cheapest work / number of devices,
        per task: head + cheapest run time + tail). Cheap and always valid."""
        cp = max((self.head[t] + self.min_cost(t) + self.tail[t] for t in self.cost), default=0.0)
        work = sum(self.min_cost(t) for t in self.cost) / max(1, len(self.devices))
        return max(cp, work)

    @property
    def uses_memory(self) -> bool:
        return bool(self.capacity) and bool(self.memory)

    # ---- validation and I/O ----

    def validate(self, file: str | None = None) -> TaskGraph:
        """Raise a HetcError naming the task, device, edge or constraint that is wrong."""

        def fail(reason: str, hint: str | None = None) -> HetcError:
            return HetcError(reason, file=file, hint=hint)

        if not self.devices:
            raise fail("no devices: 'devices' must list at least one device name")
        if len(set(self.devices)) != len(self.devices):
            dup = next(d for d in self.devices if self.devices.count(d) > 1)
            raise fail(f"device '{dup}' is listed twice in 'devices'")
        known = set(self.devices)
        listed = ", ".join(self.devices)
        if not self.cost:
            raise fail("no tasks: 'tasks' is empty")
        for t, c in self.cost.items():
            for d, v in c.items():
                if d not in known:
                    raise fail(f"task '{t}' has a cost on unknown device '{d}' (devices: {listed})")
                if not _finite_nonneg(v):
                    raise fail(f"task '{t}' has cost {v!r} on device '{d}': costs must be non-negative numbers")
            if not c:
                raise fail(
                    f"task '{t}' cannot run on any device: its 'cost' lists none of {listed}",
                    hint="give the task a run time on at least one device",
                )
        for t, v in self.memory.items():
            if t not in self.cost:
                raise fail(f"memory given for unknown task '{t}'")
            if not _finite_nonneg(v):
                raise fail(f"task '{t}' has memory {v!r}: must be a non-negative number")
        for name, table in (("capacity", self.capacity), ("cost_rate", self.cost_rate)):
            for d, v in table.items():
                if d not in known:
                    raise fail(f"'{name}' names unknown device '{d}' (devices: {listed})")
                if not _finite_nonneg(v):
                    raise fail(f"device '{d}' has {name} {v!r}: must be a non-negative number")
        seen: set[tuple[str, str]] = set()
        for k, e in enumerate(self.edges):
            for end in (e.src, e.dst):
                if end not in self.cost:
                    raise fail(f"edge {k} ({e.src} -> {e.dst}) names unknown task '{end}'")
            if e.src == e.dst:
                raise fail(f"edge {k} is a self-loop on task '{e.src}': the task graph has a cycle")
            if not _finite_nonneg(e.comm):
                raise fail(f"edge {e.src} -> {e.dst} has comm {e.comm!r}: must be a non-negative number")
            if (e.src, e.dst) in seen:
                raise fail(f"edge {e.src} -> {e.dst} is given twice", hint="merge the two into one edge")
            seen.add((e.src, e.dst))
        try:
            self.topological_order  # noqa: B018 - raises on a cycle
        except HetcError as err:
            raise err.with_file(file) if file else err
        if self.uses_memory:
            for t, need in self.memory.items():
                fits = [d for d in self.can_run(t) if need <= self.capacity.get(d, math.inf) + EPS]
                if need > 0 and not fits:
                    caps = ", ".join(f"{d}: {self.capacity.get(d, math.inf):g}" for d in self.can_run(t))
                    raise fail(
                        f"task '{t}' needs memory {need:g} but no device that can run it has that much "
                        f"capacity ({caps})"
                    )
            total = sum(self.memory.values())
            cap = sum(self.capacity.get(d, math.inf) for d in self.devices)
            if total > cap + EPS:
                raise fail(f"the tasks need memory {total:g} in all but the devices' capacities add up to {cap:g}")
        return self

    @classmethod
    def from_dict(cls, data: Any, file: str | None = None) -> TaskGraph:
        """Build and validate a graph from the JSON form (see the module docstring)."""

        def fail(reason: str) -> HetcError:
            return HetcError(reason, file=file, hint="expected {\"devices\": [...], \"tasks\": {name: {\"cost\": "
                             "{device: time}}}, \"edges\": [{\"src\": a, \"dst\": b, \"comm\": time}]}")

        if not isinstance(data, Mapping):
            raise fail("a task graph must be a JSON object")
        _no_unknown_keys(data, {"devices", "tasks", "edges", "capacity", "cost_rate", "name"}, "the task graph", file)
        devices = data.get("devices")
        if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
            raise fail("'devices' must be a list of device names")
        tasks = data.get("tasks")
        if not isinstance(tasks, Mapping):
            raise fail("'tasks' must be an object mapping task names to {\"cost\": {device: time}}")
        cost: dict[str, dict[str, float]] = {}
        memory: dict[str, float] = {}
        for t, spec in tasks.items():
            if isinstance(spec, Mapping):
                _no_unknown_keys(spec, {"cost", "memory"}, f"task '{t}'", file)
            if not isinstance(spec, Mapping) or not isinstance(spec.get("cost"), Mapping):
                raise fail(f"task '{t}' must be an object with a 'cost' object mapping devices to run times")
            cost[str(t)] = {str(d): _number(v, f"task '{t}' cost on '{d}'", file) for d, v in spec["cost"].items()}
            if "memory" in spec:
                memory[str(t)] = _number(spec["memory"], f"task '{t}' memory", file)
        edges_in = data.get("edges", [])
        if not isinstance(edges_in, list):
            raise fail("'edges' must be a list of {\"src\": task, \"dst\": task, \"comm\": time}")
        edges = []
        for k, e in enumerate(edges_in):
            if not isinstance(e, Mapping) or "src" not in e or "dst" not in e:
                raise fail(f"edge {k} must be an object with 'src' and 'dst' (and 'comm')")
            _no_unknown_keys(e, {"src", "dst", "comm"}, f"edge {k}", file)
            edges.append(Edge(str(e["src"]), str(e["dst"]), _number(e.get("comm", 0), f"edge {k} comm", file)))
        tables = {}
        for key in ("capacity", "cost_rate"):
            table = data.get(key, {})
            if not isinstance(table, Mapping):
                raise fail(f"'{key}' must be an object mapping device names to numbers")
            tables[key] = {str(d): _number(v, f"{key} of '{d}'", file) for d, v in table.items()}
        g = cls(list(devices), cost, edges, memory, tables["capacity"], tables["cost_rate"], str(data.get("name", "")))
        return g.validate(file)

    def to_dict(self) -> dict[str, Any]:
        tasks: dict[str, Any] = {}
        for t, c in self.cost.items():
            tasks[t] = {"cost": dict(c)}
            if t in self.memory:
                tasks[t]["memory"] = self.memory[t]
        out: dict[str, Any] = {"devices": list(self.devices), "tasks": tasks}
        out["edges"] = [{"src": e.src, "dst": e.dst, "comm": e.comm} for e in self.edges]
        if self.capacity:
            out["capacity"] = dict(self.capacity)
        if self.cost_rate:
            out["cost_rate"] = dict(self.cost_rate)
        if self.name:
            out["name"] = self.name
        return out

    def scaled(self, factor: float, rounding=math.ceil) -> TaskGraph:
        """The same graph with every time (costs and comms) multiplied by `factor` and rounded."""
        return TaskGraph(
            list(self.devices),
            {t: {d: int(rounding(v * factor - EPS)) for d, v in c.items()} for t, c in self.cost.items()},
            [Edge(e.src, e.dst, int(rounding(e.comm * factor - EPS))) for e in self.edges],
            dict(self.memory), dict(self.capacity), dict(self.cost_rate), self.name,
        )  # fmt: skip


def load_dag_json(path: str | Path) -> TaskGraph:
    """Read and validate a task graph from a JSON file; errors name the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise HetcError("no such file", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HetcError(f"cannot read the task graph: {exc}", file=str(path)) from None
    except json.JSONDecodeError as exc:
        raise HetcError(f"not valid JSON: {exc}", file=str(path)) from None
    g = TaskGraph.from_dict(data, file=str(path))
    if not g.name:
        g.name = path.stem
    return g


def _finite_nonneg(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _number(v: Any, what: str, file: str | None) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise HetcError(f"{what} is {v!r}: expected a number", file=file)
    return v


def _no_unknown_keys(obj: Mapping, allowed: set[str], where: str, file: str | None) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise HetcError(
            f"{where} has unknown key '{extra[0]}' (expected: {', '.join(sorted(allowed))})", file=file
        )


# ---------------------------------------------------------------------------- schedules


@dataclass(frozen=True)
class Placement:
    device: str
    start: float
    end: float


@dataclass
class Schedule:
    """Where and when every task runs.

    `optimal` is True only when the makespan (or, under the cost objective, the cost) is
    proven optimal; `gap` is (value - best lower bound) / value; `status` is "OPTIMAL",
    "FEASIBLE" (a solver stopped at its time limit with this schedule), "HEURISTIC" (a list
    scheduler's answer), or "timeout, HEFT fallback" (the solver found nothing better in
    time). `notes` say what happened on the way (warm starts, decomposition, scaling)."""

    tasks: dict[str, Placement]
    scheduler: str
    status: str
    optimal: bool = False
    gap: float | None = None
    lower_bound: float | None = None
    objective: str = "makespan"
    cost: float | None = None  # sum of run time x cost rate, when the graph has cost rates
    solve_time: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def makespan(self) -> float:
        return max((p.end for p in self.tasks.values()), default=0.0)

    def device_of(self, task: str) -> str:
        return self.tasks[task].device

    def by_device(self) -> dict[str, list[str]]:
        """device -> its tasks in start order (devices with no task are left out)."""
        out: dict[str, list[str]] = {}
        for t, p in sorted(self.tasks.items(), key=lambda kv: (kv[1].start, kv[1].end)):
            out.setdefault(p.device, []).append(t)
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "makespan": _num(self.makespan),
            "optimal": self.optimal,
            "gap": None if self.gap is None else round(self.gap, 6),
            "lower_bound": None if self.lower_bound is None else _num(self.lower_bound),
            "scheduler": self.scheduler,
            "status": self.status,
            "objective": self.objective,
        }
        if self.cost is not None:
            out["cost"] = _num(self.cost)
        out["solve_time"] = round(self.solve_time, 3)
        out["notes"] = list(self.notes)
        out["tasks"] = {
            t: {"device": p.device, "start": _num(p.start), "end": _num(p.end)} for t, p in self.tasks.items()
        }
        return out

    def table(self, graph: TaskGraph | None = None) -> str:
        """A readable table, tasks by start time, then the makespan line."""
        rows = [("task", "device", "start", "end")]
        for t, p in sorted(self.tasks.items(), key=lambda kv: (kv[1].start, kv[1].device)):
            rows.append((t, p.device, f"{_num(p.start)}", f"{_num(p.end)}"))
        widths = [max(len(r[c]) for r in rows) for c in range(4)]
        lines = [
            "  ".join(v.ljust(w) if c < 2 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths))) for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines) + "\n" + self.summary()

    def summary(self) -> str:
        text = f"makespan {_num(self.makespan)}"
        if self.cost is not None:
            text += f", cost {_num(self.cost)}"
        text += f" ({self.scheduler}: {self.status}"
        if self.optimal:
            text += ", proven optimal"
        elif self.gap is not None:
            text += f", gap {100 * self.gap:.1f}% to lower bound {_num(self.lower_bound or 0.0)}"
        return text + ")"


def _num(v: float) -> float | int:
    """Integers print as integers; other values keep 6 decimals."""
    r = round(v)
    return int(r) if abs(v - r) < 1e-9 else round(v, 6)


def timetable(
    graph: TaskGraph, device: Mapping[str, str], order: Mapping[str, Iterable[str]] | None = None
) -> dict[str, Placement]:
    """Earliest start times for a fixed placement: each task starts once its inputs have
    arrived (predecessor end + comm if on another device) and the task before it on its
    device (in `order`, device -> tasks; default: by topological order) has ended."""
    if order is None:
        per: dict[str, list[str]] = {}
        for t in graph.topological_order:
            per.setdefault(device[t], []).append(t)
        order = per
    prev: dict[str, str] = {}
    for seq in order.values():
        seq = list(seq)
        for a, b in zip(seq, seq[1:]):
            prev[b] = a
    # a topological order of DAG edges + device-chain edges
    indeg = {t: len(graph.preds[t]) + (t in prev) for t in graph.cost}
    nxt = {a: b for b, a in prev.items()}
    ready = [t for t in graph.topological_order if indeg[t] == 0]
    out: dict[str, Placement] = {}
    while ready:
        t = ready.pop()
        d = device[t]
        start = out[prev[t]].end if t in prev else 0.0
        for p, c in graph.preds[t]:
            start = max(start, out[p].end + (c if device[p] != d else 0.0))
        out[t] = Placement(d, start, start + graph.cost[t][d])
        for s in [s for s, _ in graph.succs[t]] + ([nxt[t]] if t in nxt else []):
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if len(out) != len(graph.cost):
        raise ValueError("timetable: the device orders contradict the task graph's precedence")
    return out


def total_cost(graph: TaskGraph, tasks: Mapping[str, Placement]) -> float | None:
    """Sum of run time x cost rate, or None when the graph gives no cost rates."""
    if not graph.cost_rate:
        return None
    return sum(graph.run_cost(t, p.device) for t, p in tasks.items())
