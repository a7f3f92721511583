"""Runs `he` dialect functions on NumPy arrays, exactly.

Every op of the dialect has an implementation here: the low-level ops the lowering
passes produce (what `hetc.he` runs with target="numpy") and the high-level modular
ops (so a function can be run before and after each pass and the two compared).

Exactness: residues are < 2^32, so products of two residues fit uint64 exactly and
`%` on uint64 is exact; word ops wrap modulo 2^width like the C target. he.bytematmul
multiplies u8 matrices through float64 BLAS: every product is <= 255^2 and every sum
<= pairs * K * 255^2, exact in a double's 53-bit mantissa whenever that bound is below
2^53 (checked; an integer matmul is used otherwise).

`ntt_direct` / `intt_direct` are the plain radix-2 negacyclic NTT in uint64 NumPy
(Cooley-Tukey / Gentleman-Sande, log2 N vectorized stages), the high-level ops' and
the benchmark's direct baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from hetc.diagnostics import HetcError
from hetc.dialects import he

U64 = np.uint64
EXACT_F64 = 2**53


def _limbs(moduli: Sequence[int], ndim: int) -> np.ndarray:
    shape = ((len(moduli),) + (1,) * (ndim - 1)) if len(moduli) > 1 else (1,) * ndim
    return np.array(moduli, dtype=U64).reshape(shape)


def _dtype(v: SSAValue) -> np.dtype:
    assert isinstance(v.type, TensorType)
    return he.numpy_dtype(v.type.get_element_type())


def _shape(v: SSAValue) -> tuple[int, ...]:
    assert isinstance(v.type, TensorType)
    return tuple(v.type.get_shape())


def _u64(a: np.ndarray) -> np.ndarray:
    return a.astype(U64) if a.dtype != np.int64 else a.view(U64)


def _to(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Zero-extension / truncation mod 2^width (int64 <-> uint64 keep the bits)."""
    if a.dtype == dtype:
        return a
    if {a.dtype, dtype} == {np.dtype(np.int64), np.dtype(U64)}:
        return a.view(dtype)
    return _u64(a).astype(dtype) if dtype != np.int64 else _u64(a).view(np.int64)


def byte_matmul(lhs: Sequence[np.ndarray], rhs: Sequence[np.ndarray], out_dtype) -> np.ndarray:
    """sum_t lhs[t] @ rhs[t] of uint8 matrices, exact."""
    k = lhs[0].shape[-1] * len(lhs)
    a = np.concatenate(lhs, axis=-1)
    b = np.concatenate(rhs, axis=-2)
    if k * 255 * 255 < EXACT_F64:
        out = np.matmul(a.astype(np.float64), b.astype(np.float64))
        return out.astype(U64).astype(out_dtype)
    return np.matmul(a.astype(U64), b.astype(U64)).astype(out_dtype)


def mod_matmul(w: np.ndarray, x: np.ndarray, moduli: Sequence[int]) -> np.ndarray:
    """(w @ x) mod q, exact, by schoolbook byte slicing (independent of the BAT pass):
    sum_{i,j} 2^(8(i+j)) (w_i @ x_j) with each product reduced mod q on the way."""
    q = _limbs(moduli, w.ndim)
    w64, x64 = _u64(w), _u64(x)
    acc = np.zeros((*w.shape[:-1], x.shape[-1]), U64)
    for i in range(4):
        wi = ((w64 >> U64(8 * i)) & U64(255)).astype(np.uint8)
        for j in range(4):
            xj = ((x64 >> U64(8 * j)) & U64(255)).astype(np.uint8)
            p = byte_matmul([wi], [xj], U64) % q
            scale = np.array([pow(2, 8 * (i + j), int(m)) for m in np.ravel(q)], dtype=U64).reshape(q.shape)
            acc = (acc + p * scale % q) % q
    return acc


# ---------------------------------------------------------------------------
# The direct NTT (the baseline): radix-2 stages over uint64 arrays
# ---------------------------------------------------------------------------


