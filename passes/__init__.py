"""hetc's passes, by name. `hetc-opt -p NAME` and the driver's pipelines look them up here."""

from __future__ import annotations

from xdsl.passes import ModulePass


def all_passes() -> dict[str, type[ModulePass]]:
    from hetc.passes.agent_decompose import AgentDecompose
    from hetc.passes.canonicalize import Canonicalize
    from hetc.passes.choose_layout import ChooseLayout
    from hetc.passes.fuse import Fuse
    from hetc.passes.fuse_horizontal import FuseHorizontal
    from hetc.passes.convert_onnx_to_loops import ConvertOnnxToLoops
    from hetc.passes.dce import DeadCodeElimination
    from hetc.passes.elide_copies import ElideCopies
    from hetc.passes.decompose import Decompose
    from hetc.passes.fold_constants import FoldConstants
    from hetc.passes.he_barrett import HeBarrett
    from hetc.passes.he_bat import HeBat
    from hetc.passes.he_ntt_to_matmul import HeNttToMatmul
    from hetc.passes.he_matvec_bsgs import HeMatvecBsgs
    from hetc.passes.he_einsum_pack import HeEinsumPack
    from hetc.passes.he_choose_packing import HeChoosePacking
    from hetc.passes.lift_narrow_floats import LiftNarrowFloats
    from hetc.passes.place_model import HetcPlace
    from hetc.passes.partition import Partition
    from hetc.passes.narrow_storage import NarrowStorage
    from hetc.passes.plan_memory import PlanMemory
    from hetc.passes.verify_shapes import VerifyShapes
    from hetc.passes.npu_lower import NpuLower
    from hetc.passes.npu_tile import NpuTile

    passes = [
        VerifyShapes, FoldConstants, Canonicalize, DeadCodeElimination, Decompose,
        ChooseLayout, FuseHorizontal, Fuse, ConvertOnnxToLoops, NarrowStorage, ElideCopies, PlanMemory,
        HeNttToMatmul, HeBat, HeBarrett,
        HeChoosePacking, HeMatvecBsgs, HeEinsumPack,
        HetcPlace, Partition,
        NpuTile, NpuLower,
        AgentDecompose,
        LiftNarrowFloats,
    ]
    return {p.name: p for p in passes}
