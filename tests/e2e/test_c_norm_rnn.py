"""The C backend on normalization with runtime parameters, GRU / LSTM variants, Resize
modes, no-op reductions and constant programs: small onnx.helper models compiled with
gcc and checked against onnxruntime (max |hetc - ort| <= 1e-5 * max |ort| per output)."""

from __future__ import annotations

import hetc
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper

RTOL_OF_MAX = 1e-5


def _model(nodes, inputs, outputs, inits=(), opset=22) -> onnx.ModelProto:
    g = h.make_graph(
        nodes, "g",
        [h.make_tensor_value_info(n, T.FLOAT, s) for n, s in inputs],
        [h.make_tensor_value_info(n, T.FLOAT, None) for n in outputs],
        initializer=[numpy_helper.from_array(a, n) for n, a in inits],
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def _ort(m: onnx.ModelProto, feeds):
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _check(m: onnx.ModelProto, feeds, tmp_path, target: str = "c"):
    sess = hetc.compile(m, target=target, output_dir=tmp_path / target)
    got = sess.run(feeds)
    want = _ort(m, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert np.max(np.abs(g - w)) <= RTOL_OF_MAX * max(np.max(np.abs(w)), 1e-30)
    return sess


def _rand(rng, *shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


@pytest.mark.parametrize("rank", [2, 4])
def test_batchnorm_runtime_parameters(rank, tmp_path):
    rng = np.random.default_rng(0)
    shape = [3, 4] + [5, 6][: rank - 2]
    node = h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3, name="bn")
    m = _model([node], [("x", shape), ("s", [4]), ("b", [4]), ("m", [4]), ("v", [4])], ["y"])
    feeds = {"x": _rand(rng, *shape), "s": _rand(rng, 4), "b": _rand(rng, 4), "m": _rand(rng, 4),
             "v": _rand(rng, 4, lo=0.5, hi=2.0)}
    sess = _check(m, feeds, tmp_path)
    assert [i["name"] for i in sess.manifest["inputs"]] == ["x", "s", "b", "m", "v"]


def test_batchnorm_training_mode_outputs(tmp_path):
    rng = np.random.default_rng(1)
    node = h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "rm", "rv"], training_mode=1,
                       momentum=0.8, name="bn")
    m = _model([node], [("x", [2, 3, 4, 5]), ("s", [3]), ("b", [3]), ("m", [3]), ("v", [3])], ["y", "rm", "rv"])
    feeds = {"x": _rand(rng, 2, 3, 4, 5), "s": _rand(rng, 3), "b": _rand(rng, 3), "m": _rand(rng, 3),
             "v": _rand(rng, 3, lo=0.5, hi=2.0)}
    # onnxruntime's CPU kernel computes training mode too; the NumPy backend is the
    # second opinion (onnx's reference semantics)
    sess = hetc.compile(m, target="c", output_dir=tmp_path / "c")
    ref = hetc.compile(m, target="numpy", output_dir=tmp_path / "np")
    got, want = sess.run(feeds), ref.run(feeds)
    x = feeds["x"].astype(np.float64)
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(got[1], feeds["m"] * 0.8 + mean * 0.2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[2], feeds["v"] * 0.8 + var * 0.2, rtol=1e-5, atol=1e-6)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_instance_norm_runtime_scale(tmp_path):
    rng = np.random.default_rng(2)
    node = h.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-4)
    m = _model([node], [("x", [2, 3, 4, 5]), ("s", [3]), ("b", [3])], ["y"])
    _check(m, {"x": _rand(rng, 2, 3, 4, 5), "s": _rand(rng, 3), "b": _rand(rng, 3)}, tmp_path)


@pytest.mark.parametrize("constant_params", [False, True])
def test_group_norm(constant_params, tmp_path):
    rng = np.random.default_rng(3)
    s, b = _rand(rng, 6), _rand(rng, 6)
    node = h.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3, epsilon=1e-3)
    if constant_params:
        m = _model([node], [("x", [2, 6, 3, 2])], ["y"], inits=[("s", s), ("b", b)], opset=21)
        feeds = {"x": _rand(rng, 2, 6, 3, 2)}
    else:
        m = _model([node], [("x", [2, 6, 3, 2]), ("s", [6]), ("b", [6])], ["y"], opset=21)
        feeds = {"x": _rand(rng, 2, 6, 3, 2), "s": s, "b": b}
    _check(m, feeds, tmp_path)


