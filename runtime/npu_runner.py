"""Loads an NPU output folder (libmodel.so = the model linked with the simulator) with
ctypes, runs it, and reads the simulator's counters after each run."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
from hetc.diagnostics import HetcError
from hetc.runtime.c_runner import CRunner, run_ptrs

_FIELDS = ("dma_in_bytes", "dma_out_bytes", "compulsory_bytes", "noncompulsory_bytes", "moved_bytes", "dma_count",
           "matrix_tiles", "vector_elements", "cycles", "dma_cycles", "matrix_cycles", "vector_cycles", "move_cycles",
           "spm_high_water", "gathered_bytes")


class NpuStats(ctypes.Structure):
    _fields_ = [(f, ctypes.c_uint64) for f in _FIELDS] + [("error", ctypes.c_int), ("message", ctypes.c_char * 256)]


class NpuRunner(CRunner):
    """`run` as the C runner; `stats` holds the simulator's counters of the last run."""

    def __init__(self, out_dir: str | Path) -> None:
        super().__init__(out_dir)
        self.lib.npu_stats.restype = ctypes.POINTER(NpuStats)
        self.stats: dict | None = None

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs, status = run_ptrs(self.lib, self.handle, self.manifest, inputs)
        s = self.lib.npu_stats().contents
        self.stats = {f: int(getattr(s, f)) for f in _FIELDS}
        if status != 0:
            msg = s.message.decode() if s.error else f"status {status}"
            raise HetcError(f"the NPU program failed in the simulator: {msg}")
        return outs
