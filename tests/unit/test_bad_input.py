"""Bad inputs get a clear, short error: on stderr, naming the file (and node/op where there
is one), a non-zero exit, no Python traceback unless --debug, and no output folder (nor
`.tmp-` folder beside it) left behind. Run-time mistakes through the Python API raise
hetc.HetcError naming the input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetc

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CNN = EXAMPLES / "cnn.onnx"
MLP = EXAMPLES / "mlp.onnx"
TIMEOUT = 120


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def hetc_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hetc.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def hetc_opt(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hetc.opt", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _explain(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n--- stdout (tail) ---\n{proc.stdout[-2000:]}\n--- stderr (tail) ---\n{proc.stderr[-3000:]}"


def error_text(proc: subprocess.CompletedProcess, prog: str = "hetc") -> str:
    """Check the shape of a user-facing error and return its text (progress lines dropped)."""
    assert proc.returncode not in (0, None), _explain(proc)
    assert "Traceback" not in proc.stderr, _explain(proc)
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("[")]
    assert lines, _explain(proc)
    assert lines[0].startswith(f"{prog}: error: "), _explain(proc)
    # one line, plus at most a hint line
    assert len(lines) <= 2, _explain(proc)
    assert all(len(l) < 400 for l in lines), _explain(proc)
    return "\n".join(lines)


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), f"{out} was created"
    parent = out.parent
    while not parent.exists():  # the folder a new output would have gone into
        parent = parent.parent
    if parent.is_dir():
        leftovers = [p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
        assert leftovers == [], leftovers


def make_model(nodes, inputs, outputs, *, opset=17, initializers=(), extra_opsets=(), name="g"):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset), *[helper.make_opsetid(d, v) for d, v in extra_opsets]]
    return helper.make_model(graph, opset_imports=opsets, ir_version=10)


def vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def relu_model(shape=(2, 3)):
    return make_model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", list(shape))], [vi("y", list(shape))])


def compile_fails(model_path: Path, tmp_path: Path, *extra, prog_args=()) -> str:
    """`hetc compile MODEL -o OUT` must fail cleanly and write nothing; returns the error."""
    out = tmp_path / "OUT"
    proc = hetc_cli("compile", model_path, "-o", out, *extra, cwd=tmp_path)
    text = error_text(proc)
    assert_nothing_written(out)
    return text


# ---------------------------------------------------------------------------
# unreadable models
# ---------------------------------------------------------------------------


def test_nonexistent_file(tmp_path):
    missing = tmp_path / "no_such_model.onnx"
    text = compile_fails(missing, tmp_path)
    assert "no_such_model.onnx" in text
    assert "no such file" in text.lower()


def test_folder_instead_of_file(tmp_path):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    text = compile_fails(folder, tmp_path)
    assert "model.onnx" in text and "folder" in text


def test_corrupt_file(tmp_path):
    bad = tmp_path / "random.onnx"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    text = compile_fails(bad, tmp_path)
    assert "random.onnx" in text
    assert "not a valid ONNX model" in text


def test_empty_file(tmp_path):
    bad = tmp_path / "empty.onnx"
    bad.write_bytes(b"")
    text = compile_fails(bad, tmp_path)
    assert "empty.onnx" in text
    assert "not a valid ONNX model" in text


def test_truncated_model(tmp_path):
    data = CNN.read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    text = compile_fails(bad, tmp_path)
    assert "truncated.onnx" in text
    assert "not a valid ONNX model" in text


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "random.onnx"
    bad.write_bytes(b"\x00\xff" * 300)
    proc = hetc_cli("compile", bad, "-o", tmp_path / "OUT", "--debug")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    assert "HetcError" in proc.stderr and "random.onnx" in proc.stderr
    assert_nothing_written(tmp_path / "OUT")


# ---------------------------------------------------------------------------
# models hetc cannot compile
# ---------------------------------------------------------------------------


def test_unknown_op_domain(tmp_path):
    model = make_model(
        [helper.make_node("FusedMatMul", ["a", "b"], ["y"], name="fused_mm", domain="com.microsoft")],
        [vi("a", [2, 3]), vi("b", [3, 4])],
        [vi("y", [2, 4])],
        extra_opsets=[("com.microsoft", 1)],
    )
    path = tmp_path / "ms_domain.onnx"
    onnx.save(model, str(path))
    text = compile_fails(path, tmp_path)
    assert "ms_domain.onnx" in text
    assert "fused_mm" in text and "FusedMatMul" in text
    assert "com.microsoft" in text


def test_custom_domain(tmp_path):
    model = make_model(
        [helper.make_node("MyOp", ["x"], ["y"], name="mine", domain="org.example")],
        [vi("x", [2, 3])],
        [vi("y", [2, 3])],
        extra_opsets=[("org.example", 1)],
    )
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    text = compile_fails(path, tmp_path)
    assert "custom.onnx" in text and "mine" in text and "MyOp" in text and "org.example" in text


def test_control_flow_if_is_unsupported(tmp_path):
    then_g = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [], [vi("t", [2, 3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", [2, 3])])
    model = make_model(
        [helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)],
        [vi("x", [2, 3]), vi("c", [], TensorProto.BOOL)],
        [vi("y", [2, 3])],
    )
    path = tmp_path / "control_flow.onnx"
    onnx.save(model, str(path))
    text = compile_fails(path, tmp_path)
    assert "control_flow.onnx" in text and "branch" in text and "(If)" in text
    assert "not supported" in text


def test_op_without_a_kernel(tmp_path):
    # RandomNormalLike imports (shape inference knows it) but the NumPy backend has no kernel.
    model = make_model(
        [helper.make_node("RandomNormalLike", ["x"], ["y"], name="noise")], [vi("x", [2, 3])], [vi("y", [2, 3])]
    )
    path = tmp_path / "no_kernel.onnx"
    onnx.save(model, str(path))
    text = compile_fails(path, tmp_path)
    assert "no_kernel.onnx" in text and "noise" in text and "RandomNormalLike" in text
    assert "no kernel" in text


def test_opset_newer_than_supported(tmp_path):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])], opset=99)
    path = tmp_path / "future.onnx"
    onnx.save(model, str(path))
    text = compile_fails(path, tmp_path)
    assert "future.onnx" in text and "opset 99" in text


# ---------------------------------------------------------------------------
# shapes
# ---------------------------------------------------------------------------


def _mlp_input() -> tuple[str, int]:
    (inp,) = onnx.load(str(MLP), load_external_data=False).graph.input
    return inp.name, inp.type.tensor_type.shape.dim[1].dim_value


def test_symbolic_dim_without_input_shape(tmp_path):
    name, _ = _mlp_input()
    text = compile_fails(MLP, tmp_path)
    assert "mlp.onnx" in text
    assert f"'{name}'" in text and "symbolic" in text
    assert f"--input-shape {name}=" in text  # says how to bind it


def test_symbolic_dim_hint_through_the_python_api():
    name, _ = _mlp_input()
    with pytest.raises(hetc.HetcError) as exc:
        hetc.compile(str(MLP))
    assert "input_shapes" in str(exc.value) and name in str(exc.value)


@pytest.mark.parametrize("binding", ["x=4by784", "x", "=4x784", "x=4x-1", "x=4x7.5"])
def test_bad_input_shape_string(tmp_path, binding):
    text = compile_fails(MLP, tmp_path, "--input-shape", binding)
    assert f"bad --input-shape '{binding}'" in text
    assert "NAME=D0xD1x" in text  # says what the syntax is


def test_input_shape_names_a_non_input(tmp_path):
    name, dim = _mlp_input()
    text = compile_fails(MLP, tmp_path, "--input-shape", f"not_an_input=4x{dim}")
    assert "mlp.onnx" in text and "not_an_input" in text
    assert "not a graph input" in text and name in text  # lists the real inputs


def test_input_shape_with_wrong_rank_or_fixed_dim(tmp_path):
    name, dim = _mlp_input()
    text = compile_fails(MLP, tmp_path, "--input-shape", f"{name}=4x{dim}x1")
    assert "mlp.onnx" in text and "rank" in text
    text = compile_fails(MLP, tmp_path, "--input-shape", f"{name}=4x{dim + 1}")
    assert "mlp.onnx" in text and f"fixed to {dim}" in text


# ---------------------------------------------------------------------------
# output folders
# ---------------------------------------------------------------------------


def test_output_under_a_regular_file(tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("not a folder")
    out = blocker / "out"
    proc = hetc_cli("compile", CNN, "-o", out, "-q", cwd=tmp_path)
    text = error_text(proc)
    assert "somefile" in text and "cannot write output folder" in text
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile"]


def test_output_is_an_existing_file(tmp_path):
    target = tmp_path / "out"
    target.write_text("precious")
    proc = hetc_cli("compile", CNN, "-o", target, "-q", cwd=tmp_path)
    text = error_text(proc)
    assert "out" in text and "not a folder" in text
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_existing_non_empty_folder_without_manifest_is_refused(tmp_path):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("keep me")
    (out / "sub" / "data.bin").write_bytes(b"\x01\x02")
    before = sorted((str(p.relative_to(out)), p.stat().st_mtime_ns) for p in out.rglob("*"))
    proc = hetc_cli("compile", CNN, "-o", out, "-q", cwd=tmp_path)
    text = error_text(proc)
    assert "mine" in text and "refusing" in text
    after = sorted((str(p.relative_to(out)), p.stat().st_mtime_ns) for p in out.rglob("*"))
    assert after == before
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_failed_compile_leaves_an_earlier_output_alone(tmp_path):
    out = tmp_path / "OUT"
    assert hetc_cli("compile", CNN, "-o", out, "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage" * 100)
    error_text(hetc_cli("compile", bad, "-o", out, "-q"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUT", "bad.onnx"]


def test_unknown_target(tmp_path):
    text = compile_fails(CNN, tmp_path, "--target", "tpu9000")
    assert "tpu9000" in text and "numpy" in text  # lists the known targets


# ---------------------------------------------------------------------------
# external data
# ---------------------------------------------------------------------------


def _save_with_external_data(folder: Path) -> Path:
    folder.mkdir(parents=True)
    w = numpy_helper.from_array(np.arange(64, dtype=np.float32), "w")
    model = make_model(
        [helper.make_node("Add", ["x", "w"], ["y"], name="add")], [vi("x", [64])], [vi("y", [64])], initializers=[w]
    )
    path = folder / "model.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="w.bin", size_threshold=0)
    return path


def test_external_data_beside_the_model_works(tmp_path):
    path = _save_with_external_data(tmp_path / "m")
    sess = hetc.compile(str(path))
    x = np.ones(64, np.float32)
    np.testing.assert_array_equal(sess.run({"x": x})[0], x + np.arange(64, dtype=np.float32))


@pytest.mark.parametrize("location", ["../x.bin", "sub/../../x.bin", "/etc/hostname"])
def test_external_data_outside_the_model_folder(tmp_path, location):
    path = _save_with_external_data(tmp_path / "m")
    # a real file where the bad location points, so only the folder rule can stop it
    (tmp_path / "x.bin").write_bytes((path.parent / "w.bin").read_bytes())
    model = onnx.load(str(path), load_external_data=False)
    (init,) = model.graph.initializer
    for entry in init.external_data:
        if entry.key == "location":
            entry.value = location
    bad = path.parent / "escape.onnx"
    onnx.save(model, str(bad))
    text = compile_fails(bad, tmp_path)
    assert "escape.onnx" in text
    assert "'w'" in text and location in text and "outside" in text


def test_external_data_file_missing(tmp_path):
    path = _save_with_external_data(tmp_path / "m")
    (path.parent / "w.bin").unlink()
    text = compile_fails(path, tmp_path)
    assert "model.onnx" in text and "w.bin" in text and "missing" in text


# ---------------------------------------------------------------------------
# hetc run with bad --inputs
# ---------------------------------------------------------------------------


def test_run_inputs_file_missing(tmp_path):
    proc = hetc_cli("run", CNN, "-q", "--inputs", tmp_path / "nope.npz")
    text = error_text(proc)
    assert "nope.npz" in text and "cannot read inputs" in text


def test_run_inputs_with_wrong_name_and_dtype(tmp_path):
    np.savez(tmp_path / "wrong_name.npz", picture=np.zeros((1, 3, 32, 32), np.float32))
    text = error_text(hetc_cli("run", CNN, "-q", "--inputs", tmp_path / "wrong_name.npz"))
    assert "picture" in text and "image" in text
    np.savez(tmp_path / "wrong_dtype.npz", image=np.zeros((1, 3, 32, 32), np.float64))
    text = error_text(hetc_cli("run", CNN, "-q", "--inputs", tmp_path / "wrong_dtype.npz"))
    assert "'image'" in text and "float64" in text and "float32" in text


# ---------------------------------------------------------------------------
# run time, through the Python API
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_input_session():
    model = make_model(
        [helper.make_node("Add", ["a", "b"], ["y"], name="add")], [vi("a", [2, 3]), vi("b", [2, 3])], [vi("y", [2, 3])]
    )
    return hetc.compile(model, target="numpy")


def _ok(shape=(2, 3)):
    return np.ones(shape, np.float32)


def test_api_good_feeds(two_input_session):
    assert two_input_session.input_names == ["a", "b"]
    assert two_input_session.output_names == ["y"]
    (y,) = two_input_session.run({"a": _ok(), "b": _ok()})
    np.testing.assert_array_equal(y, 2 * _ok())


def test_api_missing_input(two_input_session):
    with pytest.raises(hetc.HetcError, match=r"missing input 'b'"):
        two_input_session.run({"a": _ok()})


def test_api_extra_input(two_input_session):
    with pytest.raises(hetc.HetcError) as exc:
        two_input_session.run({"a": _ok(), "b": _ok(), "c": _ok()})
    assert "'c'" in str(exc.value) and "unknown" in str(exc.value)


def test_api_wrong_dtype(two_input_session):
    with pytest.raises(hetc.HetcError) as exc:
        two_input_session.run({"a": _ok(), "b": _ok().astype(np.float64)})
    msg = str(exc.value)
    assert "'b'" in msg and "float64" in msg and "float32" in msg


def test_api_wrong_shape(two_input_session):
    with pytest.raises(hetc.HetcError) as exc:
        two_input_session.run({"a": _ok((3, 2)), "b": _ok()})
    msg = str(exc.value)
    assert "'a'" in msg and "[3, 2]" in msg and "[2, 3]" in msg


def test_api_feeds_not_a_dict(two_input_session):
    with pytest.raises(hetc.HetcError, match="dict"):
        two_input_session.run([_ok(), _ok()])


def test_api_unknown_output_name(two_input_session):
    with pytest.raises(hetc.HetcError) as exc:
        two_input_session.run({"a": _ok(), "b": _ok()}, output_names=["nope"])
    assert "nope" in str(exc.value)


def test_api_unknown_target():
    with pytest.raises(hetc.HetcError, match="tpu9000"):
        hetc.compile(relu_model(), target="tpu9000")


def test_api_session_on_a_folder_that_is_not_an_output(tmp_path):
    with pytest.raises(hetc.HetcError, match="not a hetc output folder"):
        hetc.Session(tmp_path)


def test_api_build_refuses_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(hetc.HetcError, match="refusing"):
        hetc.build(relu_model(), "numpy", out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


# ---------------------------------------------------------------------------
# hetc-opt
# ---------------------------------------------------------------------------


def test_hetc_opt_corrupt_model(tmp_path):
    bad = tmp_path / "random.onnx"
    bad.write_bytes(b"\x00\xff" * 300)
    text = error_text(hetc_opt(bad), prog="hetc-opt")
    assert "random.onnx" in text and "not a valid ONNX model" in text


def test_hetc_opt_unsupported_model(tmp_path):
    model = make_model(
        [helper.make_node("MyOp", ["x"], ["y"], name="mine", domain="org.example")],
        [vi("x", [2])],
        [vi("y", [2])],
        extra_opsets=[("org.example", 1)],
    )
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    text = error_text(hetc_opt(path), prog="hetc-opt")
    assert "custom.onnx" in text and "mine" in text and "MyOp" in text


def test_hetc_opt_nonexistent_file(tmp_path):
    text = error_text(hetc_opt(tmp_path / "missing.onnx"), prog="hetc-opt")
    assert "missing.onnx" in text


@pytest.mark.parametrize("case", ["parse_error", "unknown_pass"])
def test_hetc_opt_bad_mlir_or_pass(tmp_path, case):
    if case == "parse_error":
        bad = tmp_path / "bad.mlir"
        bad.write_text("garbage {\n")
        text = error_text(hetc_opt(bad), prog="hetc-opt")
        assert "bad.mlir" in text
    else:
        text = error_text(hetc_opt(CNN, "-p", "no-such-pass"), prog="hetc-opt")
        assert "no-such-pass" in text
