"""Placing a model's ops on devices: task graph from the cost model, schedule, report, `hw.place`.

    hetc place examples/cnn.onnx --devices cpu,h100 --scheduler ilp --report out/report.html
    hetc-opt examples/cnn.onnx -p 'hetc-place{devices=cpu,h100 scheduler=heft}'

`build_task_graph` turns the `onnx`-dialect ops of a module (after the graph pipeline)
into a `hetc.passes.place.TaskGraph`:

- one task per op (constants are not tasks: weights are resident on every device), with
  its run time on every device that can run it from `hetc.backends.cost_model.estimate`
  (devices that cannot run the op type, its class or its dtype get no cost);
- one task per graph input and output, pinned to the host (the tensors start and end in
  host memory, so moving them to an accelerator is paid for);
- one edge per producer/consumer pair, its transfer time = the tensors' bytes over the
  catalog's route between the two devices (`transfer`). A TaskGraph edge carries one
  transfer time for every pair of devices; with more than two devices it is the slowest
  route among the pairs the two tasks can be on (so the schedule stays feasible for the
  real routes; the report lists each transfer's real route and time);
- per task the bytes of its weights as memory, per device its main memory as capacity
  (only when some device could not hold all weights), and the devices' $/hour as cost rates.

Times in the task graph are microseconds (`TIME_UNIT`); reports give seconds.

`place_model` schedules it (`hetc.passes.place.schedule`) and computes the baselines
(HEFT, every single device with inputs/outputs still on the host); `report` turns the
result into the JSON of `hetc place --report` (`hetc.passes.place_report` renders the
HTML); `annotate` writes `#hw.place<device, start, end>` on every placed op and
`#hw.target` on the module, which is what the pass `hetc-place` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass

from hetc.backends import cost_model as cm
from hetc.diagnostics import HetcError

TIME_UNIT = "us"
_US = 1e6  # task-graph units per second
INPUT_PREFIX = "input:"
OUTPUT_PREFIX = "output:"


@dataclass
class TaskInfo:
    """What a task is: an op (with its counts and per-device estimates) or a graph input/output."""

    name: str
    kind: str  # "op", "input" or "output"
    op_type: str = ""
    node: str = ""
    op_class: str = ""
    dtype: str = ""
    flops: float = 0.0
    bytes: float = 0.0
    weight_bytes: float = 0.0
    #: device -> estimate (only devices that can run it)
    estimates: dict[str, cm.Estimate] = field(default_factory=dict)
    #: device -> why it cannot run the op
    unsupported: dict[str, str] = field(default_factory=dict)
    op: Any = None


@dataclass
class EdgeInfo:
    src: str
    dst: str
    bytes: float
    tensors: list[str]


@dataclass
class ModelGraph:
    graph: Any  # hetc.passes.place.TaskGraph
    tasks: dict[str, TaskInfo]
    edges: dict[tuple[str, str], EdgeInfo]
    devices: list[str]
    catalog: Any  # hetc.backends.devices.Catalog
    host: str

    def transfer(self, edge: EdgeInfo, a: str, b: str) -> cm.Estimate:
        """The real transfer of an edge's tensors from device `a` to device `b`."""
        return cm.transfer_between(edge.bytes, a, b, self.catalog)


@dataclass
class PlacementResult:
    model: ModelGraph
    schedule: Any  # hetc.passes.place.Schedule
    #: name ("heft", "single:cpu", ...) -> Schedule, or the reason it does not exist
    baselines: dict[str, Any]
    scheduler: str
    objective: str = "makespan"


# ---------------------------------------------------------------------------- building


def _value_name(v: Any) -> str:
    return getattr(v, "name_hint", None) or ""


def _main(module: ModuleOp):
    from xdsl.dialects import func

    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == "main":
            return op
    raise HetcError("the module has no @main function to place")


def _task_names(ops: Sequence[Any]) -> list[str]:
    """Unique, readable task names: the ONNX node name; ops decomposed from one node get
    `node/OpType`, and a count where that is still ambiguous; unnamed ops `OpType@index`."""
    base = [op.node_name or "" for op in ops]
    counts: dict[str, int] = {}
    for b in base:
        counts[b] = counts.get(b, 0) + 1
    names = []
    for i, (op, b) in enumerate(zip(ops, base)):
        if not b:
            names.append(f"{op.OP_TYPE}@{i}")
        elif counts[b] == 1:
            names.append(b)
        else:
            names.append(f"{b}/{op.OP_TYPE}")
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    k: dict[str, int] = {}
    out = []
    for n in names:
        if seen[n] > 1:
            k[n] = k.get(n, 0) + 1
            out.append(f"{n}.{k[n]}")
        else:
            out.append(n)
    return out


