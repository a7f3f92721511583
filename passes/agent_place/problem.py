"""The unrolled problem: every granular op of every scenario, priced on every fleet device type.

Every granular op of `hetc-agent-decompose` (prefill, decode, embed, knn, tool,
transform, router) is a *unit* that goes to one device type of the fleet (the same type
for every loop iteration: weights stay resident). A request's latency is the longest path
through the ops that run, each taking the cost model's time on its device
(`hetc.backends.cost_model.estimate`: roofline of FLOPs and bytes, plus one launch per
decode step, plus a tool's external latency), plus the transfer of each payload over the
catalog's route between the two devices (`transfer_between`: link latency + bytes over
link bandwidth; the KV cache crosses when prefill and decode are split). Several ops of one
request on one device type run on separate instances of it (a type is a pool).

Uncertainty is sampled, not averaged: token counts are drawn from their distributions,
every router picks a branch with its probabilities, every loop runs 1 + (a geometric
number of) more iterations, capped at max_iterations: the loop is unrolled to
max_iterations and iteration i runs in the scenarios that reached it.

Memory and dtype: an op goes only where its footprint (weights + KV at the largest sampled
token count) fits one instance and where the device computes in its dtype (`allowed`,
with the reason for every device it may not use in `why_not`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hetc.backends.cost_model import estimate, transfer_between
from hetc.backends.devices import Catalog, Device
from hetc.frontend.agent import DEFAULT_EDGE_BYTES, AgentGraph, Node
from hetc.passes.agent_decompose import Work, llm_work, retrieve_work, router_work, tool_work, transform_work
from hetc.passes.agent_place.fleet import Fleet


@dataclass
class Task:
    name: str  # "act/think#1.prefill"
    unit: str  # "act/think.prefill": the placement decision
    node: str  # "act/think"
    inst: str  # "act/think#1"
    work: Work  # at the mean token counts
    host_only: bool
    flops: np.ndarray = None  # per scenario
    bytes: np.ndarray = None
    steps: np.ndarray = None
    footprint: float = 0.0  # the largest sampled
    model: str = ""
    #: the share of the op's device time one request pays (1 / batch for a batched decode)
    share: float = 1.0


@dataclass
class TEdge:
    src: str
    dst: str
    bytes: np.ndarray  # per scenario


@dataclass
class Problem:
    graph: AgentGraph
    fleet: Fleet
    devices: list[str]
    tasks: dict[str, Task]  # topological order
    edges: list[TEdge]
    exec: dict[str, np.ndarray]  # task -> bool per scenario
    dur: dict[str, dict[str, np.ndarray]]  # task -> device -> seconds per scenario
    allowed: dict[str, list[str]]  # unit -> devices
    why_not: dict[str, dict[str, str]]  # unit -> device -> reason
    units: list[str]
    scenarios: int
    percentile: float
    sla: float | None
    seed: int
    req_bytes: float = DEFAULT_EDGE_BYTES

    @property
    def preds(self) -> dict[str, list[TEdge]]:
        out: dict[str, list[TEdge]] = {t: [] for t in self.tasks}
        for e in self.edges:
            out[e.dst].append(e)
        return out

    def comm(self, nbytes: np.ndarray | float, a: str, b: str) -> np.ndarray | float:
        """Seconds to move `nbytes` from device type a to b (0 on the same type)."""
        if a == b:
            return np.zeros_like(nbytes) if isinstance(nbytes, np.ndarray) else 0.0
        c0, c1 = _link_coeffs(self.fleet.catalog, a, b)
        return c0 + c1 * nbytes

    def unit_busy(self, unit: str, dev: str) -> float:
        """Expected seconds per request the unit keeps `dev` busy (external waits excluded)."""
        tot = 0.0
        for t in self.tasks.values():
            if t.unit == unit:
                busy = (self.dur[t.name][dev] - t.work.fixed_s) * t.share
                tot += float(np.mean(np.where(self.exec[t.name], busy, 0.0)))
        return tot

    def unit_cost(self, unit: str, dev: str) -> float:
        """Expected $ per request of the unit on `dev`."""
        return self.unit_busy(unit, dev) * self.fleet.device(dev).cost_per_hour / 3600.0


_LINKS: dict[tuple, tuple[float, float]] = {}


def _link_coeffs(cat: Catalog, a: str, b: str) -> tuple[float, float]:
    """(seconds, seconds per byte) of the route a -> b, from the cost model's `transfer_between`."""
    key = (id(cat), a, b)
    if key not in _LINKS:
        t0 = transfer_between(0.0, a, b, cat).time_s
        t1 = transfer_between(1e9, a, b, cat).time_s
        _LINKS[key] = (t0, (t1 - t0) / 1e9)
    return _LINKS[key]


def _sample_tokens(spec: Any, rng: np.random.Generator, n: int) -> np.ndarray:
    if isinstance(spec, dict):
        if "mean" in spec:
            x = rng.normal(spec["mean"], spec["std"], n)
            hi = spec.get("max", np.inf)
            return np.clip(np.round(x), 1, hi)
        return rng.integers(int(spec["low"]), int(spec["high"]) + 1, n).astype(float)
    return np.full(n, float(spec))


