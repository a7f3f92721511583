"""Whole-tensor scratchpad problems from ONNX graphs (passes/spm/from_graph.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hetc.diagnostics import HetcError
from hetc.passes.spm.allocate import allocate
from hetc.passes.spm.from_graph import whole_tensor_problem
from hetc.passes.spm.problem import compulsory_bytes, replay
from onnx import TensorProto, helper, numpy_helper


def _model(batch: int | str = 2) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((8, 16), np.float32), "w")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([-1], np.int64))),
        helper.make_node("Reshape", ["r", "shape"], ["flat"], name="view"),
        helper.make_node("Add", ["flat", "flat"], ["y"], name="add"),
        helper.make_node("Reshape", ["y", "shape"], ["z"], name="out_view"),
    ]
    g = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None), helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
        [w],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_ops_kinds_sizes_and_views():
    p = whole_tensor_problem(_model(), 1 << 20)
    names = [op.name for op in p.ops]
    # the inner Reshape is an alias (no op); the one producing a graph output stays a copy
    assert names == ["mm", "relu", "add", "out_view"]
    assert p.ops[2].reads == ("r",)  # Add reads the aliased tensor once
    k = {n: (t.size, t.kind) for n, t in p.tensors.items()}
    assert k["x"] == (2 * 8 * 4, "input")
    assert k["w"] == (8 * 16 * 4, "weight")
    assert k["h"] == (2 * 16 * 4, "intermediate")
    assert k["r"] == (2 * 16 * 4, "output")
    assert k["z"] == (2 * 16 * 4, "output")
    assert "shape" not in k and "flat" not in k  # the shape operand of an aliased view is not resident
    plan = allocate(p, "belady")
    assert replay(p, plan).compulsory == compulsory_bytes(p) == (64 + 512 + 128 + 128)


def test_views_as_ops():
    p = whole_tensor_problem(_model(), 1 << 20, alias_views=False)
    assert [op.name for op in p.ops] == ["mm", "relu", "view", "add", "out_view"]
    assert "flat" in p.tensors and p.tensors["flat"].kind == "intermediate"
    assert "shape" not in p.tensors


def test_symbolic_input_needs_binding():
    with pytest.raises(HetcError, match="symbolic dimension"):
        whole_tensor_problem(_model("n"), 1 << 20)
    p = whole_tensor_problem(_model("n"), 1 << 20, input_shapes={"x": (3, 8)})
    assert p.tensors["h"].size == 3 * 16 * 4


def test_zoo_cnn_if_torch(tmp_path):
    torch = pytest.importorskip("torch")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    import zoo

    model = zoo.build("squeezenet")
    path = tmp_path / "sq.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), opset_version=17, dynamo=False)
    p = whole_tensor_problem(path, 1 << 20)
    p.validate()
    assert 40 <= len(p.ops) <= 80
    assert sum(t.kind == "weight" for t in p.tensors.values()) >= 26  # 26 convolutions (weights)
    lru, bel = (replay(p, allocate(p, m)).noncompulsory for m in ("lru", "belady"))
    assert bel <= lru
