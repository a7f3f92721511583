"""NumPy kernels for the elementwise, activation, reduction, tensor, indexing and
quantization ops: ONNX backend node cases (converted to opset 28) plus targeted
checks against onnxruntime for what the cases do not cover."""

from __future__ import annotations

import collections
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))

import cases  # noqa: E402
from kernel_harness import attr_value, run_kernel_case, to_pinned  # noqa: E402

from hetc.backends.numpy.kernels import KERNELS  # noqa: E402

MODULES = {"elementwise", "activation", "reduction", "tensor", "indexing", "quantization"}
MY_OPS = {name for name, fn in KERNELS.items() if fn.__module__.rsplit(".", 1)[-1] in MODULES}

# Cases that cannot pass, each with its reason.
KNOWN_FAILING = {
    "test_training_dropout": "training-mode Dropout is random; expected data comes from another RNG",
    "test_training_dropout_mask": "training-mode Dropout is random",
    "test_training_dropout_default": "training-mode Dropout is random",
    "test_training_dropout_default_mask": "training-mode Dropout is random",
}


def _to_numpy(value):
    """TensorProto case data as numpy (ml_dtypes for bfloat16/float8/int4...)."""
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return value


def _is_ml_float(dt) -> bool:
    dt = np.dtype(dt)
    return dt.kind == "V" and dt.name.startswith(("bfloat", "float"))


def _nan_aware_recheck(case, kernels=KERNELS) -> bool:
    """The harness compares non-native float dtypes (bfloat16, float8) with
    array_equal, so NaN != NaN; recompare those outputs as float32, NaN-aware."""
    model = to_pinned(case.model)
    node = model.graph.node[0]
    feeds = dict(zip([i.name for i in model.graph.input], case.inputs))
    for init in model.graph.initializer:
        feeds[init.name] = numpy_helper.to_array(init)
    args = [feeds[name] if name else None for name in node.input]
    attrs = {a.name: attr_value(a) for a in node.attribute}
    with np.errstate(all="ignore"):
        got = kernels[node.op_type](*args, **attrs)
    if not isinstance(got, tuple):
        got = (got,)
    for want, have in zip(case.outputs, got):
        want, have = np.asarray(want), np.asarray(have)
        if have.dtype != want.dtype or have.shape != want.shape:
            return False
        if _is_ml_float(want.dtype):
            if not np.array_equal(have.astype(np.float32), want.astype(np.float32), equal_nan=True):
                return False
        elif not np.array_equal(have, want):
            return False
    return True


def _run_my_cases(kernels=KERNELS):
    results = {}
    for case in cases.load_cases():
        if len(case.op_types) != 1 or case.op_types[0] not in MY_OPS:
            continue
        try:
            case.inputs = [_to_numpy(a) for a in case.inputs]
            case.outputs = [_to_numpy(a) for a in case.outputs]
        except Exception as exc:  # a data type numpy/ml_dtypes cannot hold
            results[case.name] = ("skip", f"data conversion: {exc}")
            continue
        status, detail = run_kernel_case(case, kernels)
        if status == "fail" and "values differ" in detail:
            if any(_is_ml_float(np.asarray(o).dtype) for o in case.outputs) and _nan_aware_recheck(case, kernels):
                status, detail = "pass", "NaN-aware recheck"
        results[case.name] = (status, detail)
    return results


@pytest.fixture(scope="module")
def case_results():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run_my_cases()


def test_node_cases_all_pass(case_results):
    counts = collections.Counter(s for s, _ in case_results.values())
    print(f"\nnode cases for {len(MY_OPS)} ops: {dict(counts)}")
    unexpected = {n: d for n, (s, d) in case_results.items() if s == "fail" and n not in KNOWN_FAILING}
    assert not unexpected, "\n".join(f"{n}: {d}" for n, d in sorted(unexpected.items()))
    assert counts["pass"] > 600


def test_known_failing_still_fail(case_results):
    # keeps the list honest: a case that starts passing must leave the list
    now_passing = [n for n in KNOWN_FAILING if case_results.get(n, ("absent",))[0] == "pass"]
    assert not now_passing, now_passing


def test_skips_are_only_for_unsupported_data(case_results):
    skipped = {n: d for n, (s, d) in case_results.items() if s == "skip"}
    allowed = ("nodes", "non-tensor", "data conversion")
    bad = {n: d for n, d in skipped.items() if not any(a in d for a in allowed)}
    assert not bad, bad


