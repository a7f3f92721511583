"""bfloat16 / float8 tensors: kernels compute in float32 and round once."""

import ml_dtypes
import numpy as np
import pytest

from hetc.backends.numpy.kernels import KERNELS

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_matmul_bf16_matches_float32_rounded(rng):
    a = rng.standard_normal((2, 4, 8)).astype(BF16)
    b = rng.standard_normal((2, 8, 5)).astype(BF16)
    got = KERNELS["MatMul"](a, b)
    want = np.matmul(a.astype(np.float32), b.astype(np.float32)).astype(BF16)
    assert got.dtype == BF16
    np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))


def test_conv_and_maxpool_bf16(rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(BF16)
    w = rng.standard_normal((3, 2, 3, 3)).astype(BF16)
    got = KERNELS["Conv"](x, w, kernel_shape=[3, 3])
    want = KERNELS["Conv"](x.astype(np.float32), w.astype(np.float32), kernel_shape=[3, 3]).astype(BF16)
    assert got.dtype == BF16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2**-7)
    pooled = KERNELS["MaxPool"](x, kernel_shape=[2, 2], strides=[2, 2])[0]
    np.testing.assert_array_equal(
        pooled.astype(np.float32), x.astype(np.float32).reshape(1, 2, 3, 2, 3, 2).max(axis=(3, 5))
    )
