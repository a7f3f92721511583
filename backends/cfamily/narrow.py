"""Narrow float types (float16, bfloat16, float8, float4) for C-family targets.

Buffers keep NumPy's (ml_dtypes') in-memory layout, which the runtime passes straight
to the kernels and weights.bin holds byte for byte: the bit pattern of one element in
a `uint16_t` (float16, bfloat16) or a `uint8_t` (float8, float4: one element a byte,
not packed). Kernels compute in float32 and convert with the small C helpers here:
round to nearest even, and NaN, infinity and overflow as ml_dtypes (NumPy's float16)
give them, bit for bit. ONNX's Cast saturation is not in the helpers: the loop
lowering clamps before the conversion (a `truncf` here never saturates).

`NarrowFloatHelpers` collects the helpers a translation unit uses and prints their
definitions, dependencies first; a target sets the function qualifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float4E2M1FNType,
    Float8E4M3FNType,
    Float8E4M3FNUZType,
    Float8E5M2FNUZType,
    Float8E5M2Type,
    Float8E8M0FNUType,
    Float16Type,
)
from xdsl.ir import Attribute


@dataclass(frozen=True)
class Format:
    """One binary float format: C storage, fields, and its special values as C text."""

    name: str  # suffix of the helper names
    ctype: str  # the storage type (the bit pattern)
    mbits: int  # mantissa bits
    bias: int  # exponent bias
    sign: int  # the sign bit
    max_bits: int  # the largest finite magnitude's pattern
    overflow: str  # C: the pattern for infinity or a too large magnitude (`s`: the sign bit or 0)
    nan: str  # C: the pattern for NaN (`s`, and `x`: the double)
    neg_zero: bool = True  # False: no -0 (its pattern is the NaN), underflow gives +0
    decode_special: str = ""  # C: returns the float for NaN/infinity patterns of `v`


_F32_NAN = "hetc_f32_from_bits((uint32_t)(v & 0x80) << 24 | 0x7fc00000u)"

FORMATS: dict[type, Format] = {
    # NaN payloads as NumPy's float16 casts keep them (never becoming infinity)
    Float16Type: Format(
        "f16", "uint16_t", 10, 15, 0x8000, 0x7BFF, "s | 0x7c00", "s | 0x7c00 | hetc_nan_payload_SRC(x, 10)",
        decode_special="if ((v & 0x7c00) == 0x7c00) return hetc_f32_from_bits((uint32_t)(v & 0x8000) << 16 | 0x7f800000u"
        " | (uint32_t)(v & 0x3ff) << 13);",
    ),
    BFloat16Type: Format(
        "bf16", "uint16_t", 7, 127, 0x8000, 0x7F7F, "s | 0x7f80", "s | 0x7fc0",
        decode_special="return hetc_f32_from_bits((uint32_t)v << 16);",
    ),
    Float8E4M3FNType: Format(
        "f8e4m3fn", "uint8_t", 3, 7, 0x80, 0x7E, "s | 0x7f", "s | 0x7f",
        decode_special=f"if ((v & 0x7f) == 0x7f) return {_F32_NAN};",
    ),
    Float8E4M3FNUZType: Format(
        "f8e4m3fnuz", "uint8_t", 3, 8, 0x80, 0x7F, "0x80", "0x80", neg_zero=False,
        decode_special="if (v == 0x80) return hetc_f32_from_bits(0xffc00000u);",
    ),
    Float8E5M2Type: Format(
        "f8e5m2", "uint8_t", 2, 15, 0x80, 0x7B, "s | 0x7c", "s | 0x7e",
        decode_special="if ((v & 0x7c) == 0x7c) return hetc_f32_from_bits((uint32_t)(v & 0x80) << 24"
        " | ((v & 0x3) ? 0x7fc00000u : 0x7f800000u));",
    ),
    Float8E5M2FNUZType: Format(
        "f8e5m2fnuz", "uint8_t", 2, 16, 0x80, 0x7F, "0x80", "0x80", neg_zero=False,
        decode_special="if (v == 0x80) return hetc_f32_from_bits(0xffc00000u);",
    ),
    # no NaN or infinity: both saturate; NaN becomes a zero of the other sign (as in ml_dtypes)
    Float4E2M1FNType: Format("f4e2m1", "uint8_t", 1, 1, 0x8, 0x7, "s | 0x7", "s ^ 0x8"),
}

#: ONNX Cast's round_mode for float8e8m0 -> the helper's mode argument
E8M0_MODES = {"up": "HETC_ROUND_UP", "nearest": "HETC_ROUND_NEAREST", "down": "HETC_ROUND_DOWN"}


def is_narrow_float(t: Attribute) -> bool:
    return type(t) in FORMATS or isinstance(t, Float8E8M0FNUType)


def storage_type(t: Attribute) -> str:
    """The C type that holds one element's bits."""
    return "uint8_t" if isinstance(t, Float8E8M0FNUType) else FORMATS[type(t)].ctype


