"""The `hetc` and `hetc-opt` commands, run the way a user runs them: as subprocesses.

Every test starts `python -m hetc.cli` / `python -m hetc.opt` (the console scripts are
checked once, if installed), looks only at exit codes, stdout, stderr and the files
written, and compares numbers against onnxruntime.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest

ort = pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CNN = EXAMPLES / "cnn.onnx"
MLP = EXAMPLES / "mlp.onnx"
TIMEOUT = 120


def _run(module: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def hetc(*args, cwd=None) -> subprocess.CompletedProcess:
    return _run("hetc.cli", *args, cwd=cwd)


def hetc_opt(*args, cwd=None) -> subprocess.CompletedProcess:
    return _run("hetc.opt", *args, cwd=cwd)


def _explain(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\n--- stdout (tail) ---\n{proc.stdout[-3000:]}\n--- stderr (tail) ---\n{proc.stderr[-3000:]}"


def _mlp_input() -> tuple[str, int]:
    """The MLP's input name and its static feature dim (dim 0 is the symbolic batch)."""
    (inp,) = onnx.load(str(MLP), load_external_data=False).graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param, "examples/mlp.onnx is expected to have a symbolic batch dim"
    return inp.name, dims[1].dim_value


def _ort_run(model_path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    model = onnx.load(str(model_path))
    model.ir_version = min(model.ir_version, 10)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _assert_close(got: np.ndarray, want: np.ndarray, rtol_of_max: float = 1e-4) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (got.dtype, got.shape, want.dtype, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-30)
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
    assert err <= rtol_of_max * scale, f"max abs err {err:.3e} > {rtol_of_max:g} x max|ref| {scale:.3e}"


# ---------------------------------------------------------------------------
# help
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["compile", "--help"], ["run", "--help"]], ids=" ".join)
def test_help_has_an_example(argv):
    proc = hetc(*argv)
    assert proc.returncode == 0, _explain(proc)
    assert "example" in proc.stdout.lower(), proc.stdout
    assert "Traceback" not in proc.stderr


def test_hetc_opt_help():
    proc = hetc_opt("--help")
    assert proc.returncode == 0, _explain(proc)
    assert "example" in proc.stdout.lower()
    assert "--input-shape" in proc.stdout


@pytest.mark.parametrize("script", ["hetc", "hetc-opt"])
def test_console_scripts_help(script):
    exe = shutil.which(script)
    if exe is None:
        pytest.skip(f"console script {script} is not on PATH")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, _explain(proc)
    assert "example" in proc.stdout.lower()
    assert script in proc.stdout  # the usage line names the program


def test_no_subcommand_is_a_usage_error():
    proc = hetc()
    assert proc.returncode == 2
    assert "usage" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def test_run_help_example_works_verbatim():
    from hetc.cli import EXAMPLES

    for example in EXAMPLES["run"].split("example:")[1:]:
        line = example.split()
        assert line[:2] == ["hetc", "run"]
        proc = hetc(*line[1:], "--quiet", cwd=REPO)
        assert proc.returncode == 0, _explain(proc)
        assert ("PASS" in proc.stdout) == ("--check" in line)
        assert ("kernel calls" in proc.stdout) == ("--profile" in line)


def test_compile_help_example_works_verbatim(tmp_path):
    from hetc.cli import EXAMPLES

    line = EXAMPLES["compile"].split("example:", 1)[1].split()
    assert line[:2] == ["hetc", "compile"]
    args = [str(REPO / a) if a.startswith("examples/") else a for a in line[1:]]
    proc = hetc(*args, "--quiet", cwd=tmp_path)  # -o out/cnn lands in tmp_path
    assert proc.returncode == 0, _explain(proc)
    assert (tmp_path / "out" / "cnn" / "manifest.json").is_file()


