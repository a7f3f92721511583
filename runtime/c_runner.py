"""Loads a C-backend output folder (libmodel.so + weights.bin) with ctypes and runs it."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from hetc.artifacts import read_manifest
from hetc.diagnostics import HetcError


def run_ptrs(lib: ctypes.CDLL, handle, manifest: dict, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Call a generated library's `hetc_model_run_ptrs` (C and CUDA targets alike) on
    host arrays: the outputs (shaped from the manifest) and the status it returned."""
    ins = [np.ascontiguousarray(x) for x in inputs]
    outs = [np.empty(o["shape"], dtype=np.dtype(o["dtype"])) for o in manifest["outputs"]]
    in_ptrs = (ctypes.c_void_p * max(len(ins), 1))(*[x.ctypes.data for x in ins])
    out_ptrs = (ctypes.c_void_p * max(len(outs), 1))(*[y.ctypes.data for y in outs])
    return outs, lib.hetc_model_run_ptrs(handle, in_ptrs, out_ptrs)


class CRunner:
    def __init__(self, out_dir: str | Path) -> None:
        self._load(Path(out_dir), Path(out_dir) / "libmodel.so")

    def _load(self, out_dir: Path, lib: Path) -> None:
        self.manifest = read_manifest(out_dir)
        try:
            self.lib = ctypes.CDLL(str(lib))
        except OSError as exc:
            raise HetcError(f"cannot load {lib}: {exc}", hint="rebuild it with `make` there") from None
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
        if hasattr(self.lib, "hetc_model_profile"):
            self.lib.hetc_model_profile.restype = ctypes.c_int
            self.lib.hetc_model_profile.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs, status = run_ptrs(self.lib, self.handle, self.manifest, inputs)
        if status != 0:
            raise HetcError(f"the compiled model failed (status {status})")
        return outs

    @classmethod
    def profiled(cls, out_dir: str | Path) -> "CRunner":
        """The same model built with per-kernel timers (-DHETC_PROFILE, cached beside
        the normal build); `profile()` then reads them."""
        from hetc.backends.c.target import build_shared_library

        out_dir = Path(out_dir)
        manifest = read_manifest(out_dir)
        lib = build_shared_library(
            (out_dir / "model.c").read_text(), (out_dir / "model.h").read_text(), manifest.get("threads", 1), profile=True
        )
        runner = cls.__new__(cls)
        runner._load(out_dir, lib)
        return runner

    def profile(self, inputs: list[np.ndarray], runs: int = 10) -> list[tuple[str, float]]:
        """(kernel call label, mean seconds per run) in program order, over `runs` runs
        after one warm-up run."""
        if not hasattr(self.lib, "hetc_model_profile"):
            raise HetcError("this library has no kernel timers: load it with CRunner.profiled()")
        self.run(inputs)
        self.lib.hetc_model_profile_reset()
        for _ in range(runs):
            self.run(inputs)
        n = self.lib.hetc_model_profile(None, None, 0)
        labels = (ctypes.c_char_p * max(n, 1))()
        ns = (ctypes.c_double * max(n, 1))()
        self.lib.hetc_model_profile(labels, ns, n)
        return [(labels[i].decode(), ns[i] * 1e-9 / runs) for i in range(n)]

    def __del__(self) -> None:
        handle, self.handle = getattr(self, "handle", None), None
        if handle:
            self._free(handle)