def _standalone_kernels():
    """Mimic the NumPy emitter: copy each kernel's source plus the ``_helpers`` it
    references by global name (transitively) into a namespace holding only np and
    math, so a kernel that leans on anything else fails here."""
    import inspect
    import textwrap
    import types

    ns = {"np": np, "math": math, "kernel": lambda f: f}
    seen = set()

    def names(code):
        out = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                out |= names(const)
        return out

    def add(fn):
        if fn.__name__ in seen:
            return
        seen.add(fn.__name__)
        for name in sorted(names(fn.__code__)):
            obj = fn.__globals__.get(name)
            if name.startswith("_") and inspect.isfunction(obj):
                add(obj)
        exec(textwrap.dedent(inspect.getsource(fn)), ns)

    for op in sorted(MY_OPS):
        add(KERNELS[op])
    return {op: ns[op] for op in MY_OPS}


def test_kernels_work_standalone(case_results):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        standalone = _run_my_cases(_standalone_kernels())
    assert {n: s for n, (s, _) in standalone.items()} == {n: s for n, (s, _) in case_results.items()}


# ---------------------------------------------------------------- onnxruntime checks

ort = pytest.importorskip("onnxruntime")


def _ort_run(op, inputs, out_types, attrs=None, opset=21):
    ins = [
        helper.make_tensor_value_info(f"i{k}", helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for k, a in enumerate(inputs)
    ]
    outs = [helper.make_tensor_value_info(f"o{k}", t, None) for k, t in enumerate(out_types)]
    node = helper.make_node(op, [i.name for i in ins], [o.name for o in outs], **(attrs or {}))
    model = helper.make_model(helper.make_graph([node], "g", ins, outs),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {f"i{k}": a for k, a in enumerate(inputs)})


def _float32_points(n=1_000_000, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([
        rng.normal(0, 2, n // 2),
        rng.uniform(-12, 12, n // 4),
        rng.uniform(-1e4, 1e4, n // 8),
        np.linspace(-6, 6, n - n // 2 - n // 4 - n // 8),
    ]).astype(np.float32)
    return np.concatenate([x, np.array([0, -0.0, 1e-30, -1e-30, np.inf, -np.inf, np.nan, 3.4e38],
                                       np.float32)])


def test_erf_accuracy():
    x = _float32_points()
    got = KERNELS["Erf"](x)
    assert got.dtype == np.float32
    ref = np.array([math.erf(v) for v in x.astype(np.float64)])
    fin = ~np.isnan(ref)
    rel = np.abs(got[fin].astype(np.float64) - ref[fin]) / np.maximum(np.abs(ref[fin]), 1e-300)
    assert rel.max() < 1.2e-7  # within float32 rounding of the exact value
    assert np.isnan(got[~fin]).all()
    (ort_y,) = _ort_run("Erf", [x], [TensorProto.FLOAT])
    assert np.allclose(got, ort_y, rtol=1e-6, atol=1e-7, equal_nan=True)


def test_erf_float64_accuracy():
    x = np.linspace(-7, 7, 200_001)
    got = KERNELS["Erf"](x)
    ref = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)) < 1e-14


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_against_ort(approximate):
    x = _float32_points(200_000, seed=1)
    got = KERNELS["Gelu"](x, approximate=approximate)
    (want,) = _ort_run("Gelu", [x], [TensorProto.FLOAT], {"approximate": approximate}, opset=20)
    assert got.dtype == np.float32
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
    # exact reference in float64
    xd = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if approximate == "none":
            ref = np.array([0.5 * v * math.erfc(-v / math.sqrt(2)) for v in xd])
        else:
            ref = 0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd**3)))
    fin = np.isfinite(ref)
    assert np.allclose(got[fin], ref[fin], rtol=2e-7, atol=1e-38)


@pytest.mark.parametrize("dt", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32])
def test_integer_div_mod_against_ort(dt):
    info = np.iinfo(dt)
    rng = np.random.default_rng(2)
    lo = max(int(info.min), -1000)
    a = rng.integers(lo, min(int(info.max), 1000), 500).astype(dt)
    b = rng.integers(lo, min(int(info.max), 1000), 500).astype(dt)
    b[b == 0] = 7
    a[:4] = np.array([7, -7, 7, -7] if info.min < 0 else [7, 8, 9, 10]).astype(dt)
    b[:4] = np.array([2, 2, -2, -2] if info.min < 0 else [2, 3, 4, 5]).astype(dt)
    t = helper.np_dtype_to_tensor_dtype(np.dtype(dt))
    (want,) = _ort_run("Div", [a, b], [t])
    assert np.array_equal(KERNELS["Div"](a, b), want)
    for fmod in (0, 1):
        (want,) = _ort_run("Mod", [a, b], [t], {"fmod": fmod})
        got = KERNELS["Mod"](a, b, fmod=fmod)
        assert got.dtype == dt and np.array_equal(got, want), fmod


