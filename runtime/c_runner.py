"""Loads a C-backend output folder (libmodel.so + weights.bin) with ctypes and runs it."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from hetc.artifacts import read_manifest
from hetc.diagnostics import HetcError


class CRunner:
    def __init__(self, out_dir: str | Path) -> None:
        out_dir = Path(out_dir)
        self.manifest = read_manifest(out_dir)
        try:
            self.lib = ctypes.CDLL(str(out_dir / "libmodel.so"))
        except OSError as exc:
            raise HetcError(f"cannot load {out_dir / 'libmodel.so'}: {exc}", hint="rebuild it with `make` there") from None
        self.lib.hetc_model_init.restype = ctypes.c_void_p
        self.lib.hetc_model_init.argtypes = [ctypes.c_char_p]
        self.lib.hetc_model_run_ptrs.restype = ctypes.c_int
        self.lib.hetc_model_run_ptrs.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.hetc_model_free.argtypes = [ctypes.c_void_p]
        self.lib.hetc_model_error.restype = ctypes.c_char_p
        self.handle = self.lib.hetc_model_init(str(out_dir / "weights.bin").encode())
        if not self.handle:
            raise HetcError(f"model init failed: {self.lib.hetc_model_error().decode()}")
        self._free = self.lib.hetc_model_free

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        ins = [np.ascontiguousarray(x) for x in inputs]
        outs = [np.empty(o["shape"], dtype=np.dtype(o["dtype"])) for o in self.manifest["outputs"]]
        in_ptrs = (ctypes.c_void_p * max(len(ins), 1))(*[x.ctypes.data for x in ins])
        out_ptrs = (ctypes.c_void_p * max(len(outs), 1))(*[y.ctypes.data for y in outs])
        status = self.lib.hetc_model_run_ptrs(self.handle, in_ptrs, out_ptrs)
        if status != 0:
            raise HetcError(f"the compiled model failed (status {status})")
        return outs

    def __del__(self) -> None:
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            self._free(handle)
