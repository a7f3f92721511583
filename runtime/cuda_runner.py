"""Loads a CUDA-target output folder (libmodel.so + weights.bin) with ctypes and runs it."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from hetc.artifacts import read_manifest
from hetc.runtime.c_runner import run_ptrs
from hetc.diagnostics import HetcError


class CudaRunner:
    def __init__(self, out_dir: str | Path) -> None:
        out_dir = Path(out_dir)
        self.manifest = read_manifest(out_dir)
        lib = out_dir / "libmodel.so"
        if not lib.exists():
            raise HetcError(f"{lib} was not built (no nvcc when it was compiled)", hint="run `make` there where nvcc exists")
        try:
            self.lib = ctypes.CDLL(str(lib))
        except OSError as exc:
            raise HetcError(f"cannot load {lib}: {exc}", hint="the CUDA runtime (libcudart) must be loadable; "
                            "targets that work without a GPU: c, numpy, hls") from None
        L, P = self.lib, ctypes.c_void_p
        L.hetc_model_init.restype = P
        L.hetc_model_init.argtypes = [ctypes.c_char_p]
        L.hetc_model_run_ptrs.argtypes = [P, P, P]
        L.hetc_model_run_device.argtypes = [P]
        L.hetc_model_device_buffer.restype = P
        L.hetc_model_device_buffer.argtypes = [P, ctypes.c_int]
        L.hetc_model_time.argtypes = [P, ctypes.c_int, P]
        L.hetc_model_profile.argtypes = [P, ctypes.c_int, P, ctypes.c_int]
        L.hetc_model_launch_label.restype = ctypes.c_char_p
        L.hetc_model_launch_bytes.restype = ctypes.c_double
        L.hetc_model_launch_flops.restype = ctypes.c_double
        L.hetc_model_free.argtypes = [P]
        L.hetc_model_error.restype = ctypes.c_char_p
        self.handle = L.hetc_model_init(str(out_dir / "weights.bin").encode())
        if not self.handle:
            raise HetcError(f"CUDA model init failed: {L.hetc_model_error().decode()}")
        self._free = L.hetc_model_free

    def _fail(self, what: str) -> HetcError:
        return HetcError(f"{what} failed on the GPU: {self.lib.hetc_model_error().decode()}")

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs, status = run_ptrs(self.lib, self.handle, self.manifest, inputs)
        if status != 0:
            raise self._fail("the compiled model")
        return outs

    def time(self, inputs: list[np.ndarray], runs: int = 100, warmup: int = 10) -> list[float]:
        """Seconds of each of `runs` forward passes (CUDA-graph replays on device-resident
        inputs, timed with CUDA events), after `warmup` untimed ones."""
        self.run(inputs)  # uploads the inputs into the device buffers
        scratch = (ctypes.c_float * max(warmup, 1))()
        if warmup and self.lib.hetc_model_time(self.handle, warmup, scratch) != 0:
            raise self._fail("timing")
        ms = (ctypes.c_float * max(runs, 1))()
        if self.lib.hetc_model_time(self.handle, runs, ms) != 0:
            raise self._fail("timing")
        return [ms[i] * 1e-3 for i in range(runs)]

    def profile(self, inputs: list[np.ndarray], runs: int = 10) -> list[dict]:
        """Per kernel launch in program order: label, mean seconds over `runs` uncaptured
        passes, bytes of its buffer arguments, and flops (GEMMs)."""
        self.run(inputs)
        n = self.lib.hetc_model_launch_count()
        ms = (ctypes.c_double * max(n, 1))()
        if self.lib.hetc_model_profile(self.handle, runs, ms, n) < 0:
            raise self._fail("profiling")
        return [
            {
                "label": self.lib.hetc_model_launch_label(i).decode(),
                "seconds": ms[i] * 1e-3,
                "bytes": self.lib.hetc_model_launch_bytes(i),
                "flops": self.lib.hetc_model_launch_flops(i),
            }
            for i in range(n)
        ]

    def __del__(self) -> None:
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            self._free(handle)
