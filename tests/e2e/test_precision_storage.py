"""fp16 / bf16 storage (hetc-narrow-storage, the C and CUDA targets' `precision` option)
end to end: generated C run against onnxruntime on the float32 model, the arena and the
weights file about halved, io kept float32, unknown precisions rejected cleanly, and the
CUDA target's fp16 code compiled by nvcc (run only where a GPU is present); a float16
ONNX model gets f16 storage without being asked (hetc-lift-narrow-floats + auto).

Tolerances (max|hetc - ort| <= tol * max|ort| per output; intermediates and weights are
rounded once per store, compute and accumulation stay float32): fp16 1e-2, bf16 5e-2.
Measured here (max over seeds 0-2, relative to max|ort|): examples/cnn.onnx fp16 2.2e-4 /
bf16 4.5e-3, transformer_block fp16 6.4e-4 / bf16 4.8e-3, the mixed graph below fp16 2.0e-3 /
bf16 1.2e-2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import hetc
from hetc.diagnostics import HetcError
from cuda_check import HAS_GPU, HAS_NVCC
from ort_check import ort_outputs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOL = {"fp16": 1e-2, "bf16": 5e-2}


def build_mixed(seed: int = 0) -> onnx.ModelProto:
    """Conv + BatchNorm + ReLU, max and average pools, Concat, Split, Reshape, Transpose,
    Gather (int64 indices), LayerNormalization, MatMul with a weight, Softmax and an
    activation x activation MatMul: one graph over most kinds of kernels the lowering makes."""
    rng = np.random.default_rng(seed)

    def f32(*shape, scale=0.3, offset=0.0):
        return (offset + scale * rng.standard_normal(shape)).astype(np.float32)

    inits = {
        "W1": f32(8, 4, 3, 3), "B1": f32(8, scale=0.1), "bn_s": f32(8, scale=0.1, offset=1.0),
        "bn_b": f32(8, scale=0.1), "bn_m": f32(8, scale=0.1), "bn_v": (1 + 0.1 * rng.random(8)).astype(np.float32),
        "split": np.array([8, 8], np.int64), "shape": np.array([1, 8, 16], np.int64),
        "idx": np.arange(0, 16, 2, dtype=np.int64), "gamma": f32(8, scale=0.1, offset=1.0), "beta": f32(8, scale=0.1),
        "W2": f32(8, 8),
    }  # fmt: skip
    nodes = [
        h.make_node("Conv", ["x", "W1", "B1"], ["c1"], name="conv", pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn"], name="bn"),
        h.make_node("Relu", ["bn"], ["r"], name="relu"),
        h.make_node("MaxPool", ["r"], ["mp"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("AveragePool", ["r"], ["ap"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Concat", ["mp", "ap"], ["cat"], name="concat", axis=1),
        h.make_node("Split", ["cat", "split"], ["s1", "s2"], name="split", axis=1),
        h.make_node("Add", ["s1", "s2"], ["add"], name="add"),
        h.make_node("Reshape", ["add", "shape"], ["rs"], name="reshape"),
        h.make_node("Transpose", ["rs"], ["tr"], name="transpose", perm=[0, 2, 1]),
        h.make_node("Gather", ["tr", "idx"], ["g"], name="gather", axis=1),
        h.make_node("LayerNormalization", ["g", "gamma", "beta"], ["ln"], name="layernorm", axis=-1),
        h.make_node("MatMul", ["ln", "W2"], ["mm"], name="matmul"),
        h.make_node("Softmax", ["mm"], ["sm"], name="softmax", axis=-1),
        h.make_node("MatMul", ["sm", "ln"], ["y"], name="pv"),
    ]
    graph = h.make_graph(
        nodes, "mixed", [h.make_tensor_value_info("x", T.FLOAT, [1, 4, 8, 8])],
        [h.make_tensor_value_info("y", T.FLOAT, [1, 8, 8])], [nh.from_array(v, k) for k, v in inits.items()],
    )  # fmt: skip
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 10
    return model


MODELS = {
    "cnn": lambda: str(EXAMPLES / "cnn.onnx"),
    "transformer_block": lambda: str(EXAMPLES / "transformer_block.onnx"),
    "mixed": build_mixed,
}
_BUILT: dict[tuple[str, str], Path] = {}


def _built(name: str, precision: str, tmp_root: Path) -> Path:
    """The C target's output folder for (model, precision), built once per session."""
    key = (name, precision)
    if key not in _BUILT:
        _BUILT[key] = hetc.build(
            MODELS[name](), "c", tmp_root / f"{name}-{precision}", target_options={"precision": precision}
        )
    return _BUILT[key]


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("precision")


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
@pytest.mark.parametrize("name", list(MODELS))
def test_c_target_narrow_storage_matches_onnxruntime(name, precision, tmp_root):
    out = _built(name, precision, tmp_root)
    sess = hetc.Session(out)
    model = MODELS[name]()
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        feeds = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}
        got, want = sess.run(feeds), ort_outputs(model, feeds)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype == np.float32 and g.shape == w.shape  # io stays float32
            err = float(np.max(np.abs(g - w)))
            assert err <= TOL[precision] * float(np.max(np.abs(w))), (name, precision, seed, err)
    assert all(s["dtype"] == "float32" for s in sess.manifest["inputs"] + sess.manifest["outputs"])
    report = json.loads((out / "report.json").read_text())["narrow_storage"]
    assert report["type"] == {"fp16": "f16", "bf16": "bf16"}[precision] and report["buffers_narrowed"] > 0
    assert set(report["io_types"].values()) == {"f32"}


