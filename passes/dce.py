"""hetc-dce: erase ops whose results nobody uses (every onnx op is free of side effects)."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from hetc.dialects import onnx as onnx_d


def erase_dead_ops(module: ModuleOp) -> int:
    """Erase unused onnx ops until none is left; returns how many were erased.

    Sweeps repeat because an op's only user may sit in a nested block swept
    before it (or after it, for uses from an enclosing block)."""
    erased = 0
    while True:
        before = erased
        blocks = [b for op in module.walk() for r in op.regions for b in r.blocks]
        for block in reversed(blocks):  # innermost blocks first
            for op in reversed(list(block.ops)):
                if isinstance(op, (onnx_d.OnnxOp, onnx_d.NoValueOp)) and all(not r.uses for r in op.results):
                    block.erase_op(op)
                    erased += 1
        if erased == before:
            return erased


@dataclass(frozen=True)
class DeadCodeElimination(ModulePass):
    name = "hetc-dce"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        erase_dead_ops(op)
