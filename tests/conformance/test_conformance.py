"""The ONNX backend node cases through the whole compiler, per backend.

All ~1,900 cases run (about two minutes on 2 cores). The bar: >= 90% of the cases
whose op belongs to the CNN/transformer set pass, no case crashes the compiler, and
no case fails outside the known list below (each with its reason).
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
    # hetc computes in float32 and rounds to bfloat16 once: half an ulp from the reference
    "test_attention_3d_causal_bf16": "bf16 rounding",
    "test_attention_4d_attn_mask_causal_bf16": "bf16 rounding",
    "test_attention_4d_causal_bf16": "bf16 rounding",
    "test_attention_4d_causal_padded_kv_bf16": "bf16 rounding",
    "test_attention_4d_padded_kv_bf16": "bf16 rounding",
    # The function-expanded bf16 attention graphs diverge (max err ~0.98) while the
    # fused bf16 Attention and every float32/float16 variant pass: bf16 handling in
    # one of the expanded graph's primitives is not yet diagnosed.
    "test_attention_3d_causal_bf16_expanded": "not yet diagnosed",
    "test_attention_4d_attn_mask_causal_bf16_expanded": "not yet diagnosed",
    "test_attention_4d_causal_bf16_expanded": "not yet diagnosed",
    "test_attention_4d_causal_padded_kv_bf16_expanded": "not yet diagnosed",
    "test_attention_4d_padded_kv_bf16_expanded": "not yet diagnosed",
}


@pytest.fixture(scope="module")
def numpy_results():
    runner._CASES = runner.load_cases()
    jobs = max(1, min(os.cpu_count() or 1, 4))
    return runner.run_all("numpy", list(range(len(runner._CASES))), jobs=jobs, quiet=True)


def test_every_case_is_decided(numpy_results):
    assert len(numpy_results) > 1800
    crashed = [r for r in numpy_results if r.reason.startswith(("compiler crashed", "runner:"))]
    assert not crashed, "\n".join(f"{r.name}: {r.reason}" for r in crashed[:20])
    assert all(r.reason for r in numpy_results if r.status != "passed")


def test_cnn_transformer_op_set_passes(numpy_results):
    s = runner.summarize(numpy_results)
    assert s["core_rate"] >= 0.90, s


def test_no_unexpected_failures(numpy_results):
    failed = {r.name: r.reason for r in numpy_results if r.status == "failed"}
    unexpected = {n: why for n, why in failed.items() if n not in KNOWN_FAILURES}
    assert not unexpected, "\n".join(f"{n}: {why}" for n, why in sorted(unexpected.items()))
    now_passing = [n for n in KNOWN_FAILURES if n not in failed]
    assert not now_passing, f"known failures now pass or vanished; remove them: {now_passing}"
