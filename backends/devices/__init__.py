"""The device catalog: the machines hetc knows, as data (`catalog.toml` beside this file).

    from hetc.backends.devices import load_catalog
    cat = load_catalog()                        # built-in + HETC_CATALOG + the calibration profile
    cat = load_catalog(["my.toml"])             # ... + a user catalog merged over the built-in one
    h100 = cat.device("h100"); h100.flops("float16", matrix=True); h100.bandwidth
    cat.route("npu", "h100")                    # [pcie3-npu, pcie5-h100]: through the host

Sources, merged in this order (later ones win, table by table):

1. the built-in `catalog.toml` (package data);
2. `HETC_CATALOG` (one path, or several separated by the OS path separator);
3. the `paths` given (`--catalog my.toml`);
4. the calibration profile `hetc calibrate` wrote for this machine: `HETC_PROFILE`, else
   `~/.cache/hetc/profile.toml` if it exists (`profile=None` leaves it out). Only measured
   numbers are in it, so they replace the catalog's guesses for the same device.

The file format is described at the top of `catalog.toml`. Every error names the file
and the field (`devices.h100.memory.hbm3.bandwidth_Bps`) and says what is expected.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hetc.diagnostics import HetcError

BUILTIN = "catalog.toml"
KINDS = ("cpu", "gpu", "npu", "fpga")
#: op classes the cost model sorts ONNX ops into (see hetc.backends.cost_model.op_class)
OP_CLASSES = (
    "matmul", "conv", "elementwise", "reduction", "pool", "norm", "attention", "recurrent", "movement", "view", "other",
)  # fmt: skip
#: dtype keys of the peak tables (NumPy names; float8 covers every 8-bit float)
DTYPES = (
    "float64", "float32", "tf32", "float16", "bfloat16", "float8", "float4",
    "int64", "int32", "int16", "int8", "int4", "bool",
)  # fmt: skip

_DEVICE_KEYS = {
    "kind": str, "host": bool, "description": str, "source": str, "launch_overhead_s": float, "power_w": float,
    "cost_per_hour": float, "op_classes": list, "unsupported_ops": list, "peak_flops": dict, "vector_flops": dict,
    "memory": dict, "kernels": dict, "npu": dict,
}  # fmt: skip
#: [devices.NAME.npu]: the scratchpad accelerator's parameters (hetc's NPU target, issue 8);
#: value: (integer?, required?)
NPU_KEYS = {
    "spm_bytes": (True, True), "acc_bytes": (True, True), "matrix_n": (True, True),
    "matrix_cycles_per_tile": (True, True), "vector_lanes": (True, True), "dma_bytes_per_cycle": (True, True),
    "dma_latency_cycles": (True, True), "spm_bytes_per_cycle": (True, True), "clock_hz": (False, True),
    "alignment": (True, False), "dram_bytes": (True, False),
}  # fmt: skip
_MEMORY_KEYS = {"capacity_bytes": float, "bandwidth_Bps": float, "main": bool, "cache": bool}
_LINK_KEYS = {"endpoints": list, "kind": str, "bandwidth_Bps": float, "latency_s": float, "energy_pj_per_byte": float}
_KERNEL_KEYS = {
    "gemm_flops", "vector_flops", "scalar_flops", "copy_bandwidth", "transpose_bandwidth", "l2_bytes", "stream_bandwidth",
}  # fmt: skip
_TOP_KEYS = {"schema", "devices", "links", "calibration", "corrections"}
_REQUIRED_DEVICE = ("kind", "launch_overhead_s", "peak_flops", "memory")
_REQUIRED_LINK = ("endpoints", "bandwidth_Bps")


class CatalogError(HetcError):
    """A device catalog (or profile) that cannot be used: names the file and the field."""


def check_npu_table(table: Mapping[str, Any], where: str, file: str, *, complete: bool = False) -> None:
    """Field names and values of an NPU parameter table (`complete`: every required key)."""
    for key, value in table.items():
        if key not in NPU_KEYS:
            raise _unknown(key, NPU_KEYS, where, file)
        integer, _ = NPU_KEYS[key]
        v = _number(value, f"{where}.{key}", file, positive=True)
        if integer and int(v) != v:
            raise CatalogError(f"'{where}.{key}' is {value!r}: expected a positive integer", file=file)
    if "alignment" in table and int(table["alignment"]) & (int(table["alignment"]) - 1):
        raise CatalogError(f"'{where}.alignment' is {table['alignment']!r}: expected a power of two", file=file)
    missing = [k for k, (_, required) in NPU_KEYS.items() if required and k not in table]
    if complete and missing:
        raise CatalogError(f"'{where}' lacks {', '.join(missing)}", file=file,
                           hint=f"an NPU table needs {', '.join(k for k, (_, r) in NPU_KEYS.items() if r)}")


def _derive_npu(d: dict[str, Any]) -> dict[str, Any]:
    """A device with an [npu] table: peak FLOP/s and memories it does not give, from it
    (matrix unit: 2 N^3 FLOP per tile time; vector unit: one FLOP per lane per cycle;
    DRAM, the roofline's memory, at the DMA bandwidth; the scratchpad at its own)."""
    t, d = d["npu"], dict(d)
    clock = float(t["clock_hz"])
    d.setdefault("peak_flops", {"float32": 2 * t["matrix_n"] ** 3 / t["matrix_cycles_per_tile"] * clock})
    d.setdefault("vector_flops", {"float32": t["vector_lanes"] * clock})
    d.setdefault("memory", {
        "dram": {"main": True, "capacity_bytes": t.get("dram_bytes", 1 << 32), "bandwidth_Bps": t["dma_bytes_per_cycle"] * clock},
        "scratchpad": {"capacity_bytes": t["spm_bytes"], "bandwidth_Bps": t["spm_bytes_per_cycle"] * clock},
    })  # fmt: skip
    return d


@dataclass(frozen=True)
class Memory:
    name: str
    capacity_bytes: int
    bandwidth_Bps: float
    main: bool = False
    #: a cache in front of the main memory: an op whose bytes fit runs at its bandwidth
    cache: bool = False


@dataclass(frozen=True)
class Device:
    """One device of the catalog. `peak_flops[dtype]`: FLOP/s of matrix-class ops
    (MatMul, Gemm, Conv, attention); `vector_flops[dtype]`: of everything else."""

    name: str
    kind: str
    launch_overhead_s: float
    peak_flops: Mapping[str, float]
    vector_flops: Mapping[str, float]
    memories: tuple[Memory, ...]
    host: bool = False
    description: str = ""
    source: str = ""
    power_w: float = 0.0
    cost_per_hour: float = 0.0
    op_classes: frozenset[str] | None = None  # None: every class
    unsupported_ops: frozenset[str] = frozenset()
    kernels: Mapping[str, float] = field(default_factory=dict)
    #: the file that defined (or last changed) this device, for messages
    origin: str = ""
    #: an NPU's [npu] table (scratchpad, matrix unit, DMA, clock): a preset of the NPU target
    npu: Mapping[str, float] = field(default_factory=dict)

    @property
    def main_memory(self) -> Memory:
        return next((m for m in self.memories if m.main), self.memories[0])

    @property
    def bandwidth(self) -> float:
        """Bytes/s of the roofline's memory (the main memory)."""
        return self.main_memory.bandwidth_Bps

    @property
    def capacity(self) -> int:
        return self.main_memory.capacity_bytes

    def bandwidth_for(self, nbytes: float) -> float:
        """Bytes/s for an op that moves `nbytes`: the smallest cache it fits in, else the main memory."""
        fits = [m for m in self.memories if m.cache and nbytes <= m.capacity_bytes]
        return min(fits, key=lambda m: m.capacity_bytes).bandwidth_Bps if fits else self.bandwidth

    def flops(self, dtype: str, matrix: bool = False) -> float | None:
        """FLOP/s for `dtype`, or None when the device does not compute in that dtype."""
        table = self.peak_flops if matrix else (self.vector_flops or self.peak_flops)
        v = table.get(dtype)
        if v is None and not matrix:
            v = self.peak_flops.get(dtype)
        return v

    def runs(self, op_type: str, op_class: str) -> bool:
        """Whether the device can run an op of this type and class (dtype aside)."""
        if op_type in self.unsupported_ops:
            return False
        return self.op_classes is None or op_class in self.op_classes

    def to_attr(self):
        """This device as a `#hw.device` attribute."""
        from hetc.dialects.hw import DeviceAttr, MemoryAttr

        mems = sorted(self.memories, key=lambda m: not m.main)  # the main memory first
        return DeviceAttr.make(
            name=self.name, kind=self.kind, peak_flops=dict(self.peak_flops),
            memories=[MemoryAttr.make(name=m.name, capacity=m.capacity_bytes, bandwidth=m.bandwidth_Bps) for m in mems],
            launch_overhead=self.launch_overhead_s, power=self.power_w,
        )  # fmt: skip


@dataclass(frozen=True)
class Link:
    name: str
    a: str
    b: str
    bandwidth_Bps: float
    latency_s: float = 0.0
    kind: str = ""
    energy_pj_per_byte: float = 0.0
    origin: str = ""

    def connects(self, x: str, y: str) -> bool:
        return {self.a, self.b} == {x, y} if x != y else self.a == self.b == x

    def to_attr(self, src: str | None = None, dst: str | None = None):
        from hetc.dialects.hw import LinkAttr

        return LinkAttr.make(
            name=self.name, src=src or self.a, dst=dst or self.b, kind=self.kind,
            bandwidth=self.bandwidth_Bps, latency=self.latency_s,
        )  # fmt: skip


@dataclass
class Catalog:
    devices: dict[str, Device]
    links: dict[str, Link]
    #: the files merged, in order
    files: list[str] = field(default_factory=list)
    #: the profile's [calibration] table (what was measured, when, how), if a profile was merged
    calibration: dict[str, Any] = field(default_factory=dict)
    #: the profile's learned corrections per device ([corrections.DEVICE])
    corrections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def device(self, name: str) -> Device:
        """The device called `name` (an instance name `h100#1` means the device `h100`)."""
        base = name.split("#", 1)[0]
        if base not in self.devices:
            close = difflib.get_close_matches(base, list(self.devices), n=1)
            raise CatalogError(
                f"unknown device '{base}' (the catalog has: {', '.join(self.devices)})",
                hint=(f"did you mean '{close[0]}'? " if close else "")
                + "add your own in a TOML file and pass --catalog my.toml (see hetc/backends/devices/catalog.toml)",
            )
        return self.devices[base]

    @property
    def host(self) -> Device:
        return next(d for d in self.devices.values() if d.host)

    def link_between(self, a: str, b: str) -> Link | None:
        """The direct link between two devices (or two instances of one device), if any."""
        da, db = a.split("#", 1)[0], b.split("#", 1)[0]
        for link in self.links.values():
            if link.connects(da, db):
                return link
        return None

    def route(self, a: str, b: str) -> list[Link]:
        """The links a tensor crosses from device `a` to device `b`: none on the same device
        (instance), the direct link if there is one, else through the host's memory."""
        if a == b:
            return []
        direct = self.link_between(a, b)
        if direct is not None:
            return [direct]
        host = self.host.name
        da, db = a.split("#", 1)[0], b.split("#", 1)[0]
        hops = []
        for x, y in ((da, host), (host, db)):
            if x == y:
                continue
            link = self.link_between(x, y)
            if link is None:
                raise CatalogError(
                    f"no link between '{a}' and '{b}': neither a direct link nor one from each to the host '{host}' "
                    f"(missing: {x} <-> {y})",
                    file=self.files[-1] if self.files else None,
                    hint=f'add [links.NAME] endpoints = ["{x}", "{y}"], bandwidth_Bps = ... to your catalog',
                )
            hops.append(link)
        return hops

    def target_attr(self, names: Sequence[str]):
        """`#hw.target` of the devices `names` (instances allowed) and the links among them
        (host routes included)."""
        from hetc.dialects.hw import TargetAttr

        devs = []
        for n in names:
            a = self.device(n).to_attr()
            if n != self.device(n).name:
                from hetc.dialects.hw import DeviceAttr

                a = DeviceAttr.make(**{f: a.value(f) for f, _ in DeviceAttr.FIELDS} | {"name": n})
            devs.append(a)
        links = []
        for i, x in enumerate(names):
            for y in names[i + 1 :]:
                link = self.link_between(x, y)
                if link is not None:
                    links.append(link.to_attr(x, y))
        return TargetAttr.make(devices=devs, links=links)


# ---------------------------------------------------------------------------- loading


def builtin_path() -> Path:
    return Path(str(resources.files(__name__).joinpath(BUILTIN)))


def default_profile_path() -> Path:
    env = os.environ.get("HETC_PROFILE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "hetc" / "profile.toml"


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise CatalogError("no such catalog file", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}", file=str(path)) from None
    except OSError as exc:
        raise CatalogError(f"cannot read the catalog: {exc}", file=str(path)) from None


def _unknown(key: str, allowed: Iterable[str], where: str, file: str) -> CatalogError:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return CatalogError(
        f"unknown field '{where}.{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""),
        file=file,
        hint=f"fields allowed in {where.split('.')[0]}.NAME: {', '.join(sorted(allowed))}",
    )


def _number(v: Any, where: str, file: str, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise CatalogError(
            f"'{where}' is {v!r}: expected a {'positive' if positive else 'non-negative'} number", file=file
        )
    return float(v)


def _check_file(data: dict[str, Any], file: str) -> None:
    """Field names and value types of one file (merging happens after)."""
    for key in data:
        if key not in _TOP_KEYS:
            raise _unknown(key, _TOP_KEYS, "(top level)", file)
    if "schema" in data and data["schema"] != 1:
        raise CatalogError(f"'schema' is {data['schema']!r}: this hetc reads catalog schema 1", file=file)
    for section in ("devices", "links", "corrections"):
        if section in data and not isinstance(data[section], dict):
            raise CatalogError(f"'{section}' must be a table of [{section}.NAME] tables", file=file)
    for name, dev in data.get("devices", {}).items():
        where = f"devices.{name}"
        if not isinstance(dev, dict):
            raise CatalogError(f"'{where}' must be a table", file=file)
        if "#" in name or "*" in name or "," in name:
            raise CatalogError(f"device name '{name}' may not contain '#', '*' or ','", file=file)
        for key, value in dev.items():
            if key not in _DEVICE_KEYS:
                raise _unknown(key, _DEVICE_KEYS, where, file)
            want = _DEVICE_KEYS[key]
            if want is float:
                _number(value, f"{where}.{key}", file)
            elif not isinstance(value, want):
                raise CatalogError(f"'{where}.{key}' is {value!r}: expected a {want.__name__}", file=file)
        if "kind" in dev and dev["kind"] not in KINDS:
            raise CatalogError(f"'{where}.kind' is {dev['kind']!r}: expected one of {', '.join(KINDS)}", file=file)
        for table in ("peak_flops", "vector_flops"):
            for dtype, v in dev.get(table, {}).items():
                if dtype not in DTYPES:
                    raise _unknown(dtype, DTYPES, f"{where}.{table}", file)
                _number(v, f"{where}.{table}.{dtype}", file, positive=True)
        for mem, spec in dev.get("memory", {}).items():
            mwhere = f"{where}.memory.{mem}"
            if not isinstance(spec, dict):
                raise CatalogError(f"'{mwhere}' must be a table with capacity_bytes and bandwidth_Bps", file=file)
            for key, value in spec.items():
                if key not in _MEMORY_KEYS:
                    raise _unknown(key, _MEMORY_KEYS, mwhere, file)
                if key in ("main", "cache"):
                    if not isinstance(value, bool):
                        raise CatalogError(f"'{mwhere}.{key}' is {value!r}: expected true or false", file=file)
                else:
                    _number(value, f"{mwhere}.{key}", file, positive=key == "bandwidth_Bps")
        if "npu" in dev:
            if dev.get("kind", "npu") != "npu":
                raise CatalogError(f"'{where}.npu' is only for kind = \"npu\" devices", file=file)
            check_npu_table(dev["npu"], f"{where}.npu", file)
        for key, value in dev.get("kernels", {}).items():
            if key not in _KERNEL_KEYS:
                raise _unknown(key, _KERNEL_KEYS, f"{where}.kernels", file)
            _number(value, f"{where}.kernels.{key}", file, positive=True)
        for c in dev.get("op_classes", []):
            if c not in OP_CLASSES:
                raise _unknown(str(c), OP_CLASSES, f"{where}.op_classes", file)
        for op in dev.get("unsupported_ops", []):
            if not isinstance(op, str):
                raise CatalogError(f"'{where}.unsupported_ops' must list ONNX op types as strings, got {op!r}", file=file)
    for name, link in data.get("links", {}).items():
        where = f"links.{name}"
        if not isinstance(link, dict):
            raise CatalogError(f"'{where}' must be a table", file=file)
        for key, value in link.items():
            if key not in _LINK_KEYS:
                raise _unknown(key, _LINK_KEYS, where, file)
            want = _LINK_KEYS[key]
            if want is float:
                _number(value, f"{where}.{key}", file, positive=key == "bandwidth_Bps")
            elif not isinstance(value, want):
                raise CatalogError(f"'{where}.{key}' is {value!r}: expected a {want.__name__}", file=file)
        ends = link.get("endpoints")
        if ends is not None and (len(ends) != 2 or not all(isinstance(e, str) for e in ends)):
            raise CatalogError(f"'{where}.endpoints' is {ends!r}: expected two device names", file=file)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: tables merge key by key, everything else (numbers, strings, lists) is replaced."""
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base


def _build(data: dict[str, Any], origins: dict[str, str], files: list[str]) -> Catalog:
    devices: dict[str, Device] = {}
    for name, d in data.get("devices", {}).items():
        file = origins.get(f"devices.{name}", files[-1])
        if "npu" in d:
            if d.get("kind") != "npu":
                raise CatalogError(f"'devices.{name}.npu' is only for kind = \"npu\" devices", file=file)
            check_npu_table(d["npu"], f"devices.{name}.npu", file, complete=True)
            d = _derive_npu(d)
        for key in _REQUIRED_DEVICE:
            if key not in d:
                raise CatalogError(
                    f"device '{name}' has no '{key}'",
                    file=file,
                    hint=f"every [devices.NAME] needs {', '.join(_REQUIRED_DEVICE)}",
                )
        if not d["peak_flops"]:
            raise CatalogError(f"'devices.{name}.peak_flops' is empty: give FLOP/s for at least one dtype", file=file)
        mems = []
        for mname, m in d["memory"].items():
            for key in ("capacity_bytes", "bandwidth_Bps"):
                if key not in m:
                    raise CatalogError(f"'devices.{name}.memory.{mname}' has no '{key}'", file=file)
            mems.append(
                Memory(
                    mname, int(m["capacity_bytes"]), float(m["bandwidth_Bps"]), bool(m.get("main", False)),
                    bool(m.get("cache", False)),
                )
            )  # fmt: skip
        if not mems:
            raise CatalogError(f"device '{name}' has no memory: add [devices.{name}.memory.NAME]", file=file)
        if sum(m.main for m in mems) > 1:
            raise CatalogError(f"device '{name}' has more than one memory with main = true", file=file)
        if len(mems) > 1 and not any(m.main for m in mems):
            raise CatalogError(
                f"device '{name}' has {len(mems)} memories and none has main = true",
                file=file,
                hint="mark the memory the roofline should use (usually the largest) with main = true",
            )
        devices[name] = Device(
            name=name, kind=d["kind"], launch_overhead_s=float(d["launch_overhead_s"]),
            peak_flops={k: float(v) for k, v in d["peak_flops"].items()},
            vector_flops={k: float(v) for k, v in d.get("vector_flops", {}).items()},
            memories=tuple(mems), host=bool(d.get("host", False)), description=d.get("description", ""),
            source=d.get("source", ""), power_w=float(d.get("power_w", 0.0)), cost_per_hour=float(d.get("cost_per_hour", 0.0)),
            op_classes=frozenset(d["op_classes"]) if "op_classes" in d else None,
            unsupported_ops=frozenset(d.get("unsupported_ops", [])),
            kernels={k: float(v) for k, v in d.get("kernels", {}).items()}, origin=file,
            npu={k: (int(v) if NPU_KEYS[k][0] else float(v)) for k, v in d.get("npu", {}).items()},
        )  # fmt: skip
    hosts = [n for n, d in devices.items() if d.host]
    if len(hosts) != 1:
        raise CatalogError(
            f"the merged catalog has {len(hosts)} host devices ({', '.join(hosts) or 'none'}): exactly one needs host = true",
            file=files[-1],
        )
    links: dict[str, Link] = {}
    for name, l in data.get("links", {}).items():
        file = origins.get(f"links.{name}", files[-1])
        for key in _REQUIRED_LINK:
            if key not in l:
                raise CatalogError(f"link '{name}' has no '{key}'", file=file)
        a, b = l["endpoints"]
        for end in (a, b):
            if end not in devices:
                raise CatalogError(
                    f"'links.{name}.endpoints' names unknown device '{end}' (devices: {', '.join(devices)})", file=file
                )
        links[name] = Link(
            name, a, b, float(l["bandwidth_Bps"]), float(l.get("latency_s", 0.0)), l.get("kind", ""),
            float(l.get("energy_pj_per_byte", 0.0)), file,
        )  # fmt: skip
    return Catalog(devices, links, files, dict(data.get("calibration", {})), dict(data.get("corrections", {})))


def load_catalog(
    paths: Sequence[str | Path] = (), *, profile: str | Path | None = "default", env: bool = True
) -> Catalog:
    """The built-in catalog, then `HETC_CATALOG` (if `env`), then `paths`, then the
    calibration profile (`profile="default"`: HETC_PROFILE or ~/.cache/hetc/profile.toml if
    it exists; a path: that file, which must exist; None: no profile), merged."""
    sources: list[Path] = [builtin_path()]
    if env and os.environ.get("HETC_CATALOG"):
        sources += [Path(p) for p in os.environ["HETC_CATALOG"].split(os.pathsep) if p]
    sources += [Path(p) for p in paths]
    if profile == "default":
        p = default_profile_path()
        if p.is_file():
            sources.append(p)
    elif profile is not None:
        sources.append(Path(profile))
    key = tuple((str(p), p.stat().st_mtime_ns if p.exists() else 0) for p in sources)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _CACHE[key] = _load(sources)
    return cached


_CACHE: dict[tuple, Catalog] = {}


def _load(sources: list[Path]) -> Catalog:
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    files = []
    for path in sources:
        data = read_toml(path)
        file = str(path)
        _check_file(data, file)
        for section in ("devices", "links"):
            for name in data.get(section, {}):
                origins[f"{section}.{name}"] = file
        _merge(merged, data)
        files.append(file)
    return _build(merged, origins, files)


def builtin_catalog() -> Catalog:
    """The built-in catalog alone (no HETC_CATALOG, no profile): what decisions that must
    not change from machine to machine (the layout pass) read."""
    return load_catalog(profile=None, env=False)


def parse_device_list(spec: str | Sequence[str], catalog: Catalog) -> list[str]:
    """`"cpu,h100"` -> ["cpu", "h100"]; `"cpu,h100*2"` -> ["cpu", "h100#0", "h100#1"] (two
    instances of one device). Every name is checked against the catalog."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise CatalogError("no devices given", hint="e.g. --devices cpu,h100")
    out: list[str] = []
    for item in items:
        name, star, count = item.partition("*")
        catalog.device(name)
        if star:
            try:
                n = int(count)
                if n < 1:
                    raise ValueError
            except ValueError:
                raise CatalogError(f"bad device count in '{item}'", hint="write NAME*N, e.g. h100*2") from None
            out += [f"{name}#{i}" for i in range(n)] if n > 1 else [name]
        else:
            out.append(name)
    if len(set(out)) != len(out):
        dup = next(d for d in out if out.count(d) > 1)
        raise CatalogError(f"device '{dup}' is listed twice", hint="write NAME*N for several instances of one device")
    return out
