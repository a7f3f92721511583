"""Run an agent graph: each node's Python callable, in process or on Ray.

    from hetc.frontend.agent import load_agent_graph
    from hetc.runtime.agent_runner import run_graph
    r = run_graph(load_agent_graph("examples/agents/rag.yaml"), {"question": "..."})
    r.outputs, r.nodes["generate"]["measured_s"]
    r = run_graph(g, inputs, ray=True, plan=plan_dict)      # the same outputs, on a local Ray

Semantics (the same in both modes, so the outputs are equal):

- a node's callable (`impl: "module:function"`; the module importable, or a .py file
  beside the graph) is called as `fn(inputs, **params)`; `inputs` maps each predecessor
  that ran to its output, plus "request" (the graph's input) and, for the first nodes of
  a loop body, "state" (the previous iteration's result, None at first) and "iteration";
- a node without `impl` passes its input on (its one predecessor's output, or the dict);
- a router's callable returns the branch to take (a successor's name) or
  {"branch": name, "output": value}; without one, the most likely branch is taken;
  successors not taken are skipped, and a node runs when at least one input reached it;
- a loop runs its body up to max_iterations times; after each iteration its callable gets
  {"result", "iteration", "request"} and returns True to stop (no callable: all iterations);
  its output is the last iteration's result;
- nodes run in waves (every node whose inputs are settled): on Ray a wave's nodes run
  in parallel as remote tasks, each asking for the Ray resource of the device the plan put
  it on (`ray.init(num_cpus=2, include_dashboard=False, resources=...)` when no Ray is up).

Each node's wall time is measured (on Ray, inside the worker) and reported next to the
plan's prediction for that node on its planned device, if a plan is given: the stand-in
callables of the examples run here in microseconds while the prediction is for the
modelled model on the modelled hardware, so the pair shows what the plan assumes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hetc.diagnostics import HetcError
from hetc.frontend.agent import AgentGraph, Node

RAY_PREFIX = "hetc_"  # Ray custom resources are named hetc_<device type>


def load_callable(spec: str, base_dir: str = ".", *, file: str | None = None, node: str | None = None) -> Callable:
    """`"module:function"` -> the function. The module is a .py file relative to
    `base_dir` when one exists (`impls` -> base_dir/impls.py), else an importable module."""
    mod_name, _, fn_name = spec.partition(":")
    if not fn_name:
        raise HetcError(f"field 'impl' is {spec!r}: expected module:function", file=file, node=node)
    path = Path(mod_name if mod_name.endswith(".py") else mod_name.replace(".", "/") + ".py")
    if not path.is_absolute():
        path = Path(base_dir) / path
    try:
        if path.is_file():
            key = "hetc_agent_impl_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
            module = sys.modules.get(key)
            if module is None:
                s = importlib.util.spec_from_file_location(key, path)
                module = importlib.util.module_from_spec(s)
                sys.modules[key] = module
                s.loader.exec_module(module)
        else:
            module = importlib.import_module(mod_name)
    except HetcError:
        raise
    except Exception as exc:  # the user's module failed to import: say which and why
        sys.modules.pop(locals().get("key", ""), None)
        raise HetcError(
            f"field 'impl': cannot import '{mod_name}': {type(exc).__name__}: {exc}", file=file, node=node,
            hint=f"a module on the Python path, or {mod_name}.py beside the graph file",
        ) from None  # fmt: skip
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise HetcError(f"field 'impl': '{mod_name}' has no function '{fn_name}'", file=file, node=node)
    return fn


def _invoke(impl: str | None, base_dir: str, inputs: dict, params: dict, file: str, node: str) -> tuple[Any, float]:
    """Call one node's callable (or pass the input on); (output, seconds)."""
    t0 = time.perf_counter()
    if impl is None:
        out = _passthrough(inputs)
    else:
        fn = load_callable(impl, base_dir, file=file, node=node)
        try:
            out = fn(inputs, **params)
        except HetcError:
            raise
        except Exception as exc:
            raise HetcError(f"the callable {impl} raised {type(exc).__name__}: {exc}", file=file, node=node) from exc
    return out, time.perf_counter() - t0


def _ray_invoke(impl, base_dir, inputs, params, file, node):  # runs in a Ray worker
    return _invoke(impl, base_dir, inputs, params, file, node)


