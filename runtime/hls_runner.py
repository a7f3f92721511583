"""Loads an HLS-target output folder: runs the g++ C-simulation build of `hetc_top`
(libhls.so) through ctypes, and runs the standalone testbench (`csim`)."""

from __future__ import annotations

import ctypes
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from hetc.artifacts import read_manifest
from hetc.diagnostics import HetcError


class HlsRunner:
    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.manifest = read_manifest(self.out_dir)
        lib = self.out_dir / "libhls.so"
        try:
            self.lib = ctypes.CDLL(str(lib))
        except OSError as exc:
            raise HetcError(f"cannot load {lib}: {exc}", hint="recompile the model with --target hls") from None
        wfile = self.out_dir / "tb_data" / "weights.bin"
        # weights through m_axi: the host hands the design its weights blob on every call
        self.weights = np.fromfile(wfile, dtype=np.float32) if wfile.exists() else None
        self._run = self.lib.hetc_model_run_ptrs_w if self.weights is not None else self.lib.hetc_model_run_ptrs
        self._run.restype = ctypes.c_int
        self._run.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + ([ctypes.c_void_p] if self.weights is not None else [])

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        ins = [np.ascontiguousarray(x) for x in inputs]
        outs = [np.empty(o["shape"], dtype=np.dtype(o["dtype"])) for o in self.manifest["outputs"]]
        in_ptrs = (ctypes.c_void_p * max(len(ins), 1))(*[x.ctypes.data for x in ins])
        out_ptrs = (ctypes.c_void_p * max(len(outs), 1))(*[y.ctypes.data for y in outs])
        extra = [self.weights.ctypes.data] if self.weights is not None else []
        if self._run(in_ptrs, out_ptrs, *extra) != 0:
            raise HetcError("the HLS C-simulation library failed")
        return outs

    def csim(self, inputs: list[np.ndarray], reference: list[np.ndarray] | None = None, tol: float | None = None,
             data_dir: str | Path | None = None) -> dict:
        """Build the testbench (g++, cached) and run it on `inputs`; with `reference`, it
        checks max|csim - ref| <= tol * max|ref| per output. Returns {"passed", "outputs", "log"}."""
        from hetc.backends.hls.estimate import Precision
        from hetc.backends.hls.target import build_testbench

        files = {p.name: p.read_text() for p in self.out_dir.iterdir() if p.suffix in (".cpp", ".h")}
        text = json.loads((self.out_dir / "report.json").read_text())["hls"]["precision"]
        prec = Precision("fixed", 32, 16) if text.startswith("auto") else Precision.parse(text)  # auto: per-layer ap_fixed
        tb = build_testbench(files, prec)
        with tempfile.TemporaryDirectory(prefix="hetc-csim-") as tmp:
            d = Path(data_dir) if data_dir else Path(tmp)
            d.mkdir(parents=True, exist_ok=True)
            for i, x in enumerate(inputs):
                (d / f"in{i}.bin").write_bytes(np.ascontiguousarray(x).tobytes())
            if self.weights is not None and data_dir is None:
                (d / "weights.bin").write_bytes(self.weights.tobytes())
            for k, r in enumerate(reference or []):
                (d / f"ref_out{k}.bin").write_bytes(np.ascontiguousarray(r, dtype=np.float32).tobytes())
            args = [str(tb), str(d)] + ([repr(tol)] if tol is not None else [])
            proc = subprocess.run(args, capture_output=True, text=True)
            if proc.returncode not in (0, 1):
                raise HetcError(f"the csim testbench failed (status {proc.returncode}): {proc.stderr.strip()[:1000]}")
            outs = [
                np.fromfile(d / f"csim_out{k}.bin", dtype=np.dtype(o["dtype"])).reshape(o["shape"])
                for k, o in enumerate(self.manifest["outputs"])
            ]
        return {"passed": proc.returncode == 0, "outputs": outs, "log": proc.stdout + proc.stderr}