def test_fp16_onnx_model_gets_f16_storage_by_default(tmp_path):
    """A float16 ONNX model (weights and io): hetc-lift-narrow-floats computes it in float32
    and names f16 as its storage, hetc-narrow-storage (auto) narrows the intermediates again;
    io stays float16 as the model declares it."""
    model = build_mixed()
    for i, init in enumerate(model.graph.initializer):
        a = nh.to_array(init)
        if a.dtype == np.float32:
            model.graph.initializer[i].CopyFrom(nh.from_array(a.astype(np.float16), init.name))
    for v in [*model.graph.input, *model.graph.output]:
        v.type.tensor_type.elem_type = T.FLOAT16
    out = hetc.build(model, "c", tmp_path / "out")
    report = json.loads((out / "report.json").read_text())
    assert report["c"]["precision"] == "fp16" and report["narrow_storage"]["type"] == "f16"
    assert report["narrow_storage"]["buffers_narrowed"] > 0 and report["narrow_storage"]["io_types"] == {"x": "f16", "y": "f16"}
    x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float16)
    got, want = hetc.Session(out).run({"x": x})[0], ort_outputs(model, {"x": x})[0]
    assert got.dtype == np.float16
    err = float(np.max(np.abs(got.astype(np.float32) - want.astype(np.float32))))
    assert err <= TOL["fp16"] * float(np.max(np.abs(want.astype(np.float32)))), err


@pytest.mark.parametrize("name", list(MODELS))
def test_arena_and_weights_about_halve(name, tmp_root):
    full, half = _built(name, "fp32", tmp_root), _built(name, "fp16", tmp_root)
    r32, r16 = (json.loads((d / "report.json").read_text()) for d in (full, half))
    assert r32["narrow_storage"] is None and r32["c"]["precision"] == "fp32"
    ns = r16["narrow_storage"]
    assert ns["type"] == "f16" and r16["c"]["precision"] == "fp16"
    assert ns["buffers_narrowed"] > 0 and ns["weights_narrowed"] > 0
    assert ns["buffer_bytes"] * 2 == ns["buffer_bytes_f32"] and ns["bytes_saved"] > 0
    # the arena: hetc-plan-memory packs the smaller buffers (64-byte alignment: about half)
    a32, a16 = r32["memory"]["arena_bytes"], r16["memory"]["arena_bytes"]
    assert a16 < a32 and a16 <= 0.55 * a32, (a16, a32)
    w32, w16 = ((d / "weights.bin").stat().st_size for d in (full, half))
    assert w16 <= 0.6 * w32, (w16, w32)
    # the generated C keeps float32 io and stores intermediates as bit patterns
    src = (half / "model.c").read_text()
    assert "hetc_sf16_from_f32" in src and "hetc_sf16_to_f32" in src  # the storage conversions
    assert "const float* in0" in (half / "model.h").read_text()


