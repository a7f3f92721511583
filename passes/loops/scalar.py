"""Scalar semantics of ONNX ops as arith/math ops (float, integer, bool, casts)."""

from __future__ import annotations

import math as pymath

import ml_dtypes
import numpy as np
from dataclasses import dataclass
from xdsl.dialects import arith, math, memref
from xdsl.dialects.builtin import Float8E8M0FNUType, IntegerType, Signedness, StringAttr, f32, f64, i64
from xdsl.ir import Attribute, SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.passes.loop_builder import LoopBuilder

from hetc.passes.loops.ops import COMPARE, LOGICAL, NARROW_FLOATS, SATURATING, VARIADIC, _attr, _unsigned


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
    if t == "Sign":
        zero = b.const(0, x.type)
        pos = v(arith.SelectOp(v(arith.CmpiOp(x, zero, "ne")), b.const(1, x.type), zero))
        if unsigned:
            return pos
        return v(arith.SelectOp(v(arith.CmpiOp(x, zero, "slt")), v(arith.SubiOp(zero, b.const(1, x.type))), pos))
    # C's / truncates toward zero, as ONNX integer Div does
    combine = {"Add": arith.AddiOp, "Sum": arith.AddiOp, "Sub": arith.SubiOp, "Mul": arith.MuliOp,
               "Max": arith.MaxUIOp if unsigned else arith.MaxSIOp, "Min": arith.MinUIOp if unsigned else arith.MinSIOp,
               "Div": arith.DivUIOp if unsigned else arith.DivSIOp}[t]
    y = x
    for other in xs[1:]:
        y = v(combine(y, other))
    return y


def _saturate(b: LoopBuilder, x: SSAValue, to: Attribute) -> SSAValue:
    """Cast's saturate=1: clamp into the target's finite range first (NaN stays NaN);
    float8e8m0, unsigned powers of two, clamps |x| into [2^-127, 2^127]."""
    v = b.value
    if isinstance(to, Float8E8M0FNUType):
        x = v(math.AbsFOp(x))
        lo, hi = b.const(2.0**-127, x.type), b.const(2.0**127, x.type)
    else:
        m = float(ml_dtypes.finfo(onnx_d.numpy_dtype(to)).max)
        lo, hi = b.const(-m, x.type), b.const(m, x.type)
    x = v(arith.SelectOp(v(arith.CmpfOp(x, hi, "ogt")), hi, x))
    return v(arith.SelectOp(v(arith.CmpfOp(x, lo, "olt")), lo, x))


def _cast(b: LoopBuilder, x: SSAValue, to: Attribute, saturate: bool = True, round_mode: str = "up") -> SSAValue:
    """ONNX Cast between floats, integers and bool (float -> int truncates toward zero).
    Narrow floats (float16, bfloat16, float8, float4) convert through float32, which holds
    all their values exactly: extf from them, truncf (nearest even) to them; int4/int2
    wrap like NumPy's casts."""
    src = x.type
    if src == to:
        return x
    v = b.value
    if src in NARROW_FLOATS:
        return _cast(b, v(arith.ExtFOp(x, f32)), to, saturate, round_mode)
    if to in NARROW_FLOATS:
        if isinstance(src, IntegerType):
            x = _cast(b, x, f32)
        if saturate and (to in SATURATING or isinstance(to, Float8E8M0FNUType)):
            x = _saturate(b, x, to)
        y = v(arith.TruncFOp(x, to))
        if isinstance(to, Float8E8M0FNUType):
            y.owner.attributes["hetc.round_mode"] = StringAttr(round_mode)
        return y
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
            if src.width.data == to.width.data:  # a sign change: the same bits
                return v(arith.BitcastOp(x, to))
            return v(arith.TruncIOp(x, to))
        if to.width.data < 8:  # to int4/int2: truncate toward zero, then wrap (NumPy's way)
            return v(arith.TruncIOp(v(arith.FPToSIOp(x, i64)), to))
        return v(arith.FPToSIOp(x, to) if to.signedness.data != Signedness.UNSIGNED else arith.FPToUIOp(x, to))
    # to float
    if src == IntegerType(1) or (isinstance(src, IntegerType) and src.signedness.data == Signedness.UNSIGNED):
        return v(arith.UIToFPOp(x, to))
    if isinstance(src, IntegerType):
        return v(arith.SIToFPOp(x, to))
    return v(arith.ExtFOp(x, to) if to.bitwidth > src.bitwidth else arith.TruncFOp(x, to))


def _to_f64(b: LoopBuilder, x: SSAValue) -> SSAValue:
    if x.type == f64:
        return x
    if isinstance(x.type, IntegerType):
        return b.value(arith.UIToFPOp(x, f64) if _unsigned(x.type) else arith.SIToFPOp(x, f64))
    return b.value(arith.ExtFOp(x, f64))


def _from_f64(b: LoopBuilder, x: SSAValue, to: Attribute) -> SSAValue:
    if to == f64:
        return x
    if isinstance(to, IntegerType):  # truncates toward zero
        return b.value(arith.FPToUIOp(x, to) if _unsigned(to) else arith.FPToSIOp(x, to))
    return b.value(arith.TruncFOp(x, to))


