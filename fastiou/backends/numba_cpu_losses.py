"""Numba CPU kernels of the loss library (:mod:`fastiou.losses`).

Each kernel computes a loss and, in the same pass, its gradient with respect to
the first argument, already scaled by the reduction (``scale`` is ``1 / n`` for
a mean).  Outputs that are not wanted are passed as empty arrays: an empty
``loss`` makes the kernel return the sum instead of storing every value, an empty
``grad`` skips the gradient.  The kernels contain no validation.

No Python float literal appears in arithmetic (it would promote float32 to
float64): constants arrive in the array ``k`` built by :func:`constants` in the
caller's dtype, zero is written ``x - x``.

Speed: the hot loops are written so that LLVM vectorises them: no reduction and
no loop-invariant branch inside (sums are taken afterwards by small helpers
compiled with ``fastmath={'reassoc'}``, which only lets the additions be
reordered and keeps NaN/inf semantics), and no libm call: for float32,
``exp_nonpositive`` and ``log1p_unit`` are polynomials (Cephes' ``expf``, the
``atanh`` series of ``log1p``), within 3 ulp; float64 calls libm.
"""

from __future__ import annotations

import math
from typing import Any, Callable
from types import FunctionType

import numpy as np
from llvmlite import ir
from numba import prange, types, uint64
from numba.extending import intrinsic, overload

from .._config import njit, serial_and_parallel
from .numba_cpu import F, claim, new_counter, workers

# The shared scalar formulas (Numba resolves module-level functions, not namespace attributes).
guarded_div = F.guarded_div
enclosing_sides = F.enclosing_sides

# Pointwise loss codes: regression (input, target).
MSE, L1, HUBER, SMOOTH_L1, LOG_COSH, QUANTILE = range(6)
# Binary classification: margin losses on labels in {-1, +1}, then probabilities/logits.
LOGISTIC, EXPONENTIAL, HINGE, BCE, BCE_LOGITS, SIGMOID_FOCAL = range(6, 12)
_SIGMOID_FOCAL_GAMMA2 = 12  # internal: gamma = 2 squares instead of calling pow
# Softmax losses over a class axis.
CE, FOCAL = 0, 1
# Box losses.
IOU_LOSS, GIOU_LOSS, DIOU_LOSS, CIOU_LOSS = range(4)

# Indices into the constants array.
K_HALF, K_ONE, K_TWO, K_LN2, K_LOG_FLOOR, K_BCE_EPS, K_FOUR_OVER_PI2 = range(7)

#: Elements per chunk of a pointwise kernel (and rows per chunk of the softmax
#: kernel): the unit of parallel work, with its own partial sum.
CHUNK = 4096
ROWS = 64
#: Spatial positions per block of the (N, C, S) softmax kernel.
BLOCK = 256
#: Elements per claim of a parallel loop (see numba_cpu.claim), in whole chunks,
#: rows or blocks.
CLAIM = 16384


def constants(dtype) -> np.ndarray:
    """The kernels' constants in ``dtype``: 1/2, 1, 2, log 2, the BCE log floor and epsilon, 4/pi^2."""
    # PyTorch's BCE epsilon is the float32 value of 1e-12, in every dtype.
    bce_eps = float(np.float32(1e-12))
    return np.array([0.5, 1.0, 2.0, math.log(2.0), -100.0, bce_eps, 4.0 / math.pi**2], dtype=dtype)


# --- vectorisable exp and log1p ------------------------------------------------------------

_F32 = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F32(1.4426950408889634), _F32(0.693359375), _F32(-2.12194440e-4)
_E0, _E1, _E2 = _F32(1.9875691500e-4), _F32(1.3981999507e-3), _F32(8.3334519073e-3)
_E3, _E4, _E5 = _F32(4.1665795894e-2), _F32(1.6666665459e-1), _F32(5.0000001201e-1)
_EXP_MIN = _F32(-104.0)  # exp(-104) is below the smallest float32 denormal
_HALF32, _ONE32, _TWO32 = _F32(0.5), _F32(1.0), _F32(2.0)
_L3, _L5, _L7, _L9, _L11, _L13 = (_F32(1 / n) for n in (3, 5, 7, 9, 11, 13))


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret an int32 as a float32 (an LLVM bitcast): ``2^k`` without a libm call."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (float32: a vectorisable polynomial; float64: libm)."""
    return math.exp(x)


