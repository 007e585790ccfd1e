"""Information measures: entropy, KL and JS divergences, joint and conditional entropy,
mutual information and self-information.

Conventions (SciPy's, where SciPy has the function):

- Distributions lie along ``axis`` (default the last one, so that a batch of
  distributions is an ``(N, C)`` array; SciPy's ``entropy`` defaults to
  ``axis=0``) and are normalised to sum to 1 there, as ``scipy.stats.entropy``
  and ``scipy.spatial.distance.jensenshannon`` do.  Joint distributions
  ``pxy[..., i, j] = P(X = i, Y = j)`` use the last two axes and are normalised
  over both (a contingency table of counts works).
- ``0 log 0 = 0``; ``p > 0`` where ``q = 0`` makes ``KL(p || q) = +inf``
  (``scipy.special.rel_entr``).  Negative or non-finite entries, or a
  distribution summing to 0, raise ``ValueError``.
- ``base`` is the logarithm's base: None for nats, 2 for bits.
- ``reduction='none'`` (default) gives one value per distribution; ``'mean'``
  and ``'sum'`` reduce them.
- ``return_grad=True`` gives the gradient with respect to the first argument
  as passed (through the normalisation).  It is infinite where the
  derivative of ``x log x`` is (entries that are 0), and NaN where the value
  itself is infinite.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from .. import _validate
from . import _common
from ._common import LossResult

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray


def _log_base(base: Any) -> float:
    if base is None:
        return 1.0
    b = _validate.check_real(base, "base", 0, low_open=True)
    if b == 1:
        raise ValueError("base must not be 1")
    return math.log(b)


def _distribution(
    x: Any, name: str, axes: tuple[int, ...], dt: np.dtype[np.floating[Any]] | None = None,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], np.dtype[np.floating[Any]]]:
    """``(p_hat, total, dt)``: ``x`` normalised over ``axes`` (non-negative, finite, positive sum)."""
    arr = _validate.as_array(x, name)
    if arr.ndim < len(axes):
        raise ValueError(f"{name} must have at least {len(axes)} dimension(s), got shape {arr.shape}")
    dt = _validate.loss_dtype(arr) if dt is None else dt
    arr = arr.astype(dt, copy=False)
    if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= 0):
        raise ValueError(f"{name} must hold finite, non-negative probabilities (or counts)")
    total = arr.sum(axis=axes, keepdims=True)
    if arr.size and not np.all(total > 0):
        raise ValueError(f"{name} must have a positive sum over axis {axes if len(axes) > 1 else axes[0]}")
    return arr / total, total, dt


def _axis(axis: Any, ndim: int) -> tuple[int, ...]:
    axis = _validate.check_int(axis, "axis")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ValueError(f"axis {axis} is out of range for {ndim} dimension(s)")
    return (axis % max(ndim, 1),)


def _xlogy(x: NDArray[np.floating[Any]], y: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    """``x log y`` with ``0 log y = 0`` (``scipy.special.xlogy``), in ``x``'s dtype."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: NDArray[np.floating[Any]] = np.where(x > 0, x * np.log(y), x.dtype.type(0))
        return out


