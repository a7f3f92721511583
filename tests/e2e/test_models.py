"""End-to-end: real architectures from tests/models/zoo.py, hetc (numpy target) vs onnxruntime.

Slow (needs torch, and transformers for BERT/GPT-2): run with ``pytest -m slow tests/e2e``,
skip with ``-m 'not slow'``. Exports are cached in ``$HETC_CACHE/models`` when HETC_CACHE is
set, else in a session temp folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
import zoo  # noqa: E402

import hetc  # noqa: E402

pytestmark = pytest.mark.slow

RTOL_OF_MAX = 1e-4
# Dynamic axes (batch of resnet18 / bert_mini) are fed at this size, different from the
# export example (2) and the static default (1), and bound through input_shapes.
DYNAMIC_SIZE = 3

NEEDS_TRANSFORMERS = zoo.TRANSFORMERS_MODELS

# Known hetc failures, kept in the zoo so they stay visible: (name, dynamo) -> the exact
# error. strict=True, so a fix turns the case into an XPASS failure and the entry is removed.
#: (model, dynamo) -> reason, for models known to fail; each is a strict xfail
XFAIL: dict[tuple[str, bool], str] = {}


def _params():
    out = []
    for v in zoo.variants():
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[v])] if v in XFAIL else []
        out.append(pytest.param(v, marks=marks, id=_id(v)))
    return out


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory) -> Path:
    cache = os.environ.get("HETC_CACHE")
    if cache:
        d = Path(cache) / "models"
        d.mkdir(parents=True, exist_ok=True)
        return d
    return tmp_path_factory.mktemp("zoo")


def _id(v):
    name, dynamo = v
    return f"{name}-{'dynamo' if dynamo else 'torchscript'}"


def assert_close(name: str, got: np.ndarray, ref: np.ndarray) -> None:
    got = np.asarray(got)
    assert got.shape == ref.shape, f"{name}: shape {got.shape} != onnxruntime {ref.shape}"
    assert got.dtype == ref.dtype, f"{name}: dtype {got.dtype} != onnxruntime {ref.dtype}"
    if np.issubdtype(ref.dtype, np.floating):
        assert np.all(np.isfinite(got)), f"{name}: non-finite values"
        err = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
        scale = float(np.max(np.abs(ref))) if ref.size else 0.0
        assert err <= RTOL_OF_MAX * scale, f"{name}: max|hetc-ort| = {err:.3g} > {RTOL_OF_MAX} * max|ort| = {RTOL_OF_MAX * scale:.3g}"
    else:
        np.testing.assert_array_equal(got, ref, err_msg=name)


@pytest.mark.parametrize("variant", _params())
def test_model_matches_onnxruntime(variant, zoo_dir):
    name, dynamo = variant
    if name in NEEDS_TRANSFORMERS:
        pytest.importorskip("transformers")
    if dynamo:
        pytest.importorskip("onnxscript")
    try:
        path = zoo.export(name, zoo_dir, dynamo=dynamo)
    except zoo.DynamoExportError as e:
        pytest.skip(str(e))

    feeds = zoo.make_inputs(name, seed=0, dynamic_size=DYNAMIC_SIZE)
    ref_sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref_names = [o.name for o in ref_sess.get_outputs()]
    refs = ref_sess.run(None, feeds)

    sess = hetc.compile(str(path), target="numpy", input_shapes=zoo.input_shapes(feeds))
    assert sorted(sess.input_names) == sorted(feeds)
    assert list(sess.output_names) == ref_names
    outs = sess.run(feeds)
    assert len(outs) == len(refs)
    for out_name, got, ref in zip(ref_names, outs, refs):
        assert_close(f"{name}:{out_name}", got, ref)
