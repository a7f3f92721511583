"""Output folders: written whole or not at all, and self-describing (manifest.json)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from hetc.diagnostics import HetcError

MANIFEST = "manifest.json"


def write_output_dir(out_dir: str | Path, files: dict[str, bytes | str]) -> Path:
    """Write `files` into `out_dir` atomically: a temp folder beside it, then a rename.

    An existing `out_dir` is replaced only if it is empty or an earlier hetc output
    (has a manifest); anything else is left alone with an error.
    """
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise HetcError(f"output path '{out}' exists and is not a folder")
        if any(out.iterdir()) and not (out / MANIFEST).exists():
            raise HetcError(
                f"output folder '{out}' is not empty and holds no hetc manifest; refusing to overwrite it",
                hint="pick a new folder with -o",
            )
    parent = out.parent if str(out.parent) else Path(".")
    blocker = next((p for p in [parent, *parent.parents] if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise HetcError(f"cannot write output folder '{out}': '{blocker}' is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; the folder should follow the umask
    except OSError as exc:
        raise HetcError(f"cannot write output folder '{out}': {exc.strerror or exc}") from None
    try:
        for name, data in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, str):
                path.write_text(data)
            else:
                path.write_bytes(data)
        old = None
        if out.exists():
            old = parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise HetcError(f"cannot write output folder '{out}': {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_manifest(out_dir: str | Path) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        raise HetcError(f"'{out_dir}' is not a hetc output folder (no {MANIFEST})")
    return json.loads(path.read_text())
