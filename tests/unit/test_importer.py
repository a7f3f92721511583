"""The ONNX importer: opset conversion, constants, shapes, control flow."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import hetc
from hetc.dialects import onnx as onnx_d
from hetc.frontend.onnx_importer import import_model


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def _branch(op, name):
    return h.make_graph([h.make_node(op, ["x"], ["t"])], name, [], [h.make_tensor_value_info("t", T.FLOAT, [2, 3])])


def _if_model(cond_nodes):
    nodes = cond_nodes + [
        h.make_node("If", ["c"], ["y"], then_branch=_branch("Relu", "then"), else_branch=_branch("Neg", "else"), name="branch")
    ]
    return _model(
        nodes,
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
        [h.make_tensor_value_info("y", T.FLOAT, [2, 3])],
        [nh.from_array(np.array(4, np.int64), "four")],
    )


def test_if_with_shape_derived_condition_is_inlined():
    m = _if_model([
        h.make_node("Shape", ["x"], ["s"]),
        h.make_node("ReduceSum", ["s"], ["n"], keepdims=0),
        h.make_node("Greater", ["n", "four"], ["c"]),
    ])
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(hetc.compile(m).run({"x": x})[0], np.maximum(x, 0))


def test_if_with_data_dependent_condition_is_unsupported():
    m = _if_model([h.make_node("ReduceSum", ["x"], ["n"], keepdims=0), h.make_node("Greater", ["n", "four"], ["c"])])
    m.graph.initializer[0].CopyFrom(nh.from_array(np.array(4.0, np.float32), "four"))
    with pytest.raises(hetc.UnsupportedError, match="control flow"):
        import_model(m)


def test_scalar_constants_keep_rank_zero():
    m = _model(
        [h.make_node("Gather", ["x", "i"], ["y"], axis=1)],
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
        [h.make_tensor_value_info("y", T.FLOAT, [2])],
        [nh.from_array(np.array(1, np.int64), "i")],
    )
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(hetc.compile(m).run({"x": x})[0], x[:, 1])


def test_every_constant_form_becomes_a_tensor_value():
    m = _model(
        [h.make_node("Constant", [], ["c"], value_floats=[1.0, 2.0, 3.0]), h.make_node("Add", ["x", "c"], ["y"])],
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3])],
        [h.make_tensor_value_info("y", T.FLOAT, [2, 3])],
    )
    module = import_model(m)
    consts = [op for op in module.walk() if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE == "Constant"]
    assert [sorted(op.onnx_attributes()) for op in consts] == [["value"]]
    x = np.zeros((2, 3), np.float32)
    np.testing.assert_array_equal(hetc.compile(m).run({"x": x})[0], x + [1, 2, 3])


def test_old_opset_is_converted():
    # Softmax at opset 11 flattens to 2-D from `axis`; at 13+ it is per-axis: the
    # converter must keep the old meaning.
    m = _model(
        [h.make_node("Softmax", ["x"], ["y"], axis=1)],
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 4])],
        [h.make_tensor_value_info("y", T.FLOAT, [2, 3, 4])],
        opset=11,
    )
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    flat = x.reshape(2, 12)
    want = (np.exp(flat - flat.max(1, keepdims=True)) / np.exp(flat - flat.max(1, keepdims=True)).sum(1, keepdims=True)).reshape(2, 3, 4)
    np.testing.assert_allclose(hetc.compile(m).run({"x": x})[0], want, rtol=1e-5, atol=1e-7)


def test_frozen_inputs_make_value_dependent_shapes_static():
    m = _model(
        [h.make_node("Reshape", ["x", "shape"], ["y"])],
        [h.make_tensor_value_info("x", T.FLOAT, [2, 3]), h.make_tensor_value_info("shape", T.INT64, [2])],
        [h.make_tensor_value_info("y", T.FLOAT, None)],
    )
    with pytest.raises(hetc.UnsupportedError, match="static shape"):
        import_model(m)
    sess = hetc.compile(m, frozen_inputs={"shape": np.array([3, 2], np.int64)})
    assert sess.input_names == ["x"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(sess.run({"x": x})[0], x.reshape(3, 2))
