"""NPU configurations: the presets of the device catalog, or a user's TOML file.

A preset is a `kind = "npu"` device of the catalog (backends/devices/catalog.toml, plus
HETC_CATALOG and the calibration profile) with an `[devices.NAME.npu]` table: scratchpad
and accumulator bytes, the N x N matrix unit, vector lanes, DMA bandwidth and latency,
SPM bandwidth, clock, alignment. One source of truth: the placement passes see the same
devices (their peak FLOP/s and memories follow from the table). The tiling pass reads the
capacity, the lowering the alignment, the printer the constants of `npu.h`, and the
simulator and the report's estimate the timing parameters.

`--npu-config` takes a preset name or a TOML file: either a catalog file (`[devices.NAME]`
with `kind = "npu"` and an `[devices.NAME.npu]` table: exactly one such device) or just the
npu table's keys (flat, or under one `[NAME]` table).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from hetc.backends.devices import NPU_KEYS, check_npu_table, load_catalog
from hetc.diagnostics import HetcError

DEFAULT_PRESET = "npu-edge"


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


def _from_table(name: str, table: dict, file: str, description: str = "") -> NpuConfig:
    check_npu_table(table, name, file, complete=True)
    keys = [k for k in NPU_KEYS if k != "dram_bytes" and k in table]
    values = {k: int(table[k]) if NPU_KEYS[k][0] else float(table[k]) for k in keys}
    return NpuConfig(name=name, description=description or str(table.get("description", "")), **values)


def presets() -> dict[str, NpuConfig]:
    """Every catalog device with an [npu] table, in catalog order."""
    return {n: _from_table(n, dict(d.npu), d.origin, d.description) for n, d in load_catalog().devices.items() if d.npu}


def load_config(spec: str | NpuConfig | None = None) -> NpuConfig:
    """A preset name, a TOML file (see the module docstring), or a config as it is."""
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
        if "devices" in data:
            # a catalog file: its NPU devices, merged over the built-in catalog
            cat = load_catalog([path])
            mine = [n for n in data["devices"] if cat.device(n).npu]
            if len(mine) != 1:
                raise HetcError(f"{spec}: expected exactly one [devices.NAME] with an [devices.NAME.npu] table, found "
                                f"{len(mine)} ({', '.join(mine) or 'none'})")
            d = cat.device(mine[0])
            return _from_table(d.name, dict(d.npu), spec, d.description)
        tables = {k: v for k, v in data.items() if isinstance(v, dict)}
        if len(tables) == 1 and len(data) == 1:
            name, table = next(iter(tables.items()))
            desc = table.pop("description", "")
            return _from_table(name, table, spec, str(desc))
        desc = data.pop("description", "")
        return _from_table(path.stem, data, spec, str(desc))
    raise HetcError(f"unknown NPU preset '{spec}' (known: {', '.join(known)}; or give a .toml file with the "
                    f"[devices.NAME.npu] keys: {', '.join(NPU_KEYS)})")