def build_task_graph(
    module: ModuleOp,
    devices: Sequence[str],
    catalog: Any = None,
    *,
    corrected: bool | None = None,
    name: str = "",
) -> ModelGraph:
    """The task graph of `module`'s @main on `devices` (catalog names or instances
    `h100#0`); see the module docstring."""
    from hetc.backends.devices import load_catalog
    from hetc.frontend.onnx_importer import INPUT_NAMES_ATTR, OUTPUT_NAMES_ATTR
    from hetc.passes.place import Edge, TaskGraph

    catalog = catalog or load_catalog()
    devices = list(devices)
    if not devices:
        raise HetcError("no devices to place on", hint="e.g. --devices cpu,h100")
    for d in devices:
        catalog.device(d)
    host = catalog.host.name
    if host not in devices:
        raise HetcError(
            f"the device list {','.join(devices)} has no host: the model's inputs and outputs live on '{host}'",
            hint=f"add {host}, e.g. --devices {host},{devices[0]}",
        )
    fn = _main(module)
    ops = [op for op in fn.body.block.ops if getattr(op, "OP_TYPE", None) not in (None, "Constant")]
    names = _task_names(ops)
    tasks: dict[str, TaskInfo] = {}
    cost: dict[str, dict[str, float]] = {}
    producer: dict[Any, str] = {}

    in_names = [a.data for a in fn.attributes[INPUT_NAMES_ATTR].data] if INPUT_NAMES_ATTR in fn.attributes else []
    out_names = [a.data for a in fn.attributes[OUTPUT_NAMES_ATTR].data] if OUTPUT_NAMES_ATTR in fn.attributes else []
    for i, arg in enumerate(fn.body.block.args):
        n = INPUT_PREFIX + (in_names[i] if i < len(in_names) else f"arg{i}")
        tasks[n] = TaskInfo(n, "input", bytes=cm._nbytes(arg))
        cost[n] = {host: 0.0}
        producer[arg] = n

    for op, n in zip(ops, names):
        c = cm.op_counts(op)
        info = TaskInfo(
            n, "op", c.op_type, op.node_name, c.op_class, c.dtype, c.flops, c.bytes, c.weight_bytes, op=op
        )  # fmt: skip
        cost[n] = {}
        for d in devices:
            ok, why = cm.supports(c, catalog.device(d), catalog)
            if not ok:
                info.unsupported[d] = why
                continue
            est = cm.estimate(c, catalog.device(d), catalog=catalog, corrected=corrected)
            info.estimates[d] = est
            cost[n][d] = est.time_s * _US
        if not cost[n]:
            raise HetcError(
                f"no device in {','.join(devices)} can run this op: " + "; ".join(info.unsupported.values()),
                node=op.node_name or n, op_type=c.op_type,
                hint=f"add a device that can (the host '{host}' runs everything), e.g. --devices {host},{devices[-1]}",
            )  # fmt: skip
        tasks[n] = info
        for r in op.results:
            producer[r] = n

    # edges: producer -> consumer, the bytes of every tensor between them
    edge_info: dict[tuple[str, str], EdgeInfo] = {}

    def add_edge(src: str, dst: str, v: Any) -> None:
        e = edge_info.get((src, dst))
        if e is None:
            e = edge_info[(src, dst)] = EdgeInfo(src, dst, 0.0, [])
        e.bytes += cm._nbytes(v)
        e.tensors.append(_value_name(v) or "?")

    for op, n in zip(ops, names):
        seen = set()
        for v in op.operands:
            src = producer.get(v)
            if src is None or v in seen:
                continue  # a constant, or an absent optional input
            seen.add(v)
            add_edge(src, n, v)
    ret = fn.body.block.last_op
    for i, v in enumerate(ret.operands if ret is not None else []):
        n = OUTPUT_PREFIX + (out_names[i] if i < len(out_names) else f"out{i}")
        if n in tasks:
            n = f"{n}.{i}"
        tasks[n] = TaskInfo(n, "output", bytes=cm._nbytes(v))
        cost[n] = {host: 0.0}
        src = producer.get(v)
        if src is not None:
            add_edge(src, n, v)

    edges = []
    for (src, dst), e in edge_info.items():
        worst = 0.0
        for a in cost[src]:
            for b in cost[dst]:
                if a != b:
                    worst = max(worst, cm.transfer_between(e.bytes, a, b, catalog).time_s)
        edges.append(Edge(src, dst, worst * _US))

    memory: dict[str, float] = {}
    capacity: dict[str, float] = {}
    total_w = sum(t.weight_bytes for t in tasks.values())
    caps = {d: float(catalog.device(d).capacity) for d in devices}
    if total_w > min(caps.values()):
        memory = {n: t.weight_bytes for n, t in tasks.items() if t.weight_bytes}
        capacity = caps
    rates = {d: catalog.device(d).cost_per_hour / 3600.0 / _US for d in devices}
    graph = TaskGraph(devices, cost, edges, memory, capacity, rates, name or "model")
    graph.validate()
    return ModelGraph(graph, tasks, edge_info, devices, catalog, host)


