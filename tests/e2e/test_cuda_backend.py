"""The CUDA backend end to end. Every test compiles the generated .cu with nvcc (skipped
only where there is no nvcc); the runs and the checks against onnxruntime happen where a
GPU is present (the device machine), and are skipped elsewhere.

Tolerances: fp32 GEMMs (CUDA cores, fused multiply-add, another summation order than
onnxruntime's) max|hetc - ort| <= 1e-4 * max|ort|; tf32 GEMMs (tensor cores, 10-bit
mantissa inputs) <= 1e-2 * max|ort|.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

import hetc
from hetc.backends.cuda.toolchain import build_library
from hetc.diagnostics import HetcError
from cuda_check import HAS_GPU, HAS_NVCC
from ort_check import ort_outputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOL = {"fp32": 1e-4, "tf32": 1e-2}

pytestmark = pytest.mark.skipif(not HAS_NVCC, reason="no nvcc")


def _feeds(sess, seed=0):
    rng = np.random.default_rng(seed)
    return {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}


def _check(got, want, tol):
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        if np.issubdtype(w.dtype, np.floating):
            err = float(np.max(np.abs(g - w))) if w.size else 0.0
            assert err <= tol * max(float(np.max(np.abs(w))) if w.size else 0.0, 1e-30), err
        else:
            np.testing.assert_array_equal(g, w)


def _build(path, out, shapes=None, precision="fp32"):
    return hetc.build(path, "cuda", out, shapes, target_options={"precision": precision})


@pytest.mark.parametrize(
    "name,shapes,precision",
    [("mlp", {"x": (3, 784)}, "fp32"), ("cnn", None, "fp32"), ("transformer_block", None, "fp32"),
     ("transformer_block", None, "tf32")],
)
def test_examples_build_and_match_onnxruntime(name, shapes, precision, tmp_path):
    out = _build(EXAMPLES / f"{name}.onnx", tmp_path / "out", shapes, precision)
    files = {p.name for p in out.iterdir()}
    assert {"model.cu", "model.h", "weights.bin", "libmodel.so", "Makefile", "manifest.json", "README.md", "report.json"} <= files
    if not HAS_GPU:
        return
    sess = hetc.Session(out)
    feeds = _feeds(sess)
    _check(sess.run(feeds), ort_outputs(EXAMPLES / f"{name}.onnx", feeds), TOL[precision])
    # a second run replays the captured graph: same inputs, same outputs
    again = sess.run(feeds)
    _check(again, ort_outputs(EXAMPLES / f"{name}.onnx", feeds), TOL[precision])


def test_kernels_map_onto_the_gpu(tmp_path, monkeypatch):
    """The transformer block's GEMMs are tiled (tensor cores in tf32, its per-head products
    too: the small-GEMM cut-off is lifted here), its softmax and layer-norm rows run a warp
    per row with shuffle reductions, and the host captures the forward pass as a CUDA graph."""
    monkeypatch.setattr("hetc.backends.cuda.printer.MMA_MIN_MACS", 0)
    fp32 = (_build(EXAMPLES / "transformer_block.onnx", tmp_path / "a") / "model.cu").read_text()
    tf32 = (_build(EXAMPLES / "transformer_block.onnx", tmp_path / "b", precision="tf32") / "model.cu").read_text()
    assert "tiles, fp32, " in fp32 and "mma_sync" not in fp32
    assert "on the tensor cores (tf32, mma.sync)" in tf32 and "hetc_mma_tf32(hetc_c[a][b]" in tf32
    assert re.search(r"hetc_warp_sum\(acc\d+\[0\]\)", fp32)  # layer-norm row sums split over lanes
    assert "cudaStreamBeginCapture" in fp32 and "cudaGraphLaunch" in fp32
    assert "cudaMemcpy(m->weights" in fp32  # the weights go up once, at init


def _zoo_names() -> list[str]:
    from tests.models import zoo

    return sorted(zoo.MODELS)


#: zoo models compiled (nvcc included) on machines without a GPU too; on a GPU every zoo
#: model runs at fp32 and fp16 (`pytest tests/e2e/test_cuda_backend.py -k zoo -n 16`)
ZOO_WITHOUT_GPU = {("resnet18", "fp32"), ("bert_mini", "fp32"), ("gpt2_small", "fp32"), ("swin", "fp16")}
#: max|hetc - ort| <= tol * max(1, max|ort|), as in benchmarks/cuda_models.py: fp16 stores
#: every weight and intermediate in half (unit roundoff 4.9e-4); the H100 run of 2026-11-22
#: had the worst at 1.6e-3 (ConvNeXt), fp32 at 9.3e-7
ZOO_TOL = {"fp32": 1e-4, "fp16": 2e-2}


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("name", _zoo_names())
def test_zoo_models(name, precision, tmp_path):
    """Every model of the zoo (tests/models/zoo.py: CNNs, detectors, OCR, transformers, RNNs
    exported by torch) through --target cuda against onnxruntime."""
    if not HAS_GPU and (name, precision) not in ZOO_WITHOUT_GPU:
        pytest.skip("runs where a GPU is present (a sample of the zoo is compiled here)")
    pytest.importorskip("torch")
    from tests.models import zoo

    if name in zoo.TRANSFORMERS_MODELS:
        pytest.importorskip("transformers")
    path = zoo.export(name, Path(os.environ.get("HETC_CACHE", "/tmp/hetc_cache")) / "models")
    feeds = zoo.make_inputs(name, seed=0)
    out = _build(path, tmp_path / "out", zoo.input_shapes(feeds), precision=precision)
    if not HAS_GPU:
        return
    got, want = hetc.Session(out).run(feeds), ort_outputs(path, feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        if np.issubdtype(w.dtype, np.floating):
            err = float(np.max(np.abs(g.astype(np.float64) - w))) if w.size else 0.0
            assert err <= ZOO_TOL[precision] * max(1.0, float(np.max(np.abs(w))) if w.size else 0.0), err
        else:
            np.testing.assert_array_equal(g, w)


def _one_op(op_type, inputs, outputs, **attrs):
    node = h.make_node(op_type, [i.name for i in inputs], [o.name for o in outputs], **attrs)
    return h.make_model(h.make_graph([node], op_type.lower(), inputs, outputs), opset_imports=[h.make_opsetid("", 17)])


@pytest.mark.parametrize("m,k,n", [(1, 5, 7), (70, 33, 129), (128, 64, 64), (65, 768, 192), (65, 192, 768)])
def test_matmul_shapes_with_ragged_tiles(m, k, n, tmp_path):
    """GEMMs whose sizes are not multiples of the 64 x 64 tile (and a one-row GEMV)."""
    model = _one_op(
        "MatMul", [h.make_tensor_value_info("a", T.FLOAT, [m, k]), h.make_tensor_value_info("b", T.FLOAT, [k, n])],
        [h.make_tensor_value_info("y", T.FLOAT, [m, n])],
    )
    path = tmp_path / "mm.onnx"
    onnx.save(model, path)
    for precision in ("fp32", "tf32"):
        out = _build(path, tmp_path / precision, precision=precision)
        if (m, k, n) in ((65, 768, 192), (65, 192, 768)):  # too few tiles, enough columns: lanes along N, warps along K
            assert "32 columns x 8 slices of K per block" in (out / "model.cu").read_text()
        if HAS_GPU:
            sess = hetc.Session(out)
            feeds = _feeds(sess, seed=m)
            _check(sess.run(feeds), ort_outputs(model, feeds), TOL[precision])


@pytest.mark.parametrize("case", ["conv", "matmul"])
def test_batched_products_are_one_launch(case, tmp_path):
    """A convolution over a batch (tiled: enough tiles; the images side by side along N)
    and per-head MatMuls (warp per output: few tiles; the batch in the flattened thread
    index) each become one kernel, fused residual epilogue included."""
    rng = np.random.default_rng(1)
    if case == "conv":
        w = onnx.numpy_helper.from_array(rng.standard_normal((128, 16, 3, 3)).astype(np.float32), "w")
        nodes = [h.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Add", ["c", "r"], ["s"]),
                 h.make_node("Relu", ["s"], ["y"])]  # fmt: skip
        ins = [h.make_tensor_value_info("x", T.FLOAT, [8, 16, 32, 32]), h.make_tensor_value_info("r", T.FLOAT, [8, 128, 32, 32])]
        outs, inits = [h.make_tensor_value_info("y", T.FLOAT, [8, 128, 32, 32])], [w]
    else:
        nodes = [h.make_node("MatMul", ["q", "k"], ["y"])]
        ins = [h.make_tensor_value_info("q", T.FLOAT, [2, 4, 16, 32]), h.make_tensor_value_info("k", T.FLOAT, [2, 4, 32, 16])]
        outs, inits = [h.make_tensor_value_info("y", T.FLOAT, [2, 4, 16, 16])], []
    model = h.make_model(h.make_graph(nodes, case, ins, outs, inits), opset_imports=[h.make_opsetid("", 17)])
    path = tmp_path / f"{case}.onnx"
    onnx.save(model, path)
    out = _build(path, tmp_path / "out")
    cu = (out / "model.cu").read_text()
    gemm_kernels = re.findall(r"__global__ void (?:__launch_bounds__\(\d+\) )?(\w*gemm\w*)\(", cu)
    assert len(gemm_kernels) == 1, gemm_kernels
    if case == "conv":
        # 8 images x 1024 pixels = 8192 columns in one grid (no z axis)
        assert "hetc_bt = blockIdx.z" not in cu and re.search(r"<<<dim3\(\d+, \d+, 1\)", cu)
    if HAS_GPU:
        sess = hetc.Session(out)
        feeds = _feeds(sess, seed=2)
        _check(sess.run(feeds), ort_outputs(model, feeds), 1e-4)


def test_softmax_rows_longer_and_shorter_than_a_warp(tmp_path):
    x = h.make_tensor_value_info("x", T.FLOAT, [6, 1000])
    model = _one_op("Softmax", [x], [h.make_tensor_value_info("y", T.FLOAT, [6, 1000])], axis=-1)
    path = tmp_path / "sm.onnx"
    onnx.save(model, path)
    out = _build(path, tmp_path / "out")
    assert re.search(r"hetc_warp_max\(acc\d+\[0\]\)", (out / "model.cu").read_text())  # the row max
    if HAS_GPU:
        sess = hetc.Session(out)
        feeds = _feeds(sess)
        _check(sess.run(feeds), ort_outputs(model, feeds), 1e-5)


@pytest.mark.parametrize("dtype", [T.FLOAT, T.DOUBLE])
def test_infinite_constants_in_both_float_widths(tmp_path, dtype):
    """A reduction whose start value is -inf (ReduceLogSumExp's max) in float32 and float64:
    the device spellings of the infinities (a float64 -inf once printed as `(-HETC_INF)D`,
    which nvcc rejected: 9 conformance cases)."""
    x = h.make_tensor_value_info("x", dtype, [3, 4, 5])
    model = _one_op("ReduceLogSumExp", [x], [h.make_tensor_value_info("y", dtype, [3, 1, 5])], axes=[1], keepdims=1)
    out = _build(model, tmp_path / "out")
    assert ("(-HETC_INFD)" if dtype == T.DOUBLE else "(-HETC_INF)") in (out / "model.cu").read_text()
    if HAS_GPU:
        sess = hetc.Session(out)
        feeds = _feeds(sess)
        _check(sess.run(feeds), ort_outputs(model, feeds), 1e-6)


def test_conformance_sample_builds_and_matches(tmp_path):
    """A fixed, seeded sample of the ONNX backend node cases the C target passes: each
    builds with nvcc (and, with a GPU, matches the ONNX reference outputs)."""
    sys.path.insert(0, str(ROOT / "tests" / "conformance"))
    from run import run_case  # noqa: E402
    from cases import load_cases  # noqa: E402

    cases = load_cases()
    status = (ROOT / "tests" / "conformance" / "STATUS-c.md").read_text()
    listed = set(re.findall(r"^\| (test_\w+) \|", status, re.M))  # the failed and unsupported ones
    pool = [c for c in cases if c.name not in listed]
    rng = np.random.default_rng(0)
    sample = [pool[i] for i in sorted(rng.choice(len(pool), size=min(12, len(pool)), replace=False))]
    bad = []
    for case in sample:
        result = run_case(case, "cuda")
        if result.status != "passed" and (HAS_GPU or "no CUDA GPU" not in result.reason):
            bad.append(f"{case.name}: {result.reason}")
    assert not bad, "\n".join(bad)


def test_nvcc_error_names_the_generated_file_and_line(tmp_path):
    with pytest.raises(HetcError) as err:
        build_library({"model.cu": "__global__ void k() { undefined_thing(); }\n"}, "model.cu", "sm_90")
    text = str(err.value)
    assert "nvcc failed" in text and "model.cu(1)" in text and "undefined_thing" in text


def test_missing_nvcc_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NVCC", str(tmp_path / "no-nvcc"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("hetc.backends.cuda.toolchain.NVCC_CANDIDATES", ())
    with pytest.raises(HetcError, match="needs nvcc"):
        _build(EXAMPLES / "mlp.onnx", tmp_path / "out", {"x": (1, 784)})
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("options,message", [({"precision": "fp8"}, "unknown CUDA precision 'fp8'"),
                                             ({"part": "u280"}, "target 'cuda' has no option part")])
def test_bad_target_options_are_clear_errors(options, message, tmp_path):
    with pytest.raises(HetcError, match=message):
        hetc.build(EXAMPLES / "mlp.onnx", "cuda", tmp_path / "out", {"x": (1, 784)}, target_options=options)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(HAS_GPU, reason="checks the message given where there is no GPU")
def test_running_without_a_gpu_says_so(tmp_path):
    out = _build(EXAMPLES / "mlp.onnx", tmp_path / "out", {"x": (1, 784)})
    with pytest.raises(HetcError, match="no CUDA GPU.*c, numpy, hls"):
        hetc.Session(out)


def test_cli_compile_cuda(tmp_path):
    out = tmp_path / "tb"
    proc = subprocess.run(
        [sys.executable, "-m", "hetc.cli", "compile", str(EXAMPLES / "transformer_block.onnx"), "--target", "cuda",
         "--precision", "tf32", "-o", str(out), "--quiet"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "libmodel.so").exists() and '"precision": "tf32"' in (out / "report.json").read_text()


@pytest.mark.parametrize("flag,fused", [(None, True), ("--no-fuse-attention", False)])
def test_cli_attention_default_at_fp16(tmp_path, flag, fused):
    """`hetc compile --target cuda --precision fp16` fuses attention by default (one flash
    kernel; the report lists the group); `--no-fuse-attention` keeps QK^T, softmax and P.V apart."""
    out = tmp_path / "tb"
    proc = subprocess.run(
        [sys.executable, "-m", "hetc.cli", "compile", str(EXAMPLES / "transformer_block.onnx"), "--target", "cuda",
         "--precision", "fp16", *([flag] if flag else []), "-o", str(out), "--quiet"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    kinds = json.loads((out / "report.json").read_text())["fusion"]["group_kinds"]
    assert ("attention" in kinds) == fused
    assert ("FlashAttention-2 style" in (out / "model.cu").read_text()) == fused


def test_hopper_gemm_tiles_and_their_fallback(tmp_path, monkeypatch):
    """A float16 MatMul with a bias and ReLU, large enough for the Hopper tiles (TMA + wgmma,
    built for sm_90a), K not a multiple of their 64: it matches onnxruntime, and so does the
    mma.sync form the host launches where no TMA descriptor can be made (forced here with
    HETC_CUDA_TMA=0). The model's io casts are no kernels at all (hetc-elide-copies)."""
    rng = np.random.default_rng(5)
    m, k, n = 1152, 200, 2056
    w = onnx.numpy_helper.from_array((rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float16), "w")
    b = onnx.numpy_helper.from_array(rng.standard_normal(n).astype(np.float16), "b")
    nodes = [h.make_node("MatMul", ["x", "w"], ["p"]), h.make_node("Add", ["p", "b"], ["a"]), h.make_node("Relu", ["a"], ["y"])]
    model = h.make_model(h.make_graph(nodes, "mm16", [h.make_tensor_value_info("x", T.FLOAT16, [m, k])],
                                      [h.make_tensor_value_info("y", T.FLOAT16, [m, n])], [w, b]),
                         opset_imports=[h.make_opsetid("", 17)])  # fmt: skip
    model.ir_version = 10
    out = hetc.build(model, "cuda", tmp_path / "out", None, target_options={"arch": "sm_90"})
    cu = (out / "model.cu").read_text()
    assert "wgmma.mma_async.sync.aligned.m64n" in cu and "cp.async.bulk.tensor.2d" in cu
    assert re.search(r"else k\d+_gemm_mma<<<", cu)  # the fallback launch
    assert "ARCH ?= sm_90a" in (out / "Makefile").read_text()
    assert '"arch": "sm_90a"' in (out / "report.json").read_text()
    assert "elementwise<<<" not in cu  # no copy kernels for the io casts
    if not HAS_GPU:
        return
    x = rng.standard_normal((m, k)).astype(np.float16)
    want = ort_outputs(model, {"x": x})
    for tma in ("1", "0"):
        monkeypatch.setenv("HETC_CUDA_TMA", tma)
        got = hetc.Session(out).run({"x": x})
        _check([g.astype(np.float32) for g in got], [v.astype(np.float32) for v in want], 1e-2)


@pytest.mark.parametrize("tile", ["128x128x1", "128x64x2", "64x128x3", "64x64x4", "32x64x3", "64x32x1", "32x32x2",
                                  "64x64x1x3", "32x32x2x4", "32x64x1x5"])
def test_exact_fp32_gemm_tiles(tmp_path, monkeypatch, tile):
    """Every CUDA-core tile form (BM x BN, K split over KS groups of 256 threads and across S
    blocks; forced with HETC_CUDA_SIMT_TILE) on a MatMul + bias + ReLU with M, N, K multiples
    of nothing (edges, a K that leaves some groups or splits an empty last slice), and a 3-D
    A whose batch folds into M, then a second, smaller GEMM (a split one's partials must not
    land on the other's semaphores): bit-close to onnxruntime (fp32 tolerance). Split GEMMs
    run three times: their semaphores must be left ready for the next run, and the sums the
    same bit for bit whichever block of a tile comes last."""
    monkeypatch.setenv("HETC_CUDA_SIMT_TILE", tile)
    rng = np.random.default_rng(7)
    b, m, k, n = 3, 149, 203, 301
    w = onnx.numpy_helper.from_array((rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32), "w")
    bias = onnx.numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "bias")
    w2 = onnx.numpy_helper.from_array((rng.standard_normal((n, 40)) / np.sqrt(n)).astype(np.float32), "w2")
    nodes = [h.make_node("MatMul", ["x", "w"], ["p"]), h.make_node("Add", ["p", "bias"], ["a"]), h.make_node("Relu", ["a"], ["y"]),
             h.make_node("MatMul", ["y", "w2"], ["z"])]
    model = h.make_model(h.make_graph(nodes, "mm", [h.make_tensor_value_info("x", T.FLOAT, [b, m, k])],
                                      [h.make_tensor_value_info("y", T.FLOAT, [b, m, n]), h.make_tensor_value_info("z", T.FLOAT, [b, m, 40])],
                                      [w, bias, w2]),
                         opset_imports=[h.make_opsetid("", 17)])  # fmt: skip
    model.ir_version = 10
    out = hetc.build(model, "cuda", tmp_path / "out", None)
    cu = (out / "model.cu").read_text()
    bm, bn, ks, splits = (tile + "x1").split("x")[:4]
    assert f"{b * m} x {n} x {k} GEMM, {bm} x {bn} tiles, fp32" in cu  # the batch folded into M
    assert (f"K split over {ks} groups" in cu) == (ks != "1")
    assert (f"K split across {splits} blocks" in cu) == (splits != "1")
    if not HAS_GPU:
        return
    x = rng.standard_normal((b, m, k)).astype(np.float32)
    sess = hetc.Session(out)
    got = sess.run({"x": x})
    _check(got, ort_outputs(model, {"x": x}), TOL["fp32"])
    for _ in range(2):
        for again, first in zip(sess.run({"x": x}), got):
            np.testing.assert_array_equal(again, first)