def _node_works(
    n: Node, rng: np.random.Generator, S: int, batch: int = 1
) -> list[tuple[str, Work, dict[str, np.ndarray], float]]:
    """[(op kind, Work at mean tokens, per-scenario arrays {flops, bytes, steps}, largest footprint)]
    and the bytes per scenario of the internal edge (prefill -> decode: the KV cache)."""
    s = n.spec
    if n.kind == "llm":
        m = n.model
        tin = _sample_tokens(s["input_tokens"], rng, S)
        tout = _sample_tokens(s["output_tokens"], rng, S)
        pre, dec, kv = llm_work(m.params, m.layers, m.hidden, m.kv_hidden, m.precision, tin, tout, m.name, batch)
        p0, d0, _ = llm_work(m.params, m.layers, m.hidden, m.kv_hidden, m.precision, tin.mean(), tout.mean(), m.name,
                             batch)  # fmt: skip
        return [
            ("prefill", p0, {"flops": pre.flops, "bytes": pre.bytes, "steps": np.ones(S), "internal": kv},
             float(np.max(pre.footprint_bytes))),
            ("decode", d0, {"flops": dec.flops, "bytes": dec.bytes, "steps": np.maximum(1, np.round(tout)),
                            "share": 1.0 / batch},
             float(np.max(dec.footprint_bytes))),
        ]  # fmt: skip
    if n.kind == "retrieve":
        m = n.model
        emb, knn, q = retrieve_work(m.params, m.precision, int(s.get("query_tokens", 32)), float(s["index"]["vectors"]),
                                    int(s["index"]["dim"]), s["index"].get("precision", "float32"))  # fmt: skip
        one = np.ones(S)
        return [
            ("embed", emb, {"flops": emb.flops * one, "bytes": emb.bytes * one, "steps": one, "internal": q * one},
             emb.footprint_bytes),
            ("knn", knn, {"flops": knn.flops * one, "bytes": knn.bytes * one, "steps": one}, knn.footprint_bytes),
        ]  # fmt: skip
    if n.kind == "tool":
        w = tool_work(float(s.get("latency", 0.0)), float(s.get("cpu_flops", 0.0)))
    elif n.kind == "transform":
        w = transform_work(float(s.get("flops", 1e6)), float(s.get("bytes", 1e5)))
    else:
        w = router_work()
    one = np.ones(S)
    return [(n.kind, w, {"flops": w.flops * one, "bytes": w.bytes * one, "steps": one}, 0.0)]