def helper_name(t: Attribute) -> str:
    return "e8m0" if isinstance(t, Float8E8M0FNUType) else FORMATS[type(t)].name


def bits_literal(x: float, t: Attribute) -> str:
    """A constant of a narrow float type as its bit pattern (exact values convert exactly)."""
    from hetc.dialects.onnx import numpy_dtype

    dtype = numpy_dtype(t)
    with np.errstate(all="ignore"):
        bits = int(np.array(x, dtype=np.float64).astype(np.float32).astype(dtype).view(f"u{dtype.itemsize}"))
    return f"0x{bits:0{2 * dtype.itemsize}x}"


# -- C text --------------------------------------------------------------------------------------

_BASE = {
    "bits": (
        [],
        """/* float <-> its bits, without breaking aliasing rules */
{q} float hetc_f32_from_bits(uint32_t b) {{ float f; memcpy(&f, &b, sizeof f); return f; }}
{q} uint32_t hetc_bits_from_f32(float f) {{ uint32_t b; memcpy(&b, &f, sizeof b); return b; }}""",
    ),
    "round": (
        [],
        """/* |x| (finite, double) rounded to nearest even in a format with `mbits` mantissa bits
 * and exponent bias `bias`: its exponent and mantissa fields as one number; a result
 * above the format's largest finite pattern means overflow. */
{q} uint32_t hetc_round_magnitude(double a, int mbits, int bias) {{
  int e;
  (void)frexp(a, &e);           /* a in [2^(e-1), 2^e) */
  if (a == 0.0 || e < 2 - bias) e = 2 - bias;  /* zero, subnormals: the smallest normal's step */
  const double q = rint(ldexp(a, mbits - (e - 1)));  /* ties to even (default rounding mode) */
  return ((uint32_t)(e - 2 + bias) << mbits) + (uint32_t)q;  /* a carry bumps the exponent */
}}""",
    ),
    "decode": (
        [],
        """/* the finite magnitude with exponent and mantissa fields `m` */
{q} float hetc_decode_magnitude(uint32_t m, int mbits, int bias) {{
  const int e = (int)(m >> mbits);
  const uint32_t f = m & ((1u << mbits) - 1u);
  return e ? ldexpf((float)(f | 1u << mbits), e - bias - mbits) : ldexpf((float)f, 1 - bias - mbits);
}}""",
    ),
    # the top `mbits` payload bits of a NaN, never zero (NumPy's float16 rule); a float
    # NaN is read as it is (converting a signaling NaN to double would quiet it)
    "payload_f32": (
        ["bits"],
        """/* the top `mbits` payload bits of a NaN, never zero (NumPy's float16 rule) */
{q} uint32_t hetc_nan_payload_f32(float x, int mbits) {{
  const uint32_t p = (hetc_bits_from_f32(x) >> (23 - mbits)) & ((1u << mbits) - 1u);
  return p ? p : 1u;
}}""",
    ),
    "payload_f64": (
        [],
        """/* the top `mbits` payload bits of a NaN, never zero (NumPy's float16 rule) */
{q} uint32_t hetc_nan_payload_f64(double x, int mbits) {{
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  const uint32_t p = (uint32_t)(b >> (52 - mbits)) & ((1u << mbits) - 1u);
  return p ? p : 1u;
}}""",
    ),
    "e8m0_modes": ([], "enum {{ HETC_ROUND_UP, HETC_ROUND_NEAREST, HETC_ROUND_DOWN }};"),
}


def _encoder(f: Format, src: str) -> tuple[list[str], str]:
    zero = "s | m" if f.neg_zero else "m ? s | m : 0u"
    nan = f.nan.replace("_SRC", f"_{src}")
    deps = ["round"] + ([f"payload_{src}"] if "hetc_nan_payload" in nan else [])
    ctype = {"f32": "float", "f64": "double"}[src]
    return deps, f"""/* {ctype} -> {f.name}: nearest even; NaN, infinity and overflow as ml_dtypes converts them */
{{q}} {f.ctype} hetc_{f.name}_from_{src}({ctype} x) {{{{
  const uint32_t s = signbit(x) ? 0x{f.sign:x}u : 0u;
  if (isnan(x)) return ({f.ctype})({nan});
  const uint32_t m = isinf(x) ? 0x{f.max_bits + 1:x}u : hetc_round_magnitude(fabs(x), {f.mbits}, {f.bias});
  if (m > 0x{f.max_bits:x}u) return ({f.ctype})({f.overflow});
  return ({f.ctype})({zero});
}}}}"""