def _log(x: NDArray[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: NDArray[np.floating[Any]] = np.log(x)
        return out


def _through_normalisation(
    g: NDArray[np.floating[Any]],
    p_hat: NDArray[np.floating[Any]],
    total: NDArray[np.floating[Any]],
    axes: tuple[int, ...],
) -> NDArray[np.floating[Any]]:
    """d f / d p from d f / d p_hat for ``p_hat = p / sum(p)`` (terms with ``p_hat = 0`` weigh 0)."""
    with np.errstate(invalid="ignore"):
        mean_g = np.where(p_hat > 0, p_hat * g, 0).sum(axis=axes, keepdims=True)
        out: NDArray[np.floating[Any]] = (g - mean_g) / total
        return out


def _finish(
    values: NDArray[np.floating[Any]],
    g_hat: NDArray[np.floating[Any]] | None,
    p_hat: NDArray[np.floating[Any]],
    total: NDArray[np.floating[Any]],
    axes: tuple[int, ...],
    reduction: str,
    return_grad: bool,
    ln_b: float,
) -> LossResult:
    dt = p_hat.dtype
    values = (values / dt.type(ln_b)).astype(dt, copy=False)
    value = _common.reduce_values(values, reduction if reduction != "batchmean" else "mean")
    if not return_grad:
        return value
    count = values.size
    scale = _common.scale_for(reduction, count) / ln_b
    g = cast("NDArray[np.floating[Any]]", g_hat)  # given with return_grad
    grad = _through_normalisation(g, p_hat, total, axes) * dt.type(scale)
    infinite = np.isinf(values)
    if infinite.any():
        grad = np.where(np.expand_dims(infinite, axes), dt.type(np.nan), grad)
    return value, grad.astype(dt, copy=False)


def entropy(
    p: ArrayLike,
    *,
    base: float | None = None,
    axis: int = -1,
    reduction: Literal["none", "mean", "sum"] = "none",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Shannon entropy ``H(p) = -sum p log p`` of each distribution (``scipy.stats.entropy(p)``).

    Parameters
    ----------
    p : array_like
        Probabilities (or non-negative weights, normalised along ``axis``).
    base : float, optional
        Logarithm base (None: nats).
    axis : int, default -1
    reduction : {'none', 'mean', 'sum'}, default 'none'
    return_grad : bool, default False

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import entropy
    >>> entropy([0.5, 0.5, 0.0], base=2)
    np.float64(1.0)
    """
    _validate.check_reduction(reduction)
    ln_b = _log_base(base)
    axes = _axis(axis, np.ndim(p))
    p_hat, total, _ = _distribution(p, "p", axes)
    values = -_xlogy(p_hat, p_hat).sum(axis=axes)
    g = -(_log(p_hat) + 1) if return_grad else None
    return _finish(values, g, p_hat, total, axes, reduction, return_grad, ln_b)


def kl_divergence(
    p: ArrayLike,
    q: ArrayLike,
    *,
    base: float | None = None,
    axis: int = -1,
    reduction: Literal["none", "mean", "sum", "batchmean"] = "none",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Kullback-Leibler divergence ``KL(p || q) = sum p log(p / q)`` (``scipy.stats.entropy(p, q)``).

    ``+inf`` where some ``q = 0`` has ``p > 0``.  ``reduction='batchmean'`` is the
    mean over distributions, what PyTorch's ``kl_div(..., reduction='batchmean')``
    computes for ``(N, C)`` inputs; here ``'mean'`` is the same.

    Parameters
    ----------
    p, q : array_like, same shape
        Distributions along ``axis`` (normalised there).
    base : float, optional
    axis : int, default -1
    reduction : {'none', 'mean', 'sum', 'batchmean'}, default 'none'
    return_grad : bool, default False
        Also return the gradient with respect to ``p``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import kl_divergence
    >>> kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5])
    np.float64(0.6931471805599453)
    >>> kl_divergence([0.5, 0.5], [1.0, 0.0])
    np.float64(inf)
    """
    _validate.check_reduction(reduction, _common.BATCHMEAN)
    ln_b = _log_base(base)
    axes = _axis(axis, np.ndim(p))
    dt = _validate.loss_dtype(_validate.as_array(p, "p"), _validate.as_array(q, "q"))
    p_hat, total, _ = _distribution(p, "p", axes, dt)
    q_hat, _, _ = _distribution(q, "q", axes, dt)
    _validate.check_same_shape(p_hat, q_hat, ("p", "q"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = p_hat / q_hat
    values = _xlogy(p_hat, ratio).sum(axis=axes)
    g = _log(ratio) + 1 if return_grad else None
    return _finish(values, g, p_hat, total, axes, reduction, return_grad, ln_b)


def js_divergence(
    p: ArrayLike,
    q: ArrayLike,
    *,
    base: float | None = None,
    axis: int = -1,
    reduction: Literal["none", "mean", "sum"] = "none",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Jensen-Shannon divergence ``(KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``.

    Symmetric, finite, in ``[0, log 2]`` (``[0, 1]`` with ``base=2``).  This is the
    divergence; ``scipy.spatial.distance.jensenshannon`` returns its square root
    (the Jensen-Shannon *distance*, a metric).

    Parameters
    ----------
    p, q : array_like, same shape
    base : float, optional
    axis : int, default -1
    reduction : {'none', 'mean', 'sum'}, default 'none'
    return_grad : bool, default False
        Also return the gradient with respect to ``p``: ``log(p / m) / 2``
        (through the normalisation).

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import js_divergence
    >>> js_divergence([1.0, 0.0], [0.0, 1.0], base=2)
    np.float64(1.0)
    """
    _validate.check_reduction(reduction)
    ln_b = _log_base(base)
    axes = _axis(axis, np.ndim(p))
    dt = _validate.loss_dtype(_validate.as_array(p, "p"), _validate.as_array(q, "q"))
    p_hat, total, _ = _distribution(p, "p", axes, dt)
    q_hat, _, _ = _distribution(q, "q", axes, dt)
    _validate.check_same_shape(p_hat, q_hat, ("p", "q"))
    m = (p_hat + q_hat) * dt.type(0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        rp, rq = p_hat / m, q_hat / m
    values = (_xlogy(p_hat, rp) + _xlogy(q_hat, rq)).sum(axis=axes) * dt.type(0.5)
    values = np.maximum(values, 0)  # rounding can leave -1e-17 for identical distributions
    g = _log(rp) * dt.type(0.5) if return_grad else None
    return _finish(values, g, p_hat, total, axes, reduction, return_grad, ln_b)


def _joint(pxy: Any) -> tuple[NDArray[np.floating[Any]], NDArray[np.floating[Any]], NDArray[np.floating[Any]],
                              NDArray[np.floating[Any]]]:
    p, total, dt = _distribution(pxy, "pxy", (-2, -1))
    return p, total, p.sum(axis=-1, keepdims=True), p.sum(axis=-2, keepdims=True)


def joint_entropy(
    pxy: ArrayLike,
    *,
    base: float | None = None,
    reduction: Literal["none", "mean", "sum"] = "none",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Joint entropy ``H(X, Y) = -sum_ij P(i, j) log P(i, j)`` of ``pxy[..., i, j] = P(X=i, Y=j)``.

    Parameters
    ----------
    pxy : array_like, shape (..., nx, ny)
        Joint probabilities or counts (normalised over the last two axes).
    base : float, optional
    reduction : {'none', 'mean', 'sum'}, default 'none'
    return_grad : bool, default False

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import joint_entropy
    >>> joint_entropy([[0.25, 0.25], [0.5, 0.0]], base=2)
    np.float64(1.5)
    """
    _validate.check_reduction(reduction)
    ln_b = _log_base(base)
    p, total, _, _ = _joint(pxy)
    values = -_xlogy(p, p).sum(axis=(-2, -1))
    g = -(_log(p) + 1) if return_grad else None
    return _finish(values, g, p, total, (-2, -1), reduction, return_grad, ln_b)


def conditional_entropy(
    pxy: ArrayLike,
    *,
    base: float | None = None,
    reduction: Literal["none", "mean", "sum"] = "none",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Conditional entropy ``H(Y | X) = H(X, Y) - H(X)`` of ``pxy[..., i, j] = P(X=i, Y=j)``.

    Computed as ``-sum_ij P(i, j) log(P(i, j) / P(i))``.

    Parameters
    ----------
    pxy : array_like, shape (..., nx, ny)
    base : float, optional
    reduction : {'none', 'mean', 'sum'}, default 'none'
    return_grad : bool, default False

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import conditional_entropy
    >>> conditional_entropy([[0.25, 0.25], [0.5, 0.0]], base=2)
    np.float64(0.5)
    """
    _validate.check_reduction(reduction)
    ln_b = _log_base(base)
    p, total, px, _ = _joint(pxy)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = p / px
    values = -_xlogy(p, ratio).sum(axis=(-2, -1))
    g = -_log(ratio) if return_grad else None
    return _finish(values, g, p, total, (-2, -1), reduction, return_grad, ln_b)


def mutual_information(
    pxy: ArrayLike,
    *,
    base: float | None = None,
    reduction: Literal["none", "mean", "sum"] = "none",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Mutual information ``I(X; Y) = sum_ij P(i, j) log(P(i, j) / (P(i) P(j)))``.

    Equals ``H(X) + H(Y) - H(X, Y)`` and ``KL(P(X, Y) || P(X) P(Y))``; a
    contingency table of counts gives scikit-learn's ``mutual_info_score``.

    Parameters
    ----------
    pxy : array_like, shape (..., nx, ny)
    base : float, optional
    reduction : {'none', 'mean', 'sum'}, default 'none'
    return_grad : bool, default False

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import mutual_information
    >>> mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2)
    np.float64(1.0)
    """
    _validate.check_reduction(reduction)
    ln_b = _log_base(base)
    p, total, px, py = _joint(pxy)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = p / (px * py)
    values = np.maximum(_xlogy(p, ratio).sum(axis=(-2, -1)), 0)
    g = _log(ratio) - 1 if return_grad else None
    return _finish(values, g, p, total, (-2, -1), reduction, return_grad, ln_b)


def self_information(
    p: ArrayLike,
    *,
    base: float | None = None,
    reduction: Literal["none", "mean", "sum"] = "none",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Self-information (surprisal) ``-log p`` of each probability, elementwise.

    ``+inf`` for ``p = 0``; not normalised (each entry is one event's probability).

    Parameters
    ----------
    p : array_like
        Probabilities in [0, 1] (``ValueError`` otherwise).
    base : float, optional
    reduction : {'none', 'mean', 'sum'}, default 'none'
    return_grad : bool, default False
        Also return the gradient ``-1 / (p ln base)``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import self_information
    >>> self_information([0.5, 0.25, 1.0], base=2)
    array([1., 2., 0.])
    """
    _validate.check_reduction(reduction)
    ln_b = _log_base(base)
    arr = _validate.as_array(p, "p")
    _validate.check_in_range(arr, "p", 0, 1)
    dt = _validate.loss_dtype(arr)
    arr = arr.astype(dt, copy=False)
    values = (-_log(arr) / dt.type(ln_b)).astype(dt, copy=False) + dt.type(0)
    value = _common.reduce_values(values, reduction)
    if not return_grad:
        return value
    with np.errstate(divide="ignore"):
        grad = -dt.type(_common.scale_for(reduction, values.size) / ln_b) / arr
    return value, grad.astype(dt, copy=False)