def log1p_unit(e):
    """``log1p(e)`` for ``0 <= e <= 1`` (float32: a vectorisable series; float64: libm)."""
    return math.log1p(e)


def _exp_nonpositive_f32(x):
    # Cephes expf: x = k ln2 + r with |r| <= ln2 / 2 (ln2 in two parts), exp(r) by a
    # degree-7 polynomial, 2^k from the exponent bits (0 below 2^-126: denormals flush to 0).
    xc = max(x, _EXP_MIN)
    k = np.floor(xc * _LOG2E + _HALF32)  # float32 (math.floor would return an int64)
    r = xc - k * _LN2_HI - k * _LN2_LO
    p = (((((_E0 * r + _E1) * r + _E2) * r + _E3) * r + _E4) * r + _E5) * (r * r) + r + _ONE32
    return p * _float32_from_bits(max(np.int32(k) + np.int32(127), np.int32(0)) << np.int32(23))


def _log1p_unit_f32(e):
    # log1p(e) = 2 atanh(s) with s = e / (2 + e) in [0, 1/3]: 7 terms of the odd series.
    s = e / (_TWO32 + e)
    s2 = s * s
    return _TWO32 * s * (_ONE32 + s2 * (_L3 + s2 * (_L5 + s2 * (_L7 + s2 * (_L9 + s2 * (_L11 + s2 * _L13))))))


@overload(exp_nonpositive, inline="always")
def _overload_exp_nonpositive(x):
    if x == types.float32:
        return _exp_nonpositive_f32
    return lambda x: math.exp(x)


@overload(log1p_unit, inline="always")
def _overload_log1p_unit(e):
    if e == types.float32:
        return _log1p_unit_f32
    return lambda e: math.log1p(e)


@njit(fastmath={"reassoc"})
def _sum(a):
    """Sum of a 1-D array in its dtype (reordered additions: vectorised)."""
    s = a[0] - a[0]
    for i in range(a.shape[0]):
        s += a[i]
    return s


@njit
def _row_max(a):
    """The largest value of a 1-D array: four running maxima, so that the compares do not
    wait on one another (one chain took a third of a row's softmax).  A NaN may or may not
    end up the maximum (as with ``max()``); either way a row with a NaN gets a NaN loss and
    gradient, as every ``exp(x - max)`` of the row then sums to NaN.
    """
    n = a.shape[0]
    m0 = a[0]
    m1 = m2 = m3 = m0
    c = 0
    while c + 4 <= n:
        v0, v1, v2, v3 = a[c], a[c + 1], a[c + 2], a[c + 3]
        m0 = v0 if v0 > m0 else m0
        m1 = v1 if v1 > m1 else m1
        m2 = v2 if v2 > m2 else m2
        m3 = v3 if v3 > m3 else m3
        c += 4
    for i in range(c, n):
        m0 = a[i] if a[i] > m0 else m0
    m0 = m1 if m1 > m0 else m0
    m2 = m3 if m3 > m2 else m2
    return m2 if m2 > m0 else m0


@njit(fastmath={"reassoc"})
def _sum64(a):
    """Sum of a 1-D array in float64 (reordered additions: vectorised)."""
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i]
    return s


@njit(fastmath={"reassoc"})
def _dot(a, b):
    s = a[0] - a[0]
    for i in range(a.shape[0]):
        s += a[i] * b[i]
    return s


# --- pointwise losses ----------------------------------------------------------------------
# One small scalar function per loss: ``(x, t, pw, p0, p1, k) -> (loss, d loss / d x)``.
# Regression: ``x`` input, ``t`` target, p0 delta, beta or quantile.  Margin losses:
# ``t`` in {-1, +1}, p0 the hinge margin.  BCE: ``x`` a probability.  BCE with logits:
# ``pw`` the positive weight, used where p0 > 0.  Focal: p0 alpha (< 0: none), p1 gamma.
# ``pw`` is read by every kernel (callers pass any array of the right length where
# it is unused), so that the loops carry no branch on it.


