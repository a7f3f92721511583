"""The three onnx.helper-built examples (examples/build_examples.py): hetc numpy target vs
onnxruntime. Fast, no torch needed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest

ort = pytest.importorskip("onnxruntime")

import hetc  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RTOL_OF_MAX = 1e-4

# Feed shapes; the MLP's batch "N" is bound to 4 through input_shapes.
SHAPES = {
    "mlp": {"x": (4, 784)},
    "cnn": {"image": (1, 3, 32, 32)},
    "transformer_block": {"x": (1, 16, 64)},
}


def _load_builder():
    spec = importlib.util.spec_from_file_location("hetc_build_examples", EXAMPLES / "build_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build_examples = _load_builder()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return build_examples.build_all(tmp_path_factory.mktemp("examples"))


def _feeds(name: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES[name].items()}


def _check(path: Path, name: str) -> None:
    feeds = _feeds(name)
    ref_sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref_names = [o.name for o in ref_sess.get_outputs()]
    refs = ref_sess.run(None, feeds)

    sess = hetc.compile(str(path), target="numpy", input_shapes={k: v.shape for k, v in feeds.items()})
    assert sorted(sess.input_names) == sorted(feeds)
    assert list(sess.output_names) == ref_names
    outs = sess.run(feeds)
    assert len(outs) == len(refs)
    for out_name, got, ref in zip(ref_names, outs, refs):
        got = np.asarray(got)
        assert got.shape == ref.shape, f"{name}:{out_name} shape {got.shape} != {ref.shape}"
        assert got.dtype == ref.dtype, f"{name}:{out_name} dtype {got.dtype} != {ref.dtype}"
        err = float(np.max(np.abs(got.astype(np.float64) - ref)))
        scale = float(np.max(np.abs(ref)))
        assert err <= RTOL_OF_MAX * scale, f"{name}:{out_name} max|hetc-ort| = {err:.3g} > {RTOL_OF_MAX * scale:.3g}"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_example_matches_onnxruntime(name, built):
    _check(built[name], name)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_checked_in_example_is_current(name):
    """examples/<name>.onnx (what the README commands use) is what the script builds today."""
    path = EXAMPLES / f"{name}.onnx"
    if not path.exists():
        pytest.skip(f"{path} not checked in")
    model = onnx.load(str(path))
    assert model.ir_version == 10
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert path.stat().st_size < 1 << 20
    assert model.SerializeToString() == build_examples.BUILDERS[name]().SerializeToString(), (
        f"{path} is stale: run python examples/build_examples.py"
    )
