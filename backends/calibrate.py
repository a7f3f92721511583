"""`hetc calibrate`: measure this machine, write a profile, and check the cost model.

    hetc calibrate                                  # microbenchmarks -> ~/.cache/hetc/profile.toml
    hetc calibrate -o my-profile.toml
    hetc calibrate --validate examples/cnn.onnx examples/transformer_block.onnx --report cal.json

Microbenchmarks (CPU, through the C backend, one thread as `hetc compile --target c`
builds): a 512x512x512 float32 GEMM, a streaming elementwise pass over 64 MiB (main
memory), the same over 128 KiB (the L2 cache), and a 1-element kernel (the cost of one
kernel call). On a machine with a CUDA GPU that torch can see, `gpu_bench` measures it
too (GEMM per dtype, HBM bandwidth, launch, host<->device copies); without one the GPU is
skipped with the reason. The profile holds only measured numbers, in the catalog's
format, so `load_catalog` merges it over the catalog.

`--validate MODEL...` compiles each model for the C target, times every kernel call
with the profiler (`Session.profile`), maps kernels back to ONNX nodes (a kernel's label
names the nodes it came from; nodes sharing a kernel form one unit) and prints the
roofline's prediction next to the measurement per unit, with the MAPE, for the built-in
catalog and for the calibrated one. With two models or more it also fits a learned
correction (least squares of log measured time over log roofline time, log FLOPs, log
bytes and the op class) and reports it honestly: each model is predicted by a correction
fitted on the *other* models only (leave one model out). The correction fitted on all of
them is stored in the profile and applied by `estimate` only if its held-out error is
lower than the roofline's.
"""

from __future__ import annotations

import datetime
import json
import math
import platform
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hetc.backends import cost_model as cm
from hetc.diagnostics import HetcError

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------- TOML out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v} to TOML")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is JSON-compatible for what we write
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def dump_toml(data: Mapping[str, Any], header: str = "") -> str:
    """A small TOML writer for nested tables of scalars, lists and inline tables."""
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []

    def table(prefix: list[str], d: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in d.items() if not isinstance(v, Mapping) or _inline(v)]
        subs = [(k, v) for k, v in d.items() if isinstance(v, Mapping) and not _inline(v)]
        if prefix and (scalars or not subs):
            lines.append("")
            lines.append("[" + ".".join(_key(p) for p in prefix) + "]")
        for k, v in scalars:
            lines.append(f"{_key(k)} = {_toml_value(v)}")
        for k, v in subs:
            table([*prefix, k], v)

    table([], data)
    return "\n".join(lines).strip() + "\n"


def _inline(d: Mapping[str, Any]) -> bool:
    """Small tables of measurements are written inline ({n = 512, seconds = ...})."""
    return getattr(d, "_inline", False)


class Inline(dict):
    _inline = True


# ---------------------------------------------------------------------------- microbenchmarks


