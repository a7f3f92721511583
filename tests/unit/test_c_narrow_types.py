"""Narrow element types in the C backend: float16, bfloat16, float8, float4, int4/int2.

Buffers hold ml_dtypes' layout (bit patterns, one or two bytes an element), Cast goes
through the C helpers of hetc.backends.cfamily.narrow, and float16/bfloat16 compute in
float32. Every check is bit for bit against onnx's ReferenceEvaluator (ml_dtypes /
NumPy casts) or the NumPy backend, NaN payloads included (but one: see float16 -> double).
"""

from __future__ import annotations

import shutil

import hetc
import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

NARROW_FLOATS = {
    T.FLOAT16: np.dtype(np.float16),
    T.BFLOAT16: np.dtype(ml_dtypes.bfloat16),
    T.FLOAT8E4M3FN: np.dtype(ml_dtypes.float8_e4m3fn),
    T.FLOAT8E4M3FNUZ: np.dtype(ml_dtypes.float8_e4m3fnuz),
    T.FLOAT8E5M2: np.dtype(ml_dtypes.float8_e5m2),
    T.FLOAT8E5M2FNUZ: np.dtype(ml_dtypes.float8_e5m2fnuz),
    T.FLOAT4E2M1: np.dtype(ml_dtypes.float4_e2m1fn),
}


def _model(nodes, inputs, outputs, initializers=()) -> onnx.ModelProto:
    graph = h.make_graph(
        nodes, "g",
        [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [h.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=list(initializers),
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 25)])


def _casts(src: int, targets: list[int], n: int, **attrs) -> onnx.ModelProto:
    """x -> Cast to each target type, one output each."""
    nodes = [h.make_node("Cast", ["x"], [f"y{i}"], to=t, **attrs) for i, t in enumerate(targets)]
    return _model(nodes, [("x", src, [n])], [(f"y{i}", t, [n]) for i, t in enumerate(targets)])


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def _run(model: onnx.ModelProto, feeds: dict, target: str = "c", tmp_path=None) -> list[np.ndarray]:
    out = None if tmp_path is None else tmp_path / target
    return hetc.compile(model, target=target, output_dir=out).run(feeds)


def _assert_same_bits(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (i, g.dtype, w.dtype)
        bad = np.flatnonzero(_bits(g) != _bits(w))
        assert bad.size == 0, f"output {i} ({w.dtype}): {bad.size} differ, first at {bad[:5]}: " \
            f"got {_bits(g).ravel()[bad[:5]]} want {_bits(w).ravel()[bad[:5]]}"


def _float32_probe() -> np.ndarray:
    """Special values, every float16 value and the midpoints between neighbours (and
    their float32 neighbours: the rounding boundaries of float16 and the coarser
    formats), the formats' largest values, and random bit patterns."""
    special = np.array(
        [0.0, -0.0, np.inf, -np.inf, 464, 465, 463.99, 480, 240, 247, 248, 57344, 61439, 61440, 6, 6.5, 7, 5,
         65504, 65519.99, 65520, 1e-10, -1e-10, 3e38, 1e-45, 2.0**-127, 2.0**-126, 2.0**-133],
        dtype=np.float32,
    )
    nans = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FA00000, 0x7FFFFFFF, 0x7F802000],
                    dtype=np.uint32).view(np.float32)
    halves = np.arange(0x10000, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    finite = np.sort(halves[np.isfinite(halves)])
    mids = ((finite[:-1].astype(np.float64) + finite[1:]) / 2).astype(np.float32)
    near = np.concatenate([np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))])
    rng = np.random.default_rng(0)
    rand = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    return np.concatenate([special, -special, nans, halves, mids, near, rand]).astype(np.float32)


@pytest.mark.parametrize("saturate", [1, 0])
def test_float32_to_narrow_floats_bit_exact(saturate, tmp_path):
    x = _float32_probe()
    targets = list(NARROW_FLOATS)
    model = _casts(T.FLOAT, targets, x.size, saturate=saturate)
    with np.errstate(all="ignore"):
        want = ReferenceEvaluator(model).run(None, {"x": x})
    _assert_same_bits(_run(model, {"x": x}, tmp_path=tmp_path), want)


def test_float64_and_float16_sources(tmp_path):
    """double -> float16 rounds once (no double rounding through float); float16 ->
    float8 goes through float32, which holds every float16 exactly."""
    d = np.array([1 + 2.0**-11 + 2.0**-40, 1 + 2.0**-11, 65519.999, 65520.0, -1e300, 1e-300, np.nan, 2.0**-25 * 1.0000001],
                 dtype=np.float64)
    model = _casts(T.DOUBLE, [T.FLOAT16, T.BFLOAT16, T.FLOAT8E4M3FN], d.size)
    _assert_same_bits(_run(model, {"x": d}, tmp_path=tmp_path / "d"), ReferenceEvaluator(model).run(None, {"x": d}))
    x = np.arange(0x10000, dtype=np.uint32).astype(np.uint16).view(np.float16)
    model = _casts(T.FLOAT16, [T.FLOAT8E4M3FN, T.FLOAT8E5M2, T.FLOAT4E2M1, T.BFLOAT16, T.DOUBLE], x.size, saturate=0)
    with np.errstate(all="ignore"):
        want = ReferenceEvaluator(model).run(None, {"x": x})
    got = _run(model, {"x": x}, tmp_path=tmp_path / "h")
    _assert_same_bits(got[:4], want[:4])
    # float16 -> double goes through float, which quiets signaling NaNs (NumPy keeps them)
    np.testing.assert_array_equal(got[4], want[4])