def _decoder(f: Format) -> tuple[list[str], str]:
    mag = f.sign - 1  # the magnitude bits
    body = f"  {f.decode_special}\n" if f.decode_special else ""
    if not f.decode_special.startswith("return"):
        body += (
            f"  const float a = hetc_decode_magnitude(v & 0x{mag:x}u, {f.mbits}, {f.bias});\n"
            f"  return (v & 0x{f.sign:x}u) ? -a : a;\n"
        )
    deps = (["bits"] if "hetc_f32_from_bits" in f.decode_special else []) + (
        ["decode"] if "hetc_decode_magnitude" in body else []
    )
    return deps, f"""/* {f.name} -> float (exact) */
{{q}} float hetc_{f.name}_to_f32({f.ctype} v) {{{{
{body}}}}}"""


_E8M0_ENCODER = """/* float -> float8e8m0 (a power of two; the sign is ignored) as ONNX Cast rounds it
 * (mode HETC_ROUND_UP/NEAREST/DOWN), without saturation: NaN, infinity, zero and
 * overflow give NaN (0xff). */
{q} uint8_t hetc_e8m0_from_f32(float x, int mode) {{
  const uint32_t b = hetc_bits_from_f32(x), e = (b >> 23) & 0xffu, m = b & 0x7fffffu;
  if (e == 0xffu || (e == 0 && m == 0)) return 0xff;
  /* subnormal floats lie between 2^-127 (pattern 0) and 2^-126 */
  const uint32_t up = mode == HETC_ROUND_UP ? (e ? m != 0 : m > 0x400000u)
                    : mode == HETC_ROUND_NEAREST ? (e ? m >= 0x400000u : m > 0x600000u) : 0u;
  return e + up >= 0xffu ? 0xff : (uint8_t)(e + up);
}}"""

_E8M0_DECODER = """/* float8e8m0 -> float (exact: 2^(v - 127); 0xff is NaN) */
{q} float hetc_e8m0_to_f32(uint8_t v) {{
  return v == 0xff ? hetc_f32_from_bits(0x7fc00000u) : ldexpf(1.0f, (int)v - 127);
}}"""


def _helper(key: str) -> tuple[list[str], str]:
    if key in _BASE:
        return _BASE[key]
    name, direction = key.rsplit("_", 1)  # to, from_f32, from_f64
    if name.endswith("_from"):
        name, direction = name[: -len("_from")], f"from_{direction}"
    if name == "e8m0":
        return (["bits", "e8m0_modes"], _E8M0_ENCODER) if direction.startswith("from") else (["bits"], _E8M0_DECODER)
    f = next(f for f in FORMATS.values() if f.name == name)
    return _encoder(f, direction[-3:]) if direction.startswith("from") else _decoder(f)


class NarrowFloatHelpers:
    """The conversion helpers one translation unit uses, printed in dependency order."""

    def __init__(self, qualifiers: str = "static inline") -> None:
        self.qualifiers = qualifiers
        self.used: list[str] = []

    def _use(self, key: str) -> None:
        if key in self.used:
            return
        deps, _ = _helper(key)
        for d in deps:
            self._use(d)
        self.used.append(key)

    def to_f32(self, x: str, t: Attribute) -> str:
        """C expression: the float value of the narrow element `x` of type `t`."""
        self._use(f"{helper_name(t)}_to")
        return f"hetc_{helper_name(t)}_to_f32({x})"

    def from_float(self, x: str, t: Attribute, double: bool = False, round_mode: str | None = None) -> str:
        """C expression: the float (`double`: the double) `x` converted to type `t`
        (nearest even; float8e8m0 by `round_mode`, from the value rounded to float)."""
        if isinstance(t, Float8E8M0FNUType):
            self._use("e8m0_from_f32")
            return f"hetc_e8m0_from_f32({'(float)' if double else ''}{x}, {E8M0_MODES[round_mode or 'up']})"
        src = "f64" if double else "f32"
        self._use(f"{helper_name(t)}_from_{src}")
        return f"hetc_{helper_name(t)}_from_{src}({x})"

    def definitions(self) -> str:
        return "\n\n".join(_helper(k)[1].format(q=self.qualifiers) for k in self.used)
