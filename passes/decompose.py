"""hetc-decompose: composite ONNX ops into primitives later passes want.

- Gemm -> [Transpose] MatMul [Transpose], Mul by alpha, Add beta*C
- LayerNormalization (only Y used, float32/64) -> ReduceMean, Sub, Mul, Add, Sqrt, Div
- Softmax / LogSoftmax -> ReduceMax, Sub, Exp, ReduceSum, Div (Log, Sub)
- BatchNormalization at inference with constant statistics -> Mul, Add by per-channel
  constants (scale / sqrt(var + eps), B - mean * that); with runtime parameters ->
  the same as graph ops on [C, 1, ...] Reshapes of them; in training mode -> batch
  statistics (ReduceMean over all axes but 1), and the running mean / var outputs
- InstanceNormalization -> ReduceMean over the spatial axes, Sub, Mul, Add, Sqrt, Div,
  then per-channel Mul and Add (constants, or Reshapes of runtime scale / bias)
- GroupNormalization -> Reshape to N x groups x rest, the same normalization over the
  last axis, Reshape back, per-channel Mul and Add
- Einsum that is a plain float contraction (one or two operands, no label repeated
  within an operand, no broadcast dims) -> [ReduceSum] [Transpose] [Reshape] MatMul
  [Reshape] [Transpose], so it runs on the GEMM ('bhqd,bhkd->bhqk' is one Transpose
  and a batched MatMul); diagonals, three or more operands and integers stay Einsum

The new ops carry the original node's name, so reports and comments still point at
the ONNX node they came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NoneType, TensorType, f32, f64
from xdsl.passes import ModulePass

from hetc.dialects import onnx as onnx_d
from hetc.passes.einsum import decompose_einsum

DEFAULT_OPS = (
    "Gemm", "LayerNormalization", "Softmax", "LogSoftmax", "BatchNormalization", "InstanceNormalization", "Einsum",
    "GroupNormalization",
)


class _Builder:
    """Inserts new ops before `anchor`, tagged with the anchor's node name."""

    def __init__(self, anchor: onnx_d.OnnxOp) -> None:
        self.anchor = anchor

    def op(self, op_type: str, operands: list, result_type, **attrs):
        new = onnx_d.build_op(op_type, operands, [result_type], **attrs)
        if self.anchor.node_name:
            new.attributes[onnx_d.NODE_NAME_ATTR] = self.anchor.attributes[onnx_d.NODE_NAME_ATTR]
        self.anchor.parent.insert_op_before(new, self.anchor)
        return new.results[0]

    def const(self, array: np.ndarray, hint: str = "c"):
        new = onnx_d.constant_op(array, hint)
        self.anchor.parent.insert_op_before(new, self.anchor)
        return new.results[0]


def _attr(op, name, default=None):
    a = op.attributes.get(name)
    return default if a is None else onnx_d.attribute_to_python(a)


def _ttype(elem, shape) -> TensorType:
    return TensorType(elem, list(shape))


def _present(v) -> bool:
    return v is not None and not isinstance(v.type, NoneType)


def _gemm(op) -> bool:
    a, b = op.operands[0], op.operands[1]
    c = op.operands[2] if len(op.operands) > 2 and _present(op.operands[2]) else None
    y = op.results[0]
    elem = y.type.get_element_type()
    dtype = onnx_d.numpy_dtype(elem)
    bld = _Builder(op)
    if _attr(op, "transA", 0):
        m, k = a.type.get_shape()
        a = bld.op("Transpose", [a], _ttype(elem, (k, m)), perm=[1, 0])
    if _attr(op, "transB", 0):
        n, k = b.type.get_shape()
        b = bld.op("Transpose", [b], _ttype(elem, (k, n)), perm=[1, 0])
    out = bld.op("MatMul", [a, b], y.type)
    alpha, beta = _attr(op, "alpha", 1.0), _attr(op, "beta", 1.0)
    if alpha != 1.0:
        out = bld.op("Mul", [out, bld.const(np.array(alpha, dtype=dtype), "alpha")], y.type)
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = bld.op("Mul", [c, bld.const(np.array(beta, dtype=dtype), "beta")], c.type)
        out = bld.op("Add", [out, c], y.type)
    y.replace_all_uses_with(out)
    return True


