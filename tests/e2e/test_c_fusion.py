"""hetc-fuse end to end: every fusion mode computes what onnxruntime computes, and
the compile report says which groups were formed (issue 7's report.json schema)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
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
MODES = ["none", "greedy", "ilp"]


def _rows_model() -> onnx.ModelProto:
    """Row-group material: softmax, a decomposed LayerNorm with a per-row epsilon add,
    GELU (erf form), an RMS norm from ReduceMean(x*x), a residual, and values that
    escape a group mid-way (returned, and read by a Transpose)."""
    rng = np.random.default_rng(0)
    w = nh.from_array((rng.standard_normal((16, 16)) * 0.3).astype(np.float32), "w")
    bias = nh.from_array(rng.standard_normal(16).astype(np.float32), "bias")
    gamma = nh.from_array(rng.standard_normal((1, 16)).astype(np.float32), "gamma")
    consts = [
        nh.from_array(np.array([-1], np.int64), "axes"),
        nh.from_array(np.array(1e-5, np.float32), "eps"),
        nh.from_array(np.array(np.sqrt(2.0), np.float32), "sqrt2"),
        nh.from_array(np.array(1.0, np.float32), "one"),
        nh.from_array(np.array(0.5, np.float32), "half"),
    ]
    nodes = [
        h.make_node("MatMul", ["x", "w"], ["mm"]),
        h.make_node("Add", ["mm", "bias"], ["a"]),
        # softmax
        h.make_node("ReduceMax", ["a", "axes"], ["mx"]),
        h.make_node("Sub", ["a", "mx"], ["d"]),
        h.make_node("Exp", ["d"], ["ex"]),
        h.make_node("ReduceSum", ["ex", "axes"], ["se"]),
        h.make_node("Div", ["ex", "se"], ["sm"]),
        # layer norm on the softmax, per-row scalars between the reductions
        h.make_node("ReduceMean", ["sm", "axes"], ["mu"]),
        h.make_node("Sub", ["sm", "mu"], ["c"]),
        h.make_node("Mul", ["c", "c"], ["c2"]),
        h.make_node("ReduceMean", ["c2", "axes"], ["var"]),
        h.make_node("Add", ["var", "eps"], ["ve"]),
        h.make_node("Sqrt", ["ve"], ["sd"]),
        h.make_node("Div", ["c", "sd"], ["ln"]),
        h.make_node("Mul", ["ln", "gamma"], ["lg"]),
        # GELU, erf form
        h.make_node("Div", ["lg", "sqrt2"], ["g0"]),
        h.make_node("Erf", ["g0"], ["g1"]),
        h.make_node("Add", ["g1", "one"], ["g2"]),
        h.make_node("Mul", ["lg", "g2"], ["g3"]),
        h.make_node("Mul", ["g3", "half"], ["gelu"]),
        # RMS norm + residual
        h.make_node("Mul", ["gelu", "gelu"], ["sq"]),
        h.make_node("ReduceMean", ["sq", "axes"], ["ms"]),
        h.make_node("Sqrt", ["ms"], ["rms"]),
        h.make_node("Div", ["gelu", "rms"], ["rn"]),
        h.make_node("Add", ["rn", "x"], ["y"]),
        h.make_node("Transpose", ["ex"], ["ext"], perm=[1, 0]),
    ]
    graph = h.make_graph(
        nodes, "rows", [h.make_tensor_value_info("x", T.FLOAT, [6, 16])],
        [h.make_tensor_value_info(n, T.FLOAT, None) for n in ("y", "sm", "ext", "var")],
        [w, bias, gamma, *consts],
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])


@pytest.mark.parametrize("mode", MODES)
def test_row_groups_match_onnxruntime(mode, tmp_path):
    model = _rows_model()
    feeds = {"x": np.random.default_rng(1).standard_normal((6, 16)).astype(np.float32)}
    sess = hetc.compile(model, target="c", fusion=mode, output_dir=tmp_path / "out")
    assert_matches(sess.run(feeds), ort_outputs(model, feeds))
    report = json.loads((tmp_path / "out" / "report.json").read_text())["fusion"]
    assert report["mode"] == mode
    assert isinstance(report["predicted_time_s"], float) and isinstance(report["predicted_bytes"], int)
    assert set(report["solver"]) == {"status", "gap"}
    code = (tmp_path / "out" / "model.c").read_text()
    if mode == "none":
        assert report["groups"] == [] and "fused_row" not in code
    else:
        assert "fused_row" in code and report["groups"]
        # the softmax's reductions and what lies between them share one kernel
        assert any({"ReduceMax", "ReduceSum"} <= {n.split("_")[0] for n in g} or len(g) >= 5 for g in report["groups"])


@pytest.mark.parametrize("name", ["transformer_block", "cnn"])
@pytest.mark.parametrize("mode", MODES)
def test_examples_match_onnxruntime_in_every_mode(name, mode, tmp_path):
    path = ROOT / "examples" / f"{name}.onnx"
    sess = hetc.compile(path, target="c", fusion=mode, output_dir=tmp_path / "out")
    rng = np.random.default_rng(2)
    feeds = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))
    kernels = json.loads((tmp_path / "out" / "report.json").read_text())["fusion"]["kernels"]
    assert kernels > 0


def test_fusion_reduces_kernels_and_bytes(tmp_path):
    path = ROOT / "examples" / "transformer_block.onnx"
    reports = {}
    for mode in MODES:
        hetc.build(path, "c", tmp_path / mode, fusion=mode)
        reports[mode] = json.loads((tmp_path / mode / "report.json").read_text())["fusion"]
    assert reports["greedy"]["kernels"] < reports["none"]["kernels"]
    assert reports["greedy"]["predicted_bytes"] < reports["none"]["predicted_bytes"]
    assert reports["ilp"]["predicted_time_s"] <= reports["greedy"]["predicted_time_s"] * (1 + 1e-9)


def test_cli_fusion_flag(tmp_path, capsys):
    from hetc.cli import main

    out = tmp_path / "out"
    assert main(["compile", str(ROOT / "examples" / "transformer_block.onnx"), "--target", "c", "--fusion", "greedy",
                 "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fusion greedy:" in printed and "fused groups" in printed
    assert json.loads((out / "report.json").read_text())["fusion"]["mode"] == "greedy"


def test_bad_fusion_mode_is_refused(tmp_path):
    from hetc.diagnostics import HetcError

    with pytest.raises(HetcError, match="unknown fusion mode 'fast'"):
        hetc.build(ROOT / "examples" / "mlp.onnx", "c", tmp_path / "out", {"x": (1, 784)}, fusion="fast")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vit_tiny", "bert_mini", "gpt2_small", "convnext"])
@pytest.mark.parametrize("mode", ["none", "greedy"])
def test_zoo_models_match_onnxruntime_without_and_with_greedy_fusion(name, mode, tmp_path_factory):
    """(the default, ilp, runs in test_c_backend's zoo test)"""
    path, feeds = zoo_export(name, tmp_path_factory)
    sess = hetc.compile(path, target="c", fusion=mode, input_shapes={k: v.shape for k, v in feeds.items()})
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))