@dataclass
class RunResult:
    outputs: dict[str, Any]
    nodes: dict[str, dict[str, Any]]  # node instance -> {measured_s, predicted_s, device, ran, ...}
    wall_s: float
    mode: str
    trace: list[str] = field(default_factory=list)  # node instances in the order they finished

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "wall_s": round(self.wall_s, 6), "outputs": self.outputs, "nodes": self.nodes,
                "trace": self.trace}  # fmt: skip


class _Executor:
    """Runs one wave of calls: in process, one after the other; or on Ray, in parallel."""

    def __init__(self, ray_mode: bool, devices: dict[str, str]) -> None:
        self.ray = ray_mode
        self.devices = devices
        if ray_mode:
            import ray

            self._ray = ray
            self._remote = ray.remote(_ray_invoke)

    def run(self, calls: list[tuple[str, str | None, str, dict, dict, str]]) -> list[tuple[Any, float]]:
        """calls: (instance, impl, base_dir, inputs, params, file)."""
        if not self.ray:
            return [_invoke(impl, base, inp, prm, file, inst) for inst, impl, base, inp, prm, file in calls]
        refs = []
        for inst, impl, base, inp, prm, file in calls:
            dev = self.devices.get(inst.split("#")[0])
            opts: dict[str, Any] = {"num_cpus": 0.5, "max_retries": 0}
            if dev:
                opts["resources"] = {RAY_PREFIX + dev: 0.01}
            refs.append(self._remote.options(**opts).remote(impl, base, inp, prm, file, inst))
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayTaskError as exc:
            cause = exc.as_instanceof_cause() if hasattr(exc, "as_instanceof_cause") else exc
            if isinstance(cause, HetcError):
                raise HetcError(cause.reason, file=cause.file, node=cause.node, hint=cause.hint) from None
            raise


def node_devices(plan: dict[str, Any] | None) -> tuple[dict[str, str], dict[str, float]]:
    """From a plan.json: node -> the device of its longest op, and node -> predicted seconds
    (the sum of its ops' mean predictions per run)."""
    dev: dict[str, str] = {}
    pred: dict[str, float] = {}
    if not plan:
        return dev, pred
    longest: dict[str, float] = {}
    for o in plan.get("ops", []):
        n = o["node"]
        p = float(o.get("predicted_s") or 0.0)
        pred[n] = pred.get(n, 0.0) + p
        if p >= longest.get(n, -1.0):
            longest[n], dev[n] = p, o["device"]
    return dev, pred


