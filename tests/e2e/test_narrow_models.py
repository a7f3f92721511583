"""float16 / bfloat16 ONNX models compiled for the C (and CUDA, NPU) targets.

`hetc-lift-narrow-floats` lifts a narrow graph to float32 compute (f16/bf16 weights become
exact f32 weights, the graph's inputs and outputs keep their narrow types, explicit Casts to
a narrow type stay roundings). The checks, per output:

- the output's dtype is the model's (a float16 output comes back float16);
- against onnxruntime on the *same* fp16 model (onnxruntime's CPU kernels for fp16 round
  between ops): max|hetc - ort| <= 1e-2 * max|ort|;
- against onnxruntime on the model converted to float32 with the same (rounded) weights and
  inputs, i.e. the exact f32 computation hetc is meant to do before its outputs are rounded:
  max|hetc - ref| <= 1e-2 * max|ref| (f16) and 4e-2 (bf16: 8-bit mantissa); onnxruntime's
  CPU has no bfloat16 kernels, so this is the bf16 reference;
- bfloat16 models onnxruntime cannot run at all: hetc's NumPy target (native bf16 through
  ml_dtypes, rounding after every op) against hetc's C target, same tolerance.

Measured here (with hetc-narrow-storage{type=auto} storing intermediates and weights in the
model's type; `PYTHONPATH=tests/e2e:. python tests/e2e/test_narrow_models.py` prints them):
f16 graphs <= 4.7e-4 x max|ref| against either reference, bf16 <= 3.0e-3, the torch half
exports <= 5.4e-4; well inside the bounds. Naming zoo models runs their `model.half()`
exports too (`... test_narrow_models.py resnet18 vit_tiny bert_mini`).
"""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

import hetc
from cuda_check import HAS_NVCC
from ort_check import ort_outputs

#: kind -> (ONNX element type, NumPy dtype, tolerance as a fraction of max|ref|)
NARROW = {"f16": (T.FLOAT16, np.dtype(np.float16), 1e-2), "bf16": (T.BFLOAT16, np.dtype(ml_dtypes.bfloat16), 4e-2)}
OPSET = 18


# ---------------------------------------------------------------------------------------
# Converting a float32 model to float16 / bfloat16 (what onnxconverter's float16 tool does)
# ---------------------------------------------------------------------------------------


def to_narrow(model: onnx.ModelProto, kind: str) -> onnx.ModelProto:
    """The model with every float32 tensor in `kind`: initializers (rounded to nearest even),
    graph inputs/outputs/value_info, Cast targets, Constant/ConstantOfShape values and
    dtype attributes. Integer tensors are untouched."""
    code, dtype, _ = NARROW[kind]
    m = copy.deepcopy(model)
    g = m.graph
    for init in g.initializer:
        if init.data_type == T.FLOAT:
            init.CopyFrom(nh.from_array(nh.to_array(init).astype(dtype), init.name))
    for vi in [*g.input, *g.output, *g.value_info]:
        if vi.type.tensor_type.elem_type == T.FLOAT:
            vi.type.tensor_type.elem_type = code
    for node in g.node:
        for a in list(node.attribute):
            if a.name in ("to", "dtype") and a.type == onnx.AttributeProto.INT and a.i == T.FLOAT:
                a.i = code
            elif a.type == onnx.AttributeProto.TENSOR and a.t.data_type == T.FLOAT:
                a.t.CopyFrom(nh.from_array(nh.to_array(a.t).astype(dtype), a.t.name))
            elif node.op_type == "Constant" and a.name in ("value_float", "value_floats"):
                values = np.array(a.f if a.name == "value_float" else list(a.floats), np.float32).astype(dtype)
                node.attribute.remove(a)
                node.attribute.append(h.make_attribute("value", nh.from_array(values)))
    return m


def rounded_f32(model: onnx.ModelProto, kind: str) -> onnx.ModelProto:
    """The float32 model computing what the narrow model computes without its roundings:
    initializers rounded through `kind` and stored as float32 again."""
    dtype = NARROW[kind][1]
    m = copy.deepcopy(model)
    for init in m.graph.initializer:
        if init.data_type == T.FLOAT:
            init.CopyFrom(nh.from_array(nh.to_array(init).astype(dtype).astype(np.float32), init.name))
    return m


