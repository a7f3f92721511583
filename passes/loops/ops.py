"""Op sets, element types and small helpers shared by the loop lowering."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    Float4E2M1FNType,
    Float8E4M3FNType,
    Float8E4M3FNUZType,
    Float8E5M2FNUZType,
    Float8E5M2Type,
    Float8E8M0FNUType,
    IntegerType,
    MemRefType,
    NoneType,
    Signedness,
    TensorType,
    bf16,
    f16,
    f32,
    f64,
)
from xdsl.ir import Attribute, SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.diagnostics import UnsupportedError


#: GEMM register tile: MR rows x NR columns of accumulators. NR contiguous floats
#: vectorize: 6 x 32 float32 fill twelve 512-bit registers (AVX-512); targets with
#: narrower vectors set nr=16 (pass options).
GEMM_MR = 6


GEMM_NR = 32


REDUCE_OPS = {
    "ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min", "ReduceProd": "prod",
    "ReduceL1": "l1", "ReduceL2": "l2", "ReduceSumSquare": "sumsquare", "ReduceLogSum": "logsum",
    "ReduceLogSumExp": "logsumexp",
}


UNARY = {
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Neg", "Abs", "Erf", "Reciprocal",
    "Floor", "Ceil", "LeakyRelu", "HardSigmoid", "HardSwish", "Gelu", "Clip", "Identity",
    "Softplus", "Elu", "Selu", "Mish", "Sin", "Cos", "Round", "Sign", "Softsign", "Celu",
}


BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "PRelu"}


VARIADIC = {"Max", "Min", "Sum", "Mean"}


COMPARE = {"Equal": ("oeq", "eq"), "Greater": ("ogt", "sgt"), "GreaterOrEqual": ("oge", "sge"),
           "Less": ("olt", "slt"), "LessOrEqual": ("ole", "sle")}


LOGICAL = {"Not", "And", "Or", "Xor"}


#: elementwise ops whose operands and result may be integers as well as float32
INT_OK = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Neg", "Abs", "Identity", "Sign"}


#: ops that only move data: any element type with a C type
MOVEMENT = {
    "Reshape", "Transpose", "Concat", "Slice", "Split", "Gather", "GatherElements", "GatherND", "Expand", "Pad",
    "Constant", "Tile",
}


SUPPORTED = UNARY | BINARY | VARIADIC | set(COMPARE) | LOGICAL | MOVEMENT | {"Cast", "Where"} | {
    "MatMul", "Conv", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
    *REDUCE_OPS, "ArgMax", "ArgMin", "Resize", "ConvTranspose", "LayerNormalization", "CumSum", "LSTM", "GRU", "Reshape", "Transpose", "Concat", "Slice",
    "Constant", "Pad", "Split",
}
#: multi-output and contraction ops with their own lowering (einsum.py, topk.py, elementwise.py)
SUPPORTED |= {"Einsum", "TopK", "Dropout"}


#: element types the C-family targets can hold in buffers (compute is float32 for now)
C_ELEMENT_TYPES = {f32, f64, IntegerType(1)} | {
    IntegerType(w, sign) for w in (8, 16, 32, 64) for sign in (Signedness.SIGNLESS, Signedness.UNSIGNED)
}


#: narrow types, held in ml_dtypes' layout (bit patterns; int4/int2 one to a byte): data
#: movement, Where and Cast take them all; float16/bfloat16 also compute (in float32,
#: rounded once on store) in the elementwise ops
NARROW_TYPES = {
    f16, bf16, Float8E4M3FNType(), Float8E4M3FNUZType(), Float8E5M2Type(), Float8E5M2FNUZType(),
    Float8E8M0FNUType(), Float4E2M1FNType(),
} | {IntegerType(w, sign) for w in (2, 4) for sign in (Signedness.SIGNLESS, Signedness.UNSIGNED)}
C_ELEMENT_TYPES |= NARROW_TYPES


#: narrow floats the elementwise ops compute in float32
F32_COMPUTED = {f16, bf16}
NARROW_FLOATS = {t for t in NARROW_TYPES if not isinstance(t, IntegerType)}
#: Cast's saturate=1 clamps to these formats' finite range (float8e8m0 has its own)
SATURATING = {Float8E4M3FNType(), Float8E4M3FNUZType(), Float8E5M2Type(), Float8E5M2FNUZType(), Float4E2M1FNType()}


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
    if producer == "Conv" and len(result) >= 3 and padded == [1, result[1]] + [1] * (len(result) - 2):
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
    if t == "Einsum":  # (float16 / bfloat16 accumulate in float32)
        x = op.operands[0].type.get_element_type()
        return (x in (f32, f64, *F32_COMPUTED) or (isinstance(x, IntegerType) and x != boolean)) and all(d == x for d in data)
    narrow = {v.type.get_element_type() for v in values} & NARROW_TYPES
    if narrow and not (narrow <= F32_COMPUTED and t in UNARY | BINARY | VARIADIC | set(COMPARE)):
        return False
    if t in COMPARE:
        return all(d != boolean for d in data)
    if t in LOGICAL:
        return all(d == boolean for d in data)
    if t in INT_OK:
        return result != boolean and all(d == result for d in data)
    if t == "Pow":  # the exponent may have another type; the result has the base's
        base, expo = (v.type.get_element_type() for v in op.operands[:2])
        return base == result and all(
            e in (f32, f64, *F32_COMPUTED) or (isinstance(e, IntegerType) and e != boolean) for e in (base, expo)
        )
    if t == "Clip" and isinstance(result, IntegerType):
        return result != boolean and all(d == result for d in data)
    if t == "TopK":  # (K is checked to be a constant when lowering)
        x = op.operands[0].type.get_element_type()
        return x in (f32, f64) or (isinstance(x, IntegerType) and x != boolean)
    if t == "Dropout":  # a copy and a bool mask; training mode is checked when lowering
        return True
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
    if t == "MaxPool":  # float or integer data; Indices are int64
        x = op.operands[0].type.get_element_type()
        return x != boolean and result == x
    if t == "CumSum":
        return result != boolean and op.operands[0].type.get_element_type() == result
    return result in (f32, f64, *F32_COMPUTED) and all(d == result for d in data)


def permuted_subscript(b, flat: SSAValue, shape: list[int], perm: list[int]) -> list[SSAValue]:
    """The subscript in Transpose(perm) of a tensor seen as `shape` (row-major) of its
    element at flat offset `flat`: where a GEMM or an attention kernel stores an output a
    Transpose would otherwise move (heads split or merged)."""
    idx = []
    for d, size in reversed(list(enumerate(shape))):  # flat -> index in `shape`
        idx.append(b.value(arith.RemUIOp(flat, b.index(size))) if d else flat)
        if d:
            flat = b.value(arith.DivUIOp(flat, b.index(size)))
    idx.reverse()
    return [idx[p] for p in perm]
