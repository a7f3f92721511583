"""C for lowered `he` functions: a small kernel library plus a generated host function.

What hetc-he-ntt-to-matmul / hetc-he-bat / hetc-he-barrett leave behind is a straight
line of tensor ops. This module prints it as C99:

  - he.bytematmul calls the kernel library's `bytematmul_u32` / `_u64` (the u8 x u8 ->
    wide matmul: the one kernel an int8 matrix engine would run; AVX-512 VNNI where gcc
    targets it, a portable loop elsewhere). The library (KERNELS_C) is built once and
    cached; every generated program gets its entry points in a `he_kernels` table, so a
    program build compiles only its own small host function;
  - runs of elementwise word ops (he.mul/add/sub/shr/csub/cast/extract_byte/shift_sum)
    become one fused loop each, intermediates kept in registers when nothing else reads
    them (a Barrett reduction is one loop);
  - he.constant data lives in one blob passed at run time (so the source, and the cached
    build, depend on the shapes and shift amounts, not on q or the twiddles), he.reshape
    is a pointer alias, and the other tensors get offsets in one arena (first fit, by
    liveness).

Exactness: unsigned C arithmetic wraps modulo 2^width exactly as the dialect defines
the word ops; operand types are uint8/32/64 (`i64` is handled as uint64: residues are
non-negative).

CUDA later: the host function is a list of kernel calls over flat arrays; a CUDA
variant overrides `elementwise_loop` (one thread per element instead of a for loop)
and swaps `he_bytematmul_*` for an int8 tensor-core (IMMA u8.u8 -> s32) kernel; the
arena plan and the constant blob carry over unchanged.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import TensorType, i64
from xdsl.ir import Operation, SSAValue

from hetc.diagnostics import HetcError
from hetc.dialects import he

ALIGN = 64

_CTYPE = {he.ui8: "uint8_t", he.ui32: "uint32_t", he.ui64: "uint64_t", i64: "uint64_t"}

KERNELS_C = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* c[b] = sum_t a[t][b] @ b[t][b] for uint8 matrices a: [batch, m, k], b: [batch, k, n],
 * accumulated exactly in ACC (the caller proves pairs * k * 255^2 fits). Row-major; the
 * inner loop runs over n contiguous bytes of b and accumulators of c (gcc vectorizes it:
 * about 16 G byte-MAC/s on one AVX-512 core). */
#define HE_BYTEMATMUL_LOOP(NAME, ACC)                                                     \
  static inline void NAME(ACC* restrict c, const uint8_t* const* a, const uint8_t* const* b, \
                   int pairs, int64_t batch, int64_t m, int64_t k, int64_t n) {           \
    for (int64_t bt = 0; bt < batch; bt++)                                                \
      for (int64_t i = 0; i < m; i++) {                                                   \
        ACC* restrict crow = c + (bt * m + i) * n;                                        \
        for (int64_t j = 0; j < n; j++) crow[j] = 0;                                      \
        for (int t = 0; t < pairs; t++) {                                                 \
          const uint8_t* arow = a[t] + (bt * m + i) * k;                                  \
          const uint8_t* bmat = b[t] + bt * k * n;                                        \
          for (int64_t kk = 0; kk < k; kk++) {                                            \
            const ACC av = arow[kk];                                                      \
            if (av == 0) continue;                                                        \
            const uint8_t* restrict brow = bmat + kk * n;                                 \
            for (int64_t j = 0; j < n; j++) crow[j] += av * (ACC)brow[j];                 \
          }                                                                               \
        }                                                                                 \
      }                                                                                   \
  }
HE_BYTEMATMUL_LOOP(he_bytematmul_loop_u32, uint32_t)
HE_BYTEMATMUL_LOOP(he_bytematmul_loop_u64, uint64_t)

#if defined(__AVX512VNNI__) && defined(__AVX512F__)
#include <immintrin.h>
/* The CPU's own int8 matrix unit: AVX-512 VNNI vpdpbusd multiplies u8 x s8 in groups of 4
 * and accumulates in 32 bits (wrapping, no saturation). With b' = b - 128 (= b ^ 0x80 as
 * s8):  sum_k a b = sum_k a b' + 128 sum_k a,  so b is repacked as s8 quads [k/4][n][4]
 * and each row gets 128 * (its byte sum) added back. All arithmetic is mod 2^32, and the
 * true result is < 2^32, so it is exact. Tiles of 4 rows x 32 columns; returns 0 (the
 * caller falls back to the loop) unless m % 4 == 0, k % 4 == 0 and n % 32 == 0. */
static int he_bytematmul_vnni(uint32_t* restrict c, const uint8_t* const* a, const uint8_t* const* b,
                              int pairs, int64_t batch, int64_t m, int64_t k, int64_t n) {
  if (m % 4 || k % 4 || n % 32) return 0;
  int8_t* bp = (int8_t*)malloc((size_t)(pairs * k * n));
  uint32_t* asum = (uint32_t*)malloc((size_t)m * sizeof(uint32_t));
  if (!bp || !asum) { free(bp); free(asum); return 0; }
  for (int64_t bt = 0; bt < batch; bt++) {
    for (int t = 0; t < pairs; t++) {
      const uint8_t* bm = b[t] + bt * k * n;
      int8_t* dst = bp + (int64_t)t * k * n;
      for (int64_t kk = 0; kk < k; kk += 4)
        for (int64_t j = 0; j < n; j++)
          for (int q = 0; q < 4; q++) dst[((kk / 4) * n + j) * 4 + q] = (int8_t)(bm[(kk + q) * n + j] ^ 0x80);
    }
    for (int64_t i = 0; i < m; i++) {
      uint32_t s = 0;
      for (int t = 0; t < pairs; t++) {
        const uint8_t* ar = a[t] + (bt * m + i) * k;
        for (int64_t kk = 0; kk < k; kk++) s += ar[kk];
      }
      asum[i] = s;
    }
    for (int64_t i = 0; i < m; i += 4)
      for (int64_t j = 0; j < n; j += 32) {
        __m512i acc[4][2];
        for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
        for (int t = 0; t < pairs; t++) {
          const int8_t* bt4 = bp + (int64_t)t * k * n;
          const uint8_t* ar = a[t] + (bt * m + i) * k;
          for (int64_t kk = 0; kk < k; kk += 4) {
            const __m512i b0 = _mm512_loadu_si512((const void*)(bt4 + ((kk / 4) * n + j) * 4));
            const __m512i b1 = _mm512_loadu_si512((const void*)(bt4 + ((kk / 4) * n + j + 16) * 4));
            for (int r = 0; r < 4; r++) {
              int32_t quad;
              memcpy(&quad, ar + r * k + kk, 4);
              const __m512i av = _mm512_set1_epi32(quad);
              acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);
              acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);
            }
          }
        }
        for (int r = 0; r < 4; r++) {
          const __m512i corr = _mm512_set1_epi32((int32_t)(128u * asum[i + r]));
          uint32_t* dst = c + (bt * m + i + r) * n + j;
          _mm512_storeu_si512((void*)dst, _mm512_add_epi32(acc[r][0], corr));
          _mm512_storeu_si512((void*)(dst + 16), _mm512_add_epi32(acc[r][1], corr));
        }
      }
  }
  free(bp);
  free(asum);
  return 1;
}
#endif

void hetc_he_bytematmul_u32(uint32_t* c, const uint8_t* const* a, const uint8_t* const* b,
                             int pairs, int64_t batch, int64_t m, int64_t k, int64_t n) {
#if defined(__AVX512VNNI__) && defined(__AVX512F__)
  if (!getenv("HETC_HE_NO_VNNI") && he_bytematmul_vnni(c, a, b, pairs, batch, m, k, n)) return;
#endif
  he_bytematmul_loop_u32(c, a, b, pairs, batch, m, k, n);
}

void hetc_he_bytematmul_u64(uint64_t* c, const uint8_t* const* a, const uint8_t* const* b,
                             int pairs, int64_t batch, int64_t m, int64_t k, int64_t n) {
  he_bytematmul_loop_u64(c, a, b, pairs, batch, m, k, n);
}
"""

