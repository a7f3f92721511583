"""Run one NumPy kernel directly on an ONNX node case (no compiler in between).

Used by the kernel unit tests; the full conformance runner goes through
``hetc.compile`` instead. Cases are first converted to hetc's pinned opset, so a
kernel implements only the latest semantics of its op.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
from onnx import helper, numpy_helper

from cases import NodeCase

from hetc.frontend.onnx_importer import python_attribute as attr_value

PINNED_OPSET = 28


def to_pinned(model: onnx.ModelProto) -> onnx.ModelProto | None:
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if version == PINNED_OPSET:
        return model
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return onnx.version_converter.convert_version(model, PINNED_OPSET)
    except Exception:
        return None


def run_kernel_case(case: NodeCase, kernels: dict) -> tuple[str, str]:
    """Returns (status, detail): status is 'pass', 'fail', 'skip'."""
    model = to_pinned(case.model)
    if model is None:
        return "skip", "opset conversion failed"
    nodes = list(model.graph.node)
    if len(nodes) != 1:
        return "skip", f"{len(nodes)} nodes"
    node = nodes[0]
    if node.domain not in ("", "ai.onnx"):
        return "skip", f"domain {node.domain}"
    fn = kernels.get(node.op_type)
    if fn is None:
        return "skip", f"no kernel for {node.op_type}"
    if any(not isinstance(x, np.ndarray) and not np.isscalar(x) for x in case.inputs):
        return "skip", "non-tensor input"
    feeds = dict(zip([i.name for i in model.graph.input], case.inputs))
    for init in model.graph.initializer:
        feeds[init.name] = numpy_helper.to_array(init)
    args = [feeds[name] if name else None for name in node.input]
    attrs = {a.name: attr_value(a) for a in node.attribute}
    if node.op_type == "Split" and "num_outputs" not in attrs:
        attrs["num_outputs"] = len(node.output)
    try:
        with np.errstate(all="ignore"):
            got = fn(*args, **attrs)
    except Exception as exc:  # a kernel crash is a failure, with its reason
        return "fail", f"raised {type(exc).__name__}: {exc}"
    if not isinstance(got, tuple):
        got = (got,)
    for i, (want, have) in enumerate(zip(case.outputs, got)):
        if not isinstance(want, np.ndarray) and not np.isscalar(want):
            return "skip", "non-tensor output"
        want = np.asarray(want)
        have = np.asarray(have)
        if have.dtype != want.dtype:
            return "fail", f"output {i}: dtype {have.dtype} != {want.dtype}"
        if have.shape != want.shape:
            return "fail", f"output {i}: shape {have.shape} != {want.shape}"
        if want.dtype.kind in "fc":
            if not np.allclose(have, want, rtol=case.rtol, atol=case.atol, equal_nan=True):
                err = np.nanmax(np.abs(have.astype(np.float64) - want.astype(np.float64)))
                return "fail", f"output {i}: max abs err {err:.3g}"
        elif not np.array_equal(have, want):
            return "fail", f"output {i}: values differ"
    return "pass", ""
