"""hetc-elide-copies end to end on the C target: float16 models whose io casts became copy
kernels, in the shapes where eliding them must not change a value: an output that later
nodes also read, one input read by two branches, an output that is a graph input passed
through (nothing to elide), and a model with no narrow io (nothing to elide)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import hetc


def _model(nodes, inputs, outputs, inits=()):
    m = h.make_model(h.make_graph(nodes, "g", inputs, outputs, list(inits)), opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def _vi(name, shape, t=T.FLOAT16):
    return h.make_tensor_value_info(name, t, shape)


CASES = {
    # y is an output and the input of z: the producer writes the output buffer, z reads it
    "output_also_read": (_model([h.make_node("Relu", ["x"], ["y"]), h.make_node("Mul", ["y", "y"], ["z"])],
                                [_vi("x", [4, 16])], [_vi("y", [4, 16]), _vi("z", [4, 16])]), 3),
    # one input, two consumers, both read it in place
    "input_two_branches": (_model([h.make_node("Sigmoid", ["x"], ["a"]), h.make_node("Tanh", ["x"], ["b"]),
                                   h.make_node("Add", ["a", "b"], ["y"])],
                                  [_vi("x", [8, 8])], [_vi("y", [8, 8])]), 2),
    # an input passed straight through to an output: that copy stays (both are io buffers);
    # x's copy for Neg and z's copy out go
    "pass_through": (_model([h.make_node("Identity", ["x"], ["y"]), h.make_node("Neg", ["x"], ["z"])],
                            [_vi("x", [3, 5])], [_vi("y", [3, 5]), _vi("z", [3, 5])]), 2),
    # float32 io: no casts, nothing to elide
    "float32": (_model([h.make_node("Relu", ["x"], ["y"])], [_vi("x", [2, 3], T.FLOAT)], [_vi("y", [2, 3], T.FLOAT)]), 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_elided_copies_keep_every_value(name, tmp_path):
    model, expect = CASES[name]
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]).astype(
        np.float16 if i.type.tensor_type.elem_type == T.FLOAT16 else np.float32) for i in model.graph.input}
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    out = hetc.build(model, "c", tmp_path / "out", None)
    got = hetc.Session(out).run(feeds)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g.astype(np.float32), w.astype(np.float32), rtol=2e-3, atol=2e-3)
    elided = json.loads((out / "report.json").read_text())["elided_copies"]
    assert elided == expect