def test_c_storage_conversions_are_bit_exact(tmp_path):
    """The C target's fast f16/bf16 storage conversions (backends/c/target.py STORAGE_HELPERS)
    against NumPy's float16 and ml_dtypes' bfloat16 casts: every 16-bit pattern to float32,
    and float32 to 16 bits on random bit patterns (NaNs, infinities, subnormals included),
    every float16 value, every midpoint between neighbours (ties) and one ulp either side."""
    import ctypes
    import shutil

    import ml_dtypes

    from hetc.backends.c.target import STORAGE_HELPERS

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "conv.c"
    src.write_text("#include <stdint.h>\n#include <string.h>\n#include <math.h>\n" + "\n".join(STORAGE_HELPERS.values()) + "".join(
        f"\nvoid {n}_v(const {a}* restrict x, {b}* restrict y, long n) {{ for (long i = 0; i < n; i++) y[i] = {n}(x[i]); }}"
        for n, a, b in (("hetc_sf16_from_f32", "float", "uint16_t"), ("hetc_sf16_to_f32", "uint16_t", "float"),
                        ("hetc_sbf16_from_f32", "float", "uint16_t"), ("hetc_sbf16_to_f32", "uint16_t", "float"))))  # fmt: skip
    lib_path = tmp_path / "conv.so"
    subprocess.run([cc, "-O3", "-march=native", "-std=c99", "-fPIC", "-shared", "-ffp-contract=fast", "-o", str(lib_path), str(src)],
                   check=True, capture_output=True)  # fmt: skip
    lib = ctypes.CDLL(str(lib_path))

    def call(name, x, out_dtype):
        x, y = np.ascontiguousarray(x), np.empty(np.shape(x), out_dtype)
        getattr(lib, f"{name}_v")(ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(y.ctypes.data), ctypes.c_long(x.size))
        return y

    bits16 = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    for name, dtype in (("hetc_sf16_to_f32", np.float16), ("hetc_sbf16_to_f32", ml_dtypes.bfloat16)):
        want = bits16.view(dtype).astype(np.float32).view(np.uint32)
        np.testing.assert_array_equal(call(name, bits16, np.float32).view(np.uint32), want)
    rng = np.random.default_rng(0)
    halves = bits16.view(np.float16).astype(np.float32)
    grid = np.unique(halves[np.isfinite(halves)].astype(np.float64))
    mids = ((grid[1:] + grid[:-1]) / 2).astype(np.float32)  # exact in float32: the ties
    xs = np.concatenate([
        rng.integers(0, 2**32, 300_000, dtype=np.uint64).astype(np.uint32).view(np.float32), halves, mids,
        np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf)),
        np.array([65504, 65519.996, 65520, 1e9, np.inf, np.nan, 2.0**-25, 3 * 2.0**-26, 2.0**-149], np.float32),
    ])  # fmt: skip
    xs = np.concatenate([xs, -xs])
    for name, dtype in (("hetc_sf16_from_f32", np.float16), ("hetc_sbf16_from_f32", ml_dtypes.bfloat16)):
        with np.errstate(all="ignore"):
            want = xs.astype(dtype).view(np.uint16)
        got = call(name, xs, np.uint16)
        assert np.array_equal(got, want), (name, int(np.sum(got != want)))


