"""The code generators hetc has, by `--target` name."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    #: (module, source_name, version) -> files of the output folder
    emit: Callable[[ModuleOp, str, str], dict[str, bytes | str]]
    #: output folder -> object with run(list of arrays) -> list of arrays
    load: Callable[[Path], object]
    readme: str


def _emit_numpy(module: ModuleOp, source_name: str, version: str) -> dict[str, bytes | str]:
    from hetc.backends.numpy.emitter import emit_numpy

    art = emit_numpy(module, source_name=source_name, version=version)
    buf = io.BytesIO()
    np.savez(buf, **art.weights)
    return {"model.py": art.source, "weights.npz": buf.getvalue()}


def _load_numpy(out_dir: Path):
    from hetc.runtime.numpy_runner import NumpyRunner

    return NumpyRunner(out_dir)


TARGETS: dict[str, Target] = {
    "numpy": Target(
        "numpy",
        "standalone NumPy module (the reference every other backend is checked against)",
        _emit_numpy,
        _load_numpy,
        "`model.py` needs only numpy: `import model; w = model.load_weights(); "
        "outs = model.forward(w, *inputs)` (inputs in the order of manifest.json).",
    ),
}