def _rnn_weights(rng, op: str, dirs: int, hidden: int, isz: int):
    gates = 4 if op == "LSTM" else 3
    return [("W", _rand(rng, dirs, gates * hidden, isz)), ("R", _rand(rng, dirs, gates * hidden, hidden)),
            ("B", _rand(rng, dirs, 2 * gates * hidden))]


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_gru_linear_before_reset_0(direction, tmp_path):
    rng = np.random.default_rng(4)
    dirs, hidden, steps, batch, isz = 2 if direction == "bidirectional" else 1, 5, 4, 3, 2
    node = h.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["y", "yh"], hidden_size=hidden, direction=direction)
    m = _model([node], [("x", [steps, batch, isz]), ("h0", [dirs, batch, hidden])], ["y", "yh"],
               inits=_rnn_weights(rng, "GRU", dirs, hidden, isz))
    _check(m, {"x": _rand(rng, steps, batch, isz), "h0": _rand(rng, dirs, batch, hidden)}, tmp_path)


@pytest.mark.parametrize("op,direction", [("LSTM", "forward"), ("LSTM", "bidirectional"), ("GRU", "bidirectional")])
def test_batch_major_layout(op, direction, tmp_path):
    """layout=1 against onnxruntime running the sequence-major (layout=0) model on
    transposed inputs (onnxruntime's CPU kernels take layout=0 only)."""
    rng = np.random.default_rng(5)
    dirs, hidden, steps, batch, isz = 2 if direction == "bidirectional" else 1, 4, 3, 2, 3
    inputs = ["x", "W", "R", "B", "", "h0"] + (["c0"] if op == "LSTM" else [])
    outputs = ["y", "yh"] + (["yc"] if op == "LSTM" else [])
    weights = _rnn_weights(rng, op, dirs, hidden, isz)
    feeds = {"x": _rand(rng, batch, steps, isz), "h0": _rand(rng, batch, dirs, hidden)}
    if op == "LSTM":
        feeds["c0"] = _rand(rng, batch, dirs, hidden)
    batch_major = _model(
        [h.make_node(op, inputs, outputs, hidden_size=hidden, direction=direction, layout=1)],
        [(n, list(v.shape)) for n, v in feeds.items()], outputs, inits=weights,
    )
    seq_feeds = {"x": feeds["x"].transpose(1, 0, 2)} | {n: feeds[n].transpose(1, 0, 2) for n in feeds if n != "x"}
    seq_major = _model(
        [h.make_node(op, inputs, outputs, hidden_size=hidden, direction=direction)],
        [(n, list(v.shape)) for n, v in seq_feeds.items()], outputs, inits=weights,
    )
    want = _ort(seq_major, seq_feeds)
    want = [want[0].transpose(2, 0, 1, 3)] + [w.transpose(1, 0, 2) for w in want[1:]]
    got = hetc.compile(batch_major, target="c", output_dir=tmp_path / "c").run(feeds)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert np.max(np.abs(g - w)) <= RTOL_OF_MAX * np.max(np.abs(w))


def _resize(tmp_path, x_shape, attrs, roi=None, scales=None, sizes=None, seed=6, target="c"):
    rng = np.random.default_rng(seed)
    inits, names = [], ["x"]
    for name, value in (("roi", roi), ("scales", scales), ("sizes", sizes)):
        if value is None:
            names.append("")
        else:
            names.append(name)
            inits.append((name, np.asarray(value, np.int64 if name == "sizes" else np.float32)))
    while names[-1] == "":
        names.pop()
    node = h.make_node("Resize", names, ["y"], **attrs)
    m = _model([node], [("x", x_shape)], ["y"], inits=inits, opset=19)
    return _check(m, {"x": _rand(rng, *x_shape)}, tmp_path, target)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("scales", [[1, 1, 2, 2], [1, 1, 0.5, 0.5], [1, 1, 0.6, 0.7], [1, 1, 0.8, 1.3]])
def test_resize_align_corners(mode, scales, tmp_path):
    # where in * scale is fractional, hetc takes length_resized as the integer output
    # length, as onnxruntime and PyTorch do (the ONNX reference does not round it: two
    # conformance cases are known failures for that reason)
    _resize(tmp_path, [1, 2, 4, 6], {"mode": mode, "coordinate_transformation_mode": "align_corners"}, scales=scales)


@pytest.mark.parametrize("attrs,roi,sizes", [
    ({"mode": "linear"}, [0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8], [1, 1, 3, 3]),
    ({"mode": "linear", "extrapolation_value": 10.0}, [0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7], [1, 1, 3, 3]),
    ({"mode": "linear", "axes": [3, 2]}, [0.6, 0.4, 0.8, 0.6], [3, 3]),
    ({"mode": "nearest", "extrapolation_value": -1.0}, [0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7], [1, 1, 3, 3]),
    ({"mode": "cubic"}, [0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8], [1, 1, 3, 3]),
])
def test_resize_tf_crop_and_resize(attrs, roi, sizes, tmp_path):
    _resize(tmp_path, [1, 1, 4, 4], {"coordinate_transformation_mode": "tf_crop_and_resize", **attrs},
            roi=roi, sizes=sizes)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
