"""hetc-fuse-horizontal: sibling MatMuls that read one activation become one MatMul.

Transformers project one activation several times with constant weights: BERT's/T5's
query, key and value, LLaMA's gate and up. Each projection is a GEMM launch that reads
the activation again. This graph rewrite, run before hetc-fuse, turns k such siblings

    y_i = MatMul(x, W_i) [+ b_i]        W_i: constant [K, N_i], b_i: constant [N_i]

into one GEMM over the concatenated weights, the biases in its epilogue, and one Split:

    Y = MatMul(x, concat(W_i, axis=1)) + concat(b_i)    ->  y_1..y_k = Split(Y, [N_i], axis=-1)

so the k GEMM launches become one GEMM and one Split (k -> 2 kernels) and x is read once.
Whatever follows a sibling (GELU, Reshape, a residual) still follows its Split output and
hetc-fuse groups it as before. A sibling without a bias gets zeros in the concatenated one.

Not fused: MatMuls reading different activations; weights that are not constants or not
2-D (batched weights); a MatMul whose activation is its second operand; non-float32
operands. A sibling whose result is a graph output is fine (the Split writes it).

The Split costs no kernel: hetc-fuse puts it in the GEMM's epilogue group and the loop
lowering stores each column range straight into its Split output (hetc.passes.loops.fused:
on a GPU one GEMM nest whose outputs are views of one range-major buffer; on the CPU one
register-tiled GEMM call per range). So on a GPU the k launches become one and x is read
once: a gain of (k-1) launches + (k-1)|x| bytes. On the CPU the k calls and the k reads of
x stay (the tiled GEMM reads x in place per call): no gain and no loss. `mode=cost` (the
default) fuses a sibling set only where the device's prices predict a gain (hetc-fuse's
prices: a 4 us launch on an H100 is worth ~13 MB of traffic), so the GPU fuses and the
CPU keeps its projections apart; `always` fuses every legal set, `off` none.

`@main` gets `hetc.horizontal_report` (JSON: device, mode, and per sibling set its ONNX
nodes, the new GEMM's node name, the predicted gain and whether it was fused), which
hetc-fuse copies into the compile report's `fusion.horizontal`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType, f32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from hetc.diagnostics import HetcError
from hetc.dialects import onnx as onnx_d
from hetc.passes.fuse import HORIZONTAL_ATTR, Price

HORIZONTAL_MODES = ("cost", "always", "off")


@dataclass
class Sibling:
    matmul: onnx_d.OnnxOp
    weight: np.ndarray  # [K, N]
    bias_op: onnx_d.OnnxOp | None
    bias: np.ndarray | None  # [N]

    @property
    def result(self) -> SSAValue:
        """The value the rest of the graph reads: after the bias if there is one."""
        return (self.bias_op or self.matmul).results[0]


def _shape(v: SSAValue) -> list[int]:
    return list(v.type.get_shape()) if isinstance(v.type, TensorType) else []


def _is_f32(v: SSAValue) -> bool:
    return isinstance(v.type, TensorType) and v.type.get_element_type() == f32


def _sibling(op: Operation) -> Sibling | None:
    """`op` as a horizontal-fusion candidate: MatMul(x, constant 2-D W) in float32, with
    its constant per-column bias Add when that is its only user."""
    if not isinstance(op, onnx_d.OnnxOp) or op.OP_TYPE != "MatMul" or "hetc.layout" in op.attributes:
        return None
    x, w = op.operands[0], op.operands[1]
    weight = onnx_d.constant_value(w)
    if weight is None or weight.ndim != 2 or onnx_d.constant_value(x) is not None:
        return None
    if not (_is_f32(x) and _is_f32(w) and _is_f32(op.results[0])) or len(_shape(x)) < 2:
        return None
    r = op.results[0]
    uses = list(r.uses)
    if len(uses) == 1:
        user = uses[0].operation
        if isinstance(user, onnx_d.OnnxOp) and user.OP_TYPE == "Add" and _shape(user.results[0]) == _shape(r):
            other = user.operands[1] if user.operands[0] is r else user.operands[0]
            b = onnx_d.constant_value(other) if other is not r else None
            n = weight.shape[1]
            if b is not None and b.size == n and b.dtype == np.float32 and _shape(other)[-1:] == [n]:
                return Sibling(op, weight, user, b.reshape(n))
    return Sibling(op, weight, None, None)


def _nbytes(v: SSAValue) -> int:
    return 4 * int(np.prod(_shape(v), dtype=np.int64))


def sibling_sets(fn: func.FuncOp) -> list[list[Sibling]]:
    """Candidate sets: the MatMuls of each activation with constant 2-D weights (two or more)."""
    by_input: dict[SSAValue, list[Sibling]] = defaultdict(list)
    for op in fn.body.block.ops:
        s = _sibling(op)
        if s is not None:
            by_input[op.operands[0]].append(s)
    return [sibs for sibs in by_input.values() if len(sibs) >= 2]


def gain_seconds(sibs: list[Sibling], price: Price) -> float:
    """Predicted seconds saved by fusing `sibs` on the priced device (0: nothing either
    way). The Split after the GEMM is free (its column ranges are stored straight into
    its outputs): on a GPU (one launch) the k launches become one and x is read once;
    on a CPU the lowering makes one tiled GEMM call per range, so calls and traffic stay."""
    k = len(sibs)
    if price.dev is not None and price.dev.kind == "cpu":
        return 0.0
    x = sibs[0].matmul.operands[0]
    return (k - 1) * (price.launch_s + _nbytes(x) / price.bandwidth_Bps)


def _name(op: Operation) -> str:
    return op.node_name or op.OP_TYPE


def _rewrite(fn: func.FuncOp, sibs: list[Sibling]) -> str:
    """Replace the siblings by MatMul + [Add] + Split before the first of them; returns
    the new GEMM's node name."""
    block = fn.body.block
    first = min((s.matmul for s in sibs), key=block.get_operation_index)
    x = first.operands[0]
    widths = [s.weight.shape[1] for s in sibs]
    total = sum(widths)
    out_shape = _shape(x)[:-1] + [total]
    name = f"{_name(sibs[0].matmul)}+{len(sibs) - 1}"  # the first sibling's node, and how many joined it
    node = {onnx_d.NODE_NAME_ATTR: StringAttr(name)}

    def insert(op: Operation) -> Operation:
        block.insert_op_before(op, first)
        return op

    w = insert(onnx_d.constant_op(np.concatenate([s.weight for s in sibs], axis=1), "w_hcat")).results[0]
    big = insert(onnx_d.build_op("MatMul", [x, w], [TensorType(f32, out_shape)]))
    big.attributes.update(node)
    y = big.results[0]
    if any(s.bias is not None for s in sibs):
        b = np.concatenate([s.bias if s.bias is not None else np.zeros(n, np.float32) for s, n in zip(sibs, widths)])
        bc = insert(onnx_d.constant_op(b.astype(np.float32), "b_hcat")).results[0]
        add = insert(onnx_d.build_op("Add", [y, bc], [TensorType(f32, out_shape)]))
        add.attributes.update(node)
        y = add.results[0]
    split_c = insert(onnx_d.constant_op(np.array(widths, np.int64), "split")).results[0]
    split = insert(onnx_d.build_op("Split", [y, split_c], [s.result.type for s in sibs], axis=len(out_shape) - 1))
    split.attributes.update(node)
    for s, r in zip(sibs, split.results):
        s.result.replace_all_uses_with(r)
        if s.bias_op is not None:
            block.erase_op(s.bias_op)
        block.erase_op(s.matmul)
    return name