@pytest.mark.parametrize("elem", list(NARROW_FLOATS) + [T.FLOAT8E8M0])
def test_every_pattern_to_float32(elem, tmp_path):
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
    n = 1 << (8 * dtype.itemsize)
    x = np.arange(n, dtype=np.uint32).astype(dtype.itemsize == 1 and np.uint8 or np.uint16).view(dtype)
    if elem == T.FLOAT4E2M1:
        x = x[:16]
    model = _casts(elem, [T.FLOAT, T.DOUBLE, T.FLOAT16], x.size)
    with np.errstate(all="ignore"):
        want = [x.astype(np.float32), x.astype(np.float64), x.astype(np.float16)]
    got = _run(model, {"x": x}, tmp_path=tmp_path)
    _assert_same_bits(got[:1], want[:1])
    for g, w in zip(got[1:], want[1:]):  # NaN payloads may differ through float32; values may not
        np.testing.assert_array_equal(g, w)
        assert (np.signbit(g) == np.signbit(w))[~np.isnan(w)].all()


def test_float16_round_trip_through_c(tmp_path):
    x = np.array([0.0, -0.0, 1.0, 1 / 3, 65504, 65520, 1e6, -1e6, 6e-8, 3e-8, 2.9e-8, 1e-40, np.inf, -np.inf, np.nan],
                 dtype=np.float32)
    model = _model(
        [h.make_node("Cast", ["x"], ["h"], to=T.FLOAT16), h.make_node("Cast", ["h"], ["y"], to=T.FLOAT)],
        [("x", T.FLOAT, [x.size])], [("y", T.FLOAT, [x.size])],
    )
    (got,) = _run(model, {"x": x}, tmp_path=tmp_path)
    with np.errstate(all="ignore"):
        _assert_same_bits([got], [x.astype(np.float16).astype(np.float32)])
    assert got[5] == np.inf and got[6] == np.inf and got[8] == 2.0**-24 and got[10] == 0.0 and np.signbit(got[1])


def test_float8e4m3fn_saturate(tmp_path):
    x = np.array([448, 449, 464, 465, 1e6, -1e6, np.inf, -np.inf, np.nan, 0.1], dtype=np.float32)
    sat, raw = _run(_casts(T.FLOAT, [T.FLOAT8E4M3FN], x.size, saturate=1), {"x": x}, tmp_path=tmp_path / "s")[0], \
        _run(_casts(T.FLOAT, [T.FLOAT8E4M3FN], x.size, saturate=0), {"x": x}, tmp_path=tmp_path / "r")[0]
    assert list(_bits(sat)) == [0x7E, 0x7E, 0x7E, 0x7E, 0x7E, 0xFE, 0x7E, 0xFE, 0x7F, 0x1D]
    assert list(_bits(raw)) == [0x7E, 0x7E, 0x7E, 0x7F, 0x7F, 0xFF, 0x7F, 0xFF, 0x7F, 0x1D]


def test_float8e8m0_round_modes_match_numpy_backend(tmp_path):
    x = np.concatenate([
        np.array([0.0, -0.0, 1.0, 1.5, 1.4, 1.6, 3.0, -3.0, 2.0**-127, 2.0**-128, 2.0**-127 * 1.6, 1.7e38, 3e38,
                  np.inf, -np.inf, np.nan, 0.124, 1e-45], dtype=np.float32),
        np.random.default_rng(1).integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32).view(np.float32),
    ])
    nodes = [h.make_node("Cast", ["x"], [f"y{i}"], to=T.FLOAT8E8M0, saturate=s, round_mode=m)
             for i, (s, m) in enumerate((s, m) for s in (1, 0) for m in ("up", "nearest", "down"))]
    model = _model(nodes, [("x", T.FLOAT, [x.size])], [(f"y{i}", T.FLOAT8E8M0, [x.size]) for i in range(6)])
    _assert_same_bits(_run(model, {"x": x}, tmp_path=tmp_path / "c"), _run(model, {"x": x}, "numpy", tmp_path / "n"))


