"""NumPy semantics of the elementwise ONNX ops (opset 28): arithmetic, math,
comparison, logical, bitwise, Where, Clip, Cast/CastLike, Identity.

Helpers here are prefixed ``_ew_``; ``_ew_onnx_dtype``, ``_ew_cast``,
``_ew_erf_pair`` and ``_ew_is_float`` are also used by other kernel modules.
"""

from __future__ import annotations

import math

import numpy as np

from hetc.backends.numpy.kernels import kernel

# ---------------------------------------------------------------- helpers


def _ew_is_float(dt):
    """True for every floating dtype, including ml_dtypes' bfloat16/float8/float4."""
    dt = np.dtype(dt)
    return dt.kind in "fc" or dt.name.startswith(("bfloat", "float8", "float6", "float4"))


def _ew_is_lowfloat(dt):
    """Floating dtypes narrower than float32 (computed in float32, then rounded)."""
    dt = np.dtype(dt)
    return _ew_is_float(dt) and dt.kind != "c" and dt.itemsize < 4


def _ew_unary(fn, x):
    """Apply a float math function, computing float16/bfloat16 in float32."""
    x = np.asarray(x)
    if _ew_is_lowfloat(x.dtype):
        with np.errstate(all="ignore"):
            return np.asarray(fn(x.astype(np.float32))).astype(x.dtype)
    with np.errstate(all="ignore"):
        return np.asarray(fn(x)).astype(x.dtype, copy=False)


def _ew_binary(fn, a, b):
    """Apply a float binary function, computing float16/bfloat16 in float32."""
    a = np.asarray(a)
    b = np.asarray(b)
    dt = a.dtype
    with np.errstate(all="ignore"):
        if _ew_is_lowfloat(dt):
            return np.asarray(fn(a.astype(np.float32), b.astype(np.float32))).astype(dt)
        return np.asarray(fn(a, b)).astype(dt, copy=False)


def _ew_onnx_dtype(to):
    """numpy dtype of an ONNX TensorProto.DataType value (ml_dtypes names for the
    non-native ones; those need ml_dtypes imported, which onnx does)."""
    native = {
        1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32,
        7: np.int64, 8: object, 9: np.bool_, 10: np.float16, 11: np.float64, 12: np.uint32,
        13: np.uint64, 14: np.complex64, 15: np.complex128,
    }
    if int(to) in native:
        return np.dtype(native[int(to)])
    named = {
        16: "bfloat16", 17: "float8_e4m3fn", 18: "float8_e4m3fnuz", 19: "float8_e5m2",
        20: "float8_e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4_e2m1fn",
        24: "float8_e8m0fnu", 25: "uint2", 26: "int2", 27: "float6_e2m3fn", 28: "float6_e3m2fn",
    }
    if int(to) not in named:
        raise ValueError(f"unknown ONNX data type {to}")
    return np.dtype(named[int(to)])


def _ew_float_to_int(x, dt):
    """Truncating float -> integer conversion; out of range wraps like C (via int64)."""
    x = np.asarray(x)
    if _ew_is_lowfloat(x.dtype):
        x = x.astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        t = np.trunc(x).astype(np.float64)
        if dt == np.uint64:
            big = t >= 9223372036854775808.0
            lo = np.where(big, t - 9223372036854775808.0, t).astype(np.int64).view(np.uint64)
            return np.where(big, lo + np.uint64(9223372036854775808), lo).astype(np.uint64)
        return t.astype(np.int64).astype(dt)


def _ew_format_float(v):
    v = float(v)
    if v != v:
        return "NaN"
    if v == math.inf:
        return "INF"
    if v == -math.inf:
        return "-INF"
    return "%.8g" % v


def _ew_parse_number(s, want_int):
    if isinstance(s, bytes):
        s = s.decode()
    s = str(s).strip()
    low = s.lower()
    if low in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if low in ("-inf", "-infinity"):
        return -math.inf
    if low in ("nan", "+nan", "-nan"):
        return math.nan
    if want_int:
        try:
            return int(s)
        except ValueError:
            return int(float(s))
    return float(s)


def _ew_small_float_max(name):
    """Largest finite value of the float8/6/4 formats (None for other dtypes)."""
    return {
        "float8_e4m3fn": 448.0,
        "float8_e4m3fnuz": 240.0,
        "float8_e5m2": 57344.0,
        "float8_e5m2fnuz": 57344.0,
        "float4_e2m1fn": 6.0,
        "float6_e2m3fn": 7.5,
        "float6_e3m2fn": 28.0,
    }.get(name)