def test_float_mod_against_ort():
    rng = np.random.default_rng(3)
    a = (rng.normal(0, 10, 1000)).astype(np.float32)
    b = (rng.normal(0, 3, 1000)).astype(np.float32)
    (want,) = _ort_run("Mod", [a, b], [TensorProto.FLOAT], {"fmod": 1})
    assert np.allclose(KERNELS["Mod"](a, b, fmod=1), want, rtol=1e-6, atol=1e-6)
    py = np.array([math.fmod(x, y) if False else x - math.floor(x / y) * y for x, y in
                   zip(a.astype(np.float64), b.astype(np.float64))])
    assert np.allclose(KERNELS["Mod"](a, b), py, rtol=1e-4, atol=1e-4)
    assert (np.sign(KERNELS["Mod"](a, b)) * np.sign(b) >= 0).all()


def test_integer_overflow_wraps():
    a = np.array([127, -128, 100], np.int8)
    assert np.array_equal(KERNELS["Add"](a, np.array([1, -1, 100], np.int8)), np.array([-128, 127, -56], np.int8))
    assert np.array_equal(KERNELS["Mul"](a, np.array([2, 2, 3], np.int8)), np.array([-2, 0, 44], np.int8))
    assert np.array_equal(KERNELS["Div"](np.array([-128], np.int8), np.array([-1], np.int8)),
                          np.array([-128], np.int8))


@pytest.mark.parametrize("to", [TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16, TensorProto.INT32,
                                TensorProto.INT64, TensorProto.UINT32, TensorProto.BOOL])
def test_cast_float_to_int_against_ort(to):
    x = np.array([1.7, -1.7, 2.5, -2.5, 0.5, -0.5, 0.0, -0.0, 100.9, -100.9, 126.99, 255.5, 1e-9],
                 np.float32)
    if to in (TensorProto.UINT8, TensorProto.UINT32):
        x = np.abs(x)
    (want,) = _ort_run("Cast", [x], [to], {"to": to})
    got = KERNELS["Cast"](x, to=to)
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_cast_string_round_trip_against_ort():
    x = np.array([0.1, 1.0, -2.5, 1e10, 1.5e-7, np.nan, np.inf, -np.inf, 3.14159265], np.float32)
    (want,) = _ort_run("Cast", [x], [TensorProto.STRING], {"to": TensorProto.STRING})
    got = KERNELS["Cast"](x, to=TensorProto.STRING)
    assert got.dtype == object and list(got) == list(want)
    s = np.array(["1.5", "INF", "-inf", "NaN", "+INF", "1e3", "-0"], dtype=object)
    (want,) = _ort_run("Cast", [s], [TensorProto.FLOAT], {"to": TensorProto.FLOAT})
    got = KERNELS["Cast"](s, to=TensorProto.FLOAT)
    assert got.dtype == np.float32 and np.array_equal(got, want, equal_nan=True)
    i = np.array(["12", "-7", "9223372036854775807"], dtype=object)
    got = KERNELS["Cast"](i, to=TensorProto.INT64)
    assert got.tolist() == [12, -7, 9223372036854775807]


def test_bitshift_out_of_range_amounts():
    x = np.array([-8, 8, -1, 1], np.int32)
    y = np.array([40, 40, 2, 32], np.int32)
    assert KERNELS["BitShift"](x, y, direction="RIGHT").tolist() == [-1, 0, -1, 0]
    assert KERNELS["BitShift"](x, y, direction="LEFT").tolist() == [0, 0, -4, 0]
    u = np.array([255, 1], np.uint8)
    assert KERNELS["BitShift"](u, np.array([1, 7], np.uint8), direction="LEFT").tolist() == [254, 128]


def test_sigmoid_softplus_no_overflow_warnings():
    x = np.array([-1e4, -100, 0, 100, 1e4, np.inf, -np.inf], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = KERNELS["Sigmoid"](x)
        sp = KERNELS["Softplus"](x)
        KERNELS["Mish"](x)
        KERNELS["Swish"](x)
    assert s.tolist() == [0.0, pytest.approx(3.7e-44, abs=1e-44), 0.5, 1.0, 1.0, 1.0, 0.0]
    assert sp[-3] == np.float32(1e4) and sp[0] == 0


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Softsign", "HardSwish",
                                "Mish", "Exp", "Log", "Sqrt", "Sin", "Atan", "Round", "Erf"])
