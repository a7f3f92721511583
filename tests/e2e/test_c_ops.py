"""Single ops of the C backend against onnxruntime: Einsum (on the GEMM and as a loop
nest), TopK, Round, Sign, Softsign, Celu, Pow with mixed types, integer Clip and
Dropout's mask. Floats within 1e-5 relative, integers and indices exactly."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import hetc

F32, I64 = T.FLOAT, T.INT64


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    g = h.make_graph(
        nodes, "g",
        [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [h.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [onnx.numpy_helper.from_array(np.asarray(v), n) for n, v in inits],
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _run(model, feeds, tmp_path):
    sess = hetc.compile(model, target="c", output_dir=tmp_path / "out")
    got = sess.run(feeds)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(g, w)
    return (tmp_path / "out" / "model.c").read_text()


def _einsum(eq, shapes, tmp_path, seed=0):
    names = [f"x{i}" for i in range(len(shapes))]
    ref = np.einsum(eq, *[np.zeros(s, np.float32) for s in shapes])
    m = _model([h.make_node("Einsum", names, ["y"], equation=eq)],
               [(n, F32, s) for n, s in zip(names, shapes)], [("y", F32, list(ref.shape))])
    rng = np.random.default_rng(seed)
    return _run(m, {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes)}, tmp_path)


def test_einsum_attention_contraction_runs_on_the_gemm(tmp_path):
    source = _einsum("bhqd,bhkd->bhqk", [(2, 3, 5, 8), (2, 3, 7, 8)], tmp_path)
    assert "/* gemm" in source and "/* einsum" not in source


@pytest.mark.parametrize("eq,shapes", [
    ("...ii->...i", [(3, 4, 4)]),                       # batch diagonal
    ("ii", [(5, 5)]),                                   # trace, implicit output
    ("b...ij,b...jk->b...ik", [(2, 3, 4, 5), (2, 3, 5, 2)]),
    ("...ij,...jk", [(2, 3, 4), (2, 4, 5)]),             # implicit output with ellipsis
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),          # three operands
    ("bij,bkj->bki", [(2, 3, 4), (2, 5, 4)]),
    ("ij,jk->ki", [(3, 4), (4, 6)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ijk->kj", [(2, 3, 4)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
])
def test_einsum_matches_onnxruntime(eq, shapes, tmp_path):
    _einsum(eq, shapes, tmp_path)


def test_einsum_diagonal_is_a_loop_nest(tmp_path):
    source = _einsum("bii,bij->bj", [(2, 4, 4), (2, 4, 3)], tmp_path)
    assert "/* einsum" in source


@pytest.mark.parametrize("largest", [1, 0])
def test_topk_middle_axis_with_ties(largest, tmp_path):
    m = _model(
        [h.make_node("TopK", ["x", "k"], ["v", "i"], axis=1, largest=largest)],
        [("x", F32, [2, 7, 3])], [("v", F32, [2, 4, 3]), ("i", I64, [2, 4, 3])],
        [("k", np.array([4], np.int64))],
    )
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, size=(2, 7, 3)).astype(np.float32)  # many equal values
    _run(m, {"x": x}, tmp_path)


def test_float_unary_ops(tmp_path):
    ops = [("Round", {}), ("Sign", {}), ("Softsign", {}), ("Celu", {"alpha": 0.7})]
    nodes = [h.make_node(op, ["x"], [f"y{i}"], **attrs) for i, (op, attrs) in enumerate(ops)]
    m = _model(nodes, [("x", F32, [16])], [(f"y{i}", F32, [16]) for i in range(len(ops))])
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.49999997, 2.4, -3.7,
                  8388609.0, -1e-3, 0.0, 3.0, -7.25, 11.5], np.float32)
    _run(m, {"x": x}, tmp_path)
    # Round: halves to even
    m = _model([h.make_node("Round", ["x"], ["y"])], [("x", F32, [16])], [("y", F32, [16])])
    got = hetc.compile(m, target="c", output_dir=tmp_path / "round").run({"x": x})[0]
    np.testing.assert_array_equal(got[:6], [-2, -2, -0, 0, 2, 2])


@pytest.mark.parametrize("base,expo", [(T.INT32, T.INT32), (T.INT64, T.INT64), (T.INT64, T.INT32), (T.FLOAT, T.INT32),
                                       (T.INT32, T.FLOAT)])
def test_pow_mixed_and_integer_types(base, expo, tmp_path):
    m = _model([h.make_node("Pow", ["x", "y"], ["z"])], [("x", base, [8]), ("y", expo, [8])], [("z", base, [8])])
    bt, et = (onnx.helper.tensor_dtype_to_np_dtype(t) for t in (base, expo))
    x = np.array([2, -3, 5, 1, -1, 7, 0, 3], bt)
    y = np.array([10, 5, 3, 0, 7, 2, 4, 19], et)  # 3 ** 19 still fits int32
    _run(m, {"x": x, "y": y}, tmp_path)


def test_integer_pow_negative_exponents(tmp_path):
    m = _model([h.make_node("Pow", ["x", "y"], ["z"])], [("x", T.INT32, [6]), ("y", T.INT32, [6])], [("z", T.INT32, [6])])
    x = np.array([1, -1, -1, 2, -3, 0], np.int32)
    y = np.array([-5, -3, -2, -1, 0, 3], np.int32)
    sess = hetc.compile(m, target="c", output_dir=tmp_path / "out")
    np.testing.assert_array_equal(sess.run({"x": x, "y": y})[0], [1, -1, 1, 0, 1, 0])


def test_int8_clip(tmp_path):
    nodes = [
        h.make_node("Clip", ["x", "lo", "hi"], ["both"]),
        h.make_node("Clip", ["x", "lo"], ["min_only"]),
        h.make_node("Clip", ["x", "", "hi"], ["max_only"]),
        h.make_node("Clip", ["x", "rlo", "rhi"], ["runtime"]),
    ]
    m = _model(
        nodes, [("x", T.INT8, [3, 5]), ("rlo", T.INT8, []), ("rhi", T.INT8, [])],
        [(n, T.INT8, [3, 5]) for n in ("both", "min_only", "max_only", "runtime")],
        [("lo", np.array(-20, np.int8)), ("hi", np.array(30, np.int8))],
    )
    x = np.random.default_rng(2).integers(-128, 128, size=(3, 5)).astype(np.int8)
    _run(m, {"x": x, "rlo": np.array(-5, np.int8), "rhi": np.array(100, np.int8)}, tmp_path)


def test_dropout_mask_at_inference(tmp_path):
    m = _model([h.make_node("Dropout", ["x", "r"], ["y", "mask"]), h.make_node("Relu", ["y"], ["z"])],
               [("x", F32, [4, 6])], [("z", F32, [4, 6]), ("mask", T.BOOL, [4, 6])], [("r", np.array(0.3, np.float32))])
    _run(m, {"x": np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)}, tmp_path)


def test_training_dropout_is_refused_with_a_reason(tmp_path):
    m = _model([h.make_node("Dropout", ["x", "r", "t"], ["y", "mask"], name="drop")],
               [("x", F32, [4, 6])], [("y", F32, [4, 6]), ("mask", T.BOOL, [4, 6])],
               [("r", np.array(0.3, np.float32)), ("t", np.array(True))])
    with pytest.raises(hetc.HetcError, match="random mask"):
        hetc.compile(m, target="c", output_dir=tmp_path / "out")
