"""The negacyclic NTT four ways on this CPU: hetc's matrix-engine form (3-step matmul +
BAT byte matmuls + Barrett, run by the NumPy and the C backends) against a direct
radix-2 NTT in uint64 NumPy and a direct C loop NTT (Shoup/Harvey butterflies).

    python benchmarks/he_ntt.py                          # N = 2^12 .. 2^16, 30-bit primes
    python benchmarks/he_ntt.py --bits 32 --repeats 31
    python benchmarks/he_ntt.py --write                  # also (re)write its section of RESULTS.md

All four are checked bit-exact against each other (and the INTT round trip) before they
are timed. Times are the median of --repeats runs after --warmup runs, one thread, one
array in and one out per run. The matmul form does O(N^1.5) work (two sqrt(N)-sized
modular matmuls, each 16 u8 matmuls' worth of byte products) where the direct NTT does
O(N log N) butterflies: it is built for int8 matrix engines (TPU MXU, tensor cores, NPU
MAC arrays), not to win on a CPU's scalar/vector units.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one thread for every method (set before NumPy loads)

import numpy as np  # noqa: E402

import hetc  # noqa: E402
from hetc import he  # noqa: E402
from hetc.backends.c.target import build_shared_library  # noqa: E402
from hetc.backends.numpy.he import intt_direct, ntt_direct, ntt_tables  # noqa: E402
from hetc.passes.he_ntt_to_matmul import split  # noqa: E402

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- he_ntt: begin (written by benchmarks/he_ntt.py --write) -->", "<!-- he_ntt: end -->"

DIRECT_C = r"""
#include <stdint.h>
/* In-place negacyclic NTT (natural in, bit-reversed out): Cooley-Tukey with psi^brv
 * twiddles w[m + i] and their Shoup companions ws = floor(w * 2^32 / q). For v < 2^32:
 * qh = (v * ws) >> 32 gives r = v * w - qh * q in [0, 2q), exact in uint64. */
