"""The `hw` dialect: target descriptions as attributes, and where each op runs.

    #hw.memory<name = "hbm3", capacity = 80000000000, bandwidth = 3.35e+12>
    #hw.device<name = "h100", kind = "gpu", peak_flops = {float32 = 6.7e+13, float16 = 9.894e+14},
               memories = [#hw.memory<...>], launch_overhead = 4e-06, power = 700.0>
    #hw.link<name = "pcie5-h100", src = "cpu", dst = "h100", kind = "pcie5x16",
             bandwidth = 6.3e+10, latency = 1e-05>
    #hw.target<devices = [#hw.device<...>, ...], links = [#hw.link<...>, ...]>
    #hw.place<device = "h100", start = 1.2e-05, end = 3.4e-05>

Numbers are SI units (bytes, bytes/s, FLOP/s, seconds, watts). The device catalog
(`hetc.backends.devices`, a TOML file) is where targets come from; `Device.to_attr()`
and `Catalog.target_attr()` turn its entries into these attributes. `hetc-place` writes
`hw.place` on every op it places (the device, and the predicted start and end of the
op's task in the schedule) and `hw.target` on the module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar

from xdsl.ir import Attribute, Dialect, ParametrizedAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, FloatAttr, IntegerAttr, StringAttr, f64, i64
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

#: attribute names hetc uses on ops and modules
PLACE_ATTR = "hw.place"
TARGET_ATTR = "hw.target"


def _float_text(v: float) -> str:
    """Shortest round-trip text with the '.' MLIR's float literals need (4e-06 -> 4.0e-06)."""
    text = repr(float(v))
    if "." not in text and ("e" in text):
        mant, _, exp = text.partition("e")
        text = f"{mant}.0e{exp}"
    return text


class _KeyedAttr(ParametrizedAttribute):
    """An attribute printed as `<key = value, ...>` in declaration order. `FIELDS` gives each
    parameter's kind: "str" (a string literal), "float", "int" (plain numbers), "dict" (a
    `{name = number, ...}` table) or "attrs" (a `[...]` list of attributes); `DEFAULTS` the
    values of parameters that may be left out when parsing."""

    FIELDS: ClassVar[tuple[tuple[str, str], ...]] = ()
    DEFAULTS: ClassVar[Mapping[str, object]] = {}

    @classmethod
    def _wrap(cls, kind: str, value) -> Attribute:
        if isinstance(value, Attribute):
            return value
        if kind == "str":
            return StringAttr(str(value))
        if kind == "float":
            return FloatAttr(float(value), f64)
        if kind == "int":
            return IntegerAttr(int(value), i64)
        if kind == "dict":
            return DictionaryAttr({str(k): FloatAttr(float(v), f64) for k, v in value.items()})
        if kind == "attrs":
            return ArrayAttr(list(value))
        raise ValueError(kind)

    @classmethod
    def make(cls, **values):
        """Build from Python values: `PlaceAttr.make(device="h100", start=0.0, end=1e-5)`."""
        missing = [n for n, _ in cls.FIELDS if n not in values and n not in cls.DEFAULTS]
        if missing:
            raise TypeError(f"#{cls.name} needs {', '.join(missing)}")
        return cls(*[cls._wrap(k, values.get(n, cls.DEFAULTS.get(n))) for n, k in cls.FIELDS])

    def value(self, field: str):
        """A parameter as a Python value (str, float, int, dict or list of attributes)."""
        a, kind = self._param(field)
        if kind == "str":
            return a.data
        if kind == "float":
            return float(a.value.data)
        if kind == "int":
            return int(a.value.data)
        if kind == "dict":
            return {k: float(v.value.data) for k, v in a.data.items()}
        return list(a.data)

    def _param(self, field: str) -> tuple[Attribute, str]:
        """A field's attribute and kind (parameters are declared in `FIELDS` order; the
        field `name` is held by a parameter named otherwise, as `name` is the attribute's)."""
        for i, (n, kind) in enumerate(self.FIELDS):
            if n == field:
                return self.parameters[i], kind
        raise KeyError(f"#{self.name} has no field '{field}'")

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            for i, (name, kind) in enumerate(self.FIELDS):
                if i:
                    printer.print_string(", ")
                printer.print_string(f"{name} = ")
                a = self.parameters[i]
                if kind == "str":
                    printer.print_string_literal(a.data)
                elif kind == "int":
                    printer.print_string(repr(self.value(name)))
                elif kind == "float":
                    printer.print_string(_float_text(self.value(name)))
                elif kind == "dict":
                    items = [f"{k} = {_float_text(v)}" for k, v in self.value(name).items()]
                    printer.print_string("{" + ", ".join(items) + "}")
                else:
                    printer.print_string("[")
                    printer.print_list(a.data, printer.print_attribute)
                    printer.print_string("]")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        kinds = dict(cls.FIELDS)
        got: dict[str, Attribute] = {}

        def parse_field() -> None:
            name = parser.parse_identifier(f" (a field of #{cls.name}: {', '.join(kinds)})")
            if name not in kinds:
                parser.raise_error(f"#{cls.name} has no field '{name}' (fields: {', '.join(kinds)})")
            if name in got:
                parser.raise_error(f"#{cls.name} field '{name}' is given twice")
            parser.parse_punctuation("=")
            kind = kinds[name]
            if kind == "str":
                got[name] = StringAttr(parser.parse_str_literal())
            elif kind == "float":
                got[name] = FloatAttr(float(parser.parse_number()), f64)
            elif kind == "int":
                got[name] = IntegerAttr(int(parser.parse_integer(allow_boolean=False)), i64)
            elif kind == "dict":
                table: dict[str, float] = {}

                def entry() -> None:
                    key = parser.parse_identifier_or_str_literal()
                    parser.parse_punctuation("=")
                    table[key] = float(parser.parse_number())

                parser.parse_comma_separated_list(parser.Delimiter.BRACES, entry)
                got[name] = cls._wrap("dict", table)
            else:
                got[name] = ArrayAttr(parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parser.parse_attribute))

        with parser.in_angle_brackets():
            parser.parse_comma_separated_list(parser.Delimiter.NONE, parse_field)
        for name, kind in cls.FIELDS:
            if name not in got:
                if name not in cls.DEFAULTS:
                    parser.raise_error(f"#{cls.name} needs field '{name}'")
                got[name] = cls._wrap(kind, cls.DEFAULTS[name])
        return [got[n] for n, _ in cls.FIELDS]

    def _check_nonneg(self, *fields: str, positive: bool = False) -> None:
        for f in fields:
            v = self.value(f)
            if not math.isfinite(v) or v < 0 or (positive and v == 0):
                raise VerifyException(
                    f"#{self.name} {f} = {v!r}: must be a {'positive' if positive else 'non-negative'} finite number"
                )


