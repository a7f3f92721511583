"""NPU configurations: the presets in `presets.toml` or a user's TOML file with the same keys.

A preset is a model of an accelerator (scratchpad size, matrix unit, DMA), read by the
tiling pass (capacity), the lowering (alignment), the printer (constants of `npu.h`) and
the simulator's timing model. They live beside the backend rather than in the device
catalog because the catalog's schema (backends/devices) takes no per-kind tables yet.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from hetc.diagnostics import HetcError

PRESETS_FILE = Path(__file__).with_name("presets.toml")
DEFAULT_PRESET = "npu-edge"
_INT_KEYS = ("spm_bytes", "acc_bytes", "matrix_n", "matrix_cycles_per_tile", "vector_lanes", "dma_bytes_per_cycle",
             "dma_latency_cycles", "spm_bytes_per_cycle", "alignment")
_FLOAT_KEYS = ("clock_hz",)


@dataclass(frozen=True)
class NpuConfig:
    name: str
    description: str
    spm_bytes: int
    acc_bytes: int
    matrix_n: int
    matrix_cycles_per_tile: int
    vector_lanes: int
    dma_bytes_per_cycle: int
    dma_latency_cycles: int
    spm_bytes_per_cycle: int
    clock_hz: float
    alignment: int = 64

    def as_dict(self) -> dict:
        return asdict(self)


def _from_table(name: str, table: dict, file: str) -> NpuConfig:
    known = set(_INT_KEYS) | set(_FLOAT_KEYS) | {"description"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise HetcError(f"{file}: [{name}] has unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    missing = [k for k in (*_INT_KEYS, *_FLOAT_KEYS) if k not in table and k != "alignment"]
    if missing:
        raise HetcError(f"{file}: [{name}] lacks {', '.join(missing)}")
    values = {}
    for k in _INT_KEYS:
        v = table.get(k, 64)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0 or int(v) != v:
            raise HetcError(f"{file}: [{name}] {k} = {v!r}: expected a positive integer")
        values[k] = int(v)
    for k in _FLOAT_KEYS:
        v = table[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise HetcError(f"{file}: [{name}] {k} = {v!r}: expected a positive number")
        values[k] = float(v)
    if values["alignment"] & (values["alignment"] - 1):
        raise HetcError(f"{file}: [{name}] alignment = {values['alignment']}: expected a power of two")
    return NpuConfig(name=name, description=str(table.get("description", "")), **values)


def presets() -> dict[str, NpuConfig]:
    data = tomllib.loads(PRESETS_FILE.read_text())
    return {name: _from_table(name, t, str(PRESETS_FILE)) for name, t in data.items()}


def load_config(spec: str | NpuConfig | None = None) -> NpuConfig:
    """A preset name, a TOML file (one table of the preset keys, or one [NAME] table), or a config."""
    if isinstance(spec, NpuConfig):
        return spec
    spec = spec or DEFAULT_PRESET
    known = presets()
    if spec in known:
        return known[spec]
    path = Path(spec)
    if spec.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise HetcError(f"NPU config file '{spec}' does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise HetcError(f"{spec}: not valid TOML ({exc})") from None
        tables = {k: v for k, v in data.items() if isinstance(v, dict)}
        if len(tables) == 1 and len(data) == 1:
            name, table = next(iter(tables.items()))
            return _from_table(name, table, spec)
        return _from_table(path.stem, data, spec)
    raise HetcError(f"unknown NPU preset '{spec}' (known: {', '.join(known)}; or give a .toml file with the same keys)")