def _model(nodes, inputs, outputs, inits=()) -> onnx.ModelProto:
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", OPSET)])
    m.ir_version = 10
    return m


def _vi(name: str, shape, elem=T.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def _init(rng, name: str, shape, scale: float = 1.0, offset: float = 0.0):
    return nh.from_array((offset + scale * rng.standard_normal(shape)).astype(np.float32), name)


# ---------------------------------------------------------------------------------------
# Graphs (float32, converted per test): name -> (model, float32 feeds)
# ---------------------------------------------------------------------------------------


def g_mlp(rng):
    m = _model([h.make_node("MatMul", ["x", "W"], ["y"]), h.make_node("Add", ["y", "b"], ["z"]),
                h.make_node("Relu", ["z"], ["out"])],
               [_vi("x", [4, 16])], [_vi("out", [4, 8])], [_init(rng, "W", [16, 8], 0.3), _init(rng, "b", [8])])
    return m, {"x": rng.standard_normal((4, 16))}


def g_gemm(rng):
    m = _model([h.make_node("Gemm", ["x", "W", "b"], ["out"], transB=1, alpha=0.5)],
               [_vi("x", [3, 24])], [_vi("out", [3, 10])], [_init(rng, "W", [10, 24], 0.3), _init(rng, "b", [10])])
    return m, {"x": rng.standard_normal((3, 24))}


def g_cnn(rng):
    nodes = [
        h.make_node("Conv", ["x", "W", "cb"], ["c"], pads=[1, 1, 1, 1]),
        h.make_node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["n"]),
        h.make_node("Relu", ["n"], ["r"]),
        h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("GlobalAveragePool", ["p"], ["out"]),
    ]
    inits = [_init(rng, "W", [8, 3, 3, 3], 0.3), _init(rng, "cb", [8], 0.1), _init(rng, "s", [8], 0.1, 1.0),
             _init(rng, "bb", [8], 0.1), _init(rng, "mu", [8], 0.1),
             nh.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "var")]
    return _model(nodes, [_vi("x", [1, 3, 10, 10])], [_vi("out", [1, 8, 1, 1])], inits), {"x": rng.standard_normal((1, 3, 10, 10))}


def g_layernorm(rng):
    m = _model([h.make_node("LayerNormalization", ["x", "gamma", "beta"], ["out"], axis=-1, epsilon=1e-5)],
               [_vi("x", [4, 32])], [_vi("out", [4, 32])], [_init(rng, "gamma", [32], 0.1, 1.0), _init(rng, "beta", [32], 0.1)])
    return m, {"x": 3.0 + 2.0 * rng.standard_normal((4, 32))}


def g_softmax(rng):
    m = _model([h.make_node("Softmax", ["x"], ["out"], axis=-1)], [_vi("x", [4, 32])], [_vi("out", [4, 32])])
    return m, {"x": 3.0 * rng.standard_normal((4, 32))}


def g_reducemean(rng):
    axes = nh.from_array(np.array([1], np.int64), "axes")
    m = _model([h.make_node("ReduceMean", ["x", "axes"], ["out"], keepdims=0)], [_vi("x", [3, 50, 7])],
               [_vi("out", [3, 7])], [axes])
    return m, {"x": 1.0 + rng.standard_normal((3, 50, 7))}


def g_gather(rng):
    m = _model([h.make_node("Gather", ["table", "ids"], ["e"], axis=0), h.make_node("Mul", ["e", "scale"], ["out"])],
               [_vi("ids", [2, 5], T.INT64), _vi("scale", [16])], [_vi("out", [2, 5, 16])], [_init(rng, "table", [50, 16])])
    return m, {"ids": rng.integers(0, 50, (2, 5)), "scale": rng.standard_normal(16)}


def g_movement(rng):
    shape = nh.from_array(np.array([2, 24], np.int64), "shape")
    split = nh.from_array(np.array([20, 28], np.int64), "split")
    nodes = [
        h.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        h.make_node("Reshape", ["t", "shape"], ["r"]),
        h.make_node("Concat", ["r", "y"], ["c"], axis=1),
        h.make_node("Split", ["c", "split"], ["a", "b"], axis=1),
        h.make_node("Neg", ["b"], ["nb"]),
    ]
    m = _model(nodes, [_vi("x", [2, 6, 4]), _vi("y", [2, 24])], [_vi("a", [2, 20]), _vi("nb", [2, 28])], [shape, split])
    return m, {"x": rng.standard_normal((2, 6, 4)), "y": rng.standard_normal((2, 24))}