# ---------------------------------------------------------------------------- scheduling


def single_device_schedule(mg: ModelGraph, device: str):
    """Every op on `device` in topological order, inputs/outputs on the host (their
    transfers paid); None when the device cannot run every op."""
    from hetc.passes.place.heft import list_schedule
    from hetc.passes.place.taskgraph import Schedule, total_cost

    g = mg.graph
    if any(device not in g.cost[t] for t, info in mg.tasks.items() if info.kind == "op"):
        return None
    fixed = {t: (device if info.kind == "op" else mg.host) for t, info in mg.tasks.items()}
    tasks = list_schedule(g, g.topological_order, insertion=False, fixed_device=fixed, respect_capacity=False)
    s = Schedule(tasks, "single", "HEURISTIC", cost=total_cost(g, tasks), notes=[f"all ops on {device}"])
    return s


def _single_reason(mg: ModelGraph, device: str) -> str:
    bad = next(t for t, info in mg.tasks.items() if info.kind == "op" and device not in mg.graph.cost[t])
    return f"cannot run {bad}: {mg.tasks[bad].unsupported.get(device, '')}"


def place_model(
    module: ModuleOp,
    devices: Sequence[str],
    *,
    scheduler: str = "ilp",
    time_limit: float = 10.0,
    seed: int = 0,
    objective: str = "makespan",
    sla: float | None = None,
    catalog: Any = None,
    corrected: bool | None = None,
    baselines: bool = True,
    name: str = "",
    workers: int = 2,
    progress: Callable[[str], None] | None = None,
) -> PlacementResult:
    """Build the task graph, schedule it with `scheduler`, and (with `baselines`) schedule
    it with HEFT and on every single device too. `sla` is in seconds."""
    from hetc.passes.place import SCHEDULERS, schedule

    if scheduler not in SCHEDULERS:
        raise HetcError(f"unknown scheduler '{scheduler}' (choose from {', '.join(SCHEDULERS)})")
    if progress:
        progress(f"task graph on {','.join(devices)}")
    mg = build_task_graph(module, devices, catalog, corrected=corrected, name=name)
    singles = {d: single_device_schedule(mg, d) for d in mg.devices}
    sla_units = sla * _US if sla is not None else None
    if progress:
        progress(f"schedule ({scheduler}, {len(mg.graph.cost)} tasks)")
    if scheduler == "single":
        # the host-pinned inputs/outputs keep the generic single-device scheduler from
        # seeing any device but the host as able to run everything: pick among ours
        ok = {d: s for d, s in singles.items() if s is not None}
        if objective == "cost":
            ok = {d: s for d, s in ok.items() if sla_units is None or s.makespan <= sla_units * (1 + 1e-9)}
            if not ok:
                raise HetcError(f"no single device meets the SLA {sla:g} s", hint="try --scheduler ilp")
        best = min(ok, key=lambda d: (ok[d].cost if objective == "cost" else ok[d].makespan, ok[d].makespan))
        sched = ok[best]
        sched.objective = objective
        lb = mg.graph.makespan_lower_bound()
        sched.lower_bound = lb
        sched.gap = (sched.makespan - lb) / sched.makespan if sched.makespan else 0.0
        sched.optimal = sched.gap <= 1e-12
    else:
        sched = schedule(
            mg.graph, scheduler, time_limit=time_limit, seed=seed, objective=objective, sla=sla_units, workers=workers
        )
    base: dict[str, Any] = {}
    if baselines:
        if progress:
            progress("baselines: heft, single devices")
        base["heft"] = sched if scheduler == "heft" else schedule(mg.graph, "heft")
        for d, s in singles.items():
            base[f"single:{d}"] = s if s is not None else _single_reason(mg, d)
    return PlacementResult(mg, sched, base, scheduler, objective)