@irdl_attr_definition
class MemoryAttr(_KeyedAttr):
    """A memory: capacity in bytes, bandwidth in bytes/s."""

    name = "hw.memory"
    FIELDS = (("name", "str"), ("capacity", "int"), ("bandwidth", "float"))

    mem_name: StringAttr
    capacity: IntegerAttr
    bandwidth: FloatAttr

    def verify(self) -> None:
        self._check_nonneg("capacity")
        self._check_nonneg("bandwidth", positive=True)


@irdl_attr_definition
class DeviceAttr(_KeyedAttr):
    """A device: its kind, peak FLOP/s per dtype of matrix-class ops, its memories (the
    first is the roofline's main memory), kernel launch overhead (s) and power (W)."""

    name = "hw.device"
    FIELDS = (
        ("name", "str"), ("kind", "str"), ("peak_flops", "dict"), ("memories", "attrs"),
        ("launch_overhead", "float"), ("power", "float"),
    )  # fmt: skip

    dev_name: StringAttr
    kind: StringAttr
    peak_flops: DictionaryAttr
    memories: ArrayAttr
    launch_overhead: FloatAttr
    power: FloatAttr

    def verify(self) -> None:
        self._check_nonneg("launch_overhead", "power")
        for k, v in self.value("peak_flops").items():
            if not math.isfinite(v) or v <= 0:
                raise VerifyException(f"#hw.device \"{self.dev_name.data}\" peak_flops {k} = {v!r}: must be positive")
        if not self.memories.data:
            raise VerifyException(f"#hw.device \"{self.dev_name.data}\" needs at least one #hw.memory")
        for m in self.memories.data:
            if not isinstance(m, MemoryAttr):
                raise VerifyException(f"#hw.device \"{self.dev_name.data}\" memories must be #hw.memory, got {m}")


@irdl_attr_definition
class LinkAttr(_KeyedAttr):
    """A link between two devices: bandwidth per direction (bytes/s) and latency (s)."""

    name = "hw.link"
    FIELDS = (
        ("name", "str"), ("src", "str"), ("dst", "str"), ("kind", "str"), ("bandwidth", "float"), ("latency", "float"),
    )  # fmt: skip

    link_name: StringAttr
    src: StringAttr
    dst: StringAttr
    kind: StringAttr
    bandwidth: FloatAttr
    latency: FloatAttr

    def verify(self) -> None:
        self._check_nonneg("bandwidth", positive=True)
        self._check_nonneg("latency")


@irdl_attr_definition
class TargetAttr(_KeyedAttr):
    """A machine: its devices and the links between them."""

    name = "hw.target"
    FIELDS = (("devices", "attrs"), ("links", "attrs"))

    devices: ArrayAttr
    links: ArrayAttr

    def verify(self) -> None:
        names = []
        for d in self.devices.data:
            if not isinstance(d, DeviceAttr):
                raise VerifyException(f"#hw.target devices must be #hw.device, got {d}")
            names.append(d.dev_name.data)
        if len(set(names)) != len(names):
            raise VerifyException(f"#hw.target lists a device twice: {names}")
        for link in self.links.data:
            if not isinstance(link, LinkAttr):
                raise VerifyException(f"#hw.target links must be #hw.link, got {link}")
            for end in (link.src.data, link.dst.data):
                if end not in names:
                    raise VerifyException(
                        f"#hw.link \"{link.link_name.data}\" names device \"{end}\", not in the target ({', '.join(names)})"
                    )

    def device_names(self) -> list[str]:
        return [d.dev_name.data for d in self.devices.data]


@irdl_attr_definition
class PlaceAttr(_KeyedAttr):
    """Where an op runs: a device name and, when a schedule placed it, the predicted start
    and end (s) of its task. `#hw.place<device = "cpu">` alone is fine (times default to 0)."""

    name = "hw.place"
    FIELDS = (("device", "str"), ("start", "float"), ("end", "float"))
    DEFAULTS = {"start": 0.0, "end": 0.0}

    device: StringAttr
    start: FloatAttr
    end: FloatAttr

    def verify(self) -> None:
        self._check_nonneg("start", "end")
        if self.value("end") < self.value("start"):
            raise VerifyException(f"#hw.place end {self.value('end')!r} is before start {self.value('start')!r}")


HW = Dialect("hw", [], [MemoryAttr, DeviceAttr, LinkAttr, TargetAttr, PlaceAttr])