def _normalized(bld: _Builder, x, axes: list[int], eps: float):
    """(x - mean) / sqrt(var + eps) over `axes` (kept as size-1 dims), as primitives."""
    elem = x.type.get_element_type()
    reduced = [1 if i in axes else d for i, d in enumerate(x.type.get_shape())]
    axes_c = bld.const(np.array(axes, dtype=np.int64), "axes")
    mean = bld.op("ReduceMean", [x, axes_c], _ttype(elem, reduced), keepdims=1)
    d = bld.op("Sub", [x, mean], x.type)
    var = bld.op("ReduceMean", [bld.op("Mul", [d, d], x.type), axes_c], _ttype(elem, reduced), keepdims=1)
    eps_c = bld.const(np.array(eps, dtype=onnx_d.numpy_dtype(elem)), "eps")
    std = bld.op("Sqrt", [bld.op("Add", [var, eps_c], var.type)], var.type)
    return bld.op("Div", [d, std], x.type)


def _layer_norm(op) -> bool:
    if any(r.uses for r in op.results[1:]):
        return False
    x = op.operands[0]
    elem = x.type.get_element_type()
    if elem not in (f32, f64):
        return False  # fp16 computes in fp32 (stash_type); keep the fused op
    scale = op.operands[1]
    bias = op.operands[2] if len(op.operands) > 2 and _present(op.operands[2]) else None
    shape = list(x.type.get_shape())
    rank = len(shape)
    axis = _attr(op, "axis", -1) % rank
    eps = _attr(op, "epsilon", 1e-5)
    bld = _Builder(op)
    y = bld.op("Mul", [_normalized(bld, x, list(range(axis, rank)), eps), scale], op.results[0].type)
    if bias is not None:
        y = bld.op("Add", [y, bias], op.results[0].type)
    op.results[0].replace_all_uses_with(y)
    return True


def _per_channel(bld: _Builder, v, rank: int, dtype, hint: str):
    """A [C] parameter shaped [C, 1, ...] to broadcast over N x C x D1 x ... (a constant
    when `v` is one, else a Reshape of the runtime value)."""
    shape = [-1] + [1] * max(rank - 2, 0)
    array = onnx_d.constant_value(v)
    if array is not None:
        return bld.const(array.astype(dtype).reshape(shape), hint)
    if rank <= 2:
        return v
    c = v.type.get_shape()[0]
    target = bld.const(np.array([c] + [1] * (rank - 2), dtype=np.int64), "shape")
    return bld.op("Reshape", [v, target], _ttype(v.type.get_element_type(), [c] + [1] * (rank - 2)))


def _channel_params_ok(op, x, params) -> bool:
    """Float32/64 input, per-channel [C] parameters of the same type."""
    elem = x.type.get_element_type()
    shape = list(x.type.get_shape())
    if elem not in (f32, f64) or len(shape) < 2:
        return False
    return all(
        isinstance(p.type, TensorType) and p.type.get_element_type() == elem and list(p.type.get_shape()) == [shape[1]]
        for p in params
    )


def _instance_norm(op) -> bool:
    """Per (sample, channel) normalization over the spatial axes, then per-channel scale and bias."""
    x = op.operands[0]
    scale, bias = op.operands[1], op.operands[2]
    rank = len(x.type.get_shape())
    if rank < 3 or not _channel_params_ok(op, x, [scale, bias]):
        return False
    dtype = onnx_d.numpy_dtype(x.type.get_element_type())
    bld = _Builder(op)
    normalized = _normalized(bld, x, list(range(2, rank)), _attr(op, "epsilon", 1e-5))
    y = bld.op("Mul", [normalized, _per_channel(bld, scale, rank, dtype, "scale")], x.type)
    y = bld.op("Add", [y, _per_channel(bld, bias, rank, dtype, "bias")], x.type)
    op.results[0].replace_all_uses_with(y)
    return True