def _qkv_model() -> onnx.ModelProto:
    """Q, K, V and a gated pair over one activation: Q and K with biases, V without (and
    returned), GELU after the gate, a residual after K, a softmax reading Q and K."""
    rng = np.random.default_rng(3)

    def w(name, *shape):
        return nh.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    inits = [w("wq", 16, 16), w("wk", 16, 16), w("wv", 16, 12), w("bq", 16), w("bk", 16),
             nh.from_array(np.array([-1], np.int64), "axes")]
    nodes = [
        h.make_node("MatMul", ["x", "wq"], ["q0"], name="q"),
        h.make_node("Add", ["q0", "bq"], ["q"], name="q_bias"),
        h.make_node("MatMul", ["x", "wk"], ["k0"], name="k"),
        h.make_node("Add", ["k0", "bk"], ["k1"], name="k_bias"),
        h.make_node("Add", ["k1", "x"], ["k"], name="k_res"),
        h.make_node("MatMul", ["x", "wv"], ["v"], name="v"),
        h.make_node("Tanh", ["q"], ["qa"], name="q_act"),
        h.make_node("Mul", ["qa", "k"], ["s"], name="qk"),
        h.make_node("ReduceMax", ["s", "axes"], ["m"], name="max"),
        h.make_node("Sub", ["s", "m"], ["d"], name="sub"),
        h.make_node("Exp", ["d"], ["y"], name="exp"),
    ]
    graph = h.make_graph(nodes, "qkv", [h.make_tensor_value_info("x", T.FLOAT, [2, 8, 16])],
                         [h.make_tensor_value_info(n, T.FLOAT, None) for n in ("y", "v")], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])


