"""Runs the lit/FileCheck suite in tests/filecheck, so a plain `pytest` covers it too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FILECHECK_DIR = Path(__file__).resolve().parent / "filecheck"


def _lit_command() -> list[str]:
    lit = shutil.which("lit")
    if lit is not None:
        return [lit]
    pytest.importorskip("lit", reason="lit is not installed (pip install 'hetc[test]')")
    # The lit package has no __main__, so `python -m lit` does not work.
    return [sys.executable, "-c", "import sys; from lit.main import main; sys.argv[0] = 'lit'; main()"]


def test_filecheck_suite() -> None:
    if shutil.which("filecheck") is None:
        pytest.skip("filecheck is not on PATH (pip install 'hetc[test]')")
    proc = subprocess.run(
        [*_lit_command(), "-q", str(FILECHECK_DIR)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = proc.stdout + proc.stderr
    print(output)
    assert proc.returncode == 0, f"lit failed (exit {proc.returncode}):\n{output}"
