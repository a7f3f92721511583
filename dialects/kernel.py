"""The `kernel` dialect: a fused group as a region, the unit that becomes one kernel.

hetc-fuse decides which ops share a kernel; this dialect makes that decision part of
the IR instead of attributes beside it:

    %y:2 = "kernel.group"(%x, %w, %b) ({
    ^bb0(%bx: tensor<16x8xf32>, %bw: tensor<8x22xf32>, %bb: tensor<22xf32>):
      %mm = "onnx.MatMul"(%bx, %bw) ...
      %yb = "onnx.Add"(%mm, %bb) ...
      "kernel.yield"(%yb, ...) : (...) -> ()
    }) {id = 0 : i64, kind = "epilogue", nodes = ["q", "q_bias"]} : (...) -> (...)

- operands: the values the group reads from outside (inputs, weights, other kernels'
  results), in first-use order; the region's single block has one argument per operand;
- results: the values used after the group (by other kernels or returned), yielded by
  `kernel.yield` in the same order;
- attributes: `id` (the group's index in the fusion report's kernel list), `kind`
  (`epilogue`: a GEMM with ops applied in its store; `row`: elementwise ops and last-axis
  reductions over the same rows) and `nodes` (the ONNX node names inside, for reports
  and profiles).

The verifier keeps a group closed: every op inside uses only the block's arguments or
values defined inside (a use from outside would make the group depend on a value its
operands do not list), the block's arguments match the operands and the yield matches
the results. Passes that do not care about groups inline them
(`hetc.passes.kernel_regions.inline_groups`); the loop lowering lowers each into one
kernel function.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, StringAttr, i64
from xdsl.ir import Attribute, Block, Dialect, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    attr_def,
    irdl_op_definition,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import HasParent, IsTerminator
from xdsl.utils.exceptions import VerifyException

#: the group kinds hetc-fuse forms
KINDS = ("epilogue", "row", "attention")


@irdl_op_definition
class GroupOp(IRDLOperation):
    """One fused group of ops, generated as one kernel function (C) or kernel (CUDA)."""

    name = "kernel.group"
    args = var_operand_def()
    outs = var_result_def()
    body = region_def("single_block")
    id = attr_def(IntegerAttr)
    kind = attr_def(StringAttr)
    nodes = attr_def(ArrayAttr[StringAttr])

    def __init__(
        self, args: Sequence[SSAValue], result_types: Sequence[Attribute], body: Region, group_id: int, kind: str,
        nodes: Sequence[str],
    ) -> None:
        super().__init__(
            operands=[list(args)],
            result_types=[list(result_types)],
            regions=[body],
            attributes={"id": IntegerAttr(group_id, i64), "kind": StringAttr(kind),
                        "nodes": ArrayAttr([StringAttr(n) for n in nodes])},
        )

    @property
    def block(self) -> Block:
        return self.body.block

    @property
    def group_kind(self) -> str:
        return self.kind.data

    @property
    def group_id(self) -> int:
        return self.id.value.data

    def verify_(self) -> None:
        block = self.body.block
        if len(block.args) != len(self.args):
            raise VerifyException(
                f"kernel.group {self.group_id}: {len(self.args)} operand(s) but {len(block.args)} block argument(s)")
        for i, (arg, v) in enumerate(zip(block.args, self.args)):
            if arg.type != v.type:
                raise VerifyException(
                    f"kernel.group {self.group_id}: block argument {i} is {arg.type}, its operand {v.type}")
        last = block.last_op
        if not isinstance(last, YieldOp):
            raise VerifyException(f"kernel.group {self.group_id}: the body must end in kernel.yield")
        if [v.type for v in last.values] != [r.type for r in self.outs]:
            raise VerifyException(f"kernel.group {self.group_id}: kernel.yield's types do not match the results")
        if self.kind.data not in KINDS:
            raise VerifyException(f"kernel.group {self.group_id}: unknown kind '{self.kind.data}' ({', '.join(KINDS)})")
        # closed: nothing inside reads a value defined outside the region
        for op in self.body.walk():
            for v in op.operands:
                if not _defined_inside(v, self):
                    where = op.attributes.get("hetc.node")
                    label = f" ({where.data})" if isinstance(where, StringAttr) else ""
                    raise VerifyException(
                        f"kernel.group {self.group_id}: {op.name}{label} uses a value defined outside the group; "
                        "pass it as an operand of the kernel.group (a block argument)"
                    )


def _defined_inside(v: SSAValue, group: GroupOp) -> bool:
    """Whether `v` is a block argument or result of an op nested in `group`."""
    owner = v.owner
    block = owner if isinstance(owner, Block) else owner.parent_block()
    while block is not None:
        parent = block.parent_op()
        if parent is group:
            return True
        if parent is None:
            return False
        block = parent.parent_block()
    return False


@irdl_op_definition
class YieldOp(IRDLOperation):
    """The values of a kernel.group used after it, in the order of its results."""

    name = "kernel.yield"
    values = var_operand_def()
    traits = traits_def(IsTerminator(), HasParent(GroupOp))

    def __init__(self, values: Sequence[SSAValue]) -> None:
        super().__init__(operands=[list(values)])


def groups_of(op: Operation) -> list[GroupOp]:
    """The kernel.group ops nested in `op` (a module or function), in program order."""
    return [g for g in op.walk() if isinstance(g, GroupOp)]


KERNEL = Dialect("kernel", [GroupOp, YieldOp], [])