def _int_pow(b: LoopBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    """x ** y for integers, exactly (wrapping like C): square and multiply over the
    exponent's bits. A negative exponent truncates 1 / x**-y toward zero: only
    |x| == 1 survives."""
    v = b.value
    t, e = x.type, y.type
    zero = b.index(0)
    neg = None if _unsigned(e) else v(arith.CmpiOp(y, b.const(0, e), "slt"))
    acc = v(memref.AllocaOp.get(t, shape=[1]))
    base = v(memref.AllocaOp.get(t, shape=[1]))
    rest = v(memref.AllocaOp.get(e, shape=[1]))
    b.store(b.const(1, t), acc, [zero])
    b.store(x, base, [zero])
    b.store(y if neg is None else v(arith.SelectOp(neg, b.const(0, e), y)), rest, [zero])
    with b.loop(0, e.width.data - (0 if neg is None else 1)):
        n = b.load(rest, [zero])
        p = b.load(base, [zero])
        a = b.load(acc, [zero])
        odd = v(arith.CmpiOp(v(arith.AndIOp(n, b.const(1, e))), b.const(0, e), "ne"))
        b.store(v(arith.SelectOp(odd, v(arith.MuliOp(a, p)), a)), acc, [zero])
        # square only while a higher bit is left: no overflow the result does not have
        more = v(arith.CmpiOp(n, b.const(1, e), "ugt" if neg is None else "sgt"))
        b.store(v(arith.MuliOp(p, v(arith.SelectOp(more, p, b.const(1, t))))), base, [zero])
        b.store(v(arith.DivUIOp(n, b.const(2, e))), rest, [zero])
    r = b.load(acc, [zero])
    if neg is None:
        return r
    one, nil = b.const(1, t), b.const(0, t)
    inv = v(arith.SelectOp(v(arith.CmpiOp(x, one, "eq")), one, nil))
    if not _unsigned(t):
        minus = v(arith.SubiOp(nil, one))
        odd_y = v(arith.CmpiOp(v(arith.AndIOp(y, b.const(1, e))), b.const(0, e), "ne"))
        inv = v(arith.SelectOp(v(arith.CmpiOp(x, minus, "eq")), v(arith.SelectOp(odd_y, minus, one)), inv))
    return v(arith.SelectOp(neg, inv, r))


def _pow(b: LoopBuilder, x: SSAValue, y: SSAValue) -> SSAValue:
    """ONNX Pow whose exponent has another type than the base, or integer Pow: the
    result has the base's type; integer ** integer is exact, every other mix computes
    in double (as the reference does) and converts back."""
    if isinstance(x.type, IntegerType) and isinstance(y.type, IntegerType):
        return _int_pow(b, x, y)
    return _from_f64(b, b.value(math.PowFOp(_to_f64(b, x), _to_f64(b, y))), x.type)


def _int_clip(b: LoopBuilder, xs: list[SSAValue | None]) -> SSAValue:
    """Integer Clip; a missing bound does not clamp."""
    unsigned = _unsigned(xs[0].type)
    y = xs[0]
    if len(xs) > 1 and xs[1] is not None:
        y = b.value((arith.MaxUIOp if unsigned else arith.MaxSIOp)(y, xs[1]))
    if len(xs) > 2 and xs[2] is not None:
        y = b.value((arith.MinUIOp if unsigned else arith.MinSIOp)(y, xs[2]))
    return y


FLOAT_BINARY = {"Add": arith.AddfOp, "Sub": arith.SubfOp, "Mul": arith.MulfOp, "Div": arith.DivfOp, "Pow": math.PowFOp}


def _scalar(b: LoopBuilder, op: onnx_d.OnnxOp, xs: list[SSAValue]) -> SSAValue:
    t = op.OP_TYPE
    v = b.value
    if t == "Where":
        return v(arith.SelectOp(xs[0], xs[1], xs[2]))
    if t == "Cast":
        to = op.results[0].type.get_element_type()
        return _cast(b, xs[0], to, bool(_attr(op, "saturate", 1)), _attr(op, "round_mode", "up"))
    if t in COMPARE:
        fp, ip = COMPARE[t]
        if isinstance(xs[0].type, IntegerType):
            return v(arith.CmpiOp(xs[0], xs[1], ip.replace("s", "u", 1) if _unsigned(xs[0].type) else ip))
        return v(arith.CmpfOp(xs[0], xs[1], fp))
    if t in LOGICAL:
        if t == "Not":
            return v(arith.XOrIOp(xs[0], b.const(1, xs[0].type)))
        return v({"And": arith.AndIOp, "Or": arith.OrIOp, "Xor": arith.XOrIOp}[t](xs[0], xs[1]))
    if t == "Pow" and (xs[0].type != xs[1].type or isinstance(xs[0].type, IntegerType)):
        return _pow(b, xs[0], xs[1])
    if t == "Clip" and isinstance(xs[0].type, IntegerType):
        return _int_clip(b, xs)
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
    if t == "Round":  # halves to even, as ONNX (C's rint in the default rounding mode)
        return v(math.RoundEvenOp(x))
    if t == "Sign":  # 0, -0 and NaN stay themselves
        neg = v(arith.SelectOp(v(arith.CmpfOp(x, c(0.0), "olt")), c(-1.0), x))
        return v(arith.SelectOp(v(arith.CmpfOp(x, c(0.0), "ogt")), c(1.0), neg))
    if t == "Softsign":
        return v(arith.DivfOp(x, v(arith.AddfOp(c(1.0), v(math.AbsFOp(x))))))
    if t == "Celu":  # max(0, x) + min(0, alpha * (exp(x / alpha) - 1))
        alpha = _attr(op, "alpha", 1.0)
        em1 = v(arith.SubfOp(v(math.ExpOp(v(arith.DivfOp(v(arith.MinimumfOp(x, c(0.0))), c(alpha))))), c(1.0)))
        return v(arith.AddfOp(v(arith.MaximumfOp(x, c(0.0))), v(arith.MinimumfOp(v(arith.MulfOp(c(alpha), em1)), c(0.0)))))
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
    if t in FLOAT_BINARY:  # (Max/Min are variadic, above)
        return v(FLOAT_BINARY[t](a, bb))
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
