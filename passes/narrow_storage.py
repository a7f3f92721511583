"""hetc-narrow-storage: float16 / bfloat16 *storage* for the loop-level IR, float32 compute.

Why: the loop lowering (convert-onnx-to-loops) computes GEMMs, convolutions, pools,
reductions, layer norms and softmax in float32 only. Teaching every lowering narrow
types would multiply the code; halving the bytes that move is most of what fp16 buys
on a CPU, and what lets a GPU feed its tensor cores. So narrowing is a storage decision
taken once, after the loop lowering and before hetc-plan-memory (which then packs the
smaller buffers): intermediates and weights live as f16/bf16, kernels convert on the
way in and out, and everything in registers (loads after `arith.extf`, accumulators in
`memref.alloca` temporaries) stays float32. Rounding happens once per stored element
(twice where a GEMM epilogue re-reads its own output: store, reload, finish, store).

How:
1. Union-find over the buffers of @main: an alloc, a weight (`memref.get_global`, one
   node per global), the views of either (`memref.reinterpret_cast` and other view ops),
   both sides of a `memref.copy`, and every buffer passed to the same argument of the
   same kernel (at any call site) end up in one group, because they must share one
   element type.
2. A group is narrowed when every member is float32 and nothing pins it: a model input
   or output (the @main arguments stay float32, like onnxconverter's keep_io_types), an
   op of @main this pass does not know, a kernel that uses the buffer other than by
   `memref.load`/`memref.store`/views (a nested call, say), a global also read outside
   @main, a scalar weight (nothing to save, and an epsilon like 1e-12 would flush to zero
   in f16), or (f16 only) a weight with a finite value that rounds to infinity (|x| >= 65520).
   Integer, bool and f64 buffers are never touched (a group with any non-f32 member stays).
   Kernels are not cloned when two call sites disagree: the buffers passed to one kernel
   argument are joined instead. The loop lowering creates one kernel per call, so in
   practice a join costs nothing, and it keeps the one-kernel-per-call invariant the
   reports and the profiler's labels rely on.
3. Rewrite: globals get their initial value rounded to nearest even (NumPy's float16,
   ml_dtypes' bfloat16); allocs, get_globals and views in @main, and the narrowed kernel
   arguments (and their in-kernel views) are retyped; each `memref.load` from a narrowed
   memref is followed by `arith.extf` to f32 (its users now read the extf) and each
   `memref.store` into one stores `arith.truncf` of its f32 value, except a value that
   is narrow already: one just loaded from the same narrow type, or a select of such
   values and constants the type holds (copies, transposes, im2col and pad stay bit
   copies). Both conversions carry `hetc.storage`: the C printer uses fast, bit-exact
   helpers for them (backends/c/target.py), the CUDA printer may use its own.
   Loop structure and attributes (`hetc.gemm`, `hetc.parallel`, ...) are untouched.

Options: `type=f16|bf16|auto|none` (default auto). auto narrows to the type a module
attribute `hetc.narrow_storage = "f16" | "bf16"` names (set by a graph pass for models
whose floats were already narrow), else does nothing; none does nothing.

Output: @main's `hetc.narrow_storage_report`, a JSON string: the type, how many buffers
and weights were narrowed, their bytes before and after, the io element types, the
buffers kept float32 by reason, and the extf/truncf ops added. The C and CUDA targets
copy it into report.json ("narrow_storage"). `precision_pass_options` maps the targets'
`precision` option onto this pass's `type` (compiler/api.py applies it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np
from hetc.diagnostics import HetcError
from hetc.dialects import onnx as onnx_d
from xdsl.context import Context
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    FloatAttr,
    MemRefType,
    ModuleOp,
    StringAttr,
    UnitAttr,
    f32,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

#: storage type name -> (xDSL type, NumPy dtype)
NARROW_TYPES: dict[str, tuple[Attribute, np.dtype]] = {
    "f16": (Float16Type(), np.dtype(np.float16)),
    "bf16": (BFloat16Type(), np.dtype(ml_dtypes.bfloat16)),
}
TYPES = ("f16", "bf16", "auto", "none")
MODULE_ATTR = "hetc.narrow_storage"
#: scalar weights stay f32: nothing to save, and an epsilon (1e-12) would flush to 0 in f16
SCALAR_REASON = "scalar weight (nothing to save; an epsilon like 1e-12 would flush to 0 in f16)"
REPORT_ATTR = "hetc.narrow_storage_report"
#: on the extf/truncf this pass adds: storage conversions (a printer may use fast
#: helpers or hardware conversions for them; backends/c/target.py STORAGE_HELPERS)
STORAGE_ATTR = "hetc.storage"

#: the C and CUDA targets' `precision` option -> this pass's `type`
#: (fp32/tf32: float32 storage; tf32 is about the GEMM inputs on the tensor cores only)
PRECISION_STORAGE = {"fp32": "none", "tf32": "none", "fp16": "f16", "bf16": "bf16"}
C_PRECISIONS = {
    "fp32": "float32 buffers and weights (default)",
    "fp16": "float16 intermediates and weights, float32 compute and io (half the bytes; checks the GPU's fp16 path on a CPU)",
    "bf16": "bfloat16 intermediates and weights, float32 compute and io",
}
CUDA_PRECISIONS = {
    "fp32": "exact float32 GEMMs on the CUDA cores (default)",
    "tf32": "float32 data, GEMMs on the tensor cores with 10-bit mantissa inputs",
    "fp16": "float16 intermediates and weights (float32 io and accumulation), fp16 GEMMs on the tensor cores",
    "bf16": "bfloat16 intermediates and weights (float32 io and accumulation), bf16 GEMMs on the tensor cores",
}


def precision_pass_options(target: str, target_options: Mapping[str, object] | None) -> str:
    """hetc-narrow-storage's options for the C or CUDA target's `precision` target option:
    "type=f16" / "type=bf16" / "type=none", or "" (auto) when no precision is given.
    An unknown precision is a HetcError that lists the valid ones."""
    precision = (target_options or {}).get("precision")
    if target not in ("c", "cuda") or precision is None:
        return ""
    valid = C_PRECISIONS if target == "c" else CUDA_PRECISIONS
    if precision not in valid:
        raise HetcError(
            f"unknown {'C' if target == 'c' else 'CUDA'} precision '{precision}' (valid: {', '.join(valid)}): "
            + "; ".join(f"{k} = {v}" for k, v in valid.items())
        )
    return f"type={PRECISION_STORAGE[str(precision)]}"


def storage_precision(module: ModuleOp) -> str | None:
    """"fp16" / "bf16" when hetc-narrow-storage narrowed `module` (auto mode included), else None:
    the precision a target should print with when the caller named none."""
    main = next((op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main"), None)
    attr = main.attributes.get(REPORT_ATTR) if main is not None else None
    if not isinstance(attr, StringAttr):
        return None
    return {"f16": "fp16", "bf16": "bf16"}.get(json.loads(attr.data).get("type"))


#: ops of @main or a kernel whose result is a view of their first operand (same bytes)
VIEW_OPS = (
    memref.ReinterpretCastOp,
    memref.CastOp,
    memref.SubviewOp,
    memref.CollapseShapeOp,
    memref.ExpandShapeOp,
)


class _UnionFind:
    """Union-find with path halving over hashable keys."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: object, b: object) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