@pytest.mark.parametrize("sizes", [[7, 8], [2, 3]])
def test_resize_keep_aspect_ratio(policy, sizes, tmp_path):
    _resize(tmp_path, [1, 1, 4, 5], {"mode": "nearest", "axes": [2, 3], "keep_aspect_ratio_policy": policy}, sizes=sizes)


def test_reduce_sum_noop(tmp_path):
    rng = np.random.default_rng(7)
    node = h.make_node("ReduceSum", ["x", "axes"], ["y"], noop_with_empty_axes=1)
    m = _model([node], [("x", [3, 4])], ["y"], inits=[("axes", np.zeros(0, np.int64))])
    _check(m, {"x": _rand(rng, 3, 4)}, tmp_path)


@pytest.mark.parametrize("target", ["c", "numpy"])
def test_constant_program_without_inputs(target, tmp_path):
    """Range of scalars fed as inputs, all frozen: a program with no runtime inputs."""
    g = h.make_graph(
        [h.make_node("Range", ["start", "limit", "delta"], ["r"]), h.make_node("Mul", ["r", "r"], ["y"])], "g",
        [h.make_tensor_value_info(n, T.FLOAT, []) for n in ("start", "limit", "delta")],
        [h.make_tensor_value_info("y", T.FLOAT, None)],
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 22)])
    values = {"start": np.float32(1.0), "limit": np.float32(6.0), "delta": np.float32(1.5)}
    frozen = {k: np.asarray(v) for k, v in values.items()}
    sess = hetc.compile(m, target=target, output_dir=tmp_path / target, frozen_inputs=frozen)
    assert sess.manifest["inputs"] == []
    (y,) = sess.run({})
    np.testing.assert_array_equal(y, np.arange(1.0, 6.0, 1.5, dtype=np.float32) ** 2)


@pytest.mark.parametrize("target", ["c", "numpy"])
def test_constant_loop_is_evaluated_at_import(target, tmp_path):
    """A Loop whose trip count, condition, carried values and captured values are all
    constants (Range's function expansion, once frozen) folds to its outputs."""
    body = h.make_graph(
        [h.make_node("Identity", ["cond"], ["cond_out"]), h.make_node("Add", ["prev", "delta"], ["cur"]),
         h.make_node("Identity", ["prev"], ["scan"])],
        "body",
        [h.make_tensor_value_info("i", T.INT64, []), h.make_tensor_value_info("cond", T.BOOL, []),
         h.make_tensor_value_info("prev", T.FLOAT, [])],
        [h.make_tensor_value_info("cond_out", T.BOOL, []), h.make_tensor_value_info("cur", T.FLOAT, []),
         h.make_tensor_value_info("scan", T.FLOAT, [])],
    )
    g = h.make_graph(
        [h.make_node("Loop", ["trips", "", "start"], ["last", "seq"], body=body),
         h.make_node("Add", ["seq", "x"], ["y"])],
        "g", [h.make_tensor_value_info("x", T.FLOAT, [4])], [h.make_tensor_value_info("y", T.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.array(4, np.int64), "trips"),
                     numpy_helper.from_array(np.array(1.0, np.float32), "start"),
                     numpy_helper.from_array(np.array(0.5, np.float32), "delta")],
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 22)])
    x = np.arange(4, dtype=np.float32)
    (y,) = hetc.compile(m, target=target, output_dir=tmp_path / target).run({"x": x})
    np.testing.assert_array_equal(y, x + np.array([1.0, 1.5, 2.0, 2.5], np.float32))


@pytest.mark.parametrize("attrs,roi,scales,sizes", [
    # crops beyond the input and output sizes where onnxruntime's crop differs
    ({"mode": "nearest", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": -3.0},
     [0, 0, -0.3, 0.1, 1, 1, 1.1, 1.3], None, [1, 1, 5, 4]),
    ({"mode": "cubic", "coordinate_transformation_mode": "tf_crop_and_resize"},
     [0, 0, 0.2, 0.1, 1, 1, 0.9, 0.7], None, [1, 1, 5, 4]),
])
def test_resize_matches_onnx_reference(attrs, roi, scales, sizes, tmp_path):
    """Where onnxruntime departs from the ONNX reference (whose outputs are the
    conformance data), the C target follows the reference."""
    from onnx.reference import ReferenceEvaluator

    inits, names = [], ["x"]
    for name, value in (("roi", roi), ("scales", scales), ("sizes", sizes)):
        names.append(name if value is not None else "")
        if value is not None:
            inits.append((name, np.asarray(value, np.int64 if name == "sizes" else np.float32)))
    m = _model([h.make_node("Resize", names, ["y"], **attrs)], [("x", [1, 1, 4, 4])], ["y"], inits=inits, opset=19)
    x = _rand(np.random.default_rng(8), 1, 1, 4, 4)
    (want,) = ReferenceEvaluator(m).run(None, {"x": x})
    (got,) = hetc.compile(m, target="c", output_dir=tmp_path / "c").run({"x": x})
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
