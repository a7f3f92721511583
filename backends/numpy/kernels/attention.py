"""NumPy semantics of the ONNX transformer ops: Attention (opset 23-25 semantics:
GQA/MQA, bool/float masks, offset-aware is_causal, sliding windows, softcap,
internal KV cache via past/present, external cache via nonpad_kv_seqlen,
qk_matmul_output modes 0-3), RotaryEmbedding, SwiGLU.
"""

from __future__ import annotations

import math

import numpy as np

from hetc.backends.numpy.kernels import kernel


def _attn_acc(dt):
    dt = np.dtype(dt)
    return np.dtype(np.float32) if dt.itemsize < 4 else dt


def _attn_softmax_dtype(softmax_precision, acc):
    table = {1: np.float32, 10: np.float16, 11: np.float64, 16: np.float32}
    if softmax_precision is None:
        return acc
    return np.dtype(table.get(int(softmax_precision), acc))


@kernel
def Attention(Q, K, V, attn_mask=None, past_key=None, past_value=None, nonpad_kv_seqlen=None, *, is_causal=0,
              kv_num_heads=None, left_window_size=-1, q_num_heads=None, qk_matmul_output_mode=0,
              right_window_size=-1, scale=None, softcap=0.0, softmax_precision=None):
    out_dtype = Q.dtype
    acc = _attn_acc(Q.dtype)
    three_d = Q.ndim == 3
    q = Q.astype(acc, copy=False)
    k = K.astype(acc, copy=False)
    v = V.astype(acc, copy=False)
    if three_d:
        b, sq, _ = q.shape
        qh = int(q_num_heads)
        kvh = int(kv_num_heads)
        q = q.reshape(b, sq, qh, -1).transpose(0, 2, 1, 3)
        k = k.reshape(b, k.shape[1], kvh, -1).transpose(0, 2, 1, 3)
        v = v.reshape(b, v.shape[1], kvh, -1).transpose(0, 2, 1, 3)
    b, qh, sq, hs = q.shape
    kvh = k.shape[1]
    past_len = 0
    if past_key is not None:
        past_len = past_key.shape[2]
        k = np.concatenate([past_key.astype(acc, copy=False), k], axis=2)
    if past_value is not None:
        v = np.concatenate([past_value.astype(acc, copy=False), v], axis=2)
    present_key = k.astype(K.dtype, copy=False)
    present_value = v.astype(V.dtype, copy=False)
    total = k.shape[2]
    if qh != kvh:
        rep = qh // kvh
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
    sc = (1.0 / math.sqrt(hs)) if scale is None else float(scale)
    root = acc.type(math.sqrt(sc))
    qk = np.matmul(q * root, np.swapaxes(k * root, -1, -2))  # (b, qh, sq, total)
    qk_raw = qk
    if softcap and softcap > 0:
        cap = acc.type(softcap)
        qk = cap * np.tanh(qk / cap)
    qk_capped = qk
    # Allowed set (bool) and additive float bias.
    allowed = np.ones((b, 1, sq, total), dtype=bool)
    bias = None
    if attn_mask is not None:
        m = np.asarray(attn_mask)
        if m.shape[-1] < total:
            padw = [(0, 0)] * (m.ndim - 1) + [(0, total - m.shape[-1])]
            if m.dtype == np.bool_:
                m = np.pad(m, padw, constant_values=False)
            else:
                m = np.pad(m.astype(acc), padw, constant_values=-np.inf)
        if m.dtype == np.bool_:
            allowed = allowed & m
        else:
            bias = m.astype(acc, copy=False)
    j = np.arange(total)[None, None, None, :]
    i = np.arange(sq)[None, None, :, None]
    if past_key is not None:
        offset = np.full((b, 1, 1, 1), past_len, dtype=np.int64)
    elif nonpad_kv_seqlen is not None:
        offset = (np.asarray(nonpad_kv_seqlen).astype(np.int64) - sq).reshape(b, 1, 1, 1)
    else:
        offset = np.zeros((b, 1, 1, 1), dtype=np.int64)
    pos = i + offset
    if is_causal:
        allowed = allowed & (j <= pos)
    if left_window_size is not None and left_window_size >= 0:
        allowed = allowed & (j >= pos - int(left_window_size))
    if right_window_size is not None and right_window_size >= 0:
        allowed = allowed & (j <= pos + int(right_window_size))
    if nonpad_kv_seqlen is not None:
        allowed = allowed & (j < np.asarray(nonpad_kv_seqlen).astype(np.int64).reshape(b, 1, 1, 1))
    neg = np.where(allowed, acc.type(0), acc.type(-np.inf))
    full_bias = neg if bias is None else neg + bias
    scores = qk + full_bias
    qk_biased = scores
    sdt = _attn_softmax_dtype(softmax_precision, acc)
    s = scores.astype(sdt)
    mx = np.max(s, axis=-1, keepdims=True)
    dead = ~np.isfinite(mx)  # every key disallowed (or -inf): zero row
    mx = np.where(dead, 0, mx)
    e = np.exp(s - mx)
    e = np.where(dead, 0, e)
    den = np.sum(e, axis=-1, keepdims=True)
    p = e / np.where(den == 0, 1, den)
    p = p.astype(acc)
    y = np.matmul(p, v)  # (b, qh, sq, vhs)
    if three_d:
        y = y.transpose(0, 2, 1, 3).reshape(b, sq, -1)
    mode = int(qk_matmul_output_mode)
    if mode == 1:
        qko = qk_capped
    elif mode == 2:
        qko = qk_biased
    elif mode == 3:
        qko = p
    else:
        qko = qk_raw
    qko = np.broadcast_to(qko, (b, qh, sq, total))
    return (y.astype(out_dtype, copy=False), present_key, present_value,
            np.ascontiguousarray(qko).astype(out_dtype, copy=False))