def fuse_horizontal(module: ModuleOp, device: str = "cpu", mode: str = "cost") -> list[dict]:
    """Rewrite every profitable (`cost`) or legal (`always`) sibling set; returns and
    records on each function the report entries."""
    if mode not in HORIZONTAL_MODES:
        raise HetcError(f"hetc-fuse-horizontal: unknown mode '{mode}' ({', '.join(HORIZONTAL_MODES)})")
    price = Price.of(device)
    entries: list[dict] = []
    for fn in [op for op in module.ops if isinstance(op, func.FuncOp)]:
        mine = []
        for sibs in sibling_sets(fn) if mode != "off" else []:
            gain = gain_seconds(sibs, price)
            fused = mode == "always" or gain > 0
            entry = {
                "nodes": [_name(s.matmul) for s in sibs],
                "widths": [int(s.weight.shape[1]) for s in sibs],
                "bias": any(s.bias is not None for s in sibs),
                "predicted_gain_s": gain,
                "fused": fused,
            }
            if fused:
                entry["into"] = _rewrite(fn, sibs)
            mine.append(entry)
        fn.attributes[HORIZONTAL_ATTR] = StringAttr(json.dumps({"device": price.device, "mode": mode, "sets": mine}))
        entries += mine
    return entries


@dataclass(frozen=True)
class FuseHorizontal(ModulePass):
    name = "hetc-fuse-horizontal"

    #: cost (fuse where the device's prices predict a gain) | always | off
    mode: str = "cost"
    #: the catalog device whose launch overhead and bandwidth price the rewrite
    device: str = "cpu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fuse_horizontal(op, self.device, self.mode)
