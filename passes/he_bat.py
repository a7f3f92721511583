"""hetc-he-bat: a 32-bit modular matmul as byte matmuls on an int8 matrix engine (BAT).

Rewrites he.modmatmul (W @ X) mod q into u8 x u8 matmuls with wide accumulation
(he.bytematmul), one shift-sum (he.shift_sum) and one Barrett reduction
(he.barrett_reduce, lowered by hetc-he-barrett).

The algebra (CROSS's Basis Aligned Transformation). Let nb = ceil(bitlen(q-1) / 8) be
the bytes of a residue and X = sum_j 2^(8j) X_j its byte slices. Then

    W @ X  =  sum_j (2^(8j) W) @ X_j  ==  sum_j W^(j) @ X_j   (mod q),
    W^(j)  =  (2^(8j) * W) mod q       -- pre-scaled "basis aligned" copies of W,

and slicing every W^(j) into bytes, W^(j) = sum_i 2^(8i) W^(j)_i,

    W @ X  ==  sum_i 2^(8i) P_i  (mod q),    P_i = sum_j W^(j)_i @ X_j,

so each P_i is ONE u8 x u8 matmul over a K concatenated nb times (he.bytematmul with nb
operand pairs). The byte products are as many as schoolbook slicing's (nb^2 M K N), but
only nb partial products (not 2nb - 1) are shifted and summed, and because W^(j) < q the
sum stays below about K nb 2^(k+8) instead of K 2^(16 nb): one 64-bit word and ONE
reduction, where schoolbook needs a reduction per diagonal. When W is an he.constant (twiddle
matrices, plaintext weights) the W^(j)_i are computed here and stored as ui8 constants;
otherwise W^(j) is computed at run time by an he.mul + he.barrett_reduce and sliced
with he.extract_byte. The constant may be either operand (X @ W works the same way with
the roles of the sides swapped); with none, the pre-scaled side is lhs.

Bounds (data-independent, from q; top = (q_max-1) >> 8(nb-1) is the largest top byte):
  each P_i <= K * c_i * sx,  c_i = 255 (i < nb-1) or top,  sx = 255 (nb-1) + top,
  S = sum_i 2^(8i) P_i <= K * sx * (sum_i 2^(8i) c_i) < K * 256 nb * 2^k.
  - the ui32 accumulator is exact when nb * K * 255^2 < 2^32 (K <= 16512 for nb = 4),
    else the pass accumulates in ui64;
  - S must fit u64: K * nb * 2^(k+8) <= 2^64 suffices (K <= 2^22 for 32-bit moduli); a
    longer contraction is a HetcError. S < 2^(k+31), which holds for K * nb <= 2^23,
    is reduced by one Barrett step; a larger S is folded first by hetc-he-barrett. The
    exact bound is passed on as max_input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass

from hetc.diagnostics import HetcError
from hetc.dialects import he
from hetc.passes.he_common import Emitter, elem_of, limb_shape, ops_of, replace, shape_of, tensor

U32_MAX = 2**32 - 1


def residue_bytes(moduli) -> int:
    return max(1, -(-max(max(q - 1 for q in moduli).bit_length(), 1) // 8))


def bat_bound(moduli, k: int) -> tuple[list[int], int]:
    """(per-part bounds P_i, bound of the shift-sum S) for contraction length k."""
    nb = residue_bytes(moduli)
    top = (max(moduli) - 1) >> (8 * (nb - 1))
    c = [255] * (nb - 1) + [top]
    sx = 255 * (nb - 1) + top
    parts = [k * ci * sx for ci in c]
    return parts, sum(p << (8 * i) for i, p in enumerate(parts))


def prescaled_bytes(w: np.ndarray, moduli, nb: int) -> list[list[np.ndarray]]:
    """[i][j] -> byte i of (2^(8j) * w mod q), per limb (leading dim) when RNS."""
    w64 = w.astype(np.uint64)
    qs = np.array(moduli, dtype=np.uint64).reshape(limb_shape(moduli, w.ndim))
    out: list[list[np.ndarray]] = [[None] * nb for _ in range(nb)]  # type: ignore[list-item]
    for j in range(nb):
        scale = np.array([pow(2, 8 * j, q) for q in moduli], dtype=np.uint64).reshape(limb_shape(moduli, w.ndim))
        wj = (w64 * scale) % qs  # w < q < 2^32 and scale < 2^32: exact in u64
        for i in range(nb):
            out[i][j] = ((wj >> np.uint64(8 * i)) & np.uint64(0xFF)).astype(np.uint8)
    return out


def _constant(v: SSAValue) -> np.ndarray | None:
    owner = getattr(v, "owner", None)
    return owner.array() if isinstance(owner, he.ConstantOp) else None


def lower_modmatmul(op: he.ModMatMulOp) -> tuple[Emitter, SSAValue]:
    e = Emitter()
    moduli = he.moduli_of(op)
    lhs_c, rhs_c = _constant(op.lhs), _constant(op.rhs)
    w_on_left = lhs_c is not None or rhs_c is None
    w, x = (op.lhs, op.rhs) if w_on_left else (op.rhs, op.lhs)
    w_const = lhs_c if w_on_left else rhs_c
    k = shape_of(op.lhs)[-1]
    nb = residue_bytes(moduli)
    _, s_bound = bat_bound(moduli, k)
    if s_bound >= 2**64:
        raise HetcError(
            f"he.modmatmul: contraction length K = {k} is too long: the byte-sliced sum modulo "
            f"{list(moduli)} can reach {s_bound}, past 64 bits",
            op_type="he.modmatmul",
            hint="split the contraction (K <= 2^22 always works)",
        )

    # byte slices of the pre-scaled side: [i][j]
    if w_const is not None:
        slices = prescaled_bytes(w_const, moduli, nb)
        w_bytes = [[e.const(b, f"w{j}b{i}") for j, b in enumerate(row)] for i, row in enumerate(slices)]
    else:
        w_shape, rank = shape_of(w), len(shape_of(w))
        scaled = []
        for j in range(nb):
            if j == 0:
                scaled.append(w)
                continue
            scale = e.limb_const([pow(2, 8 * j, q) for q in moduli], rank, "uint64", f"s{j}")
            prod = e.word(he.MulOp, w, scale, he.ui64, w_shape, f"ws{j}")
            red = he.BarrettReduceOp.make(
                [prod],
                tensor(w_shape, he.ui32),
                moduli=he.i64_array(moduli),
                max_input=IntegerAttr((max(moduli) - 1) ** 2, he.ui64),
            )
            scaled.append(e.add(red, f"w{j}"))
        w_bytes = [
            [
                e.add(
                    he.ExtractByteOp.make([scaled[j]], tensor(w_shape, he.ui8), index=IntegerAttr(i, i64)), f"w{j}b{i}"
                )
                for j in range(nb)
            ]
            for i in range(nb)
        ]
    x_bytes = [
        e.add(he.ExtractByteOp.make([x], tensor(shape_of(x), he.ui8), index=IntegerAttr(j, i64)), f"x{j}")
        for j in range(nb)
    ]

    acc = he.ui32 if nb * k * 255 * 255 <= U32_MAX else he.ui64
    out_shape = shape_of(op.result)
    parts = []
    for i in range(nb):
        lhs, rhs = (w_bytes[i], x_bytes) if w_on_left else (x_bytes, w_bytes[i])
        parts.append(e.add(he.ByteMatMulOp.make([*lhs, *rhs], tensor(out_shape, acc)), f"p{i}"))
    if nb == 1:
        s = parts[0]
    else:
        s = e.add(he.ShiftSumOp.make(parts, tensor(out_shape, he.ui64), shift=IntegerAttr(8, i64)), "s")
    red = he.BarrettReduceOp.make(
        [s],
        tensor(out_shape, elem_of(op.result)),
        moduli=he.i64_array(moduli),
        max_input=IntegerAttr(s_bound, he.ui64),
    )
    return e, e.add(red)


@dataclass(frozen=True)
class HeBat(ModulePass):
    name = "hetc-he-bat"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for target in ops_of(op, he.ModMatMulOp):
            e, value = lower_modmatmul(target)
            replace(target, e.ops, value)