def _group_norm(op) -> bool:
    """Statistics per (sample, group of C / num_groups channels) over those channels and
    the spatial axes: a Reshape to N x G x rest, the normalization over the last axis, a
    Reshape back, then per-channel scale and bias."""
    x = op.operands[0]
    scale, bias = op.operands[1], op.operands[2]
    shape = list(x.type.get_shape())
    rank = len(shape)
    groups = _attr(op, "num_groups")
    if not groups or not _channel_params_ok(op, x, [scale, bias]) or shape[1] % groups:
        return False
    elem = x.type.get_element_type()
    dtype = onnx_d.numpy_dtype(elem)
    grouped = [shape[0], groups, int(np.prod(shape[1:], dtype=np.int64)) // groups]
    bld = _Builder(op)
    xg = bld.op("Reshape", [x, bld.const(np.array(grouped, dtype=np.int64), "shape")], _ttype(elem, grouped))
    normalized = _normalized(bld, xg, [2], _attr(op, "epsilon", 1e-5))
    normalized = bld.op("Reshape", [normalized, bld.const(np.array(shape, dtype=np.int64), "shape")], x.type)
    y = bld.op("Mul", [normalized, _per_channel(bld, scale, rank, dtype, "scale")], x.type)
    y = bld.op("Add", [y, _per_channel(bld, bias, rank, dtype, "bias")], x.type)
    op.results[0].replace_all_uses_with(y)
    return True


def _softmax(op, log: bool) -> bool:
    x = op.operands[0]
    elem = x.type.get_element_type()
    shape = list(x.type.get_shape())
    if not shape:
        return False
    axis = _attr(op, "axis", -1) % len(shape)
    reduced = [1 if i == axis else d for i, d in enumerate(shape)]
    bld = _Builder(op)
    axes_c = bld.const(np.array([axis], dtype=np.int64), "axes")
    m = bld.op("ReduceMax", [x, axes_c], _ttype(elem, reduced), keepdims=1)
    shifted = bld.op("Sub", [x, m], x.type)
    e = bld.op("Exp", [shifted], x.type)
    s = bld.op("ReduceSum", [e, axes_c], _ttype(elem, reduced), keepdims=1)
    if log:
        y = bld.op("Sub", [shifted, bld.op("Log", [s], s.type)], x.type)
    else:
        y = bld.op("Div", [e, s], x.type)
    op.results[0].replace_all_uses_with(y)
    return True


def _batch_norm(op) -> bool:
    training = _attr(op, "training_mode", 0)
    if not training and any(r.uses for r in op.results[1:]):
        return False
    params = [onnx_d.constant_value(v) for v in op.operands[1:5]]
    if not training and all(p is not None for p in params):
        return _batch_norm_folded(op, params)
    return _batch_norm_runtime(op, bool(training))


def _batch_norm_folded(op, params) -> bool:
    """Inference with constant statistics: x * a + b by per-channel constants."""
    x = op.operands[0]
    scale, bias, mean, var = params
    dtype = onnx_d.numpy_dtype(x.type.get_element_type())
    eps = _attr(op, "epsilon", 1e-5)
    a = (scale / np.sqrt(var + np.asarray(eps, dtype=var.dtype))).astype(dtype)
    b = (bias - mean * a).astype(dtype)
    rank = len(x.type.get_shape())
    bshape = [-1] + [1] * max(rank - 2, 0)
    bld = _Builder(op)
    y = bld.op("Mul", [x, bld.const(a.reshape(bshape), "bn_scale")], x.type)
    y = bld.op("Add", [y, bld.const(b.reshape(bshape), "bn_shift")], x.type)
    op.results[0].replace_all_uses_with(y)
    return True


def _batch_norm_runtime(op, training: bool) -> bool:
    """Runtime parameters, or training mode (statistics of the batch; the running
    mean / var outputs are input * momentum + batch statistic * (1 - momentum))."""
    x = op.operands[0]
    scale, bias, mean, var = op.operands[1:5]
    if not _channel_params_ok(op, x, [scale, bias, mean, var]):
        return False
    shape = list(x.type.get_shape())
    rank, channels = len(shape), shape[1]
    elem = x.type.get_element_type()
    dtype = onnx_d.numpy_dtype(elem)
    bld = _Builder(op)
    eps_c = bld.const(np.array(_attr(op, "epsilon", 1e-5), dtype=dtype), "eps")
    if not training:  # a = scale / sqrt(var + eps), y = (x - mean) * a + bias
        vec = _ttype(elem, [channels])
        a = bld.op("Div", [scale, bld.op("Sqrt", [bld.op("Add", [var, eps_c], vec)], vec)], vec)
        d = bld.op("Sub", [x, _per_channel(bld, mean, rank, dtype, "mean")], x.type)
        y = bld.op("Mul", [d, _per_channel(bld, a, rank, dtype, "bn_scale")], x.type)
        y = bld.op("Add", [y, _per_channel(bld, bias, rank, dtype, "bias")], x.type)
        op.results[0].replace_all_uses_with(y)
        return True
    axes = [0] + list(range(2, rank))
    reduced = _ttype(elem, [1, channels] + [1] * (rank - 2))
    axes_c = bld.const(np.array(axes, dtype=np.int64), "axes")
    batch_mean = bld.op("ReduceMean", [x, axes_c], reduced, keepdims=1)
    d = bld.op("Sub", [x, batch_mean], x.type)
    batch_var = bld.op("ReduceMean", [bld.op("Mul", [d, d], x.type), axes_c], reduced, keepdims=1)
    std = bld.op("Sqrt", [bld.op("Add", [batch_var, eps_c], reduced)], reduced)
    y = bld.op("Mul", [bld.op("Div", [d, std], x.type), _per_channel(bld, scale, rank, dtype, "scale")], x.type)
    y = bld.op("Add", [y, _per_channel(bld, bias, rank, dtype, "bias")], x.type)
    op.results[0].replace_all_uses_with(y)
    momentum = _attr(op, "momentum", 0.9)
    for result, running, stat in ((op.results[1], mean, batch_mean), (op.results[2], var, batch_var)):
        if len(op.results) < 3 or isinstance(result.type, NoneType) or not result.uses:
            continue
        vec = result.type
        flat = bld.op("Reshape", [stat, bld.const(np.array([channels], dtype=np.int64), "shape")], vec)
        kept = bld.op("Mul", [running, bld.const(np.array(momentum, dtype=dtype), "momentum")], vec)
        new = bld.op("Mul", [flat, bld.const(np.array(1.0 - momentum, dtype=dtype), "one_minus_momentum")], vec)
        result.replace_all_uses_with(bld.op("Add", [kept, new], vec))
    return True


_RULES = {
    "Gemm": _gemm,
    "LayerNormalization": _layer_norm,
    "Softmax": lambda op: _softmax(op, log=False),
    "LogSoftmax": lambda op: _softmax(op, log=True),
    "BatchNormalization": _batch_norm,
    "InstanceNormalization": _instance_norm,
    "GroupNormalization": _group_norm,
    "Einsum": decompose_einsum,
}


def decompose(module: ModuleOp, ops: tuple[str, ...] = DEFAULT_OPS) -> int:
    done = 0
    for op in list(module.walk()):
        if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE in ops and op.OP_TYPE in _RULES:
            if op.results[0].uses and _RULES[op.OP_TYPE](op):
                if all(not r.uses for r in op.results):
                    op.parent.erase_op(op)
                done += 1
    return done


@dataclass(frozen=True)
class Decompose(ModulePass):
    """`ops` picks which composite ops to decompose (comma-separated in hetc-opt)."""

    name = "hetc-decompose"
    ops: tuple[str, ...] = field(default=DEFAULT_OPS)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        decompose(op, tuple(self.ops))
