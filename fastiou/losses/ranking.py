"""Retrieval (metric-learning) losses: triplet margin, VSE hinge (sum / max), InfoNCE.

Embeddings are rows: ``(N, D)`` arrays, row ``i`` of the query/image side paired
with row ``i`` of the key/caption side.  Similarity matrices put the positive
pairs on the diagonal.  Every loss takes ``reduction`` and ``return_grad`` (see
:mod:`fastiou.losses`); the gradient is with respect to the first argument.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _validate
from ..backends import numba_cpu_losses as K
from . import _common
from ._common import LossResult, LossValue

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

_NORM_EPS = 1e-12  # torch.nn.functional.normalize's default


def _embeddings(x: Any, name: str, ndims: tuple[int, ...] = (2,)) -> NDArray[Any]:
    arr = _validate.as_array(x, name)
    if arr.ndim not in ndims:
        want = " or ".join({1: "(D,)", 2: "(N, D)", 3: "(N, M, D)"}[d] for d in ndims)
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    return arr


def _p_distance(
    u: NDArray[np.floating[Any]],
    p: float,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]:
    """``||u||_p`` over the last axis and its gradient w.r.t. ``u`` (0 where the norm is 0)."""
    au = np.abs(u)
    if p == 2:
        d = np.sqrt((u * u).sum(axis=-1))
        g = u / np.where(d > 0, d, 1)[..., None]
    elif p == 1:
        d = au.sum(axis=-1)
        g = np.sign(u)
    else:
        d = (au**p).sum(axis=-1) ** (1 / p)
        g = np.sign(u) * au ** (p - 1) / np.where(d > 0, d, 1)[..., None] ** (p - 1)
    return d, np.where((d > 0)[..., None], g, 0).astype(u.dtype, copy=False)


def triplet_margin_loss(
    anchor: ArrayLike,
    positive: ArrayLike,
    negative: ArrayLike,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Triplet margin loss ``max(d(a, p) - d(a, n) + margin, 0)`` (PyTorch's ``triplet_margin_loss``).

    ``d(x, y) = ||x - y + eps||_p`` over the last axis, PyTorch's
    ``pairwise_distance``.  With ``swap=True`` the negative distance is
    ``min(d(a, n), d(p, n))`` (Balntas et al.'s distance swap).

    Parameters
    ----------
    anchor, positive, negative : array_like, shape (N, D) or (D,)
    margin : float, default 1.0
        Must be > 0 (``ValueError``), as PyTorch requires.
    p : float, default 2
        Norm degree, > 0.
    eps : float, default 1e-6
        Added to the differences (PyTorch), >= 0.
    swap : bool, default False
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient with respect to ``anchor`` (ties of the swap's
        minimum share the gradient equally, as in PyTorch).

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import triplet_margin_loss
    >>> triplet_margin_loss([[0.0, 0.0]], [[3.0, 4.0]], [[0.0, 1.0]], eps=0.0, reduction="none")
    array([5.])
    """
    _validate.check_reduction(reduction)
    margin = _validate.check_real(margin, "margin", 0, low_open=True)
    p = _validate.check_real(p, "p", 0, low_open=True)
    eps = _validate.check_real(eps, "eps", 0)
    a = _embeddings(anchor, "anchor", (1, 2))
    pos = _embeddings(positive, "positive", (1, 2))
    neg = _embeddings(negative, "negative", (1, 2))
    _validate.check_same_shape(a, pos, ("anchor", "positive"))
    _validate.check_same_shape(a, neg, ("anchor", "negative"))
    dt = _validate.loss_dtype(a, pos, neg)
    a, pos, neg = (x.astype(dt, copy=False) for x in (a, pos, neg))
    e = dt.type(eps)
    d_ap, g_ap = _p_distance(a - pos + e, p)
    d_an, g_an = _p_distance(a - neg + e, p)
    d_neg, share = d_an, np.ones_like(d_an)
    if swap:
        d_pn, _ = _p_distance(pos - neg + e, p)
        d_neg = np.minimum(d_an, d_pn)
        share = np.where(d_an < d_pn, 1, np.where(d_an == d_pn, 0.5, 0)).astype(dt)
    violation = d_ap - d_neg + dt.type(margin)
    loss = np.maximum(violation, 0).astype(dt, copy=False)
    grad = None
    if return_grad:
        active = (violation > 0).astype(dt) * dt.type(_common.scale_for(reduction, loss.size))
        grad = (g_ap - share[..., None] * g_an) * active[..., None]
    return _common.result(_common.reduce_values(loss, reduction), grad, return_grad)