def _tiny_model(kind: str, size: int):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if kind == "gemm":
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])
        w = numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32), "w")
        nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="gemm")]
        inits = [w]
    else:
        # a streaming elementwise pass t = relu(x) into the arena (allocated once, as every
        # intermediate is; a graph output would be a fresh, page-faulting array per run),
        # then a reduction so that the output is one number; only "stream" is timed
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [size])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
        nodes = [
            helper.make_node("Relu", ["x"], ["t"], name="stream"),
            helper.make_node("ReduceMax", ["t"], ["y"], name="reduce", keepdims=1),
        ]
        inits = []
    g = helper.make_graph(nodes, f"calibrate_{kind}", [x], [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def _kernel_seconds(model, runs: int, tmp: Path, label: str, node: str | None = None) -> float:
    """Seconds per run spent in the model's kernels (C target, one thread); only those of
    ONNX node `node` if given."""
    from hetc.api import Session, build
    from hetc.cli import random_inputs

    out = build(model, "c", tmp / label)
    sess = Session(out)
    feeds = random_inputs(sess.manifest["inputs"], 0)
    best = math.inf
    inner = max(1, runs // 5)
    for _ in range(5):  # the least of 5 means: the machine may be shared
        calls = sess.profile(feeds, inner)
        picked = [t for lab, t in calls if node is None or node in lab.partition(" <- ")[2].split(", ")]
        if not picked:
            raise HetcError(f"calibration: no kernel of node '{node}' in the profile {[lab for lab, _ in calls]}")
        best = min(best, sum(picked))
    return best


def cpu_microbenchmarks(runs: int = 10, progress: Progress | None = None) -> dict[str, Any]:
    """GEMM FLOP/s, main-memory and L2 streaming bandwidth, and one kernel call's cost."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hetc-calibrate-") as d:
        tmp = Path(d)
        n = 512
        if progress:
            progress(f"cpu: {n}x{n}x{n} float32 GEMM (C backend)")
        t = _kernel_seconds(_tiny_model("gemm", n), max(3, runs // 2), tmp, "gemm")
        out["gemm"] = Inline(m=n, n=n, k=n, seconds=t, flops_per_s=2.0 * n**3 / t)
        big = 16 << 20  # 16 Mi floats: 64 MiB in, 64 MiB out
        if progress:
            progress("cpu: streaming pass over 64 MiB (main memory)")
        t = _kernel_seconds(_tiny_model("stream", big), max(3, runs // 2), tmp, "dram", "stream")
        out["stream_dram"] = Inline(bytes=8 * big, seconds=t, bandwidth_Bps=8 * big / t)
        small = 16 << 10  # 64 KiB in, 64 KiB out: in L2
        if progress:
            progress("cpu: streaming pass over 128 KiB (L2)")
        t = _kernel_seconds(_tiny_model("stream", small), runs * 20, tmp, "l2", "stream")
        out["stream_l2"] = Inline(bytes=8 * small, seconds=t, bandwidth_Bps=8 * small / t)
        if progress:
            progress("cpu: one-element kernel (call overhead)")
        t = _kernel_seconds(_tiny_model("stream", 1), runs * 50, tmp, "call", "stream")
        out["call"] = Inline(seconds=t)
    return out


def gpu_microbenchmarks(progress: Progress | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(measurements, None) on a machine with a CUDA GPU torch can use, else (None, why not)."""
    from hetc.backends.devices import gpu_bench

    why = gpu_bench.skip_reason()
    if why is not None:
        return None, why
    if progress:
        progress("gpu: GEMM per dtype, HBM copy, launch, host<->device (torch)")
    return gpu_bench.measure(), None


def profile_from(cpu: Mapping[str, Any] | None, gpu: Mapping[str, Any] | None, host: str = "cpu") -> dict[str, Any]:
    """The catalog overlay of measured numbers."""
    devices: dict[str, Any] = {}
    links: dict[str, Any] = {}
    if cpu:
        devices[host] = {
            "launch_overhead_s": cpu["call"]["seconds"],
            "peak_flops": {"float32": cpu["gemm"]["flops_per_s"]},
            "memory": {
                "dram": {"bandwidth_Bps": cpu["stream_dram"]["bandwidth_Bps"]},
                "l2": {"bandwidth_Bps": cpu["stream_l2"]["bandwidth_Bps"]},
            },
        }
    if gpu:
        from hetc.backends.devices import gpu_bench

        name, dev, link = gpu_bench.profile_entries(dict(gpu))
        if name:
            devices[name] = dev
            links.update(link)
    out: dict[str, Any] = {}
    if devices:
        out["devices"] = devices
    if links:
        out["links"] = links
    return out


# ---------------------------------------------------------------------------- validation


@dataclass
class Unit:
    """Nodes measured together (they share kernels) in one model."""

    model: str
    nodes: list[str]
    kernels: list[str]
    measured_s: float
    counts: cm.OpCounts
    ops: list[Any] = field(default_factory=list, repr=False)
    #: predictions by name: "builtin", "calibrated", "corrected" (held-out)
    predicted: dict[str, float] = field(default_factory=dict)
    #: (counts, calibrated roofline estimate) per op, for the correction
    parts: list[tuple[cm.OpCounts, cm.Estimate]] = field(default_factory=list, repr=False)

    def terms(self, classes: Sequence[str]) -> np.ndarray:
        """The unit's correction features: the sum of its ops' (see cost_model.correction_terms)."""
        x = np.zeros(2 * len(classes) + 1)
        for c, e in self.parts:
            if e.bound != "view":
                x += np.array(cm.correction_terms(c, e, classes))
        return x

    @property
    def label(self) -> str:
        types = sorted({o.OP_TYPE for o in self.ops})
        return f"{', '.join(self.nodes[:3])}{' ...' if len(self.nodes) > 3 else ''} ({'/'.join(types)})"


def _unit_counts(ops: Sequence[Any]) -> cm.OpCounts:
    """Per-op counts summed (each op is priced as its own kernel, as placement prices it);
    the class and dtype of the op with the most FLOPs (bytes on ties)."""
    parts = [cm.op_counts(o) for o in ops]
    top = max(parts, key=lambda p: (p.flops, p.bytes))
    return cm.OpCounts(
        top.op_type, top.op_class, top.dtype, sum(p.flops for p in parts), sum(p.bytes_in for p in parts),
        sum(p.bytes_out for p in parts), sum(p.weight_bytes for p in parts),
    )  # fmt: skip


def _predict(ops: Sequence[Any], dev: Any) -> float:
    return sum(cm.roofline(cm.op_counts(o), dev).time_s for o in ops)


def measure_model(
    model: str | Path,
    runs: int = 10,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    progress: Progress | None = None,
) -> tuple[list[Unit], dict[str, Any]]:
    """Per-unit measured kernel times of `model` on the C target, and a summary
    (unattributed kernel time, nodes without kernels)."""
    from hetc.api import Session, build, compile_module
    from hetc.cli import random_inputs

    name = Path(model).name
    input_shapes = _bind_symbolic(model, input_shapes)
    if progress:
        progress(f"{name}: compile (c) and profile {runs} runs")
    with tempfile.TemporaryDirectory(prefix="hetc-validate-") as d:
        out = build(model, "c", Path(d) / "out", input_shapes)
        sess = Session(out)
        feeds = random_inputs(sess.manifest["inputs"], 0)
        # per kernel call, the least of 3 means over runs/3 runs each: other processes on a
        # shared machine only ever add time
        calls = sess.profile(feeds, max(1, runs // 3))
        for _ in range(2):
            again = sess.profile(feeds, max(1, runs // 3))
            calls = [(lab, min(t, t2)) for (lab, t), (_, t2) in zip(calls, again)]
    module = compile_module(model, input_shapes)
    ops_by_node: dict[str, list[Any]] = {}
    for op in cm.model_ops(module):
        if op.node_name:
            ops_by_node.setdefault(op.node_name, []).append(op)
    # union-find over node names joined by a kernel
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    kernel_nodes: list[tuple[str, float, list[str]]] = []
    unattributed = 0.0
    unattributed_kernels = []
    for label, t in calls:
        kname, _, rest = label.partition(" <- ")
        nodes = [n.strip() for n in rest.split(",") if n.strip() in ops_by_node] if rest else []
        if not nodes:
            unattributed += t
            unattributed_kernels.append(kname)
            continue
        for n in nodes[1:]:
            parent[find(n)] = find(nodes[0])
        find(nodes[0])
        kernel_nodes.append((kname, t, nodes))
    groups: dict[str, Unit] = {}
    for kname, t, nodes in kernel_nodes:
        root = find(nodes[0])
        u = groups.get(root)
        if u is None:
            u = groups[root] = Unit(name, [], [], 0.0, cm.OpCounts("", "", "", 0, 0, 0))
        u.kernels.append(kname)
        u.measured_s += t
        for n in nodes:
            if n not in u.nodes:
                u.nodes.append(n)
    units = []
    for u in groups.values():
        u.ops = [o for n in u.nodes for o in ops_by_node[n]]
        u.counts = _unit_counts(u.ops)
        units.append(u)
    measured_nodes = {n for u in units for n in u.nodes}
    summary = {
        "model": name,
        "kernel_calls": len(calls),
        "kernel_seconds": sum(t for _, t in calls),
        "unattributed_seconds": unattributed,
        "unattributed_kernels": unattributed_kernels,
        "nodes_without_kernels": sorted(set(ops_by_node) - measured_nodes),
    }
    return units, summary


def _bind_symbolic(model: str | Path, shapes: Mapping[str, Sequence[int]] | None) -> dict[str, tuple[int, ...]]:
    """The given bindings that name this model's inputs, and 1 for every other symbolic
    dimension (calibration needs some shape; batch 1 is what the examples use)."""
    import onnx

    m = onnx.load(str(model), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    out: dict[str, tuple[int, ...]] = {}
    for i in m.graph.input:
        if i.name in inits:
            continue
        if shapes and i.name in shapes:
            out[i.name] = tuple(shapes[i.name])
            continue
        dims = i.type.tensor_type.shape.dim
        if any(d.dim_param or not d.HasField("dim_value") for d in dims):
            out[i.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims)
    return out


def mape(pred: Sequence[float], meas: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    errs = [abs(p - m) / m for p, m in zip(pred, meas) if m > 0]
    return 100.0 * sum(errs) / len(errs) if errs else float("nan")


def wape(pred: Sequence[float], meas: Sequence[float]) -> float:
    """Time-weighted error: sum |pred - meas| / sum meas, in percent."""
    tot = sum(meas)
    return 100.0 * sum(abs(p - m) for p, m in zip(pred, meas)) / tot if tot > 0 else float("nan")


def _nnls(A: np.ndarray, b: np.ndarray, iters: int = 100) -> np.ndarray:
    """min |Ax - b| subject to x >= 0 (Lawson-Hanson active set; small problems)."""
    n = A.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    for _ in range(iters):
        w = A.T @ (b - A @ x)
        if passive.all() or w[~passive].max(initial=-np.inf) <= 1e-12:
            break
        j = int(np.argmax(np.where(passive, -np.inf, w)))
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(A[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / np.maximum(x[neg] - z[neg], 1e-300))
            x = x + alpha * (z - x)
            passive &= x > 1e-15
    return x


def fit_correction(units: Sequence[Unit], classes: Sequence[str], ridge: float = 1.0) -> dict[str, Any]:
    """Least squares of the *relative* error (each unit's row divided by its measured time,
    so MAPE-like) of time = coef . terms, coefficients >= 0, ridged toward 1 (the additive
    roofline) so that classes with few kernels stay near the roofline."""
    A = np.array([u.terms(classes) / u.measured_s for u in units])
    b = np.ones(len(units))
    k = A.shape[1]
    lam = math.sqrt(ridge)
    A_aug = np.vstack([A, lam * np.eye(k)])
    b_aug = np.concatenate([b, lam * np.ones(k)])
    coef = _nnls(A_aug, b_aug)
    return {"form": "class-terms", "classes": list(classes), "coef": [float(c) for c in coef]}


@dataclass
class Validation:
    units: list[Unit]
    summaries: list[dict[str, Any]]
    #: per model and overall: MAPE/WAPE of each predictor
    errors: dict[str, dict[str, float]]
    correction: dict[str, Any] | None
    device: str


def validate(
    models: Sequence[str | Path],
    *,
    catalog: Any,
    builtin: Any,
    runs: int = 10,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    progress: Progress | None = None,
) -> Validation:
    """Measure every model, predict with the built-in and the calibrated catalog, and (two
    models or more) evaluate a learned correction leaving one model out at a time."""
    host = catalog.host.name
    dev, dev0 = catalog.device(host), builtin.device(host)
    units: list[Unit] = []
    summaries = []
    for m in models:
        us, summary = measure_model(m, runs, input_shapes, progress)
        for u in us:
            u.predicted["builtin"] = _predict(u.ops, dev0)
            u.parts = [(c, cm.roofline(c, dev)) for c in (cm.op_counts(o) for o in u.ops)]
            u.predicted["calibrated"] = sum(e.time_s for _, e in u.parts)
        units += us
        summaries.append(summary)
    names = [s["model"] for s in summaries]
    correction = None

    def classes_of(train: Sequence[Unit]) -> list[str]:
        return sorted({cm.correction_class(c) for u in train for c, e in u.parts if e.bound != "view"})

    if len(names) >= 2:
        for held in names:
            train = [u for u in units if u.model != held]
            corr = fit_correction(train, classes_of(train))
            for u in units:
                if u.model == held:
                    u.predicted["corrected"] = sum(cm.apply_correction(c, e, corr) for c, e in u.parts)
        correction = fit_correction(units, classes_of(units))
    errors: dict[str, dict[str, float]] = {}
    for key, group in [(n, [u for u in units if u.model == n]) for n in names] + [("all", units)]:
        row: dict[str, float] = {"units": len(group), "measured_s": sum(u.measured_s for u in group)}
        for p in ("builtin", "calibrated", "corrected"):
            if group and all(p in u.predicted for u in group):
                pr, me = [u.predicted[p] for u in group], [u.measured_s for u in group]
                row[f"mape_{p}"] = mape(pr, me)
                row[f"wape_{p}"] = wape(pr, me)
                row[f"predicted_s_{p}"] = sum(pr)
        errors[key] = row
    if correction is not None:
        allrow = errors["all"]
        correction.update(
            applied=bool(allrow.get("mape_corrected", math.inf) < allrow.get("mape_calibrated", math.inf)),
            fitted_on=names,
            units=len(units),
            heldout_mape=allrow.get("mape_corrected"),
            roofline_mape=allrow.get("mape_calibrated"),
        )
    return Validation(units, summaries, errors, correction, host)


def print_validation(v: Validation, top: int = 12, out: Callable[[str], None] = print) -> None:
    for s in v.summaries:
        name = s["model"]
        us = sorted((u for u in v.units if u.model == name), key=lambda u: -u.measured_s)
        out(f"\n{name}: {s['kernel_calls']} kernel calls, {s['kernel_seconds'] * 1e3:.3f} ms in kernels; "
            f"{len(us)} units (nodes sharing kernels); unattributed (layout transposes etc.) "
            f"{s['unattributed_seconds'] * 1e3:.3f} ms")  # fmt: skip
        has_corr = any("corrected" in u.predicted for u in us)
        head = f"  {'unit':<46} {'class':<11} {'measured':>10} {'roofline':>10} {'calibr.':>10}"
        out(head + (f" {'corrected':>10}" if has_corr else ""))
        for u in us[:top]:
            line = (
                f"  {u.label[:46]:<46} {u.counts.op_class:<11} {u.measured_s * 1e6:>8.1f}us "
                f"{u.predicted['builtin'] * 1e6:>8.1f}us {u.predicted['calibrated'] * 1e6:>8.1f}us"
            )
            if has_corr:
                line += f" {u.predicted['corrected'] * 1e6:>8.1f}us"
            out(line)
        if len(us) > top:
            out(f"  ... {len(us) - top} more units (see --report)")
    out("\nerror per model (MAPE over units; WAPE = sum|pred-meas| / sum meas):")
    cols = [p for p in ("builtin", "calibrated", "corrected") if f"mape_{p}" in v.errors.get("all", {})]
    out(f"  {'model':<34} {'units':>5} " + " ".join(f"{'MAPE ' + p:>17} {'WAPE':>7}" for p in cols))
    for key, row in v.errors.items():
        out(
            f"  {key:<34} {int(row['units']):>5} "
            + " ".join(f"{row.get(f'mape_{p}', float('nan')):>16.1f}% {row.get(f'wape_{p}', float('nan')):>6.1f}%" for p in cols)
        )
    if v.correction is not None:
        c = v.correction
        out(
            f"learned correction (fitted on {', '.join(c['fitted_on'])}; 'corrected' above is held out, each model "
            f"predicted by a fit on the others): {'applied' if c['applied'] else 'NOT applied (no better than the roofline)'}"
        )


def validation_json(v: Validation) -> dict[str, Any]:
    return {
        "device": v.device,
        "summaries": v.summaries,
        "errors": v.errors,
        "correction": v.correction,
        "units": [
            {
                "model": u.model, "nodes": u.nodes, "kernels": u.kernels, "op_types": sorted({o.OP_TYPE for o in u.ops}),
                "op_type": u.counts.op_type, "op_class": u.counts.op_class, "flops": u.counts.flops,
                "bytes": u.counts.bytes,
                "measured_s": u.measured_s, "predicted_s": dict(u.predicted),
            }
            for u in v.units
        ],  # fmt: skip
    }


# ---------------------------------------------------------------------------- GPU roofline check


def one_op(op_type: str, in_shapes: Sequence[Sequence[int]], out_shape: Sequence[int], dtype: str = "float32",
           **attrs: Any) -> Any:
    """A lone `onnx`-dialect op on block arguments of the given shapes (for counting its
    FLOPs and bytes without importing a model)."""
    from xdsl.dialects.builtin import TensorType
    from xdsl.ir import Block

    from hetc.dialects import onnx as onnx_d

    elem = onnx_d.element_type_from_numpy(np.dtype(dtype))
    block = Block(arg_types=[TensorType(elem, list(s)) for s in in_shapes])
    op = onnx_d.build_op(op_type, list(block.args), [TensorType(elem, list(out_shape))], **attrs)
    block.add_op(op)
    return op


def gpu_suite_rows(suite: Sequence[Mapping[str, Any]], device: Any, catalog: Any = None) -> list[dict[str, Any]]:
    """Roofline predictions for `gpu_bench.kernel_suite()` rows (measured elsewhere) on
    `device` (the pure roofline: no correction)."""
    out = []
    for r in suite:
        attrs = dict(r.get("attrs", {}))
        op = one_op(r["op"], r["in"], r["out"], r["dtype"], **attrs)
        pred = cm.estimate(op, device, catalog=catalog, corrected=False).time_s
        out.append({**r, "predicted_s": pred})
    return out


# ---------------------------------------------------------------------------- the command


def run(
    *,
    output: str | None = None,
    runs: int = 10,
    micro: bool = True,
    validate_models: Sequence[str] = (),
    report: str | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    progress: Progress | None = None,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """`hetc calibrate` (see the module docstring); returns what it wrote."""
    from hetc.backends.devices import builtin_catalog, default_profile_path, load_catalog, read_toml

    path = Path(output) if output else default_profile_path()
    builtin = builtin_catalog()
    host = builtin.host.name
    profile: dict[str, Any] = {}
    if path.is_file() and not micro:
        profile = read_toml(path)  # keep earlier measurements, refit the correction
        profile.pop("corrections", None)
    calibration: dict[str, Any] = dict(profile.get("calibration", {}))
    if micro:
        cpu = cpu_microbenchmarks(runs, progress)
        gpu, why = gpu_microbenchmarks(progress)
        profile = profile_from(cpu, gpu, host)
        calibration = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": _cpu_name(),
            "python": platform.python_version(),
            "cpu": Inline({k: float(v["seconds"]) for k, v in cpu.items()}),
            "gpu": (gpu or {}).get("cuda_name", why or ""),
        }
        d = profile["devices"][host]
        out(f"cpu ({calibration['machine']}), C backend, 1 thread:")
        out(f"  GEMM 512^3 float32     {cpu['gemm']['flops_per_s'] / 1e9:8.1f} GFLOP/s   (catalog {builtin.device(host).flops('float32', True) / 1e9:.1f})")
        out(f"  stream 64 MiB          {d['memory']['dram']['bandwidth_Bps'] / 1e9:8.1f} GB/s      (catalog {builtin.device(host).bandwidth / 1e9:.1f})")
        out(f"  stream 128 KiB (L2)    {d['memory']['l2']['bandwidth_Bps'] / 1e9:8.1f} GB/s      (catalog {builtin.device(host).bandwidth_for(1) / 1e9:.1f})")
        out(f"  one kernel call        {d['launch_overhead_s'] * 1e9:8.1f} ns        (catalog {builtin.device(host).launch_overhead_s * 1e9:.1f})")
        if gpu:
            out(f"gpu {gpu['cuda_name']}: " + ", ".join(f"{k} {v['flops_per_s'] / 1e12:.0f} TFLOP/s" for k, v in gpu["gemm"].items())
                + f"; HBM {gpu['add']['bandwidth_Bps'] / 1e12:.2f} TB/s; launch {gpu['launch']['seconds_per_kernel'] * 1e6:.1f} us; "
                f"host->device {gpu['h2d']['bandwidth_Bps'] / 1e9:.1f} GB/s")  # fmt: skip
        else:
            out(f"gpu: skipped ({why})")
    profile["calibration"] = calibration
    result: dict[str, Any] = {"profile": str(path)}
    if validate_models:
        _write_profile(path, profile)  # validate against what was just measured
        catalog = load_catalog(profile=path)
        v = validate(validate_models, catalog=catalog, builtin=builtin, runs=runs, input_shapes=input_shapes,
                     progress=progress)  # fmt: skip
        print_validation(v, out=out)
        if v.correction is not None:
            profile.setdefault("corrections", {})[host] = v.correction
        result["validation"] = validation_json(v)
        if report:
            Path(report).parent.mkdir(parents=True, exist_ok=True)
            Path(report).write_text(json.dumps(result["validation"], indent=1, default=float) + "\n")
            out(f"wrote {report}")
    _write_profile(path, profile)
    out(f"wrote {path}")
    return result


def _write_profile(path: Path, profile: Mapping[str, Any]) -> None:
    header = (
        "hetc calibration profile: measured numbers for this machine, merged over the device catalog\n"
        "(see hetc/backends/devices/catalog.toml). Written by `hetc calibrate`; delete it to go back\n"
        "to the catalog's numbers."
    )
    data = {"schema": 1, **{k: v for k, v in profile.items() if k != "schema"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(dump_toml(data, header))
    tmp.replace(path)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
