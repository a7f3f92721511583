"""hetc-he-einsum-pack: einsum over encrypted tensors as expand, multiply and
rotate-and-reduce steps on one packed slot vector (EinHops' decomposition).

For `he.einsum {equation = "ij,jk->ik"}` the iteration space is every letter, in the
order `order` (the op's attribute; hetc-he-choose-packing sets it) or by default the
output letters then the contracted ones in order of appearance. Each letter L gets a
power-of-two extent p_L >= its size (zero padding, so that reductions are log-depth
trees) and a row-major stride s_L over those extents; the whole space must fit the
slots (prod p_L <= S, else the pass names the sizes).

  1. layout: with the op's unit attribute `expand_at_encrypt` (a layout choice of
     hetc-he-choose-packing, legal when every encrypted operand comes straight from an
     he.encrypt), the client packs each encrypted operand already expanded (step 2 below,
     for free: no rotation). Otherwise an encrypted operand must arrive compact, `grid dims=<its shape>
     strides=<its letters' s_L> clean` (element at sum idx_L * s_L, zeros elsewhere:
     the client packs it so at encryption; an `auto` encrypt/argument is given this
     layout), or already expanded (then step 2 is free).
  2. expand: replicate the operand along every letter L it lacks by doubling,
     v += rot(v, -s_L * 2^t) for t < log2 p_L (log2 p_L rotations per letter);
     plaintext operands are encoded straight into the expanded layout (`bcast=p_L@s_L`).
  3. multiply: one slot-wise ct x ct or ct x pt product, then he.rescale (depth 1).
  4. reduce: for every contracted letter c, v += rot(v, s_c * 2^t), t < log2 p_c: the
     slots whose c-coordinate is 0 then hold the sum over c (other slots hold partial
     sums: the result's layout is `grid dims=<out shape> strides=<out letters' s_L> junk`).

Rotations: sum over encrypted operands of log2 p_L over their missing letters, plus
sum of log2 p_c over contracted letters; the order changes only the offsets (keys).
At most two operands (one product); one operand is a pure reduction ('ij->i').
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from hetc.dialects import he
from hetc.passes.he_slots_common import (
    SlotEmitter,
    at_boundary,
    log2,
    next_pow2,
    refresh_function_types,
    replace,
    retype_last,
    set_boundary_layout,
)
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException


@dataclass
class EinsumPlan:
    ins: list[str]
    out: str
    order: str
    sizes: dict[str, int]
    padded: dict[str, int]
    strides: dict[str, int]
    encrypted: tuple[bool, ...]
    client_expand: bool = False  # encrypted operands packed already expanded at he.encrypt

    @property
    def slots_needed(self) -> int:
        total = 1
        for c in self.order:
            total *= self.padded[c]
        return total

    @property
    def contracted(self) -> str:
        return "".join(c for c in self.order if c not in self.out)

    def compact(self, k: int) -> he.Layout:
        sub = self.ins[k]
        return he.Layout.grid([self.sizes[c] for c in sub], [self.strides[c] for c in sub])

    def expanded(self, k: int) -> he.Layout:
        sub = self.ins[k]
        missing = [c for c in self.order if c not in sub]
        return he.Layout.grid(
            [self.sizes[c] for c in sub],
            [self.strides[c] for c in sub],
            [(self.padded[c], self.strides[c]) for c in missing],
        )

    def result(self) -> he.Layout:
        return he.Layout.grid(
            [self.sizes[c] for c in self.out], [self.strides[c] for c in self.out], clean=not self.contracted
        )

    def offsets(self) -> list[int]:
        out: list[int] = []
        for k, sub in enumerate(self.ins):
            if not self.encrypted[k] or self.client_expand:
                continue
            for c in self.order:
                if c not in sub:
                    out += [-self.strides[c] * (1 << t) for t in range(log2(self.padded[c]))]
        for c in self.contracted:
            out += [self.strides[c] * (1 << t) for t in range(log2(self.padded[c]))]
        return out


def default_order(ins: list[str], out: str) -> str:
    seen = list(out)
    for sub in ins:
        seen += [c for c in sub if c not in seen]
    return "".join(seen)


def plan_einsum(
    equation: str, shapes: list[tuple[int, ...]], encrypted: tuple[bool, ...], order: str | None, slots: int
) -> EinsumPlan:
    ins, out = he.parse_einsum(equation, len(shapes))
    if len(ins) > 2:
        raise VerifyException(f"he.einsum: '{equation}' has {len(ins)} operands; at most two are supported (chain them)")
    sizes: dict[str, int] = {}
    for sub, shape in zip(ins, shapes):
        for c, n in zip(sub, shape):
            sizes[c] = n
    order = order or default_order(ins, out)
    padded = {c: next_pow2(sizes[c]) for c in order}
    strides: dict[str, int] = {}
    s = 1
    for c in reversed(order):
        strides[c] = s
        s *= padded[c]
    plan = EinsumPlan(ins, out, order, sizes, padded, strides, tuple(encrypted))
    if plan.slots_needed > slots:
        dims = " x ".join(f"{c}={sizes[c]}(->{padded[c]})" for c in order)
        raise VerifyException(
            f"he.einsum: '{equation}' needs {plan.slots_needed} slots for its iteration space {dims}, "
            f"but the ciphertext has {slots}; use a larger poly modulus degree or split the operands"
        )
    return plan


def all_orders(ins: list[str], out: str, limit: int = 120) -> list[str]:
    letters = default_order(ins, out)
    return ["".join(p) for p in itertools.islice(itertools.permutations(letters), limit)]


def operand_shapes(op: he.EinsumOp) -> list[tuple[int, ...]]:
    ins, _ = he.parse_einsum(op.equation.data, len(op.inputs))
    sizes: dict[str, int] = {}
    for sub, v in zip(ins, op.inputs):
        if not isinstance(v.type, he.CiphertextType):
            sizes.update(zip(sub, v.type.get_shape()))
        elif v.type.packing.kind == "grid":
            sizes.update(zip(sub, v.type.packing.dims))
    missing = set("".join(ins)) - set(sizes)
    if missing:
        raise VerifyException(
            f"he.einsum: the sizes of letters {sorted(missing)} are unknown ('auto' operands); "
            "give the ciphertext a grid layout"
        )
    return [tuple(sizes[c] for c in sub) for sub in ins]


def plan_of(op: he.EinsumOp, order: str | None = None, client_expand: bool | None = None) -> EinsumPlan:
    enc = tuple(isinstance(v.type, he.CiphertextType) for v in op.inputs)
    slots = next(v.type.n_slots for v in op.inputs if isinstance(v.type, he.CiphertextType))
    if order is None and op.order is not None:
        order = op.order.data
    plan = plan_einsum(op.equation.data, operand_shapes(op), enc, order, slots)
    if client_expand is None:
        client_expand = "expand_at_encrypt" in op.attributes
    if client_expand and not all(at_boundary(v) for v in op.inputs if isinstance(v.type, he.CiphertextType)):
        raise VerifyException("he.einsum: expand_at_encrypt needs every encrypted operand to come from he.encrypt")
    plan.client_expand = bool(client_expand)
    return plan


def lower_einsum(op: he.EinsumOp, plan: EinsumPlan) -> None:
    slots = next(v.type.n_slots for v in op.inputs if isinstance(v.type, he.CiphertextType))
    e = SlotEmitter(slots)
    vals = []
    for k, v in enumerate(op.inputs):
        sub = plan.ins[k]
        if not plan.encrypted[k]:
            vals.append(e.encode(v, plan.expanded(k), f"pt{k}"))
            continue
        lay, compact, full = v.type.packing, plan.compact(k), plan.expanded(k)
        if plan.client_expand and lay != full:
            v, lay = set_boundary_layout(v, full, "he.einsum"), full
        if lay == full:
            vals.append(v)
            continue
        if lay != compact:
            v = set_boundary_layout(v, compact, 'he.einsum')
        cur, done = v, []
        for c in plan.order:
            if c in sub:
                continue
            for t in range(log2(plan.padded[c])):
                r = e.rotate(cur, -plan.strides[c] * (1 << t), f"partial operand {k} shifted along {c}")
                done_bc = [*done, (2 << t, plan.strides[c])]
                lay_t = he.Layout.grid(compact.dims, compact.strides, done_bc)
                cur = e.binary(he.SlotAddOp, cur, r, lay_t, f"x{k}_{c}{t}")
            done.append((plan.padded[c], plan.strides[c]))
        vals.append(cur)
    if len(vals) == 2:
        a, b = vals if plan.encrypted[0] else vals[::-1]
        prod = e.binary(he.SlotMulOp, a, b, f"partial product over {plan.order}", "prod")
        cur = e.rescale(prod)
    else:
        cur = vals[0]
    for c in plan.contracted:
        for t in range(log2(plan.padded[c])):
            r = e.rotate(cur, plan.strides[c] * (1 << t), f"partial reduce {c} step {t}")
            cur = e.binary(he.SlotAddOp, cur, r, f"partial reduce {c} step {t}", f"red_{c}{t}")
    if cur is op.inputs[0] or not e.ops:
        raise VerifyException(f"he.einsum: '{op.equation.data}' does nothing on the ciphertext")
    cur = retype_last(e, cur, plan.result())
    replace(op, e.ops, cur)


@dataclass(frozen=True)
class HeEinsumPack(ModulePass):
    name = "hetc-he-einsum-pack"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for es in [o for o in op.walk() if isinstance(o, he.EinsumOp)]:
            lower_einsum(es, plan_of(es))
        refresh_function_types(op)
