"""The HLS C++ target end to end: generated HLS C++ built with g++ (C simulation, no
vendor tools), run through ctypes and through the standalone testbench, checked against
onnxruntime (max |hetc - ort| <= 1e-4 * max |ort| per output)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hetc
from hetc.runtime.hls_runner import HlsRunner
from ort_check import RTOL_OF_MAX, assert_matches, ort_outputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _feeds(sess):
    rng = np.random.default_rng(0)
    return {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}


@pytest.mark.parametrize("name,shapes", [("mlp", {"x": (3, 784)}), ("cnn", None), ("transformer_block", None)])
def test_float_csim_matches_onnxruntime(name, shapes, tmp_path):
    path = EXAMPLES / f"{name}.onnx"
    out = tmp_path / "out"
    sess = hetc.compile(path, target="hls", input_shapes=shapes, output_dir=out)
    feeds = _feeds(sess)
    want = ort_outputs(path, feeds)
    assert_matches(sess.run(feeds), want)
    files = {p.name for p in out.iterdir()}
    assert {"hetc_top.cpp", "hetc_top.h", "weights.h", "tb.cpp", "hetc_glue.cpp", "run_hls.tcl", "libhls.so",
            "report.json", "manifest.json", "tb_data"} <= files
    top = (out / "hetc_top.cpp").read_text()
    assert "#pragma HLS INTERFACE m_axi port=in0" in top and "#pragma HLS INTERFACE s_axilite port=return" in top
    assert "#pragma HLS PIPELINE II=1" in top
    assert "static const data_t w_" in (out / "weights.h").read_text()
    hls = json.loads((out / "report.json").read_text())["hls"]
    assert hls["part"] == "u280" and hls["precision"] == "float"
    for est in (hls["estimate"], hls["default"]["estimate"]):
        assert all(isinstance(est[k], int) and est[k] >= 0 for k in ("latency_cycles", "dsp", "bram", "lut", "ff"))
    assert hls["estimate"]["latency_cycles"] <= hls["default"]["estimate"]["latency_cycles"]
    assert hls["estimate"]["fits"] and hls["searched"]["search"]["status"] in ("OPTIMAL", "FEASIBLE")
    if name == "mlp":  # the standalone testbench (one more small g++ build): csim against onnxruntime
        result = HlsRunner(out).csim([feeds["x"]], want)
        assert result["passed"], result["log"]
        assert "PASS" in result["log"]
        np.testing.assert_allclose(result["outputs"][0], want[0], atol=RTOL_OF_MAX * np.abs(want[0]).max())
        bad = HlsRunner(out).csim([feeds["x"]], [want[0] + 1.0])
        assert not bad["passed"] and "FAIL" in bad["log"]


def test_cli_part_and_default_pragmas(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "hetc.cli", "compile", str(EXAMPLES / "mlp.onnx"), "--target", "hls", "--part", "zcu104",
         "--pragmas", "default", "--input-shape", "x=3x784", "-o", str(out)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "hls zcu104 float" in proc.stdout
    hls = json.loads((out / "report.json").read_text())["hls"]
    assert hls["part"] == "zcu104" and hls["pragmas"]["mode"] == "default"
    assert hls["estimate"] == hls["default"]["estimate"]
    assert "UNROLL" not in (out / "hetc_top.cpp").read_text()
    tcl = (out / "run_hls.tcl").read_text()
    for line in ("open_project", "set_top hetc_top", "add_files hetc_top.cpp", "csim_design", "csynth_design",
                 "set_part {xczu7ev-ffvc1156-2-e}"):
        assert line in tcl


def test_unknown_part_is_an_actionable_error(tmp_path):
    with pytest.raises(hetc.HetcError, match="unknown FPGA part 'vu9p'"):
        hetc.compile(EXAMPLES / "cnn.onnx", target="hls", output_dir=tmp_path / "o", target_options={"part": "vu9p"})


def _have_ap_types() -> bool:
    from hetc.backends.hls.target import ap_types_dir

    try:
        ap_types_dir()
        return True
    except hetc.HetcError:
        return False


@pytest.mark.skipif(not _have_ap_types(), reason="needs the Apache-2.0 ap_fixed.h (pip install 'hetc[hls]')")
def test_fixed_point_error_is_reported_per_layer_and_within_the_bound(tmp_path):
    path = EXAMPLES / "cnn.onnx"
    out = tmp_path / "out"
    sess = hetc.compile(path, target="hls", output_dir=out, target_options={"precision": "ap_fixed<16,6>"})
    hls = json.loads((out / "report.json").read_text())["hls"]
    assert hls["precision"] == "ap_fixed<16,6>"
    fx = hls["fixed_point"]
    assert fx["within_bound"] and fx["layers"]
    assert any("Conv" in layer["kernel"] for layer in fx["layers"])
    assert all(layer["rel_err"] <= 0.05 for layer in fx["layers"])
    header = (out / "hetc_top.h").read_text()
    assert "typedef ap_fixed<16, 6, AP_RND_CONV, AP_SAT> data_t;" in header and "acc_t" in header
    assert not (out / "ap_fixed.h").exists()  # third-party headers are never copied into the output
    feeds = _feeds(sess)
    want = ort_outputs(path, feeds)[0]
    got = sess.run(feeds)[0]
    assert np.max(np.abs(got - want)) <= 0.05 * np.max(np.abs(want))


def test_unknown_options_are_named(tmp_path):
    with pytest.raises(hetc.HetcError, match="unknown HLS target option"):
        hetc.compile(EXAMPLES / "cnn.onnx", target="hls", output_dir=tmp_path / "o", target_options={"prt": "u280"})
    with pytest.raises(hetc.HetcError, match="has no option part"):
        hetc.compile(EXAMPLES / "cnn.onnx", target="c", output_dir=tmp_path / "o", target_options={"part": "u280"})


def test_weights_through_m_axi(tmp_path):
    path = EXAMPLES / "cnn.onnx"
    out = tmp_path / "out"
    sess = hetc.compile(path, target="hls", output_dir=out, target_options={"weights": "axi", "pragmas": "default"})
    top = (out / "hetc_top.cpp").read_text()
    assert "#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=gmem_w" in top
    assert (out / "tb_data" / "weights.bin").stat().st_size > 0
    feeds = _feeds(sess)
    want = ort_outputs(path, feeds)
    assert_matches(sess.run(feeds), want)
    assert HlsRunner(out).csim([feeds["image"]], want)["passed"]
    hls = json.loads((out / "report.json").read_text())["hls"]
    assert "m_axi" in hls["weights"]


def _tiny_mlp(path: Path) -> Path:
    """8-16-4 MLP (Gemm, Relu, Gemm), seeded: small enough for three g++ builds in a few seconds."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w1 = (rng.standard_normal((8, 16)) / 3).astype(np.float32)
    w2 = (rng.standard_normal((16, 4)) / 4).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array((0.1 * rng.standard_normal(16)).astype(np.float32), "b1"),
             numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(np.zeros(4, np.float32), "b2")]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"), helper.make_node("Relu", ["h"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, path)
    return path