@pytest.mark.parametrize("precision,m,k,n", [("fp32", 128, 1152, 512), ("tf32", 128, 1152, 512), ("fp16", 256, 2304, 128),
                                              ("bf16", 256, 2304, 128)])
def test_few_tile_gemms_split_k_across_blocks(tmp_path, precision, m, k, n):
    """A GEMM whose tiles cannot fill the SMs (ResNet-18's batch-32 layers 3-4) takes the
    CUDA-core tiles with K split across blocks at every precision: in float32, in place of
    too few tf32 tiles, and in place of the row-per-block form for 16-bit operands (read
    as stored, summed in float32); the same bits on every run, within the precision's
    tolerance of onnxruntime."""
    rng = np.random.default_rng(3)
    w = onnx.numpy_helper.from_array((rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32), "w")
    model = h.make_model(h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"])], "mm", [h.make_tensor_value_info("x", T.FLOAT, [m, k])],
                                      [h.make_tensor_value_info("y", T.FLOAT, [m, n])], [w]),
                         opset_imports=[h.make_opsetid("", 17)])  # fmt: skip
    model.ir_version = 10
    out = _build(model, tmp_path / "out", precision=precision)
    cu = (out / "model.cu").read_text()
    assert re.search(rf"{m} x {n} x {k} GEMM, \d+ x \d+ tiles, fp32, .*K split across \d blocks", cu)
    assert "HETC_WORK_FLOATS" in cu and "m->work, m->sems" in cu
    if not HAS_GPU:
        return
    x = rng.standard_normal((m, k)).astype(np.float32)
    sess = hetc.Session(out)
    got = sess.run({"x": x})
    _check(got, ort_outputs(model, {"x": x}), {**TOL, "fp16": 2e-2, "bf16": 5e-2}[precision])
    np.testing.assert_array_equal(sess.run({"x": x})[0], got[0])


