"""hetc-npu-tile and tiled_problem: the tiled graph computes what the untiled one does
(NumPy backend), every op then fits the scratchpad, and what cannot fit is named."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from hetc.api import compile_module
from hetc.diagnostics import HetcError
from hetc.dialects import onnx as onnx_d
from hetc.passes.npu_tile import REGIONS_ATTR, Tiler, tile_module, tiled_problem
from hetc.pipeline import run_pipeline
from hetc.runtime.numpy_runner import NumpyRunner
from onnx import TensorProto as T
from onnx import helper as h
from xdsl.dialects import func

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _numpy_outputs(module, feeds, tmp: Path) -> list[np.ndarray]:
    from hetc.backends.numpy.emitter import emit_numpy

    art = emit_numpy(module)
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "model.py").write_text(art.source)
    buf = io.BytesIO()
    np.savez(buf, **art.weights)
    (tmp / "weights.npz").write_bytes(buf.getvalue())
    return NumpyRunner(tmp).run(list(feeds.values()))


def _main(module):
    return next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")


@pytest.mark.parametrize("name,capacity", [("cnn", 65536), ("cnn", 16384), ("transformer_block", 65536), ("mlp", 65536)])
def test_tiled_graph_computes_the_same(name, capacity, tmp_path):
    shapes = {"x": (2, 784)} if name == "mlp" else None
    module = compile_module(EXAMPLES / f"{name}.onnx", shapes)
    run_pipeline(module, ["hetc-choose-layout{layout=nchw}", "hetc-canonicalize", "hetc-dce"])
    rng = np.random.default_rng(0)
    main = _main(module)
    feeds = {a.name_hint or f"in{i}": rng.standard_normal(a.type.get_shape()).astype(np.float32)
             for i, a in enumerate(main.body.block.args)}
    want = _numpy_outputs(module, feeds, tmp_path / "untiled")
    tiled = module.clone()
    report = tile_module(tiled, capacity)
    run_pipeline(tiled, ["hetc-dce"])
    assert report, "something must need tiling at this capacity"
    got = _numpy_outputs(tiled, feeds, tmp_path / "tiled")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * np.abs(w).max())
    # every op of the tiled graph now fits
    t = Tiler(_main(tiled), capacity)
    for op in _main(tiled).body.block.ops:
        if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE not in ("Constant", "Reshape"):
            assert t.whole_working_set(op) <= capacity, op.node_name


def test_conv_tiles_read_input_windows_by_region():
    module = compile_module(EXAMPLES / "cnn.onnx")
    tile_module(module, 32768)
    regions = _main(module).attributes[REGIONS_ATTR].data
    assert '"starts": [0, 0, 0, 0]' in regions  # the first row window of the image
    convs = [op for op in _main(module).walk() if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE == "Conv"]
    assert len(convs) > 3
    # pads are [top, left, bottom, right]: the top-left tile keeps only its top and left pad
    pads = {tuple(onnx_d.attribute_to_python(c.attributes["pads"])) for c in convs}
    assert (1, 1, 0, 0) in pads and (0, 0, 1, 1) in pads


def test_tiled_problem_fits_and_loads_regions():
    p = tiled_problem(EXAMPLES / "cnn.onnx", 65536)
    p.validate()
    assert max(p.footprint(op) for op in p.ops) <= 65536
    regions = [t for t in p.tensors.values() if "[" in t.name]
    assert regions and all(t.kind == "input" for t in regions)
    assert not any("image" == t for t in p.tensors)  # never the whole 12 KiB image... loaded as windows
    big = tiled_problem(EXAMPLES / "cnn.onnx", 2 << 20)
    assert len(big.ops) < len(p.ops)


def _matvec(k: int) -> onnx.ModelProto:
    w = h.make_tensor("w", T.FLOAT, [k, 1], np.ones(k, np.float32))
    g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"], name="big_dot")], "g",
                     [h.make_tensor_value_info("x", T.FLOAT, [1, k])], [h.make_tensor_value_info("y", T.FLOAT, [1, 1])], [w])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_a_tile_that_cannot_fit_is_named():
    with pytest.raises(HetcError, match=r"node 'big_dot' \(MatMul\).*capacity is 4096 bytes"):
        module = compile_module(_matvec(4096))
        tile_module(module, 4096)


def _qkv_heads() -> onnx.ModelProto:
    """ViT attention's data movement: a fused QKV projection, reshaped into heads,
    transposed, split into q/k/v, heads squeezed, one more product."""
    rng = np.random.default_rng(2)
    w = h.make_tensor("w", T.FLOAT, [32, 96], rng.standard_normal((32, 96)).astype(np.float32).ravel())
    nodes = [
        h.make_node("MatMul", ["x", "w"], ["qkv"], name="qkv"),
        h.make_node("Reshape", ["qkv", "s5"], ["r"], name="heads"),
        h.make_node("Transpose", ["r"], ["t"], perm=[2, 0, 3, 1, 4], name="tr"),
        h.make_node("Split", ["t", "sp"], ["q", "k", "v"], axis=0, name="split"),
        h.make_node("Reshape", ["q", "s4"], ["q4"]), h.make_node("Reshape", ["k", "s4"], ["k4"]),
        h.make_node("Reshape", ["v", "s4"], ["v4"]),
        h.make_node("Transpose", ["k4"], ["kt"], perm=[0, 1, 3, 2]),
        h.make_node("MatMul", ["q4", "kt"], ["a"], name="scores"),
        h.make_node("Softmax", ["a"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "v4"], ["y"], name="ctx"),
    ]
    inits = [w, h.make_tensor("s5", T.INT64, [5], [1, 16, 3, 2, 16]), h.make_tensor("s4", T.INT64, [4], [1, 2, 16, 16]),
             h.make_tensor("sp", T.INT64, [3], [1, 1, 1])]
    g = h.make_graph(nodes, "qkv", [h.make_tensor_value_info("x", T.FLOAT, [1, 16, 32])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 2, 16, 16])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_reshape_split_of_tiled_values_read_pieces(tmp_path):
    module = compile_module(_qkv_heads())
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((1, 16, 32)).astype(np.float32)}
    want = _numpy_outputs(module, feeds, tmp_path / "untiled")
    tiled = module.clone()
    tile_module(tiled, 8192)
    run_pipeline(tiled, ["hetc-dce"])
    types = [op.OP_TYPE for op in _main(tiled).walk() if isinstance(op, onnx_d.OnnxOp)]
    assert "Split" not in types and types.count("Reshape") > 3  # per piece
    np.testing.assert_allclose(_numpy_outputs(tiled, feeds, tmp_path / "tiled")[0], want[0], rtol=1e-4,
                               atol=1e-5 * np.abs(want[0]).max())
    t = Tiler(_main(tiled), 8192)
    assert all(t.whole_working_set(op) <= 8192 for op in _main(tiled).body.block.ops
               if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE not in ("Constant", "Reshape"))


def test_map_box_agrees_with_numpy():
    from hetc.passes.npu_tile import map_box

    rng = np.random.default_rng(0)
    for a, b in [([1, 65, 576], [1, 65, 3, 3, 64]), ([2, 3, 4], [6, 4]), ([24], [2, 3, 4]), ([4, 6], [2, 2, 3, 2])]:
        arr = np.arange(int(np.prod(a))).reshape(a)
        mapped = 0
        for _ in range(200):
            box = []
            for d in a:
                lo = int(rng.integers(0, d))
                box.append((0, d) if rng.random() < 0.5 else (lo, int(rng.integers(lo + 1, d + 1))))
            got = map_box(tuple(box), a, b)
            if got is not None:
                mapped += 1
                want = arr[tuple(slice(x, y) for x, y in box)].ravel()
                assert np.array_equal(np.sort(arr.reshape(b)[tuple(slice(x, y) for x, y in got)].ravel()), np.sort(want))
        assert mapped > 20


def test_row_ops_tile_by_rows(tmp_path):
    """Layer norm (no bias: an absent optional input), softmax and a keepdims reduction
    are cut along their rows; the normalized axis stays whole."""
    rng = np.random.default_rng(4)
    scale = h.make_tensor("g", T.FLOAT, [96], rng.standard_normal(96).astype(np.float32))
    nodes = [h.make_node("LayerNormalization", ["x", "g"], ["n"], axis=-1, name="ln"),
             h.make_node("Softmax", ["n"], ["s"], axis=-1, name="sm"),
             h.make_node("ReduceMean", ["s", "ax"], ["y"], keepdims=1, name="mean")]
    g = h.make_graph(nodes, "rows", [h.make_tensor_value_info("x", T.FLOAT, [1, 128, 96])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 128, 1])],
                     [scale, h.make_tensor("ax", T.INT64, [1], [2])])
    module = compile_module(h.make_model(g, opset_imports=[h.make_opsetid("", 18)]))
    feeds = {"x": rng.standard_normal((1, 128, 96)).astype(np.float32)}
    want = _numpy_outputs(module, feeds, tmp_path / "untiled")
    tiled = module.clone()
    report = tile_module(tiled, 16384)
    run_pipeline(tiled, ["hetc-dce"])
    assert {"ln", "sm"} <= set(report)
    np.testing.assert_allclose(_numpy_outputs(tiled, feeds, tmp_path / "tiled")[0], want[0], rtol=1e-5, atol=1e-6)


def test_resize_tiles_by_channel(tmp_path):
    rng = np.random.default_rng(6)
    nodes = [h.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest", name="up")]
    g = h.make_graph(nodes, "up", [h.make_tensor_value_info("x", T.FLOAT, [1, 16, 16, 16])],
                     [h.make_tensor_value_info("y", T.FLOAT, [1, 16, 32, 32])],
                     [h.make_tensor("sizes", T.INT64, [4], [1, 16, 32, 32])])
    module = compile_module(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))
    feeds = {"x": rng.standard_normal((1, 16, 16, 16)).astype(np.float32)}
    want = _numpy_outputs(module, feeds, tmp_path / "untiled")
    tiled = module.clone()
    assert tile_module(tiled, 16384) == {"up": 8}
    run_pipeline(tiled, ["hetc-dce"])
    np.testing.assert_array_equal(_numpy_outputs(tiled, feeds, tmp_path / "tiled")[0], want[0])


def _ort(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.ir_version = min(m.ir_version, 10)
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _tile_and_check(model: onnx.ModelProto, capacity: int, tmp_path: Path, seed: int = 0):
    """Tile at `capacity`; the tiled graph (NumPy backend) equals onnxruntime on the
    original; every op of it fits. Returns the tiled @main."""
    module = compile_module(model)
    main = _main(module)
    rng = np.random.default_rng(seed)
    feeds = {a.name_hint: rng.standard_normal(a.type.get_shape()).astype(np.float32) for a in main.body.block.args}
    want = _ort(model, feeds)
    report = tile_module(module, capacity)
    run_pipeline(module, ["hetc-dce"])
    assert report, "the op must need tiling at this capacity"
    got = _numpy_outputs(module, feeds, tmp_path)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(w).max())))
    # every tile fits (the Slice/Concat around them are strided DMAs of the graph's input and output)
    t = Tiler(_main(module), capacity)
    kind = model.graph.node[0].op_type
    for op in _main(module).body.block.ops:
        if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE == kind:
            assert t.whole_working_set(op) <= capacity, op.node_name
    return _main(module)


def _one_op(op_type: str, x_shape, y_shape, inits=(), **attrs) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    tensors = [h.make_tensor(n, T.FLOAT, list(s), (rng.standard_normal(s) * 0.3).astype(np.float32).ravel()) for n, s in inits]
    node = h.make_node(op_type, ["x", *[n for n, _ in inits]], ["y"], name="op", **attrs)
    g = h.make_graph([node], "one", [h.make_tensor_value_info("x", T.FLOAT, list(x_shape))],
                     [h.make_tensor_value_info("y", T.FLOAT, list(y_shape))], tensors)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


@pytest.mark.parametrize("k,s,pads,opad,group,cin,cout", [
    (2, 2, [0, 0, 0, 0], [0, 0], 1, 8, 4),     # UNet / DBNet's upsampling
    (3, 2, [1, 1, 1, 1], [1, 1], 1, 8, 4),     # overlapping taps, pads, output_padding
    (1, 2, [0, 0, 0, 0], [1, 1], 1, 4, 4),     # a kernel smaller than the stride
    (3, 1, [1, 0, 2, 1], [0, 0], 2, 8, 8),     # grouped: spatial tiles only
])
def test_conv_transpose_tiles_spatially(k, s, pads, opad, group, cin, cout, tmp_path):
    n = 16
    out = [(n - 1) * s + opad[i] + k - pads[i] - pads[2 + i] for i in range(2)]
    model = _one_op("ConvTranspose", [1, cin, n, n], [1, cout, *out], [("w", (cin, cout // group, k, k)), ("b", (cout,))],
                    strides=[s, s], pads=pads, output_padding=opad, group=group)
    main = _tile_and_check(model, 8192, tmp_path)
    tiles = [op for op in main.body.block.ops if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE == "ConvTranspose"]
    assert len(tiles) > 2 and any(op.results[0].type.get_shape()[2] < out[0] for op in tiles)  # rows were cut


@pytest.mark.parametrize("group,cin,cout,n", [(4, 64, 128, 4), (256, 256, 512, 2), (64, 64, 64, 8)])
def test_grouped_and_depthwise_convs_tile_by_groups(group, cin, cout, n, tmp_path):
    """group 4 (16 -> 32 channels per group), depthwise x2 (a channel multiplier), depthwise:
    the weights alone exceed the scratchpad, so output channels must be cut."""
    model = _one_op("Conv", [1, cin, n, n], [1, cout, n, n], [("w", (cout, cin // group, 3, 3)), ("b", (cout,))],
                    group=group, pads=[1, 1, 1, 1])
    main = _tile_and_check(model, 16384, tmp_path)
    convs = [op for op in main.body.block.ops if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE == "Conv"]
    cout_g = cout // group
    assert any(c.results[0].type.get_shape()[1] < cout for c in convs)
    for c in convs:
        g = onnx_d.attribute_to_python(c.attributes["group"]) if "group" in c.attributes else 1
        oc = c.results[0].type.get_shape()[1]
        assert (g == 1 and oc <= cout_g) or oc == g * cout_g  # never a cut group


@pytest.mark.parametrize("op_type,attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "pads": [0, 0, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 1, 1, 1], "count_include_pad": 1}),
])
def test_ceil_mode_pools_tile_spatially(op_type, attrs, tmp_path):
    n = 33
    pads = attrs.get("pads", [0, 0, 0, 0])
    k, s = attrs["kernel_shape"][0], attrs["strides"][0]
    o = -(-(n + pads[0] + pads[2] - k) // s) + 1
    if (o - 1) * s >= n + pads[0]:
        o -= 1
    if attrs.get("count_include_pad"):
        # the overhang of a ceil-mode window must not count, pads must: rows stay whole, channels are cut
        model = _one_op(op_type, [1, 8, n, n], [1, 8, o, o], **attrs)
        main = _tile_and_check(model, 16384, tmp_path)
        pools = [op for op in main.body.block.ops if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE == op_type]
        assert len(pools) > 1 and all(op.results[0].type.get_shape()[2] == o for op in pools)
        return
    model = _one_op(op_type, [1, 1, n, n], [1, 1, o, o], **attrs)  # one channel: only rows/columns can be cut
    main = _tile_and_check(model, 4096, tmp_path)
    pools = [op for op in main.body.block.ops if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE == op_type]
    assert len(pools) > 1 and all(min(op.results[0].type.get_shape()[2:]) < o for op in pools)
    assert all(not onnx_d.attribute_to_python(op.attributes["ceil_mode"]) for op in pools if "ceil_mode" in op.attributes)
