"""A small builder for loop-level IR (scf.for / memref / arith / math on static shapes).

The lowering of each ONNX op writes its kernel through this builder, so the loop
structure every C-family target prints from is made in one place.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import (
    ArrayAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    StringAttr,
    UnitAttr,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

INDEX = IndexType()
#: on scf.for: the iterations are independent
PARALLEL_ATTR = "hetc.parallel"
#: on a serial loop inside a parallel iteration whose iterations may be split over the
#: lanes of a warp: every one-element accumulator it updates is a reduction combined by
#: its update op (add, mul, max, min), and every other store is indexed by its variable
REDUCTION_ATTR = "hetc.reduction"


class LoopBuilder:
    """Appends ops to the current block; `loop` and `loops` open nested scf.for bodies."""

    def __init__(self, block: Block) -> None:
        self.block = block

    def add(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def value(self, op: Operation) -> SSAValue:
        return self.add(op).results[0]

    def index(self, n: int) -> SSAValue:
        return self.value(arith.ConstantOp(IntegerAttr(n, INDEX)))

    def const(self, x: float, elem: Attribute) -> SSAValue:
        """A scalar constant of element type `elem` (float, integer or i1)."""
        if isinstance(elem, IntegerType):
            return self.value(arith.ConstantOp(IntegerAttr(int(x), elem)))
        return self.value(arith.ConstantOp(FloatAttr(float(x), elem)))

    @contextmanager
    def loop(self, lb: int, ub: int, step: int = 1, parallel: bool = False, reduction: bool = False) -> Iterator[SSAValue]:
        """`for iv in range(lb, ub, step)`; `parallel` marks iterations as independent
        (a target may spread them over threads or a GPU grid)."""
        body = Block(arg_types=[INDEX])
        op = scf.ForOp(self.index(lb), self.index(ub), self.index(step), [], body)
        if parallel:
            op.attributes[PARALLEL_ATTR] = UnitAttr()
        if reduction:
            op.attributes[REDUCTION_ATTR] = UnitAttr()
        self.add(op)
        outer = self.block
        self.block = body
        try:
            yield body.args[0]
        finally:
            body.add_op(scf.YieldOp())
            self.block = outer

    @contextmanager
    def loops(self, shape: Sequence[int], parallel_outer: bool = True, reduction: bool = False) -> Iterator[list[SSAValue]]:
        """A perfect nest over `shape` whose iterations are all independent (each writes
        its own elements): every loop is marked parallel, so a GPU target can spread the
        whole nest over threads (a CPU target threads the outermost marked loop)."""
        ivs: list[SSAValue] = []
        opened = []
        try:
            for i, n in enumerate(shape):
                cm = self.loop(0, n, parallel=parallel_outer and n > 1, reduction=reduction and i == 0)
                ivs.append(cm.__enter__())
                opened.append(cm)
            yield ivs
        finally:
            for cm in reversed(opened):
                cm.__exit__(None, None, None)

    def load(self, ref: SSAValue, indices: Sequence[SSAValue]) -> SSAValue:
        return self.value(memref.LoadOp.get(ref, list(indices)))

    def store(self, value: SSAValue, ref: SSAValue, indices: Sequence[SSAValue]) -> None:
        self.add(memref.StoreOp.get(value, ref, list(indices)))

    def affine(self, terms: Sequence[tuple[SSAValue, int]], offset: int = 0) -> SSAValue:
        """sum(iv * coeff) + offset as index arithmetic (printed as one C expression)."""
        acc: SSAValue | None = None
        for iv, coeff in terms:
            if coeff == 0:
                continue
            term = iv if coeff == 1 else self.value(arith.MuliOp(iv, self.index(coeff)))
            acc = term if acc is None else self.value(arith.AddiOp(acc, term))
        if acc is None:
            return self.index(offset)
        return acc if offset == 0 else self.value(arith.AddiOp(acc, self.index(offset)))


def new_kernel(
    name: str, arg_types: Sequence[MemRefType], onnx_nodes: Sequence[str], kind: str
) -> tuple[func.FuncOp, LoopBuilder, list[SSAValue]]:
    """A kernel function `name(args...)` returning nothing; the body is built by the caller."""
    block = Block(arg_types=list(arg_types))
    fn = func.FuncOp(name, (list(arg_types), []), Region(block), visibility="private")
    fn.attributes["hetc.onnx_nodes"] = ArrayAttr([StringAttr(n) for n in onnx_nodes])
    fn.attributes["hetc.kernel"] = StringAttr(kind)
    return fn, LoopBuilder(block), list(block.args)


def finish_kernel(builder: LoopBuilder) -> None:
    builder.block.add_op(func.ReturnOp())
