"""The fleet: how many instances of each catalog device type a plan may use.

    fleet = load_fleet("examples/agents/fleet.toml")      # name, catalog = [...], [fleet] device = count
    fleet = fleet_from_counts({"cpu": 8, "h100": 2})      # the same from a dict (tests, benchmarks)

A fleet type is a pool: several ops of one request on one type run on separate instances
of it. Every fleet has a CPU type (tools, transforms and routers run on one); the device
types come from the catalog (`hetc.backends.devices`), extended by the fleet's own files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from hetc.backends.devices import Catalog, Device, load_catalog
from hetc.diagnostics import HetcError


@dataclass
class Fleet:
    """How many of each catalog device type are available."""

    name: str
    counts: dict[str, int]
    catalog: Catalog
    file: str = ""

    @property
    def types(self) -> list[str]:
        return list(self.counts)

    def device(self, name: str) -> Device:
        return self.catalog.device(name)


def load_fleet(path: str | Path, catalogs: list[str] | tuple[str, ...] = ()) -> Fleet:
    """Read a fleet TOML: `name`, `catalog = [extra catalog files]`, `[fleet] device = count`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise HetcError("no such fleet file", file=str(path)) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise HetcError(f"cannot read the fleet: {exc}", file=str(path)) from None
    extra = set(data) - {"name", "catalog", "fleet"}
    if extra:
        raise HetcError(f"unknown field '{sorted(extra)[0]}' (fields: name, catalog, fleet)", file=str(path))
    table = data.get("fleet")
    if not isinstance(table, dict) or not table:
        raise HetcError("no [fleet] table", file=str(path), hint="[fleet]\ncpu = 8\nh100 = 2\na100 = 4")
    files = data.get("catalog", [])
    if isinstance(files, str):
        files = [files]
    cat_paths = [str((path.parent / f).resolve()) for f in files] + list(catalogs)
    catalog = load_catalog(cat_paths)
    counts: dict[str, int] = {}
    for name, n in table.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise HetcError(f"field 'fleet.{name}' is {n!r}: expected a count of at least 1", file=str(path))
        try:
            catalog.device(name)
        except HetcError as err:
            raise HetcError(f"field 'fleet.{name}': {err.reason}", file=str(path), hint=err.hint) from None
        counts[name] = n
    fleet = Fleet(str(data.get("name", path.stem)), counts, catalog, str(path))
    if not any(fleet.device(d).kind == "cpu" for d in counts):
        raise HetcError(
            "the fleet has no CPU device: tools, transforms and routers run on one", file=str(path),
            hint=f"add {catalog.host.name} = N under [fleet]",
        )  # fmt: skip
    return fleet


def fleet_from_counts(counts: dict[str, int], catalog: Catalog | None = None, name: str = "fleet") -> Fleet:
    cat = catalog or load_catalog()
    for d in counts:
        cat.device(d)
    return Fleet(name, dict(counts), cat)
