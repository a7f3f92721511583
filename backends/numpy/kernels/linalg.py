"""NumPy semantics of the ONNX linear-algebra ops (opset 28).

MatMul, Gemm, MatMulInteger, QLinearMatMul, Einsum, Det. 16-bit floats are
accumulated in float32 and rounded once at the end.
"""

from __future__ import annotations

import numpy as np

from hetc.backends.numpy.kernels import kernel


def _linalg_acc(dt):
    dt = np.dtype(dt)
    # kind "V": ml_dtypes' bfloat16 / float8, which NumPy cannot multiply natively
    if (dt.kind == "f" and dt.itemsize < 4) or dt.kind == "V":
        return np.dtype(np.float32)
    if dt.kind != "f" and dt.kind != "c" and dt.itemsize < 4:
        return np.dtype(np.int32) if dt.kind == "i" else np.dtype(np.uint32)
    return dt


@kernel
def MatMul(A, B):
    acc = _linalg_acc(A.dtype)
    y = np.matmul(A.astype(acc, copy=False), B.astype(acc, copy=False))
    return np.asarray(y).astype(A.dtype, copy=False)


@kernel
def Gemm(A, B, C=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    acc = _linalg_acc(A.dtype)
    a = A.astype(acc, copy=False)
    b = B.astype(acc, copy=False)
    if transA:
        a = a.T
    if transB:
        b = b.T
    y = a @ b
    if alpha != 1.0:
        y = y * acc.type(alpha)
    if C is not None and beta != 0.0:
        c = C.astype(acc, copy=False)
        if beta != 1.0:
            c = c * acc.type(beta)
        y = y + c
    return np.asarray(y).astype(A.dtype, copy=False)


def _linalg_zp_rows(zp, ndim):
    """A's zero point: scalar, per-row 1-D (size M), or an N-D tensor that broadcasts."""
    zp = np.asarray(zp).astype(np.int32)
    if zp.ndim == 1 and zp.size > 1:
        return zp.reshape(-1, 1)
    if zp.ndim <= 1:
        return zp.reshape(())
    return zp


def _linalg_zp_cols(zp):
    """B's zero point: scalar, per-column 1-D (size N) or N-D broadcasting."""
    zp = np.asarray(zp).astype(np.int32)
    if zp.ndim == 1 and zp.size == 1:
        return zp.reshape(())
    return zp


@kernel
def MatMulInteger(A, B, a_zero_point=None, b_zero_point=None):
    a = A.astype(np.int32)
    b = B.astype(np.int32)
    if a_zero_point is not None:
        a = a - _linalg_zp_rows(a_zero_point, A.ndim)
    if b_zero_point is not None:
        b = b - _linalg_zp_cols(b_zero_point)
    return np.matmul(a, b).astype(np.int32)


@kernel
def QLinearMatMul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    ai = a.astype(np.int32) - _linalg_zp_rows(a_zero_point, a.ndim)
    bi = b.astype(np.int32) - _linalg_zp_cols(b_zero_point)
    acc = np.matmul(ai, bi)
    asc = np.asarray(a_scale).astype(np.float32)
    if asc.ndim == 1 and asc.size > 1:
        asc = asc.reshape(-1, 1)
    elif asc.size == 1:
        asc = asc.reshape(())
    bsc = np.asarray(b_scale).astype(np.float32)
    if bsc.size == 1:
        bsc = bsc.reshape(())
    ysc = np.asarray(y_scale).astype(np.float32)
    if ysc.size == 1:
        ysc = ysc.reshape(())
    val = acc.astype(np.float32) * (asc * bsc / ysc)
    yz = np.asarray(y_zero_point)
    info = np.iinfo(yz.dtype)
    q = np.rint(val).astype(np.float64) + yz.astype(np.float64).reshape(() if yz.size == 1 else yz.shape)
    return np.clip(q, info.min, info.max).astype(yz.dtype)


@kernel
def Einsum(*Inputs, equation=""):
    eq = equation.replace(" ", "")
    dt = Inputs[0].dtype
    acc = _linalg_acc(dt)
    ops = [x.astype(acc, copy=False) for x in Inputs]
    if "->" not in eq:
        # Implicit output: the labels seen once, alphabetically, after any broadcast dims.
        lhs = eq
        letters = [ch for ch in lhs if ch.isalpha()]
        once = sorted(ch for ch in set(letters) if letters.count(ch) == 1)
        eq = lhs + "->" + ("..." if "..." in lhs else "") + "".join(once)
    y = np.einsum(eq, *ops, optimize=True)
    return np.asarray(y).astype(dt, copy=False)


@kernel
def Det(X):
    acc = _linalg_acc(X.dtype)
    y = np.linalg.det(X.astype(acc, copy=False))
    return np.asarray(y).astype(X.dtype, copy=False)