def test_half_conversions_are_bit_exact(tmp_path):
    """The kernels' float32 -> float16 / bfloat16 stores (hetc_f16_rn / hetc_bf16_rn: the GPU's
    rounding, NaNs as NumPy / ml_dtypes cast them) against those casts, bit for bit: random
    bit patterns (NaNs with every payload, infinities, subnormals), every float16 value,
    every tie between neighbours and one ulp either side, overflow, both signs."""
    import ml_dtypes

    rng = np.random.default_rng(0)
    halves = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    grid = np.unique(halves[np.isfinite(halves)].astype(np.float64))
    mids = ((grid[1:] + grid[:-1]) / 2).astype(np.float32)
    xs = np.concatenate([
        rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32).view(np.float32), halves, mids,
        np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf)),
        np.array([65504, 65519.996, 65520, 1e9, np.inf, np.nan, 2.0**-25, 3 * 2.0**-26, 2.0**-149, 3.4e38], np.float32),
    ])  # fmt: skip
    xs = np.concatenate([xs, -xs])
    n = xs.size
    nodes = [h.make_node("Cast", ["x"], ["y"], to=T.FLOAT16), h.make_node("Cast", ["x"], ["z"], to=T.BFLOAT16)]
    model = h.make_model(h.make_graph(nodes, "casts", [h.make_tensor_value_info("x", T.FLOAT, [n])],
                                      [h.make_tensor_value_info("y", T.FLOAT16, [n]), h.make_tensor_value_info("z", T.BFLOAT16, [n])]),
                         opset_imports=[h.make_opsetid("", 17)])  # fmt: skip
    model.ir_version = 10
    out = hetc.build(model, "cuda", tmp_path / "out", None)
    assert "hetc_f16_rn(" in (out / "model.cu").read_text() and "hetc_bf16_rn(" in (out / "model.cu").read_text()
    if not HAS_GPU:
        return
    y, z = hetc.Session(out).run({"x": xs})
    with np.errstate(all="ignore"):
        want16, want_bf = xs.astype(np.float16).view(np.uint16), xs.astype(ml_dtypes.bfloat16).view(np.uint16)
    got16, got_bf = np.asarray(y).view(np.uint16), np.asarray(z).view(np.uint16)
    assert np.array_equal(got16, want16), int(np.sum(got16 != want16))
    assert np.array_equal(got_bf, want_bf), int(np.sum(got_bf != want_bf))


