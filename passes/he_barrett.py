"""hetc-he-barrett: modular arithmetic from multipliers, adders and shifts.

Lowers he.modmul, he.modadd, he.modsub and he.barrett_reduce to he.mul / he.add /
he.sub / he.shr / he.csub / he.cast with per-limb constants (mu, q): no division and no
remainder anywhere, and every intermediate fits a 64-bit word.

Barrett reduction, and why nothing overflows
-------------------------------------------
Let q be a modulus with bit length k (2^(k-1) <= q < 2^k, k <= 32) and x an integer with
0 <= x <= B. Choose s = max(bitlen(B), k), so x < 2^s, and

    a = k - 1,   b = s - a,   mu = floor(2^s / q),
    alpha = x >> a,   qhat = (alpha * mu) >> b,   r = x - qhat * q,
    r = r >= q ? r - q : r   (twice).

Claim: floor(x/q) - 2 <= qhat <= floor(x/q), so 0 <= r < 3q before the two conditional
subtractions and r = x mod q after them.
  Upper: alpha <= x/2^a and mu <= 2^s/q, so alpha*mu/2^b <= x/q.
  Lower: alpha > x/2^a - 1 and mu > 2^s/q - 1, so
      alpha*mu/2^b > x/q - x/2^s - 2^a/q + 2^-b > x/q - 2
  because x < 2^s and 2^a = 2^(k-1) <= q; hence qhat > x/q - 3.
Word sizes: alpha <= (2^s - 1) >> a < 2^b and mu <= 2^s / 2^a = 2^b, so
alpha*mu <= 2^(2b) - 2^b < 2^64 exactly when b <= 32, i.e. s <= k + 31. Then qhat*q <= x
< 2^64, r < 3q < 2^34, so every product and difference is exact in u64.

So one Barrett step reduces any x < 2^(k+31). The pass checks the exact condition
(B >> a) * mu < 2^64 rather than b <= 32 (it is the same bound up to the slack between q
and 2^(k-1)). With RNS limbs the shifts are shared: a = k_min - 1 (2^a <= every q_l),
s covers the largest limb bound, and mu_l = floor(2^s / q_l) and q_l are per-limb
constants; the condition is checked per limb with that limb's own bound. Limbs of
similar size pass as they are; a small limb beside a large one (a 5-bit q next to a
28-bit one) gets the fold step below first.

Bounds, stated precisely (k = bitlen(q)):
  - he.modmul (x = a*b <= (q-1)^2 < 2^(2k)): one Barrett step for every q <= 3037000500,
    i.e. all q < 2^31 (2k <= k + 31) and 32-bit q up to floor(sqrt(2^63 - 1)) + 1 =
    3037000500 (then (q-1)^2 < 2^63 = 2^(k+31)).
  - 3037000500 < q < 2^32: one folding step first,
        x' = (x >> 32) * (2^32 mod q) + (x mod 2^32)  ==  x (mod q),
    where 2^32 mod q = 2^32 - q < 2^31 and x >> 32 <= (q-1)^2 >> 32 < q, so
        x' < q * (2^32 - q) + 2^32 <= 2^62 + 2^32 < 2^63 = 2^(k+31)
    (q * (2^32 - q) is at most 2^62, at q = 2^31), and then one Barrett step.
  - he.modadd: a + b <= 2q - 2, one conditional subtraction; he.modsub: a + (q - b) with
    q - b in [1, q], so <= 2q - 1, one conditional subtraction. Computed in u32 when
    2q - 1 < 2^32 (q <= 2^31), else in u64.
  - he.barrett_reduce with max_input B < 2^64: one step when the condition holds,
    otherwise fold steps first. A fold maps B to (B >> 32) * (2^32 mod q) + 2^32 - 1,
    less than B/2 + 2^32 since 2^32 mod q < 2^31 (for q > 2^31 it is 2^32 - q; else < q),
    so folds always make progress and one or two suffice for any 64-bit input. The only
    error left is a bound of 2^64 or more (the producer must reduce earlier).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Attribute, SSAValue
from xdsl.passes import ModulePass

from hetc.diagnostics import HetcError
from hetc.dialects import he
from hetc.passes.he_common import Emitter, elem_of, ops_of, replace, shape_of

U32_MAX = 2**32 - 1


@dataclass(frozen=True)
class BarrettPlan:
    """How to reduce x modulo each of `moduli` (see the module doc): `folds` fold steps,
    then Barrett with the shared shifts a, b and per-limb mu."""

    moduli: tuple[int, ...]
    bounds: tuple[int, ...]  # per limb, before the folds
    folds: int
    a: int
    b: int
    s: int
    mu: tuple[int, ...]
    bounds_after_folds: tuple[int, ...]


def _barrett_fits(moduli: tuple[int, ...], bounds: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]] | None:
    """(a, s, mu) if one Barrett step reduces every limb without a 64-bit overflow: the
    exact condition (bound_l >> a) * mu_l < 2^64 (implied by s <= k + 31, see above)."""
    k_min = min(q.bit_length() for q in moduli)
    a = k_min - 1
    s = max(max(bounds).bit_length(), k_min)
    mu = tuple((1 << s) // q for q in moduli)
    if s - a > 63 or any((bnd >> a) * m >= 2**64 for bnd, m in zip(bounds, mu)):
        return None
    return a, s, mu


def plan_barrett(moduli: Sequence[int], bound: int, limb_bounds: Sequence[int] | None = None) -> BarrettPlan:
    """Parameters to reduce x <= bound (or x <= limb_bounds[l] in limb l) mod the moduli."""
    moduli = tuple(int(q) for q in moduli)
    bounds = tuple(int(b) for b in limb_bounds) if limb_bounds is not None else (int(bound),) * len(moduli)
    if max(bounds) >= 2**64:
        raise HetcError(f"Barrett reduction: max input {max(bounds)} does not fit 64 bits")
    folds, now = 0, bounds
    while (fit := _barrett_fits(moduli, now)) is None:
        # fold: x' = (x >> 32) * (2^32 mod q) + (x mod 2^32) == x (mod q)
        folded = tuple((b >> 32) * (2**32 % q) + min(b, 2**32 - 1) for b, q in zip(now, moduli))
        if max(folded) >= max(now) or folds == 8:  # cannot happen (see above); a guard
            k_min = min(q.bit_length() for q in moduli)
            raise HetcError(
                f"Barrett reduction: max input {max(bounds)} is too large to reduce modulo {list(moduli)} in "
                f"64-bit words (one step takes inputs < 2^{k_min + 31} for a {k_min}-bit modulus)",
                hint="reduce partial results earlier (split the contraction); RNS limbs should be of similar size",
            )
        folds, now = folds + 1, folded
    a, s, mu = fit
    # the proof's conditions, checked rather than assumed
    assert all(2**a <= q for q in moduli) and max(now) < 2**s
    return BarrettPlan(moduli, bounds, folds, a, s - a, s, mu, now)


def emit_barrett(
    e: Emitter,
    x: SSAValue,
    moduli: Sequence[int],
    bound: int,
    result_elem: Attribute,
    limb_bounds: Sequence[int] | None = None,
) -> SSAValue:
    """x mod q for x <= bound (per limb: limb_bounds), as mul/add/shift/csub ops appended to `e`."""
    shape, rank = shape_of(x), len(shape_of(x))
    moduli = tuple(moduli)
    bounds = tuple(limb_bounds) if limb_bounds is not None else (bound,) * len(moduli)
    if all(b < q for b, q in zip(bounds, moduli)):  # already residues
        return e.cast(x, result_elem)
    plan = plan_barrett(moduli, bound, bounds)
    x = e.cast(x, he.ui64)
    q = e.limb_const(moduli, rank, "uint64", "q")
    for _ in range(plan.folds):
        c = e.limb_const([2**32 % m for m in moduli], rank, "uint64", "c")
        hi = e.shr(x, 32, he.ui64, "hi")
        lo = e.cast(x, he.ui32, "lo")
        hic = e.word(he.MulOp, hi, c, he.ui64, shape, "hic")
        x = e.word(he.AddOp, hic, lo, he.ui64, shape, "folded")
    mu = e.limb_const(plan.mu, rank, "uint64", "mu")
    alpha = e.shr(x, plan.a, he.ui64, "alpha")
    t = e.word(he.MulOp, alpha, mu, he.ui64, shape, "t")
    qhat = e.shr(t, plan.b, he.ui64, "qhat")
    p = e.word(he.MulOp, qhat, q, he.ui64, shape, "p")
    r = e.word(he.SubOp, x, p, he.ui64, shape, "r")
    r = e.word(he.CondSubOp, r, q, he.ui64, shape, "r")
    r = e.word(he.CondSubOp, r, q, he.ui64, shape, "r")
    return e.cast(r, result_elem)


def _lower_modadd(op: he.ModAddOp | he.ModSubOp) -> tuple[Emitter, SSAValue]:
    e = Emitter()
    moduli = he.moduli_of(op)
    shape, rank, res = shape_of(op.result), len(shape_of(op.result)), elem_of(op.result)
    wide = 2 * max(moduli) - 1 > U32_MAX or res != he.ui32
    w = he.ui64 if wide else he.ui32
    q = e.limb_const(moduli, rank, "uint64" if wide else "uint32", "q")
    if isinstance(op, he.ModAddOp):
        s = e.word(he.AddOp, op.lhs, op.rhs, w, shape, "s")
    else:
        neg = e.word(he.SubOp, q, op.rhs, w, shape, "neg")
        s = e.word(he.AddOp, op.lhs, neg, w, shape, "s")
    r = e.word(he.CondSubOp, s, q, w, shape, "r")
    return e, e.cast(r, res)


def _lower_modmul(op: he.ModMulOp) -> tuple[Emitter, SSAValue]:
    e = Emitter()
    moduli = he.moduli_of(op)
    prod = e.word(he.MulOp, op.lhs, op.rhs, he.ui64, shape_of(op.result), "prod")
    bounds = [(q - 1) ** 2 for q in moduli]
    return e, emit_barrett(e, prod, moduli, max(bounds), elem_of(op.result), bounds)


def _lower_reduce(op: he.BarrettReduceOp) -> tuple[Emitter, SSAValue]:
    e = Emitter()
    return e, emit_barrett(e, op.input, he.moduli_of(op), op.bound, elem_of(op.result))


@dataclass(frozen=True)
class HeBarrett(ModulePass):
    name = "hetc-he-barrett"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for target in ops_of(op, he.ModAddOp, he.ModSubOp, he.ModMulOp, he.BarrettReduceOp):
            if isinstance(target, (he.ModAddOp, he.ModSubOp)):
                e, value = _lower_modadd(target)
            elif isinstance(target, he.ModMulOp):
                e, value = _lower_modmul(target)
            else:
                e, value = _lower_reduce(target)
            replace(target, e.ops, value)


__all__ = ["BarrettPlan", "HeBarrett", "emit_barrett", "plan_barrett"]
