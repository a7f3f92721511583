"""hetc-choose-layout end to end: the same models compiled NCHW, NHWC and by the cost
model's choice all match onnxruntime (max |hetc - ort| <= 1e-4 * max |ort|)."""

from __future__ import annotations

import json
from pathlib import Path

import hetc
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh
from ort_check import assert_matches, ort_outputs, zoo_export

ROOT = Path(__file__).resolve().parents[2]




def _cnn() -> onnx.ModelProto:
    """Every op the NHWC lowering takes, with the awkward attributes: strided padded
    conv, ceil-mode max pool, depthwise conv, 1x1 conv, residual add, average pool
    with pads (count_include_pad 0 and 1), channel concat, an SE-style runtime
    per-channel scale, global pools, and tensors leaving the region mid-way."""
    rng = np.random.default_rng(0)

    def w(name, *shape):
        return nh.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    inits = [
        w("w0", 16, 3, 3, 3), w("b0", 16), w("s0", 16, 1, 1),
        w("wd", 16, 1, 3, 3), w("bd", 16),
        w("w1", 16, 16, 1, 1),
        w("w2", 8, 16, 3, 3), w("b2", 8),
        w("fc", 24, 24), w("w3", 24, 24, 1, 1),
    ]
    nodes = [
        h.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1], strides=[2, 2]),
        h.make_node("Mul", ["c0", "s0"], ["m0"]),
        h.make_node("Relu", ["m0"], ["r0"]),
        h.make_node("MaxPool", ["r0"], ["p0"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 0, 0], ceil_mode=1),
        h.make_node("Conv", ["p0", "wd", "bd"], ["d0"], group=16, pads=[1, 1, 1, 1]),
        h.make_node("HardSwish", ["d0"], ["d1"]),
        h.make_node("Conv", ["d1", "w1"], ["c1"]),
        h.make_node("Add", ["c1", "p0"], ["a1"]),
        h.make_node("AveragePool", ["a1"], ["q0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0),
        h.make_node("AveragePool", ["a1"], ["q1"], kernel_shape=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, strides=[1, 1]),
        h.make_node("Conv", ["q0", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        h.make_node("Slice", ["q1", "zero", "end", "axes"], ["q2"]),
        h.make_node("Concat", ["q2", "c2"], ["cat"], axis=1),
        h.make_node("GlobalAveragePool", ["cat"], ["g0"]),
        h.make_node("Flatten", ["g0"], ["g1"]),
        h.make_node("MatMul", ["g1", "fc"], ["g2"]),
        h.make_node("Sigmoid", ["g2"], ["g3"]),
        h.make_node("Reshape", ["g3", "se_shape"], ["g4"]),
        h.make_node("Mul", ["cat", "g4"], ["se"]),
        h.make_node("Conv", ["se", "w3"], ["c3"]),
        h.make_node("GlobalMaxPool", ["c3"], ["y"]),
    ]
    inits += [
        nh.from_array(np.array([0, 0, 0, 0], np.int64), "zero"),
        nh.from_array(np.array([1, 16, 5, 5], np.int64), "end"),
        nh.from_array(np.array([0, 1, 2, 3], np.int64), "axes"),
        nh.from_array(np.array([1, 24, 1, 1], np.int64), "se_shape"),
    ]
    graph = h.make_graph(
        nodes, "layout_cnn", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 17, 17])],
        [h.make_tensor_value_info("y", T.FLOAT, None), h.make_tensor_value_info("a1", T.FLOAT, None)], inits,
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


@pytest.mark.parametrize("layout", ["nchw", "nhwc", "auto"])
def test_every_layout_matches_onnxruntime(layout, tmp_path):
    model = _cnn()
    feeds = {"x": np.random.default_rng(1).standard_normal((1, 3, 17, 17)).astype(np.float32)}
    sess = hetc.compile(model, target="c", layout=layout, output_dir=tmp_path / "out")
    assert_matches(sess.run(feeds), ort_outputs(model, feeds))
    report = json.loads((tmp_path / "out" / "report.json").read_text())["layout"]
    assert report["regions"], "the convolutions form at least one region"
    for region in report["regions"]:
        assert region["predicted_nchw_ms"] > 0 and region["predicted_nhwc_ms"] > 0
        if layout != "auto":
            assert region["layout"] == layout.upper() and region["forced"] == layout
        else:
            best = "NHWC" if region["predicted_nhwc_ms"] < region["predicted_nchw_ms"] else "NCHW"
            assert region["layout"] == best
    code = (tmp_path / "out" / "model.c").read_text()
    assert ("conv_gemm_nhwc" in code) == (layout == "nhwc" or "NHWC" in {r["layout"] for r in report["regions"]})


def test_cli_layout_flag_and_profile(tmp_path, capsys):
    from hetc.cli import main

    path = tmp_path / "cnn.onnx"
    onnx.save(_cnn(), path)
    assert main(["run", str(path), "--target", "c", "--layout", "nhwc", "--check", "--profile", "2", "-q"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "conv_gemm_nhwc" in out and "kernel calls" in out


#: CNNs of the zoo forced channels-last (the auto choice runs in test_c_backend's zoo test)
NHWC_ZOO = ["resnet18", "mobilenetv2", "squeezenet", "efficientnet_b0", "densenet"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NHWC_ZOO)
def test_zoo_cnns_channels_last_match_onnxruntime(name, tmp_path_factory):
    path, feeds = zoo_export(name, tmp_path_factory)
    sess = hetc.compile(path, target="c", layout="nhwc", input_shapes={k: v.shape for k, v in feeds.items()})
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))
