"""Helpers the he lowering passes share: an op list builder and in-place replacement."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType, i64
from xdsl.ir import Attribute, Operation, SSAValue

from hetc.dialects import he


def shape_of(v: SSAValue) -> tuple[int, ...]:
    assert isinstance(v.type, TensorType)
    return tuple(v.type.get_shape())


def elem_of(v: SSAValue) -> Attribute:
    assert isinstance(v.type, TensorType)
    return v.type.get_element_type()


def tensor(shape: Sequence[int], elem: Attribute) -> TensorType:
    return TensorType(elem, list(shape))


def limb_shape(moduli: Sequence[int], rank: int) -> tuple[int, ...]:
    """The broadcast shape of a per-limb constant for a rank-`rank` operand."""
    if rank == 0:
        return ()
    return (len(moduli) if len(moduli) > 1 else 1,) + (1,) * (rank - 1)


class Emitter:
    """Collects the ops of one rewrite, in order."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def add(self, op: Operation, hint: str | None = None) -> SSAValue:
        self.ops.append(op)
        if hint:
            op.results[0].name_hint = hint
        return op.results[0]

    def const(self, array: np.ndarray, hint: str | None = None) -> SSAValue:
        return self.add(he.ConstantOp.of(np.asarray(array)), hint)

    def limb_const(self, values: Sequence[int], rank: int, dtype, hint: str | None = None) -> SSAValue:
        """One value per limb, shaped to broadcast over a rank-`rank` operand."""
        arr = np.array([int(v) for v in values], dtype=dtype)
        return self.const(arr.reshape(limb_shape(values, rank)), hint)

    def cast(self, v: SSAValue, elem: Attribute, hint: str | None = None) -> SSAValue:
        if elem_of(v) == elem:
            return v
        return self.add(he.CastOp.make([v], tensor(shape_of(v), elem)), hint)

    def word(
        self, cls, a: SSAValue, b: SSAValue, elem: Attribute, shape: Sequence[int], hint: str | None = None
    ) -> SSAValue:
        return self.add(cls.make([a, b], tensor(shape, elem)), hint)

    def shr(self, v: SSAValue, amount: int, elem: Attribute, hint: str | None = None) -> SSAValue:
        if amount == 0 and elem_of(v) == elem:
            return v
        return self.add(he.ShrOp.make([v], tensor(shape_of(v), elem), amount=IntegerAttr(amount, i64)), hint)


def replace(op: Operation, ops: Sequence[Operation], value: SSAValue) -> None:
    """Insert `ops` before `op`, let `value` stand for its result, erase `op`, and erase
    the he.constant operands nothing uses any more (a folded twiddle matrix, say)."""
    block = op.parent_block()
    assert block is not None
    if ops:
        block.insert_ops_before(list(ops), op)
    op.results[0].replace_all_uses_with(value)
    operands = list(op.operands)
    block.erase_op(op)
    for v in operands:
        owner = v.owner
        if isinstance(owner, he.ConstantOp) and not owner.results[0].uses and owner.parent_block() is not None:
            owner.parent_block().erase_op(owner)


def ops_of(module: ModuleOp, *classes: type[Operation]) -> list[Operation]:
    return [op for op in module.walk() if isinstance(op, classes)]