def _horizontal_always(monkeypatch) -> None:
    """The C target with hetc-fuse-horizontal forced on (its default prices a CPU call at
    50 ns, which keeps small projections apart)."""
    import dataclasses

    from hetc.backends.targets import TARGETS

    c = TARGETS["c"]
    passes = tuple("hetc-fuse-horizontal{mode=always}" if p == "hetc-fuse-horizontal" else p for p in c.passes)
    monkeypatch.setitem(TARGETS, "c", dataclasses.replace(c, passes=passes))


@pytest.mark.parametrize("mode", MODES)
def test_horizontal_siblings_match_onnxruntime(mode, tmp_path, monkeypatch):
    if mode != "none":
        _horizontal_always(monkeypatch)
    model = _qkv_model()
    feeds = {"x": np.random.default_rng(4).standard_normal((2, 8, 16)).astype(np.float32)}
    sess = hetc.compile(model, target="c", fusion=mode, output_dir=tmp_path / "out")
    assert_matches(sess.run(feeds), ort_outputs(model, feeds))
    fusion = json.loads((tmp_path / "out" / "report.json").read_text())["fusion"]
    sets = fusion["horizontal"]["sets"]
    if mode == "none":  # --fusion none turns the horizontal rewrite off too
        assert sets == []
        return
    assert [s["nodes"] for s in sets] == [["q", "k", "v"]] and sets[0]["fused"] and sets[0]["widths"] == [16, 16, 12]
    kinds = {tuple(g): k for g, k in zip(fusion["groups"], fusion["group_kinds"])}
    # the concatenated bias and the Split are the new GEMM's epilogue (MatMul, Add, Split);
    # the GELU-ish Tanh after the Split still fuses
    assert kinds.get(("q+2", "q+2", "q+2")) == "epilogue"
    assert any("q_act" in g and "qk" in g for g in fusion["groups"])
    # the Split costs no kernel: the GEMM stores each column range into its output
    code = (tmp_path / "out" / "model.c").read_text()
    assert "_split(" not in code and "_gemm(" in code