def test_unary_float16_against_ort(op):
    x = np.linspace(-8, 8, 4001).astype(np.float16)
    if op in ("Log", "Sqrt"):
        x = np.abs(x)
    opset = {"Mish": 18}.get(op, 21)
    (want,) = _ort_run(op, [x], [TensorProto.FLOAT16], opset=opset)
    got = KERNELS[op](x)
    assert got.dtype == np.float16
    assert np.allclose(got.astype(np.float32), want.astype(np.float32), rtol=2e-3, atol=2e-3, equal_nan=True)


def test_topk_ties_and_unique_unsorted_against_ort():
    x = np.array([[1, 5, 5, 3, 5, 0]], np.float32)
    k = np.array([4], np.int64)
    for largest in (0, 1):
        want = _ort_run("TopK", [x, k], [TensorProto.FLOAT, TensorProto.INT64], {"largest": largest})
        got = KERNELS["TopK"](x, k, largest=largest)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    u = np.array([2, 1, 1, 3, 4, 3], np.int64)
    want = _ort_run("Unique", [u], [TensorProto.INT64] * 4, {"sorted": 0})
    got = KERNELS["Unique"](u, sorted=0)
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_reductions_empty_and_noop():
    e = np.zeros((2, 0), np.float32)
    ax = np.array([1], np.int64)
    assert KERNELS["ReduceSum"](e, ax).tolist() == [[0.0], [0.0]]
    assert KERNELS["ReduceProd"](e, ax).tolist() == [[1.0], [1.0]]
    assert KERNELS["ReduceMax"](e, ax).tolist() == [[-np.inf], [-np.inf]]
    assert KERNELS["ReduceMin"](e.astype(np.int32), ax).tolist() == [[2**31 - 1], [2**31 - 1]]
    assert KERNELS["ReduceLogSumExp"](e, ax).tolist() == [[-np.inf], [-np.inf]]
    x = np.array([[-1.0, 2.0], [3.0, -4.0]], np.float32)
    none = np.array([], np.int64)
    for op in ("ReduceSum", "ReduceSumSquare", "ReduceL1", "ReduceLogSumExp", "ReduceMax"):
        (want,) = _ort_run(op, [x, none], [TensorProto.FLOAT], {"noop_with_empty_axes": 1}, opset=18)
        assert np.array_equal(KERNELS[op](x, none, noop_with_empty_axes=1), want), op
    xi = np.array([[-7, 2], [3, -4]], np.int32)
    (want,) = _ort_run("ReduceMean", [xi, ax], [TensorProto.INT32], opset=18)
    assert np.array_equal(KERNELS["ReduceMean"](xi, ax), want)


def test_quantize_per_axis_and_blocked_against_ort():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 50, (3, 8)).astype(np.float32)
    scale = np.array([0.5, 1.0, 2.0], np.float32)
    zp = np.array([0, 10, -3], np.int8)
    (want,) = _ort_run("QuantizeLinear", [x, scale, zp], [TensorProto.INT8], {"axis": 0})
    q = KERNELS["QuantizeLinear"](x, scale, zp, axis=0)
    assert q.dtype == np.int8 and np.array_equal(q, want)
    (want,) = _ort_run("DequantizeLinear", [q, scale, zp], [TensorProto.FLOAT], {"axis": 0})
    assert np.array_equal(KERNELS["DequantizeLinear"](q, scale, zp, axis=0), want)
    bscale = np.abs(rng.normal(1, 0.3, (3, 2))).astype(np.float32)
    bzp = np.array([[1, 2], [3, 4], [5, 6]], np.uint16)
    (want,) = _ort_run("QuantizeLinear", [x, bscale, bzp], [TensorProto.UINT16], {"axis": 1, "block_size": 4})
    assert np.array_equal(KERNELS["QuantizeLinear"](x, bscale, bzp, axis=1, block_size=4), want)
    x16 = rng.normal(0, 1, (4, 4)).astype(np.float32)
    want = _ort_run("DynamicQuantizeLinear", [x16], [TensorProto.UINT8, TensorProto.FLOAT, TensorProto.UINT8])
    got = KERNELS["DynamicQuantizeLinear"](x16)
    assert np.array_equal(got[0], want[0]) and got[1] == want[1] and got[2] == want[2]


def test_slice_negative_steps_and_clamping():
    x = np.arange(10)
    S = KERNELS["Slice"]
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    assert S(x, i64(-1), i64(-(2**63)), i64(0), i64(-1)).tolist() == list(range(9, -1, -1))
    assert S(x, i64(20), i64(2), i64(0), i64(-3)).tolist() == [9, 6, 3]
    assert S(x, i64(2), i64(2**63 - 1)).tolist() == list(range(2, 10))
    assert S(x, i64(5), i64(1), None, i64(1)).tolist() == []