def _ew_to_e8m0(x, saturate, round_mode):
    """float -> FLOAT8E8M0 (power-of-two scale; sign ignored) on float32 bit patterns."""
    f = np.asarray(x).astype(np.float32)
    bits = f.view(np.uint32)
    e = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int64)
    m = (bits & np.uint32(0x7FFFFF)).astype(np.int64)
    special = e == 255
    nan = special & (m != 0)
    if round_mode == "up":
        bump = np.where(e == 0, m > 0x400000, m != 0)
    elif round_mode == "nearest":
        bump = np.where(e == 0, m > 0x600000, m >= 0x400000)
    elif round_mode == "down":
        bump = np.zeros(e.shape, dtype=np.bool_)
    else:
        raise ValueError(f"Cast: unknown round_mode {round_mode!r}")
    r = np.where(special, e, e + bump.astype(np.int64))
    if saturate:
        r = np.where(nan, 255, np.minimum(r, 254))
    else:
        r = np.where(nan | (r >= 255) | (f == 0), 255, r)
    return r.astype(np.uint8).view(_ew_onnx_dtype(24))


def _ew_cast(x, dt, saturate=1, round_mode="up"):
    """ONNX Cast of ``x`` to numpy dtype ``dt``."""
    x = np.asarray(x)
    dt = np.dtype(dt)
    src = x.dtype
    if src == dt:
        return x.copy()
    if dt.name == "float8_e8m0fnu":
        return _ew_to_e8m0(x, saturate, round_mode)
    if dt == object:  # to string
        flat = x.reshape(-1)
        if _ew_is_float(src):
            out = [_ew_format_float(v) for v in flat.astype(np.float64)]
        elif src == np.bool_:
            out = ["1" if v else "0" for v in flat]
        elif src == object:
            out = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
        else:
            out = [str(int(v)) for v in flat]
        res = np.empty(len(out), dtype=object)
        res[:] = out
        return res.reshape(x.shape)
    if src == object:  # from string
        flat = x.reshape(-1)
        if dt == np.bool_:
            vals = [_ew_parse_number(v, False) != 0 for v in flat]
            return np.array(vals, dtype=np.bool_).reshape(x.shape)
        if _ew_is_float(dt):
            vals = np.array([_ew_parse_number(v, False) for v in flat], dtype=np.float64)
            return _ew_cast(vals.reshape(x.shape), dt, saturate)
        vals = [_ew_parse_number(v, True) for v in flat]
        if any(isinstance(v, float) for v in vals):
            arr = np.array([float(v) for v in vals], dtype=np.float64)
            return _ew_float_to_int(arr, dt).reshape(x.shape)
        mask = (1 << (8 * dt.itemsize)) - 1
        wrapped = [int(v) & mask for v in vals]
        return np.array(wrapped, dtype=np.uint64).astype(dt).reshape(x.shape)
    if dt == np.bool_:
        return x != 0
    if src == np.bool_:
        return x.astype(np.uint8).astype(dt)
    if _ew_is_float(src) and dt.kind in "iu":
        return _ew_float_to_int(x, dt)
    if _ew_small_float_max(dt.name) is not None:
        xf = x.astype(np.float32) if not (_ew_is_float(src) and src.itemsize >= 4) else x
        if saturate:
            m = _ew_small_float_max(dt.name)
            xf = np.where(np.isnan(xf), xf, np.clip(xf, -m, m))
        with np.errstate(all="ignore"):
            return np.asarray(xf).astype(dt)
    if dt.name == "bfloat16" and not _ew_is_float(src):
        return x.astype(np.float64).astype(np.float32).astype(dt)
    with np.errstate(all="ignore"):
        return x.astype(dt)


