"""An encrypted linear layer + square activation (64 -> 16, x^2) on real CKKS (SEAL),
and a 256x256 encrypted matvec on the slot simulator, with the rotation counts of the
naive diagonal method, sqrt-BSGS and the packing ILP.

    python examples/he_encrypted_layer.py          # needs tenseal for the SEAL part: pip install 'hetc[he]'
"""

import hetc
import numpy as np


def seal_ok():
    from hetc.backends.seal_ckks import available

    why = available()
    if why:
        print("SEAL unavailable, using the simulator:", why)
    return why is None


def show(name, st):
    solver = st.get("solver", {}).get("status", "-")
    print(
        f"{name:34s} rotations {st['rotations']:4d} (diagonal {st['diagonal']['rotations']:4d}, "
        f"sqrt-BSGS {st['bsgs_sqrt']['rotations']:3d})  keys {st['keys']:3d}  depth {st['depth']}  "
        f"max |err| {st['max_abs_error']:.2e}  {st['backend']} {st['wall_s']:.3f} s  solver {solver}"
    )


def main():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((16, 64)) / 8
    x = rng.standard_normal(64)
    for strategy in ("diagonal", "ilp"):
        backend = "seal" if seal_ok() else "sim"
        y, st = hetc.he.encrypted_linear_square(W, x, backend=backend, strategy=strategy)
        show(f"linear 64->16 + x^2 [{strategy}]", st)
    if "ckks" in st:
        print("  CKKS parameters:", st["ckks"], " Galois keys for steps:", st["galois_steps"])
    print("  first outputs:", np.round(y[:4], 5), " plaintext:", np.round(((W @ x) ** 2)[:4], 5))

    W2 = rng.standard_normal((256, 256)) / 16
    v = rng.standard_normal(256)
    for strategy in ("diagonal", "bsgs", "ilp"):
        _, st = hetc.he.encrypted_matvec(W2, v, backend="sim", strategy=strategy)
        show(f"matvec 256x256 [{strategy}]", st)


if __name__ == "__main__":
    main()