# ---------------------------------------------------------------------------- results


def _s(units: float | None) -> float | None:
    return None if units is None else units / _US


def _sched_summary(s: Any) -> dict[str, Any]:
    return {
        "scheduler": s.scheduler,
        "status": s.status,
        "optimal": bool(s.optimal),
        "gap": s.gap,
        "makespan_s": _s(s.makespan),
        "lower_bound_s": _s(s.lower_bound),
        "solve_time_s": round(s.solve_time, 4),
        "cost_usd": s.cost,
        "notes": list(s.notes),
        "devices_used": sorted({p.device for t, p in s.tasks.items()}),
    }


def transfers(result: PlacementResult) -> list[dict[str, Any]]:
    """Every tensor move of the schedule: the edge, bytes, devices, route and real time."""
    mg, s = result.model, result.schedule
    out = []
    for (src, dst), e in mg.edges.items():
        a, b = s.tasks[src].device, s.tasks[dst].device
        if a == b:
            continue
        est = mg.transfer(e, a, b)
        start = s.tasks[src].end / _US
        out.append({
            "src": src, "dst": dst, "tensors": e.tensors, "bytes": e.bytes, "from": a, "to": b,
            "route": [link.name for link in mg.catalog.route(a, b)], "time_s": est.time_s,
            "start_s": start, "end_s": start + est.time_s, "energy_j": est.energy_j,
            "scheduled_comm_s": next(ed.comm for ed in mg.graph.edges if ed.src == src and ed.dst == dst) / _US,
        })  # fmt: skip
    return out