@pytest.mark.parametrize("loops", ["convert-onnx-to-loops", "convert-onnx-to-loops{target=gpu}"])
def test_split_after_horizontal_gemm_is_free(loops, tmp_path, monkeypatch):
    """The same Q/K/V rewrite with and without hetc-fuse: unfused, the Split is a copy
    kernel over the GEMM's output; fused into the GEMM's group it is none, and the
    predicted bytes drop by the copy's traffic. Both match onnxruntime, in the CPU's loop
    form and in the GPU's (unequal ranges 16/16/12, V a graph output copied out of the
    range-major buffer)."""
    _c_passes(monkeypatch, "always", loops)
    model = _qkv_model()
    feeds = {"x": np.random.default_rng(5).standard_normal((2, 8, 16)).astype(np.float32)}
    ref = ort_outputs(model, feeds)
    fusion = {}
    for mode in ("none", "ilp"):
        sess = hetc.compile(model, target="c", fusion=mode, output_dir=tmp_path / mode)
        assert_matches(sess.run(feeds), ref)
        fusion[mode] = json.loads((tmp_path / mode / "report.json").read_text())["fusion"]
        assert fusion[mode]["horizontal"]["sets"][0]["fused"]  # forced on in both
        code = (tmp_path / mode / "model.c").read_text()
        assert ("_split(" in code) == (mode == "none")
    split_kernels = [k for k in fusion["ilp"]["kernel_details"] if "Split" in k["ops"]]
    assert [k["ops"] for k in split_kernels] == [["MatMul", "Add", "Split"]]
    # the [16, 44] GEMM output is neither written nor read back: 2 x 16 x 44 x 4 bytes
    assert split_kernels[0]["bytes_saved"] >= 2 * 16 * 44 * 4


def test_horizontal_default_prices_on_the_cpu(tmp_path):
    """By default the C target prices the rewrite on the CPU: these projections stay apart
    (the report says so), and the program is the same as without the pass."""
    model = _qkv_model()
    hetc.build(model, "c", tmp_path / "out")
    sets = json.loads((tmp_path / "out" / "report.json").read_text())["fusion"]["horizontal"]
    assert sets["device"] == "cpu" and sets["mode"] == "cost"
    assert [s["fused"] for s in sets["sets"]] == [False] and sets["sets"][0]["predicted_gain_s"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bert_mini", "gpt2_small", "t5_encoder"])
def test_zoo_transformers_match_onnxruntime_with_horizontal_fusion(name, tmp_path_factory, monkeypatch):
    """BERT's Q/K/V projections become one GEMM + Split; T5's bias-free Q/K/V and its
    gated-GELU wi_0/wi_1 pair too; GPT-2's c_attn already is one GEMM (nothing to fuse).
    All still match onnxruntime."""
    _horizontal_always(monkeypatch)
    path, feeds = zoo_export(name, tmp_path_factory)
    out = tmp_path_factory.mktemp("out") / "out"
    sess = hetc.compile(path, target="c", input_shapes={k: v.shape for k, v in feeds.items()}, output_dir=out)
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))
    sets = json.loads((out / "report.json").read_text())["fusion"]["horizontal"]["sets"]
    fused = [s for s in sets if s["fused"]]
    if name == "bert_mini":  # one Q/K/V set per layer
        assert len(fused) == 2 and all(len(s["nodes"]) == 3 for s in fused)
    elif name == "t5_encoder":  # per layer: Q/K/V (no biases) and gate/up
        assert sorted(len(s["nodes"]) for s in fused) == [2, 2, 3, 3] and not any(s["bias"] for s in fused)
    else:
        assert fused == []


def _c_passes(monkeypatch, horizontal: str = "always", loops: str = "convert-onnx-to-loops") -> None:
    """The C target with hetc-fuse-horizontal's mode and the loop lowering's form replaced."""
    import dataclasses

    from hetc.backends.targets import TARGETS

    c = TARGETS["c"]
    swap = {"hetc-fuse-horizontal": f"hetc-fuse-horizontal{{mode={horizontal}}}", "convert-onnx-to-loops": loops}
    monkeypatch.setitem(TARGETS, "c", dataclasses.replace(c, passes=tuple(swap.get(p, p) for p in c.passes)))


