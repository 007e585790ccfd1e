"""Regression losses: squared, absolute, Huber, smooth L1, log-cosh and quantile (pinball).

Every function takes ``input`` (the prediction) and ``target`` of the same shape,
``reduction in {'none', 'mean', 'sum'}`` (default ``'mean'``, as PyTorch), and
``return_grad=True`` for ``(value, grad)``, the gradient with respect to ``input``
(see :mod:`fastiou.losses`).  Where the loss has a kink (``|d| = 0``, or ``d = 0``
for the quantile loss) the gradient is 0, as ``torch.sign`` gives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .. import _validate
from ..backends import numba_cpu_losses as K
from . import _common
from ._common import LossResult

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from numpy.typing import ArrayLike, NDArray


def _regression(code: int, input: Any, target: Any, reduction: str, return_grad: bool,
                p0: float = 0.0) -> LossResult:
    _validate.check_reduction(reduction)
    x = _validate.as_array(input, "input")
    t = _validate.as_array(target, "target")
    _validate.check_same_shape(x, t, ("input", "target"))
    dt = _validate.loss_dtype(x, t)
    return _common.pointwise(code, x, t, dt, reduction, return_grad, p0=p0)


def mse_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Mean squared error ``(input - target)^2`` (``torch.nn.functional.mse_loss``).

    Parameters
    ----------
    input, target : array_like, same shape
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient with respect to ``input``: ``2 (input - target)``,
        divided by the number of elements for ``'mean'``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import mse_loss
    >>> mse_loss([1.0, 2.0, 4.0], [1.0, 3.0, 2.0])
    np.float64(1.6666666666666667)
    >>> mse_loss([1.0, 2.0], [0.0, 0.0], reduction="sum", return_grad=True)
    (np.float64(5.0), array([2., 4.]))
    """
    return _regression(K.MSE, input, target, reduction, return_grad)


def l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Mean absolute error ``|input - target|`` (``torch.nn.functional.l1_loss``).

    Parameters
    ----------
    input, target : array_like, same shape
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient ``sign(input - target)`` (0 where they are equal).

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import l1_loss
    >>> l1_loss([1.0, 2.0, 4.0], [1.0, 3.0, 2.0], reduction="none")
    array([0., 1., 2.])
    """
    return _regression(K.L1, input, target, reduction, return_grad)


def huber_loss(
    input: ArrayLike,
    target: ArrayLike,
    delta: float = 1.0,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Huber loss (``torch.nn.functional.huber_loss``): quadratic near 0, linear beyond ``delta``.

    With ``d = input - target``: ``d^2 / 2`` where ``|d| < delta``, else
    ``delta (|d| - delta / 2)``.  It equals ``delta * smooth_l1_loss(beta=delta)``.

    Parameters
    ----------
    input, target : array_like, same shape
    delta : float, default 1.0
        Where the loss turns linear; must be > 0 (``ValueError``).
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient: ``d`` where ``|d| < delta``, else ``delta sign(d)``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import huber_loss
    >>> huber_loss([0.5, 3.0], [0.0, 0.0], delta=1.0, reduction="none")
    array([0.125, 2.5  ])
    """
    delta = _validate.check_real(delta, "delta", 0, low_open=True)
    return _regression(K.HUBER, input, target, reduction, return_grad, delta)


def smooth_l1_loss(
    input: ArrayLike,
    target: ArrayLike,
    beta: float = 1.0,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Smooth L1 loss of Fast R-CNN (``torch.nn.functional.smooth_l1_loss``).

    With ``d = input - target``: ``d^2 / (2 beta)`` where ``|d| < beta``, else
    ``|d| - beta / 2``; ``beta = 0`` is the L1 loss.

    Parameters
    ----------
    input, target : array_like, same shape
    beta : float, default 1.0
        Must be >= 0 (``ValueError``).
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient: ``d / beta`` where ``|d| < beta``, else ``sign(d)``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import smooth_l1_loss
    >>> smooth_l1_loss([0.5, 3.0], [0.0, 0.0], reduction="none")
    array([0.125, 2.5  ])
    """
    beta = _validate.check_real(beta, "beta", 0)
    return _regression(K.SMOOTH_L1, input, target, reduction, return_grad, beta)


def log_cosh_loss(input: ArrayLike, target: ArrayLike, *, reduction: Literal["none", "mean", "sum"] = "mean",
                  return_grad: bool = False) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Log-cosh loss ``log(cosh(input - target))``, smooth everywhere and linear for large errors.

    Computed stably as ``|d| + log1p(exp(-2 |d|)) - log 2``, so errors of 1000 give
    ``1000 - log 2`` instead of overflowing ``cosh``.  No PyTorch function.

    Parameters
    ----------
    input, target : array_like, same shape
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient ``tanh(input - target)``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import log_cosh_loss
    >>> log_cosh_loss([0.0, 1.0, 10.0, 1000.0], [0.0, 0.0, 0.0, 0.0], reduction="none").round(7).tolist()
    [0.0, 0.4337808, 9.3068528, 999.3068528]
    """
    return _regression(K.LOG_COSH, input, target, reduction, return_grad)


def quantile_loss(
    input: ArrayLike,
    target: ArrayLike,
    quantile: float = 0.5,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Quantile (pinball) loss: ``max(q r, (q - 1) r)`` with ``r = target - input``.

    Minimising it makes ``input`` the ``q``-quantile of the target; ``q = 0.5`` is
    half the absolute error.  No PyTorch function.

    Parameters
    ----------
    input : array_like
        The predictions.
    target : array_like, same shape
    quantile : float, default 0.5
        ``q``, in the open interval (0, 1) (``ValueError`` otherwise).
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient w.r.t. ``input``: ``-q`` where ``r > 0``,
        ``1 - q`` where ``r < 0``, 0 where ``r = 0``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import quantile_loss
    >>> round(float(quantile_loss([2.5, 0.0, 2.0, 8.0, 1.25], [3.0, -0.5, 2.0, 7.0, 2.0])), 12)
    0.275
    """
    quantile = _validate.check_real(quantile, "quantile", 0, 1, low_open=True, high_open=True)
    return _regression(K.QUANTILE, input, target, reduction, return_grad, quantile)