@pytest.mark.skipif(not _have_ap_types(), reason="needs the Apache-2.0 ap_fixed.h (pip install 'hetc[hls]')")
def test_precision_auto_chooses_ap_fixed_per_layer_within_the_bound(tmp_path):
    path = _tiny_mlp(tmp_path / "tiny.onnx")
    out = tmp_path / "out"
    sess = hetc.compile(path, target="hls", output_dir=out, target_options={"precision": "auto", "error_bound": 0.01})
    hls = json.loads((out / "report.json").read_text())["hls"]
    fx = hls["fixed_point"]
    search = fx["search"]
    assert search["status"] == "ok" and search["evaluations"] > 3
    assert fx["within_bound"] and all(o["rel_err"] <= 0.01 for o in fx["outputs"])
    # the search's emulation build rounds and saturates as ap_fixed does: same error as the real build
    assert fx["calibration_output_error"] == pytest.approx(search["emulated_output_error"], rel=1e-3, abs=1e-7)
    assert fx["calibration_output_error"] <= 0.01
    layers = fx["per_layer"]
    assert len(layers) >= 2
    from hetc.backends.hls.precision import F_MAX, integer_bits

    for layer in layers:
        assert layer["precision"] == f"ap_fixed<{layer['W']},{layer['I']}>"
        assert layer["I"] >= integer_bits(search["ranges"][layer["kernel"]])  # nothing saturates on calibration data
        assert f"typedef ap_fixed<{layer['W']}, {layer['I']}, AP_RND_CONV, AP_SAT> {layer['kernel']}_t;" in (
            out / "hetc_top.h").read_text()
    assert any(layer["W"] < layer["I"] + F_MAX for layer in layers)  # the search dropped bits somewhere
    feeds = _feeds(sess)
    want = ort_outputs(path, feeds)[0]
    assert np.max(np.abs(sess.run(feeds)[0] - want)) <= 0.02 * np.max(np.abs(want))
    # a looser bound never needs more bits
    loose = hetc.compile(path, target="hls", output_dir=tmp_path / "loose",
                         target_options={"precision": "auto", "error_bound": 0.05})
    assert loose is not None
    lw = json.loads((tmp_path / "loose" / "report.json").read_text())["hls"]["fixed_point"]["per_layer"]
    assert sum(x["W"] for x in lw) <= sum(x["W"] for x in layers)


