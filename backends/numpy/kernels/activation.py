"""NumPy semantics of the ONNX activation ops (opset 28).

All are dtype preserving. float16/bfloat16 inputs are computed in float32 and
rounded back; transcendental parts are written to avoid overflow warnings.
"""

from __future__ import annotations

import math

import numpy as np

from hetc.backends.numpy.kernels import kernel
from hetc.backends.numpy.kernels.elementwise import _ew_erf_pair, _ew_is_lowfloat


def _act_work(x):
    """(working array, output dtype): float16/bfloat16 are lifted to float32."""
    x = np.asarray(x)
    if _ew_is_lowfloat(x.dtype):
        return x.astype(np.float32), x.dtype
    return x, x.dtype


def _act_sigmoid(x):
    """Overflow-free logistic function of a float array."""
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _act_softplus(x):
    """Overflow-free log(1 + exp(x))."""
    with np.errstate(all="ignore"):
        return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def _act_scalar(v, dt):
    return np.asarray(v, dtype=dt)


@kernel
def Relu(X):
    x = np.asarray(X)
    return np.asarray(np.where(x > 0, x, np.zeros((), dtype=x.dtype))).astype(x.dtype, copy=False)


@kernel
def LeakyRelu(X, alpha=0.01):
    x, dt = _act_work(X)
    return np.asarray(np.where(x < 0, x * _act_scalar(alpha, x.dtype), x)).astype(dt)


@kernel
def PRelu(X, slope):
    x, dt = _act_work(X)
    s = np.asarray(slope).astype(x.dtype)
    with np.errstate(all="ignore"):
        return np.asarray(np.where(x < 0, x * s, x)).astype(dt)


@kernel
def Sigmoid(X):
    x, dt = _act_work(X)
    return np.asarray(_act_sigmoid(x)).astype(dt)


@kernel
def HardSigmoid(X, alpha=0.2, beta=0.5):
    x, dt = _act_work(X)
    a = _act_scalar(alpha, x.dtype)
    b = _act_scalar(beta, x.dtype)
    return np.asarray(np.clip(x * a + b, 0, 1)).astype(dt)


@kernel
def HardSwish(X):
    x, dt = _act_work(X)
    a = _act_scalar(1.0 / 6.0, x.dtype)
    b = _act_scalar(0.5, x.dtype)
    with np.errstate(all="ignore"):
        return np.asarray(x * np.clip(x * a + b, 0, 1)).astype(dt)


@kernel
def Tanh(input):
    x, dt = _act_work(input)
    return np.asarray(np.tanh(x)).astype(dt)


@kernel
def Elu(X, alpha=1.0):
    x, dt = _act_work(X)
    with np.errstate(all="ignore"):
        neg = _act_scalar(alpha, x.dtype) * np.expm1(np.minimum(x, 0))
    return np.asarray(np.where(x < 0, neg, x)).astype(dt)


@kernel
def Selu(X, alpha=1.6732632423543772, gamma=1.0507009873554805):
    x, dt = _act_work(X)
    a = _act_scalar(alpha, x.dtype)
    g = _act_scalar(gamma, x.dtype)
    with np.errstate(all="ignore"):
        neg = a * np.expm1(np.minimum(x, 0))
    return np.asarray(g * np.where(x > 0, x, neg)).astype(dt)


@kernel
def Celu(X, alpha=1.0):
    x, dt = _act_work(X)
    a = _act_scalar(alpha, x.dtype)
    with np.errstate(all="ignore"):
        neg = a * np.expm1(np.minimum(x, 0) / a)
    return np.asarray(np.maximum(x, 0) + np.minimum(neg, 0)).astype(dt)


@kernel
def Gelu(X, approximate="none"):
    x, dt = _act_work(X)
    if approximate == "tanh":
        with np.errstate(all="ignore"):
            xd = x.astype(np.float64)
            inner = math.sqrt(2.0 / math.pi) * (xd + 0.044715 * xd * xd * xd)
            y = 0.5 * xd * (1.0 + np.tanh(inner))
        return np.asarray(y).astype(dt)
    xd = x.astype(np.float64)
    # 0.5 * x * (1 + erf(x / sqrt 2)) == 0.5 * x * erfc(-x / sqrt 2), no cancellation
    _, erfc = _ew_erf_pair(-xd / math.sqrt(2.0))
    with np.errstate(all="ignore"):  # -inf gives NaN, as the formula does
        return np.asarray(0.5 * xd * erfc).astype(dt)


@kernel
def Mish(X):
    x, dt = _act_work(X)
    with np.errstate(all="ignore"):
        return np.asarray(x * np.tanh(_act_softplus(x))).astype(dt)


@kernel
def Softplus(X):
    x, dt = _act_work(X)
    return np.asarray(_act_softplus(x)).astype(dt)


@kernel
def Softsign(input):
    x, dt = _act_work(input)
    with np.errstate(all="ignore"):
        return np.asarray(x / (1 + np.abs(x))).astype(dt)


@kernel
def ThresholdedRelu(X, alpha=1.0):
    x, dt = _act_work(X)
    return np.asarray(np.where(x > _act_scalar(alpha, x.dtype), x, 0)).astype(dt)


@kernel
def Shrink(input, bias=0.0, lambd=0.5):
    x = np.asarray(input)
    dt = x.dtype
    if dt.kind in "iu":
        xd = x.astype(np.float64)
        y = np.where(xd < -lambd, xd + bias, np.where(xd > lambd, xd - bias, 0.0))
        return np.asarray(y).astype(dt)
    x, dt = _act_work(x)
    lam = _act_scalar(lambd, x.dtype)
    b = _act_scalar(bias, x.dtype)
    y = np.where(x < -lam, x + b, np.where(x > lam, x - b, np.zeros((), dtype=x.dtype)))
    return np.asarray(y).astype(dt)


@kernel
def Swish(X, alpha=1.0):
    x, dt = _act_work(X)
    with np.errstate(all="ignore"):
        return np.asarray(x * _act_sigmoid(x * _act_scalar(alpha, x.dtype))).astype(dt)