def report(result: PlacementResult, *, model: str = "", catalog_files: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON report of `hetc place` (schema "hetc.place/1")."""
    from hetc import __version__

    mg, s = result.model, result.schedule
    cat = mg.catalog
    devs = []
    for d in mg.devices:
        dev = cat.device(d)
        devs.append({
            "name": d, "kind": dev.kind, "description": dev.description, "host": d == mg.host,
            "peak_flops": dict(dev.peak_flops), "memory_bytes": dev.capacity, "bandwidth_Bps": dev.bandwidth,
            "launch_overhead_s": dev.launch_overhead_s, "power_w": dev.power_w, "cost_per_hour": dev.cost_per_hour,
            "corrected": bool(cat.corrections.get(dev.name, {}).get("applied")),
        })  # fmt: skip
    links = []
    for i, a in enumerate(mg.devices):
        for b in mg.devices[i + 1 :]:
            route = cat.route(a, b)
            links.append({
                "between": [a, b], "route": [l.name for l in route], "kinds": [l.kind for l in route],
                "bandwidth_Bps": min(l.bandwidth_Bps for l in route), "latency_s": sum(l.latency_s for l in route),
            })  # fmt: skip
    ops = []
    energy = 0.0
    busy: dict[str, float] = {d: 0.0 for d in mg.devices}
    count: dict[str, int] = {d: 0 for d in mg.devices}
    for t, info in mg.tasks.items():
        p = s.tasks[t]
        est = info.estimates.get(p.device)
        if est is not None:
            energy += est.energy_j
        busy[p.device] += (p.end - p.start) / _US
        count[p.device] += info.kind == "op"
        ops.append({
            "task": t, "kind": info.kind, "node": info.node, "op_type": info.op_type, "op_class": info.op_class,
            "dtype": info.dtype, "flops": info.flops, "bytes": info.bytes, "weight_bytes": info.weight_bytes,
            "device": p.device, "start_s": p.start / _US, "end_s": p.end / _US,
            "predicted_s": (p.end - p.start) / _US,
            "roofline_s": est.roofline_s if est is not None else 0.0,
            "bound": est.bound if est is not None else "",
            "estimates_s": {d: e.time_s for d, e in info.estimates.items()},
            "unsupported": dict(info.unsupported),
        })  # fmt: skip
    moves = transfers(result)
    energy += sum(m["energy_j"] for m in moves)
    comparisons = [{"name": result.scheduler, **_sched_summary(s)}]
    for name, b in result.baselines.items():
        if name == result.scheduler or b is s:
            continue
        if isinstance(b, str):
            comparisons.append({"name": name, "makespan_s": None, "status": "infeasible", "reason": b})
        else:
            comparisons.append({"name": name, **_sched_summary(b)})
    singles = [c["makespan_s"] for c in comparisons if c["name"].startswith("single:") and c["makespan_s"]]
    used = sorted({p.device for p in s.tasks.values()})
    makespan = s.makespan / _US
    return {
        "schema": "hetc.place/1",
        "hetc_version": __version__,
        "model": model,
        "devices": devs,
        "links": links,
        "catalog_files": list(catalog_files or cat.files),
        "scheduler": result.scheduler,
        "objective": result.objective,
        "schedule": _sched_summary(s),
        "makespan_s": makespan,
        "ops": ops,
        "edges": [{"src": e.src, "dst": e.dst, "bytes": e.bytes, "tensors": e.tensors} for e in mg.edges.values()],
        "transfers": moves,
        "totals": {
            "ops": sum(1 for i in mg.tasks.values() if i.kind == "op"),
            "transfers": len(moves),
            "transfer_bytes": sum(m["bytes"] for m in moves),
            "transfer_time_s": sum(m["time_s"] for m in moves),
            "energy_j": energy,
            "rental_cost_usd": makespan * sum(cat.device(d).cost_per_hour for d in used) / 3600.0,
            "per_device": {d: {"ops": count[d], "busy_s": busy[d]} for d in mg.devices},
        },
        "baselines": comparisons,
        "speedup_vs_best_single": (min(singles) / makespan) if singles and makespan > 0 else None,
        "notes": [
            "times are the cost model's predictions (roofline over the device catalog"
            + (", with a learned correction where calibrated" if any(d["corrected"] for d in devs) else "")
            + "), not measurements",
            "inputs and outputs live on the host; weights are resident on every device",
            "edges carry one transfer time for every device pair (the slowest route the two tasks could use); "
            "transfers lists each move's real route and time",
        ],
    }


def annotate(module: ModuleOp, result: PlacementResult) -> None:
    """`hw.place = #hw.place<device, start, end>` (seconds) on every placed op, and
    `hw.target` (the devices and their links) on the module."""
    from hetc.dialects.hw import PLACE_ATTR, TARGET_ATTR, PlaceAttr

    mg, s = result.model, result.schedule
    for t, info in mg.tasks.items():
        if info.op is None:
            continue
        p = s.tasks[t]
        info.op.attributes[PLACE_ATTR] = PlaceAttr.make(device=p.device, start=p.start / _US, end=p.end / _US)
    module.attributes[TARGET_ATTR] = mg.catalog.target_attr(mg.devices)
    module.attributes["hw.schedule"] = StringAttr(
        f"{result.scheduler}: makespan {s.makespan / _US:.6g} s, {s.status}"
        + (", optimal" if s.optimal else (f", gap {s.gap:.3g}" if s.gap is not None else ""))
    )


@dataclass(frozen=True)
class HetcPlace(ModulePass):
    """Place every op of @main on one of `devices` (catalog names; NAME*N for N instances)
    with the cost model and `scheduler` (heft, ilp, greedy, single), and write the choice
    as `#hw.place<device, start, end>` on each op and `#hw.target` on the module.
    `catalog` names a user catalog TOML merged over the built-in one."""

    name = "hetc-place"

    devices: tuple[str, ...] = ("cpu",)
    scheduler: str = "heft"
    time_limit: float | int = 10.0
    seed: int = 0
    catalog: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from hetc.backends.devices import load_catalog, parse_device_list

        devices = (self.devices,) if isinstance(self.devices, str) else tuple(self.devices)
        cat = load_catalog([self.catalog] if self.catalog else [])
        names = parse_device_list(list(devices), cat)
        result = place_model(
            op, names, scheduler=self.scheduler, time_limit=float(self.time_limit), seed=int(self.seed),
            catalog=cat, baselines=False,
        )  # fmt: skip
        annotate(op, result)


def fmt_time(s: float | None) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.2f} us"


# ---------------------------------------------------------------------------- `hetc place model.onnx`

PLACE_EXAMPLE = (
    "example: hetc place examples/cnn.onnx --devices cpu,h100 --scheduler ilp --report out/report.html\n"
    "example: hetc place examples/transformer_block.onnx --devices cpu,h100,npu --catalog my.toml"
)


def add_model_arguments(p: Any) -> None:
    """The options `hetc place` takes for an .onnx model (beside the scheduler options)."""
    p.add_argument(
        "--devices", default=None, metavar="D1,D2,...",
        help="catalog devices to place on, e.g. cpu,h100 (NAME*N: N instances, e.g. cpu,h100*2); "
        "the host (cpu) must be one of them; default cpu,h100",
    )  # fmt: skip
    p.add_argument("--catalog", action="append", default=[], metavar="TOML",
                   help="a device catalog merged over the built-in one (repeatable; also $HETC_CATALOG)")  # fmt: skip
    p.add_argument("--report", metavar="HTML", help="write this HTML report and report.json beside it")
    p.add_argument(
        "--input-shape", action="append", default=[], metavar="NAME=D0xD1x...",
        help="bind the model's symbolic input dimensions (repeatable)",
    )  # fmt: skip
    p.add_argument("--no-correction", action="store_true",
                   help="use the pure roofline even where a calibration profile has a learned correction")  # fmt: skip


def cmd_place_model(args: Any) -> int:
    """`hetc place MODEL.onnx`: import, graph pipeline, task graph, schedule, report."""
    import json
    import sys
    import time
    from pathlib import Path

    from hetc.api import compile_module
    from hetc.backends.devices import load_catalog, parse_device_list
    from hetc.opt import parse_shape_bindings
    from hetc.passes.place_report import render_html

    quiet = getattr(args, "quiet", False)
    t0 = time.perf_counter()

    def progress(step: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - t0:6.2f}s] {step}", file=sys.stderr, flush=True)

    catalog = load_catalog(getattr(args, "catalog", []) or [])
    devices = parse_device_list(getattr(args, "devices", None) or "cpu,h100", catalog)
    if catalog.host.name not in devices:
        raise HetcError(
            f"the device list {','.join(devices)} has no host: the model's inputs and outputs live on "
            f"'{catalog.host.name}'",
            hint=f"add {catalog.host.name}, e.g. --devices {catalog.host.name},{devices[0]}",
        )
    model_path = getattr(args, "model", None) or args.graph
    module = compile_module(model_path, parse_shape_bindings(getattr(args, "input_shape", []) or []), progress=progress)
    result = place_model(
        module, devices, scheduler=getattr(args, "scheduler", "ilp"), time_limit=getattr(args, "time_limit", 10.0),
        seed=getattr(args, "seed", 0), objective=getattr(args, "objective", "makespan"), sla=getattr(args, "sla", None),
        catalog=catalog, corrected=False if getattr(args, "no_correction", False) else None,
        name=Path(model_path).stem, workers=getattr(args, "workers", 2), progress=progress,
    )  # fmt: skip
    rep = report(result, model=str(model_path))
    s = result.schedule
    print(
        f"{Path(model_path).name} on {','.join(devices)}: makespan {fmt_time(rep['makespan_s'])} ({result.scheduler}, "
        f"{s.status}{', optimal' if s.optimal else (f', gap {s.gap:.1%}' if s.gap is not None else '')}, "
        f"solved in {s.solve_time:.2f} s)"
    )
    per = rep["totals"]["per_device"]
    print("  ops per device: " + ", ".join(f"{d} {v['ops']} (busy {fmt_time(v['busy_s'])})" for d, v in per.items()))
    print(
        f"  transfers: {rep['totals']['transfers']}, {rep['totals']['transfer_bytes'] / 1e6:.3f} MB, "
        f"{fmt_time(rep['totals']['transfer_time_s'])}; energy {rep['totals']['energy_j'] * 1e3:.3f} mJ"
    )
    for b in rep["baselines"]:
        tail = fmt_time(b["makespan_s"]) if b.get("makespan_s") else f"infeasible ({b.get('reason', '')})"
        print(f"  {b['name']:<14} {tail}" + (f"  {b['status']}" if b.get("makespan_s") else ""))
    if rep.get("speedup_vs_best_single"):
        print(f"  predicted speedup over the best single device: {rep['speedup_vs_best_single']:.2f}x")
    if getattr(args, "json", None):
        text = json.dumps(rep, indent=1)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(text + "\n")
            print(f"wrote {args.json}")
    if getattr(args, "report", None):
        html_path = Path(args.report)
        if html_path.suffix.lower() not in (".html", ".htm"):
            html_path = html_path / "report.html"
        html_path.parent.mkdir(parents=True, exist_ok=True)
        json_path = html_path.with_name("report.json") if html_path.name == "report.html" else html_path.with_suffix(".json")
        json_path.write_text(json.dumps(rep, indent=1) + "\n")
        html_path.write_text(render_html(rep))
        print(f"wrote {html_path} and {json_path}")
    return 0
