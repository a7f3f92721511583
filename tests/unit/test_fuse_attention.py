"""hetc-fuse's attention groups (issue 7): which spellings of attention form a candidate,
which must not, all-or-nothing legality, and the cost model's price of the group."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

from hetc.api import compile_module
from hetc.passes.fuse import MAX_ROW, FusionProblem, Price, greedy, plan_fusion, solve_ilp

B, H, S, D = 1, 2, 16, 8


def _model(scale: str = "mul_after", mask: bool = True, extra_use: str = "", s: int = S) -> onnx.ModelProto:
    """q, kT, v (and mask) inputs; `scale`: mul_after | div_after | before (on Q) | none;
    `extra_use`: a value of the chain also returned ("scores", "probs")."""
    c = nh.from_array(np.array(0.3, np.float32), "c")
    nodes, cur = [], "q"
    if scale == "before":
        nodes.append(h.make_node("Mul", ["q", "c"], ["qs"], name="qscale"))
        cur = "qs"
    nodes.append(h.make_node("MatMul", [cur, "kt"], ["scores"], name="qk"))
    cur = "scores"
    if scale in ("mul_after", "div_after"):
        nodes.append(h.make_node("Mul" if scale == "mul_after" else "Div", [cur, "c"], ["scaled"], name="scale"))
        cur = "scaled"
    if mask:
        nodes.append(h.make_node("Add", [cur, "mask"], ["masked"], name="mask_add"))
        cur = "masked"
    nodes += [h.make_node("Softmax", [cur], ["probs"], axis=-1, name="softmax"),
              h.make_node("MatMul", ["probs", "v"], ["y"], name="pv")]
    inputs = [h.make_tensor_value_info("q", T.FLOAT, [B, H, s, D]), h.make_tensor_value_info("kt", T.FLOAT, [B, H, D, s]),
              h.make_tensor_value_info("v", T.FLOAT, [B, H, s, D])]
    if mask:
        inputs.append(h.make_tensor_value_info("mask", T.FLOAT, [B, 1, s, s]))
    outputs = [h.make_tensor_value_info(n, T.FLOAT, None) for n in ["y", *([extra_use] if extra_use else [])]]
    return h.make_model(h.make_graph(nodes, "attn", inputs, outputs, [c]), opset_imports=[h.make_opsetid("", 18)])


def _fn(model):
    module = compile_module(model)  # the graph pipeline: the Softmax is decomposed
    return next(op for op in module.ops if getattr(op, "sym_name", None) and op.sym_name.data == "main")


@pytest.mark.parametrize("scale", ["mul_after", "div_after", "before", "none"])
@pytest.mark.parametrize("mask", [True, False])
def test_spellings_form_one_candidate(scale, mask):
    problem = FusionProblem(_fn(_model(scale, mask)))
    [members] = problem.attention
    types = [op.OP_TYPE for op in members]
    assert types[0] == types[-1] == "MatMul" and types[-6:-1] == ["ReduceMax", "Sub", "Exp", "ReduceSum", "Div"]
    assert len(types) == 7 + (scale in ("mul_after", "div_after")) + mask
    # the Q scale before the MatMul stays outside
    assert all(op.node_name != "qscale" for op in members)


@pytest.mark.parametrize("extra", ["scores", "probs", "masked"])
def test_escaping_intermediate_is_no_candidate(extra):
    problem = FusionProblem(_fn(_model(extra_use=extra)))
    assert problem.attention == []
    assert "attention" not in plan_fusion(problem.fn, "greedy").kinds


def test_long_row_is_no_candidate():
    assert FusionProblem(_fn(_model(s=MAX_ROW + 1, mask=False))).attention == []


def test_candidate_is_all_or_nothing():
    problem = FusionProblem(_fn(_model()))
    [cand] = problem.attention_edges
    assert problem.structural_ok(cand)
    assert not problem.structural_ok(cand[:-1])
    # an attention op cannot also be in a row or epilogue group
    other = next(e for e in problem.edges if e.kind == "row")
    assert not problem.structural_ok(cand + [other])


@pytest.mark.parametrize("device", ["cpu", "h100"])
def test_greedy_and_ilp_choose_it_and_the_price_counts_scores_and_launches(device):
    problem = FusionProblem(_fn(_model()), Price.of(device))
    [members] = problem.attention
    g = greedy(problem)
    chosen, status, _, _ = solve_ilp(problem, 5.0)
    for edges in (g, chosen):
        comp = problem.components(edges)
        assert len({comp[op] for op in members}) == 1
    # the same partition minus the attention group: the softmax a row group, the scale
    # and mask the QK^T GEMM's epilogue (3 kernels)
    rest = greedy_without_attention(problem)
    moved_a, t_a, k_a = problem.cost(g)
    moved_r, t_r, k_r = problem.cost(rest)
    assert k_r - k_a == 2
    scores = B * H * S * S * 4
    assert moved_r - moved_a == 4 * scores  # scores and probabilities, each written and read once
    assert t_r - t_a == pytest.approx(4 * scores / problem.price.bandwidth_Bps + 2 * problem.price.launch_s)


def greedy_without_attention(problem: FusionProblem):
    saved = problem.attention_edges
    problem.attention_edges = []
    try:
        return [e for e in greedy(problem) if e.kind != "attention"]
    finally:
        problem.attention_edges = saved
