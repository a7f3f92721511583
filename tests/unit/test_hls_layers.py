"""The HLS target's plain GEMM lowering and its layer mode (backends/hls/layer.py): the
estimate of one dense layer at reuse factors 1 and 4 against the formula written out here,
the same layer through hls4ml_model (one model for both designs), the pragma search landing
within hls4ml-like caps, and a convolution layer pipelined over its filters (estimate, and its
printed design built with g++ against onnxruntime). A few seconds."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from hetc.api import compile_module
from hetc.backends.hls.estimate import (
    Precision,
    analyze,
    default_pragmas,
    estimate,
    is_top_pipeline,
    resolve_part,
    search_pragmas,
)
from hetc.backends.hls.hls4ml_model import design_estimate
from hetc.backends.hls.layer import (
    layer_counts,
    layer_partition,
    multipliers,
    reuse_choices,
)
from hetc.backends.targets import TARGETS
from hetc.pipeline import run_pipeline
from onnx import TensorProto, helper, numpy_helper

FX = Precision.parse("ap_fixed<16,6>")
PART = resolve_part("u280")[1]


def _model(path, k: int = 8, n: int = 4, conv: bool = False):
    """Gemm(1xK -> 1xN) + bias, or a 1x1x6x6 -> 2x4x4 3x3 convolution + bias."""
    rng = np.random.default_rng(0)
    if conv:
        inits = [numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "w"),
                 numpy_helper.from_array(rng.standard_normal(2).astype(np.float32), "b")]
        node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv")
        shapes = ([1, 1, 6, 6], [1, 2, 4, 4])
    else:
        inits = [numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w"),
                 numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "b")]
        node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc")
        shapes = ([1, k], [1, n])
    graph = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shapes[0])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shapes[1])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, path)
    return path


def _mlp(path):
    """Gemm 16 -> 8, Relu, Gemm 8 -> 4 (seeded)."""
    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), name)
             for name, s in (("w1", (16, 8)), ("b1", (8,)), ("w2", (8, 4)), ("b2", (4,)))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2")]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, path)
    return path


def _lowered(path):
    module = compile_module(path)
    run_pipeline(module, list(TARGETS["hls"].passes))
    return module


def _core(design):
    """The benchmark's core design (benchmarks/hls_vs_hls4ml.py: no m_axi, inputs are ports)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "hls_vs_hls4ml.py"
    spec = importlib.util.spec_from_file_location("hls_vs_hls4ml", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    core = bench.core(design)
    assert core.io_ports == core.io_words == 0 and core.wires == {a for a in design.arrays if a.startswith("in")}
    return core


def test_hls_lowers_gemms_and_convolutions_in_the_plain_form(tmp_path):
    assert "convert-onnx-to-loops{target=plain}" in TARGETS["hls"].passes
    design = analyze(_lowered(_model(tmp_path / "fc.onnx", k=8, n=5)))
    assert [k.name.split("_", 1)[1] for k in design.kernels] == ["gemm"]  # no packing kernels
    (nest,) = design.kernels[0].loops
    # i (1 row), j (5 columns: no padding to a tile of 32), k (8, the reduction, carried)
    assert (nest.trip, nest.children[0].trip, nest.children[0].children[0].trip) == (1, 5, 8)
    assert nest.children[0].children[0].carried and nest.children[0].children[0].zero_init
    conv = analyze(_lowered(_model(tmp_path / "conv.onnx", conv=True)))
    names = [k.name for k in conv.kernels]
    assert len(names) == 1 and "conv_gemm" in names[0] and not any("im2col" in n or "pack" in n for n in names)


def test_plain_is_the_gpu_form_under_a_neutral_name(tmp_path):
    from hetc.passes.convert_onnx_to_loops import convert_onnx_to_loops

    path = _model(tmp_path / "conv.onnx", conv=True)
    texts = {}
    for form in ("plain", "gpu", "cpu"):
        module = compile_module(path)
        run_pipeline(module, ["hetc-canonicalize", "hetc-dce"])
        convert_onnx_to_loops(module, form)
        texts[form] = str(module)
    assert texts["plain"] == texts["gpu"] != texts["cpu"]


@pytest.mark.parametrize("reuse", [1, 4])
def test_dense_layer_estimate_equals_the_formula_and_hls4ml_model(tmp_path, reuse):
    k, n = 8, 4
    design = _core(analyze(_lowered(_model(tmp_path / "fc.onnx", k, n))))
    (kern,) = design.kernels
    # fixed point: K*N products, K*N - N adds into zero-initialised accumulators (0 + x folded) and N bias adds
    assert layer_counts(kern, FX) == {"fmul": k * n, "fadd": k * n}
    assert layer_counts(kern, Precision())["fadd"] == k * n + n  # float keeps 0.0 + x (-0.0)
    pragmas = {**default_pragmas(design), "layers": {kern.name: reuse},
               "partition": layer_partition(kern, reuse, FX, design.arrays, design.weights)}
    est = estimate(design, pragmas, PART, FX)
    mul_lat, add_lat = FX.op_cost("fmul")[0], FX.op_cost("fadd")[0]
    # R - 1 issue cycles, multiply, a tree over K products and the bias, the output register
    assert est["latency_cycles"] == reuse - 1 + mul_lat + math.ceil(math.log2(k + 1)) * add_lat + 1
    assert est["dsp"] == math.ceil(k * n / reuse) * FX.op_cost("fmul")[1] == multipliers(kern, reuse, FX)
    theirs = design_estimate([{"class_name": "Dense", "n_in": k, "n_out": n, "reuse_factor": reuse}], FX, 300)
    assert (theirs["latency_cycles"], theirs["dsp"]) == (est["latency_cycles"], est["dsp"])
    if reuse > 1:  # weights: ROM banks of depth R, the rule hls4ml_model applies to hls4ml's layers
        assert pragmas["partition"][next(w for w in design.weights if design.arrays[w] == k * n)] == k * n // reuse
    assert reuse in reuse_choices(kern, FX)


def test_search_lands_within_hls4ml_caps_and_predicts_what_estimate_says(tmp_path):
    k, n = 16, 8
    design = _core(analyze(_lowered(_model(tmp_path / "fc.onnx", k, n))))
    for reuse in (1, 4, 16):
        theirs = design_estimate([{"class_name": "Dense", "n_in": k, "n_out": n, "reuse_factor": reuse}], FX, 300)
        caps = {r: theirs[r] for r in ("dsp", "lut", "ff", "bram")}
        pragmas, info = search_pragmas(design, PART, FX, time_limit=5.0, seed=0, caps=caps)
        est = estimate(design, pragmas, PART, FX)
        assert info["status"] == "OPTIMAL" and pragmas["layers"]
        assert info["predicted_latency_cycles"] == est["latency_cycles"]
        assert all(est[r] <= caps[r] for r in caps), (reuse, est, caps)
        assert est["latency_cycles"] <= theirs["latency_cycles"], (reuse, est, theirs)
    # without the layer choice the same caps cost latency (the nest and loop choices only)
    loops_only, _ = search_pragmas(design, PART, FX, time_limit=5.0, seed=0, caps=caps, allow_layers=False)
    assert not loops_only.get("layers") and estimate(design, loops_only, PART, FX)["latency_cycles"] > est["latency_cycles"]


@pytest.mark.parametrize("reuse", [1, 4])
def test_two_layer_search_agrees_with_estimate_and_hls4ml_caps(tmp_path, reuse):
    """Two layers and the top pipeline's shared control: what the CP-SAT model adds up (latency,
    and every resource through the caps) is what estimate() says for its answer."""
    design = _core(analyze(_lowered(_mlp(tmp_path / "mlp.onnx"))))
    assert len(design.kernels) == 2  # the ReLU is in the first GEMM's epilogue
    theirs = design_estimate([{"class_name": "Dense", "n_in": 16, "n_out": 8, "reuse_factor": reuse},
                              {"class_name": "Activation", "n_in": 8},
                              {"class_name": "Dense", "n_in": 8, "n_out": 4, "reuse_factor": reuse}], FX, 300)
    caps = {r: theirs[r] for r in ("dsp", "lut", "ff", "bram")}
    pragmas, info = search_pragmas(design, PART, FX, time_limit=5.0, seed=0, caps=caps)
    est = estimate(design, pragmas, PART, FX)
    assert len(pragmas["layers"]) == 2 and info["predicted_latency_cycles"] == est["latency_cycles"]
    assert all(est[r] <= caps[r] for r in caps) and est["latency_cycles"] <= theirs["latency_cycles"], (est, theirs)
    whole = all(v["outer"] == 0 for v in pragmas["layers"].values())
    assert is_top_pipeline(design, pragmas["layers"], False) == whole


def test_conv_layer_pipelined_over_its_filters_estimate_and_csim(tmp_path):
    """The conv (2 filters, 3x3, 4x4 outputs) pipelined over its filter loop (T = 2 iterations of
    16 pixels x 9 taps, unrolled) at R = 4: latency, the address multiplexers, and the printed
    design built with g++ against onnxruntime."""
    import ctypes

    import onnxruntime as ort
    from hetc.backends.hls.layer import (
        address_mux_lut,
        iterations,
        layer_latency,
        outer_choices,
        pipeline_levels,
    )
    from hetc.backends.hls.target import build_library, print_hls

    path = _model(tmp_path / "conv.onnx", conv=True)
    module = _lowered(path)
    design = _core(analyze(module))
    (kern,) = design.kernels
    assert 1 in outer_choices(kern) and iterations(kern, 1) == 2
    reuse, mul, add = 4, FX.op_cost("fmul")[0], FX.op_cost("fadd")[0]
    # T * R, then one iteration: multiply, a tree over 9 products (0 + x folded), the bias add
    assert layer_latency(kern, reuse, FX, 1) == 2 * reuse + mul + math.ceil(math.log2(9)) * add + add
    # w[f * 9 + k] (9 sites) and b[f] (1 site) depend on the pipelined filter loop: 2-word ROMs, one LUT a bit
    assert address_mux_lut(kern, 1, FX, design.weights) == 10 * 16 * 1
    assert address_mux_lut(kern, 0, FX, design.weights) == 0
    key = pipeline_levels(kern)[0].key
    pragmas = {**default_pragmas(design), "layers": {kern.name: {"reuse": reuse, "outer": 1, "pipeline": key}},
               "layer_multipliers": {kern.name: multipliers(kern, reuse, FX, 1)}}
    files = print_hls(module, Precision(), pragmas)
    text = files["hetc_top.cpp"]
    assert f"#pragma HLS PIPELINE II={reuse}" in text and "instances=fmul limit=36" in text and "layer: for" not in text
    # a pipelined loop inside a pipelined top would be unrolled: with d > 0 the top stays sequential
    assert "#pragma HLS PIPELINE" not in text[text.index("void hetc_top("):].split("copy_in0")[0]
    assert not is_top_pipeline(design, pragmas["layers"], False)
    assert is_top_pipeline(design, {kern.name: reuse}, False) and not is_top_pipeline(design, {kern.name: reuse}, True)
    lib = ctypes.CDLL(str(build_library({k: v for k, v in files.items() if k != "taps.json"}, Precision())))
    x = np.random.default_rng(1).standard_normal((1, 1, 6, 6)).astype(np.float32)
    y = np.zeros((1, 2, 4, 4), np.float32)
    lib.hetc_model_run_ptrs((ctypes.c_void_p * 1)(x.ctypes.data), (ctypes.c_void_p * 1)(y.ctypes.data))
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-4 * np.abs(want).max())
