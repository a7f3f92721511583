"""The ONNX backend node test cases, regenerated from onnx's own generators.

The onnx wheel no longer ships the case data, but ``onnx.backend.test.case``
regenerates all of it in seconds; we do that once per onnx version into a cache
folder (``$HETC_CACHE`` or ``~/.cache/hetc``) and load from there afterwards.
Nothing is downloaded.
"""

from __future__ import annotations

import os
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx


@dataclass
class NodeCase:
    name: str
    model: onnx.ModelProto
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    rtol: float
    atol: float

    @property
    def op_types(self) -> list[str]:
        return [n.op_type for n in self.model.graph.node]


def cache_dir() -> Path:
    root = Path(os.environ.get("HETC_CACHE", Path.home() / ".cache" / "hetc"))
    return root / f"onnx-node-cases-{onnx.__version__}"


def load_cases() -> list[NodeCase]:
    """All node cases (first data set of each), generating the cache on first use."""
    path = cache_dir() / "cases.pkl"
    if path.exists():
        with path.open("rb") as f:
            raw = pickle.load(f)
    else:
        from onnx.backend.test.case.node import collect_testcases

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tcs = collect_testcases(None)
        raw = []
        for tc in tcs:
            if tc.model is None or not tc.data_sets:
                continue
            ins, outs = tc.data_sets[0]
            raw.append((tc.name, tc.model.SerializeToString(), list(ins), list(outs), tc.rtol, tc.atol))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(raw, f)
        tmp.replace(path)
    cases = []
    for name, blob, ins, outs, rtol, atol in raw:
        cases.append(NodeCase(name, onnx.load_from_string(blob), ins, outs, rtol, atol))
    return cases