@njit(inline="always")
def _sign(d, one):
    return one if d > 0 else (-one if d < 0 else d - d)


@njit(inline="always")
def _sigmoids_softpluses(x, one):
    """sigmoid(x), sigmoid(-x), softplus(x), softplus(-x) with one exp and one log1p."""
    e = exp_nonpositive(-abs(x))
    d = one + e
    tail = log1p_unit(e)
    zero = x - x
    if x >= 0:
        return one / d, e / d, x + tail, tail
    return e / d, one / d, tail, tail - x + zero


@njit(inline="always")
def _mse(x, t, pw, p0, p1, k):
    d = x - t
    return d * d, d + d


@njit(inline="always")
def _l1(x, t, pw, p0, p1, k):
    d = x - t
    return abs(d), _sign(d, k[K_ONE])


@njit(inline="always")
def _huber(x, t, pw, p0, p1, k):
    d = x - t
    ad = abs(d)
    if ad < p0:
        return k[K_HALF] * d * d, d
    return p0 * (ad - k[K_HALF] * p0), p0 * _sign(d, k[K_ONE])


@njit(inline="always")
def _smooth_l1(x, t, pw, p0, p1, k):
    d = x - t
    ad = abs(d)
    if ad < p0:
        return k[K_HALF] * d * d / p0, d / p0
    return ad - k[K_HALF] * p0, _sign(d, k[K_ONE])


@njit(inline="always")
def _log_cosh(x, t, pw, p0, p1, k):
    d = x - t
    ad = abs(d)
    return ad + log1p_unit(exp_nonpositive(-(ad + ad))) - k[K_LN2], math.tanh(d)


@njit(inline="always")
def _quantile(x, t, pw, p0, p1, k):
    r = t - x
    zero = r - r
    if r > 0:
        return p0 * r, -p0
    if r < 0:
        return (p0 - k[K_ONE]) * r, k[K_ONE] - p0
    return zero, zero


@njit(inline="always")
def _logistic(x, t, pw, p0, p1, k):
    s_pos, s_neg, sp_pos, sp_neg = _sigmoids_softpluses(t * x, k[K_ONE])
    return sp_neg, -t * s_neg


@njit(inline="always")
def _exponential(x, t, pw, p0, p1, k):
    e = math.exp(-(t * x))
    return e, -t * e


@njit(inline="always")
def _hinge(x, t, pw, p0, p1, k):
    m = p0 - t * x
    zero = m - m
    if m > 0:
        return m, -t
    return zero, zero


@njit(inline="always")
def _bce(x, t, pw, p0, p1, k):
    # PyTorch's clamps: log >= -100, and p (1 - p) >= 1e-12 in the gradient.
    one = k[K_ONE]
    log_p = max(math.log(x), k[K_LOG_FLOOR])
    log_q = max(math.log(one - x), k[K_LOG_FLOOR])
    return -(t * log_p + (one - t) * log_q), (x - t) / max((one - x) * x, k[K_BCE_EPS])


@njit(inline="always")
def _bce_logits(x, t, pw, p0, p1, k):
    one = k[K_ONE]
    s_pos, s_neg, sp_pos, sp_neg = _sigmoids_softpluses(x, one)
    pwt = (pw if p0 > 0 else one) * t
    return pwt * sp_neg + (one - t) * sp_pos, (one - t) * s_pos - pwt * s_neg


@njit(inline="always")
def _focal(x, t, p0, p1, k, square):
    # a_t * ce * q^gamma with q = 1 - p_t = t sigmoid(-x) + (1 - t) sigmoid(x)
    one = k[K_ONE]
    s_pos, s_neg, sp_pos, sp_neg = _sigmoids_softpluses(x, one)
    ce = t * sp_neg + (one - t) * sp_pos
    q = t * s_neg + (one - t) * s_pos
    mod = q * q if square else q**p1
    # d q / dx = sigmoid(x) sigmoid(-x) (1 - 2t);  q^(gamma - 1) = mod / q.  A select, not a
    # branch, so that the serial loop vectorises too (it ran 9x slower than the parallel one).
    base = (s_pos - t) * mod
    dq = p1 * ce * (mod / q) * (s_pos * s_neg) * (one - k[K_TWO] * t)
    g = base + dq if (q > 0) & (p1 != 0) else base
    v = ce * mod
    if p0 >= 0:
        a_t = p0 * t + (one - p0) * (one - t)
        return a_t * v, a_t * g
    return v, g