GRAPHS: dict[str, Callable] = {
    "mlp": g_mlp, "gemm_transB": g_gemm, "conv_bn_relu_pools": g_cnn, "layernorm": g_layernorm,
    "softmax": g_softmax, "reducemean": g_reducemean, "gather": g_gather, "concat_split_transpose_reshape": g_movement,
}


# ---------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------


def rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max|got - want| / max|want| in float64."""
    g, w = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(g - w)) / max(float(np.max(np.abs(w))), 1e-30))


def check(got, want, tol: float, dtypes) -> list[float]:
    errors = []
    for g, w, dt in zip(got, want, dtypes, strict=True):
        assert g.dtype == dt, f"output dtype {g.dtype}, the model's is {dt}"
        assert g.shape == w.shape
        errors.append(rel_error(g, w))
        assert errors[-1] <= tol, f"max|err| = {errors[-1]:.3g} x max|ref| > {tol}"
    return errors


def narrow_feeds(model: onnx.ModelProto, feeds: dict, kind: str) -> dict:
    """Feeds in the narrow model's input types (floats rounded to `kind`)."""
    dtype = NARROW[kind][1]
    types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    return {k: np.asarray(v).astype(dtype) if types[k] == T.FLOAT else np.asarray(v) for k, v in feeds.items()}


def output_dtypes(model: onnx.ModelProto) -> list[np.dtype]:
    return [onnx.helper.tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type) for o in model.graph.output]


def compare_with_references(narrow: onnx.ModelProto, wide: onnx.ModelProto, feeds: dict, kind: str, target: str = "c") -> dict:
    """Compile `narrow` for `target`, run it on `feeds` rounded to `kind`, check it against
    onnxruntime (on `narrow` itself for f16, on `wide` with the rounded inputs for both)."""
    tol = NARROW[kind][2]
    nfeeds = narrow_feeds(wide, feeds, kind)
    got = hetc.compile(narrow, target=target).run(nfeeds)
    errors = {}
    wfeeds = {k: v.astype(np.float32) if v.dtype == NARROW[kind][1] else v for k, v in nfeeds.items()}
    errors["vs ort f32 (rounded weights, inputs)"] = check(got, ort_outputs(rounded_f32(wide, kind), wfeeds), tol,
                                                            output_dtypes(narrow))
    if kind == "f16":
        errors["vs ort f16"] = check(got, ort_outputs(narrow, nfeeds), tol, output_dtypes(narrow))
    return errors


# ---------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["f16", "bf16"])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_narrow_graph_on_c_matches_onnxruntime(name, kind):
    wide, feeds = GRAPHS[name](np.random.default_rng(0))
    compare_with_references(to_narrow(wide, kind), wide, feeds, kind)


def _rounding_model(kind: str) -> onnx.ModelProto:
    """x (narrow) -> Cast f32 -> Mul by (1 + eps) -> Cast narrow -> Cast f32 -> Sub x -> out (f32),
    plus Add(rounded, x) as a narrow output. eps is below half an ulp of the narrow type, so
    the explicit rounding gives back x exactly: `out` is 0 only if the rounding is kept."""
    code, _, _ = NARROW[kind]
    eps = 2.0 ** -13 if kind == "f16" else 2.0 ** -10
    nodes = [
        h.make_node("Cast", ["x"], ["xf"], to=T.FLOAT),
        h.make_node("Mul", ["xf", "k"], ["scaled"]),
        h.make_node("Cast", ["scaled"], ["r"], to=code),
        h.make_node("Cast", ["r"], ["rf"], to=T.FLOAT),
        h.make_node("Sub", ["rf", "xf"], ["out"]),
        h.make_node("Add", ["r", "x"], ["twice"]),
    ]
    k = nh.from_array(np.array([1.0 + eps], np.float32), "k")
    return _model(nodes, [_vi("x", [64], code)], [_vi("out", [64]), _vi("twice", [64], code)], [k])