@pytest.mark.parametrize("loops", ["convert-onnx-to-loops", "convert-onnx-to-loops{target=gpu}"])
def test_transformer_block_qkv_split_is_free(loops, tmp_path, monkeypatch):
    """examples/transformer_block.onnx's Q/K/V projections as one GEMM + Split, with the
    Split in the GEMM's group: no split kernel, outputs as onnxruntime's. The GPU's loop
    form (one GEMM nest storing range-major, the Split's outputs views of its buffer) is
    checked here too, printed by the C printer (a plain nest is a correct C loop)."""
    _c_passes(monkeypatch, "always", loops)
    path = ROOT / "examples" / "transformer_block.onnx"
    sess = hetc.compile(path, target="c", output_dir=tmp_path / "out")
    rng = np.random.default_rng(6)
    feeds = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))
    fusion = json.loads((tmp_path / "out" / "report.json").read_text())["fusion"]
    [qkv] = [s for s in fusion["horizontal"]["sets"] if s["fused"]]
    assert len(qkv["nodes"]) == 3
    groups = [k for k in fusion["kernel_details"] if "Split" in k["ops"]]
    assert [k["ops"][0] for k in groups] == ["MatMul"] and groups[0]["kind"] == "epilogue"
    code = (tmp_path / "out" / "model.c").read_text()
    assert "_split(" not in code
    # the profile labels of the merged GEMM's calls: one per range in the CPU form, one
    # nest over every column in the GPU form
    calls = [line for line in code.splitlines() if re.search(rf'"k\d+_gemm <- {re.escape(qkv["into"])}"', line)]
    assert len(calls) == (1 if "gpu" in loops else 3)


def test_cuda_qkv_is_one_gemm_kernel(tmp_path):
    """The CUDA target (horizontal fusion priced on the H100: on by default): Q/K/V are one
    tiled GEMM kernel whose store puts each column range in its own block of one buffer;
    no split kernel; K/V that are read later are views of it. Compile-only here (nvcc)."""
    import shutil

    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed")
    out = hetc.build(_qkv_model(), "cuda", tmp_path / "out")
    fusion = json.loads((out / "report.json").read_text())["fusion"]
    assert fusion["horizontal"]["sets"][0]["fused"]
    code = (out / "model.cu").read_text()
    kernels = re.findall(r"__global__ void __launch_bounds__\(\d+\) (k\d+_\w+)\(", code)
    assert not any(k.endswith("_split") for k in kernels)
    labels = re.findall(r'"(k\d+_\w+) <- q\+2"', code)
    assert len(labels) == 1 and labels[0].endswith("_gemm") and "tiles, fp32, " in code
    assert (out / "libmodel.so").exists()


def _attention_model(s: int = 24) -> onnx.ModelProto:
    """Masked multi-head attention as exporters write it: Q/K/V projections, heads split
    by Reshape + Transpose (K transposed for QK^T), a scale Div, a runtime mask Add
    broadcast over the heads, Softmax, P.V, heads merged; `s` tokens."""
    rng = np.random.default_rng(7)
    b, heads, dh = 2, 3, 8
    d = heads * dh

    def w(name, *shape):
        return nh.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    inits = [w("wq", d, d), w("wk", d, d), w("wv", d, d),
             nh.from_array(np.array([b, s, heads, dh], np.int64), "split"),
             nh.from_array(np.array([b, s, d], np.int64), "merge"),
             nh.from_array(np.array(np.sqrt(dh), np.float32), "scale")]
    nodes = [
        h.make_node("MatMul", ["x", "wq"], ["q0"]), h.make_node("MatMul", ["x", "wk"], ["k0"]),
        h.make_node("MatMul", ["x", "wv"], ["v0"]),
        h.make_node("Reshape", ["q0", "split"], ["q1"]), h.make_node("Reshape", ["k0", "split"], ["k1"]),
        h.make_node("Reshape", ["v0", "split"], ["v1"]),
        h.make_node("Transpose", ["q1"], ["q"], perm=[0, 2, 1, 3]),
        h.make_node("Transpose", ["k1"], ["kt"], perm=[0, 2, 3, 1]),
        h.make_node("Transpose", ["v1"], ["v"], perm=[0, 2, 1, 3]),
        h.make_node("MatMul", ["q", "kt"], ["scores"], name="qk"),
        h.make_node("Div", ["scores", "scale"], ["scaled"], name="scale"),
        h.make_node("Add", ["scaled", "mask"], ["masked"], name="mask"),
        h.make_node("Softmax", ["masked"], ["probs"], axis=-1, name="softmax"),
        h.make_node("MatMul", ["probs", "v"], ["ctx"], name="pv"),
        h.make_node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
        h.make_node("Reshape", ["ctx_t", "merge"], ["y"]),
    ]
    graph = h.make_graph(nodes, "attention",
                         [h.make_tensor_value_info("x", T.FLOAT, [b, s, d]),
                          h.make_tensor_value_info("mask", T.FLOAT, [b, 1, s, s])],
                         [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 18)])


