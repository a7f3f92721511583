"""Questions the CUDA printer's kernel forms ask of a loop nest's loads and indices."""

from __future__ import annotations

from xdsl.dialects import arith, memref
from xdsl.ir import SSAValue


def widened_load(v: SSAValue) -> memref.LoadOp | None:
    """The load `v` is, or is the float32 widening of (f16 / bf16 storage); else None."""
    owner = v.owner
    if isinstance(owner, arith.ExtFOp) and isinstance(owner.operands[0].owner, memref.LoadOp):
        return owner.operands[0].owner
    return owner if isinstance(owner, memref.LoadOp) else None


def depends_on(v: SSAValue, iv: SSAValue, through: tuple = (arith.AddiOp, arith.MuliOp, arith.SubiOp)) -> bool:
    """Is the index `v` computed from `iv` (through ops of the types `through`)?"""
    if v is iv:
        return True
    owner = v.owner
    return isinstance(owner, through) and any(depends_on(x, iv, through) for x in owner.operands)
