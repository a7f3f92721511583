"""hetc-he-matvec-bsgs: plaintext matrix x encrypted vector by Halevi-Shoup diagonals with
baby-step/giant-step (BSGS).

    he.matvec(W: tensor<MxN>, x: !he.ct<S, "grid dims=N ...">) {n1 = B}

Generalized diagonals of W over its N columns: diag_k[i] = W[i, (i + k) mod N] for
i < L = max(M, N) (0 for rows i >= M), k < N. Then y = sum_k diag_k * rot(x, k) holds when x
is replicated with period N far enough that slot t holds x[t mod N] for t < L + N - 1:
C = 2^ceil(log2(ceil((L + N - 1) / N))) copies (C = 2 for a square or wide matrix; a tall
64x16 one needs 8). The pass wants x in `grid dims=N strides=1 bcast=C@N clean` and, from a
zero-padded `grid dims=N strides=1 clean` x, makes it by doubling, x += rot(x, -N * 2^t),
log2 C rotations (C*N <= S slots, else the pass names the sizes). With the op's
`pack_at_encrypt` (a layout choice of hetc-he-choose-packing, legal when x comes straight
from he.encrypt) the client encrypts x already replicated and those rotations go.
Non-square and non-power-of-two shapes need no padding of W beyond that: a wide matrix
(M < N) has N diagonals whose rows >= M are 0; a tall one (M > N) only N diagonals of
length M (not max(M, N) of a zero-padded square).

BSGS with n1 baby steps and n2 = ceil(N / n1) giant steps writes k = n1*j + i:

    y = sum_j rot( sum_i diag'_{n1 j + i} * rot(x, i), n1*j ),   diag'_k = rot(diag_k, -n1*j)

so the baby rotations rot(x, i), i = 1..n1-1, are computed once and shared by every giant
step, and each giant step costs one rotation: (n1 - 1) + (n2 - 1) rotations instead of
N - 1 (n1 = N is the plain diagonal method, no giant steps). The pre-rotated diagonals are
he.encode ops in layout `diag rows=M cols=N d=N k=K at=n1*j` (slot n1*j + i holds
W[i, (i + K) mod N], i < L), built by the encoder, so they cost no rotation. Each giant-step
sum is rescaled once (depth 1) before its rotation. The result is y in
`grid dims=M strides=1 clean`: slots >= M are 0 (rows >= M of the diagonals are 0, and the
pre-rotated diagonals are 0 outside [n1*j, n1*j + L)).

n1 comes from the op's `n1` attribute (hetc-he-choose-packing sets it), else the pass's
`n1` option, else ceil(sqrt(N)); `strategy=diagonal` forces n1 = N.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hetc.dialects import he
from hetc.passes.he_slots_common import (
    SlotEmitter,
    at_boundary,
    refresh_function_types,
    replace,
    retype_last,
    set_boundary_layout,
)
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException


def default_n1(d: int) -> int:
    return max(1, math.isqrt(d - 1) + 1) if d > 1 else 1


def replica_count(m: int, n: int) -> int:
    """Copies C (a power of two) of x, at period N, the diagonals of an MxN matrix read."""
    need = -(-(max(m, n) + n - 1) // n)
    return 1 << (need - 1).bit_length()


def slots_needed(m: int, n: int) -> int:
    return replica_count(m, n) * n


def replication_steps(op: he.MatVecOp) -> int:
    """How many doubling rotations x needs before the diagonals can read it (0: none)."""
    m, n = op.matrix.type.get_shape()
    slots = op.vector.type.n_slots
    copies = replica_count(m, n)
    if copies * n > slots:
        raise VerifyException(
            f"he.matvec: a {m}x{n} matrix needs the vector replicated {copies} times at period {n} = "
            f"{copies * n} slots, but the ciphertext has {slots}; use a larger poly modulus degree or split the matrix"
        )
    lay = op.vector.type.packing
    if lay.kind == "grid" and lay.dims == (n,) and lay.strides == (1,) and lay.clean:
        if not lay.bcast:
            return copies.bit_length() - 1
        if len(lay.bcast) == 1 and lay.bcast[0][1] == n and lay.bcast[0][0] >= copies:
            return 0
    raise VerifyException(
        f"he.matvec: the vector's layout '{lay}' is not usable; encrypt it as 'grid dims={n} strides=1 clean' "
        f"or 'grid dims={n} strides=1 bcast={copies}@{n} clean'"
    )


def bsgs_offsets(n: int, n1: int, rep_steps: int) -> list[int]:
    """The rotation offsets the lowering emits (one entry per rotation)."""
    n1 = max(1, min(n1, n))
    n2 = -(-n // n1)
    out = [-n * (1 << t) for t in range(rep_steps)]
    out += list(range(1, n1))
    out += [n1 * j for j in range(1, n2)]
    return out


def lower_matvec(op: he.MatVecOp, n1: int) -> None:
    m, n = op.matrix.type.get_shape()
    slots = op.vector.type.n_slots
    n1 = max(1, min(int(n1), n))
    n2 = -(-n // n1)
    copies = replica_count(m, n)
    if op.pack_at_encrypt is not None and replication_steps(op):
        if not at_boundary(op.vector):
            raise VerifyException("he.matvec: pack_at_encrypt needs the vector to come straight from he.encrypt")
        set_boundary_layout(op.vector, he.Layout.grid((n,), (1,), ((copies, n),)), "he.matvec")
    e = SlotEmitter(slots)
    x = op.vector
    for t in range(replication_steps(op)):
        r = e.rotate(x, -n * (1 << t), f"partial x shifted by {n * (1 << t)}", f"x_shift{t}")
        x = e.binary(he.SlotAddOp, x, r, he.Layout.grid((n,), (1,), ((2 << t, n),)), f"x_rep{t}")
    baby = {0: x}
    for i in range(1, n1):
        baby[i] = e.rotate(x, i, f"partial x rotated by {i}", f"x_rot{i}")
    y = None
    for j in range(n2):
        acc = None
        for i in range(n1):
            k = n1 * j + i
            if k >= n:
                break
            diag = e.encode(op.matrix, he.Layout.diag(m, n, n, k, n1 * j), f"w_diag{k}")
            prod = e.binary(he.SlotMulOp, baby[i], diag, f"partial giant {j} term {i}")
            acc = prod if acc is None else e.binary(he.SlotAddOp, acc, prod, f"partial giant {j}")
        acc = e.rescale(acc)
        acc = e.rotate(acc, n1 * j, f"partial giant {j} rotated")
        y = acc if y is None else e.binary(he.SlotAddOp, y, acc, f"partial sum of giant steps 0..{j}")
    y = retype_last(e, y, he.Layout.grid((m,), (1,)))  # the last op holds the whole product
    replace(op, e.ops, y)


@dataclass(frozen=True)
class HeMatvecBsgs(ModulePass):
    name = "hetc-he-matvec-bsgs"

    n1: int = 0
    strategy: str = "bsgs"  # "bsgs" | "diagonal"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.strategy not in ("bsgs", "diagonal"):
            raise VerifyException(f"{self.name}: strategy '{self.strategy}' is not 'bsgs' or 'diagonal'")
        for mv in [o for o in op.walk() if isinstance(o, he.MatVecOp)]:
            n = mv.matrix.type.get_shape()[1]
            if self.strategy == "diagonal":
                n1 = n
            elif mv.n1 is not None:
                n1 = int(mv.n1.value.data)
            else:
                n1 = self.n1 or default_n1(n)
            lower_matvec(mv, n1)
        refresh_function_types(op)
