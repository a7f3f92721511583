"""float32 exp, tanh and erf written as straight-line arithmetic, so C compilers
vectorize the loops that call them (libm's expf/tanhf/erff are opaque calls: a loop
with one runs a scalar call per element, which made GELU and softmax the slowest
kernels of transformers). Branches are selects; 2^n goes through the exponent bits.

Accuracy (checked over a dense sweep against float64 in tests/unit/test_vecmath.py):
exp within 2 ulp where the result is normal (subnormal results to about 1e-45, beyond that 0;
inf above 88.72),
tanh within 3 ulp, erf within 2e-7 absolute; NaN in gives NaN out.
"""

from __future__ import annotations

#: libm name -> (helper name, C definition); "select" is the others' branch-free ?:
HELPERS: dict[str, tuple[str, str]] = {
    "select": ("hetc_selectf", """\
/* c ? a : b with both sides computed and their bits blended: written as ?:, GCC turns
 * selects into branches and moves arithmetic into them (sinking, tail duplication), and a
 * branch holding float operations that may trap vectorizes only with AVX-512's masks (on
 * AVX2 the loops calling these helpers stayed scalar) */
static inline float hetc_selectf(int c, float a, float b) {
  union { float f; uint32_t u; } x, y, r;
  x.f = a;
  y.f = b;
  const uint32_t m = 0u - (uint32_t)(c != 0);
  r.u = (x.u & m) | (y.u & ~m);
  return r.f;
}"""),
    "exp": ("hetc_expf", """\
/* exp(x) = 2^n * exp(r), n = rint(x / ln 2), r = x - n ln 2 in two parts, |r| <= ln2/2;
 * exp(r) by its Taylor polynomial to r^7 (truncation < 2^-30); 2^n as two powers of
 * two built in the exponent bits (each stays normal, so subnormal results come out). */
static inline float hetc_expf(float x) {
  const float xc = hetc_selectf(x < -103.9f, -103.9f, hetc_selectf(x > 88.7228f, 88.7228f, x));
  const float n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;  /* round to nearest */
  const float r = (xc - n * 0.693145752f) - n * 1.42860677e-06f;
  float p = 1.98412698e-04f;
  p = p * r + 1.38888889e-03f;
  p = p * r + 8.33333333e-03f;
  p = p * r + 4.16666667e-02f;
  p = p * r + 1.66666667e-01f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t n1 = (int32_t)(n * 0.5f), n2 = (int32_t)n - n1;
  union { int32_t i; float f; } s1, s2;
  s1.i = (n1 + 127) << 23;
  s2.i = (n2 + 127) << 23;
  const float y = (p * s1.f) * s2.f;
  return hetc_selectf(x != x, x, hetc_selectf(x < -103.9f, 0.0f, hetc_selectf(x > 88.7228f, INFINITY, y)));
}"""),
    "tanh": ("hetc_tanhf", """\
/* tanh: an odd Taylor polynomial for |x| < 0.3 (no cancellation), else
 * (1 - t) / (1 + t) with t = exp(-2|x|) through hetc_expf; sign restored. */
static inline float hetc_tanhf(float x) {
  const float a = fabsf(x);
  const float x2 = x * x;
  float p = -1.455834387e-03f;
  p = p * x2 + 3.592128037e-03f;
  p = p * x2 - 8.863235530e-03f;
  p = p * x2 + 2.186948854e-02f;
  p = p * x2 - 5.396825397e-02f;
  p = p * x2 + 1.333333333e-01f;
  p = p * x2 - 3.333333333e-01f;
  const float small = x * (1.0f + x2 * p);  /* (keeps the sign of -0) */
  const float t = hetc_expf(-2.0f * hetc_selectf(a > 9.0f, 9.0f, a));
  const float big = (1.0f - t) / (1.0f + t);
  return hetc_selectf(x != x, x, hetc_selectf(a < 0.3f, small, copysignf(big, x)));
}"""),
    "erf": ("hetc_erff", """\
/* erf: its Taylor series for |x| < 0.5; beyond, 1 - erfc(|x|) with erfc from the
 * Chebyshev fit of Press et al. (Numerical Recipes 6.2, fractional error < 1.2e-7),
 * whose exponential is hetc_expf; sign restored. */
static inline float hetc_erff(float x) {
  const float a = fabsf(x);
  const float x2 = x * x;
  float p = 1.646211437e-06f;
  p = p * x2 - 1.492565036e-05f;
  p = p * x2 + 1.205533298e-04f;
  p = p * x2 - 8.548327023e-04f;
  p = p * x2 + 5.223977625e-03f;
  p = p * x2 - 2.686617065e-02f;
  p = p * x2 + 1.128379167e-01f;
  p = p * x2 - 3.761263890e-01f;
  p = p * x2 + 1.128379167e+00f;
  const float small = x * p;
  const float ac = hetc_selectf(a > 10.0f, 10.0f, a);
  const float t = 1.0f / (1.0f + 0.5f * ac);
  float q = 0.17087277f;
  q = q * t - 0.82215223f;
  q = q * t + 1.48851587f;
  q = q * t - 1.13520398f;
  q = q * t + 0.27886807f;
  q = q * t - 0.18628806f;
  q = q * t + 0.09678418f;
  q = q * t + 0.37409196f;
  q = q * t + 1.00002368f;
  q = q * t - 1.26551223f;
  const float erfc = t * hetc_expf(q - ac * ac);
  const float big = 1.0f - erfc;
  return hetc_selectf(x != x, x, hetc_selectf(a < 0.5f, small, copysignf(big, x)));
}"""),
}

#: helpers another helper calls
_NEEDS = {"exp": ["select"], "tanh": ["exp"], "erf": ["exp"]}


def definitions(used: set[str]) -> str:
    """The C definitions of the helpers for the libm names in `used`, dependencies first."""
    order: list[str] = []

    def add(name: str) -> None:
        for dep in _NEEDS.get(name, []):
            add(dep)
        if name not in order:
            order.append(name)

    for name in sorted(used):
        if name in HELPERS:
            add(name)
    return "\n\n".join(HELPERS[n][1] for n in order)