def test_dataflow_top_matches_onnxruntime_and_reports_the_interval(tmp_path):
    path = EXAMPLES / "cnn.onnx"
    out = tmp_path / "out"
    sess = hetc.compile(path, target="hls", output_dir=out, target_options={"dataflow": True, "pragmas": "default"})
    top = (out / "hetc_top.cpp").read_text()
    assert "#pragma HLS DATAFLOW" in top and "HETC_BUF data_t t1[" in top
    feeds = _feeds(sess)
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))
    hls = json.loads((out / "report.json").read_text())["hls"]
    df = hls["dataflow"]
    assert df["enabled"] and hls["estimate"]["dataflow"]
    on, off = df["with_dataflow"], df["without_dataflow"]
    assert on["latency_cycles"] == off["latency_cycles"] == off["interval_cycles"]
    assert on["interval_cycles"] < on["latency_cycles"]
    assert on["bram"] >= off["bram"]  # ping-pong buffers


def test_search_makes_every_kernel_a_layer_of_one_top_pipeline_and_csim_still_matches(tmp_path):
    """The tiny MLP fits as layers (layer.py): each kernel one pipelined region at its reuse
    factor, inlined into a pipelined top; the printed design still computes the same function."""
    path = _tiny_mlp(tmp_path / "tiny.onnx")
    out = tmp_path / "out"
    sess = hetc.compile(path, target="hls", output_dir=out)
    hls = json.loads((out / "report.json").read_text())["hls"]
    layers = hls["pragmas"]["layers"]
    assert layers and hls["pragmas"]["top_pipeline"] and hls["searched"]["search"]["layers"] == len(layers)
    assert hls["estimate"]["latency_cycles"] < hls["default"]["estimate"]["latency_cycles"]
    top = (out / "hetc_top.cpp").read_text()
    reuse = max(v["reuse_factor"] for v in layers.values())
    assert f"#pragma HLS PIPELINE II={reuse}" in top[top.index("void hetc_top("):]
    for kernel, choice in layers.items():  # inlined, one pipelined loop or region, everything below unrolled
        body = top[top.index(f"static void {kernel}("):]
        body = body[: body.index("\n}\n")]
        assert "#pragma HLS INLINE" in body and "#pragma HLS UNROLL" in body
        assert ("layer: for" in body) == choice["pipelined_loop"].startswith("the whole kernel")
        assert body.count("#pragma HLS PIPELINE") == 1 and f"#pragma HLS PIPELINE II={choice['reuse_factor']}" in body
    feeds = _feeds(sess)
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))


@pytest.mark.skipif(not _have_ap_types(), reason="needs the Apache-2.0 ap_fixed.h (pip install 'hetc[hls]')")
def test_layers_in_fixed_point_and_under_dataflow_match_onnxruntime(tmp_path):
    """ap_fixed layers (ALLOCATION on `mul`) and DATAFLOW (layers stay functions, not inlined)."""
    path = EXAMPLES / "cnn.onnx"
    sess = hetc.compile(path, target="hls", output_dir=tmp_path / "fx", target_options={"precision": "ap_fixed<16,6>"})
    feeds = _feeds(sess)
    want = ort_outputs(path, feeds)[0]
    assert np.max(np.abs(sess.run(feeds)[0] - want)) <= 0.05 * np.max(np.abs(want))
    tiny = _tiny_mlp(tmp_path / "tiny.onnx")
    df = hetc.compile(tiny, target="hls", output_dir=tmp_path / "df", target_options={"dataflow": True})
    hls = json.loads((tmp_path / "df" / "report.json").read_text())["hls"]
    top = (tmp_path / "df" / "hetc_top.cpp").read_text()
    assert "#pragma HLS INLINE" not in top and not hls["pragmas"]["top_pipeline"]
    feeds = _feeds(df)
    assert_matches(df.run(feeds), ort_outputs(tiny, feeds))