def _ew_erf_pair(x):
    """(erf(x), erfc(x)) of a float64 array, relative error ~1e-15.

    |x| < 1: erf = x * P(x^2); 1 <= |x| < 2: erfc = exp(-x^2) * Chebyshev(x);
    |x| >= 2: erfc = exp(-x^2) / |x| * Chebyshev(1/|x|). Coefficients were
    least-squares fitted for hetc against high-precision references.
    """
    p = (1.128379167095514, -0.3761263890318386, 0.11283791670955555, -0.0268661706450447,
         0.0052239776227628225, -0.0008548326757996058, 0.00012055319149110433,
         -1.4925216865899279e-05, 1.6453503814470943e-06, -1.6256132899293318e-07,
         1.3930513410703101e-08, -8.196249987718438e-10)
    cx = (0.3314272816394522, -0.08500213770674316, 0.009951127341466125,
          -0.0010810888102208331, 0.00011023243631195136, -1.0636830518210056e-05,
          9.775012680755042e-07, -8.597922867623968e-08, 7.267708413378164e-09,
          -5.923543717159282e-10, 4.668395157769098e-11, -3.566117119542595e-12,
          2.6461648303270763e-13, -1.9091159126844744e-14, 1.3583192583162053e-15,
          -8.849222201176225e-17, 2.186019127962819e-17, 3.1692945887210496e-17,
          1.1020133087871006e-17)
    cu = (0.5427416308736758, -0.027456541627010337, -0.005256099448393955,
          0.0007739396325011383, 2.609208681427297e-06, -1.660119241176823e-05,
          2.4179794695094238e-06, 7.31076164568687e-08, -9.093948871660963e-08,
          1.5307873040257576e-08, 2.6706447124854136e-10, -6.890191650254871e-10,
          1.4963130957299577e-10, -4.7255474947189506e-12, -6.096263291740386e-12,
          1.8587961880420286e-12, -1.8498224936634827e-13, -5.078204267416083e-14,
          2.5483067814136948e-14, -4.622556780608702e-15, -1.4949314729696036e-16,
          3.3559962405735824e-16, -9.654576883563037e-17)
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        ax = np.abs(x)
        t = x * x
        acc = np.zeros_like(t)
        for c in p[::-1]:
            acc = acc * t + c
        erf_small = x * acc

        def cheb(coefs, z):
            b1 = np.zeros_like(z)
            b2 = np.zeros_like(z)
            for c in coefs[:0:-1]:
                b1, b2 = 2.0 * z * b1 - b2 + c, b1
            return z * b1 - b2 + coefs[0]

        zx = np.clip(2.0 * ax - 3.0, -1.0, 1.0)
        axu = np.maximum(ax, 2.0)
        zu = 4.0 / axu - 1.0
        q = np.where(ax < 2.0, cheb(cx, zx), cheb(cu, zu) / axu)
        erfc_abs = np.exp(-t) * q
        small = ax < 1.0
        erfc_abs = np.where(np.isinf(ax), 0.0, erfc_abs)
        erf = np.where(small, erf_small, np.copysign(1.0 - erfc_abs, x))
        erfc = np.where(small, 1.0 - erf_small, np.where(x >= 0, erfc_abs, 2.0 - erfc_abs))
        erfc = np.where(np.isnan(x), x, erfc)
    return erf, erfc


def _ew_variadic(fn, inputs):
    out = np.asarray(inputs[0])
    for other in inputs[1:]:
        out = fn(out, np.asarray(other))
    return np.asarray(out)


# ---------------------------------------------------------------- arithmetic


@kernel
def Add(A, B):
    with np.errstate(all="ignore"):
        return np.asarray(np.add(A, B)).astype(np.asarray(A).dtype, copy=False)


@kernel
def Sub(A, B):
    with np.errstate(all="ignore"):
        return np.asarray(np.subtract(A, B)).astype(np.asarray(A).dtype, copy=False)


@kernel
def Mul(A, B):
    with np.errstate(all="ignore"):
        return np.asarray(np.multiply(A, B)).astype(np.asarray(A).dtype, copy=False)


@kernel
def Div(A, B):
    a = np.asarray(A)
    b = np.asarray(B)
    dt = a.dtype
    if dt.kind in "iu":
        with np.errstate(all="ignore"):
            if dt.kind == "u":
                return np.asarray(np.floor_divide(a, b)).astype(dt, copy=False)
            r = np.fmod(a, b)  # C remainder, sign of a
            return np.asarray(np.floor_divide(a - r, b)).astype(dt, copy=False)
    return _ew_binary(np.true_divide, a, b)


