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
           "spm_high_water", "gathered_bytes", "serial_cycles", "compute_wait_cycles")


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


def simulate_once(lib_path: str | Path, weights_file: bytes, inputs: list[tuple[tuple[int, ...], np.dtype]],
                  outputs: list[tuple[tuple[int, ...], np.dtype]]) -> dict:
    """Run a built NPU library once on zero inputs and return the simulator's counters.
    The program is straight-line (no data-dependent control), so its traffic and cycles do
    not depend on the input values: the compile report's simulated numbers come from here."""
    import tempfile

    lib = ctypes.CDLL(str(lib_path))
    lib.hetc_model_init.restype = ctypes.c_void_p
    lib.hetc_model_init.argtypes = [ctypes.c_char_p]
    lib.hetc_model_run_ptrs.restype = ctypes.c_int
    lib.hetc_model_run_ptrs.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.hetc_model_free.argtypes = [ctypes.c_void_p]
    lib.hetc_model_error.restype = ctypes.c_char_p
    lib.npu_stats.restype = ctypes.POINTER(NpuStats)
    with tempfile.TemporaryDirectory(prefix="hetc-npu-sim-") as tmp:
        wpath = Path(tmp) / "weights.bin"
        wpath.write_bytes(weights_file)
        handle = lib.hetc_model_init(str(wpath).encode())
    if not handle:
        raise HetcError(f"the NPU model's init failed in the simulator: {lib.hetc_model_error().decode()}")
    try:
        ins = [np.zeros(s, dtype=d) for s, d in inputs]
        outs = [np.zeros(s, dtype=d) for s, d in outputs]
        in_ptrs = (ctypes.c_void_p * max(len(ins), 1))(*[x.ctypes.data for x in ins])
        out_ptrs = (ctypes.c_void_p * max(len(outs), 1))(*[y.ctypes.data for y in outs])
        status = lib.hetc_model_run_ptrs(handle, in_ptrs, out_ptrs)
        s = lib.npu_stats().contents
        stats = {f: int(getattr(s, f)) for f in _FIELDS}
        if status != 0:
            msg = s.message.decode() if s.error else f"status {status}"
            raise HetcError(f"the NPU program failed in the simulator: {msg}")
    finally:
        lib.hetc_model_free(handle)
    return stats
