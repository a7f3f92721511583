"""The `npu` dialect: the NPU's DMA and compute intrinsics over an explicit scratchpad.

hetc-npu-lower writes these into @main after the loop lowering, one op per step of the
scratchpad plan (hetc.passes.spm), so the host program reads top to bottom as what the
NPU does:

    npu.dma_in %w3 {tensor = "w3", offset = 0, bytes = 1728}            DRAM -> SPM
    npu.dma_in %x {tensor = "x[0:1,0:3,0:9,0:32]", offset = 1792, bytes = 3456,
                   starts = [0, 0, 0, 0], ends = [1, 3, 9, 32]}           a strided region
    npu.alloc {tensor = "conv", offset = 5248, bytes = 8192}             room for a result
    npu.matmul_tile {m = 16, n = 256, k = 27}                            charged to the N x N unit
    npu.vector {elements = 4096}                                         charged to the vector unit
    npu.dma_gather {bytes = 8192}                                        rows of a DRAM table (embeddings)
    npu.compute %a, %b, %c {callee = @k1_conv_gemm, op = "c1"}           a kernel on SPM operands
    npu.dma_out %out {tensor = "logits", offset = 0, bytes = 40}         SPM -> DRAM
    npu.move {tensor = "t", src = 4096, dst = 0, bytes = 2048}           compaction inside the SPM
    npu.free {tensor = "conv"}

DRAM buffers stay the loop lowering's values (@main arguments, `memref.get_global`
weights, `memref.alloc` homes of spilled intermediates); every SPM operand of a compute
is resident at the offset of the last dma_in/alloc/move of its tensor.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, StringAttr, SymbolRefAttr, i64
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    var_operand_def,
)
from xdsl.utils.exceptions import VerifyException


def _i(v: int) -> IntegerAttr:
    return IntegerAttr(int(v), i64)


def _ints(vs) -> ArrayAttr:
    return ArrayAttr([_i(v) for v in vs])


class _Placed(IRDLOperation):
    def verify_(self) -> None:
        for key in ("offset", "bytes", "src", "dst"):
            v = self.properties.get(key)
            if isinstance(v, IntegerAttr) and v.value.data < 0:
                raise VerifyException(f"{self.name}: {key} must be >= 0")


@irdl_op_definition
class DmaInOp(_Placed):
    """Copy a tensor (or a strided region `starts`..`ends` of a DRAM buffer) into the SPM."""

    name = "npu.dma_in"
    dram = operand_def(Attribute)
    tensor = prop_def(StringAttr)
    offset = prop_def(IntegerAttr)
    bytes = prop_def(IntegerAttr)
    starts = opt_prop_def(ArrayAttr)
    ends = opt_prop_def(ArrayAttr)

    def __init__(self, dram: SSAValue, tensor: str, offset: int, nbytes: int, starts=None, ends=None) -> None:
        props = {"tensor": StringAttr(tensor), "offset": _i(offset), "bytes": _i(nbytes)}
        if starts is not None:
            props["starts"], props["ends"] = _ints(starts), _ints(ends)
        super().__init__(operands=[dram], properties=props)


@irdl_op_definition
class DmaOutOp(_Placed):
    """Copy a resident tensor back to its DRAM buffer (or into the box `starts`..`ends`
    of a graph output: a tile of it)."""

    name = "npu.dma_out"
    dram = operand_def(Attribute)
    tensor = prop_def(StringAttr)
    offset = prop_def(IntegerAttr)
    bytes = prop_def(IntegerAttr)
    starts = opt_prop_def(ArrayAttr)
    ends = opt_prop_def(ArrayAttr)

    def __init__(self, dram: SSAValue, tensor: str, offset: int, nbytes: int, starts=None, ends=None) -> None:
        props = {"tensor": StringAttr(tensor), "offset": _i(offset), "bytes": _i(nbytes)}
        if starts is not None:
            props["starts"], props["ends"] = _ints(starts), _ints(ends)
        super().__init__(operands=[dram], properties=props)


@irdl_op_definition
class AllocOp(_Placed):
    """Reserve SPM bytes for a tensor a compute is about to write (no traffic)."""

    name = "npu.alloc"
    tensor = prop_def(StringAttr)
    offset = prop_def(IntegerAttr)
    bytes = prop_def(IntegerAttr)

    def __init__(self, tensor: str, offset: int, nbytes: int) -> None:
        super().__init__(properties={"tensor": StringAttr(tensor), "offset": _i(offset), "bytes": _i(nbytes)})


@irdl_op_definition
class FreeOp(IRDLOperation):
    """Drop a tensor's SPM copy (no traffic)."""

    name = "npu.free"
    tensor = prop_def(StringAttr)

    def __init__(self, tensor: str) -> None:
        super().__init__(properties={"tensor": StringAttr(tensor)})


@irdl_op_definition
class MoveOp(_Placed):
    """Relocate a resident tensor inside the SPM (compaction; SPM bandwidth only)."""

    name = "npu.move"
    tensor = prop_def(StringAttr)
    src = prop_def(IntegerAttr)
    dst = prop_def(IntegerAttr)
    bytes = prop_def(IntegerAttr)

    def __init__(self, tensor: str, src: int, dst: int, nbytes: int) -> None:
        super().__init__(properties={"tensor": StringAttr(tensor), "src": _i(src), "dst": _i(dst), "bytes": _i(nbytes)})


@irdl_op_definition
class MatmulTileOp(IRDLOperation):
    """An M x N x K matrix product on the N x N matrix unit (ceil-divided into unit tiles)."""

    name = "npu.matmul_tile"
    m = prop_def(IntegerAttr)
    n = prop_def(IntegerAttr)
    k = prop_def(IntegerAttr)

    def __init__(self, m: int, n: int, k: int) -> None:
        super().__init__(properties={"m": _i(m), "n": _i(n), "k": _i(k)})


@irdl_op_definition
class VectorOp(IRDLOperation):
    """`elements` scalar operations on the vector unit (lanes at a time)."""

    name = "npu.vector"
    elements = prop_def(IntegerAttr)

    def __init__(self, elements: int) -> None:
        super().__init__(properties={"elements": _i(elements)})


@irdl_op_definition
class DmaGatherOp(IRDLOperation):
    """Charge an indexed DMA of `bytes` (table rows picked by resident indices, fetched
    from DRAM by the next compute: an embedding lookup); counted apart from the traffic
    the scratchpad plan moves."""

    name = "npu.dma_gather"
    bytes = prop_def(IntegerAttr)

    def __init__(self, nbytes: int) -> None:
        super().__init__(properties={"bytes": _i(nbytes)})


@irdl_op_definition
class ComputeOp(IRDLOperation):
    """A call of a loop-level compute kernel whose operands are resident in the SPM."""

    name = "npu.compute"
    args = var_operand_def(Attribute)
    callee = prop_def(SymbolRefAttr)
    op = prop_def(StringAttr)

    def __init__(self, callee: str, args, op: str) -> None:
        super().__init__(operands=[list(args)], properties={"callee": SymbolRefAttr(callee), "op": StringAttr(op)})


NPU = Dialect("npu", [DmaInOp, DmaOutOp, AllocOp, FreeOp, MoveOp, MatmulTileOp, VectorOp, DmaGatherOp, ComputeOp], [])