@kernel
def Pow(X, Y):
    x = np.asarray(X)
    y = np.asarray(Y)
    dt = x.dtype
    with np.errstate(all="ignore"):
        if dt.kind in "iu":
            if y.dtype.kind in "iu":
                neg = y < 0
                yy = np.where(neg, 0, y).astype(dt)
                r = np.power(x, yy)
                if neg.any():
                    # x ** -n truncated toward zero: only |x| == 1 survives
                    odd = (y % 2) != 0
                    inv = np.where(x == 1, 1, np.where(x == -1, np.where(odd, -1, 1), 0))
                    r = np.where(neg, inv, r)
                return np.asarray(r).astype(dt, copy=False)
            r = np.power(x.astype(np.float64), y.astype(np.float64))
            return _ew_float_to_int(r, dt)
        if y.dtype == dt and dt.kind == "f" and dt.itemsize >= 4:
            return np.asarray(np.power(x, y))
        r = np.power(x.astype(np.float64), y.astype(np.float64))
        return np.asarray(r).astype(dt)


@kernel
def Mod(A, B, fmod=0):
    a = np.asarray(A)
    b = np.asarray(B)
    dt = a.dtype
    fn = np.fmod if fmod else np.mod
    if dt.kind in "iu":
        with np.errstate(all="ignore"):
            return np.asarray(fn(a, b)).astype(dt, copy=False)
    return _ew_binary(fn, a, b)


# ---------------------------------------------------------------- unary math


@kernel
def Abs(X):
    with np.errstate(all="ignore"):
        x = np.asarray(X)
        return np.asarray(np.abs(x)).astype(x.dtype, copy=False)


@kernel
def Neg(X):
    with np.errstate(all="ignore"):
        x = np.asarray(X)
        return np.asarray(np.negative(x)).astype(x.dtype, copy=False)


@kernel
def Sign(input):
    x = np.asarray(input)
    if x.dtype.kind in "iub":
        return np.asarray(np.sign(x)).astype(x.dtype, copy=False)
    return _ew_unary(np.sign, x)


@kernel
def Reciprocal(X):
    return _ew_unary(np.reciprocal, X)


@kernel
def Sqrt(X):
    return _ew_unary(np.sqrt, X)


@kernel
def Exp(input):
    return _ew_unary(np.exp, input)


@kernel
def Log(input):
    return _ew_unary(np.log, input)


@kernel
def Ceil(X):
    return _ew_unary(np.ceil, X)


@kernel
def Floor(X):
    return _ew_unary(np.floor, X)


@kernel
def Round(X):
    return _ew_unary(np.round, X)  # np.round: halves to even


@kernel
def Sin(input):
    return _ew_unary(np.sin, input)


@kernel
def Cos(input):
    return _ew_unary(np.cos, input)


@kernel
def Tan(input):
    return _ew_unary(np.tan, input)


@kernel
def Asin(input):
    return _ew_unary(np.arcsin, input)


@kernel
def Acos(input):
    return _ew_unary(np.arccos, input)


@kernel
def Atan(input):
    return _ew_unary(np.arctan, input)


@kernel
def Sinh(input):
    return _ew_unary(np.sinh, input)


@kernel
def Cosh(input):
    return _ew_unary(np.cosh, input)


@kernel
def Asinh(input):
    return _ew_unary(np.arcsinh, input)


@kernel
def Acosh(input):
    return _ew_unary(np.arccosh, input)


@kernel
def Atanh(input):
    return _ew_unary(np.arctanh, input)


@kernel
def Erf(input):
    x = np.asarray(input)
    return np.asarray(_ew_erf_pair(x.astype(np.float64))[0]).astype(x.dtype)


@kernel
def IsNaN(X):
    x = np.asarray(X)
    if _ew_is_lowfloat(x.dtype):
        x = x.astype(np.float32)
    return np.asarray(np.isnan(x))


@kernel
def IsInf(X, detect_negative=1, detect_positive=1):
    x = np.asarray(X)
    if _ew_is_lowfloat(x.dtype):
        x = x.astype(np.float32)
    pos = np.isposinf(x) if detect_positive else np.zeros(x.shape, dtype=np.bool_)
    neg = np.isneginf(x) if detect_negative else np.zeros(x.shape, dtype=np.bool_)
    return np.asarray(pos | neg)


# ---------------------------------------------------------------- variadic


@kernel
def Max(*data_0):
    dt = np.asarray(data_0[0]).dtype
    return _ew_variadic(np.maximum, data_0).astype(dt, copy=False)


@kernel
def Min(*data_0):
    dt = np.asarray(data_0[0]).dtype
    return _ew_variadic(np.minimum, data_0).astype(dt, copy=False)