def _bitrev_perm(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    idx = np.arange(n)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(bits):
        rev |= ((idx >> b) & 1) << (bits - 1 - b)
    return rev


def ntt_tables(n: int, q: int, psi: int) -> tuple[np.ndarray, np.ndarray]:
    """psi^brv(i) and psi^-brv(i) for i < N (the twiddles of the in-place negacyclic NTT)."""
    rev = _bitrev_perm(n)
    pw = np.empty(n, dtype=U64)
    ipw = np.empty(n, dtype=U64)
    p, ip, psi_inv = 1, 1, pow(psi, -1, q)
    for e in range(n):
        pw[e], ipw[e] = p, ip
        p, ip = p * psi % q, ip * psi_inv % q
    return pw[rev], ipw[rev]


def ntt_direct(x: np.ndarray, q: int, psi: int, tables=None) -> np.ndarray:
    """Negacyclic NTT of the last axis (natural in, bit-reversed out), uint64 arithmetic:
    the textbook in-place Cooley-Tukey loop with psi^brv twiddles, one vectorized stage
    per level. Exact: operands < q < 2^32, so w * v < 2^64."""
    n = x.shape[-1]
    fw = (tables or ntt_tables(n, q, psi))[0]
    a = _u64(np.array(x, copy=True)).reshape(-1, n)
    qq = U64(q)
    m, t = 1, n
    while m < n:
        t //= 2
        blocks = a.reshape(a.shape[0], m, 2, t)
        w = fw[m : 2 * m].reshape(1, m, 1)
        u = blocks[:, :, 0, :].copy()
        v = blocks[:, :, 1, :] * w % qq
        blocks[:, :, 0, :] = (u + v) % qq
        blocks[:, :, 1, :] = (u + qq - v) % qq
        m *= 2
    return a.reshape(x.shape)


def intt_direct(y: np.ndarray, q: int, psi: int, tables=None) -> np.ndarray:
    """Inverse of ntt_direct (Gentleman-Sande, bit-reversed in, natural out, times N^-1)."""
    n = y.shape[-1]
    iw = (tables or ntt_tables(n, q, psi))[1]
    a = _u64(np.array(y, copy=True)).reshape(-1, n)
    qq = U64(q)
    m, t = n, 1
    while m > 1:
        h = m // 2
        blocks = a.reshape(a.shape[0], h, 2, t)
        w = iw[h : 2 * h].reshape(1, h, 1)
        u = blocks[:, :, 0, :].copy()
        v = blocks[:, :, 1, :].copy()
        blocks[:, :, 0, :] = (u + v) % qq
        blocks[:, :, 1, :] = (u + qq - v) % qq * w % qq
        m, t = h, t * 2
    return (a * U64(pow(n, -1, q)) % qq).reshape(y.shape)


def _ntt_op(op: he.NttOp | he.InttOp, x: np.ndarray) -> np.ndarray:
    moduli, roots = he.moduli_of(op), op.root_values
    fn = intt_direct if isinstance(op, he.InttOp) else ntt_direct
    if len(moduli) == 1:
        return fn(x, moduli[0], roots[0])
    return np.stack([fn(x[i], q, psi) for i, (q, psi) in enumerate(zip(moduli, roots))])


# ---------------------------------------------------------------------------
# The interpreter
# ---------------------------------------------------------------------------


def eval_op(op: Operation, args: list[np.ndarray]) -> np.ndarray:
    out_dtype = _dtype(op.results[0]) if op.results else None
    if isinstance(op, he.ConstantOp):
        return op.array()
    if isinstance(op, he.ReshapeOp):
        return args[0].reshape(_shape(op.result))
    if isinstance(op, he.CastOp):
        return _to(args[0], out_dtype)
    if isinstance(op, he.ExtractByteOp):
        return ((_u64(args[0]) >> U64(8 * int(op.index.value.data))) & U64(255)).astype(np.uint8)
    if isinstance(op, he.ByteMatMulOp):
        n = len(op.lhs)
        return byte_matmul(args[:n], args[n:], out_dtype)
    if isinstance(op, he.ShiftSumOp):
        sh = int(op.shift.value.data)
        acc = np.zeros(_shape(op.result), U64)
        for i, p in enumerate(args):
            acc += _u64(p) << U64(sh * i)
        return acc
    if isinstance(op, (he.MulOp, he.AddOp, he.SubOp, he.CondSubOp)):
        a, b = (_to(v, out_dtype) for v in args)
        with np.errstate(over="ignore"):
            if isinstance(op, he.MulOp):
                return np.broadcast_to(a * b, _shape(op.result))
            if isinstance(op, he.AddOp):
                return np.broadcast_to(a + b, _shape(op.result))
            if isinstance(op, he.SubOp):
                return np.broadcast_to(a - b, _shape(op.result))
            return np.where(_u64(a) >= _u64(b), a - b, a)
    if isinstance(op, he.ShrOp):
        return _to(_u64(args[0]) >> U64(int(op.amount.value.data)), out_dtype)
    # high level: exact reference semantics
    if isinstance(op, (he.ModAddOp, he.ModSubOp, he.ModMulOp)):
        q = _limbs(he.moduli_of(op), args[0].ndim)
        a, b = _u64(args[0]), _u64(args[1])
        if isinstance(op, he.ModAddOp):
            r = (a + b) % q
        elif isinstance(op, he.ModSubOp):
            r = (a + (q - b)) % q
        else:
            r = a * b % q
        return _to(r, out_dtype)
    if isinstance(op, he.BarrettReduceOp):
        return _to(_u64(args[0]) % _limbs(he.moduli_of(op), args[0].ndim), out_dtype)
    if isinstance(op, he.ModMatMulOp):
        return _to(mod_matmul(args[0], args[1], he.moduli_of(op)), out_dtype)
    if isinstance(op, (he.NttOp, he.InttOp)):
        return _to(_ntt_op(op, args[0]), out_dtype)
    raise HetcError(f"the NumPy he backend cannot run {op.name}", op_type=op.name)


class NumpyProgram:
    """One `func.func` of he ops, ready to run on NumPy arrays."""

    def __init__(self, fn: func.FuncOp) -> None:
        self.fn = fn
        body = fn.body.block
        self.args = list(body.args)
        self.ops = [op for op in body.ops if not isinstance(op, func.ReturnOp)]
        ret = body.last_op
        assert isinstance(ret, func.ReturnOp)
        self.outputs = list(ret.operands)
        # constants once, not per run
        self.constants = {op.results[0]: op.array() for op in self.ops if isinstance(op, he.ConstantOp)}

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        if len(inputs) != len(self.args):
            raise HetcError(f"@{self.fn.sym_name.data} takes {len(self.args)} inputs, got {len(inputs)}")
        env: dict[SSAValue, np.ndarray] = dict(self.constants)
        for a, x in zip(self.args, inputs):
            x = np.asarray(x)
            if tuple(x.shape) != _shape(a):
                raise HetcError(
                    f"input of shape {list(x.shape)} where @{self.fn.sym_name.data} takes {list(_shape(a))}"
                )
            env[a] = _to(x, _dtype(a)) if x.dtype.kind in "ui" else x.astype(_dtype(a))
        for op in self.ops:
            if isinstance(op, he.ConstantOp):
                continue
            env[op.results[0]] = eval_op(op, [env[v] for v in op.operands])
        return [np.array(env[v], dtype=_dtype(v)) for v in self.outputs]
