"""The ONNX backend node cases through the whole compiler, per backend.

All ~1,900 cases run per backend (a few minutes on 2 cores). The bar: no case crashes
the compiler, no case fails outside the known list below (each with its reason), and
the share of passing cases in the CNN/transformer op set stays at or above the
backend's floor (90% for the NumPy reference, 97% for C: the floor ratchets up as
the op set grows; ops a backend does not lower yet are reported unsupported, not failed).
"""

from __future__ import annotations

import os

import pytest

import run as runner

#: cases known to fail, and why; a case that starts passing must be removed from here
KNOWN_FAILURES = {
    # training-mode Dropout draws random masks: the expected data cannot be reproduced
    "test_training_dropout": "random mask",
    "test_training_dropout_default": "random mask",
    "test_training_dropout_default_mask": "random mask",
    "test_training_dropout_mask": "random mask",
    # the reference output uses the fractional output size; the spec and onnxruntime
    # use the integer one, as hetc does
    "test_resize_downsample_scales_cubic_align_corners": "reference differs from spec/onnxruntime",
    "test_resize_downsample_scales_linear_align_corners": "reference differs from spec/onnxruntime",
    # float32 rounding residue ~2e-6 against atol 1e-7 (onnxruntime is off by 1.5e-5)
    "test_dft_inverse": "tolerance below float32 rounding",
    "test_dft_inverse_opset19": "tolerance below float32 rounding",
    # bfloat16 attention: within 1-2 bf16 ulps of the reference, but the cases' rtol 1e-3
    # is below bf16's resolution (2**-8), so they demand the reference's exact rounding
    **{
        f"test_attention_{v}_bf16{x}": "bf16 rounding below the case's tolerance"
        for v in ("3d_causal", "4d_attn_mask_causal", "4d_causal", "4d_causal_padded_kv", "4d_padded_kv")
        for x in ("", "_expanded")
        if f"{v}{x}" != "4d_attn_mask_causal_expanded"
    },
}


#: the C target computes a float16/bfloat16 graph in float32 and rounds once per stored
#: element (hetc-lift-narrow-floats + hetc-narrow-storage); these expanded attention cases'
#: references round after every op in the narrow type: one ulp apart, beyond rtol 1e-3
NARROW_ROUNDING = {
    n: "float32 compute with one rounding per kernel vs the reference's per-op rounding: 1 ulp"
    for n in ("test_attention_4d_causal_bf16_expanded", "test_attention_4d_causal_fp16_expanded",
              "test_attention_4d_attn_mask_causal_bf16_expanded", "test_attention_3d_causal_bf16_expanded")
}

#: per target: the cases it is known to fail and the CNN/transformer pass-rate floor
TARGETS = {
    "numpy": (KNOWN_FAILURES, 0.90),
    "c": ({**{n: KNOWN_FAILURES[n] for n in KNOWN_FAILURES if "resize" in n}, **NARROW_ROUNDING}, 0.97),
}


@pytest.fixture(scope="module", params=sorted(TARGETS))
def target_results(request):
    runner._CASES = runner.load_cases()
    jobs = max(1, min(os.cpu_count() or 1, 4))
    return request.param, runner.run_all(request.param, list(range(len(runner._CASES))), jobs=jobs, quiet=True)


def test_every_case_is_decided(target_results):
    _, results = target_results
    assert len(results) > 1800
    crashed = [r for r in results if r.reason.startswith(("compiler crashed", "runner:"))]
    assert not crashed, "\n".join(f"{r.name}: {r.reason}" for r in crashed[:20])
    assert all(r.reason for r in results if r.status != "passed")


def test_cnn_transformer_op_set_passes(target_results):
    target, results = target_results
    s = runner.summarize(results)
    assert s["core_rate"] >= TARGETS[target][1], s


def test_no_unexpected_failures(target_results):
    target, results = target_results
    known = TARGETS[target][0]
    failed = {r.name: r.reason for r in results if r.status == "failed"}
    unexpected = {n: why for n, why in failed.items() if n not in known}
    assert not unexpected, "\n".join(f"{n}: {why}" for n, why in sorted(unexpected.items()))
    now_passing = [n for n in known if n not in failed]
    assert not now_passing, f"known failures now pass or vanished; remove them: {now_passing}"
