"""nvcc: finding it, choosing -arch for the GPU present, and cached builds of generated .cu."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from hetc.diagnostics import HetcError

NVCC_CANDIDATES = ("/usr/local/cuda/bin/nvcc",)
#: -O3 for device and host code; no --use_fast_math (results are checked against onnxruntime)
NVCC_FLAGS = ["-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", "-lineinfo"]
#: the arch when no GPU can be asked (Hopper: the H100/H200 this backend is tuned on)
DEFAULT_ARCH = "sm_90"
WORKING_TARGETS = "targets that work without a GPU: c, numpy, hls"


def nvcc() -> str:
    if os.environ.get("NVCC"):
        exe = shutil.which(os.environ["NVCC"])
        if not exe:
            raise HetcError(f"target 'cuda' needs nvcc: $NVCC is {os.environ['NVCC']}, which is not an executable",
                            hint=f"point NVCC at the CUDA compiler or unset it; {WORKING_TARGETS}")
        return exe
    exe = shutil.which("nvcc")
    if not exe:
        exe = next((c for c in NVCC_CANDIDATES if Path(c).exists()), None)
    if not exe:
        raise HetcError(
            "target 'cuda' needs nvcc (the CUDA compiler) on PATH or in $NVCC; none was found",
            hint=f"install the CUDA toolkit; {WORKING_TARGETS}",
        )
    return exe


def gpu_arch() -> str:
    """`sm_XY` of the first GPU nvidia-smi reports; $HETC_CUDA_ARCH wins; sm_90 without a GPU."""
    if os.environ.get("HETC_CUDA_ARCH"):
        return os.environ["HETC_CUDA_ARCH"]
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=20, check=False).stdout
            m = re.match(r"\s*(\d+)\.(\d+)", out)
            if m:
                return f"sm_{m.group(1)}{m.group(2)}"
        except (OSError, subprocess.SubprocessError):
            pass
    return DEFAULT_ARCH


def cache_root() -> Path:
    return Path(os.environ.get("HETC_CACHE", Path.home() / ".cache" / "hetc")) / "cuda-builds"


def arch_flags(arch: str) -> list[str]:
    """nvcc's code-generation flags for `sm_XY` (or `sm_XYa`: the arch-specific features,
    such as Hopper's wgmma, that run only on that GPU)."""
    return ["-gencode", f"arch=compute_{arch.removeprefix('sm_')},code={arch}"]


def build_library(files: dict[str, str], main: str, arch: str, lib_name: str = "libmodel.so") -> Path:
    """Compile `main` (with the other `files` beside it) into a shared library, cached by
    content and flags; a failed build keeps the sources and names nvcc's first error."""
    exe = nvcc()
    flags = [*NVCC_FLAGS, *arch_flags(arch)]
    key = hashlib.sha256("\0".join([*(files[k] for k in sorted(files)), exe, *flags]).encode()).hexdigest()[:24]
    lib = cache_root() / key / lib_name
    if lib.exists():
        return lib
    with tempfile.TemporaryDirectory(prefix="hetc-nvcc-") as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text)
        out = Path(tmp) / lib_name
        proc = subprocess.run([exe, *flags, "-o", str(out), str(Path(tmp) / main)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            kept = cache_root() / "failed" / key
            kept.mkdir(parents=True, exist_ok=True)
            for name in files:
                shutil.copy(Path(tmp) / name, kept / name)
            errors = proc.stderr.replace(tmp, str(kept))
            first = next((line for line in errors.splitlines() if "error" in line), errors.strip()[:300])
            raise HetcError(
                f"nvcc failed to build the generated CUDA (sources kept in {kept}); first error:\n  {first}\n"
                f"{errors.strip()[:2000]}"
            )
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp_lib = lib.with_suffix(f".tmp{os.getpid()}")
        shutil.copy(out, tmp_lib)
        tmp_lib.replace(lib)
    return lib