def _attention_feeds(s: int = 24) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    causal = np.triu(np.full((s, s), -1e9, np.float32), 1)  # a causal mask, large negative above the diagonal
    return {"x": rng.standard_normal((2, s, 24)).astype(np.float32),
            "mask": np.broadcast_to(causal, (2, 1, s, s)).copy()}


@pytest.mark.parametrize("mode", MODES)
def test_attention_group_matches_onnxruntime(mode, tmp_path):
    """QK^T, scale, causal mask, softmax and P.V are one `attention` kernel (greedy and
    ilp) computing what onnxruntime computes; unfused, three or more kernels."""
    model = _attention_model()
    feeds = _attention_feeds()
    sess = hetc.compile(model, target="c", fusion=mode, fuse_attention=True, output_dir=tmp_path / "out")
    assert_matches(sess.run(feeds), ort_outputs(model, feeds))
    fusion = json.loads((tmp_path / "out" / "report.json").read_text())["fusion"]
    attention = [k for k in fusion["kernel_details"] if k["kind"] == "attention"]
    code = (tmp_path / "out" / "model.c").read_text()
    if mode == "none":
        assert attention == [] and "_attention(" not in code
        return
    [group] = attention
    assert group["ops"][0] == group["ops"][-1] == "MatMul" and {"Div", "Add", "ReduceMax", "Exp", "ReduceSum"} <= set(group["ops"])
    # the S x S scores are neither written nor read back (several times over)
    assert group["bytes_saved"] >= 2 * 2 * 3 * 24 * 24 * 4
    assert len(re.findall(r"static HETC_KERNEL void k\d+_attention\(", code)) == 1
    assert fusion["predictions"][mode]["kernels"] <= fusion["predictions"]["none"]["kernels"] - 8


def test_transformer_block_attention_is_one_kernel(tmp_path):
    """examples/transformer_block.onnx on the C target (ilp, attention groups asked for): its
    attention is one kernel, the outputs are onnxruntime's, and it saves bytes and kernels
    over the same partition without the attention group (greedy's row + epilogue groups)."""
    path = ROOT / "examples" / "transformer_block.onnx"
    sess = hetc.compile(path, target="c", fuse_attention=True, output_dir=tmp_path / "out")
    rng = np.random.default_rng(9)
    feeds = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))
    fusion = json.loads((tmp_path / "out" / "report.json").read_text())["fusion"]
    [group] = [k for k in fusion["kernel_details"] if k["kind"] == "attention"]
    assert group["nodes"][0] == "MatMul_40" and group["nodes"][-1] == "MatMul_47"
    assert "attention" in fusion["group_kinds"]