def contrastive_hinge_loss(
    im: ArrayLike,
    s: ArrayLike,
    margin: float = 0.2,
    max_violation: bool = False,
    *,
    reduction: Literal["none", "mean", "sum"] = "sum",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Bidirectional hinge ranking loss of image-text retrieval (VSE, VSE++).

    With similarities ``S = im @ s.T`` (``(N, N)``, matching pairs on the diagonal),
    pair ``i`` costs ``sum_j [margin + S[i, j] - S[i, i]]_+ + sum_j [margin + S[j, i] - S[i, i]]_+``
    over ``j != i``: captions ranked against image ``i`` (row ``i``) and images
    ranked against caption ``i`` (column ``i``).  ``max_violation=True`` is
    VSE++'s max hinge: each sum is replaced by its largest term, the hardest
    negative of *every* row and column.  VSE++ returns the sum over pairs
    (``reduction='sum'``, the default); ``'mean'`` divides by ``N``.

    Embeddings are used as given (VSE++ L2-normalises them in its encoders, so
    ``S`` is the cosine similarity).  The hinge runs in a Numba kernel over the
    ``N x N`` similarities; the products are BLAS matrix products.

    Parameters
    ----------
    im : array_like, shape (N, D)
        Image embeddings.
    s : array_like, shape (N, D)
        Caption embeddings; ``s[i]`` describes ``im[i]``.
    margin : float, default 0.2
        >= 0 (``ValueError`` otherwise).
    max_violation : bool, default False
    reduction : {'none', 'mean', 'sum'}, default 'sum'
    return_grad : bool, default False
        Also return the gradient with respect to ``im`` (at a tie of the hardest
        negatives, the first one takes it).

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> import numpy as np
    >>> from fastiou.losses import contrastive_hinge_loss
    >>> im = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> s = np.array([[0.8, 0.6], [0.6, 0.8]])
    >>> contrastive_hinge_loss(im, s, margin=0.5, reduction="none").round(6)
    array([0.6, 0.6])
    """
    _validate.check_reduction(reduction)
    margin = _validate.check_real(margin, "margin", 0)
    a = _embeddings(im, "im")
    b = _embeddings(s, "s")
    _validate.check_same_shape(a, b, ("im", "s"))
    dt = _validate.loss_dtype(a, b)
    a, b = np.ascontiguousarray(a, dtype=dt), np.ascontiguousarray(b, dtype=dt)
    n = a.shape[0]
    sim = a @ b.T
    sim_t = np.ascontiguousarray(sim.T)
    loss_rows, loss_cols = np.empty(n, dtype=dt), np.empty(n, dtype=dt)
    g_rows = np.empty((n, n), dtype=dt) if return_grad else _common.empty(dt, 2)
    g_cols = np.empty((n, n), dtype=dt) if return_grad else _common.empty(dt, 2)
    if n:
        module, parallel = _common.kernels(n * n)
        k = K.constants(dt)
        module.hinge_rows(sim, dt.type(margin), bool(max_violation), k, loss_rows, g_rows, parallel)
        module.hinge_rows(sim_t, dt.type(margin), bool(max_violation), k, loss_cols, g_cols, parallel)
    loss = loss_rows + loss_cols
    grad = None
    if return_grad:
        g_rows += g_cols.T
        grad = g_rows @ b
        grad *= dt.type(_common.scale_for(reduction, n))
    return _common.result(_common.reduce_values(loss, reduction), grad, return_grad)


def _normalize(x: NDArray[np.floating[Any]]) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]]]:
    norm = np.sqrt((x * x).sum(axis=-1, keepdims=True))
    norm = np.maximum(norm, x.dtype.type(_NORM_EPS))
    return x / norm, norm


def _normalize_backward(
    g: NDArray[np.floating[Any]],
    xn: NDArray[np.floating[Any]],
    norm: NDArray[np.floating[Any]],
) -> NDArray[np.floating[Any]]:
    """Gradient through ``x / max(||x||, eps)`` (the tangent projection of ``g``, over the norm)."""
    projected = g - xn * (xn * g).sum(axis=-1, keepdims=True)
    grad: NDArray[np.floating[Any]] = np.where(norm > _NORM_EPS, projected, g) / norm
    return grad


def info_nce_loss(
    query: ArrayLike,
    positive_key: ArrayLike | None = None,
    negative_keys: ArrayLike | None = None,
    *,
    temperature: float = 0.1,
    reduction: Literal["none", "mean", "sum"] = "mean",
    negative_mode: Literal["unpaired", "paired"] = "unpaired",
    normalize: bool = True,
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """InfoNCE (contrastive cross-entropy) loss, on similarities or on embeddings.

    The loss of query ``i`` is ``-log softmax(logits_i / temperature)[positive]``.

    - ``info_nce_loss(sim)``: ``sim`` is an ``(N, M)`` similarity matrix
      (``M >= N``) whose diagonal holds the positive pairs; the rest of each row
      are its negatives.  The gradient is with respect to ``sim``.
    - ``info_nce_loss(query, positive_key)``: ``(N, D)`` embeddings; the logits are
      ``query @ positive_key.T`` (in-batch negatives, as CLIP and SimCLR).
    - ``info_nce_loss(query, positive_key, negative_keys)``: the logits of query
      ``i`` are its positive followed by its negatives: ``negative_keys`` ``(M, D)``
      shared by every query (``negative_mode='unpaired'``) or ``(N, M, D)``, one set
      per query (``'paired'``).

    Embeddings are L2-normalised first (``normalize=True``, cosine similarity, as
    the ``info-nce-pytorch`` package does); the gradient is then with respect to
    the raw ``query``.  The softmax runs in the Numba cross-entropy kernel, the
    products in BLAS.

    Parameters
    ----------
    query : array_like, shape (N, D), or the (N, M) similarity matrix
    positive_key : array_like, shape (N, D), optional
    negative_keys : array_like, shape (M, D) or (N, M, D), optional
    temperature : float, default 0.1
        > 0 (``ValueError`` otherwise).
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    negative_mode : {'unpaired', 'paired'}, default 'unpaired'
    normalize : bool, default True
        L2-normalise the embeddings (ignored for a similarity matrix).
    return_grad : bool, default False
        Also return the gradient with respect to ``query``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> import numpy as np
    >>> from fastiou.losses import info_nce_loss
    >>> sim = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> info_nce_loss(sim, temperature=1.0, reduction="none").round(6)
    array([0.313262, 0.313262])
    >>> round(float(info_nce_loss([[1.0, 0.0], [0.0, 2.0]], [[3.0, 0.0], [0.0, 1.0]], temperature=1.0)), 6)
    0.313262
    """
    _validate.check_reduction(reduction)
    temperature = _validate.check_real(temperature, "temperature", 0, low_open=True)
    _validate.check_choice(negative_mode, "negative_mode", ("unpaired", "paired"))
    q = _embeddings(query, "query")
    if positive_key is None:
        if negative_keys is not None:
            raise ValueError("negative_keys needs positive_key (query is then the embeddings)")
        if q.shape[1] < q.shape[0]:
            raise ValueError(f"a similarity matrix query must have shape (N, M) with M >= N, got {q.shape}")
        dt = _validate.loss_dtype(q)
        logits = q.astype(dt, copy=False) * dt.type(1 / temperature)
        value, g = _nce_cross_entropy(logits, np.arange(q.shape[0]), dt, reduction, return_grad)
        return _common.result(value, g * dt.type(1 / temperature) if return_grad else None, return_grad)

    k = _embeddings(positive_key, "positive_key")
    _validate.check_same_shape(q, k, ("query", "positive_key"))
    neg = None
    if negative_keys is not None:
        neg = _embeddings(negative_keys, "negative_keys", (3,) if negative_mode == "paired" else (2,))
        if neg.shape[-1] != q.shape[1] or (negative_mode == "paired" and neg.shape[0] != q.shape[0]):
            want = "(N, M, D)" if negative_mode == "paired" else "(M, D)"
            raise ValueError(f"negative_keys must have shape {want} for query {q.shape}, got {neg.shape}")
    dt = _validate.loss_dtype(q, k, *(() if neg is None else (neg,)))
    q, k = q.astype(dt, copy=False), k.astype(dt, copy=False)
    norm = None
    if normalize:
        q, norm = _normalize(q)
        k, _ = _normalize(k)
    qs = q * dt.type(1 / temperature)  # fold 1/T into the query: one pass over (N, D), not (N, N)
    if neg is None:
        logits = qs @ k.T
        labels = np.arange(q.shape[0])
    else:
        neg = neg.astype(dt, copy=False)
        if normalize:
            neg, _ = _normalize(neg)
        m = neg.shape[-2]
        logits = np.empty((q.shape[0], 1 + m), dtype=dt)
        logits[:, 0] = (qs * k).sum(axis=1)
        logits[:, 1:] = qs @ neg.T if negative_mode == "unpaired" else np.einsum("nd,nmd->nm", qs, neg)
        labels = np.zeros(q.shape[0], dtype=np.int64)
    value, g = _nce_cross_entropy(logits, labels, dt, reduction, return_grad)
    if not return_grad:
        return value
    if neg is None:
        grad = g @ k
    else:
        grad = g[:, :1] * k
        grad += g[:, 1:] @ neg if negative_mode == "unpaired" else np.einsum("nm,nmd->nd", g[:, 1:], neg)
    grad *= dt.type(1 / temperature)
    if norm is not None:  # normalize
        grad = _normalize_backward(grad, q, norm)
    return value, grad


def _nce_cross_entropy(
    logits: NDArray[np.floating[Any]],
    labels: NDArray[np.integer[Any]],
    dt: np.dtype[np.floating[Any]],
    reduction: str,
    return_grad: bool,
) -> tuple[LossValue, NDArray[np.floating[Any]]]:
    """Cross-entropy of each row of ``logits`` (N, L) with its class in ``labels``: (value, grad)."""
    logits = np.ascontiguousarray(logits, dtype=dt)
    n = logits.shape[0]
    loss = np.empty(n, dtype=dt)
    grad = np.empty(logits.shape, dtype=dt) if return_grad else _common.empty(dt, 2)
    if n:
        module, parallel = _common.kernels(logits.size)
        module.softmax_loss(K.CE, logits, labels, _common.empty(dt), False, dt.type(logits.shape[1]), -1,
                            dt.type(0), dt.type(0), dt.type(0), K.constants(dt), loss, grad,
                            dt.type(_common.scale_for(reduction, n)), parallel)
    return _common.reduce_values(loss, reduction), grad