KERNELS_H = """#ifndef HETC_HE_KERNELS_H
#define HETC_HE_KERNELS_H
#include <stdint.h>
void hetc_he_bytematmul_u32(uint32_t* c, const uint8_t* const* a, const uint8_t* const* b,
                             int pairs, int64_t batch, int64_t m, int64_t k, int64_t n);
void hetc_he_bytematmul_u64(uint64_t* c, const uint8_t* const* a, const uint8_t* const* b,
                             int pairs, int64_t batch, int64_t m, int64_t k, int64_t n);
#endif
"""

HEADER = """#ifndef HETC_HE_H
#define HETC_HE_H
#include <stdint.h>
#include <string.h>
/* The kernel library's entry points, passed in by the caller (built once, see KERNELS_C). */
typedef struct {
  void (*bytematmul_u32)(uint32_t* c, const uint8_t* const* a, const uint8_t* const* b,
                         int pairs, int64_t batch, int64_t m, int64_t k, int64_t n);
  void (*bytematmul_u64)(uint64_t* c, const uint8_t* const* a, const uint8_t* const* b,
                         int pairs, int64_t batch, int64_t m, int64_t k, int64_t n);
} he_kernels;
/* args: the inputs, then the outputs; consts: the constant blob; arena: scratch memory */
void hetc_he_run(void** args, uint8_t* consts, uint8_t* arena, const he_kernels* kern);
#endif
"""