@pytest.mark.parametrize("s", [24, 72])
def test_cuda_attention_compiles(s, tmp_path):
    """The CUDA target: the attention group is one kernel; with S = 24 < 64 keys a thread
    per query row, with S = 72 a warp per row (lanes split the keys, the max, the sum and
    each output column's accumulator shuffle-combined). Compile-only here (nvcc)."""
    import shutil

    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed")
    out = hetc.build(_attention_model(s), "cuda", tmp_path / "out", fuse_attention=True)
    code = (out / "model.cu").read_text()
    [kernel] = re.findall(r"__global__ void __launch_bounds__\(\d+\) k\d+_attention\(.*?\n}\n", code, re.DOTALL)
    warp = ["hetc_warp_max(", "hetc_warp_sum(", "hetc_lane"]
    if s < 64:
        assert not any(w in kernel for w in warp)
    else:  # max, sum, and one sum per output column inside the column loop
        assert all(w in kernel for w in warp) and kernel.count("hetc_warp_sum(") == 2
        assert f"if (hetc_t >= {2 * 3 * s}) return;" in kernel  # a warp per (batch, head, row)
    assert (out / "libmodel.so").exists()
    from test_cuda_backend import HAS_GPU

    if HAS_GPU:  # on the device machine: the warp mapping computes what onnxruntime computes
        model, feeds = _attention_model(s), _attention_feeds(s)
        assert_matches(hetc.Session(out).run(feeds), ort_outputs(model, feeds))


@pytest.mark.slow
@pytest.mark.parametrize("name,layers", [("vit_tiny", 4), ("bert_mini", 2), ("gpt2_small", 2)])
def test_zoo_attention_groups(name, layers, tmp_path_factory):
    """ViT (scale on Q before QK^T, 65 tokens), BERT (scale Mul + padding mask Add) and
    GPT-2 (scale Mul + causal mask Add): one attention kernel per layer, outputs as
    onnxruntime's on the C target; the CUDA target compiles them (ViT's 65-key rows get a
    warp per row: the lanes split the keys and shuffle-combine max, sum and each column)."""
    import shutil

    path, feeds = zoo_export(name, tmp_path_factory)
    shapes = {k: v.shape for k, v in feeds.items()}
    out = tmp_path_factory.mktemp("out")
    sess = hetc.compile(path, target="c", input_shapes=shapes, fuse_attention=True, output_dir=out / "c")
    assert_matches(sess.run(feeds), ort_outputs(path, feeds))
    fusion = json.loads((out / "c" / "report.json").read_text())["fusion"]
    assert sum(k["kind"] == "attention" for k in fusion["kernel_details"]) == layers
    if shutil.which("nvcc") is None:
        return
    hetc.build(path, "cuda", out / "cuda", shapes, fuse_attention=True)
    code = (out / "cuda" / "model.cu").read_text()
    # one launch per layer (identical kernels share one __global__ body)
    assert len(re.findall(r'"k\d+_attention <- ', code)) == layers
    if name == "vit_tiny":
        assert "hetc_warp_max(" in code and (out / "cuda" / "libmodel.so").exists()


def test_attention_gpu_loop_form_matches_onnxruntime(tmp_path, monkeypatch):
    """The GPU's form of the attention nest (scores as dot products per key, a lane-uniform
    loop over output columns, what the CUDA printer maps a warp per row onto) is a correct
    C loop nest too: printed by the C printer it computes what onnxruntime computes."""
    _c_passes(monkeypatch, "off", "convert-onnx-to-loops{target=gpu}")
    model = _attention_model()
    feeds = _attention_feeds()
    sess = hetc.compile(model, target="c", fuse_attention=True, output_dir=tmp_path / "out")
    assert_matches(sess.run(feeds), ort_outputs(model, feeds))
    code = (tmp_path / "out" / "model.c").read_text()
    assert len(re.findall(r"static HETC_KERNEL void k\d+_attention\(", code)) == 1


def test_attention_fusion_is_opt_in(tmp_path):
    """Attention groups are off unless asked for (`fuse_attention=True`, `--fuse-attention`):
    their kernel is slower than the unfused GEMMs on the CPU so far."""
    path = ROOT / "examples" / "transformer_block.onnx"
    hetc.build(path, "c", tmp_path / "default")
    fusion = json.loads((tmp_path / "default" / "report.json").read_text())["fusion"]
    assert "attention" not in fusion["group_kinds"]
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "hetc.cli", "compile", str(path), "--target", "c", "--fuse-attention",
                           "-o", str(out), "--quiet"], capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "attention" in json.loads((out / "report.json").read_text())["fusion"]["group_kinds"]
