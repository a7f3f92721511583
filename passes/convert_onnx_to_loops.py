"""convert-onnx-to-loops: lower `func.func @main` of onnx ops to loop-level kernels.

Every ONNX op becomes a kernel function of scf.for loops over memrefs (arith/math for
the scalar work); `@main` becomes the host program: inputs and outputs as memref
arguments, intermediates as `memref.alloc` (the memory planner gives them arena
offsets), weights as `memref.global`, reshapes as `memref.reinterpret_cast` views,
and one `func.call` per kernel. This is the level every C-family target prints
from, so nothing here is C: parallel loops carry `hetc.parallel`, GEMM tiles are
loop structure, and a target chooses threads, vector widths and memory spaces.

Convolutions pad into a scratch buffer, then im2col + a register-tiled GEMM (1x1
stride-1 convolutions skip im2col; depthwise convolutions get a direct kernel), with
bias fused into the GEMM's store. The op set is the one CNNs and the transformer
encoder need in float32; anything else is reported up front, by node and op.
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func, math, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    FloatAttr,
    IndexType,
    ModuleOp,
    MemRefType,
    NoneType,
    StringAttr,
    TensorType,
    UnitAttr,
    IntegerType,
    Signedness,
    f32,
    f64,
    i64,
)
from xdsl.ir import Attribute, Block, Region, SSAValue
from xdsl.passes import ModulePass

from hetc.diagnostics import UnsupportedError
from hetc.dialects import onnx as onnx_d
from hetc.passes.loop_builder import LoopBuilder, finish_kernel, new_kernel

#: GEMM register tile: MR rows x NR columns of accumulators. NR contiguous floats
#: vectorize: 6 x 32 float32 fill twelve 512-bit registers (AVX-512); targets with
#: narrower vectors set nr=16 (pass options).
GEMM_MR = 6
GEMM_NR = 32

def _acc_add(b, acc, x):
    return b.value(arith.AddfOp(acc, x))


#: reduction -> (initial value, step(acc, x), final(acc, count)); float32
REDUCTIONS: dict[str, tuple] = {
    "sum": (0.0, _acc_add, lambda b, a, n: a),
    "mean": (0.0, _acc_add, lambda b, a, n: b.value(arith.MulfOp(a, b.const(1.0 / max(n, 1), a.type)))),
    "max": (-np.inf, lambda b, a, x: b.value(arith.MaximumfOp(a, x)), lambda b, a, n: a),
    "min": (np.inf, lambda b, a, x: b.value(arith.MinimumfOp(a, x)), lambda b, a, n: a),
    "prod": (1.0, lambda b, a, x: b.value(arith.MulfOp(a, x)), lambda b, a, n: a),
    "l1": (0.0, lambda b, a, x: b.value(arith.AddfOp(a, b.value(math.AbsFOp(x)))), lambda b, a, n: a),
    "sumsquare": (0.0, lambda b, a, x: b.value(arith.AddfOp(a, b.value(arith.MulfOp(x, x)))), lambda b, a, n: a),
    "l2": (0.0, lambda b, a, x: b.value(arith.AddfOp(a, b.value(arith.MulfOp(x, x)))), lambda b, a, n: b.value(math.SqrtOp(a))),
    "logsum": (0.0, _acc_add, lambda b, a, n: b.value(math.LogOp(a))),
    "logsumexp": (0.0, lambda b, a, x: b.value(arith.AddfOp(a, b.value(math.ExpOp(x)))), lambda b, a, n: b.value(math.LogOp(a))),
}
REDUCE_OPS = {
    "ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min", "ReduceProd": "prod",
    "ReduceL1": "l1", "ReduceL2": "l2", "ReduceSumSquare": "sumsquare", "ReduceLogSum": "logsum",
    "ReduceLogSumExp": "logsumexp",
}


UNARY = {
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Reciprocal",
    "Floor", "Ceil", "LeakyRelu", "HardSigmoid", "HardSwish", "Gelu", "Clip", "Identity",
    "Softplus", "Elu", "Selu", "Mish", "Sin", "Cos",
}
BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "PRelu"}
VARIADIC = {"Max", "Min", "Sum", "Mean"}
COMPARE = {"Equal": ("oeq", "eq"), "Greater": ("ogt", "sgt"), "GreaterOrEqual": ("oge", "sge"),
           "Less": ("olt", "slt"), "LessOrEqual": ("ole", "sle")}
LOGICAL = {"Not", "And", "Or", "Xor"}
#: elementwise ops whose operands and result may be integers as well as float32
INT_OK = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Neg", "Abs", "Identity"}
#: ops that only move data: any element type with a C type
MOVEMENT = {
    "Reshape", "Transpose", "Concat", "Slice", "Split", "Gather", "GatherElements", "GatherND", "Expand", "Pad",
    "Constant", "Tile",
}
SUPPORTED = UNARY | BINARY | VARIADIC | set(COMPARE) | LOGICAL | MOVEMENT | {"Cast", "Where"} | {
    "MatMul", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    *REDUCE_OPS, "ArgMax", "ArgMin", "Resize", "ConvTranspose", "LayerNormalization", "CumSum", "LSTM", "GRU", "Reshape", "Transpose", "Concat", "Slice",
    "Constant", "Pad", "Split",
}


#: element types the C-family targets can hold in buffers (compute is float32 for now)
C_ELEMENT_TYPES = {f32, f64, IntegerType(1)} | {
    IntegerType(w, sign) for w in (8, 16, 32, 64) for sign in (Signedness.SIGNLESS, Signedness.UNSIGNED)
}


def _unsigned(t: Attribute) -> bool:
    return isinstance(t, IntegerType) and t.signedness.data == Signedness.UNSIGNED


def _shape(v: SSAValue) -> list[int]:
    return list(v.type.get_shape())


def _memref(t: TensorType) -> MemRefType:
    return MemRefType(t.get_element_type(), list(t.get_shape()))


def _attr(op: onnx_d.OnnxOp, name: str, default=None):
    a = op.attributes.get(name)
    return default if a is None else onnx_d.attribute_to_python(a)


def _const_array(op: onnx_d.OnnxOp, index: int) -> np.ndarray | None:
    if index >= len(op.operands) or isinstance(op.operands[index].type, NoneType):
        return None
    array = onnx_d.constant_value(op.operands[index])
    if array is None:
        raise UnsupportedError(
            f"input {index} must be a compile-time constant for the loop lowering",
            node=op.node_name, op_type=op.OP_TYPE,
        )
    return array


# ---------------------------------------------------------------------------
# Scalar semantics (float32)
# ---------------------------------------------------------------------------


def _int_scalar(b: LoopBuilder, t: str, xs: list[SSAValue]) -> SSAValue:
    """Integer semantics of the INT_OK ops (two's complement wrap, like ONNX)."""
    v = b.value
    x = xs[0]
    if t == "Identity":
        return x
    if t == "Neg":
        return v(arith.SubiOp(b.const(0, x.type), x))
    if t == "Abs":
        if _unsigned(x.type):
            return x
        return v(arith.SelectOp(v(arith.CmpiOp(x, b.const(0, x.type), "slt")), v(arith.SubiOp(b.const(0, x.type), x)), x))
    unsigned = _unsigned(x.type)
    if t == "Abs" and unsigned:
        return x
    # C's / truncates toward zero, as ONNX integer Div does
    combine = {"Add": arith.AddiOp, "Sum": arith.AddiOp, "Sub": arith.SubiOp, "Mul": arith.MuliOp,
               "Max": arith.MaxUIOp if unsigned else arith.MaxSIOp, "Min": arith.MinUIOp if unsigned else arith.MinSIOp,
               "Div": arith.DivUIOp if unsigned else arith.DivSIOp}[t]
    y = x
    for other in xs[1:]:
        y = v(combine(y, other))
    return y


def _cast(b: LoopBuilder, x: SSAValue, to: Attribute) -> SSAValue:
    """ONNX Cast between float32, integers and bool (float -> int truncates toward zero)."""
    src = x.type
    if src == to:
        return x
    v = b.value
    if to == IntegerType(1):
        if isinstance(src, IntegerType):
            return v(arith.CmpiOp(x, b.const(0, src), "ne"))
        return v(arith.CmpfOp(x, b.const(0.0, src), "une"))
    if isinstance(to, IntegerType):
        if src == IntegerType(1):
            return v(arith.ExtUIOp(x, to))
        if isinstance(src, IntegerType):
            if src.width.data < to.width.data:
                unsigned = src.signedness.data == Signedness.UNSIGNED
                return v(arith.ExtUIOp(x, to) if unsigned else arith.ExtSIOp(x, to))
            return v(arith.TruncIOp(x, to))
        return v(arith.FPToSIOp(x, to) if to.signedness.data != Signedness.UNSIGNED else arith.FPToUIOp(x, to))
    # to float
    if src == IntegerType(1) or (isinstance(src, IntegerType) and src.signedness.data == Signedness.UNSIGNED):
        return v(arith.UIToFPOp(x, to))
    return v(arith.SIToFPOp(x, to))


def _scalar(b: LoopBuilder, op: onnx_d.OnnxOp, xs: list[SSAValue]) -> SSAValue:
    t = op.OP_TYPE
    v = b.value
    if t == "Where":
        return v(arith.SelectOp(xs[0], xs[1], xs[2]))
    if t == "Cast":
        return _cast(b, xs[0], op.results[0].type.get_element_type())
    if t in COMPARE:
        fp, ip = COMPARE[t]
        if isinstance(xs[0].type, IntegerType):
            return v(arith.CmpiOp(xs[0], xs[1], ip.replace("s", "u", 1) if _unsigned(xs[0].type) else ip))
        return v(arith.CmpfOp(xs[0], xs[1], fp))
    if t in LOGICAL:
        if t == "Not":
            return v(arith.XOrIOp(xs[0], b.const(1, xs[0].type)))
        return v({"And": arith.AndIOp, "Or": arith.OrIOp, "Xor": arith.XOrIOp}[t](xs[0], xs[1]))
    if isinstance(xs[0].type, IntegerType):
        return _int_scalar(b, t, xs)
    e = xs[0].type
    c = lambda v: b.const(v, e)  # noqa: E731
    x = xs[0]
    if t == "Identity":
        return x
    if t == "Relu":
        return v(arith.MaximumfOp(x, c(0.0)))
    if t == "Sigmoid":
        return v(arith.DivfOp(c(1.0), v(arith.AddfOp(c(1.0), v(math.ExpOp(v(arith.NegfOp(x))))))))
    if t == "Tanh":
        return v(math.TanhOp(x))
    if t == "Exp":
        return v(math.ExpOp(x))
    if t == "Log":
        return v(math.LogOp(x))
    if t == "Sqrt":
        return v(math.SqrtOp(x))
    if t == "Sin":
        return v(math.SinOp(x))
    if t == "Cos":
        return v(math.CosOp(x))
    if t == "Neg":
        return v(arith.NegfOp(x))
    if t == "Abs":
        return v(math.AbsFOp(x))
    if t == "Erf":
        return v(math.ErfOp(x))
    if t == "Floor":
        return v(math.FloorOp(x))
    if t == "Ceil":
        return v(math.CeilOp(x))
    if t == "Reciprocal":
        return v(arith.DivfOp(c(1.0), x))
    if t == "LeakyRelu":
        alpha = _attr(op, "alpha", 0.01)
        neg = v(arith.CmpfOp(x, c(0.0), "olt"))
        return v(arith.SelectOp(neg, v(arith.MulfOp(x, c(alpha))), x))
    if t == "HardSigmoid":
        alpha, beta = _attr(op, "alpha", 0.2), _attr(op, "beta", 0.5)
        y = v(arith.AddfOp(v(arith.MulfOp(x, c(alpha))), c(beta)))
        return v(arith.MinimumfOp(v(arith.MaximumfOp(y, c(0.0))), c(1.0)))
    if t == "HardSwish":
        y = v(arith.AddfOp(v(arith.MulfOp(x, c(1.0 / 6.0))), c(0.5)))
        return v(arith.MulfOp(x, v(arith.MinimumfOp(v(arith.MaximumfOp(y, c(0.0))), c(1.0)))))
    if t == "Gelu":
        if _attr(op, "approximate", "none") == "tanh":
            inner = v(arith.MulfOp(c(pymath.sqrt(2 / pymath.pi)), v(arith.AddfOp(x, v(arith.MulfOp(c(0.044715), v(arith.MulfOp(x, v(arith.MulfOp(x, x))))))))))
            return v(arith.MulfOp(v(arith.MulfOp(c(0.5), x)), v(arith.AddfOp(c(1.0), v(math.TanhOp(inner))))))
        erf = v(math.ErfOp(v(arith.MulfOp(x, c(1 / pymath.sqrt(2))))))
        return v(arith.MulfOp(v(arith.MulfOp(c(0.5), x)), v(arith.AddfOp(c(1.0), erf))))
    if t == "Softplus":
        # log(1 + exp(x)) without overflow: max(x, 0) + log(1 + exp(-|x|))
        return v(arith.AddfOp(v(arith.MaximumfOp(x, c(0.0))), v(math.LogOp(v(arith.AddfOp(c(1.0), v(math.ExpOp(v(arith.NegfOp(v(math.AbsFOp(x))))))))))))
    if t in ("Elu", "Selu"):
        alpha = _attr(op, "alpha", 1.0 if t == "Elu" else 1.67326319217681884765625)
        gamma = 1.0 if t == "Elu" else _attr(op, "gamma", 1.05070102214813232421875)
        neg = v(arith.CmpfOp(x, c(0.0), "olt"))
        em1 = v(arith.MulfOp(c(alpha), v(arith.SubfOp(v(math.ExpOp(x)), c(1.0)))))
        return v(arith.MulfOp(c(gamma), v(arith.SelectOp(neg, em1, x))))
    if t == "Mish":
        sp = _scalar(b, _FakeOp("Softplus"), [x])
        return v(arith.MulfOp(x, v(math.TanhOp(sp))))
    if t == "Clip":
        lo, hi = xs[1] if len(xs) > 1 else None, xs[2] if len(xs) > 2 else None
        y = x
        if lo is not None:
            y = v(arith.MaximumfOp(y, lo))
        if hi is not None:
            y = v(arith.MinimumfOp(y, hi))
        return y
    if t in VARIADIC:
        combine = {"Max": arith.MaximumfOp, "Min": arith.MinimumfOp}.get(t, arith.AddfOp)
        y = xs[0]
        for other in xs[1:]:
            y = v(combine(y, other))
        return v(arith.MulfOp(y, c(1.0 / len(xs)))) if t == "Mean" and len(xs) > 1 else y
    a, bb = xs[0], xs[1]
    if t == "Add":
        return v(arith.AddfOp(a, bb))
    if t == "Sub":
        return v(arith.SubfOp(a, bb))
    if t == "Mul":
        return v(arith.MulfOp(a, bb))
    if t == "Div":
        return v(arith.DivfOp(a, bb))
    if t == "Pow":
        return v(math.PowFOp(a, bb))
    if t == "Max":
        return v(arith.MaximumfOp(a, bb))
    if t == "Min":
        return v(arith.MinimumfOp(a, bb))
    if t == "PRelu":
        neg = v(arith.CmpfOp(a, c(0.0), "olt"))
        return v(arith.SelectOp(neg, v(arith.MulfOp(a, bb)), a))
    raise AssertionError(t)


@dataclass
class _FakeOp:
    """Stands in for an onnx op when a lowering reuses another op's scalar semantics."""

    OP_TYPE: str
    attributes: dict = None  # type: ignore[assignment]
    node_name: str = ""

    def __post_init__(self) -> None:
        self.attributes = {}


# ---------------------------------------------------------------------------
# The lowering
# ---------------------------------------------------------------------------


class _Lowering:
    def __init__(self, module: ModuleOp, main: func.FuncOp) -> None:
        self.module = module
        self.main = main
        self.kernels: list[func.FuncOp] = []
        self.globals: list[memref.GlobalOp] = []
        self.buffers: dict[SSAValue, SSAValue] = {}  # tensor value -> memref value in the new main
        self.host = LoopBuilder(Block())
        self.counter = 0
        self.global_values: dict[SSAValue, np.ndarray] = {}
        #: elementwise ops computed in a GEMM's store (epilogue fusion)
        self.fused: set[onnx_d.OnnxOp] = set()
        self.epilogue: list = []
        self.mr, self.nr = GEMM_MR, GEMM_NR

    # -- host program ---------------------------------------------------------------------

    def kernel(self, kind: str, op, args: list[SSAValue]) -> tuple[LoopBuilder, list[SSAValue]]:
        name = f"k{self.counter}_{kind}"
        self.counter += 1
        nodes = [op.node_name] if getattr(op, "node_name", "") else []
        fn, b, params = new_kernel(name, [a.type for a in args], nodes, kind)
        self.kernels.append(fn)
        self.host.add(func.CallOp(name, args, []))
        return b, params

    def alloc(self, t: MemRefType, hint: str | None = None) -> SSAValue:
        v = self.host.value(memref.AllocOp.get(t.get_element_type(), shape=t.get_shape()))
        v.name_hint = hint
        return v

    def view(self, src: SSAValue, shape: Sequence[int], offset: int = 0) -> SSAValue:
        """A reinterpretation of `src`'s contiguous elements from `offset` as `shape`."""
        if list(shape) == _shape(src) and offset == 0:
            return src
        strides = [int(np.prod(shape[i + 1 :], dtype=np.int64)) for i in range(len(shape))]
        layout_needed = offset != 0
        from xdsl.dialects.builtin import StridedLayoutAttr

        rtype = MemRefType(
            src.type.get_element_type(),
            list(shape),
            StridedLayoutAttr(strides, offset) if layout_needed else None,
        ) if layout_needed else MemRefType(src.type.get_element_type(), list(shape))
        op = memref.ReinterpretCastOp.from_dynamic(src, [offset], list(shape), strides, rtype)
        return self.host.value(op)

    def out_buffer(self, result: SSAValue, outputs: dict[SSAValue, SSAValue]) -> SSAValue:
        if result in outputs:
            return outputs[result]
        buf = self.alloc(_memref(result.type), result.name_hint)
        return buf

    # -- per-op -------------------------------------------------------------------------------

    def lower(self) -> None:
        fn = self.main
        old_block = fn.body.block
        in_types = [_memref(a.type) for a in old_block.args]
        ret = next(op for op in old_block.ops if isinstance(op, func.ReturnOp))
        out_types = [_memref(v.type) for v in ret.operands]
        block = Block(arg_types=in_types + out_types)
        self.host = LoopBuilder(block)
        for old, new in zip(old_block.args, block.args):
            new.name_hint = old.name_hint
            self.buffers[old] = new
        # a returned value is computed straight into its output argument, unless it is
        # returned twice, is an input, or a constant: those are copied at the end
        outputs: dict[SSAValue, SSAValue] = {}
        late_copies: list[tuple[SSAValue, SSAValue]] = []
        for v, arg in zip(ret.operands, block.args[len(in_types) :]):
            arg.name_hint = v.name_hint
            owner = v.owner
            direct = (
                v not in outputs
                and isinstance(owner, onnx_d.OnnxOp)
                and owner.OP_TYPE not in ("Constant", "Reshape")
            )
            if direct:
                outputs[v] = arg
            else:
                late_copies.append((v, arg))
        for op in old_block.ops:
            if isinstance(op, func.ReturnOp):
                continue
            if isinstance(op, onnx_d.NoValueOp) or op in self.fused:
                continue
            self.lower_op(op, outputs)
        for v, arg in late_copies:
            self.host.add(memref.CopyOp(self.buffers[v], arg))
        self.host.add(func.ReturnOp())
        # constants only read at compile time (Reshape shapes, reduction axes) stay out
        # of the weights
        for op in reversed(list(block.ops)):  # views nobody reads (packed-away weights)
            if isinstance(op, memref.ReinterpretCastOp) and not op.result.uses:
                block.erase_op(op)
        used = set()
        for op in list(block.ops):
            if isinstance(op, memref.GetGlobalOp):
                if op.memref.uses:
                    used.add(op.name_.root_reference.data)
                else:
                    block.erase_op(op)
        self.globals = [g for g in self.globals if g.sym_name.data in used]
        new_main = func.FuncOp("main", (in_types + out_types, []), Region(block))
        for k in ("hetc.input_names", "hetc.output_names"):
            if k in fn.attributes:
                new_main.attributes[k] = fn.attributes[k]
        self.module.body.block.erase_op(fn)
        for g in self.globals:
            self.module.body.block.add_op(g)
        for k in self.kernels:
            self.module.body.block.add_op(k)
        self.module.body.block.add_op(new_main)

    def lower_op(self, op: onnx_d.OnnxOp, outputs: dict[SSAValue, SSAValue]) -> None:
        t = op.OP_TYPE
        if t == "Constant":
            array = onnx_d.numpy_from_dense(op.attributes["value"])
            name = f"w{len(self.globals)}"
            gtype = MemRefType(op.results[0].type.get_element_type(), list(array.shape))
            self.globals.append(
                memref.GlobalOp.get(StringAttr(name), gtype, op.attributes["value"], constant=UnitAttr(), alignment=64)
            )
            ref = self.host.value(memref.GetGlobalOp(name, gtype))
            ref.name_hint = op.results[0].name_hint
            self.buffers[op.results[0]] = ref
            self.global_values[ref] = array
            return
        if t == "Reshape":
            src = self.buffers[op.operands[0]]
            self.buffers[op.results[0]] = self.view(src, _shape(op.results[0]))
            return
        if t == "Split":
            self.lower_split(op, outputs)
            return
        if t == "LayerNormalization":
            self.lower_layer_norm(op, outputs)
            return
        if t in ("LSTM", "GRU"):
            self.lower_rnn(op, outputs)
            return
        ins = [self.buffers.get(v) if not isinstance(v.type, NoneType) else None for v in op.operands]
        chain = self.epilogue_chain(op, outputs) if t in ("Conv", "MatMul") else []
        final = chain[-1][0].results[0] if chain else op.results[0]
        out = self.out_buffer(final, outputs)
        self.buffers[final] = out
        self.buffers[op.results[0]] = out
        self.epilogue = chain
        if t in UNARY or t in BINARY or t in VARIADIC or t in COMPARE or t in LOGICAL or t in ("Cast", "Where"):
            self.lower_elementwise(op, ins, out)
        elif t == "Expand":  # a broadcasting copy
            self.lower_elementwise(_FakeOp("Identity"), ins[:1], out, shape=_shape(op.results[0]))
        elif t == "Gather":
            self.lower_gather(op, ins[0], ins[1], out)
        elif t == "GatherElements":
            self.lower_gather_elements(op, ins[0], ins[1], out)
        elif t == "GatherND":
            self.lower_gather_nd(op, ins[0], ins[1], out)
        elif t == "Resize":
            self.lower_resize(op, ins[0], out)
        elif t == "ConvTranspose":
            self.lower_conv_transpose(op, ins, out)
        elif t == "CumSum":
            self.lower_cumsum(op, ins[0], out)
        elif t == "Tile":
            self.lower_tile(op, ins[0], out)
        elif t == "MatMul":
            self.lower_matmul(op, ins[0], ins[1], out)
        elif t == "Conv":
            self.lower_conv(op, ins, out)
        elif t in ("MaxPool", "AveragePool"):
            self.lower_pool(op, ins[0], out)
        elif t in ("GlobalAveragePool", "GlobalMaxPool"):
            self.lower_global_pool(op, ins[0], out)
        elif t in REDUCE_OPS:
            self.lower_reduce(op, ins[0], out)
        elif t in ("ArgMax", "ArgMin"):
            self.lower_arg_reduce(op, ins[0], out)
        elif t == "Transpose":
            self.lower_transpose(op, ins[0], out)
        elif t == "Concat":
            self.lower_concat(op, ins, out)
        elif t == "Slice":
            self.lower_slice(op, ins[0], out)
        elif t == "Pad":
            self.lower_pad_op(op, ins[0], out)
        else:  # pragma: no cover - guarded by SUPPORTED
            raise AssertionError(t)

    # -- epilogue fusion ----------------------------------------------------------------------

    def epilogue_chain(self, op, outputs) -> list[tuple[onnx_d.OnnxOp, int, str]]:
        """The single-use elementwise ops after a Conv/MatMul that its GEMM can apply
        while storing: (op, position of the running value, how the other operand is
        indexed: unary | full | row | col | scalar)."""
        chain = []
        cur = op.results[0]
        rshape = _shape(cur)
        while cur not in outputs and len(list(cur.uses)) == 1:
            user = next(iter(cur.uses)).operation
            if not isinstance(user, onnx_d.OnnxOp) or _shape(user.results[0]) != rshape:
                break
            if user.results[0].type.get_element_type() != f32:
                break
            t = user.OP_TYPE
            if t in FUSABLE_UNARY and user.operands[0] is cur and all(
                onnx_d.constant_value(v) is not None for v in user.operands[1:] if not isinstance(v.type, NoneType)
            ):
                chain.append((user, 0, "unary"))
            elif t in ("Add", "Sub", "Mul", "Div") and (user.operands[0] is cur) != (user.operands[1] is cur):
                pos = 0 if user.operands[0] is cur else 1
                other = user.operands[1 - pos]
                if other not in self.buffers:  # computed later in program order
                    break
                mode = _broadcast_mode(_shape(other), rshape, op.OP_TYPE)
                if mode is None:
                    break
                chain.append((user, pos, mode))
            else:
                break
            self.fused.add(user)
            cur = user.results[0]
        return chain

    def epilogue_args(self, c_offset: int, row_offset: int, rows: int, cols: int) -> list[SSAValue]:
        """Views of the epilogue's other operands for one GEMM call."""
        args = []
        for user, pos, mode in self.epilogue:
            if mode == "unary":
                continue
            other = self.buffers[user.operands[1 - pos]]
            if mode == "full":
                args.append(self.view(other, [rows, cols], c_offset))
            elif mode == "row":
                args.append(self.view(other, [rows], row_offset))
            elif mode == "col":
                args.append(self.view(other, [cols]))
            else:
                args.append(self.view(other, [1]))
        return args

    def apply_epilogue(self, b: LoopBuilder, y: SSAValue, params: list[SSAValue], row, col) -> SSAValue:
        it = iter(params)
        for user, pos, mode in self.epilogue:
            if mode == "unary":
                extras = [
                    b.const(float(onnx_d.constant_value(v).reshape(-1)[0]), y.type) if not isinstance(v.type, NoneType) else None
                    for v in user.operands[1:]
                ]
                xs = [y, *extras] if user.OP_TYPE == "Clip" else [y]
                y = _scalar(b, user, _clip_args(xs) if user.OP_TYPE == "Clip" else xs)
                continue
            p = next(it)
            idx = {"full": [row, col], "row": [row], "col": [col], "scalar": [b.index(0)]}[mode]
            v = b.load(p, idx)
            y = _scalar(b, user, [y, v] if pos == 0 else [v, y])
        return y

    # -- elementwise ------------------------------------------------------------------------

    def lower_elementwise(self, op, ins, out, shape: list[int] | None = None) -> None:
        res_shape = shape if shape is not None else _shape(op.results[0])
        args = [a for a in ins if a is not None]
        b, params = self.kernel("elementwise", op, [*args, out])
        positions = [i for i, a in enumerate(ins) if a is not None]
        with b.loops(res_shape) as ivs:
            xs: list[SSAValue | None] = [None] * len(ins)
            for pos, param in zip(positions, params[:-1]):
                shape = _shape(param)
                # numpy broadcasting: align trailing dims; size-1 dims read index 0
                lead = len(res_shape) - len(shape)
                idx = [ivs[lead + d] if shape[d] != 1 else b.index(0) for d in range(len(shape))]
                xs[pos] = b.load(param, idx)
            y = _scalar(b, op, [x for x in xs if x is not None] if op.OP_TYPE != "Clip" else _clip_args(xs))
            b.store(y, params[-1], ivs)
        finish_kernel(b)

    # -- GEMM -----------------------------------------------------------------------------------

    def packed_a(self, op, a: SSAValue, mr: int) -> SSAValue:
        """A[M,K] as row panels Ap[ceil(M/mr), K, mr] (zero rows pad the last panel)."""
        m, k = _shape(a)
        mb = -(-m // mr)
        owner_global = self._global_array(a)
        if owner_global is not None:  # weights: packed once, at compile time
            padded = np.zeros((mb * mr, k), owner_global.dtype)
            padded[:m] = owner_global[: m * k].reshape(m, k)
            return self.constant(padded.reshape(mb, mr, k).transpose(0, 2, 1), "packed_a")
        ap = self.alloc(MemRefType(a.type.get_element_type(), [mb, k, mr]), "packed_a")
        b, (pa, pp) = self.kernel("pack_a", op, [a, ap])
        e = a.type.get_element_type()
        with b.loop(0, mb, parallel=mb > 1) as ib, b.loop(0, k) as kk, b.loop(0, mr) as ii:
            b.store(b.const(0.0, e), pp, [ib, kk, ii])
        with b.loop(0, m, parallel=m > 1) as i, b.loop(0, k) as kk:
            b.store(b.load(pa, [i, kk]), pp, [b.value(arith.DivUIOp(i, b.index(mr))), kk, b.value(arith.RemUIOp(i, b.index(mr)))])
        finish_kernel(b)
        return ap

    def packed_b(self, op, bmat: SSAValue, nr: int) -> SSAValue:
        """B[K,N] as column panels Bp[ceil(N/nr), K, nr] (zero columns pad the last)."""
        k, n = _shape(bmat)
        nb = -(-n // nr)
        const = self._global_array(bmat)
        if const is not None:
            padded = np.zeros((k, nb * nr), const.dtype)
            padded[:, :n] = const[: k * n].reshape(k, n)
            return self.constant(padded.reshape(k, nb, nr).transpose(1, 0, 2), "packed_b")
        bp = self.alloc(MemRefType(bmat.type.get_element_type(), [nb, k, nr]), "packed_b")
        b, (pb, pp) = self.kernel("pack_b", op, [bmat, bp])
        e = bmat.type.get_element_type()
        if n % nr:
            with b.loop(0, k, parallel=k > 1) as kk, b.loop(n - n % nr, nb * nr) as j:
                b.store(b.const(0.0, e), pp, [b.index(nb - 1), kk, b.value(arith.RemUIOp(j, b.index(nr)))])
        with b.loop(0, k, parallel=k > 1) as kk, b.loop(0, n) as j:
            b.store(b.load(pb, [kk, j]), pp, [b.value(arith.DivUIOp(j, b.index(nr))), kk, b.value(arith.RemUIOp(j, b.index(nr)))])
        finish_kernel(b)
        return bp

    def gemm(
        self, op, a: SSAValue, bmat: SSAValue | None, c: SSAValue, bias: SSAValue | None = None,
        kind: str = "gemm", b_packed: SSAValue | None = None, extra: list[SSAValue] = (),
    ) -> None:
        """c[M,N] = a[M,K] @ b[K,N] (+ bias[M] per row) on packed panels: every MR x NR
        tile accumulates in registers over contiguous panel reads and stores once."""
        m, k = _shape(a)
        n = _shape(c)[1]
        mr, nr, vec_m = self.tile(m, n)
        ap = self.packed_a(op, a, mr)
        bp = b_packed if b_packed is not None else self.packed_b(op, bmat, nr)
        mb, nb = -(-m // mr), -(-n // nr)
        args = [ap, bp, c] + ([bias] if bias is not None else []) + list(extra)
        b, params = self.kernel(kind, op, args)
        pa, pb, pc = params[:3]
        pbias = params[3] if bias is not None else None
        pextra = params[3 + (bias is not None) :]
        e = c.type.get_element_type()
        # full tiles, then the partial last row panel / column panel (static store bounds)
        rows = [(0, m // mr, mr)] + ([(m // mr, mb, m % mr)] if m % mr else [])
        cols = [(0, n // nr, nr)] + ([(n // nr, nb, n % nr)] if n % nr else [])
        # the accumulator's inner (vector) dimension: N normally, M when N is narrow
        inner, outer = (mr, nr) if vec_m else (nr, mr)
        for (ib_lo, ib_hi, valid_rows) in rows:
            for (jb_lo, jb_hi, valid_cols) in cols:
                if ib_lo >= ib_hi or jb_lo >= jb_hi:
                    continue
                with b.loop(ib_lo, ib_hi, parallel=ib_hi - ib_lo > 1) as ib, b.loop(jb_lo, jb_hi) as jb:
                    acc = b.value(memref.AllocaOp.get(e, shape=[outer, inner]))
                    with b.loop(0, outer) as o, b.loop(0, inner) as i:
                        b.store(b.const(0.0, e), acc, [o, i])
                    with b.loop(0, k) as kk:
                        with b.loop(0, outer) as o:
                            ov = b.load(pb, [jb, kk, o]) if vec_m else b.load(pa, [ib, kk, o])
                            with b.loop(0, inner) as i:
                                iv = b.load(pa, [ib, kk, i]) if vec_m else b.load(pb, [jb, kk, i])
                                cur = b.load(acc, [o, i])
                                prod = b.value(arith.MulfOp(iv, ov) if vec_m else arith.MulfOp(ov, iv))
                                b.store(b.value(arith.AddfOp(cur, prod)), acc, [o, i])
                    loops = [(0, valid_rows), (0, valid_cols)]
                    with b.loop(*loops[1 if vec_m else 0]) as first, b.loop(*loops[0 if vec_m else 1]) as second:
                        ii, jj = (second, first) if vec_m else (first, second)
                        row = b.affine([(ib, mr), (ii, 1)])
                        col = b.affine([(jb, nr), (jj, 1)])
                        y = b.load(acc, [jj, ii] if vec_m else [ii, jj])
                        if pbias is not None:
                            y = b.value(arith.AddfOp(y, b.load(pbias, [row])))
                        y = self.apply_epilogue(b, y, pextra, row, col)
                        b.store(y, pc, [row, col])
        finish_kernel(b)

    def tile(self, m: int, n: int) -> tuple[int, int, bool]:
        """(MR, NR, vectorize over M?) for an M x N GEMM. Wide N: MR x NR with NR one or two
        vectors. Narrow N (late CNN layers: few pixels, many channels) would waste most
        of such a tile, so the tile turns: 32 rows of M in vectors, a few columns of N."""
        if n >= self.nr or m < 32:
            return self.mr, self.nr, False
        nr = 8 if n % 8 == 0 else (n if n <= 8 else 6)
        return 32, nr, True

    def constant(self, array: np.ndarray, hint: str) -> SSAValue:
        """A weight computed at compile time (e.g. a packed panel), as a global."""
        name = f"w{len(self.globals)}_{hint}"
        array = np.ascontiguousarray(array)
        gtype = MemRefType(onnx_d.element_type_from_numpy(array.dtype), list(array.shape))
        self.globals.append(
            memref.GlobalOp.get(StringAttr(name), gtype, onnx_d.dense_from_numpy(array), constant=UnitAttr(), alignment=64)
        )
        ref = self.host.value(memref.GetGlobalOp(name, gtype))
        ref.name_hint = hint
        self.global_values[ref] = array
        return ref

    def _global_array(self, ref: SSAValue) -> np.ndarray | None:
        """The values behind a weight (or a view of one), if `ref` is a weight."""
        offset = 0
        while isinstance(ref.owner, memref.ReinterpretCastOp):
            offset += ref.owner.static_offsets.get_values()[0]
            ref = ref.owner.source
        array = self.global_values.get(ref)
        if array is None:
            return None
        return array.reshape(-1)[offset:]

    def lower_matmul(self, op, a, bm, out) -> None:
        sa, sb, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        # numpy matmul: a 1-D operand is a row (A) or a column (B) whose dim is dropped
        if len(sa) == 1:
            sa, so = [1] + sa, so[:-1] + [1] + so[-1:] if len(sb) > 1 else [1] + so
        if len(sb) == 1:
            sb, so = sb + [1], so + [1]
        m, k = sa[-2:]
        n = sb[-1]
        batch = so[:-2]
        # numpy broadcasting of the batch dims: one GEMM per output batch index, each
        # operand's offset taken with its own (right-aligned, size-1 = shared) dims
        def offsets(shape: list[int], mat: int) -> list[int]:
            dims = [1] * (len(batch) - len(shape[:-2])) + shape[:-2]
            strides = [int(np.prod(dims[d + 1 :], dtype=np.int64)) * mat for d in range(len(dims))]
            result = []
            for idx in np.ndindex(*batch) if batch else [()]:
                result.append(sum(i * st for i, st, dim in zip(idx, strides, dims) if dim != 1))
            return result

        for oa, ob, oc in zip(offsets(sa, m * k), offsets(sb, k * n), range(0, max(1, int(np.prod(batch))) * m * n, m * n)):
            extra = self.epilogue_args(oc, 0, m, n)
            self.gemm(op, self.view(a, [m, k], oa), self.view(bm, [k, n], ob), self.view(out, [m, n], oc), extra=extra)

    # -- convolution and pooling ---------------------------------------------------------

    def pad_into(self, op, src: SSAValue, shape_in: list[int], pads: list[int], value: float, kind="pad") -> SSAValue:
        """A copy of src [C, H, W...] zero/value-padded by pads (begins then ends)."""
        r = len(shape_in) - 1
        if not any(pads):
            return src
        padded = [shape_in[0]] + [shape_in[1 + i] + pads[i] + pads[r + i] for i in range(r)]
        dst = self.alloc(MemRefType(src.type.get_element_type(), padded), "padded")
        b, (ps, pd) = self.kernel(kind, op, [src, dst])
        e = src.type.get_element_type()
        with b.loops(padded) as ivs:
            b.store(b.const(value, e), pd, ivs)
        with b.loops(shape_in) as ivs:
            idx = [ivs[0]] + [b.affine([(ivs[1 + i], 1)], pads[i]) for i in range(r)]
            b.store(b.load(ps, ivs), pd, idx)
        finish_kernel(b)
        return dst

    def lower_conv(self, op, ins, out) -> None:
        x, w, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        sx, sw, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        if len(sx) not in (3, 4):
            raise UnsupportedError("only 1-D and 2-D convolutions are lowered yet", node=op.node_name, op_type="Conv")
        group = _attr(op, "group", 1)
        sx, _, so, strides, dil, pads = self._as_2d(op, sx, so, sw[2:])
        sw = sw[:2] + [1] * (4 - len(sw)) + sw[2:]
        n, c, h, wd = sx
        m, cg, kh, kw = sw
        _, _, oh, ow = so
        mg = m // group
        depthwise = group == c and cg == 1 and mg == 1
        for ni in range(n):
            xn = self.view(x, [c, h, wd], ni * c * h * wd)
            on = self.view(out, [m, oh * ow], ni * m * oh * ow)
            xp = self.pad_into(op, xn, [c, h, wd], pads, 0.0)
            ph, pw = h + pads[0] + pads[2], wd + pads[1] + pads[3]
            if depthwise:
                extra = self.epilogue_args(ni * m * oh * ow, 0, m, oh * ow)
                self.depthwise(op, xp, w, bias, self.view(on, [m, oh, ow]), [kh, kw], strides, dil, extra)
                continue
            for g in range(group):
                wg = self.view(w, [mg, cg * kh * kw], g * mg * cg * kh * kw)
                og = self.view(on, [mg, oh * ow], g * mg * oh * ow)
                bg = self.view(bias, [mg], g * mg) if bias is not None else None
                xg = self.view(xp, [cg, ph, pw], g * cg * ph * pw)
                extra = self.epilogue_args((ni * m + g * mg) * oh * ow, g * mg, mg, oh * ow)
                if kh == kw == 1 and strides == [1, 1] and ph == oh and pw == ow:
                    self.gemm(op, wg, self.view(xg, [cg, oh * ow]), og, bg, kind="conv_gemm", extra=extra)
                else:
                    bp = self.im2col_packed(op, xg, [cg, ph, pw], [kh, kw], strides, dil, [oh, ow], self.tile(mg, oh * ow)[1])
                    self.gemm(op, wg, None, og, bg, kind="conv_gemm", b_packed=bp, extra=extra)

    def lower_conv_transpose(self, op, ins, out) -> None:
        """ConvTranspose = GEMM (W^T @ X, W packed at compile time) then col2im: each
        column scatters its KH x KW taps into a buffer holding the full, uncropped
        output (so no bounds checks), then the crop adds the bias."""
        x, w, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        sx, sw, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        if len(sx) not in (3, 4):
            raise UnsupportedError("only 1-D and 2-D ConvTranspose is lowered yet", node=op.node_name, op_type="ConvTranspose")
        w_const = onnx_d.constant_value(op.operands[1])
        r = len(sx) - 2
        group = _attr(op, "group", 1)
        strides = _attr(op, "strides") or [1] * r
        dil = _attr(op, "dilations") or [1] * r
        opad = _attr(op, "output_padding") or [0] * r
        auto_pad = _attr(op, "auto_pad", "NOTSET")
        if r == 1:
            sx, so, sw = sx[:2] + [1] + sx[2:], so[:2] + [1] + so[2:], sw[:2] + [1] + sw[2:]
            strides, dil, opad = [1] + strides, [1] + dil, [0] + opad
        n, cin, h, wd = sx
        _, cout_g, kh, kw = sw
        _, cout, oh, ow = so
        cin_g = cin // group
        full = [(h - 1) * strides[0] + (kh - 1) * dil[0] + 1 + opad[0], (wd - 1) * strides[1] + (kw - 1) * dil[1] + 1 + opad[1]]
        pads = _attr(op, "pads")
        tops = []
        for i, (f, o) in enumerate(zip(full, [oh, ow])):
            total = f - o
            if pads is not None and auto_pad == "NOTSET" and _attr(op, "output_shape") is None:
                begin = pads[i - (2 - r)] if (r == 2 or i == 1) else 0
            elif auto_pad == "SAME_LOWER":
                begin = total - total // 2 if total >= 0 else total
            else:
                begin = total // 2 if total >= 0 else 0  # a larger output_shape grows at the end
            tops.append(begin)
        # the canvas covers the full output and the requested window of it
        shift = [max(0, -t) for t in tops]
        canvas_shape = [max(f + sh, t + sh + o) for f, t, sh, o in zip(full, tops, shift, [oh, ow])]
        tops = [t + sh for t, sh in zip(tops, shift)]
        e = out.type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        kk = cout_g * kh * kw
        wt = w_const.reshape(group, cin_g, kk).transpose(0, 2, 1) if w_const is not None else None  # [g, Cout_g*K*K, Cin_g]
        for ni in range(n):
            for g in range(group):
                if wt is not None:
                    a = self.constant(np.ascontiguousarray(wt[g]).astype(dt), "wT")
                else:  # weights computed at run time: transpose them first
                    a = self.alloc(MemRefType(e, [kk, cin_g]), "wT")
                    b, (pw, pa) = self.kernel("transpose", op, [self.view(w, [cin_g, kk], g * cin_g * kk), a])
                    with b.loops([cin_g, kk]) as (ci, j):
                        b.store(b.load(pw, [ci, j]), pa, [j, ci])
                    finish_kernel(b)
                xg = self.view(x, [cin_g, h * wd], (ni * cin + g * cin_g) * h * wd)
                cols = self.alloc(MemRefType(e, [cout_g * kh * kw, h * wd]), "cols")
                self.gemm(op, a, xg, cols, kind="deconv_gemm")
                canvas = self.alloc(MemRefType(e, [cout_g, *canvas_shape]), "canvas")
                og = self.view(out, [cout_g, oh, ow], (ni * cout + g * cout_g) * oh * ow)
                bg = self.view(bias, [cout_g], g * cout_g) if bias is not None else None
                b, params = self.kernel("col2im", op, [cols, canvas, og] + ([bg] if bg is not None else []))
                pc, pv, po = params[:3]
                with b.loops([cout_g, *canvas_shape]) as ivs:
                    b.store(b.const(0.0, e), pv, ivs)
                with b.loop(0, cout_g, parallel=cout_g > 1) as co, b.loop(0, kh) as ki, b.loop(0, kw) as kj:
                    row = b.affine([(co, kh * kw), (ki, kw), (kj, 1)])
                    with b.loop(0, h) as iy, b.loop(0, wd) as ix:
                        dst = [co, b.affine([(iy, strides[0]), (ki, dil[0])], shift[0]), b.affine([(ix, strides[1]), (kj, dil[1])], shift[1])]
                        v = b.load(pc, [row, b.affine([(iy, wd), (ix, 1)])])
                        b.store(b.value(arith.AddfOp(b.load(pv, dst), v)), pv, dst)
                with b.loop(0, cout_g, parallel=cout_g > 1) as co, b.loop(0, oh) as oy, b.loop(0, ow) as ox:
                    y = b.load(pv, [co, b.affine([(oy, 1)], tops[0]), b.affine([(ox, 1)], tops[1])])
                    if bg is not None:
                        y = b.value(arith.AddfOp(y, b.load(params[3], [co])))
                    b.store(y, po, [co, oy, ox])
                finish_kernel(b)

    def _as_2d(self, op, sx, so, kernel):
        """Shapes and window attributes of a 1-D or 2-D conv/pool, as 2-D (1-D: H = 1)."""
        r = len(sx) - 2
        strides = _attr(op, "strides") or [1] * r
        dil = _attr(op, "dilations") or [1] * r
        pads = self._conv_pads(op, sx[2:], kernel, strides, dil, so[2:])
        if r == 2:
            return sx, None, so, strides, dil, pads
        return (sx[:2] + [1] + sx[2:], None, so[:2] + [1] + so[2:], [1] + strides, [1] + dil,
                [0, pads[0], 0, pads[1]])

    def _conv_pads(self, op, spatial, kernel, strides, dil, out_spatial) -> list[int]:
        auto_pad = _attr(op, "auto_pad", "NOTSET")
        r = len(spatial)
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            begins, ends = [], []
            for i in range(r):
                total = max(0, (out_spatial[i] - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - spatial[i])
                small = total // 2
                big = total - small
                begins.append(small if auto_pad == "SAME_UPPER" else big)
                ends.append(big if auto_pad == "SAME_UPPER" else small)
            return begins + ends
        if auto_pad == "VALID":
            return [0] * (2 * r)
        return list(_attr(op, "pads") or [0] * (2 * r))

    def im2col(self, op, xp, shape, kernel, strides, dil, out_spatial) -> SSAValue:
        cg, _, _ = shape
        kh, kw = kernel
        oh, ow = out_spatial
        col = self.alloc(MemRefType(xp.type.get_element_type(), [cg * kh * kw, oh * ow]), "col")
        b, (px, pcol) = self.kernel("im2col", op, [xp, col])
        with b.loop(0, cg, parallel=cg > 1) as ci, b.loop(0, kh) as ki, b.loop(0, kw) as kj:
            row = b.affine([(ci, kh * kw), (ki, kw), (kj, 1)])
            with b.loop(0, oh) as oi, b.loop(0, ow) as oj:
                src = [ci, b.affine([(oi, strides[0]), (ki, dil[0])]), b.affine([(oj, strides[1]), (kj, dil[1])])]
                b.store(b.load(px, src), pcol, [row, b.affine([(oi, ow), (oj, 1)])])
        finish_kernel(b)
        return col

    def im2col_packed(self, op, xp, shape, kernel, strides, dil, out_spatial, nr: int) -> SSAValue:
        """im2col straight into the GEMM's packed-B panels Bp[ceil(OH*OW/nr), C*KH*KW, nr]."""
        cg, _, _ = shape
        kh, kw = kernel
        oh, ow = out_spatial
        n, k = oh * ow, cg * kh * kw
        nb = -(-n // nr)
        bp = self.alloc(MemRefType(xp.type.get_element_type(), [nb, k, nr]), "packed_col")
        b, (px, pp) = self.kernel("im2col", op, [xp, bp])
        e = xp.type.get_element_type()
        if n % nr:
            with b.loop(0, k, parallel=k > 1) as r, b.loop(n % nr, nr) as jj:
                b.store(b.const(0.0, e), pp, [b.index(nb - 1), r, jj])
        with b.loop(0, cg, parallel=cg > 1) as ci, b.loop(0, kh) as ki, b.loop(0, kw) as kj:
            row = b.affine([(ci, kh * kw), (ki, kw), (kj, 1)])
            with b.loop(0, oh) as oi, b.loop(0, ow) as oj:
                j = b.affine([(oi, ow), (oj, 1)])
                src = [ci, b.affine([(oi, strides[0]), (ki, dil[0])]), b.affine([(oj, strides[1]), (kj, dil[1])])]
                dst = [b.value(arith.DivUIOp(j, b.index(nr))), row, b.value(arith.RemUIOp(j, b.index(nr)))]
                b.store(b.load(px, src), pp, dst)
        finish_kernel(b)
        return bp

    def depthwise(self, op, xp, w, bias, out, kernel, strides, dil, extra=()) -> None:
        m, oh, ow = _shape(out)
        kh, kw = kernel
        wv = self.view(w, [m, kh * kw])
        args = [xp, wv, out] + ([bias] if bias is not None else []) + list(extra)
        b, params = self.kernel("depthwise_conv", op, args)
        px, pw, po = params[:3]
        pextra = params[3 + (bias is not None) :]
        e = out.type.get_element_type()
        with b.loop(0, m, parallel=m > 1) as ci, b.loop(0, oh) as oi, b.loop(0, ow) as oj:
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            zero = b.index(0)
            b.store(b.load(params[3], [ci]) if bias is not None else b.const(0.0, e), acc, [zero])
            with b.loop(0, kh) as ki, b.loop(0, kw) as kj:
                xv = b.load(px, [ci, b.affine([(oi, strides[0]), (ki, dil[0])]), b.affine([(oj, strides[1]), (kj, dil[1])])])
                wvv = b.load(pw, [ci, b.affine([(ki, kw), (kj, 1)])])
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.value(arith.MulfOp(xv, wvv)))), acc, [zero])
            y = self.apply_epilogue(b, b.load(acc, [zero]), pextra, ci, b.affine([(oi, ow), (oj, 1)]))
            b.store(y, po, [ci, oi, oj])
        finish_kernel(b)

    def lower_pool(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        if len(sx) not in (3, 4):
            raise UnsupportedError("only 1-D and 2-D pooling is lowered yet", node=op.node_name, op_type=op.OP_TYPE)
        if len(op.results) > 1 and op.results[1].uses:
            raise UnsupportedError("MaxPool indices are not lowered yet", node=op.node_name, op_type=op.OP_TYPE)
        kernel = _attr(op, "kernel_shape")
        sx, _, so, strides, dil, pads = self._as_2d(op, sx, so, kernel)
        kernel = [1] * (2 - len(kernel)) + list(kernel)
        n, c, h, wd = sx
        _, _, oh, ow = so
        is_max = op.OP_TYPE == "MaxPool"
        count_pad = _attr(op, "count_include_pad", 0)
        # ceil_mode windows may run past the padded input: pad the end far enough
        ends = [max(pads[2 + i], (so[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - sx[2 + i] - pads[i]) for i in range(2)]
        # average divisor per output position, known at compile time: window positions
        # inside the input (count_include_pad=0) or inside the padded input (=1); the
        # ceil_mode overhang past the padding never counts
        counts = []
        for i in range(2):
            pos = np.arange(so[2 + i])[:, None] * strides[i] - pads[i] + np.arange(kernel[i])[None, :] * dil[i]
            lo, hi = (0, sx[2 + i]) if not count_pad else (-pads[i], sx[2 + i] + pads[2 + i])
            counts.append(((pos >= lo) & (pos < hi)).sum(axis=1))
        divisor = np.outer(counts[0], counts[1]).astype(np.float64)
        uniform = bool(np.all(divisor == divisor.flat[0]))
        inv = None
        if not is_max and not uniform:
            inv = self.constant((1.0 / np.maximum(divisor, 1)).astype(onnx_d.numpy_dtype(out.type.get_element_type())), "avg_divisor")
        e = out.type.get_element_type()
        for ni in range(n):
            xn = self.view(x, [c, h, wd], ni * c * h * wd)
            on = self.view(out, [c, oh, ow], ni * c * oh * ow)
            xp = self.pad_into(op, xn, [c, h, wd], [pads[0], pads[1], ends[0], ends[1]], -np.inf if is_max else 0.0)
            b, params = self.kernel("maxpool" if is_max else "avgpool", op, [xp, on] + ([inv] if inv is not None else []))
            px, po = params[:2]
            with b.loop(0, c, parallel=c > 1) as ci, b.loop(0, oh) as oi, b.loop(0, ow) as oj:
                acc = b.value(memref.AllocaOp.get(e, shape=[1]))
                zero = b.index(0)
                b.store(b.const(-np.inf if is_max else 0.0, e), acc, [zero])
                with b.loop(0, kernel[0]) as ki, b.loop(0, kernel[1]) as kj:
                    xv = b.load(px, [ci, b.affine([(oi, strides[0]), (ki, dil[0])]), b.affine([(oj, strides[1]), (kj, dil[1])])])
                    cur = b.load(acc, [zero])
                    b.store(b.value(arith.MaximumfOp(cur, xv) if is_max else arith.AddfOp(cur, xv)), acc, [zero])
                y = b.load(acc, [zero])
                if not is_max:
                    scale = b.load(params[2], [oi, oj]) if inv is not None else b.const(1.0 / divisor.flat[0], e)
                    y = b.value(arith.MulfOp(y, scale))
                b.store(y, po, [ci, oi, oj])
            finish_kernel(b)

    def lower_global_pool(self, op, x, out) -> None:
        sx = _shape(op.operands[0])
        n, c = sx[:2]
        hw = int(np.prod(sx[2:], dtype=np.int64))
        self.reduce_rows(op, self.view(x, [n * c, hw]), self.view(out, [n * c]), "max" if "Max" in op.OP_TYPE else "mean")

    def reduce_rows(self, op, x, out, how: str) -> None:
        self.reduce(op, x, out, [0], [1], how)

    def reduce(self, op, x, out_flat, kept: list[int], red: list[int], how: str) -> None:
        """out_flat[kept...] = reduction `how` of x over the dims `red` (see REDUCTIONS)."""
        shape = _shape(x)
        rank = len(shape)
        e = x.type.get_element_type()
        init, step, final = REDUCTIONS[how]
        count = int(np.prod([shape[d] for d in red], dtype=np.int64))
        kshape = [shape[d] for d in kept]
        b, (px, po) = self.kernel(f"reduce_{how}", op, [x, out_flat])
        with b.loops(kshape) as kiv:
            zero = b.index(0)

            def index(riv):
                idx = [None] * rank
                for d, iv in zip(kept, kiv):
                    idx[d] = iv
                for d, iv in zip(red, riv):
                    idx[d] = iv
                return idx

            shift = None
            if how == "logsumexp":  # log(sum(exp(x - max))) + max, without overflow
                top = b.value(memref.AllocaOp.get(e, shape=[1]))
                b.store(b.const(-np.inf, e), top, [zero])
                with b.loops([shape[d] for d in red], parallel_outer=False) as riv:
                    b.store(b.value(arith.MaximumfOp(b.load(top, [zero]), b.load(px, index(riv)))), top, [zero])
                shift = b.load(top, [zero])
                # all -inf: keep the shift finite so the result is -inf, not NaN
                shift = b.value(arith.SelectOp(b.value(arith.CmpfOp(shift, b.const(-np.inf, e), "oeq")), b.const(0.0, e), shift))
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(init, e), acc, [zero])
            with b.loops([shape[d] for d in red], parallel_outer=False) as riv:
                xv = b.load(px, index(riv))
                if shift is not None:
                    xv = b.value(arith.SubfOp(xv, shift))
                b.store(step(b, b.load(acc, [zero]), xv), acc, [zero])
            y = final(b, b.load(acc, [zero]), count)
            if shift is not None:
                y = b.value(arith.AddfOp(y, shift))
            flat = b.affine([(iv, int(np.prod(kshape[i + 1 :], dtype=np.int64))) for i, iv in enumerate(kiv)])
            b.store(y, po, [flat])
        finish_kernel(b)

    def lower_reduce(self, op, x, out) -> None:
        shape = _shape(op.operands[0])
        axes = _const_array(op, 1)
        rank = len(shape)
        if axes is None or axes.size == 0:
            if _attr(op, "noop_with_empty_axes", 0):
                raise UnsupportedError("no-op reductions are not lowered yet", node=op.node_name, op_type=op.OP_TYPE)
            axes_l = list(range(rank))
        else:
            axes_l = sorted(int(a) % rank for a in axes.reshape(-1))
        how = REDUCE_OPS[op.OP_TYPE]
        kept = [d for d in range(rank) if d not in axes_l]
        oflat = self.view(out, [int(np.prod([shape[d] for d in kept], dtype=np.int64))])
        self.reduce(op, x, oflat, kept, axes_l, how)

    def lower_arg_reduce(self, op, x, out) -> None:
        """ArgMax / ArgMin: the first (or, with select_last_index, the last) extreme index."""
        shape = _shape(op.operands[0])
        rank = len(shape)
        axis = _attr(op, "axis", 0) % rank
        last = _attr(op, "select_last_index", 0)
        kept = [d for d in range(rank) if d != axis]
        kshape = [shape[d] for d in kept]
        oflat = self.view(out, [int(np.prod(kshape, dtype=np.int64))])
        e = x.type.get_element_type()
        b, (px, po) = self.kernel(op.OP_TYPE.lower(), op, [x, oflat])
        better = ("ogt" if not last else "oge") if op.OP_TYPE == "ArgMax" else ("olt" if not last else "ole")
        with b.loops(kshape) as kiv:
            zero = b.index(0)
            best = b.value(memref.AllocaOp.get(e, shape=[1]))
            where = b.value(memref.AllocaOp.get(i64, shape=[1]))
            idx0 = [None] * rank
            for d, iv in zip(kept, kiv):
                idx0[d] = iv
            idx0[axis] = zero
            b.store(b.load(px, idx0), best, [zero])
            b.store(b.const(0, i64), where, [zero])
            with b.loop(1, shape[axis]) as j:
                idx = list(idx0)
                idx[axis] = j
                xv = b.load(px, idx)
                take = b.value(arith.CmpfOp(xv, b.load(best, [zero]), better))
                b.store(b.value(arith.SelectOp(take, xv, b.load(best, [zero]))), best, [zero])
                b.store(b.value(arith.SelectOp(take, b.value(arith.IndexCastOp(j, i64)), b.load(where, [zero]))), where, [zero])
            flat = b.affine([(iv, int(np.prod(kshape[i + 1 :], dtype=np.int64))) for i, iv in enumerate(kiv)])
            b.store(b.load(where, [zero]), po, [flat])
        finish_kernel(b)

    # -- data movement ----------------------------------------------------------------------

    def lower_layer_norm(self, op, outputs) -> None:
        """Y = (X - mean) / sqrt(var + eps) * scale + bias per row of the normalized axes;
        Mean and InvStdDev outputs when they are used."""
        sx = _shape(op.operands[0])
        rank = len(sx)
        axis = _attr(op, "axis", -1) % rank
        eps = _attr(op, "epsilon", 1e-5)
        rows = int(np.prod(sx[:axis], dtype=np.int64))
        cols = int(np.prod(sx[axis:], dtype=np.int64))
        x = self.view(self.buffers[op.operands[0]], [rows, cols])
        params = []
        for i in (1, 2):
            if i < len(op.operands) and not isinstance(op.operands[i].type, NoneType):
                buf = self.buffers[op.operands[i]]
                size = int(np.prod(_shape(op.operands[i]), dtype=np.int64))
                if size not in (1, cols):
                    raise UnsupportedError("LayerNormalization scale/bias broadcast within the normalized axes is not lowered yet",
                                           node=op.node_name, op_type=op.OP_TYPE)
                params.append((self.view(buf, [size]), size == 1))
            else:
                params.append(None)
        outs = []
        for r in op.results:
            if isinstance(r.type, NoneType) or (r is not op.results[0] and not r.uses and r not in outputs):
                outs.append(None)
                continue
            buf = self.out_buffer(r, outputs)
            self.buffers[r] = buf
            outs.append(self.view(buf, [rows, cols] if r is op.results[0] else [rows]))
        args = [x] + [p[0] for p in params if p is not None] + [o for o in outs if o is not None]
        b, ps = self.kernel("layer_norm", op, args)
        it = iter(ps)
        px = next(it)
        pscale = next(it) if params[0] is not None else None
        pbias = next(it) if params[1] is not None else None
        py = next(it)
        pmean = next(it) if len(outs) > 1 and outs[1] is not None else None
        pinv = next(it) if len(outs) > 2 and outs[2] is not None else None
        e = op.results[0].type.get_element_type()
        with b.loop(0, rows, parallel=rows > 1) as r:
            zero = b.index(0)
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, cols) as j:
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.load(px, [r, j]))), acc, [zero])
            mean = b.value(arith.MulfOp(b.load(acc, [zero]), b.const(1.0 / cols, e)))
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, cols) as j:
                d = b.value(arith.SubfOp(b.load(px, [r, j]), mean))
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.value(arith.MulfOp(d, d)))), acc, [zero])
            var = b.value(arith.MulfOp(b.load(acc, [zero]), b.const(1.0 / cols, e)))
            inv = b.value(arith.DivfOp(b.const(1.0, e), b.value(math.SqrtOp(b.value(arith.AddfOp(var, b.const(eps, e)))))))
            with b.loop(0, cols) as j:
                y = b.value(arith.MulfOp(b.value(arith.SubfOp(b.load(px, [r, j]), mean)), inv))
                if pscale is not None:
                    y = b.value(arith.MulfOp(y, b.load(pscale, [zero if params[0][1] else j])))
                if pbias is not None:
                    y = b.value(arith.AddfOp(y, b.load(pbias, [zero if params[1][1] else j])))
                b.store(y, py, [r, j])
            if pmean is not None:
                b.store(mean, pmean, [r])
            if pinv is not None:
                b.store(inv, pinv, [r])
        finish_kernel(b)

    def lower_rnn(self, op, outputs) -> None:
        """LSTM / GRU, unrolled over the (static) sequence on the host: one GEMM for the
        input projection of all time steps, then per step a GEMM with the recurrent
        weights and a fused cell kernel writing h straight into Y[t]."""
        t_ = op.OP_TYPE
        where = dict(node=op.node_name, op_type=t_)
        gates = 4 if t_ == "LSTM" else 3
        if _attr(op, "layout", 0) != 0 or _attr(op, "clip") is not None or _attr(op, "activations") is not None:
            raise UnsupportedError("layout=1, clip and custom activations are not lowered yet", **where)
        if t_ == "LSTM" and _attr(op, "input_forget", 0):
            raise UnsupportedError("input_forget is not lowered yet", **where)
        if t_ == "GRU" and not _attr(op, "linear_before_reset", 0):
            raise UnsupportedError("GRU with linear_before_reset=0 is not lowered yet", **where)
        n_in = len(op.operands)
        const = [onnx_d.constant_value(op.operands[i]) if i < n_in and not isinstance(op.operands[i].type, NoneType) else None
                 for i in range(8)]
        present = [i < n_in and not isinstance(op.operands[i].type, NoneType) for i in range(8)]
        w, r = const[1], const[2]
        if w is None or r is None or (present[3] and const[3] is None) or (t_ == "LSTM" and present[7] and const[7] is None):
            raise UnsupportedError("RNN weights must be compile-time constants", **where)
        sx = _shape(op.operands[0])
        steps, batch, isz = sx
        dirs, gh, hidden = w.shape[0], w.shape[1], r.shape[2]
        seq = const[4]
        if present[4] and (seq is None or not np.all(seq == steps)):
            raise UnsupportedError("sequence_lens shorter than the sequence are not lowered yet", **where)
        e = op.results[0].type.get_element_type() if not isinstance(op.results[0].type, NoneType) else op.operands[0].type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        bias = const[3] if const[3] is not None else np.zeros((dirs, 2 * gh), dt)
        # outputs: Y [T, D, B, H] (allocated even when unused: it carries h between steps)
        y = self.out_buffer(op.results[0], outputs) if not isinstance(op.results[0].type, NoneType) else \
            self.alloc(MemRefType(e, [steps, dirs, batch, hidden]), "Y")
        if not isinstance(op.results[0].type, NoneType):
            self.buffers[op.results[0]] = y
        x2 = self.view(self.buffers[op.operands[0]], [steps * batch, isz])
        init_h = self.buffers[op.operands[5]] if present[5] else None
        init_c = self.buffers[op.operands[6]] if t_ == "LSTM" and present[6] else None
        peep = const[7] if t_ == "LSTM" else None
        direction = _attr(op, "direction", "forward")
        finals = []
        for d in range(dirs):
            reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
            xw = self.alloc(MemRefType(e, [steps * batch, gh]), "xw")
            self.gemm(op, x2, self.constant(np.ascontiguousarray(w[d].T).astype(dt), "wT"), xw, kind="rnn_input_gemm")
            rt = self.constant(np.ascontiguousarray(r[d].T).astype(dt), "rT")
            b_in = self.constant((bias[d, :gh] + (bias[d, gh:] if t_ == "LSTM" else 0)).astype(dt), "b_in")
            b_rec = self.constant(bias[d, gh:].astype(dt), "b_rec") if t_ == "GRU" else None
            pv = self.constant(peep[d].astype(dt), "peephole") if peep is not None else None
            c_state = None
            if t_ == "LSTM":
                c_state = self.alloc(MemRefType(e, [batch, hidden]), "c")
                src = self.view(init_c, [batch, hidden], d * batch * hidden) if init_c is not None else None
                self._fill_state(op, c_state, src)
            h0 = self.alloc(MemRefType(e, [batch, hidden]), "h0")
            self._fill_state(op, h0, self.view(init_h, [batch, hidden], d * batch * hidden) if init_h is not None else None)
            order = range(steps - 1, -1, -1) if reverse else range(steps)
            h_prev = h0
            for t in order:
                hr = self.alloc(MemRefType(e, [batch, gh]), "hr")
                self.gemm(op, h_prev, rt, hr, kind="rnn_recurrent_gemm")
                h_t = self.view(y, [batch, hidden], (t * dirs + d) * batch * hidden)
                xw_t = self.view(xw, [batch, gh], t * batch * gh)
                self._rnn_cell(op, xw_t, hr, b_in, b_rec, pv, c_state, h_prev, h_t, hidden, e)
                h_prev = h_t
            finals.append((h_prev, c_state))
        for k, result in enumerate(op.results[1:3], start=1):
            if isinstance(result.type, NoneType) or (not result.uses and result not in outputs):
                continue
            buf = self.out_buffer(result, outputs)
            self.buffers[result] = buf
            for d, (h_last, c_last) in enumerate(finals):
                src = h_last if k == 1 else c_last
                self.host.add(memref.CopyOp(src, self.view(buf, [batch, hidden], d * batch * hidden)))

    def _fill_state(self, op, dst, src) -> None:
        if src is not None:
            self.host.add(memref.CopyOp(src, dst))
            return
        b, (pd,) = self.kernel("zero", op, [dst])
        with b.loops(_shape(dst)) as ivs:
            b.store(b.const(0.0, dst.type.get_element_type()), pd, ivs)
        finish_kernel(b)

    def _rnn_cell(self, op, xw, hr, b_in, b_rec, peep, c_state, h_prev, h_out, hidden, e) -> None:
        lstm = op.OP_TYPE == "LSTM"
        args = [xw, hr, b_in, h_prev, h_out] + ([b_rec] if b_rec is not None else []) + \
            ([peep] if peep is not None else []) + ([c_state] if c_state is not None else [])
        b, ps = self.kernel("lstm_cell" if lstm else "gru_cell", op, args)
        pxw, phr, pbi, php, pho = ps[:5]
        rest = iter(ps[5:])
        pbr = next(rest) if b_rec is not None else None
        pp = next(rest) if peep is not None else None
        pc = next(rest) if c_state is not None else None
        batch = _shape(xw)[0]
        sig = lambda v: _scalar(b, _FakeOp("Sigmoid"), [v])  # noqa: E731
        tanh = lambda v: b.value(math.TanhOp(v))  # noqa: E731
        with b.loop(0, batch, parallel=batch > 1) as bi, b.loop(0, hidden) as j:
            def gate(k):
                col = b.affine([(j, 1)], k * hidden)
                v = b.value(arith.AddfOp(b.load(pxw, [bi, col]), b.load(pbi, [col])))
                return v, b.load(phr, [bi, col]), col
            if lstm:  # gate order i, o, f, c
                c_prev = b.load(pc, [bi, j])
                (xi, hi, _), (xo, ho, _), (xf, hf, _), (xc, hc, _) = (gate(k) for k in range(4))
                gi = b.value(arith.AddfOp(xi, hi))
                go = b.value(arith.AddfOp(xo, ho))
                gf = b.value(arith.AddfOp(xf, hf))
                if pp is not None:
                    gi = b.value(arith.AddfOp(gi, b.value(arith.MulfOp(b.load(pp, [j]), c_prev))))
                    gf = b.value(arith.AddfOp(gf, b.value(arith.MulfOp(b.load(pp, [b.affine([(j, 1)], 2 * hidden)]), c_prev))))
                i_, f_ = sig(gi), sig(gf)
                c_new = b.value(arith.AddfOp(b.value(arith.MulfOp(f_, c_prev)), b.value(arith.MulfOp(i_, tanh(b.value(arith.AddfOp(xc, hc)))))))
                if pp is not None:
                    go = b.value(arith.AddfOp(go, b.value(arith.MulfOp(b.load(pp, [b.affine([(j, 1)], hidden)]), c_new))))
                h_new = b.value(arith.MulfOp(sig(go), tanh(c_new)))
                b.store(c_new, pc, [bi, j])
            else:  # gate order z, r, h; linear_before_reset: r * (h R_h + Rb_h)
                (xz, hz, cz), (xr, hrr, cr), (xh, hh, ch) = (gate(k) for k in range(3))
                z = sig(b.value(arith.AddfOp(xz, b.value(arith.AddfOp(hz, b.load(pbr, [cz]))))))
                r_ = sig(b.value(arith.AddfOp(xr, b.value(arith.AddfOp(hrr, b.load(pbr, [cr]))))))
                cand = tanh(b.value(arith.AddfOp(xh, b.value(arith.MulfOp(r_, b.value(arith.AddfOp(hh, b.load(pbr, [ch]))))))))
                hp = b.load(php, [bi, j])
                one = b.const(1.0, e)
                h_new = b.value(arith.AddfOp(b.value(arith.MulfOp(b.value(arith.SubfOp(one, z)), cand)), b.value(arith.MulfOp(z, hp))))
            b.store(h_new, pho, [bi, j])
        finish_kernel(b)

    def lower_cumsum(self, op, x, out) -> None:
        sx = _shape(op.operands[0])
        axis_v = _const_array(op, 1)
        axis = int(axis_v.reshape(-1)[0]) % len(sx)
        exclusive, reverse = _attr(op, "exclusive", 0), _attr(op, "reverse", 0)
        outer = int(np.prod(sx[:axis], dtype=np.int64))
        n = sx[axis]
        inner = int(np.prod(sx[axis + 1 :], dtype=np.int64))
        xv, ov = self.view(x, [outer, n, inner]), self.view(out, [outer, n, inner])
        e = out.type.get_element_type()
        b, (px, po) = self.kernel("cumsum", op, [xv, ov])
        with b.loop(0, outer, parallel=outer > 1) as o, b.loop(0, inner) as i:
            zero = b.index(0)
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(0, e), acc, [zero])
            with b.loop(0, n) as t:
                pos = b.affine([(t, -1)], n - 1) if reverse else t
                xv_ = b.load(px, [o, pos, i])
                add = arith.AddfOp if not isinstance(e, IntegerType) else arith.AddiOp
                total = b.value(add(b.load(acc, [zero]), xv_))
                b.store(b.load(acc, [zero]) if exclusive else total, po, [o, pos, i])
                b.store(total, acc, [zero])
        finish_kernel(b)

    def _index_value(self, b: LoopBuilder, raw: SSAValue, dim: int) -> SSAValue:
        """An integer tensor element as an index into a dim of size `dim` (negative counts from the end)."""
        itype = raw.type
        neg = b.value(arith.CmpiOp(raw, b.const(0, itype), "slt"))
        fixed = b.value(arith.SelectOp(neg, b.value(arith.AddiOp(raw, b.const(dim, itype))), raw))
        return b.value(arith.IndexCastOp(fixed, IndexType()))

    def lower_gather_elements(self, op, data, indices, out) -> None:
        sd = _shape(op.operands[0])
        axis = _attr(op, "axis", 0) % len(sd)
        b, (pd, pi, po) = self.kernel("gather_elements", op, [data, indices, out])
        with b.loops(_shape(op.results[0])) as ivs:
            idx = list(ivs)
            idx[axis] = self._index_value(b, b.load(pi, ivs), sd[axis])
            b.store(b.load(pd, idx), po, ivs)
        finish_kernel(b)

    def lower_gather_nd(self, op, data, indices, out) -> None:
        sd, si, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        bd = _attr(op, "batch_dims", 0)
        last = si[-1]
        q = len(si)
        b, (pd, pi, po) = self.kernel("gather_nd", op, [data, indices, out])
        with b.loops(so) as ivs:
            lead = list(ivs[: q - 1])
            src = lead[:bd]
            for k in range(last):
                src.append(self._index_value(b, b.load(pi, lead + [b.index(k)]), sd[bd + k]))
            src += list(ivs[q - 1 :])
            b.store(b.load(pd, src), po, ivs)
        finish_kernel(b)

    def lower_gather(self, op, data, indices, out) -> None:
        sd, si = _shape(op.operands[0]), _shape(op.operands[1])
        axis = _attr(op, "axis", 0) % len(sd)
        so = _shape(op.results[0])
        b, (pd, pi, po) = self.kernel("gather", op, [data, indices, out])
        r = len(si)
        with b.loops(so) as ivs:
            idx = self._index_value(b, b.load(pi, ivs[axis : axis + r]), sd[axis])
            src = list(ivs[:axis]) + [idx] + list(ivs[axis + r :])
            b.store(b.load(pd, src), po, ivs)
        finish_kernel(b)

    def resize_taps(self, op, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """The 1-D resampling along `axis` as taps: for each output position, source
        indices and weights (padded with weight 0). Every ONNX Resize mode is separable
        per axis and linear in X, so resizing basis vectors with the NumPy oracle gives
        exactly the matrix the op applies; compile-time only."""
        from hetc.backends.numpy.kernels import KERNELS

        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        n_in, n_out = sx[axis], so[axis]
        attrs = {k: onnx_d.attribute_to_python(v) for k, v in op.onnx_attributes().items()}
        attrs.pop("axes", None)
        roi = _const_array(op, 1)
        scales = _const_array(op, 2)
        sizes = _const_array(op, 3)
        rank = len(sx)
        axes = _attr(op, "axes") or list(range(rank))
        axes = [a % rank for a in axes]
        # the probe: a batch of n_in basis vectors, resized along one axis only
        probe = np.eye(n_in, dtype=np.float64).reshape(n_in, n_in, 1)
        def per_axis(values, fill):
            full = [fill] * rank
            for a, v in zip(axes, values):
                full[a] = v
            return full
        p_scales = p_sizes = p_roi = None
        if scales is not None and scales.size:
            p_scales = np.array([1.0, per_axis(scales, 1.0)[axis], 1.0], np.float32)
        if sizes is not None and sizes.size:
            p_sizes = np.array([n_in, n_out, 1], np.int64)
        if roi is not None and roi.size:
            full = np.array(per_axis(roi[: len(axes)], 0.0) + per_axis(roi[len(axes) :], 1.0), np.float32)
            p_roi = np.array([0, full[axis], 0, 1, full[rank + axis], 1], np.float32)
        attrs["keep_aspect_ratio_policy"] = "stretch"
        matrix = KERNELS["Resize"](probe, p_roi, p_scales, p_sizes, **attrs)  # [n_in, n_out, 1]
        matrix = np.asarray(matrix, np.float64).reshape(n_in, n_out).T  # [n_out, n_in]
        taps = max(1, int((matrix != 0).sum(axis=1).max()))
        idx = np.zeros((n_out, taps), np.int64)
        wts = np.zeros((n_out, taps), np.float64)
        for o in range(n_out):
            nz = np.flatnonzero(matrix[o])
            idx[o, : len(nz)] = nz
            wts[o, : len(nz)] = matrix[o, nz]
        return idx, wts

    def lower_resize(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        rank = len(sx)
        if rank < 2 or sx[:-2] != so[:-2]:
            raise UnsupportedError("Resize is lowered only along the last two axes", node=op.node_name, op_type="Resize")
        if _attr(op, "keep_aspect_ratio_policy", "stretch") != "stretch" and _const_array(op, 3) is not None:
            raise UnsupportedError("Resize keep_aspect_ratio_policy is not lowered yet", node=op.node_name, op_type="Resize")
        if _attr(op, "mode", "nearest") == "linear" and _attr(op, "coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize":
            raise UnsupportedError("tf_crop_and_resize is not lowered yet", node=op.node_name, op_type="Resize")
        e = out.type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        ih, wh = self.resize_taps(op, rank - 2)
        iw, ww = self.resize_taps(op, rank - 1)
        planes = int(np.prod(sx[:-2], dtype=np.int64))
        xv = self.view(x, [planes, sx[-2], sx[-1]])
        ov = self.view(out, [planes, so[-2], so[-1]])
        tables = [self.constant(ih, "rows"), self.constant(wh.astype(dt), "row_weights"),
                  self.constant(iw, "cols"), self.constant(ww.astype(dt), "col_weights")]
        b, (px, po, pih, pwh, piw, pww) = self.kernel("resize", op, [xv, ov, *tables])
        with b.loop(0, planes, parallel=planes > 1) as pi, b.loop(0, so[-2]) as oy, b.loop(0, so[-1]) as ox:
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            zero = b.index(0)
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, ih.shape[1]) as a:
                y = b.value(arith.IndexCastOp(b.load(pih, [oy, a]), IndexType()))
                wy = b.load(pwh, [oy, a])
                with b.loop(0, iw.shape[1]) as c:
                    xx = b.value(arith.IndexCastOp(b.load(piw, [ox, c]), IndexType()))
                    w = b.value(arith.MulfOp(wy, b.load(pww, [ox, c])))
                    term = b.value(arith.MulfOp(w, b.load(px, [pi, y, xx])))
                    b.store(b.value(arith.AddfOp(b.load(acc, [zero]), term)), acc, [zero])
            b.store(b.load(acc, [zero]), po, [pi, oy, ox])
        finish_kernel(b)

    def lower_tile(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        b, (px, po) = self.kernel("tile", op, [x, out])
        with b.loops(so) as ivs:
            b.store(b.load(px, [b.value(arith.RemUIOp(iv, b.index(n))) if n > 1 else b.index(0)
                                for iv, n in zip(ivs, sx)]), po, ivs)
        finish_kernel(b)

    def lower_transpose(self, op, x, out) -> None:
        so = _shape(op.results[0])
        rank = len(so)
        perm = _attr(op, "perm") or list(reversed(range(rank)))
        b, (px, po) = self.kernel("transpose", op, [x, out])
        with b.loops(so) as ivs:
            idx = [None] * rank
            for d, p in enumerate(perm):
                idx[p] = ivs[d]
            b.store(b.load(px, idx), po, ivs)
        finish_kernel(b)

    def lower_concat(self, op, ins, out) -> None:
        so = _shape(op.results[0])
        axis = _attr(op, "axis") % len(so)
        b, params = self.kernel("concat", op, [*ins, out])
        offset = 0
        for p in params[:-1]:
            s = _shape(p)
            with b.loops(s) as ivs:
                idx = list(ivs)
                idx[axis] = b.affine([(ivs[axis], 1)], offset)
                b.store(b.load(p, ivs), params[-1], idx)
            offset += s[axis]
        finish_kernel(b)

    def lower_split(self, op, outputs) -> None:
        x = self.buffers[op.operands[0]]
        sx = _shape(op.operands[0])
        axis = _attr(op, "axis", 0) % len(sx)
        outs = [self.out_buffer(r, outputs) for r in op.results]
        for r, o in zip(op.results, outs):
            self.buffers[r] = o
        b, params = self.kernel("split", op, [x, *outs])
        offset = 0
        for p in params[1:]:
            s = _shape(p)
            with b.loops(s) as ivs:
                idx = list(ivs)
                idx[axis] = b.affine([(ivs[axis], 1)], offset)
                b.store(b.load(params[0], idx), p, ivs)
            offset += s[axis]
        finish_kernel(b)

    def lower_slice(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        starts, ends = _const_array(op, 1), _const_array(op, 2)
        axes = _const_array(op, 3)
        steps = _const_array(op, 4)
        rank = len(sx)
        axes_l = [int(a) % rank for a in (axes if axes is not None else range(len(starts)))]
        steps_l = [int(s) for s in (steps if steps is not None else [1] * len(axes_l))]
        first = [0] * rank
        step = [1] * rank
        for a, s0, st in zip(axes_l, starts, steps_l):
            dim = sx[a]
            s0 = int(s0) + dim if s0 < 0 else int(s0)
            s0 = min(max(s0, 0), dim) if st > 0 else min(max(s0, -1), dim - 1)
            first[a], step[a] = s0, st
        b, (px, po) = self.kernel("slice", op, [x, out])
        with b.loops(so) as ivs:
            idx = [b.affine([(iv, step[d])], first[d]) for d, iv in enumerate(ivs)]
            b.store(b.load(px, idx), po, ivs)
        finish_kernel(b)

    def lower_pad_op(self, op, x, out) -> None:
        if _attr(op, "mode", "constant") != "constant":
            raise UnsupportedError("only constant Pad is lowered yet", node=op.node_name, op_type="Pad")
        pads = _const_array(op, 1)
        value = _const_array(op, 2)
        if (len(op.operands) > 3 and not isinstance(op.operands[3].type, NoneType)) or pads is None or (pads < 0).any():
            raise UnsupportedError("Pad with axes or negative pads is not lowered yet", node=op.node_name, op_type="Pad")
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        rank = len(sx)
        b, (px, po) = self.kernel("pad", op, [x, out])
        e = out.type.get_element_type()
        with b.loops(so) as ivs:
            b.store(b.const(float(value.reshape(-1)[0]) if value is not None else 0.0, e), po, ivs)
        with b.loops(sx) as ivs:
            b.store(b.load(px, ivs), po, [b.affine([(iv, 1)], int(pads[d])) for d, iv in enumerate(ivs)])
        finish_kernel(b)


FUSABLE_UNARY = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Gelu", "Elu", "Selu", "Softplus", "Mish"}


def _broadcast_mode(other: list[int], result: list[int], producer: str) -> str | None:
    """How a GEMM epilogue reads an operand of shape `other` broadcast to `result`."""
    if other == result:
        return "full"
    if int(np.prod(other, dtype=np.int64)) == 1:
        return "scalar"
    padded = [1] * (len(result) - len(other)) + list(other)
    if len(padded) != len(result):
        return None
    if producer == "Conv" and len(result) == 4 and padded == [1, result[1], 1, 1]:
        return "row"
    if producer == "MatMul":
        if padded == [1] * (len(result) - 1) + [result[-1]]:
            return "col"
        if padded == [1] * (len(result) - 2) + [result[-2], 1]:
            return "row"
    return None


def _clip_args(xs):
    return [xs[0], xs[1] if len(xs) > 1 else None, xs[2] if len(xs) > 2 else None]


def _type_supported(op: onnx_d.OnnxOp) -> bool:
    t = op.OP_TYPE
    values = [v for v in [*op.operands, *op.results] if isinstance(v.type, TensorType)]
    if any(v.type.get_element_type() not in C_ELEMENT_TYPES for v in values):
        return False
    result = next((r.type.get_element_type() for r in op.results if isinstance(r.type, TensorType)), None)
    # runtime data operands (constant integer operands are compile-time metadata: axes, shapes)
    data = [v.type.get_element_type() for v in op.operands
            if isinstance(v.type, TensorType) and onnx_d.constant_value(v) is None]
    boolean = IntegerType(1)
    if t in MOVEMENT or t == "Cast":
        return True
    if t == "Where":
        return op.operands[0].type.get_element_type() == boolean
    if t in COMPARE:
        return all(d != boolean for d in data)
    if t in LOGICAL:
        return all(d == boolean for d in data)
    if t in INT_OK:
        return result != boolean and all(d == result for d in data)
    if t in ("ArgMax", "ArgMin"):
        return all(d in (f32, f64) for d in data)
    if t == "LayerNormalization":
        return result in (f32, f64) and all(
            r.type.get_element_type() == result for r in op.results if isinstance(r.type, TensorType)
        ) and all(d == result for d in data)
    if t in ("LSTM", "GRU"):
        return op.operands[0].type.get_element_type() in (f32, f64) and all(
            d in (f32, f64, IntegerType(32)) for d in data
        )
    if t == "CumSum":
        return result != boolean and op.operands[0].type.get_element_type() == result
    return result in (f32, f64) and all(d == result for d in data)


def unsupported_for_loops(module: ModuleOp) -> list[onnx_d.OnnxOp]:
    """Ops (or types) the loop lowering cannot take, to be named before any code is written."""
    return [
        op for op in module.walk()
        if isinstance(op, onnx_d.OnnxOp) and (op.OP_TYPE not in SUPPORTED or not _type_supported(op))
    ]


def convert_onnx_to_loops(module: ModuleOp) -> None:
    bad = unsupported_for_loops(module)
    if bad:
        op = bad[0]
        kinds = sorted({o.OP_TYPE for o in bad})
        raise UnsupportedError(
            f"the loop lowering does not support {', '.join(kinds)} yet, or not with these "
            f"element types ({len(bad)} node(s))",
            node=op.node_name,
            op_type=op.OP_TYPE,
        )
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    _Lowering(module, main).lower()


@dataclass(frozen=True)
class ConvertOnnxToLoops(ModulePass):
    name = "convert-onnx-to-loops"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        convert_onnx_to_loops(op)
