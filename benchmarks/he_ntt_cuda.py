"""Batched negacyclic NTTs on a GPU: the int8 tensor-core 3-step path vs a u64 radix-2 kernel.

Standalone: needs numpy, nvcc and a CUDA GPU; no xdsl, no hetc install. It loads
backends/cuda_he/host.py by path, builds backends/cuda_he/kernels.cu with nvcc, and for each
(N, batch, q):

  - runs both forward NTTs on the same random polynomials (fresh per case; outputs poisoned
    with 0xFF before the runs), warm-up runs first, then `--reps` runs each timed with CUDA
    events (median and spread reported);
  - checks both outputs bit for bit against a NumPy negacyclic NTT (radix-2, SEAL's
    ordering, bit-reversed output) computed here on the CPU, over the whole batch;
  - checks the tensor-core inverse (host.ntt(..., inverse=True)) brings the inputs back.

    python benchmarks/he_ntt_cuda.py --json out.json          # on the GPU machine
    python benchmarks/he_ntt_cuda.py --write out.json         # here: the RESULTS.md section

The u64 baseline: one launch per radix-2 stage while the butterfly span is over 1024
elements, then one launch running the remaining 11 stages over 2048-element chunks in
shared memory; Shoup multiplication on u64 words. The tensor-core path: two launches
(A X * T, then * B), each a BAT byte-sliced matmul on WMMA u8 fragments with shift-sum,
Barrett and the twist fused in the epilogue.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "<!-- he_ntt_cuda: begin (written by benchmarks/he_ntt_cuda.py --write) -->"
END = "<!-- he_ntt_cuda: end -->"

CASES = [  # (log2 N, batch, bits of q)
    (16, 64, 31),
    (16, 256, 31),
    (16, 64, 30),
    (14, 256, 31),
    (12, 1024, 31),
]


def load_host():
    spec = importlib.util.spec_from_file_location("hetc_cuda_he_host", ROOT / "backends" / "cuda_he" / "host.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def int8_peak():
    """An int8 matmul through torch (cuBLAS IMMA), for the ceiling; None without torch."""
    try:
        import torch

        a = torch.randint(-128, 127, (8192, 8192), dtype=torch.int8, device="cuda")
        b = torch.randint(-128, 127, (8192, 8192), dtype=torch.int8, device="cuda").t().contiguous().t()
        for _ in range(3):
            torch._int_mm(a, b)
        torch.cuda.synchronize()
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        for _ in range(10):
            torch._int_mm(a, b)
        e1.record()
        torch.cuda.synchronize()
        return 2 * 8192**3 * 10 / (e0.elapsed_time(e1) * 1e-3) / 1e12
    except Exception as exc:  # noqa: BLE001 - only context for the table
        print(f"(no int8 ceiling: {exc})")
        return None


def run(args) -> dict:
    host = load_host()
    t0 = time.time()
    lib = host.load(host.build())
    print(f"built and loaded in {time.time() - t0:.1f} s on {lib.device_name}", flush=True)
    rows = []
    rng = np.random.default_rng(args.seed)
    for logn, batch, bits in CASES:
        n = 1 << logn
        q = host.find_ntt_prime(n, bits)
        psi = host.primitive_root(n, q)
        x = rng.integers(0, q, (batch, n), dtype=np.uint64).astype(np.uint32)
        t1 = time.time()
        ref = host.reference_ntt(x, q, psi)
        t_ref = time.time() - t1
        c, r = host.split(n)
        byte_macs = 16 * (c * c * r + c * r * r) * batch
        tc, u64_medians, exact_u64, mism_u64 = {}, [], True, 0
        for v in sorted(host.VARIANTS):
            macs = byte_macs
            if v == host.MULTIPASS:  # one launch per radix-R pass: 16 R byte MACs per element and pass
                y_tc, ms_tc = host.bench_mp(x, q, psi, warmup=args.warmup, reps=args.reps, lib=lib)
                macs = 16 * sum(host.mp_radices(n)) * n * batch
            else:
                y_tc, y_u64, ms_tc, ms_u64 = host.bench(x, q, psi, warmup=args.warmup, reps=args.reps, lib=lib, variant=v)
                u64_medians.append(float(np.median(ms_u64)))
                exact_u64 &= bool((y_u64 == ref).all())
                mism_u64 += int((y_u64 != ref).sum())
            exact = bool((y_tc == ref).all())
            # the inverse through the host API (first 16 polynomials of the exact forward)
            back = host.ntt(ref[:16], q, psi, inverse=True, lib=lib, variant=v)
            med = float(np.median(ms_tc))
            tc[v] = {
                "name": host.VARIANTS[v], "ms": med, "minmax": [float(ms_tc.min()), float(ms_tc.max())],
                "int8_tops": 2 * macs / (med * 1e-3) / 1e12, "byte_macs": macs, "exact": exact,
                "mismatches": int((y_tc != ref).sum()), "exact_inverse": bool((back == x[:16]).all()),
            }  # fmt: skip
        best = min((v for v in tc if tc[v]["exact"] and tc[v]["exact_inverse"]), key=lambda v: tc[v]["ms"], default=None)
        med_u64 = float(np.median(u64_medians))
        med_tc = tc[best]["ms"] if best is not None else float("nan")
        row = {
            "n": n, "batch": batch, "q": q, "bits": bits, "variants": tc, "best_variant": best,
            "ms_tc": med_tc, "ms_u64": med_u64, "ms_u64_per_call": u64_medians,
            "us_per_ntt_tc": med_tc * 1e3 / batch, "us_per_ntt_u64": med_u64 * 1e3 / batch,
            "speedup_tc_over_u64": med_u64 / med_tc,
            "tc_int8_tops": tc[best]["int8_tops"] if best is not None else float("nan"),
            "exact_tc": best is not None, "exact_u64": exact_u64, "exact_inverse_tc": best is not None,
            "mismatches_u64": mism_u64, "reference_s": t_ref,
        }  # fmt: skip
        rows.append(row)
        print(
            f"N=2^{logn} batch={batch} q={q} ({bits}b): "
            + ", ".join(f"tc[{v}] {tc[v]['ms']:.3f} ms {tc[v]['int8_tops']:.0f} TOPS exact={tc[v]['exact']}/{tc[v]['exact_inverse']}" for v in tc)
            + f"; u64 {med_u64:.3f} ms (per call {', '.join(f'{m:.3f}' for m in u64_medians)}) exact={exact_u64}; "
            f"u64/best tc {row['speedup_tc_over_u64']:.2f}x",
            flush=True,
        )
    peak = int8_peak()
    return {
        "device": lib.device_name,
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "command": " ".join(["python", "benchmarks/he_ntt_cuda.py", *sys.argv[1:]]),
        "warmup": args.warmup, "reps": args.reps, "int8_matmul_tops_torch": peak,
        "rows": rows,
    }  # fmt: skip


def section(res: dict) -> str:
    lines = [
        BEGIN,
        "## HE: batched NTTs on a GPU, int8 tensor cores vs u64 kernel (benchmarks/he_ntt_cuda.py)",
        "",
        f"Measured {res['date']} on {res['device']}, a lent GPU machine (nvcc 13.0, `-arch=sm_90`). Command:",
        "",
        "```",
        res["command"],
        "```",
        "",
        (f"Median of {res['reps']} runs after {res['warmup']} warm-ups, CUDA events around each "
        "batched forward transform (device-resident data, no transfers). Both outputs compared with "
        "a NumPy radix-2 NTT over the whole batch; `inv` = the tensor-core inverse NTT of 16 "
        "polynomials gave the inputs back."),
        "",
        "| N | batch | q (bits) | tensor-core ms (best variant) | u64 radix-2 ms | u64 / tc | µs per NTT tc / u64 | tc int8 TOPS | exact tc / u64 / inv |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in res["rows"]:
        lines.append(
            f"| 2^{r['n'].bit_length() - 1} | {r['batch']} | {r['q']} ({r['bits']}) | {r['ms_tc']:.3f} ({r.get('best_variant', 0)}) | "
            f"{r['ms_u64']:.3f} | {r['speedup_tc_over_u64']:.2f}x | {r['us_per_ntt_tc']:.2f} / {r['us_per_ntt_u64']:.2f} | "
            f"{r['tc_int8_tops']:.0f} | {'yes' if r['exact_tc'] else 'NO'} / {'yes' if r['exact_u64'] else 'NO'} / "
            f"{'yes' if r['exact_inverse_tc'] else 'NO'} |"
        )
    if any("variants" in r for r in res["rows"]):
        names = next(r["variants"] for r in res["rows"] if "variants" in r)
        lines += ["", "Tensor-core variants (backends/cuda_he/kernels.cu), ms per batched NTT (int8 TOPS; exact forward / inverse):", ""]
        lines += ["| N | batch | bits | " + " | ".join(f"{v}: {names[v]['name']}" for v in names) + " |"]
        lines += ["| --- | --- | --- | " + " | ".join("---" for _ in names) + " |"]
        for r in res["rows"]:
            vs = r.get("variants", {})
            lines.append(
                f"| 2^{r['n'].bit_length() - 1} | {r['batch']} | {r['bits']} | "
                + " | ".join(
                    f"{vs[v]['ms']:.3f} ({vs[v]['int8_tops']:.0f}; {'yes' if vs[v]['exact'] else 'NO'} / {'yes' if vs[v]['exact_inverse'] else 'NO'})"
                    for v in vs
                )
                + " |"
            )
    peak = res.get("int8_matmul_tops_torch")
    lines += [
        "",
        (f"Ceiling: an 8192³ int8 matmul through torch (`torch._int_mm`, cuBLAS) ran at {peak:.0f} TOPS on the same GPU. " if peak else "")
        + "Variants 0-2 are the two-launch 3-step form (C = R = 256 for 2^16): 16 byte matmuls per modular matmul "
        "(4 residue bytes × 4 pre-scaled constant byte planes), 16 (C²R + CR²) byte MACs per NTT, 537 M for N = 2^16. "
        "Variant 3 applies the 3-step split recursively down to radix-16/32 DFTs (N = 16·16·16·16 for 2^16): one BAT "
        "byte matmul per pass with K = 4R, 16 R byte MACs per element and pass (67 M per 2^16 NTT, 8x fewer), twiddles "
        "and the shift-sum reduced in 32-bit Shoup products in the epilogue, and two radix-16 passes per launch where "
        "the tile closes under both (2 launches, 8 bytes of DRAM traffic per element each, for 2^16).",
        "",
        *verdict(res),
        "",
        ("What limited variant 3 (Nsight Compute on the H100, 2^16 x 256): neither DRAM (15-22% of peak) nor the "
        "tensor cores, but the L1/shared-memory pipe (74-93% busy): first the per-element twiddle gathers from "
        "global tables (now the tile's slices are staged in shared memory), then shared-memory bank conflicts "
        "(62% of all shared wavefronts were excess: 4 twiddle rows 128 bytes apart, 32 consecutive rows written "
        "at one pitch-20 column, the output staging), removed with padded table strides, a row-dependent XOR "
        "swizzle of the byte-plane rows and a conflict-free staging layout: 0.315 -> 0.264 ms. Measured without "
        "effect: register caps (4-6 blocks/SM), 16-column (64-byte) tiles. The u64 baseline is a plain kernel (one "
        "global pass per stage with half-span >= 1024, then 11 stages in shared memory: 6 passes over u64 words); "
        "a u64 kernel with fewer passes would narrow the ratio."),
        "",
        ("(`python benchmarks/he_ntt_cuda.py --write FILE.json` puts this section back from the JSON "
        "the GPU run wrote, replacing only the text between its markers.)"),
        END,
    ]
    return "\n".join(lines)


def verdict(res: dict) -> list[str]:
    """The >= 3x question, answered from the numbers."""
    big = [r for r in res["rows"] if r["n"] == 1 << 16]
    if not big:
        return []
    best = max(big, key=lambda r: r["speedup_tc_over_u64"])
    out = [
        (f"**Target (tensor-core path >= 3x the u64 kernel on batched 2^16 NTTs): "
        f"{'reached' if best['speedup_tc_over_u64'] >= 3 else 'not reached'}**: best u64/tc = "
        f"{best['speedup_tc_over_u64']:.2f}x (batch {best['batch']}, variant {best.get('best_variant')}).")
    ]
    v3 = best.get("variants", {}).get("3") or best.get("variants", {}).get(3)
    if v3:
        words = best["n"] * best["batch"]
        gbps = 2 * 8 * words / (v3["ms"] * 1e-3) / 1e9  # 2 launches x (4 B read + 4 B written) per element
        out.append(
            f"Variant 3 moves {2 * 8 * words / 1e6:.0f} MB through DRAM per batched transform ({gbps:.0f} GB/s achieved) "
            f"and runs {v3['int8_tops']:.0f} int8 TOPS; the u64 kernel's 6 passes over u64 words move "
            f"{6 * 2 * 8 * words / (best['ms_u64'] * 1e-3) / 1e12:.1f} TB/s."
        )
    return out


def write(res: dict) -> None:
    path = ROOT / "benchmarks" / "RESULTS.md"
    text = path.read_text() if path.exists() else ""
    block = section(res)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the results here (on the GPU machine)")
    ap.add_argument("--write", metavar="JSON", help="write RESULTS.md's section from a results JSON")
    args = ap.parse_args()
    if args.write:
        write(json.loads(Path(args.write).read_text()))
        return
    res = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(section(res))


if __name__ == "__main__":
    main()