@pytest.mark.parametrize("kind", ["f16", "bf16"])
def test_cast_to_narrow_inside_the_graph_stays_a_rounding(kind):
    model = _rounding_model(kind)
    x = np.random.default_rng(1).uniform(0.5, 4.0, 64).astype(NARROW[kind][1])
    out, twice = hetc.compile(model, target="c").run({"x": x})
    assert out.dtype == np.float32 and twice.dtype == NARROW[kind][1]
    assert np.all(out == 0.0), "the Cast to the narrow type no longer rounds"
    np.testing.assert_array_equal(twice.astype(np.float32), (x.astype(np.float32) * 2).astype(NARROW[kind][1]).astype(np.float32))
    if kind == "f16":
        ref_out, ref_twice = ort_outputs(model, {"x": x})
        np.testing.assert_array_equal(out, ref_out)
        np.testing.assert_array_equal(twice, ref_twice)


def test_mixed_model_f32_io_and_f32_layernorm():
    """What onnxconverter's float16 conversion writes with keep_io_types and an op blocked to
    float32: f32 input -> Cast f16 -> MatMul (f16 weights) -> Cast f32 -> LayerNormalization
    (f32) -> Cast f16 -> Relu -> Cast f32 -> f32 output; plus the f16 MatMul result and the
    f16 input passed straight through as outputs. Checked against onnxruntime on this model."""
    rng = np.random.default_rng(4)
    nodes = [
        h.make_node("Cast", ["x"], ["xh"], to=T.FLOAT16),
        h.make_node("MatMul", ["xh", "W"], ["mh"]),
        h.make_node("Cast", ["mh"], ["m"], to=T.FLOAT),
        h.make_node("LayerNormalization", ["m", "g", "b"], ["ln"], axis=-1),
        h.make_node("Cast", ["ln"], ["lnh"], to=T.FLOAT16),
        h.make_node("Relu", ["lnh"], ["rh"]),
        h.make_node("Cast", ["rh"], ["out"], to=T.FLOAT),
    ]
    inits = [nh.from_array((0.3 * rng.standard_normal((16, 24))).astype(np.float16), "W"),
             _init(rng, "g", [24], 0.1, 1.0), _init(rng, "b", [24], 0.1)]
    model = _model(nodes, [_vi("x", [4, 16]), _vi("skip", [4, 3], T.FLOAT16)],
                   [_vi("out", [4, 24]), _vi("mh", [4, 24], T.FLOAT16), _vi("skip", [4, 3], T.FLOAT16)], inits)
    feeds = {"x": rng.standard_normal((4, 16)).astype(np.float32), "skip": rng.standard_normal((4, 3)).astype(np.float16)}
    got = hetc.compile(model, target="c").run(feeds)
    check(got, ort_outputs(model, feeds), NARROW["f16"][2], output_dtypes(model))
    np.testing.assert_array_equal(got[2], feeds["skip"])


def test_bf16_model_onnxruntime_cannot_run_numpy_vs_c():
    """A small transformer-style bf16 graph (MatMul, Softmax, LayerNormalization, Erf-GELU):
    onnxruntime's CPU has no bf16 kernels; hetc's NumPy target (native bf16, rounding after
    every op) is the reference for the C target (f32 compute)."""
    rng = np.random.default_rng(2)
    nodes = [
        h.make_node("MatMul", ["x", "Wq"], ["q"]),
        h.make_node("MatMul", ["x", "Wk"], ["k"]),
        h.make_node("Transpose", ["k"], ["kt"], perm=[1, 0]),
        h.make_node("MatMul", ["q", "kt"], ["s"]),
        h.make_node("Softmax", ["s"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "x"], ["a"]),
        h.make_node("Add", ["a", "x"], ["res"]),
        h.make_node("LayerNormalization", ["res", "g", "b"], ["ln"], axis=-1),
        h.make_node("Div", ["ln", "sqrt2"], ["d"]), h.make_node("Erf", ["d"], ["e"]),
        h.make_node("Add", ["e", "one"], ["e1"]), h.make_node("Mul", ["ln", "e1"], ["g1"]),
        h.make_node("Mul", ["g1", "half"], ["out"]),
    ]
    inits = [_init(rng, "Wq", [16, 16], 0.25), _init(rng, "Wk", [16, 16], 0.25), _init(rng, "g", [16], 0.1, 1.0),
             _init(rng, "b", [16], 0.1), nh.from_array(np.array(np.sqrt(2.0), np.float32), "sqrt2"),
             nh.from_array(np.array(1.0, np.float32), "one"), nh.from_array(np.array(0.5, np.float32), "half")]
    model = to_narrow(_model(nodes, [_vi("x", [8, 16])], [_vi("out", [8, 16])], inits), "bf16")
    x = rng.standard_normal((8, 16)).astype(ml_dtypes.bfloat16)
    ref = hetc.compile(model, target="numpy").run({"x": x})
    got = hetc.compile(model, target="c").run({"x": x})
    check(got, ref, NARROW["bf16"][2], output_dtypes(model))
    try:  # (onnxruntime 1.31's CPU has no bf16 MatMul; should a later one have it, check against it too)
        ort = ort_outputs(model, {"x": x})
    except Exception:  # noqa: BLE001 - NOT_IMPLEMENTED today
        return
    check(got, ort, NARROW["bf16"][2], output_dtypes(model))


