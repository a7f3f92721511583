"""Helpers shared by the packed-slot passes (hetc-he-matvec-bsgs, hetc-he-einsum-pack,
hetc-he-choose-packing): an op emitter for slot vectors and small integer helpers."""

from __future__ import annotations

import math

from hetc.dialects import he
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, i64
from xdsl.ir import BlockArgument, Operation, SSAValue
from xdsl.utils.exceptions import VerifyException


def next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def log2(n: int) -> int:
    return int(math.log2(n))


def ct(slots: int, layout) -> he.CiphertextType:
    return he.CiphertextType(slots, layout)


def pt(slots: int, layout) -> he.PlaintextType:
    return he.PlaintextType(slots, layout)


class SlotEmitter:
    """Collects the ops of one rewrite, in order; counts its rotations."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.ops: list[Operation] = []
        self.offsets: list[int] = []

    def add_op(self, op: Operation, hint: str | None = None) -> SSAValue:
        self.ops.append(op)
        if hint:
            op.results[0].name_hint = hint
        return op.results[0]

    def rotate(self, v: SSAValue, k: int, layout, hint: str | None = None) -> SSAValue:
        k = int(k) % self.slots
        if k > self.slots // 2:
            k -= self.slots  # the shorter way round: SEAL decomposes steps in powers of two
        if k == 0:
            return v
        self.offsets.append(k)
        op = he.RotateOp.make([v], ct(self.slots, layout), offset=IntegerAttr(k, i64))
        return self.add_op(op, hint)

    def binary(self, cls, a: SSAValue, b: SSAValue, layout, hint: str | None = None) -> SSAValue:
        return self.add_op(cls.make([a, b], ct(self.slots, layout)), hint)

    def rescale(self, v: SSAValue, hint: str | None = None) -> SSAValue:
        return self.add_op(he.RescaleOp.make([v], v.type), hint)

    def encode(self, tensor: SSAValue, layout, hint: str | None = None) -> SSAValue:
        return self.add_op(he.EncodeOp.make([tensor], pt(self.slots, layout)), hint)


def retype_last(e: SlotEmitter, v: SSAValue, layout) -> SSAValue:
    """Give `v` (the result of the last emitted op, used by nothing yet) the layout `layout`."""
    if str(v.type.packing) == str(layout):
        return v
    owner = v.owner
    assert e.ops and owner is e.ops[-1] and not v.uses
    new = type(owner).create(
        operands=list(owner.operands), result_types=[ct(e.slots, layout)], attributes=dict(owner.attributes)
    )
    new.results[0].name_hint = v.name_hint
    e.ops[-1] = new
    owner.drop_all_references()
    return new.results[0]


def replace(op: Operation, ops: list[Operation], value: SSAValue) -> None:
    block = op.parent_block()
    assert block is not None
    if ops:
        block.insert_ops_before(list(ops), op)
    op.results[0].replace_all_uses_with(value)
    block.erase_op(op)


def at_boundary(v: SSAValue) -> bool:
    """Is the ciphertext packed where the client encrypts it (he.encrypt or an argument),
    for this one use only (so its layout can be chosen)?"""
    return (isinstance(v, BlockArgument) or isinstance(v.owner, he.EncryptOp)) and len(list(v.uses)) == 1


def set_boundary_layout(v, layout, who: str):
    """Give an `auto`/other-layout encrypted operand the layout the plan wants, where it
    is fixed at the boundary (an he.encrypt or a function argument)."""
    t = v.type
    new_t = ct(t.n_slots, layout)
    if len(list(v.uses)) > 1:
        raise VerifyException(
            f"{who}: the encrypted operand is used {len(list(v.uses))} times; it cannot be re-packed to "
            f"'{layout}' for one of them (encrypt it once per layout)"
        )
    if isinstance(v, BlockArgument):
        block = v.block
        parent = block.parent_op()
        index = v.index
        new = block.insert_arg(new_t, index)
        new.name_hint = v.name_hint
        v.replace_all_uses_with(new)
        block.erase_arg(v)
        if isinstance(parent, func.FuncOp):
            parent.function_type = func.FunctionType.from_lists(
                [a.type for a in block.args], list(parent.function_type.outputs.data)
            )
        return new
    owner = v.owner
    if isinstance(owner, he.EncryptOp):
        new = he.EncryptOp.make([owner.input], new_t)
        new.results[0].name_hint = v.name_hint
        owner.parent_block().insert_op_before(new, owner)
        v.replace_all_uses_with(new.results[0])
        owner.parent_block().erase_op(owner)
        return new.results[0]
    raise VerifyException(
        f"{who}: an encrypted operand in layout '{t.packing}' must be re-packed to '{layout}'; "
        "encrypt it in that layout (the layout is fixed at the he.encrypt)"
    )




def refresh_function_types(module) -> None:
    """Lowering fixes `auto` result layouts: make every func.func's type match its
    arguments and its func.return again."""
    for fn in [o for o in module.walk() if isinstance(o, func.FuncOp)]:
        if not fn.body.blocks:
            continue
        block = fn.body.block
        ret = block.last_op
        if isinstance(ret, func.ReturnOp):
            fn.function_type = func.FunctionType.from_lists(
                [a.type for a in block.args], [v.type for v in ret.arguments]
            )
