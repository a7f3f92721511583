"""hetc-choose-layout: NCHW or NHWC for each region of convolution tensors.

A region is a connected set of 4-D tensors joined by ops that can work channels-last:
2-D Conv with constant weights (group 1, or depthwise), Max/AveragePool,
GlobalAverage/MaxPool, float elementwise ops, and Concat. For every region the pass
prices both layouts with the shared cost model (GEMM tiles over FLOP/s, im2col,
padding and packing copies, and for NHWC the transposes where the region meets the
rest of the graph) and rewrites the region channels-last where that is predicted
faster: its ops get `hetc.layout = "NHWC"` and [N, H, W, C] types, per-channel
constants are transposed, and Transposes are inserted at the region's edges (they
cancel or fold with `hetc-canonicalize` / `hetc-fold-constants`).

The decision per region, with both predictions, is recorded on `@main` as
`hetc.layout_report` for the placement/fusion reports. Option `layout=nchw|nhwc`
forces one layout everywhere it is legal (for measurements and tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr, DictionaryAttr, FloatAttr, IntegerAttr, ModuleOp, NoneType, StringAttr, TensorType, f32, f64, i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from hetc.backends.cost_model import ConvShape, conv_seconds, transpose_seconds
from hetc.dialects import onnx as onnx_d
from hetc.passes.loops.ops import BINARY, UNARY, VARIADIC, _attr

LAYOUT_ATTR = "hetc.layout"
TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]
_ELEMENTWISE = UNARY | BINARY | VARIADIC


def _shape(v: SSAValue) -> list[int]:
    return list(v.type.get_shape()) if isinstance(v.type, TensorType) else []


def _is_4d_float(v: SSAValue) -> bool:
    return isinstance(v.type, TensorType) and len(v.type.get_shape()) == 4 and v.type.get_element_type() in (f32, f64)


def _present(v: SSAValue) -> bool:
    return not isinstance(v.type, NoneType)


def _region_operands(op: onnx_d.OnnxOp) -> list[SSAValue] | None:
    """The operands that are region tensors if `op` can work channels-last, else None."""
    t = op.OP_TYPE
    if not op.results or not _is_4d_float(op.results[0]):
        return None
    if t == "Conv":
        x, w = op.operands[0], op.operands[1]
        if onnx_d.constant_value(w) is None or any(_present(v) and onnx_d.constant_value(v) is None for v in op.operands[2:]):
            return None
        group = _attr(op, "group", 1)
        c, m, cg = _shape(x)[1], _shape(w)[0], _shape(w)[1]
        if group != 1 and not (group == c == m and cg == 1):
            return None
        return [x]
    if t in ("MaxPool", "AveragePool"):
        if len(op.results) > 1 and op.results[1].uses:
            return None
        if _attr(op, "storage_order", 0) or len(_attr(op, "kernel_shape") or []) != 2:
            return None
        return [op.operands[0]]
    if t in ("GlobalAveragePool", "GlobalMaxPool"):
        return [op.operands[0]]
    if t == "Concat":
        return list(op.operands) if all(_is_4d_float(v) for v in op.operands) else None
    if t in _ELEMENTWISE:
        tensors = []
        for v in op.operands:
            if not _present(v):
                continue
            if onnx_d.constant_value(v) is not None:
                if len(_shape(v)) > 4:
                    return None
                continue
            if not _is_4d_float(v):  # a runtime operand broadcast from lower rank
                return None
            tensors.append(v)
        return tensors
    return None


@dataclass
class Region:
    ops: list[onnx_d.OnnxOp] = field(default_factory=list)
    tensors: set[SSAValue] = field(default_factory=set)
    nchw_seconds: float = 0.0
    nhwc_seconds: float = 0.0
    convs: int = 0
    edges: int = 0
    choice: str = "NCHW"


def _conv_shape(op: onnx_d.OnnxOp) -> ConvShape:
    sx, sw, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
    pads = _attr(op, "pads") or [0] * 4
    padded = any(pads) or _attr(op, "auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER")
    strided = any(s != 1 for s in (_attr(op, "strides") or [1, 1]))
    return ConvShape(sx[1], sx[2], sx[3], so[1], so[2], so[3], sw[2], sw[3], _attr(op, "group", 1), padded, strided)


def find_regions(main: func.FuncOp) -> list[Region]:
    ops = [op for op in main.body.block.ops if isinstance(op, onnx_d.OnnxOp)]
    members = {op: _region_operands(op) for op in ops}
    members = {op: v for op, v in members.items() if v is not None}
    parent: dict[SSAValue, SSAValue] = {}

    def find(v):
        while parent.setdefault(v, v) is not v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for op, operands in members.items():
        for v in operands:
            parent[find(v)] = find(op.results[0])
    by_root: dict[SSAValue, Region] = {}
    for op in ops:
        if op in members:
            region = by_root.setdefault(find(op.results[0]), Region())
            region.ops.append(op)
            region.tensors.update([*members[op], op.results[0]])
    return [r for r in by_root.values() if any(op.OP_TYPE == "Conv" for op in r.ops)]


def _price(region: Region) -> None:
    in_region = set(region.ops)
    for op in region.ops:
        if op.OP_TYPE == "Conv":
            s = _conv_shape(op)
            n = _shape(op.operands[0])[0]
            region.nchw_seconds += n * conv_seconds(s, "NCHW")
            region.nhwc_seconds += n * conv_seconds(s, "NHWC")
            region.convs += 1
    for v in region.tensors:
        nbytes = 4 * int(np.prod(_shape(v)))
        produced_inside = isinstance(v.owner, Operation) and v.owner in in_region
        used_outside = any(u.operation not in in_region for u in v.uses)
        # NHWC pays a transpose where a tensor enters or leaves the region
        edges = (not produced_inside) + used_outside
        region.edges += edges
        region.nhwc_seconds += edges * transpose_seconds(nbytes)


def _to_nhwc_constant(array: np.ndarray) -> np.ndarray:
    """A constant broadcast against an NCHW tensor, re-laid out for the NHWC tensor."""
    full = array.reshape((1,) * (4 - array.ndim) + array.shape)
    return np.ascontiguousarray(full.transpose(TO_NHWC))


def _nhwc_type(t: TensorType) -> TensorType:
    shape = list(t.get_shape())
    return TensorType(t.get_element_type(), [shape[i] for i in TO_NHWC])


def _rewrite(region: Region) -> None:
    in_region = set(region.ops)
    nhwc: dict[SSAValue, SSAValue] = {}

    def channels_last(v: SSAValue, before: Operation) -> SSAValue:
        if v not in nhwc:  # enters the region: transpose once, after its producer
            tr = onnx_d.build_op("Transpose", [v], [_nhwc_type(v.type)], perm=TO_NHWC)
            tr.results[0].name_hint = (v.name_hint or "x") + "_nhwc"
            if isinstance(v.owner, Operation):
                v.owner.parent.insert_op_after(tr, v.owner)
            else:
                before.parent.insert_op_before(tr, before.parent.first_op)
            nhwc[v] = tr.results[0]
        return nhwc[v]

    for op in region.ops:
        operands = []
        t = op.OP_TYPE
        for i, v in enumerate(op.operands):
            if v in region.tensors and (t != "Conv" or i == 0):
                operands.append(channels_last(v, op))
            elif t in _ELEMENTWISE and _present(v) and onnx_d.constant_value(v) is not None and len(_shape(v)) > 0:
                const = onnx_d.constant_op(_to_nhwc_constant(onnx_d.constant_value(v)), (v.name_hint or "c") + "_nhwc")
                op.parent.insert_op_before(const, op)
                operands.append(const.results[0])
            else:
                operands.append(v)
        attrs = dict(op.attributes)
        if t == "Concat":
            axis = _attr(op, "axis") % 4
            attrs["axis"] = IntegerAttr(TO_NHWC.index(axis), i64)
        elif t not in _ELEMENTWISE:
            attrs[LAYOUT_ATTR] = StringAttr("NHWC")
        types = [_nhwc_type(r.type) if r in region.tensors else r.type for r in op.results]
        new = type(op).create(operands=operands, result_types=types, attributes=attrs)
        op.parent.insert_op_before(new, op)
        for old, res in zip(op.results, new.results):
            res.name_hint = old.name_hint
            if old not in region.tensors:
                old.replace_all_uses_with(res)
                continue
            nhwc[old] = res
            if any(u.operation not in in_region for u in old.uses):
                back = onnx_d.build_op("Transpose", [res], [old.type], perm=TO_NCHW)
                back.results[0].name_hint = old.name_hint
                op.parent.insert_op_after(back, new)
                old.replace_uses_with_if(back.results[0], lambda use: use.operation not in in_region)
    for op in reversed(region.ops):
        op.parent.erase_op(op)


def choose_layout(module: ModuleOp, force: str | None = None) -> list[Region]:
    regions = []
    for fn in [op for op in module.ops if isinstance(op, func.FuncOp)]:
        regions += _choose_in(fn, force)
    return regions


def _choose_in(main: func.FuncOp, force: str | None) -> list[Region]:
    regions = find_regions(main)
    for region in regions:
        _price(region)
        if force:
            region.choice = force.upper()
        else:
            region.choice = "NHWC" if region.nhwc_seconds < region.nchw_seconds else "NCHW"
        if region.choice == "NHWC":
            _rewrite(region)
    main.attributes["hetc.layout_report"] = ArrayAttr([
        DictionaryAttr({
            "layout": StringAttr(r.choice),
            "ops": IntegerAttr(len(r.ops), i64),
            "convs": IntegerAttr(r.convs, i64),
            "edge_transposes": IntegerAttr(r.edges, i64),
            "predicted_nchw_ms": FloatAttr(r.nchw_seconds * 1e3, f64),
            "predicted_nhwc_ms": FloatAttr(r.nhwc_seconds * 1e3, f64),
            "forced": StringAttr(force or ""),
        })
        for r in regions
    ])
    return regions


@dataclass(frozen=True)
class ChooseLayout(ModulePass):
    name = "hetc-choose-layout"

    #: "auto" (cost model), or "nchw" / "nhwc" to force one layout where legal
    layout: str = "auto"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        choose_layout(op, None if self.layout == "auto" else self.layout)