# ---------------------------------------------------------------------------
# hetc compile
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cnn_out(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("cnn")
    proc = hetc("compile", CNN, "--target", "numpy", "-o", base / "OUT")
    assert proc.returncode == 0, _explain(proc)
    return base / "OUT"


def test_compile_writes_the_output_folder(cnn_out):
    names = {p.name for p in cnn_out.iterdir()}
    assert {"model.py", "weights.npz", "manifest.json", "README.md"} <= names
    assert not [n for n in names if ".tmp-" in n or ".old-" in n]
    # nothing left beside it either
    assert [p.name for p in cnn_out.parent.iterdir()] == ["OUT"]


def test_compile_manifest(cnn_out):
    import hetc

    manifest = json.loads((cnn_out / "manifest.json").read_text())
    assert manifest["target"] == "numpy"
    assert manifest["hetc_version"] == hetc.__version__
    model = onnx.load(str(CNN), load_external_data=False)
    assert [i["name"] for i in manifest["inputs"]] == [i.name for i in model.graph.input]
    assert [o["name"] for o in manifest["outputs"]] == [o.name for o in model.graph.output]
    (inp,) = manifest["inputs"]
    assert inp["dtype"] == "float32"
    assert inp["shape"] == [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    (out,) = manifest["outputs"]
    assert out["dtype"] == "float32" and out["shape"] == [1, 10]
    for name in manifest["files"]:
        assert (cnn_out / name).is_file(), name


def test_compile_readme(cnn_out):
    text = (cnn_out / "README.md").read_text()
    assert "cnn.onnx" in text and "numpy" in text
    assert "manifest.json" in text


def test_compile_prints_where_it_wrote_and_progress(tmp_path):
    proc = hetc("compile", CNN, "-o", tmp_path / "o")
    assert proc.returncode == 0, _explain(proc)
    assert "wrote" in proc.stdout and "o" in proc.stdout
    assert re.search(r"^\[\s*\d+\.\d+s\] import$", proc.stderr, re.M), proc.stderr
    assert re.search(r"^\[\s*\d+\.\d+s\] emit numpy$", proc.stderr, re.M), proc.stderr


STANDALONE = textwrap.dedent(
    """
    import importlib.abc, importlib.util, json, sys
    import numpy as np

    BLOCKED = {"hetc", "onnx", "onnxruntime", "xdsl", "compiler", "backends", "runtime", "dialects"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"standalone model.py must not import {name}")
            return None

    sys.meta_path.insert(0, Block())
    out_dir, inputs, results = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("generated_model", out_dir + "/model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    w = mod.load_weights()
    with np.load(inputs) as data:
        feeds = [data[n] for n in mod.INPUT_NAMES]
    outs = mod.forward(w, *feeds)
    np.savez(results, **dict(zip(mod.OUTPUT_NAMES, outs)))
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({"leaked": leaked, "outputs": list(mod.OUTPUT_NAMES)}))
    """
)


def test_generated_model_runs_standalone_and_matches_onnxruntime(cnn_out, tmp_path):
    # Move the folder somewhere else: model.py must find weights.npz beside itself.
    moved = tmp_path / "elsewhere"
    shutil.copytree(cnn_out, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    rng = np.random.default_rng(1)
    feeds = {i["name"]: rng.standard_normal(i["shape"]).astype(i["dtype"]) for i in manifest["inputs"]}
    np.savez(tmp_path / "in.npz", **feeds)
    (tmp_path / "standalone.py").write_text(STANDALONE)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "standalone.py"), str(moved), str(tmp_path / "in.npz"), str(tmp_path / "res.npz")],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, _explain(proc)
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["leaked"] == []
    assert info["outputs"] == [o["name"] for o in manifest["outputs"]]
    want = _ort_run(CNN, feeds)
    with np.load(tmp_path / "res.npz") as got:
        for name, w in zip(info["outputs"], want):
            _assert_close(got[name], w)


def test_compile_replaces_an_earlier_hetc_output(tmp_path):
    out = tmp_path / "o"
    assert hetc("compile", CNN, "-o", out, "-q").returncode == 0
    (out / "stale.txt").write_text("from an earlier build")
    name, dim = _mlp_input()
    proc = hetc("compile", MLP, "-o", out, "-q", "--input-shape", f"{name}=2x{dim}")
    assert proc.returncode == 0, _explain(proc)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["shape"] == [2, dim]
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_compile_into_an_existing_empty_folder(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    proc = hetc("compile", CNN, "-o", out, "-q")
    assert proc.returncode == 0, _explain(proc)
    assert (out / "model.py").is_file()


def test_output_folder_permissions_follow_umask(tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()  # what a plain mkdir gives under this umask
    out = tmp_path / "o"
    assert hetc("compile", CNN, "-o", out, "-q").returncode == 0
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(probe.stat().st_mode)


# ---------------------------------------------------------------------------
# hetc run
# ---------------------------------------------------------------------------


def test_run_check_mlp(tmp_path):
    name, dim = _mlp_input()
    proc = hetc("run", MLP, "--check", "--input-shape", f"{name}=4x{dim}", cwd=tmp_path)
    assert proc.returncode == 0, _explain(proc)
    assert re.search(r"^PASS$", proc.stdout, re.M), proc.stdout
    outputs = [o.name for o in onnx.load(str(MLP), load_external_data=False).graph.output]
    for out in outputs:
        assert re.search(rf"^{re.escape(out)}: float32\[4, \d+\]$", proc.stdout, re.M), proc.stdout
        m = re.search(rf"{re.escape(out)}: max abs err (\S+)\s+max rel err (\S+).*ok$", proc.stdout, re.M)
        assert m, proc.stdout
        assert float(m.group(1)) <= 1e-3 and float(m.group(2)) <= 1e-4
    assert "Traceback" not in proc.stderr
    # progress lines go to stderr, not stdout
    assert "import" in proc.stderr and "run onnxruntime" in proc.stderr
    assert not re.search(r"^\[\s*\d", proc.stdout, re.M)
    # the temporary build folder is gone
    assert list(tmp_path.iterdir()) == []


def test_run_quiet_has_no_progress(tmp_path):
    name, dim = _mlp_input()
    proc = hetc("run", MLP, "--check", "--quiet", "--input-shape", f"{name}=4x{dim}", cwd=tmp_path)
    assert proc.returncode == 0, _explain(proc)
    assert proc.stderr == "", proc.stderr
    assert "PASS" in proc.stdout


def test_compile_quiet_is_silent(tmp_path):
    proc = hetc("compile", CNN, "-o", tmp_path / "o", "--quiet")
    assert proc.returncode == 0, _explain(proc)
    assert proc.stderr == "" and proc.stdout == ""


def test_run_uses_given_inputs(tmp_path):
    name, dim = _mlp_input()
    x = (np.linspace(-3, 3, 3 * dim, dtype=np.float32).reshape(3, dim) * 2).astype(np.float32)
    np.savez(tmp_path / "in.npz", **{name: x})
    proc = hetc(
        "run", MLP, "-q", "--check",
        "--input-shape", f"{name}=3x{dim}",
        "--inputs", tmp_path / "in.npz",
        "--save-outputs", tmp_path / "out.npz",
    )
    assert proc.returncode == 0, _explain(proc)
    assert "PASS" in proc.stdout
    want = _ort_run(MLP, {name: x})
    outputs = [o.name for o in onnx.load(str(MLP), load_external_data=False).graph.output]
    with np.load(tmp_path / "out.npz") as got:
        assert sorted(got.files) == sorted(outputs)
        for out, w in zip(outputs, want):
            _assert_close(got[out], w)
    # and they are not what the default random inputs give
    proc2 = hetc("run", MLP, "-q", "--input-shape", f"{name}=3x{dim}", "--save-outputs", tmp_path / "rand.npz")
    assert proc2.returncode == 0, _explain(proc2)
    with np.load(tmp_path / "rand.npz") as r, np.load(tmp_path / "out.npz") as g:
        assert not np.allclose(r[outputs[0]], g[outputs[0]])


def test_run_seed_is_deterministic(tmp_path):
    outs = []
    for i, seed in enumerate([5, 5, 6]):
        path = tmp_path / f"o{i}.npz"
        proc = hetc("run", CNN, "-q", "--seed", seed, "--save-outputs", path)
        assert proc.returncode == 0, _explain(proc)
        with np.load(path) as d:
            outs.append({k: d[k] for k in d.files})
    (k,) = outs[0]
    assert np.array_equal(outs[0][k], outs[1][k])
    assert not np.array_equal(outs[0][k], outs[2][k])


def test_run_check_fails_on_impossible_tolerance():
    name, dim = _mlp_input()
    proc = hetc("run", MLP, "-q", "--check", "--tolerance", "0", "--input-shape", f"{name}=4x{dim}", "--seed", "3")
    # hetc and onnxruntime differ by float rounding here; with tolerance 0 that is a FAIL, exit 1
    if "PASS" in proc.stdout:
        pytest.skip("outputs happen to be bit-identical to onnxruntime")
    assert proc.returncode == 1, _explain(proc)
    assert re.search(r"^FAIL$", proc.stdout, re.M)
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------
# hetc-opt
# ---------------------------------------------------------------------------


def test_hetc_opt_on_onnx_prints_ir(tmp_path):
    proc = hetc_opt(CNN, "-p", "hetc-fold-constants,hetc-dce")
    assert proc.returncode == 0, _explain(proc)
    assert "onnx.Conv" in proc.stdout
    assert "func.func @main" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_hetc_opt_mlir_round_trips(tmp_path):
    first = hetc_opt(CNN, "-p", "hetc-fold-constants,hetc-dce")
    assert first.returncode == 0, _explain(first)
    mlir = tmp_path / "cnn.mlir"
    mlir.write_text(first.stdout)
    again = hetc_opt(mlir)
    assert again.returncode == 0, _explain(again)
    assert again.stdout == first.stdout
    # a pass that has nothing left to do keeps it unchanged too
    dce = hetc_opt(mlir, "-p", "hetc-dce")
    assert dce.returncode == 0, _explain(dce)
    assert dce.stdout == first.stdout


def test_hetc_opt_binds_input_shape():
    name, dim = _mlp_input()
    proc = hetc_opt(MLP, "--input-shape", f"{name}=2x{dim}")
    assert proc.returncode == 0, _explain(proc)
    assert f"tensor<2x{dim}xf32>" in proc.stdout.split("\n", 2)[1]


def test_output_piped_into_head_is_not_an_error():
    # a reader that leaves before hetc writes (`hetc ... | true`, or `| head` on long
    # output) closes the pipe: hetc ends quietly, without a traceback or "internal error"
    proc = subprocess.run(
        f"{sys.executable} -m hetc.cli place examples/dag_topcuoglu.json --scheduler heft --quiet | true",
        shell=True, cwd=REPO, capture_output=True, text=True,
    )
    assert "internal error" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