def test_storage_attribute_names_the_type_of_most_float_bytes():
    """f16 graph -> "f16"; bf16 graph -> "bf16"; an f32 graph with one small f16 rounding is
    lifted (it compiles) but records no narrow storage; an f32 graph is left alone."""
    from hetc.api import compile_module
    from xdsl.dialects.builtin import TensorType, bf16, f16

    from hetc.passes.lift_narrow_floats import LIFTED_ATTR, NARROW_STORAGE_ATTR, lift_narrow_floats
    from hetc.passes.verify_shapes import verify_shapes

    wide, _ = g_mlp(np.random.default_rng(0))
    for kind in ("f16", "bf16"):
        module = compile_module(to_narrow(wide, kind))
        assert lift_narrow_floats(module) == kind
        assert module.attributes[NARROW_STORAGE_ATTR].data == kind
        verify_shapes(module)  # the lifted graph is still valid ONNX, types and shapes
        narrow = [op for op in module.walk() for v in op.results
                  if isinstance(v.type, TensorType) and v.type.get_element_type() in (f16, bf16)]
        assert [op.name for op in narrow] == ["onnx.Cast"]  # only the output's Cast down
    small = _model([h.make_node("MatMul", ["x", "W"], ["y"]), h.make_node("Cast", ["y"], ["r"], to=T.FLOAT16),
                    h.make_node("Cast", ["r"], ["out"], to=T.FLOAT)],
                   [_vi("x", [4, 16])], [_vi("out", [4, 8])], [_init(np.random.default_rng(0), "W", [16, 8])])
    module = compile_module(small)
    assert lift_narrow_floats(module) is None
    verify_shapes(module)
    assert LIFTED_ATTR in module.attributes and NARROW_STORAGE_ATTR not in module.attributes
    module = compile_module(wide)
    assert lift_narrow_floats(module) is None and LIFTED_ATTR not in module.attributes


# -- real exports: torch model.half() on the CPU --------------------------------------------


def _torch_models():
    import torch

    from tests.models import zoo

    nn = torch.nn

    class ConvNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
            self.c2, self.fc = nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.Linear(16, 10)

        def forward(self, x):
            x = nn.functional.max_pool2d(torch.relu(self.bn(self.c1(x))), 2)
            return self.fc(torch.relu(self.c2(x)).mean((2, 3)))

    return {
        "mlp": (lambda: nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 10)), (4, 32)),
        "convnet": (ConvNet, (1, 3, 16, 16)),
        "transformer_encoder": (lambda: zoo.build_torch_transformer(d=32, nhead=4, ff=64, layers=1), (2, 8, 32)),
    }


def export_half(name: str, path: Path) -> Path:
    """torch `model.half()` exported by the TorchScript exporter (CPU, random weights)."""
    import torch

    from tests.models import zoo

    build, shape = _torch_models()[name]
    torch.manual_seed(0)
    model = zoo._randomize_bn(build()).eval().half()
    x = torch.randn(*shape).half()
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # (the fused encoder kernel does not export)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"], opset_version=17, dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return path


