"""hetc-he-ntt-to-matmul: the negacyclic NTT as a 3-step matmul (CROSS's MAT).

Rewrites he.ntt / he.intt of length N = C * R (C = 2^ceil(log2(N)/2), R = N / C) into

    ntt:   y = reshape_N( ((A @ reshape_CxR(x)) * T) @ B )       A: CxC, T: CxR, B: RxR
    intt:  x = reshape_N( Ai @ ((reshape_CxR(y) @ Bi) * Ti) )    Bi: RxR, Ti: CxR, Ai: CxC

where @ is he.modmatmul, * is he.modmul and the matrices are he.constant. Everything an
FFT-style NTT does besides multiply-adds is folded into those constants:

  - the negacyclic pre-twist x_j * psi^j is split between A (its R*b' part) and T (its a' part);
  - the twiddles between the two small transforms are T;
  - the output bit-reversal AND the transpose of the four-step FFT disappear: with
    x[R b' + a'] read as a CxR matrix and output slot p = R u + v,
        brv_N(R u + v) = brv_C(u) + C brv_R(v),
    so the bit-reversed output is the row-major CxR result with its rows permuted by
    brv_C (folded into the rows of A and T) and its columns by brv_R (the columns of B);
  - for the inverse, N^-1 is folded into Ai.

Derivation (forward; psi^(2N) = 1, k2 = brv_C(u), k1 = brv_R(v), j = R b' + a'):

    y[R u + v] = sum_j x_j psi^(j (2 (k2 + C k1) + 1))
               = sum_a' psi^(a'(2 k2 + 1)) psi^(2C a' k1) sum_b' psi^(R b'(2 k2 + 1)) x[R b' + a']
    (the dropped term psi^(2 C k1 R b') = psi^(2N k1 b') = 1), hence
    A[u, b'] = psi^(R b' (2 k2 + 1)),  T[u, a'] = psi^(a' (2 k2 + 1)),  B[a', v] = psi^(2 C a' k1).
    Inverse: Bi[v, a'] = psi^(-2 C a' k1),  Ti[u, a'] = psi^(-a' (2 k2 + 1)),
             Ai[b', u] = N^-1 psi^(-R b' (2 k2 + 1)).

The two modmatmuls have one constant operand each, so hetc-he-bat turns them into u8
matmuls with the byte slices of the constants precomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from hetc.dialects import he
from hetc.passes.he_common import Emitter, elem_of, ops_of, replace, shape_of, tensor


def split(n: int) -> tuple[int, int]:
    """(C, R) with N = C * R, C = 2^ceil(log2(N)/2)."""
    log = n.bit_length() - 1
    c = 1 << ((log + 1) // 2)
    return c, n // c


def bitrev_array(n: int) -> np.ndarray:
    bits = n.bit_length() - 1
    return np.array([he.bitrev(i, bits) for i in range(n)], dtype=np.int64)


def psi_powers(psi: int, q: int, count: int) -> np.ndarray:
    out = np.empty(count, dtype=np.uint64)
    p = 1
    for e in range(count):
        out[e] = p
        p = p * psi % q
    return out


def ntt_matrices(n: int, q: int, psi: int, inverse: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward: (A [CxC], T [CxR], B [RxR]); inverse: (Bi [RxR], Ti [CxR], Ai [CxC]), uint64 < q."""
    c, r = split(n)
    two_n = 2 * n
    pw = psi_powers(psi, q, two_n)
    brc, brr = bitrev_array(c), bitrev_array(r)
    odd = 2 * brc + 1  # 2 k2 + 1, per row u
    sign = -1 if inverse else 1
    bq = np.arange(c, dtype=np.int64)  # b'
    aq = np.arange(r, dtype=np.int64)  # a'
    A = pw[(sign * r * np.outer(odd, bq)) % two_n]  # [u, b']
    T = pw[(sign * np.outer(odd, aq)) % two_n]  # [u, a']
    B = pw[(sign * 2 * c * np.outer(aq, brr)) % two_n]  # [a', v]
    if not inverse:
        return A, T, B
    n_inv = np.uint64(pow(n, -1, q))
    Ai = (A.T * n_inv) % np.uint64(q)  # [b', u]; A, n_inv < 2^32: exact in u64
    return B.T.copy(), T, Ai


def lower_ntt(op: he.NttOp | he.InttOp) -> tuple[Emitter, object]:
    e = Emitter()
    n, moduli, roots = op.size, he.moduli_of(op), op.root_values
    inverse = isinstance(op, he.InttOp)
    c, r = split(n)
    elem = elem_of(op.input)
    dtype = he.numpy_dtype(elem)
    mats = [ntt_matrices(n, q, psi, inverse) for q, psi in zip(moduli, roots)]
    rns = len(moduli) > 1

    def const(i: int, hint: str):
        arr = np.stack([m[i] for m in mats]) if rns else mats[0][i]
        return e.const(arr.astype(dtype), hint)

    lead = (len(moduli),) if rns else ()
    mod = {"moduli": he.i64_array(moduli)}
    x = e.add(he.ReshapeOp.make([op.input], tensor((*lead, c, r), elem)), "xm")
    if not inverse:
        a = const(0, "A")
        m1 = e.add(he.ModMatMulOp.make([a, x], tensor((*lead, c, r), elem), **mod), "m1")
        t = const(1, "T")
        m2 = e.add(he.ModMulOp.make([m1, t], tensor((*lead, c, r), elem), **mod), "m2")
        b = const(2, "B")
        m3 = e.add(he.ModMatMulOp.make([m2, b], tensor((*lead, c, r), elem), **mod), "m3")
    else:
        bi = const(0, "Bi")
        m1 = e.add(he.ModMatMulOp.make([x, bi], tensor((*lead, c, r), elem), **mod), "m1")
        ti = const(1, "Ti")
        m2 = e.add(he.ModMulOp.make([m1, ti], tensor((*lead, c, r), elem), **mod), "m2")
        ai = const(2, "Ai")
        m3 = e.add(he.ModMatMulOp.make([ai, m2], tensor((*lead, c, r), elem), **mod), "m3")
    out = e.add(he.ReshapeOp.make([m3], tensor(shape_of(op.result), elem)), "res")
    return e, out


@dataclass(frozen=True)
class HeNttToMatmul(ModulePass):
    name = "hetc-he-ntt-to-matmul"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for target in ops_of(op, he.NttOp, he.InttOp):
            e, value = lower_ntt(target)
            replace(target, e.ops, value)