def _hetc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hetc.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip


@pytest.mark.parametrize("target,bad", [("c", "fp8"), ("cuda", "int8"), ("c", "tf32")])
def test_unknown_precision_is_a_clean_error(target, bad, tmp_path):
    out = tmp_path / "out"
    proc = _hetc("compile", str(EXAMPLES / "cnn.onnx"), "--target", target, "--precision", bad, "-o", str(out), cwd=tmp_path)
    assert proc.returncode != 0
    assert f"precision '{bad}'" in proc.stderr and "fp16" in proc.stderr and "bf16" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    with pytest.raises(HetcError, match=r"\(valid: fp32, "):
        hetc.build(EXAMPLES / "cnn.onnx", target, tmp_path / "api-out", target_options={"precision": bad, "build": False}
                   if target == "cuda" else {"precision": bad})
    assert not (tmp_path / "api-out").exists()


def test_cli_run_check_fp16(tmp_path):
    proc = _hetc("run", str(EXAMPLES / "cnn.onnx"), "--target", "c", "--precision", "fp16", "--check", "--tolerance", "1e-2",
                 cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "check against onnxruntime" in proc.stdout


def test_cli_run_check_tolerance_follows_the_precision(tmp_path):
    """Without --tolerance, --check uses the precision's: 1e-2 for fp16 storage, 1e-4 exact."""
    fp16 = _hetc("run", str(EXAMPLES / "cnn.onnx"), "--target", "c", "--precision", "fp16", "--check", cwd=tmp_path)
    assert fp16.returncode == 0, fp16.stderr + fp16.stdout
    assert "tolerance 0.01 x max|ref|" in fp16.stdout
    exact = _hetc("run", str(EXAMPLES / "cnn.onnx"), "--target", "c", "--check", cwd=tmp_path)
    assert exact.returncode == 0 and "tolerance 0.0001 x max|ref|" in exact.stdout


# -- CUDA: nvcc compiles the fp16/bf16 code here; it runs where a GPU is (the device machine) --

@pytest.mark.skipif(not HAS_NVCC, reason="no nvcc")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_narrow_storage_compiles(precision, tmp_path):
    out = hetc.build(EXAMPLES / "transformer_block.onnx", "cuda", tmp_path / "out", target_options={"precision": precision})
    assert (out / "libmodel.so").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["cuda"]["precision"] == precision
    assert report["narrow_storage"]["type"] == {"fp16": "f16", "bf16": "bf16"}[precision]
    assert report["narrow_storage"]["buffers_narrowed"] > 0
    src = (out / "model.cu").read_text()
    assert "const uint16_t*" in src  # kernels read narrowed buffers (their bits); how they convert is the printer's
    if not HAS_GPU:
        pytest.skip("no CUDA GPU here: compiled only")
    sess = hetc.Session(out)
    rng = np.random.default_rng(0)
    feeds = {s["name"]: rng.standard_normal(s["shape"]).astype(s["dtype"]) for s in sess.manifest["inputs"]}
    got, want = sess.run(feeds), ort_outputs(str(EXAMPLES / "transformer_block.onnx"), feeds)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        assert float(np.max(np.abs(g - w))) <= TOL[precision] * float(np.max(np.abs(w)))


def test_partitioned_build_takes_the_precision(tmp_path):
    """--targets passes --precision to the partitions whose target takes it."""
    proc = _hetc("run", str(EXAMPLES / "cnn.onnx"), "--targets", "cpu", "--precision", "fp16", "--check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "tolerance 0.01 x max|ref|" in proc.stdout
    out = tmp_path / "parts"
    built = _hetc("compile", str(EXAMPLES / "cnn.onnx"), "--targets", "cpu", "--precision", "bf16", "-o", str(out), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    reports = [json.loads(p.read_text()) for p in out.glob("*/report.json")]
    assert reports and all(r["narrow_storage"]["type"] == "bf16" for r in reports)