ELEMENTWISE = (he.MulOp, he.AddOp, he.SubOp, he.CondSubOp, he.ShrOp, he.CastOp, he.ExtractByteOp, he.ShiftSumOp)


def _shape(v: SSAValue) -> tuple[int, ...]:
    assert isinstance(v.type, TensorType)
    return tuple(v.type.get_shape())


def _elem(v: SSAValue):
    assert isinstance(v.type, TensorType)
    return v.type.get_element_type()


def _ctype(v: SSAValue) -> str:
    t = _elem(v)
    if t not in _CTYPE:
        raise HetcError(f"the C he backend has no C type for {t}")
    return _CTYPE[t]


def _numel(v: SSAValue) -> int:
    return int(np.prod(_shape(v), dtype=np.int64))


def _nbytes(v: SSAValue) -> int:
    return _numel(v) * he.numpy_dtype(_elem(v)).itemsize


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@dataclass
class CFunction:
    source: str
    consts: np.ndarray  # uint8 blob
    arena_bytes: int
    inputs: list[tuple[tuple[int, ...], np.dtype]]
    outputs: list[tuple[tuple[int, ...], np.dtype]]


class HeCPrinter:
    """Prints one lowered he function as `hetc_he_run` (see the module doc)."""

    #: no `restrict` on tensor pointers: arena blocks are reused by later values, and two
    #: restrict pointers to one block in one function would be undefined behaviour
    def __init__(self, fn: func.FuncOp) -> None:
        self.fn = fn
        block = fn.body.block
        self.args = list(block.args)
        ret = block.last_op
        assert isinstance(ret, func.ReturnOp)
        self.outputs = list(ret.operands)
        self.ops = [op for op in block.ops if not isinstance(op, func.ReturnOp)]
        self.names: dict[SSAValue, str] = {}
        self.lines: list[str] = []

    # -- naming and operand access ---------------------------------------------------
    def name(self, v: SSAValue) -> str:
        if v not in self.names:
            self.names[v] = f"v{len(self.names)}"
        return self.names[v]

    def index(self, v: SSAValue, result: SSAValue) -> str:
        """`v`'s element for result element i (the dialect's broadcast forms)."""
        s, r = _shape(v), _shape(result)
        if s == r:
            return "i"
        if all(d == 1 for d in s):
            return "0"
        return f"(i / {_numel(result) // s[0]})"

    def elementwise_loop(self, n: int, body: list[str]) -> list[str]:
        return [f"  for (int64_t i = 0; i < {n}; i++) {{", *[f"    {b}" for b in body], "  }"]

    # -- the program -----------------------------------------------------------------
    def groups(self) -> list[list[Operation]]:
        """Runs of consecutive elementwise ops of one size (each becomes one loop)."""
        out: list[list[Operation]] = []
        for op in self.ops:
            if isinstance(op, ELEMENTWISE):
                if (
                    out
                    and isinstance(out[-1][0], ELEMENTWISE)
                    and _numel(out[-1][0].results[0]) == _numel(op.results[0])
                ):
                    out[-1].append(op)
                    continue
            out.append([op])
        return out

    def print(self) -> CFunction:
        groups = self.groups()
        # which results need memory: read outside their own group, or returned
        group_of = {op: gi for gi, g in enumerate(groups) for op in g}
        stored: set[SSAValue] = set(self.outputs)
        last_use: dict[SSAValue, int] = {}
        for gi, g in enumerate(groups):
            for op in g:
                for v in op.operands:
                    owner = v.owner
                    if not isinstance(owner, Operation) or group_of.get(owner) != gi or not isinstance(op, ELEMENTWISE):
                        stored.add(v)
                    last_use[v] = gi
        for v in self.outputs:
            last_use[v] = len(groups)
        # aliases (reshape) share their source's buffer, which must live as long as they do
        root: dict[SSAValue, SSAValue] = {}

        def root_of(v: SSAValue) -> SSAValue:
            while v in root:
                v = root[v]
            return v

        for op in self.ops:
            if isinstance(op, he.ReshapeOp):
                root[op.result] = op.input
                stored.add(op.input)
        for v, gi in list(last_use.items()):
            r = root_of(v)
            last_use[r] = max(last_use.get(r, -1), gi)

        # constants
        blob = bytearray()
        const_off: dict[SSAValue, int] = {}
        for op in self.ops:
            if isinstance(op, he.ConstantOp):
                const_off[op.result] = len(blob)
                data = np.ascontiguousarray(op.array()).astype(he.numpy_dtype(_elem(op.result))).tobytes()
                blob += data + b"\0" * (_align(len(data)) - len(data))

        # arena: first fit over free blocks, in program order
        arena_off: dict[SSAValue, int] = {}
        free: list[tuple[int, int]] = []  # (offset, size)
        top = 0
        live: list[tuple[int, SSAValue]] = []
        for gi, g in enumerate(groups):
            # release what died before this group
            for end, v in list(live):
                if end < gi:
                    live.remove((end, v))
                    free.append((arena_off[v], _align(_nbytes(v))))
            free.sort()
            merged: list[tuple[int, int]] = []
            for off, size in free:
                if merged and merged[-1][0] + merged[-1][1] == off:
                    merged[-1] = (merged[-1][0], merged[-1][1] + size)
                else:
                    merged.append((off, size))
            free = merged
            for op in g:
                v = op.results[0] if op.results else None
                if v is None or isinstance(op, (he.ConstantOp, he.ReshapeOp)) or v not in stored:
                    continue
                size = _align(_nbytes(v))
                for fi, (off, fsize) in enumerate(free):
                    if fsize >= size:
                        arena_off[v] = off
                        free[fi] = (off + size, fsize - size)
                        break
                else:
                    arena_off[v] = top
                    top += size
                live.append((last_use.get(v, gi), v))

        # code
        L = self.lines
        n_in = len(self.args)
        for i, a in enumerate(self.args):
            L.append(f"  {_ctype(a)}* {self.name(a)} = ({_ctype(a)}*)args[{i}];")
        for gi, g in enumerate(groups):
            head = g[0]
            if isinstance(head, ELEMENTWISE):
                self.print_group(g, stored, arena_off)
                continue
            op = head
            v = op.results[0]
            t = _ctype(v)
            if isinstance(op, he.ConstantOp):
                L.append(f"  {t}* {self.name(v)} = ({t}*)(consts + {const_off[v]});")
            elif isinstance(op, he.ReshapeOp):
                L.append(f"  {t}* {self.name(v)} = {self.name(op.input)};")
            elif isinstance(op, he.ByteMatMulOp):
                L.append(f"  {t}* {self.name(v)} = ({t}*)(arena + {arena_off[v]});")
                self.print_bytematmul(op)
            else:
                raise HetcError(
                    f"the C he backend cannot run {op.name}; lower it first "
                    "(hetc-he-ntt-to-matmul, hetc-he-bat, hetc-he-barrett)",
                    op_type=op.name,
                )
        for i, v in enumerate(self.outputs):
            L.append(f"  memcpy(args[{n_in + i}], {self.name(v)}, {_nbytes(v)});")
        body = "\n".join(L)
        source = (
            f'#include "model.h"\n\n'
            f"/* {self.fn.sym_name.data}: {len(self.ops)} he ops, arena {top} bytes, constants {len(blob)} bytes */\n"
            f"void hetc_he_run(void** args, uint8_t* consts, uint8_t* arena, const he_kernels* kern) {{\n{body}\n}}\n"
        )
        ins = [(_shape(a), he.numpy_dtype(_elem(a))) for a in self.args]
        outs = [(_shape(v), he.numpy_dtype(_elem(v))) for v in self.outputs]
        return CFunction(source, np.frombuffer(bytes(blob) or b"\0", dtype=np.uint8).copy(), top, ins, outs)

    def print_bytematmul(self, op: he.ByteMatMulOp) -> None:
        n = len(op.lhs)
        a, b = _shape(op.lhs[0]), _shape(op.rhs[0])
        batch = a[0] if len(a) == 3 else 1
        m, k, nn = a[-2], a[-1], b[-1]
        kern = "kern->bytematmul_u32" if _elem(op.result) == he.ui32 else "kern->bytematmul_u64"
        v = self.name(op.result)
        self.lines += [
            "  {",
            f"    const uint8_t* lhs_[{n}] = {{{', '.join(self.name(x) for x in op.lhs)}}};",
            f"    const uint8_t* rhs_[{n}] = {{{', '.join(self.name(x) for x in op.rhs)}}};",
            f"    {kern}({v}, lhs_, rhs_, {n}, {batch}, {m}, {k}, {nn});",
            "  }",
        ]

    def expr(self, op: Operation, local: dict[SSAValue, str]) -> str:
        v = op.results[0]
        t = _ctype(v)

        def arg(x: SSAValue) -> str:
            if x in local:
                return local[x]
            return f"{self.name(x)}[{self.index(x, v)}]"

        if isinstance(op, he.MulOp):
            return f"({t}){arg(op.lhs)} * ({t}){arg(op.rhs)}"
        if isinstance(op, he.AddOp):
            return f"({t}){arg(op.lhs)} + ({t}){arg(op.rhs)}"
        if isinstance(op, he.SubOp):
            return f"({t}){arg(op.lhs)} - ({t}){arg(op.rhs)}"
        if isinstance(op, he.CondSubOp):
            a, b = f"(({t}){arg(op.lhs)})", f"(({t}){arg(op.rhs)})"
            return f"{a} >= {b} ? {a} - {b} : {a}"
        if isinstance(op, he.ShrOp):
            return f"({t})((uint64_t){arg(op.input)} >> {int(op.amount.value.data)})"
        if isinstance(op, he.CastOp):
            return f"({t}){arg(op.input)}"
        if isinstance(op, he.ExtractByteOp):
            return f"(uint8_t)((uint64_t){arg(op.input)} >> {8 * int(op.index.value.data)})"
        if isinstance(op, he.ShiftSumOp):
            sh = int(op.shift.value.data)
            return " + ".join(
                f"((uint64_t){arg(p)} << {sh * i})" if i else f"(uint64_t){arg(p)}" for i, p in enumerate(op.parts)
            )
        raise AssertionError(op.name)

    def print_group(self, g: Sequence[Operation], stored: set[SSAValue], arena_off: dict[SSAValue, int]) -> None:
        body: list[str] = []
        local: dict[SSAValue, str] = {}
        for op in g:
            v = op.results[0]
            t = _ctype(v)
            if v in stored:
                self.lines.append(f"  {t}* {self.name(v)} = ({t}*)(arena + {arena_off[v]});")
            s = f"s_{self.name(v)}"
            body.append(f"const {t} {s} = {self.expr(op, local)};")
            local[v] = s
            if v in stored:
                body.append(f"{self.name(v)}[i] = {s};")
        self.lines += self.elementwise_loop(_numel(g[0].results[0]), body)