@kernel
def RotaryEmbedding(X, cos_cache, sin_cache, position_ids=None, *, interleaved=0, num_heads=0,
                    rotary_embedding_dim=0):
    acc = _attn_acc(X.dtype)
    x = X.astype(acc, copy=False)
    shape = x.shape
    if x.ndim == 4:
        x = x.transpose(0, 2, 1, 3)  # (b, s, h, d)
    else:
        b, s, hid = x.shape
        x = x.reshape(b, s, int(num_heads), hid // int(num_heads))
    d = x.shape[3]
    rd = int(rotary_embedding_dim) if rotary_embedding_dim else d
    cos = cos_cache.astype(acc, copy=False)
    sin = sin_cache.astype(acc, copy=False)
    if position_ids is not None:
        pid = np.asarray(position_ids).astype(np.int64)
        cos = cos[pid]
        sin = sin[pid]
    cos = cos[:, :, None, :]
    sin = sin[:, :, None, :]
    xr = x[..., :rd]
    if interleaved:
        x1 = xr[..., 0::2]
        x2 = xr[..., 1::2]
    else:
        x1 = xr[..., :rd // 2]
        x2 = xr[..., rd // 2:]
    re = cos * x1 - sin * x2
    im = sin * x1 + cos * x2
    if interleaved:
        rot = np.stack([re, im], axis=-1).reshape(xr.shape)
    else:
        rot = np.concatenate([re, im], axis=-1)
    out = np.concatenate([rot, x[..., rd:]], axis=-1)
    if len(shape) == 4:
        out = out.transpose(0, 2, 1, 3)
    else:
        out = out.reshape(shape)
    return np.ascontiguousarray(out).astype(X.dtype, copy=False)


@kernel
def SwiGLU(A, B, *, alpha=1.0):
    acc = _attn_acc(A.dtype)
    a = A.astype(acc, copy=False)
    y = a / (acc.type(1) + np.exp(-acc.type(alpha) * a)) * B.astype(acc, copy=False)
    return y.astype(A.dtype, copy=False)