def run_graph(
    graph: AgentGraph, inputs: dict[str, Any] | None = None, *, ray: bool = False, plan: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:  # fmt: skip
    """Run `graph` on `inputs` (see the module docstring)."""
    say = progress or (lambda _m: None)
    request = dict(inputs or {})
    devices, predicted = node_devices(plan)
    started_ray = False
    if ray:
        try:
            import ray as ray_mod
        except ImportError:
            raise HetcError("--ray needs Ray", hint="pip install 'hetc[agent]' (ray==2.60.0)") from None
        if not ray_mod.is_initialized():
            if progress is None:  # quiet: Ray's own start-up notices too
                import logging

                logging.getLogger("ray").setLevel(logging.ERROR)
            counts = (plan or {}).get("fleet", {}).get("counts") or {"cpu": 1}
            res = {RAY_PREFIX + d: float(n) for d, n in counts.items()}
            say(f"starting a local Ray (2 CPUs, resources {', '.join(f'{k}={v:g}' for k, v in res.items())})")
            ray_mod.init(num_cpus=2, include_dashboard=False, resources=res, log_to_driver=False,
                         configure_logging=False)  # fmt: skip
            started_ray = True
        else:
            have = ray_mod.cluster_resources()
            missing = {d for d in devices.values() if RAY_PREFIX + d not in have}
            if missing:  # a Ray started elsewhere without our resources: do not ask for them
                devices = {n: d for n, d in devices.items() if d not in missing}
    ex = _Executor(ray, devices)
    nodes: dict[str, dict[str, Any]] = {}
    trace: list[str] = []
    t0 = time.perf_counter()
    try:
        outs = _run(graph, graph, request, ex, nodes, trace, predicted, devices, suffix="", extra=None, say=say)
    finally:
        if started_ray:
            import ray as ray_mod

            ray_mod.shutdown()
    wall = time.perf_counter() - t0
    if graph.output:
        result = {graph.output: outs.get(graph.output)}
    else:
        result = {n: outs[n] for n in graph.sinks() if n in outs}
    return RunResult(result, nodes, wall, "ray" if ray else "in-process", trace)


def _run(
    top: AgentGraph, g: AgentGraph, request: dict, ex: _Executor, nodes: dict, trace: list, predicted: dict,
    devices: dict, *, suffix: str, extra: dict | None, say,
) -> dict[str, Any]:  # fmt: skip
    """Run one graph (or one loop iteration's body); returns node name -> output of those that ran."""
    out: dict[str, Any] = {}
    chosen: dict[str, str] = {}  # router -> branch
    settled: set[str] = set()
    order = g.topological_order()
    while len(settled) < len(order):
        wave = [n for n in order if n not in settled and all(e.src in settled for e in g.preds(n))]
        calls, loops = [], []
        for name in wave:
            n = g.nodes[name]
            preds = g.preds(name)
            got = {e.src: out[e.src] for e in preds if e.src in out and (e.src not in chosen or chosen[e.src] == name)}
            settled.add(name)
            if preds and not got:
                nodes[n.path + suffix] = {
                    "ran": False,
                    "device": devices.get(n.path),
                    "predicted_s": predicted.get(n.path),
                }
                continue
            inputs = {"request": request, **got}
            if not preds and extra is not None:
                inputs |= extra
            if n.kind == "loop":
                loops.append((name, inputs))
                continue
            calls.append((name, inputs))
        results = ex.run([(g.nodes[nm].path + suffix, g.nodes[nm].impl, top.base_dir, inp, g.nodes[nm].params, top.file)
                          for nm, inp in calls])  # fmt: skip
        for (name, inp), (value, secs) in zip(calls, results):
            n = g.nodes[name]
            if n.kind == "router":
                branch, value = _branch(n, value, _passthrough(inp), top.file)
                chosen[name] = branch
            out[name] = value
            inst = n.path + suffix
            nodes[inst] = {"ran": True, "measured_s": round(secs, 9), "predicted_s": predicted.get(n.path),
                           "device": devices.get(n.path), "kind": n.kind}  # fmt: skip
            if n.kind == "router":
                nodes[inst]["branch"] = chosen[name]
            trace.append(inst)
        for name, inputs in loops:
            out[name] = _loop(top, g.nodes[name], inputs, request, ex, nodes, trace, predicted, devices, suffix, say)
    return out


def _passthrough(inputs: dict) -> Any:
    """What a node without a callable (or a router that only names a branch) hands on."""
    data = {k: v for k, v in inputs.items() if k not in ("request", "state", "iteration")}
    return next(iter(data.values())) if len(data) == 1 else (data or inputs.get("state") or inputs.get("request"))


def _branch(n: Node, value: Any, passthrough: Any, file: str) -> tuple[str, Any]:
    """(the branch a router took, what it hands on)."""
    branches = n.spec["branches"]
    if n.impl is None:
        return max(branches, key=lambda b: (branches[b], b)), value
    if isinstance(value, dict) and "branch" in value:
        branch, value = value["branch"], value.get("output", passthrough)
    else:
        branch, value = value, passthrough
    if branch not in branches:
        raise HetcError(
            f"the router's callable returned {branch!r}, not one of its branches ({', '.join(branches)})",
            file=file, node=n.path, op_type="router",
        )  # fmt: skip
    return branch, value


def _loop(top, n: Node, inputs: dict, request: dict, ex, nodes, trace, predicted, devices, suffix, say) -> Any:
    state = None
    outer = {k: v for k, v in inputs.items() if k != "request"}
    # the first iteration's state is the loop's input (its one predecessor's output, or the dict)
    state = next(iter(outer.values())) if len(outer) == 1 else (outer or None)
    result = None
    t0 = time.perf_counter()
    it = 0
    for it in range(int(n.spec["max_iterations"])):
        body_out = _run(top, n.body, request, ex, nodes, trace, predicted, devices, suffix=f"{suffix}#{it}",
                        extra={"state": state, "iteration": it}, say=say)  # fmt: skip
        sinks = [s for s in n.body.sinks() if s in body_out]
        result = body_out[sinks[0]] if len(sinks) == 1 else {s: body_out[s] for s in sinks}
        state = result
        if n.impl is not None:
            stop, _ = ex.run([(n.path + suffix, n.impl, top.base_dir, {"result": result, "iteration": it, "request": request},
                               n.params, top.file)])[0]  # fmt: skip
            if stop:
                break
    nodes[n.path + suffix] = {"ran": True, "kind": "loop", "iterations": it + 1,
                              "measured_s": round(time.perf_counter() - t0, 9), "predicted_s": None}  # fmt: skip
    trace.append(n.path + suffix)
    return result