def build_problem(
    graph: AgentGraph, fleet: Fleet, *, sla: float | None = None, percentile: float | None = None,
    scenarios: int = 400, seed: int = 0,
) -> Problem:  # fmt: skip
    """Unroll loops, sample `scenarios` scenarios (fixed `seed`), price every op on every
    fleet device type with the cost model."""
    rng = np.random.default_rng(seed)
    S = int(scenarios)
    batch = int(graph.objective.batch)
    tasks: dict[str, Task] = {}
    edges: list[TEdge] = []
    execm: dict[str, np.ndarray] = {}
    gates: dict[str, np.ndarray] = {}  # node instance (or loop) -> runs, per scenario
    entry: dict[str, str] = {}  # node instance -> its first task
    exit_: dict[str, list[str]] = {}  # node instance -> the tasks its successors wait for
    choice: dict[str, np.ndarray] = {}  # router instance -> chosen branch per scenario (index)

    def add_instance(n: Node, inst: str, gate: np.ndarray) -> None:
        gates[inst] = gate
        works = _node_works(n, rng, S, batch)
        prev = None
        for kind, w, arr, foot in works:
            name = inst if len(works) == 1 else f"{inst}.{kind}"
            unit = n.path if len(works) == 1 else f"{n.path}.{kind}"
            tasks[name] = Task(name, unit, n.path, inst, w, w.host_only, arr["flops"], arr["bytes"], arr["steps"],
                               foot, w.model, arr.get("share", 1.0))  # fmt: skip
            execm[name] = gate
            if prev is not None:
                edges.append(TEdge(prev[0], name, prev[1]))
            prev = (name, arr.get("internal"))
        entry[inst] = next(iter(t for t in tasks if tasks[t].inst == inst))
        exit_[inst] = [prev[0]]
        if n.kind == "router":
            names = list(n.spec["branches"])
            probs = np.array([n.spec["branches"][b] for b in names], dtype=float)
            choice[inst] = rng.choice(len(names), size=S, p=probs / probs.sum())

    def gate_of(g: AgentGraph, name: str, inst_of: dict[str, str], base: np.ndarray) -> np.ndarray:
        preds = g.preds(name)
        if not preds:
            return base
        run = np.zeros(S, dtype=bool)
        for e in preds:
            src_inst = inst_of[e.src]
            ok = gates[src_inst].copy()
            src = g.nodes[e.src]
            if src.kind == "router":
                idx = list(src.spec["branches"]).index(name)
                ok &= choice[src_inst] == idx
            run |= ok
        return run & base

    def wire(g: AgentGraph, name: str, inst_of: dict[str, str]) -> None:
        dst = inst_of[name]
        for e in g.preds(name):
            for x in exit_[inst_of[e.src]]:
                edges.append(TEdge(x, entry[dst], np.full(S, e.bytes)))

    def build(g: AgentGraph, suffix: str, base: np.ndarray, state_from: list[str] | None) -> dict[str, str]:
        inst_of: dict[str, str] = {}
        for name in g.topological_order():
            n = g.nodes[name]
            inst = f"{n.path}{suffix}"
            inst_of[name] = inst
            gate = gate_of(g, name, inst_of, base)
            if n.kind == "loop":
                gates[inst] = gate
                reach = gate.copy()
                p = float(n.spec.get("continue_probability", 1.0))
                sinks: list[str] = []
                prev_sinks = None
                for i in range(int(n.spec["max_iterations"])):
                    if i > 0:
                        reach = reach & (rng.random(S) < p)
                    inner = build(n.body, f"#{i}", reach.copy(), prev_sinks)
                    if i == 0:  # the loop's inputs feed the first iteration's sources
                        for src_name in n.body.sources():
                            for e in g.preds(name):
                                for x in exit_[inst_of[e.src]]:
                                    edges.append(TEdge(x, entry[inner[src_name]], np.full(S, e.bytes)))
                    prev_sinks = [t for s_ in n.body.sinks() for t in exit_[inner[s_]]]
                    sinks += prev_sinks
                exit_[inst] = sinks
                entry[inst] = ""
                continue
            add_instance(n, inst, gate)
            if g.preds(name):
                wire(g, name, inst_of)
            elif state_from:
                for x in state_from:
                    edges.append(TEdge(x, entry[inst], np.full(S, DEFAULT_EDGE_BYTES)))
        return inst_of

    build(graph, "", np.ones(S, dtype=bool), None)
    # edges into a loop node's own entry were added per iteration; drop the empty placeholders
    edges = [e for e in edges if e.dst]
    # the exits of a loop as a predecessor: wire() used exit_[loop] = every iteration's sinks

    sla = graph.sla.latency_s if sla is None else sla
    pct = graph.sla.percentile if percentile is None else percentile
    devices = fleet.types
    dur: dict[str, dict[str, np.ndarray]] = {}
    allowed: dict[str, list[str]] = {}
    why: dict[str, dict[str, str]] = {}
    for t in tasks.values():
        dur[t.name] = {}
        for d in devices:
            dev = fleet.device(d)
            reason = _cannot(t, dev)
            if reason:
                why.setdefault(t.unit, {})[d] = reason
                dur[t.name][d] = np.full(S, np.inf)
                continue
            dur[t.name][d] = _times(t, dev, fleet.catalog)
    units = list(dict.fromkeys(t.unit for t in tasks.values()))
    for u in units:
        allowed[u] = [d for d in devices if d not in why.get(u, {})]
    return Problem(graph, fleet, devices, tasks, edges, execm, dur, allowed, why, units, S, pct, sla, seed)


def unplaceable(pb: Problem) -> str:
    """'' if every op can run on some fleet device, else why the first one cannot."""
    for u in pb.units:
        if not pb.allowed[u]:
            reasons = "; ".join(f"{d}: {r}" for d, r in pb.why_not[u].items())
            return f"no device of the fleet can run {u} (memory or dtype): {reasons}"
    return ""


def _cannot(t: Task, dev: Device) -> str:
    """Why device `dev` cannot run task `t` ('' if it can)."""
    if t.host_only and dev.kind != "cpu":
        return f"{t.work.kind} ops run on a CPU"
    if t.footprint > dev.capacity:
        return (f"needs {t.footprint / 1e9:.1f} GB (weights {t.work.weight_bytes / 1e9:.1f} GB + KV/index) "
                f"but has {dev.capacity / 1e9:.0f} GB")  # fmt: skip
    if t.work.flops > 0 and dev.flops(t.work.dtype, t.work.op_class == "matmul") is None:
        return f"does not compute in {t.work.dtype}"
    return ""


def _times(t: Task, dev: Device, cat: Catalog) -> np.ndarray:
    """Seconds per scenario of task t on dev: the cost model's estimate (roofline + one launch)
    per distinct (FLOPs, bytes), one more launch per extra decode step, the tool's wait."""
    from hetc.backends.cost_model import OpCounts

    pairs = np.stack([t.flops, t.bytes], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    w = t.work
    vals = np.array([
        estimate(OpCounts(w.kind, w.op_class, w.dtype, float(f), float(b), 0.0, w.weight_bytes, t.name), dev,
                 catalog=cat, corrected=False).time_s
        for f, b in uniq
    ])  # fmt: skip
    return vals[inv.reshape(-1)] + (t.steps - 1) * dev.launch_overhead_s + w.fixed_s