@njit(inline="always")
def _sigmoid_focal(x, t, pw, p0, p1, k):
    return _focal(x, t, p0, p1, k, False)


@njit(inline="always")
def _sigmoid_focal_gamma2(x, t, pw, p0, p1, k):
    return _focal(x, t, p0, p1, k, True)  # gamma = 2: a square, not a pow call


#: The scalar loss of each copy of :func:`_pointwise`: a global of that copy (see
#: _pointwise_kernels), declared here for type checkers only (no value at module level).
point: Callable[..., tuple[Any, Any]]


def _pointwise(x, t, w, pw, p0, p1, k, loss, grad, scale, counter):
    # ``point``: a global of each loss's own copy of this function (see _pointwise_kernels)
    nchunks = (x.shape[0] + CHUNK - 1) // CHUNK
    partial = np.empty(nchunks)  # every chunk writes its own (np.zeros: one more parallel region)
    step = CLAIM // CHUNK  # chunks per claim
    for _ in prange(workers(nchunks, step)):
        first = claim(counter, step)
        while first < nchunks:
            for c in range(first, min(first + step, nchunks)):
                # unsigned bounds: a signed index of unknown sign makes the loops gather
                lo = uint64(c * CHUNK)
                hi = uint64(min(c * CHUNK + CHUNK, x.shape[0]))
                out = loss[lo:hi] if loss.shape[0] > 0 else np.empty(hi - lo, dtype=x.dtype)
                gout = grad[lo:hi] if grad.shape[0] > 0 else np.empty(hi - lo, dtype=x.dtype)
                for i in range(lo, hi):
                    v, g = point(x[i], t[i], pw[i], p0, p1, k)
                    out[i - lo] = v
                    gout[i - lo] = g * scale
                if w.shape[0] > 0:
                    for i in range(lo, hi):
                        out[i - lo] *= w[i]
                        gout[i - lo] *= w[i]
                partial[c] = _sum64(out)
            first = claim(counter, step)
    # In order, not partial.sum(): that becomes a parallel reduction, its
    # rounding set by the thread count.
    total = 0.0
    for c in range(nchunks):
        total += partial[c]
    return total


def _pointwise_kernels(point):
    """Serial and parallel kernels applying the scalar loss ``point`` to flat arrays.

    A kernel per loss keeps each compilation small.  Chunks of ``CHUNK`` elements
    are the parallel work; each loop has no branch on what is wanted: values and
    gradients go to scratch buffers when the caller does not keep them.

    Each is a copy of :func:`_pointwise` whose globals (this module's, as they stand
    here, plus ``point``) name the loss: a closure over it would miss Numba's on-disk
    cache in every new process (the cache key pickles a closure's cells, and a
    dispatcher pickles with a per-process id).
    """
    kernel = FunctionType(_pointwise.__code__, dict(globals(), point=point), "_pointwise" + point.py_func.__name__)
    # a distinct name per loss: Numba's cache files are named after it
    kernel.__qualname__ = kernel.__name__
    return serial_and_parallel(kernel)


_POINTWISE = {
    code: _pointwise_kernels(point)
    for code, point in (
        (MSE, _mse), (L1, _l1), (HUBER, _huber), (SMOOTH_L1, _smooth_l1), (LOG_COSH, _log_cosh),
        (QUANTILE, _quantile), (LOGISTIC, _logistic), (EXPONENTIAL, _exponential), (HINGE, _hinge),
        (BCE, _bce), (BCE_LOGITS, _bce_logits), (SIGMOID_FOCAL, _sigmoid_focal),
        (_SIGMOID_FOCAL_GAMMA2, _sigmoid_focal_gamma2),
    )
}


# --- softmax losses ------------------------------------------------------------------------