@dataclass
class _Group:
    """The buffers that must share one element type, and why they stay float32 (if so)."""

    allocs: list[memref.AllocOp] = field(default_factory=list)
    globals: list[str] = field(default_factory=list)
    all_f32: bool = True
    reasons: list[str] = field(default_factory=list)


def _is_f32_memref(t: Attribute) -> bool:
    return isinstance(t, MemRefType) and isinstance(t.get_element_type(), Float32Type)


@functools.lru_cache(maxsize=4096)  # (building a MemRefType is the slow part of this pass)
def _with_element(t: MemRefType, element: Attribute) -> MemRefType:
    return MemRefType(element, t.get_shape(), t.layout, t.memory_space)


def _nbytes(t: MemRefType) -> int:
    return int(np.prod(t.get_shape(), dtype=np.int64)) * max(1, t.get_element_type().bitwidth // 8)


def _name(v: SSAValue, fallback: str) -> str:
    return v.name_hint or fallback


def _kernel_arg_pins(fn: func.FuncOp) -> dict[int, str]:
    """Arguments of kernel `fn` it uses other than by load, store or a view of them:
    argument index -> the reason they cannot be narrowed."""
    pins: dict[int, str] = {}
    for i, arg in enumerate(fn.body.block.args):
        if not isinstance(arg.type, MemRefType):
            continue
        todo: list[SSAValue] = [arg]
        while todo and i not in pins:
            ref = todo.pop()
            for use in ref.uses:
                op = use.operation
                if isinstance(op, memref.LoadOp) and use.index == 0:
                    continue
                if isinstance(op, memref.StoreOp) and use.index == 1:
                    continue
                if isinstance(op, VIEW_OPS) and use.index == 0:
                    todo.append(op.results[0])
                    continue
                pins[i] = f"kernel {fn.sym_name.data} uses it in {op.name}"
                break
    return pins


def _narrow_array(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round to nearest even (NumPy's float16 cast, ml_dtypes' bfloat16 cast)."""
    with np.errstate(all="ignore"):
        return np.ascontiguousarray(values.astype(np.float32).astype(dtype))


def _out_of_range(values: np.ndarray, dtype: np.dtype) -> float | None:
    """The largest finite |value| if some finite value rounds to infinity in `dtype`
    (float16: |x| >= 65520), else None."""
    finite = values[np.isfinite(values)]
    if not finite.size or not np.isinf(_narrow_array(finite, dtype)).any():
        return None
    return float(np.abs(finite).max())


def _extend_loads(refs: Iterable[SSAValue], narrow: Attribute) -> int:
    """Loads from `refs` (kernel arguments already retyped, and their in-kernel views,
    retyped here) are followed by an extf to f32 that their users read. Returns #extf."""
    n_ext = 0
    todo = list(refs)
    while todo:
        ref = todo.pop()
        for use in list(ref.uses):
            op = use.operation
            if isinstance(op, VIEW_OPS) and use.index == 0:
                todo.append(Rewriter.replace_value_with_new_type(op.results[0], _with_element(op.results[0].type, narrow)))
            elif isinstance(op, memref.LoadOp):
                if not op.res.uses:
                    Rewriter.replace_value_with_new_type(op.res, narrow)
                    continue
                raw = Rewriter.replace_value_with_new_type(op.res, narrow)
                ext = arith.ExtFOp(raw, f32)
                ext.attributes[STORAGE_ATTR] = UnitAttr()
                Rewriter.insert_op(ext, InsertPoint.after(op))
                raw.replace_uses_with_if(ext.result, lambda u, ext=ext: u.operation is not ext)
                n_ext += 1
    return n_ext


def _as_narrow(value: SSAValue, narrow: Attribute, dtype: np.dtype, before: memref.StoreOp) -> SSAValue | None:
    """`value` (f32) as a `narrow` value without rounding, where it is one already: an extf
    of a `narrow` value, a float constant the type holds exactly, or a select of two such
    (im2col's and pad's zero padding). None otherwise."""
    src = value.owner
    if isinstance(src, arith.ExtFOp) and src.input.type == narrow:
        return src.input
    if isinstance(src, arith.ConstantOp) and isinstance(src.value, FloatAttr):
        x = src.value.value.data
        if float(np.float32(x).astype(dtype)) != x and not np.isnan(x):
            return None
        const = arith.ConstantOp(FloatAttr(x, narrow))
        Rewriter.insert_op(const, InsertPoint.before(before))
        return const.result
    if isinstance(src, arith.SelectOp) and src.parent_block() is before.parent_block():
        a, b = (_as_narrow(v, narrow, dtype, before) for v in (src.lhs, src.rhs))
        if a is None or b is None:
            return None
        sel = arith.SelectOp(src.cond, a, b)
        Rewriter.insert_op(sel, InsertPoint.before(before))
        return sel.result
    return None


def _narrow_stores(fn: func.FuncOp, narrow: Attribute, dtype: np.dtype) -> int:
    """After the loads (`_extend_loads`): every store of an f32 value into a memref of
    element type `narrow` rounds it, except a value that is a `narrow` value already (a
    copy, a transpose, im2col's padding select: `_as_narrow`), which stores its bits.
    Returns #truncf."""
    n = 0
    for op in list(fn.walk()):
        if not isinstance(op, memref.StoreOp) or op.memref.type.get_element_type() != narrow:
            continue
        value = op.value
        if value.type == narrow:
            continue
        exact = _as_narrow(value, narrow, dtype, op)
        if exact is not None:
            op.operands[0] = exact
            _erase_dead(value.owner)
            continue
        trunc = arith.TruncFOp(value, narrow)
        trunc.attributes[STORAGE_ATTR] = UnitAttr()
        Rewriter.insert_op(trunc, InsertPoint.before(op))
        op.operands[0] = trunc.result
        n += 1
    return n


def _erase_dead(op: Operation | Block) -> None:
    """`op` and the ops only it used, once nothing reads them (not loads: they stay)."""
    if not isinstance(op, (arith.ExtFOp, arith.ConstantOp, arith.SelectOp)) or any(r.uses for r in op.results):
        return
    operands = [v.owner for v in op.operands]
    Rewriter.erase_op(op)
    for o in operands:
        if isinstance(o, Operation):
            _erase_dead(o)


def narrow_storage(module: ModuleOp, type_name: str) -> dict | None:
    """Narrow `module`'s float32 buffers and weights to `type_name` ("f16" or "bf16")
    where safe; returns the report (also set on @main), or None without a @main. A module
    narrowed before is left as it is (its report is returned)."""
    narrow, dtype = NARROW_TYPES[type_name]
    main = next((op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main"), None)
    if main is None or not main.body.blocks:
        return None
    if isinstance(main.attributes.get(REPORT_ATTR), StringAttr):  # narrowed once: its report stands
        return json.loads(main.attributes[REPORT_ATTR].data)
    kernels = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp) and op is not main}
    globals_ = {op.sym_name.data: op for op in module.ops if isinstance(op, memref.GlobalOp)}

    uf = _UnionFind()
    pins: dict[object, list[str]] = {}

    def pin(key: object, reason: str) -> None:
        pins.setdefault(key, []).append(reason)

    for arg in main.body.block.args:
        uf.find(arg)
        pin(arg, "model input/output (io stays float32)")
    for op in main.body.block.ops:
        if isinstance(op, memref.AllocOp):
            uf.find(op.memref)
        elif isinstance(op, memref.GetGlobalOp):
            uf.union(op.memref, ("global", op.name_.root_reference.data))
        elif isinstance(op, VIEW_OPS):
            uf.union(op.results[0], op.operands[0])
        elif isinstance(op, memref.CopyOp):
            uf.union(op.source, op.destination)
        elif isinstance(op, func.CallOp):
            callee = op.callee.root_reference.data
            body = kernels.get(callee)
            for k, a in enumerate(op.arguments):
                if not isinstance(a.type, MemRefType):
                    continue
                uf.union(a, ("arg", callee, k))
                if body is None or not body.body.blocks:
                    pin(a, f"passed to {callee}, which has no body here")
        elif isinstance(op, func.ReturnOp):
            continue
        else:
            for v in (*op.operands, *op.results):
                if isinstance(v.type, MemRefType):
                    uf.find(v)
                    pin(v, f"used by {op.name} in @main")
    for name, fn in kernels.items():
        if not fn.body.blocks:
            continue
        for k, reason in _kernel_arg_pins(fn).items():
            pin(("arg", name, k), reason)
        for op in fn.walk():
            if isinstance(op, memref.GetGlobalOp):
                pin(("global", op.name_.root_reference.data), f"read in kernel {name}")
            if isinstance(op, func.CallOp):  # a kernel calling a kernel: its buffers are not tracked
                for k, a in enumerate(op.arguments):
                    pin(("arg", op.callee.root_reference.data, k), f"passed on by kernel {name}")

    # groups: members' element types, their buffers, and the reasons collected above
    groups: dict[object, _Group] = {}

    def group(key: object) -> _Group:
        return groups.setdefault(uf.find(key), _Group())

    values: list[SSAValue] = [*main.body.block.args]
    for op in main.body.block.ops:
        values.extend(r for r in op.results if isinstance(r.type, MemRefType))
        if isinstance(op, memref.AllocOp):
            group(op.memref).allocs.append(op)
    for v in values:
        if not _is_f32_memref(v.type):
            group(v).all_f32 = False
    for key in list(uf.parent):
        if isinstance(key, tuple) and key[0] == "global" and key[1] not in globals_:
            pin(key, "no memref.global of that name")
    for name, fn in kernels.items():
        if not fn.body.blocks:
            continue
        for k, arg in enumerate(fn.body.block.args):
            if isinstance(arg.type, MemRefType) and ("arg", name, k) in uf.parent and not _is_f32_memref(arg.type):
                group(("arg", name, k)).all_f32 = False
    arrays: dict[str, np.ndarray] = {}
    for key in list(uf.parent):
        if isinstance(key, tuple) and key[0] == "global" and key[1] in globals_:
            g = globals_[key[1]]
            group(key).globals.append(key[1])
            if not _is_f32_memref(g.type) or not isinstance(g.initial_value, DenseIntOrFPElementsAttr):
                group(key).all_f32 = False
                continue
            arrays[key[1]] = onnx_d.numpy_from_dense(g.initial_value)
            top = _out_of_range(arrays[key[1]], dtype)
            if arrays[key[1]].size <= 1:
                pin(key, SCALAR_REASON)
            elif top is not None:
                pin(key, f"weight {key[1]} has |x| = {top:.4g} beyond {type_name}'s range")
    for key, reasons in pins.items():
        group(key).reasons.extend(reasons)

    chosen = {root for root, g in groups.items() if g.all_f32 and not g.reasons and (g.allocs or g.globals)}

    # -- rewrite ---------------------------------------------------------------------------
    io_names = [a.data for k in ("hetc.input_names", "hetc.output_names") if k in main.attributes for a in main.attributes[k].data]
    args = main.body.block.args
    io = {n: str(a.type.get_element_type()) for n, a in zip(io_names, args)} if len(io_names) == len(args) else {}
    report = {"type": type_name, "buffers_narrowed": 0, "weights_narrowed": 0, "buffer_bytes_f32": 0,
              "buffer_bytes": 0, "weight_bytes_f32": 0, "weight_bytes": 0, "io_types": io, "kept_f32": []}
    kept: dict[str, list[str]] = {}
    for root, g in groups.items():
        if root in chosen or not g.all_f32 or not (g.allocs or g.globals):
            continue
        kept.setdefault("; ".join(dict.fromkeys(g.reasons)), []).extend(
            [_name(a.memref, "alloc") for a in g.allocs] + g.globals
        )
    for reason, names in kept.items():  # one entry per reason (many scalars, say)
        report["kept_f32"].append({"buffers": names[:8] + ([f"... {len(names) - 8} more"] if len(names) > 8 else []),
                                   "reason": reason})
    for name, g in globals_.items():
        if uf.find(("global", name)) not in chosen or ("global", name) not in uf.parent:
            continue
        new_type = _with_element(g.type, narrow)
        report["weight_bytes_f32"] += _nbytes(g.type)
        report["weight_bytes"] += _nbytes(new_type)
        report["weights_narrowed"] += 1
        g.properties["type"] = new_type
        g.properties["initial_value"] = onnx_d.dense_from_numpy(_narrow_array(arrays[name], dtype))
    for op in list(main.body.block.ops):
        for r in op.results:
            if isinstance(r.type, MemRefType) and uf.find(r) in chosen:
                if isinstance(op, memref.AllocOp):
                    report["buffer_bytes_f32"] += _nbytes(r.type)
                    report["buffer_bytes"] += _nbytes(_with_element(r.type, narrow))
                    report["buffers_narrowed"] += 1
                Rewriter.replace_value_with_new_type(r, _with_element(r.type, narrow))
    n_ext = n_trunc = 0
    for name, fn in kernels.items():
        if not fn.body.blocks:
            continue
        args = fn.body.block.args
        retyped = [
            Rewriter.replace_value_with_new_type(a, _with_element(a.type, narrow))
            for k, a in enumerate(args)
            if ("arg", name, k) in uf.parent and uf.find(("arg", name, k)) in chosen
        ]
        if not retyped:
            continue
        fn.function_type = func.FunctionType.from_lists([a.type for a in fn.body.block.args], fn.function_type.outputs.data)
        n_ext += _extend_loads(retyped, narrow)
        n_trunc += _narrow_stores(fn, narrow, dtype)
    report["extf"], report["truncf"] = n_ext, n_trunc
    report["bytes_saved"] = (report["buffer_bytes_f32"] - report["buffer_bytes"]) + (
        report["weight_bytes_f32"] - report["weight_bytes"]
    )
    main.attributes[REPORT_ATTR] = StringAttr(json.dumps(report))
    return report


@dataclass(frozen=True)
class NarrowStorage(ModulePass):
    name = "hetc-narrow-storage"

    type: str = "auto"
    """f16 | bf16 | auto (the module attribute `hetc.narrow_storage`, if any) | none."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.type not in TYPES:
            raise HetcError(f"hetc-narrow-storage: type must be one of {', '.join(TYPES)}, not {self.type!r}")
        type_name = self.type
        if type_name == "auto":
            attr = op.attributes.get(MODULE_ATTR)
            if attr is None:
                return
            if not isinstance(attr, StringAttr) or attr.data not in NARROW_TYPES:
                raise HetcError(
                    f"module attribute {MODULE_ATTR} = {attr} names no storage type (f16 or bf16)",
                    op_type="builtin.module",
                )
            type_name = attr.data
        if type_name == "none":
            return
        narrow_storage(op, type_name)
