"""The CUDA target's loop IR checked without a GPU: the passes of `--target cuda` (the GPU
loop form: batched implicit-GEMM convolutions, one depthwise kernel and one pooling kernel
over a whole batch, narrowed storage) printed by the C printer and run on the CPU against
onnxruntime. The CUDA printer only maps these same nests onto the grid, so a wrong index
here would be wrong on the GPU too; this runs in CI, where there is no GPU."""

from __future__ import annotations

import dataclasses
import re

import hetc
import numpy as np
import pytest
from hetc.backends import targets
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

from attention_model import attention_block


def _cnn(batch: int = 3):
    rng = np.random.default_rng(0)

    def init(name, shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    nodes = [
        h.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c1"], ["r0"]),
        # 1x1 (one product per image, the input as it is) and 3x3 (im2col, images side by
        # side along N) convolutions, each with a residual Add fused into its store
        h.make_node("Conv", ["r0", "wp"], ["cp"]),
        h.make_node("Add", ["cp", "r0"], ["sp"]),
        h.make_node("Conv", ["sp", "w3"], ["c3"], pads=[1, 1, 1, 1]),
        h.make_node("Add", ["c3", "sp"], ["r1"]),
        h.make_node("Conv", ["r1", "wd", "bd"], ["c2"], group=8, pads=[1, 1, 1, 1], strides=[2, 2]),  # depthwise
        h.make_node("Clip", ["c2", "lo", "hi"], ["r2"]),
        h.make_node("MaxPool", ["r2"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("AveragePool", ["p1"], ["p2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=0),
        h.make_node("GlobalAveragePool", ["p2"], ["g"]),
        h.make_node("Flatten", ["g"], ["f"]),
        h.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1),
    ]
    inits = [init("w1", [8, 3, 3, 3]), init("b1", [8]), init("wp", [8, 8, 1, 1]), init("w3", [8, 8, 3, 3]), init("wd", [8, 1, 3, 3]), init("bd", [8]),
             numpy_helper.from_array(np.array(0.0, np.float32), "lo"), numpy_helper.from_array(np.array(6.0, np.float32), "hi"),
             init("wf", [5, 8]), init("bf", [5])]
    g = h.make_graph(nodes, "cnn", [h.make_tensor_value_info("x", T.FLOAT, [batch, 3, 20, 20])],
                     [h.make_tensor_value_info("y", T.FLOAT, [batch, 5])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 10
    return m


@pytest.mark.parametrize("precision,tol", [("fp32", 1e-5), ("fp16", 1e-2)])
def test_gpu_loop_form_matches_onnxruntime_on_the_cpu(precision, tol, monkeypatch):
    import onnxruntime as ort

    gpu_form = dataclasses.replace(targets.TARGETS["c"], name="c-gpu-form", passes=targets.TARGETS["cuda"].passes)
    monkeypatch.setitem(targets.TARGETS, "c-gpu-form", gpu_form)
    model = _cnn()
    x = np.random.default_rng(1).standard_normal((3, 3, 20, 20)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    sess = hetc.compile(model, target="c-gpu-form", target_options={"precision": precision})
    out = sess.run({"x": x})[0]
    assert np.abs(out - ref).max() <= tol * max(1.0, np.abs(ref).max())


def test_a_batch_is_one_launch_per_depthwise_conv_and_pool(tmp_path):
    out = tmp_path / "o"
    hetc.build(_cnn(batch=4), "cuda", out, None, target_options={"build": False})
    cu = (out / "model.cu").read_text()
    launches = [line.split("<<<")[0].strip() for line in cu.splitlines() if "<<<" in line]
    assert sum("depthwise_conv" in name for name in launches) == 1
    assert sum("maxpool" in name for name in launches) == 1 and sum("avgpool" in name for name in launches) == 1


def _mlp(act: str):
    """MatMul then an activation as exporters spell it: `gelu` (Div, Erf, Add, Mul, Mul:
    hetc-canonicalize makes it one Gelu, fused into the GEMM's store) or `quick_gelu`
    (CLIP's x * sigmoid(1.702 x): a row group with no reduction, one kernel of its own)."""
    rng = np.random.default_rng(2)
    def c(name, v):
        return numpy_helper.from_array(np.array(v, np.float32), name)

    nodes = [h.make_node("MatMul", ["x", "w"], ["m"])]
    inits = [numpy_helper.from_array((rng.standard_normal((64, 256)) * 0.2).astype(np.float32), "w")]
    if act == "gelu":
        nodes += [h.make_node("Div", ["m", "sqrt2"], ["d"]), h.make_node("Erf", ["d"], ["e"]), h.make_node("Add", ["e", "one"], ["a"]),
                  h.make_node("Mul", ["m", "a"], ["p"]), h.make_node("Mul", ["p", "half"], ["y"])]
        inits += [c("sqrt2", 1.4142135), c("one", 1.0), c("half", 0.5)]
    else:
        nodes += [h.make_node("Mul", ["m", "k"], ["d"]), h.make_node("Sigmoid", ["d"], ["s"]), h.make_node("Mul", ["m", "s"], ["y"])]
        inits += [c("k", 1.702)]
    g = h.make_graph(nodes, "mlp", [h.make_tensor_value_info("x", T.FLOAT, [65, 64])],
                     [h.make_tensor_value_info("y", T.FLOAT, [65, 256])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 10
    return m


@pytest.mark.parametrize("act,kernels", [("quick_gelu", 2), ("gelu", 1)])
def test_mlp_activation_kernels(act, kernels, tmp_path, monkeypatch):
    """An elementwise row group is a thread per element (65 x 256 threads, not 65 warps); the
    erf GELU is no group at all but the GEMM's epilogue. The GPU loop form, run on the CPU,
    matches onnxruntime."""
    import onnxruntime as ort

    out = tmp_path / "o"
    model = _mlp(act)
    hetc.build(model, "cuda", out, None, target_options={"build": False})
    cu = (out / "model.cu").read_text()
    assert len(re.findall(r"^__global__", cu, re.M)) == kernels
    if act == "quick_gelu":
        row = cu[cu.index("_fused_row("):]
        row = row[: row.index("\n}\n")]
        assert "hetc_t >= 16640" in row and ">> 5" not in row
    else:
        assert "erff(" in cu[cu.index("_gemm("):]
    gpu_form = dataclasses.replace(targets.TARGETS["c"], name="c-gpu-form", passes=targets.TARGETS["cuda"].passes)
    monkeypatch.setitem(targets.TARGETS, "c-gpu-form", gpu_form)
    x = np.random.default_rng(3).standard_normal((65, 64)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = hetc.compile(model, target="c-gpu-form").run({"x": x})[0]
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize("spatial,attrs", [
    ([11, 13], {"strides": [2, 1], "dilations": [1, 2], "pads": [1, 0, 2, 1]}),  # asymmetric padding
    ([17], {"strides": [2], "pads": [3, 3]}),  # Conv1d (audio front ends)
    ([6, 6], {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
])
def test_batched_convolution_windows_match_onnxruntime(spatial, attrs, monkeypatch):
    """The batched im2col (padding folded in, images side by side along N) for strided,
    dilated, asymmetric and 1-D windows, with a bias and a residual fused into the store."""
    import onnxruntime as ort

    rng = np.random.default_rng(4)
    kernel = [3] * len(spatial)
    w = numpy_helper.from_array((rng.standard_normal([6, 4, *kernel]) * 0.3).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal([6]).astype(np.float32), "b")
    x = rng.standard_normal([5, 4, *spatial]).astype(np.float32)
    probe = h.make_model(h.make_graph([h.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)], "c",
                                      [h.make_tensor_value_info("x", T.FLOAT, x.shape)],
                                      [h.make_tensor_value_info("y", T.FLOAT, None)], [w, bias]),
                         opset_imports=[h.make_opsetid("", 17)])  # fmt: skip
    probe.ir_version = 10
    yshape = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0].shape
    nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], **attrs), h.make_node("Add", ["c", "r"], ["y"])]
    g = h.make_graph(nodes, "c", [h.make_tensor_value_info("x", T.FLOAT, x.shape), h.make_tensor_value_info("r", T.FLOAT, yshape)],
                     [h.make_tensor_value_info("y", T.FLOAT, yshape)], [w, bias])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 10
    feeds = {"x": x, "r": rng.standard_normal(yshape).astype(np.float32)}
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    gpu_form = dataclasses.replace(targets.TARGETS["c"], name="c-gpu-form", passes=targets.TARGETS["cuda"].passes)
    monkeypatch.setitem(targets.TARGETS, "c-gpu-form", gpu_form)
    got = hetc.compile(model, target="c-gpu-form").run(feeds)[0]
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_attention_views_and_transposed_operands(tmp_path, monkeypatch):
    """In the CUDA build the Split is views, K^T is read in place, q's scale moves into the
    scores' GEMM and the GEMMs before the two head transposes store permuted; the same loop
    IR run on the CPU matches onnxruntime."""
    import onnxruntime as ort

    gpu_form = dataclasses.replace(targets.TARGETS["c"], name="c-gpu-form", passes=targets.TARGETS["cuda"].passes)
    monkeypatch.setitem(targets.TARGETS, "c-gpu-form", gpu_form)
    model = attention_block()
    x = np.random.default_rng(3).standard_normal((2, 7, 16)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    out = hetc.compile(model, target="c-gpu-form").run({"x": x})[0]
    assert np.abs(out - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
    cu = hetc.build(model, "cuda", tmp_path / "o", None, target_options={"build": False})
    code = (cu / "model.cu").read_text()
    kernels = re.findall(r"__global__ void __launch_bounds__\(\d+\) (k\d+_\w+)\(", code)
    assert not any(k.endswith(("_split", "_split_p0")) for k in kernels), kernels
    # the qkv GEMM (storing q, k, v in heads order), q @ k^T (reading k in place, q's scale
    # applied to the products), softmax, @ v (storing the heads merged back), the output
    # GEMM: no transpose or scale kernels
    assert code.count("<<<") == 5 and not any(k.endswith(("_transpose", "_elementwise")) for k in kernels), kernels


@pytest.mark.parametrize("b_shape", [[2, 3, 5, 6], [3, 5, 6], [5, 6]])
def test_gemm_stores_into_a_following_transpose(b_shape, monkeypatch):
    """A MatMul read only by a Transpose: one batched kernel storing permuted (B batched
    like A), one GEMM of batch x M rows storing permuted (B shared), or, where the batch is
    broadcast otherwise (B per head only), one GEMM per batch index and a transpose kernel."""
    import onnxruntime as ort

    gpu_form = dataclasses.replace(targets.TARGETS["c"], name="c-gpu-form", passes=targets.TARGETS["cuda"].passes)
    monkeypatch.setitem(targets.TARGETS, "c-gpu-form", gpu_form)
    rng = np.random.default_rng(4)
    w = numpy_helper.from_array(rng.standard_normal(b_shape).astype(np.float32), "w")
    nodes = [h.make_node("MatMul", ["x", "w"], ["o"]), h.make_node("Transpose", ["o"], ["t"], perm=[0, 2, 1, 3]),
             h.make_node("Relu", ["t"], ["y"])]
    g = h.make_graph(nodes, "mt", [h.make_tensor_value_info("x", T.FLOAT, [2, 3, 4, 5])],
                     [h.make_tensor_value_info("y", T.FLOAT, [2, 4, 3, 6])], [w])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 10
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    out = hetc.compile(model, target="c-gpu-form").run({"x": x})[0]
    assert np.abs(out - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