void ntt_direct_c(uint32_t* a, const uint32_t* w, const uint32_t* ws, int64_t n, uint32_t q) {
  int64_t t = n;
  for (int64_t m = 1; m < n; m <<= 1) {
    t >>= 1;
    for (int64_t i = 0; i < m; i++) {
      const uint64_t W = w[m + i], WS = ws[m + i];
      uint32_t* restrict x = a + 2 * i * t;
      uint32_t* restrict y = x + t;
      for (int64_t j = 0; j < t; j++) {
        const uint64_t u = x[j], v = y[j];
        uint64_t r = v * W - ((v * WS) >> 32) * q;
        if (r >= q) r -= q;
        uint64_t s = u + r;
        if (s >= q) s -= q;
        uint64_t d = u + q - r;
        if (d >= q) d -= q;
        x[j] = (uint32_t)s;
        y[j] = (uint32_t)d;
      }
    }
  }
}
"""


class DirectC:
    def __init__(self, n: int, q: int, psi: int) -> None:
        lib = ctypes.CDLL(str(build_shared_library(DIRECT_C, "")))
        self.fn = lib.ntt_direct_c
        self.fn.restype = None
        self.fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint32]
        fw = ntt_tables(n, q, psi)[0]
        self.w = fw.astype(np.uint32)
        self.ws = np.array([(int(v) << 32) // q for v in fw], dtype=np.uint64).astype(np.uint32)
        self.n, self.q = n, q

    def run(self, x: np.ndarray) -> np.ndarray:
        a = np.array(x, dtype=np.uint32, copy=True)
        self.fn(a.ctypes.data, self.w.ctypes.data, self.ws.ctypes.data, self.n, self.q)
        return a


def vnni_available() -> bool:
    """Whether gcc -march=native targets AVX-512 VNNI here (the C kernel then uses vpdpbusd)."""
    import subprocess

    cc = os.environ.get("CC", "gcc")
    out = subprocess.run(
        [cc, "-march=native", "-dM", "-E", "-x", "c", "/dev/null"], capture_output=True, text=True
    ).stdout
    return "__AVX512VNNI__" in out


def median_ms(fn, x, warmup: int, repeats: int) -> tuple[float, float, float]:
    for _ in range(warmup):
        fn(x)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return statistics.median(ts), ts[len(ts) // 10], ts[(9 * len(ts)) // 10]


def bench(n: int, bits: int, warmup: int, repeats: int) -> dict:
    q = he.find_ntt_prime(n, bits)
    psi = he.primitive_root(n, q)
    rng = np.random.default_rng(n)
    x = (rng.integers(0, q, n, dtype=np.uint64)).astype(np.uint32)
    tables = ntt_tables(n, q, psi)

    t0 = time.perf_counter()
    bat_np = he.compile_ntt(n, (q,), (psi,), "numpy")
    compile_np = time.perf_counter() - t0
    t0 = time.perf_counter()
    bat_c = he.compile_ntt(n, (q,), (psi,), "c")
    compile_c = time.perf_counter() - t0
    direct_c = DirectC(n, q, psi)

    runs = {
        "hetc BAT/3-step, NumPy": lambda v: bat_np.run(v)[0],
        "hetc BAT/3-step, C (VNNI)": lambda v: bat_c.run(v)[0],
        "hetc BAT/3-step, C (loop)": lambda v: bat_c.run(v)[0],
        "direct NTT, uint64 NumPy": lambda v: ntt_direct(v, q, psi, tables),
        "direct NTT, C loop": direct_c.run,
    }
    if not vnni_available():
        del runs["hetc BAT/3-step, C (VNNI)"]
    ref = ntt_direct(x, q, psi, tables)
    for name, fn in runs.items():
        got = fn(x)
        if not (np.asarray(got, dtype=np.uint64) == ref).all():
            raise SystemExit(f"N = {n}: {name} disagrees with the direct NTT")
    if not (intt_direct(ref, q, psi, tables) == x).all():
        raise SystemExit(f"N = {n}: the direct INTT does not invert the NTT")
    inv = he.compile_ntt(n, (q,), (psi,), "c", True)
    if not (inv.run(ref.astype(np.uint32))[0] == x).all():
        raise SystemExit(f"N = {n}: hetc's INTT (C) does not invert the NTT")

    c, r = split(n)
    times = {}
    for name, fn in runs.items():
        if name.endswith("(loop)"):
            os.environ["HETC_HE_NO_VNNI"] = "1"  # the kernel library's portable byte matmul
        try:
            times[name] = median_ms(fn, x, warmup, repeats)
        finally:
            os.environ.pop("HETC_HE_NO_VNNI", None)
    return {
        "n": n,
        "q": q,
        "psi": psi,
        "bits": bits,
        "C": c,
        "R": r,
        # byte multiply-accumulates of the two BAT matmuls: nb output bytes x (nb pairs x K)
        "byte_macs": 16 * (c * c * r + c * r * r),
        "butterflies": n // 2 * (n.bit_length() - 1),
        "compile_s": {"numpy": compile_np, "c": compile_c},
        "ms": times,
    }


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        f"CPU: {cpu}; {os.cpu_count()} logical cores; {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}; numpy {np.__version__}; hetc {hetc.__version__}; "
        f"C compiler: {os.environ.get('CC', 'gcc')} (hetc's CFLAGS: -O3 -march=native)",
        f"Load average at the end: {load} (anything above ~0 is other work on the shared cores)",
    ]


def section(results: list[dict], command: str) -> str:
    names = list(results[0]["ms"])
    L = [
        BEGIN,
        "## HE: negacyclic NTT, matrix-engine form vs direct (benchmarks/he_ntt.py)",
        "",
        f"Written by `benchmarks/he_ntt.py` on {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}. Command:",
        "",
        "```",
        command,
        "```",
        "",
        *[f"- {m}" for m in machine()],
        "",
        "One forward NTT of N coefficients mod a prime q = 1 (mod 2N) of the given bits, one "
        "thread (OPENBLAS_NUM_THREADS=1 for NumPy), median (p10-p90) ms of the runs after "
        "warm-up; every method checked bit-exact "
        "against the others first. hetc's rows run what `hetc.he.ntt` runs: he.ntt lowered by "
        "hetc-he-ntt-to-matmul (C x C and R x R modular matmuls around a twiddle multiply, "
        "N = C R), hetc-he-bat (u8 x u8 matmuls with u32 accumulation, shift-sum) and "
        'hetc-he-barrett (multiply/add/shift reductions). "byte MACs" is the matmul form\'s '
        'u8 multiply-accumulates, "butterflies" the direct NTT\'s.',
        "",
        "| N | q | C x R | byte MACs | butterflies | " + " | ".join(names) + " | best C matmul form / C direct |",
        "|---:|---:|---|---:|---:|" + "---:|" * len(names) + "---:|",
    ]
    for r in results:
        cells = [f"{m:.3f} ({lo:.3f}-{hi:.3f})" for m, lo, hi in r["ms"].values()]
        best_c = min(v[0] for k, v in r["ms"].items() if k.startswith("hetc BAT/3-step, C"))
        ratio = best_c / r["ms"]["direct NTT, C loop"][0]
        L.append(
            f"| 2^{r['n'].bit_length() - 1} | {r['q']} | {r['C']} x {r['R']} | {r['byte_macs'] / 1e6:.1f}M | "
            f"{r['butterflies'] / 1e3:.0f}k | " + " | ".join(cells) + f" | {ratio:.1f}x |"
        )
    L += [
        "",
        "Reading it: on this CPU the matmul form is slower than a direct NTT, by a factor that "
        "grows like sqrt(N)/log N: it trades O(N log N) butterflies for O(N^1.5) byte "
        "multiply-accumulates (16 per 32-bit product), which only pays off where those run on "
        "an int8 matrix engine (TPU MXU, GPU tensor cores, NPU MAC arrays) at tens to hundreds "
        "of times a vector unit's rate, and where the direct NTT's strided, bit-reversed memory "
        "access is the bottleneck. The CPU rows are the correctness and plumbing baseline for "
        "that path (the CUDA int8 tensor-core variant is not written yet), not a claim of speed. "
        'The C rows differ only in the byte-matmul kernel: "VNNI" is the kernel library\'s '
        "AVX-512 VNNI path (vpdpbusd, u8 x s8 quads with a +128 row-sum correction: the CPU's own "
        'int8 dot-product unit), "loop" its portable auto-vectorized loop (HETC_HE_NO_VNNI=1). '
        "The NumPy backend runs the byte matmuls as exact float64 BLAS products.",
        "",
        "(`benchmarks/run.py` rewrites this file; `python benchmarks/he_ntt.py --write` puts this "
        "section back, replacing only the text between its markers.)",
        END,
    ]
    return "\n".join(L)


def write_section(text: str, path: Path) -> None:
    """Replace this benchmark's section of RESULTS.md (between its markers), or append it."""
    old = path.read_text() if path.exists() else "# hetc benchmark results\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = head + text + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sizes", default="12,13,14,15,16", help="log2 N values (default 12..16)")
    p.add_argument("--bits", type=int, default=30, help="bits of the NTT-friendly prime (default 30)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--write", action="store_true", help="(re)write the HE section of benchmarks/RESULTS.md")
    p.add_argument("--output", default=str(HERE / "RESULTS.md"))
    p.add_argument("--json", help="also write the raw numbers here")
    args = p.parse_args(argv)
    results = []
    for e in (int(s) for s in args.sizes.split(",")):
        r = bench(2**e, args.bits, args.warmup, args.repeats)
        results.append(r)
        cells = ", ".join(f"{k}: {m:.3f} ms" for k, (m, _, _) in r["ms"].items())
        print(f"N = 2^{e} (q = {r['q']}): {cells}", flush=True)
    command = "python benchmarks/he_ntt.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = section(results, command.strip())
    print()
    print(text)
    if args.write:
        write_section(text, Path(args.output))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