@kernel
def Sum(*data_0):
    dt = np.asarray(data_0[0]).dtype
    with np.errstate(all="ignore"):
        if _ew_is_lowfloat(dt):
            vals = [np.asarray(v).astype(np.float32) for v in data_0]
            return _ew_variadic(np.add, vals).astype(dt)
        return _ew_variadic(np.add, data_0).astype(dt, copy=False)


@kernel
def Mean(*data_0):
    dt = np.asarray(data_0[0]).dtype
    work = np.float32 if _ew_is_lowfloat(dt) else dt
    with np.errstate(all="ignore"):
        vals = [np.asarray(v).astype(work) for v in data_0]
        total = _ew_variadic(np.add, vals)
        return np.asarray(total / np.asarray(len(data_0), dtype=work)).astype(dt)


# ---------------------------------------------------------------- comparison / logic


@kernel
def Equal(A, B):
    return np.asarray(np.equal(A, B)).astype(np.bool_, copy=False)


@kernel
def Greater(A, B):
    return np.asarray(np.greater(A, B))


@kernel
def GreaterOrEqual(A, B):
    return np.asarray(np.greater_equal(A, B))


@kernel
def Less(A, B):
    return np.asarray(np.less(A, B))


@kernel
def LessOrEqual(A, B):
    return np.asarray(np.less_equal(A, B))


@kernel
def And(A, B):
    return np.asarray(np.logical_and(A, B))


@kernel
def Or(A, B):
    return np.asarray(np.logical_or(A, B))


@kernel
def Xor(A, B):
    return np.asarray(np.logical_xor(A, B))


@kernel
def Not(X):
    return np.asarray(np.logical_not(X))


@kernel
def BitwiseAnd(A, B):
    return np.asarray(np.bitwise_and(A, B)).astype(np.asarray(A).dtype, copy=False)


@kernel
def BitwiseOr(A, B):
    return np.asarray(np.bitwise_or(A, B)).astype(np.asarray(A).dtype, copy=False)


@kernel
def BitwiseXor(A, B):
    return np.asarray(np.bitwise_xor(A, B)).astype(np.asarray(A).dtype, copy=False)


@kernel
def BitwiseNot(X):
    return np.asarray(np.invert(X)).astype(np.asarray(X).dtype, copy=False)


@kernel
def BitShift(X, Y, direction=None):
    x = np.asarray(X)
    y = np.asarray(Y)
    dt = x.dtype
    bits = 8 * dt.itemsize
    x, y = np.broadcast_arrays(x, y)
    valid = (y >= 0) & (y < bits)
    ys = np.where(valid, y, 0)
    udt = np.dtype(f"u{dt.itemsize}")
    if direction == "LEFT":
        r = np.left_shift(x.astype(dt).view(udt), ys.astype(udt)).view(dt)
        fill = np.zeros((), dtype=dt)
    elif direction == "RIGHT":
        r = np.right_shift(x, ys.astype(dt))  # arithmetic for signed dtypes
        fill = np.where(x < 0, -1, 0).astype(dt) if dt.kind == "i" else np.zeros((), dtype=dt)
    else:
        raise ValueError(f"BitShift: bad direction {direction!r}")
    return np.asarray(np.where(valid, r, fill)).astype(dt, copy=False)


@kernel
def Where(condition, X, Y):
    x = np.asarray(X)
    return np.asarray(np.where(np.asarray(condition, dtype=np.bool_), x, Y)).astype(x.dtype, copy=False)


@kernel
def Clip(input, min=None, max=None):
    x = np.asarray(input)
    dt = x.dtype
    out = x
    if min is not None:
        out = np.maximum(out, np.asarray(min).astype(dt))
    if max is not None:
        out = np.minimum(out, np.asarray(max).astype(dt))
    # a copy when no bound applied (callers may mutate outputs); else just the dtype
    return np.array(out, dtype=dt) if out is x else np.asarray(out, dtype=dt)


# ---------------------------------------------------------------- casts


@kernel
def Cast(input, to=None, saturate=1, round_mode="up"):
    return _ew_cast(input, _ew_onnx_dtype(to), saturate, round_mode)


@kernel
def CastLike(input, target_type, saturate=1, round_mode="up"):
    return _ew_cast(input, np.asarray(target_type).dtype, saturate, round_mode)


@kernel
def Identity(input):
    return np.array(input, copy=True)
