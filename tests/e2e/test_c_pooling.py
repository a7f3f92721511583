"""Pooling and N-D convolutions on the C backend, against onnxruntime: 3-D Max/AveragePool
(pads, ceil_mode, dilations), LpPool, MaxPool's Indices output (both storage orders),
integer MaxPool, 3-D Conv and 3-D ConvTranspose. Floats within 1e-5 relative; indices
and integers exactly."""

from __future__ import annotations

import re

import hetc
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h

OPSET = 19


def _model(nodes, inputs, outputs, inits=()) -> onnx.ModelProto:
    g = h.make_graph(
        nodes, "g",
        [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [h.make_tensor_value_info(n, t, None) for n, t in outputs],
        list(inits),
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", OPSET)])
    m.ir_version = 9
    return onnx.shape_inference.infer_shapes(m, strict_mode=True)


def _weight(name: str, shape, seed: int) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(np.random.default_rng(seed).standard_normal(shape).astype(np.float32), name)


def _run_both(model: onnx.ModelProto, feeds: dict, tmp_path):
    got = hetc.compile(model, target="c", output_dir=tmp_path / "out").run(feeds)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * float(np.max(np.abs(w))))
        else:
            np.testing.assert_array_equal(g, w)
    return got


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_averagepool_3d_pads_ceil_mode(count_include_pad, ceil_mode, tmp_path):
    node = h.make_node(
        "AveragePool", ["x"], ["y"], kernel_shape=[3, 2, 3], strides=[2, 2, 2], pads=[1, 0, 1, 1, 1, 0],
        ceil_mode=ceil_mode, count_include_pad=count_include_pad,
    )
    m = _model([node], [("x", T.FLOAT, [2, 3, 7, 6, 8])], [("y", T.FLOAT)])
    _run_both(m, {"x": _x([2, 3, 7, 6, 8])}, tmp_path)


@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_maxpool_3d_pads_dilations_ceil_mode(ceil_mode, tmp_path):
    node = h.make_node(
        "MaxPool", ["x"], ["y"], kernel_shape=[2, 3, 2], strides=[2, 1, 2], pads=[1, 1, 0, 0, 1, 1],
        dilations=[1, 2, 2], ceil_mode=ceil_mode,
    )
    m = _model([node], [("x", T.FLOAT, [1, 4, 7, 8, 9])], [("y", T.FLOAT)])
    _run_both(m, {"x": _x([1, 4, 7, 8, 9], 1)}, tmp_path)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lppool_2d_pads_strides(p, tmp_path):
    node = h.make_node("LpPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 1], pads=[1, 1, 1, 0], p=p)
    m = _model([node], [("x", T.FLOAT, [2, 3, 9, 7])], [("y", T.FLOAT)])
    _run_both(m, {"x": _x([2, 3, 9, 7], 2)}, tmp_path)


def test_lppool_3d_p3(tmp_path):
    node = h.make_node("LpPool", ["x"], ["y"], kernel_shape=[2, 2, 3], strides=[1, 2, 2], pads=[0, 1, 1, 1, 0, 1], p=3)
    m = _model([node], [("x", T.FLOAT, [1, 2, 5, 6, 7])], [("y", T.FLOAT)])
    _run_both(m, {"x": _x([1, 2, 5, 6, 7], 3)}, tmp_path)


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize(
    "shape,attrs",
    [
        ([2, 3, 9], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),
        ([2, 3, 7, 9], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
        ([1, 3, 8, 7], {"kernel_shape": [2, 3], "strides": [1, 2], "pads": [1, 2, 0, 1], "dilations": [2, 2]}),
        ([1, 2, 5, 6, 7], {"kernel_shape": [2, 3, 3], "strides": [2, 2, 1], "pads": [1, 1, 1, 0, 1, 1]}),
    ],
    ids=["1d", "2d", "2d_dilated", "3d"],
)
def test_maxpool_indices(shape, attrs, storage_order, tmp_path):
    node = h.make_node("MaxPool", ["x"], ["y", "i"], storage_order=storage_order, **attrs)
    m = _model([node], [("x", T.FLOAT, shape)], [("y", T.FLOAT), ("i", T.INT64)])
    _y, idx = _run_both(m, {"x": _x(shape, 4)}, tmp_path)
    assert idx.dtype == np.int64


@pytest.mark.parametrize("dtype,elem", [(np.uint8, T.UINT8), (np.int8, T.INT8)])
def test_integer_maxpool(dtype, elem, tmp_path):
    # pads hold the type's lowest value, so an all-negative int8 window keeps its maximum
    node = h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    m = _model([node], [("x", elem, [1, 3, 7, 8])], [("y", elem)])
    info = np.iinfo(dtype)
    x = np.random.default_rng(5).integers(info.min, info.max, size=[1, 3, 7, 8], endpoint=True).astype(dtype)
    if dtype == np.int8:
        x[0, 0] = -np.abs(x[0, 0].astype(np.int16)).clip(max=-1).astype(np.int8)
    _run_both(m, {"x": x}, tmp_path)


def test_uint8_maxpool_indices_ties_at_the_border(tmp_path):
    # all-zero windows: the maximum equals the padding value; the index is the first
    # tap inside the input (onnxruntime's choice), never a padded position
    node = h.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[3, 3], strides=[2, 2], pads=[2, 1, 1, 2], dilations=[2, 1])
    m = _model([node], [("x", T.UINT8, [1, 2, 6, 7])], [("y", T.UINT8), ("i", T.INT64)])
    x = np.zeros([1, 2, 6, 7], np.uint8)
    x[0, 1, 3:, 3:] = np.arange(1, 13, dtype=np.uint8).reshape(3, 4)
    _run_both(m, {"x": x}, tmp_path)


@pytest.mark.parametrize(
    "attrs,group",
    [
        ({"strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 0], "output_padding": [1, 0, 1]}, 1),
        ({"strides": [2, 2, 1], "pads": [0, 1, 1, 1, 0, 1], "output_padding": [1, 1, 0], "dilations": [1, 2, 1]}, 2),
        ({"strides": [1, 2, 2], "auto_pad": "SAME_UPPER"}, 2),
        # odd total padding: the larger half goes first
        ({"strides": [2, 2, 1], "output_shape": [6, 7, 6]}, 1),
    ],
    ids=["pads_output_padding", "groups_dilations", "same_upper", "output_shape"],
)
def test_convtranspose_3d(attrs, group, tmp_path):
    cin, cout_g = 4, 3
    node = h.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[3, 2, 3], group=group, **attrs)
    inits = [_weight("w", [cin, cout_g, 3, 2, 3], 6), _weight("b", [cout_g * group], 7)]
    m = _model([node], [("x", T.FLOAT, [2, cin, 3, 4, 5])], [("y", T.FLOAT)], inits)
    _run_both(m, {"x": _x([2, cin, 3, 4, 5], 8)}, tmp_path)


@pytest.mark.parametrize(
    "attrs,group,kernel",
    [
        ({"strides": [2, 1, 2], "pads": [1, 1, 0, 1, 0, 1], "dilations": [1, 2, 1]}, 1, [3, 3, 2]),
        ({"strides": [1, 2, 1], "pads": [1, 1, 1, 1, 1, 1]}, 2, [3, 3, 3]),
        ({"pads": [1, 1, 1, 1, 1, 1]}, 4, [3, 3, 3]),  # depthwise
        ({}, 1, [1, 1, 1]),  # pointwise: straight into the GEMM
    ],
    ids=["strided_dilated", "grouped", "depthwise", "pointwise"],
)
def test_conv_3d(attrs, group, kernel, tmp_path):
    c, m_out = 4, 4 if group == 4 else 6
    node = h.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=kernel, group=group, **attrs)
    inits = [_weight("w", [m_out, c // group, *kernel], 9), _weight("b", [m_out], 10)]
    m = _model([node], [("x", T.FLOAT, [2, c, 5, 6, 7])], [("y", T.FLOAT)], inits)
    _run_both(m, {"x": _x([2, c, 5, 6, 7], 11)}, tmp_path)


def test_conv_3d_with_fused_epilogue(tmp_path):
    # the per-channel Add and the Relu after a 3-D Conv are applied in its GEMM's store
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3, 3], pads=[1] * 6),
        h.make_node("Add", ["c", "b"], ["a"]),
        h.make_node("Relu", ["a"], ["y"]),
    ]
    inits = [_weight("w", [5, 3, 3, 3, 3], 12), _weight("b", [1, 5, 1, 1, 1], 13)]
    m = _model(nodes, [("x", T.FLOAT, [1, 3, 4, 5, 6])], [("y", T.FLOAT)], inits)
    _run_both(m, {"x": _x([1, 3, 4, 5, 6], 14)}, tmp_path)
    calls = re.findall(r"HETC_PROF_CALL\(\d+, k\d+_(\w+)\(", (tmp_path / "out" / "model.c").read_text())
    assert calls == ["pad", "im2col", "conv_gemm"]