class _KernelTable(ctypes.Structure):
    _fields_ = [("bytematmul_u32", ctypes.c_void_p), ("bytematmul_u64", ctypes.c_void_p)]


@functools.lru_cache(maxsize=1)
def kernel_table() -> _KernelTable:
    """Build (once, cached by content like every C build) and load the kernel library;
    the table of its entry points is what every generated program calls through."""
    from hetc.backends.c.target import build_shared_library

    lib = ctypes.CDLL(str(build_shared_library(KERNELS_C, KERNELS_H)))
    kernel_table.library = lib  # keep it loaded
    return _KernelTable(
        ctypes.cast(lib.hetc_he_bytematmul_u32, ctypes.c_void_p).value,
        ctypes.cast(lib.hetc_he_bytematmul_u64, ctypes.c_void_p).value,
    )


class CProgram:
    """A lowered he function compiled with gcc (cached by content) and loaded with ctypes."""

    def __init__(self, fn: func.FuncOp) -> None:
        from hetc.backends.c.target import build_shared_library

        self.code = HeCPrinter(fn).print()
        self.kernels = kernel_table()
        self.library = build_shared_library(self.code.source, HEADER)
        self.lib = ctypes.CDLL(str(self.library))
        self.lib.hetc_he_run.restype = None
        self.lib.hetc_he_run.argtypes = [ctypes.c_void_p] * 3 + [ctypes.POINTER(_KernelTable)]
        self.arena = np.empty(max(self.code.arena_bytes, 1) + ALIGN, dtype=np.uint8)
        off = (-self.arena.ctypes.data) % ALIGN
        self.arena_ptr = self.arena.ctypes.data + off
        self.consts = self.code.consts

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        if len(inputs) != len(self.code.inputs):
            raise HetcError(f"the compiled he function takes {len(self.code.inputs)} inputs, got {len(inputs)}")
        ins = []
        for x, (shape, dtype) in zip(inputs, self.code.inputs):
            x = np.asarray(x)
            if tuple(x.shape) != shape:
                raise HetcError(f"input of shape {list(x.shape)} where the function takes {list(shape)}")
            ins.append(np.ascontiguousarray(x.astype(dtype, copy=False)))
        outs = [np.empty(shape, dtype=dtype) for shape, dtype in self.code.outputs]
        ptrs = (ctypes.c_void_p * (len(ins) + len(outs)))(*[a.ctypes.data for a in (*ins, *outs)])
        self.lib.hetc_he_run(ptrs, self.consts.ctypes.data, self.arena_ptr, ctypes.byref(self.kernels))
        return outs
