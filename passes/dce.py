"""hetc-dce: erase ops whose results nobody uses (every onnx op is free of side effects)."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from hetc.dialects import onnx as onnx_d


def erase_dead_ops(module: ModuleOp) -> int:
    """Erase unused onnx ops bottom-up; returns how many were erased."""
    erased = 0
    for block in [b for op in module.walk() for r in op.regions for b in r.blocks]:
        for op in reversed(list(block.ops)):
            if isinstance(op, (onnx_d.OnnxOp, onnx_d.NoValueOp)) and all(not r.uses for r in op.results):
                block.erase_op(op)
                erased += 1
    return erased


@dataclass(frozen=True)
class DeadCodeElimination(ModulePass):
    name = "hetc-dce"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        erase_dead_ops(op)
