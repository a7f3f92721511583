"""What the CUDA tests may do on this machine: build with nvcc (HAS_NVCC; CI has nvcc) and
run the built library (HAS_GPU; only the lent GPU machine has one)."""

from __future__ import annotations

import shutil
import subprocess

from hetc.diagnostics import HetcError


def _has_nvcc() -> bool:
    from hetc.backends.cuda.toolchain import nvcc

    try:
        nvcc()
        return True
    except HetcError:
        return False


def _has_gpu() -> bool:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        return subprocess.run([smi, "-L"], capture_output=True, timeout=30, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


HAS_NVCC = _has_nvcc()
HAS_GPU = _has_gpu()