@pytest.mark.parametrize("name", ["mlp", "convnet", "transformer_encoder"])
def test_torch_half_export_on_c(name, tmp_path):
    pytest.importorskip("torch")
    path = export_half(name, tmp_path / f"{name}.onnx")
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == T.FLOAT16
    x = np.random.default_rng(3).standard_normal(_torch_models()[name][1]).astype(np.float16)
    (got,) = hetc.compile(path, target="c").run({"x": x})
    (ref,) = ort_outputs(model, {"x": x})
    check([got], [ref], NARROW["f16"][2], [np.dtype(np.float16)])


# -- other targets ------------------------------------------------------------------------------


@pytest.mark.skipif(not HAS_NVCC, reason="no nvcc")
def test_cuda_f16_model_builds_with_nvcc(tmp_path):
    """`hetc compile m.onnx --target cuda` on an f16 CNN: the .cu compiles with the local
    nvcc (the run needs a GPU: tests/e2e/test_cuda_backend.py's device runs)."""
    wide, _ = g_cnn(np.random.default_rng(0))
    path = tmp_path / "cnn_f16.onnx"
    onnx.save(to_narrow(wide, "f16"), str(path))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "hetc.cli", "compile", str(path), "--target", "cuda", "-o", str(out), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (out / "libmodel.so").stat().st_size > 0
    manifest = (out / "manifest.json").read_text()
    assert '"dtype": "float16"' in manifest and "hetc-lift-narrow-floats" in manifest


def test_npu_runs_an_f16_model():
    wide, feeds = g_mlp(np.random.default_rng(0))
    compare_with_references(to_narrow(wide, "f16"), wide, feeds, "f16", target="npu")


def test_cli_compile_f16_for_c(tmp_path):
    """The command the issue tried: `hetc compile m.onnx --target c` on an fp16 MatMul+Add+Relu."""
    wide, _ = g_mlp(np.random.default_rng(0))
    path = tmp_path / "m.onnx"
    onnx.save(to_narrow(wide, "f16"), str(path))
    proc = subprocess.run([sys.executable, "-m", "hetc.cli", "compile", str(path), "--target", "c", "-o",
                           str(tmp_path / "out"), "--quiet"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "libmodel.so").exists()


def zoo_half(name: str, out_dir: Path) -> list[float]:
    """A zoo model (tests/models/zoo.py) exported with `model.half()`, compiled for C: errors
    against onnxruntime on the same fp16 model, per output."""
    import torch

    from tests.models import zoo

    spec = zoo.MODELS[name]
    feeds = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in zoo.make_inputs(name, seed=0).items()}
    torch.manual_seed(0)
    model = zoo.build(name).half()
    path = out_dir / f"{name}.half.onnx"
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, tuple(torch.from_numpy(v) for v in feeds.values()), str(path),
                              input_names=list(spec.inputs), output_names=spec.outputs, opset_version=17, dynamo=False)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    got = hetc.compile(path, target="c", input_shapes=zoo.input_shapes(feeds)).run(feeds)
    return [rel_error(g, r) for g, r in zip(got, ort_outputs(path, feeds))]


if __name__ == "__main__":  # print the measured errors behind the stated tolerances
    if sys.argv[1:]:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            for name in sys.argv[1:]:
                print(f"f16   zoo {name:28s} vs ort f16: " + " ".join(f"{e:.2e}" for e in zoo_half(name, Path(tmp))))
        sys.exit(0)
    for kind in NARROW:
        for name, build in GRAPHS.items():
            wide, feeds = build(np.random.default_rng(0))
            errs = compare_with_references(to_narrow(wide, kind), wide, feeds, kind)
            print(f"{kind:5s} {name:32s} " + "  ".join(f"{k}: {max(v):.2e}" for k, v in errs.items()))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name, (_, shape) in _torch_models().items():
            path = export_half(name, Path(tmp) / f"{name}.onnx")
            x = np.random.default_rng(3).standard_normal(shape).astype(np.float16)
            (got,) = hetc.compile(path, target="c").run({"x": x})
            (ref,) = ort_outputs(onnx.load(str(path)), {"x": x})
            print(f"f16   torch {name:26s} vs ort f16: {rel_error(got, ref):.2e}")
