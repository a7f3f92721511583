"""convert-onnx-to-loops: lower `func.func @main` of onnx ops to loop-level kernels.

Every ONNX op becomes a kernel function of scf.for loops over memrefs (arith/math for
the scalar work); `@main` becomes the host program: inputs and outputs as memref
arguments, intermediates as `memref.alloc` (the memory planner gives them arena
offsets), weights as `memref.global`, reshapes as `memref.reinterpret_cast` views,
and one `func.call` per kernel. This is the level every C-family target prints
from, so nothing here is C: parallel loops carry `hetc.parallel`, GEMM tiles are
loop structure, and a target chooses threads, vector widths and memory spaces.

Convolutions pad into a scratch buffer, then im2col + a register-tiled GEMM (1x1
stride-1 convolutions skip im2col; depthwise convolutions get a direct kernel), with
bias fused into the GEMM's store. The op set is the one CNNs and the transformer
encoder need in float32; anything else is reported up front, by node and op.
"""

from __future__ import annotations

from dataclasses import dataclass
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from hetc.dialects import onnx as onnx_d
from hetc.diagnostics import UnsupportedError

from hetc.passes.loops.ops import SUPPORTED, _type_supported
from hetc.passes.loops.conv import ConvLowering
from hetc.passes.loops.conv_nhwc import NhwcLowering
from hetc.passes.kernel_regions import mark_groups_for_lowering
from hetc.passes.loops.attention import AttentionLowering
from hetc.passes.loops.fused import FusedRowLowering, FusedSplitLowering
from hetc.passes.loops.elementwise import ElementwiseLowering
from hetc.passes.loops.gemm import GemmLowering
from hetc.passes.loops.host import HostLowering
from hetc.passes.loops.movement import MovementLowering
from hetc.passes.loops.reduce import ReduceLowering
from hetc.passes.loops.rnn import RnnLowering
from hetc.passes.loops.einsum import EinsumLowering
from hetc.passes.loops.topk import TopKLowering


class _Lowering(AttentionLowering, FusedSplitLowering, HostLowering, ElementwiseLowering, GemmLowering, ConvLowering, NhwcLowering, FusedRowLowering, ReduceLowering, RnnLowering, MovementLowering,
                EinsumLowering, TopKLowering):
    """One lowering of one module; the mixins in hetc.passes.loops hold the per-op parts."""


def unsupported_for_loops(module: ModuleOp) -> list[onnx_d.OnnxOp]:
    """Ops (or types) the loop lowering cannot take, to be named before any code is written."""
    return [
        op for op in module.walk()
        if isinstance(op, onnx_d.OnnxOp) and (op.OP_TYPE not in SUPPORTED or not _type_supported(op))
    ]


#: what `target=` selects: how GEMMs are written (the rest of the loop IR is the same);
#: "plain" is the GPU's plain GEMM form under a neutral name (the HLS target uses it)
LOOP_TARGETS = ("cpu", "gpu", "plain")


def convert_onnx_to_loops(module: ModuleOp, target: str = "cpu") -> None:
    """`target="gpu"`: GEMMs are written as plain i/j/k loop nests marked `hetc.gemm`
    (a GPU target tiles them through shared memory or tensor cores) instead of the
    register-tiled panels a CPU wants."""
    if target not in LOOP_TARGETS:
        raise ValueError(f"convert-onnx-to-loops: unknown target '{target}' ({', '.join(LOOP_TARGETS)})")
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    mark_groups_for_lowering(main)  # hetc-fuse's kernel.groups: each becomes one kernel
    bad = unsupported_for_loops(module)
    if bad:
        op = bad[0]
        kinds = sorted({o.OP_TYPE for o in bad})
        raise UnsupportedError(
            f"the loop lowering does not support {', '.join(kinds)} yet, or not with these "
            f"element types ({len(bad)} node(s))",
            node=op.node_name,
            op_type=op.OP_TYPE,
        )
    lowering = _Lowering(module, main)
    lowering.gpu = target in ("gpu", "plain")
    lowering.lower()


@dataclass(frozen=True)
class ConvertOnnxToLoops(ModulePass):
    name = "convert-onnx-to-loops"
    target: str = "cpu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        convert_onnx_to_loops(op, self.target)
