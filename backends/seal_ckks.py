"""Real CKKS execution of packed `he` programs on Microsoft SEAL, through TenSEAL's
`tenseal.sealapi` bindings (pip install 'hetc[he]', i.e. tenseal==0.3.18).

`SealEngine` plugs into `hetc.backends.numpy.he_slots.run_packed`: every he.rotate is a
real Galois rotation (`Evaluator.rotate_vector_inplace`) with Galois keys generated for
exactly the program's rotation offsets (no others: a missing key is SEAL's error), every
he.slot_mul of two ciphertexts is multiply + relinearize, every he.rescale is
`rescale_to_next_inplace`. Plaintext operands are encoded lazily at the ciphertext's level
(parms_id) and scale, so pt x ct and pt + ct need no level bookkeeping in the IR.

Parameters (`ckks_parameters(depth)`): poly modulus degree 8192 (4096 slots), coeff
modulus [60, 40 x depth, 60] bits (<= 218 bits: 128-bit security; depth <= 2 at 8192, a
deeper program gets 16384), scale 2^40.
"""

from __future__ import annotations

import numpy as np


def available() -> str | None:
    """None if SEAL can be used, else why not."""
    try:
        import tenseal.sealapi  # noqa: F401
    except (ImportError, OSError) as e:  # pragma: no cover - depends on the environment
        return f"tenseal is not importable ({type(e).__name__}: {e}); pip install 'hetc[he]' (tenseal==0.3.18)"
    return None


def ckks_parameters(depth: int, poly_degree: int | None = None) -> dict:
    bits = [60] + [40] * max(depth, 1) + [60]
    n = poly_degree or (8192 if sum(bits) <= 218 else 16384 if sum(bits) <= 438 else 32768)
    return {"poly_modulus_degree": n, "coeff_modulus_bits": bits, "scale_bits": 40}


def galois_element(step: int, poly_degree: int) -> int:
    """SEAL's Galois element for a CKKS rotation by `step` (left; negative = right):
    3^step mod 2N, a right rotation by s being a left one by N/2 - s."""
    slots = poly_degree // 2
    if not 0 < abs(step) < slots:
        raise ValueError(f"rotation step {step} is out of range for {slots} slots")
    return pow(3, step if step > 0 else slots + step, 2 * poly_degree)


class SealEngine:
    name = "seal"

    def __init__(self, slots: int, rotation_offsets, depth: int, poly_degree: int | None = None):
        why = available()
        if why:
            raise RuntimeError(why)
        import tenseal.sealapi as s

        self.s = s
        self.params = ckks_parameters(depth, poly_degree)
        n = self.params["poly_modulus_degree"]
        if n // 2 != slots:
            raise ValueError(
                f"the program is packed for {slots} slots but CKKS with poly modulus degree {n} has {n // 2}; "
                f"pack for {n // 2} slots"
            )
        parms = s.EncryptionParameters(s.SCHEME_TYPE.CKKS)
        parms.set_poly_modulus_degree(n)
        parms.set_coeff_modulus(s.CoeffModulus.Create(n, self.params["coeff_modulus_bits"]))
        self.ctx = s.SEALContext(parms, True, s.SEC_LEVEL_TYPE.TC128)
        kg = s.KeyGenerator(self.ctx)
        self.pk = s.PublicKey()
        kg.create_public_key(self.pk)
        self.rk = s.RelinKeys()
        kg.create_relin_keys(self.rk)
        self.galois_steps = sorted({int(k) for k in rotation_offsets})
        self.gk = s.GaloisKeys()
        if self.galois_steps:
            # sealapi's create_galois_keys(list) binds both SEAL overloads (steps and Galois
            # elements); an all-positive list goes to the elements one, so pass elements.
            kg.create_galois_keys([galois_element(k, n) for k in self.galois_steps], self.gk)
        self.encryptor = s.Encryptor(self.ctx, self.pk)
        self.decryptor = s.Decryptor(self.ctx, kg.secret_key())
        self.evaluator = s.Evaluator(self.ctx)
        self.encoder = s.CKKSEncoder(self.ctx)
        self.scale = 2.0 ** self.params["scale_bits"]
        self.slots = slots

    # plaintexts stay NumPy slot vectors until an op needs them at a ciphertext's level
    def encode(self, vec):
        return np.asarray(vec, dtype=np.float64)

    def _plain(self, vec, ct, scale=None):
        pt = self.s.Plaintext()
        self.encoder.encode(vec.tolist(), ct.parms_id(), scale or self.scale, pt)
        return pt

    def encrypt(self, vec):
        pt = self.s.Plaintext()
        self.encoder.encode(np.asarray(vec, dtype=np.float64).tolist(), self.scale, pt)
        ct = self.s.Ciphertext()
        self.encryptor.encrypt(pt, ct)
        return ct

    def decrypt(self, ct):
        pt = self.s.Plaintext()
        self.decryptor.decrypt(ct, pt)
        return np.array(self.encoder.decode_double(pt))

    def _new(self):
        return self.s.Ciphertext()

    def rotate(self, ct, k):
        out = self._new()
        self.evaluator.rotate_vector(ct, int(k), self.gk, out)
        return out

    def add(self, a, b, plain):
        out = self._new()
        if plain:
            self.evaluator.add_plain(a, self._plain(b, a, a.scale), out)
        else:
            self.evaluator.add(a, b, out)
        return out

    def sub(self, a, b, plain):
        out = self._new()
        if plain:
            self.evaluator.sub_plain(a, self._plain(b, a, a.scale), out)
        else:
            self.evaluator.sub(a, b, out)
        return out

    def mul(self, a, b, plain):
        out = self._new()
        if plain:
            self.evaluator.multiply_plain(a, self._plain(b, a), out)
        else:
            self.evaluator.multiply(a, b, out)
            self.evaluator.relinearize_inplace(out, self.rk)
        return out

    def rescale(self, ct):
        out = self._new()
        self.evaluator.rescale_to_next(ct, out)
        return out