@pytest.mark.parametrize("precision,tile", [("fp16", "64x64x64x32x4"), ("fp16", "32x64x32x32x2"), ("tf32", "64x64x32x32x2"),
                                            ("bf16", "128x64x64x32x2")])
def test_tensor_core_tiles_with_k_groups(tmp_path, monkeypatch, precision, tile):
    """Tensor-core tiles whose K is split over 2 or 4 groups of warps in a block (forced with
    HETC_CUDA_MMA_TILE=BMxBNxWMxWN[xKS]): ragged M, N and a K whose last step leaves some
    groups without a tile, a bias + ReLU epilogue after the partial sums meet; a batched
    A x B^T (the form attention's scores take) too. Half-precision storage tolerance."""
    monkeypatch.setenv("HETC_CUDA_MMA_TILE", tile)
    monkeypatch.setenv("HETC_CUDA_WGMMA", "0")  # (Hopper would take the dense layer's half GEMM)
    rng = np.random.default_rng(11)
    m, k, n = 1201, 360, 200  # K: 12 or 23 tiles over 2 / 4 groups
    w = onnx.numpy_helper.from_array((rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32), "w")
    bias = onnx.numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "bias")
    # the GEMMs read intermediates (stored in half under fp16 / bf16: copied by cp.async)
    nodes = [h.make_node("Abs", [x], [f"{x}_"]) for x in ("x", "q", "kk")]
    nodes += [h.make_node("MatMul", ["x_", "w"], ["p"]), h.make_node("Add", ["p", "bias"], ["a"]), h.make_node("Relu", ["a"], ["y"]),
              h.make_node("Transpose", ["kk_"], ["kt"], perm=[0, 2, 1]), h.make_node("MatMul", ["q_", "kt"], ["s"])]
    inputs = [h.make_tensor_value_info("x", T.FLOAT, [m, k]), h.make_tensor_value_info("q", T.FLOAT, [2, 136, 96]),
              h.make_tensor_value_info("kk", T.FLOAT, [2, 168, 96])]
    outputs = [h.make_tensor_value_info("y", T.FLOAT, [m, n]), h.make_tensor_value_info("s", T.FLOAT, [2, 136, 168])]
    model = h.make_model(h.make_graph(nodes, "mm", inputs, outputs, [w, bias]), opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 10
    out = hetc.build(model, "cuda", tmp_path / "out", None, target_options={"precision": precision})
    cu = (out / "model.cu").read_text()
    ks = tile.split("x")[-1]
    gemms = [line for line in cu.splitlines() if "GEMM on the tensor cores" in line]
    assert len(gemms) == 2 and all(f"in each of {ks} K groups" in g for g in gemms), gemms
    assert f"{m} x {n} x {k} GEMM" in gemms[0] and "B K-major cp.async" in gemms[1]
    if not HAS_GPU:
        return
    feeds = {"x": rng.standard_normal((m, k)).astype(np.float32), "q": rng.standard_normal((2, 136, 96)).astype(np.float32),
             "kk": rng.standard_normal((2, 168, 96)).astype(np.float32)}
    _check(hetc.Session(out).run(feeds), ort_outputs(model, feeds), 2e-2)


@pytest.mark.parametrize("precision,tol", [("fp32", 1e-4), ("tf32", 1e-2), ("fp16", 2e-2)])
def test_attention_block_reads_k_transposed_in_place(tmp_path, precision, tol):
    """A timm-style attention block (130 tokens, 2 heads of 64): the scores' GEMM reads K
    itself as B^T (CUDA cores: loaded along k like A; tensor cores: K-major cp.async tiles
    and ldmatrix without .trans), no transpose or split kernels; matches onnxruntime."""
    from attention_model import attention_block

    model = attention_block(batch=4, tokens=130, heads=2, dim=64)
    # (unfused: at fp16 the attention would otherwise be one FlashAttention-style kernel)
    out = hetc.build(model, "cuda", tmp_path / "out", None, fuse_attention=False, target_options={"precision": precision})
    cu = (out / "model.cu").read_text()
    assert "_transpose(" not in cu and "_split" not in cu
    if precision != "fp32":
        assert re.search(r"130 x 130 x 64 GEMM on the tensor cores .*B K-major cp.async", cu)
    if not HAS_GPU:
        return
    x = np.random.default_rng(9).standard_normal((4, 130, 128)).astype(np.float32)
    _check(hetc.Session(out).run({"x": x}), ort_outputs(model, {"x": x}), tol)


def _flash_cases():
    from attention_model import attention_block
    from test_c_fusion import _attention_feeds, _attention_model

    rng = np.random.default_rng(4)
    # timm-style (K read in place, q * scale, heads merged by the store), 65 tokens: three
    # key tiles of 32, the last ragged; inputs x8 so the row max grows from tile to tile
    yield "timm65", attention_block(2, 65, 3, 64), {"x": 8 * rng.standard_normal((2, 65, 192)).astype(np.float32)}, "fp16"
    # head 40 (padded to 48), bfloat16
    yield "timm17_bf16", attention_block(1, 17, 2, 40), {"x": rng.standard_normal((1, 17, 80)).astype(np.float32)}, "bf16"
    # head 128, 130 keys: three tiles of 64
    yield "timm130", attention_block(1, 130, 1, 128), {"x": rng.standard_normal((1, 130, 128)).astype(np.float32)}, "fp16"
    # exporter-style: K^T materialized, a scale Div and a runtime mask Add per (batch, key)
    yield "masked72", _attention_model(72), _attention_feeds(72), "fp16"
    # head 12: rows of 24 bytes, not whole 16-byte chunks: every tile by element loads
    yield "timm20_head12", attention_block(2, 20, 2, 12), {"x": rng.standard_normal((2, 20, 24)).astype(np.float32)}, "fp16"


@pytest.mark.parametrize("case", list(_flash_cases()), ids=lambda c: c[0])
def test_flash_attention_kernels(case, tmp_path):
    """At fp16 / bf16 an attention group is one FlashAttention-style kernel by default (mma.sync
    scores, online softmax in registers, P.V from registers): no score buffer, no softmax or
    transpose kernel around it; matches onnxruntime within the 16-bit storage tolerance."""
    name, model, feeds, precision = case
    out = hetc.build(model, "cuda", tmp_path / "out", None, target_options={"precision": precision})
    cu = (out / "model.cu").read_text()
    [kernel] = re.findall(r"__global__ void __launch_bounds__\(\d+\) k\d+_attention\(.*?\n}\n", cu, re.DOTALL)
    assert "FlashAttention-2 style on the tensor cores" in kernel and f"hetc_mma_{'f16' if precision == 'fp16' else 'bf16'}(" in kernel
    assert "_fused_row" not in cu  # the softmax is inside
    if name.startswith("timm"):  # K, q * scale and the merged heads: read / written in place
        assert "_transpose(" not in cu and "_split" not in cu and "_elementwise(" not in cu
    assert ("hetc_cp_async16(" in kernel) == (name != "timm20_head12")  # else element loads
    if not HAS_GPU:
        return
    _check(hetc.Session(out).run(feeds), ort_outputs(model, feeds), 2e-2 if precision == "fp16" else 8e-2)