@njit(inline="always")
def _sample(mode, lse, xy, wx, wy, wsum, smoothing, e_over_c, gamma, one, two):
    """Loss of one softmax sample, and its gradient as ``B p_c - D [c = y] - E w_c``.

    ``lse`` is the log-sum-exp of the logits, ``xy`` the target's logit, ``wx`` the
    class-weighted sum of the logits (label smoothing only), ``wy`` the target's
    class weight (CE) or alpha (focal), ``wsum`` the sum of the class weights.
    Returns ``(loss, B, D, E)``.
    """
    zero = lse - lse
    logp_y = xy - lse
    if mode == CE:
        # (1 - eps) w_y (-log p_y) + eps / C * sum_c w_c (-log p_c)   (PyTorch)
        d = (one - smoothing) * wy
        if smoothing > 0:
            return d * (lse - xy) + e_over_c * (wsum * lse - wx), d + e_over_c * wsum, d, e_over_c
        return d * (lse - xy), d, d, zero
    # FOCAL: -a (1 - p_y)^gamma log p_y; its gradient is K (p - onehot(y)) with
    # K = a ((1 - p)^gamma - gamma (1 - p)^(gamma - 1) p log p).
    q = -math.expm1(logp_y)
    if gamma == two:
        mod = q * q
    elif gamma == zero:
        mod = one
    else:
        mod = q**gamma
    kk = mod
    if q > 0 and gamma != zero:
        kk -= gamma * (mod / q) * math.exp(logp_y) * logp_y
    kk *= wy
    return wy * mod * (lse - xy), kk, kk, zero


