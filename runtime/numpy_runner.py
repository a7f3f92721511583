"""Loads a NumPy-backend output folder and runs its `forward`."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np

_counter = itertools.count()


class NumpyRunner:
    def __init__(self, out_dir: str | Path) -> None:
        path = Path(out_dir) / "model.py"
        spec = importlib.util.spec_from_file_location(f"hetc_generated_{next(_counter)}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.module = module
        self.weights = module.load_weights(str(Path(out_dir) / "weights.npz"))

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        with np.errstate(all="ignore"):
            outs = self.module.forward(self.weights, *inputs)
        return [np.asarray(o) for o in outs]