def test_int4_int2_wrap_like_onnx(tmp_path):
    x = np.arange(-20, 20.5, 0.5, dtype=np.float32)
    ints = [T.INT4, T.UINT4, T.INT2, T.UINT2]
    model = _casts(T.FLOAT, ints, x.size)
    _assert_same_bits(_run(model, {"x": x}, tmp_path=tmp_path / "f"), ReferenceEvaluator(model).run(None, {"x": x}))
    i8 = np.arange(-128, 128, dtype=np.int8)
    model = _casts(T.INT8, ints + [T.UINT8, T.FLOAT16], i8.size)
    _assert_same_bits(_run(model, {"x": i8}, tmp_path=tmp_path / "i"), ReferenceEvaluator(model).run(None, {"x": i8}))
    i4 = np.arange(16, dtype=np.uint8).view(ml_dtypes.int4)
    model = _casts(T.INT4, [T.INT8, T.FLOAT, T.BFLOAT16, T.BOOL, T.INT2, T.UINT4], i4.size)
    got = _run(model, {"x": i4}, tmp_path=tmp_path / "n")
    want = ReferenceEvaluator(_casts(T.INT4, [T.INT8, T.FLOAT, T.BFLOAT16, T.BOOL], i4.size)).run(None, {"x": i4})
    _assert_same_bits(got[:4], want)
    # (ml_dtypes cannot cast int4 to int2 or uint4: they wrap, keeping the low bits)
    assert list(_bits(got[4])) == [v & 3 for v in range(16)]
    assert list(_bits(got[5])) == list(range(16))


@pytest.mark.parametrize("elem", [T.FLOAT16, T.BFLOAT16])
def test_elementwise_ops_compute_in_float32(elem, tmp_path):
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))
    rng = np.random.default_rng(2)
    a = (rng.standard_normal((3, 4)) * 100).astype(dtype)
    b = (rng.standard_normal((4,)) * 100).astype(dtype)
    a[0, :3] = [np.inf, -np.inf, 0.0]
    nodes = [h.make_node("Add", ["a", "b"], ["add"]), h.make_node("Max", ["a", "b"], ["max"]),
             h.make_node("Min", ["a", "b"], ["min"]), h.make_node("Relu", ["a"], ["relu"]),
             h.make_node("Div", ["a", "b"], ["div"]), h.make_node("Less", ["a", "b"], ["less"])]
    outs = [(n.output[0], elem, [3, 4]) for n in nodes[:-1]] + [("less", T.BOOL, [3, 4])]
    model = _model(nodes, [("a", elem, [3, 4]), ("b", elem, [4])], outs)
    feeds = {"a": a, "b": b}
    got = _run(model, feeds, tmp_path=tmp_path / "c")
    _assert_same_bits(got, _run(model, feeds, "numpy", tmp_path / "n"))
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    _assert_same_bits(got[:2], [(a32 + b32).astype(dtype), np.maximum(a32, b32).astype(dtype)])


def test_narrow_weights_and_data_movement(tmp_path):
    """Weights of narrow types (weights.bin holds ml_dtypes' bytes), moved and padded."""
    w8 = np.array([[0.5, -2, 448], [-0.0, 0.015625, 3]], dtype=ml_dtypes.float8_e4m3fn)
    w4 = np.array([[-8, 7, -1], [0, 3, -5]], dtype=ml_dtypes.int4)
    wb = np.array([[1.5, -3e38, 1e-3], [2, 7, -0.25]], dtype=ml_dtypes.bfloat16)
    inits = [numpy_helper.from_array(w8, "w8"), numpy_helper.from_array(w4, "w4"), numpy_helper.from_array(wb, "wb"),
             numpy_helper.from_array(np.array([0, 1, 1, 0], dtype=np.int64), "pads"),
             numpy_helper.from_array(np.array(-1.5, dtype=ml_dtypes.bfloat16), "pv")]
    nodes = [
        h.make_node("Transpose", ["w8"], ["t8"]), h.make_node("Cast", ["t8"], ["f8"], to=T.FLOAT),
        h.make_node("Cast", ["x"], ["fx"], to=T.FLOAT), h.make_node("Concat", ["fx", "f8"], ["y8"], axis=0),
        h.make_node("Transpose", ["w4"], ["y4"]),
        h.make_node("Pad", ["wb", "pads", "pv"], ["yb"]),
    ]
    model = _model(nodes, [("x", T.FLOAT8E4M3FN, [1, 2])],
                   [("y8", T.FLOAT, [4, 2]), ("y4", T.INT4, [3, 2]), ("yb", T.BFLOAT16, [3, 4])], inits)
    x = np.array([[1.25, -448]], dtype=ml_dtypes.float8_e4m3fn)
    _assert_same_bits(_run(model, {"x": x}, tmp_path=tmp_path), ReferenceEvaluator(model).run(None, {"x": x}))


def test_castlike_becomes_cast(tmp_path):
    x = np.array([1.0, 500.0, np.nan, -1e-9], dtype=np.float32)
    like = np.zeros([0], dtype=ml_dtypes.float8_e5m2)
    model = _model([h.make_node("CastLike", ["x", "like"], ["y"], saturate=0)],
                   [("x", T.FLOAT, [4]), ("like", T.FLOAT8E5M2, [0])], [("y", T.FLOAT8E5M2, [4])])
    feeds = {"x": x, "like": like}
    _assert_same_bits(_run(model, feeds, tmp_path=tmp_path), ReferenceEvaluator(model).run(None, feeds))