def _softmax_rows(mode, x, target, weight, has_weight, wsum, ignore_index, smoothing, e_over_c,
                  gamma, k, loss, grad, scale, counter):
    """Softmax loss of each row of ``x`` (M, C), target class per row; ``loss`` (M,)."""
    one, two = k[K_ONE], k[K_TWO]
    want_grad = grad.shape[0] > 0
    m_rows, n_classes = x.shape
    n_chunks = (m_rows + ROWS - 1) // ROWS
    step = max(1, CLAIM // (ROWS * max(1, n_classes)))  # chunks of ROWS rows per claim
    for _ in prange(workers(n_chunks, step)):
        first = claim(counter, step)
        while first < n_chunks:
            for chunk in range(first, min(first + step, n_chunks)):
                scratch = np.empty(n_classes, dtype=x.dtype)
                for i in range(chunk * ROWS, min(chunk * ROWS + ROWS, m_rows)):
                    y = target[i]
                    row = x[i]
                    e = grad[i] if want_grad else scratch
                    zero = row[0] - row[0]
                    if y == ignore_index:
                        loss[i] = zero
                        e[:] = zero
                        continue
                    m = _row_max(row)
                    for c in range(n_classes):
                        e[c] = exp_nonpositive(row[c] - m)
                    se = _sum(e)
                    lse = m + math.log(se)
                    wx = zero
                    if smoothing > 0:
                        wx = _dot(weight, row) if has_weight else _sum(row)
                    wy = weight[y] if has_weight else one
                    v, b, d, e_coef = _sample(mode, lse, row[y], wx, wy, wsum, smoothing, e_over_c, gamma,
                                              one, two)
                    loss[i] = v
                    if want_grad:
                        ratio = b * scale / se
                        for c in range(n_classes):
                            e[c] *= ratio
                        if e_coef > 0:
                            es = e_coef * scale
                            if has_weight:
                                for c in range(n_classes):
                                    e[c] -= es * weight[c]
                            else:
                                for c in range(n_classes):
                                    e[c] -= es
                        e[y] -= d * scale
            first = claim(counter, step)


def _softmax_spatial(mode, x, target, weight, has_weight, wsum, ignore_index, smoothing, e_over_c,
                     gamma, k, loss, grad, scale, counter):
    """Softmax loss over the class axis of ``x`` (N, C, S); ``target`` and ``loss`` (N, S).

    Works on blocks of spatial positions, every inner loop running along the
    contiguous axis S (the class axis is strided): per-position coefficients are
    gathered in small block arrays first.
    """
    one, two = k[K_ONE], k[K_TWO]
    want_grad = grad.shape[0] > 0
    n_batch, n_classes, n_space = x.shape
    nblocks = (n_space + BLOCK - 1) // BLOCK
    n_jobs = n_batch * nblocks
    step = max(1, CLAIM // (BLOCK * max(1, n_classes)))  # jobs per claim
    for _ in prange(workers(n_jobs, step)):
        first = claim(counter, step)
        while first < n_jobs:
            for job in range(first, min(first + step, n_jobs)):
                n = job // nblocks
                s0 = (job % nblocks) * BLOCK
                s1 = min(s0 + BLOCK, n_space)
                xn = x[n]
                zero = xn[0, 0] - xn[0, 0]
                mx = xn[0, s0:s1].copy()
                for c in range(1, n_classes):
                    xc = xn[c, s0:s1]
                    for s in range(s1 - s0):
                        mx[s] = max(mx[s], xc[s])
                se = np.zeros_like(mx)
                for c in range(n_classes):
                    xc = xn[c, s0:s1]
                    for s in range(s1 - s0):
                        se[s] += exp_nonpositive(xc[s] - mx[s])
                wx = np.zeros_like(mx)
                if smoothing > 0:
                    for c in range(n_classes):
                        wc = weight[c] if has_weight else one
                        xc = xn[c, s0:s1]
                        for s in range(s1 - s0):
                            wx[s] += wc * xc[s]
                lse = np.empty_like(mx)
                bs = np.empty_like(mx)
                es = np.empty_like(mx)
                ds = np.empty_like(mx)
                for s in range(s1 - s0):
                    y = target[n, s0 + s]
                    if y == ignore_index:
                        loss[n, s0 + s] = zero
                        lse[s] = zero
                        bs[s] = zero
                        es[s] = zero
                        ds[s] = zero
                        continue
                    lse[s] = mx[s] + math.log(se[s])
                    wy = weight[y] if has_weight else one
                    v, b, d, e_coef = _sample(mode, lse[s], xn[y, s0 + s], wx[s], wy, wsum, smoothing,
                                              e_over_c, gamma, one, two)
                    loss[n, s0 + s] = v
                    bs[s] = b * scale
                    es[s] = e_coef * scale
                    ds[s] = d * scale
                if want_grad:
                    gn = grad[n]
                    for c in range(n_classes):
                        wc = weight[c] if has_weight else one
                        xc = xn[c, s0:s1]
                        gc = gn[c, s0:s1]
                        for s in range(s1 - s0):
                            # ignored positions have bs = es = 0 and lse = 0: exp(x) * 0 = 0 for finite x
                            gc[s] = bs[s] * exp_nonpositive(min(xc[s] - lse[s], zero)) - es[s] * wc
                    for s in range(s1 - s0):
                        y = target[n, s0 + s]
                        if y != ignore_index:
                            gn[y, s0 + s] -= ds[s]
            first = claim(counter, step)


def _hinge_rows(s, margin, max_violation, k, loss, g, counter):
    """Hinge of every row of the similarity matrix ``s`` (N, M >= N) against its diagonal.

    ``loss[i] = sum_j [margin + s[i, j] - s[i, i]]_+`` over ``j != i``, or the
    largest of these terms with ``max_violation``; ``g`` receives d loss.sum() / d s.
    """
    one = k[K_ONE]
    want_grad = g.shape[0] > 0
    n_rows = s.shape[0]
    step = max(1, CLAIM // max(1, s.shape[1]))  # rows per claim
    for _ in prange(workers(n_rows, step)):
        first = claim(counter, step)
        while first < n_rows:
            for i in range(first, min(first + step, n_rows)):
                row = s[i]
                base = margin - row[i]
                zero = base - base
                total = zero
                count = zero
                best = zero
                best_j = -1
                if want_grad:
                    g[i, :] = zero
                for j in range(row.shape[0]):
                    v = base + row[j]
                    if j == i or not v > 0:
                        continue
                    if max_violation:
                        if v > best:
                            best = v
                            best_j = j
                    else:
                        total += v
                        count += one
                        if want_grad:
                            g[i, j] = one
                if max_violation:
                    loss[i] = best
                    if want_grad and best_j >= 0:
                        g[i, best_j] = one
                        g[i, i] = -one
                else:
                    loss[i] = total
                    if want_grad:
                        g[i, i] = -count
            first = claim(counter, step)


@njit(inline="always")
def _dmin(a, b, half):
    """d min(a, b) / da with PyTorch's tie rule (half the gradient to each side)."""
    return half + half if a < b else (half if a == b else half - half)


@njit(inline="always")
def box_loss(code, ax1, ay1, ax2, ay2, aarea, acx2, acy2, aangle,
             bx1, by1, bx2, by2, barea, bcx2, bcy2, bangle, eps, eps_area, k):
    """torchvision's IoU-family loss of box a against box b, and its gradient w.r.t. a.

    ``eps`` is added to each denominator as torchvision does: ``eps_area`` to the
    area-like ones (union, enclosing area, squared diagonal) and ``eps`` to CIoU's
    dimensionless ``alpha`` (they differ only when fastiou._extreme rescales the
    boxes); a denominator that is still 0 (``eps = 0``) gives 0 for its term, as
    :func:`fastiou.box_iou` does.
    Returns ``(loss, d/dx1, d/dy1, d/dx2, d/dy2)``.
    """
    half, one, two = k[K_HALF], k[K_ONE], k[K_TWO]
    zero = ax1 - ax1
    # intersection (torchvision: zero unless both sides are positive)
    iw = min(ax2, bx2) - max(ax1, bx1)
    ih = min(ay2, by2) - max(ay1, by1)
    inter = zero
    di_x1 = di_y1 = di_x2 = di_y2 = zero
    if iw > 0 and ih > 0:
        inter = iw * ih
        di_x1 = -ih * _dmin(-ax1, -bx1, half)
        di_x2 = ih * _dmin(ax2, bx2, half)
        di_y1 = -iw * _dmin(-ay1, -by1, half)
        di_y2 = iw * _dmin(ay2, by2, half)
    w = ax2 - ax1
    h = ay2 - ay1
    union = (aarea + barea) - inter
    du_x1, du_y1, du_x2, du_y2 = -h - di_x1, -w - di_y1, h - di_x2, w - di_y2
    den = union + eps_area
    iou = guarded_div(inter, den)
    # d iou = (d inter - iou d union) / den
    r = guarded_div(one, den)
    g_x1 = -(di_x1 - iou * du_x1) * r
    g_y1 = -(di_y1 - iou * du_y1) * r
    g_x2 = -(di_x2 - iou * du_x2) * r
    g_y2 = -(di_y2 - iou * du_y2) * r
    loss = one - iou
    if code == IOU_LOSS:
        return loss, g_x1, g_y1, g_x2, g_y2
    cw, ch = enclosing_sides(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
    dcw_x1 = -_dmin(ax1, bx1, half)
    dcw_x2 = _dmin(-ax2, -bx2, half)
    dch_y1 = -_dmin(ay1, by1, half)
    dch_y2 = _dmin(-ay2, -by2, half)
    if code == GIOU_LOSS:
        # + (C - U) / (C + eps)
        c = cw * ch
        cden = c + eps_area
        term = guarded_div(c - union, cden)
        rc = guarded_div(one, cden)
        dc_x1, dc_x2 = ch * dcw_x1, ch * dcw_x2
        dc_y1, dc_y2 = cw * dch_y1, cw * dch_y2
        g_x1 += ((dc_x1 - du_x1) - term * dc_x1) * rc
        g_y1 += ((dc_y1 - du_y1) - term * dc_y1) * rc
        g_x2 += ((dc_x2 - du_x2) - term * dc_x2) * rc
        g_y2 += ((dc_y2 - du_y2) - term * dc_y2) * rc
        return loss + term, g_x1, g_y1, g_x2, g_y2
    # + rho^2 / (c^2 + eps), centres from the doubled centres of the columns
    dx = (acx2 - bcx2) * half
    dy = (acy2 - bcy2) * half
    rho2 = dx * dx + dy * dy
    cden = cw * cw + ch * ch + eps_area
    term = guarded_div(rho2, cden)
    rc = guarded_div(one, cden)
    # d rho2 / d x1 = d rho2 / d x2 = dx;  d c2 / d x1 = 2 cw dcw/dx1
    g_x1 += (dx - term * (two * cw * dcw_x1)) * rc
    g_x2 += (dx - term * (two * cw * dcw_x2)) * rc
    g_y1 += (dy - term * (two * ch * dch_y1)) * rc
    g_y2 += (dy - term * (two * ch * dch_y2)) * rc
    loss += term
    if code == DIOU_LOSS:
        return loss, g_x1, g_y1, g_x2, g_y2
    # + alpha v, alpha = v / (1 - iou + v + eps) held constant (torchvision, the CIoU paper)
    da = bangle - aangle
    v = k[K_FOUR_OVER_PI2] * (da * da)
    alpha = guarded_div(v, (one - iou) + v + eps)
    # d v / d angle_a = -2 (4/pi^2) da;  d atan2(w, h) = (h dw - w dh) / (w^2 + h^2)
    dv = -two * k[K_FOUR_OVER_PI2] * da * alpha
    rr = guarded_div(one, w * w + h * h)
    g_x1 += dv * (-h * rr)
    g_x2 += dv * (h * rr)
    g_y1 += dv * (w * rr)
    g_y2 += dv * (-w * rr)
    return loss + alpha * v, g_x1, g_y1, g_x2, g_y2


def _box_losses(code, c1, c2, eps, eps_area, k, loss, grad, scale, counter):
    want_grad = grad.shape[0] > 0
    n_pairs = c1.shape[1]
    for _ in prange(workers(n_pairs, CHUNK)):  # unsigned i: see numba_cpu._aligned
        first = claim(counter, CHUNK)
        while first < n_pairs:
            for i in range(uint64(first), uint64(min(first + CHUNK, n_pairs))):
                v, g1, g2, g3, g4 = box_loss(code, c1[0, i], c1[1, i], c1[2, i], c1[3, i],
                                             c1[4, i], c1[5, i], c1[6, i], c1[7, i],
                                             c2[0, i], c2[1, i], c2[2, i], c2[3, i],
                                             c2[4, i], c2[5, i], c2[6, i], c2[7, i], eps, eps_area, k)
                loss[i] = v
                if want_grad:
                    grad[i, 0] = g1 * scale
                    grad[i, 1] = g2 * scale
                    grad[i, 2] = g3 * scale
                    grad[i, 3] = g4 * scale
            first = claim(counter, CHUNK)


_softmax_rows_kernels = serial_and_parallel(_softmax_rows)
_softmax_spatial_kernels = serial_and_parallel(_softmax_spatial)
_hinge_rows_kernels = serial_and_parallel(_hinge_rows)
_box_losses_kernels = serial_and_parallel(_box_losses)


def pointwise_loss(code, x, t, w, pw, p0, p1, k, loss, grad, scale, parallel):
    """Pointwise loss ``code`` over flat arrays; returns the loss sum (float64)."""
    if code == SIGMOID_FOCAL and p1 == 2:
        code = _SIGMOID_FOCAL_GAMMA2
    return _POINTWISE[code][parallel](x, t, w, pw, p0, p1, k, loss, grad, scale, new_counter())


def softmax_loss(mode, x, target, weight, has_weight, wsum, ignore_index, smoothing, e_over_c, gamma,
                 k, loss, grad, scale, parallel):
    """Softmax loss ``mode`` of ``x`` (M, C) or (N, C, S) with class-index targets."""
    kernels = _softmax_rows_kernels if x.ndim == 2 else _softmax_spatial_kernels
    kernels[parallel](mode, x, target, weight, has_weight, wsum, ignore_index, smoothing, e_over_c,
                      gamma, k, loss, grad, scale, new_counter())


def hinge_rows(s, margin, max_violation, k, loss, grad, parallel):
    """VSE hinge of each row of ``s`` against its diagonal; ``grad`` (N, M) or empty."""
    _hinge_rows_kernels[parallel](s, margin, max_violation, k, loss, grad, new_counter())


def box_losses(code, c1, c2, eps, eps_area, k, loss, grad, scale, parallel):
    """IoU-family loss ``code`` of aligned box columns; ``grad`` (N, 4) or empty."""
    _box_losses_kernels[parallel](code, c1, c2, eps, eps_area, k, loss, grad, scale, new_counter())
