"""hetc-fuse's groups as kernel.group regions: formed from the plan, closed (the verifier
passes), listing the report's nodes; inlined back to the same flat graph; and the Split
epilogue's legality (only a last-axis Split after a MatMul with constant weights)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from hetc.api import compile_module
from hetc.dialects.kernel import GroupOp, groups_of
from hetc.passes.fuse import REPORT_ATTR, FusionProblem, fuse
from hetc.passes.fuse_horizontal import fuse_horizontal
from hetc.passes.kernel_regions import GROUP_ATTR, KIND_ATTR, inline_groups, mark_groups_for_lowering


def _main(module):
    return next(op for op in module.ops if getattr(op, "sym_name", None) and op.sym_name.data == "main")


def _node_names(ops) -> list[str]:
    return [op.node_name or op.OP_TYPE for op in ops]


def test_regions_match_the_plan_and_verify():
    from test_c_fusion import _rows_model

    module = compile_module(_rows_model())
    flat = [op.name for op in _main(module).body.block.ops]
    [plan] = fuse(module, "greedy")
    module.verify()
    fn = _main(module)
    regions = groups_of(fn)
    multi = [(g, ops, k) for g, (ops, k) in enumerate(zip(plan.groups, plan.kinds)) if len(ops) > 1]
    assert regions and len(regions) == len(multi)
    report = json.loads(fn.attributes[REPORT_ATTR].data)
    for region, (g, ops, kind) in zip(regions, multi):
        assert (region.group_id, region.group_kind) == (g, kind)
        inner = [op for op in region.block.ops if op.name != "kernel.yield"]
        assert [n.data for n in region.nodes] == _node_names(inner) == _node_names(ops)
        assert _node_names(inner) in report["groups"]
        # results: exactly the values read after the group
        for r, y in zip(region.outs, region.block.last_op.operands):
            assert r.uses and y.owner in inner
    # every op that fused with nothing is outside any region
    singles = {op for ops in plan.groups if len(ops) == 1 for op in ops}
    assert all(op.parent_op() is fn for op in singles)
    # inlined again: the same ops, no region, still a valid module
    member = inline_groups(fn)
    module.verify()
    assert not groups_of(fn) and len(member) == sum(len(ops) for _, ops, _ in multi)
    assert sorted(op.name for op in fn.body.block.ops) == sorted(flat)


def test_lowering_marks_every_op_once_fused():
    from test_c_fusion import _rows_model

    module = compile_module(_rows_model())
    fuse(module, "none")
    fn = _main(module)
    assert not groups_of(fn)  # nothing fuses: no region
    mark_groups_for_lowering(fn)
    ops = [op for op in fn.body.block.ops if getattr(op, "OP_TYPE", "Constant") != "Constant"]
    ids = [op.attributes[GROUP_ATTR].value.data for op in ops]
    # a group of its own each, so that no epilogue is fused behind hetc-fuse's back
    assert len(set(ids)) == len(ids) and {op.attributes[KIND_ATTR].data for op in ops} == {"single"}


def _split_model(axis: int, runtime_w: bool = False) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.standard_normal(10).astype(np.float32), "b"),
             nh.from_array(np.array([4, 6], np.int64), "sizes")]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, [6, 8])]
    if runtime_w:
        inputs.append(h.make_tensor_value_info("w", T.FLOAT, [8, 10]))
    else:
        inits.append(nh.from_array(rng.standard_normal((8, 10)).astype(np.float32), "w"))
    sizes = "sizes" if axis == 1 else "sizes0"
    if axis == 0:
        inits.append(nh.from_array(np.array([2, 4], np.int64), "sizes0"))
    outs = [[6, 4], [6, 6]] if axis == 1 else [[2, 10], [4, 10]]
    nodes = [h.make_node("MatMul", ["x", "w"], ["y"], name="mm"), h.make_node("Add", ["y", "b"], ["yb"], name="bias"),
             h.make_node("Split", ["yb", sizes], ["p", "q"], name="split", axis=axis)]
    graph = h.make_graph(nodes, "s", inputs, [h.make_tensor_value_info(n, T.FLOAT, s) for n, s in zip("pq", outs)], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])


def _split_edges(model) -> list[str]:
    problem = FusionProblem(_main(compile_module(model)))
    return [f"{e.src.node_name}->{e.dst.node_name}" for e in problem.edges if e.dst.OP_TYPE == "Split"]


def test_split_joins_the_epilogue_only_on_the_last_axis_after_constant_weights():
    assert _split_edges(_split_model(axis=1)) == ["bias->split"]
    assert _split_edges(_split_model(axis=0)) == []  # rows: not a column range of the GEMM
    assert _split_edges(_split_model(axis=1, runtime_w=True)) == []  # weights are sliced at compile time


def test_horizontal_gemm_split_is_one_region():
    from test_c_fusion import _qkv_model

    module = compile_module(_qkv_model())
    fuse_horizontal(module, "cpu", "always")
    fuse(module, "ilp")
    module.verify()
    [head] = [g for g in groups_of(_main(module)) if any(op.name == "onnx.Split" for op in g.block.ops)]
    assert isinstance(head, GroupOp) and head.group_kind == "epilogue"
    assert [op.name for op in head.block.ops] == ["onnx.MatMul", "onnx.Add", "onnx.Split", "kernel.yield"]
    assert len(head.outs) == 3  # Q, K and V are read after the group
