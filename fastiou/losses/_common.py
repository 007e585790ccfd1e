"""Plumbing shared by the loss modules: reductions, gradients scaled by them, kernels.

Conventions of every loss:

- ``reduction='none'`` returns one value per element (or sample), ``'sum'`` their
  sum and ``'mean'`` their mean, as a NumPy scalar of the compute dtype; the mean
  of an empty batch is 0.0 (PyTorch gives NaN).  Sums accumulate in float64.
- ``return_grad=True`` returns ``(value, grad)``: the gradient of the returned
  value with respect to the first argument, of its shape and dtype.  For
  ``reduction='none'`` it is the gradient of ``value.sum()`` (a vector-Jacobian
  product with ones, what ``value.backward(torch.ones_like(value))`` computes).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Tuple, Union, cast

import numpy as np
from numpy.typing import NDArray  # (at run time too: the API reference evaluates LossResult)

from .. import _validate, backends
from ..backends import numba_cpu_losses as K

BATCHMEAN = (*_validate.REDUCTIONS, "batchmean")

#: What a loss returns: its value (an array for ``reduction='none'``, else a NumPy
#: scalar), or ``(value, grad)`` with ``return_grad=True``.
LossValue = Union[NDArray[np.floating[Any]], np.floating[Any]]
LossResult = Union[LossValue, Tuple[LossValue, NDArray[np.floating[Any]]]]


def kernels(work: int, kind: str = "losses") -> tuple[ModuleType, bool]:
    """``(module, parallel)``: the losses run on the Numba backend; the cost model decides
    serial or parallel for ``work`` units of ``kind``."""
    return backends.select("numba", work, family="losses", kind=kind)


def scale_for(reduction: str, count: float) -> float:
    """What the gradient of one element is multiplied by: ``1 / count`` for a mean."""
    if reduction in ("mean", "batchmean") and count > 0:
        return 1.0 / count
    return 1.0


def reduce_total(
    total: float,
    reduction: str,
    count: float,
    dt: np.dtype[np.floating[Any]],
) -> np.floating[Any]:
    """A reduced value from the float64 ``total``: the sum, or the mean over ``count`` (0 if empty)."""
    if reduction == "sum":
        return dt.type(total)
    return dt.type(total / count if count > 0 else 0.0)


def reduce_values(values: NDArray[np.floating[Any]], reduction: str, count: float | None = None) -> LossValue:
    """``values`` themselves (``'none'``), or their sum / mean (``count`` defaults to their number)."""
    if reduction == "none":
        return values
    count = values.size if count is None else count
    return reduce_total(float(values.sum(dtype=np.float64)), reduction, count, values.dtype)


def result(value: LossValue, grad: NDArray[np.floating[Any]] | None, return_grad: bool) -> LossResult:
    """``(value, grad)`` with ``return_grad`` (``grad`` is then the gradient, not None), else ``value``."""
    return (value, cast("NDArray[np.floating[Any]]", grad)) if return_grad else value


def empty(dt: np.dtype[np.floating[Any]], ndim: int = 1) -> NDArray[np.floating[Any]]:
    """The kernels' placeholder for an output that is not wanted."""
    return np.empty((0,) * ndim, dtype=dt)


def flat(arr: NDArray[Any], dt: np.dtype[np.floating[Any]]) -> NDArray[np.floating[Any]]:
    """A contiguous 1-D copy or view of ``arr`` in dtype ``dt`` (never written to)."""
    return np.ascontiguousarray(arr, dtype=dt).reshape(-1)


def pointwise(
    code: int,
    x: NDArray[Any],
    t: NDArray[Any],
    dt: np.dtype[np.floating[Any]],
    reduction: str,
    return_grad: bool,
    *,
    weight: NDArray[Any] | None = None,
    pos_weight: NDArray[Any] | None = None,
    p0: float = 0.0,
    p1: float = 0.0,
) -> LossResult:
    """Run the pointwise kernel ``code`` on validated ``x`` and ``t`` (same shape)."""
    shape, n = x.shape, x.size
    xf, tf = flat(x, dt), flat(t, dt)
    w = empty(dt) if weight is None else flat(_validate.broadcast_as(weight, shape, "weight"), dt)
    if pos_weight is not None:  # BCE with logits: p0 > 0 says that pw holds the weights
        pw, p0 = flat(_validate.broadcast_as(pos_weight, shape, "pos_weight"), dt), 1.0
    else:
        pw = tf  # read but unused
    loss = np.empty(n, dtype=dt) if reduction == "none" else empty(dt)
    grad = np.empty(n, dtype=dt) if return_grad else empty(dt)
    if n:
        module, parallel = kernels(n)
        total: float = module.pointwise_loss(code, xf, tf, w, pw, dt.type(p0), dt.type(p1), K.constants(dt),
                                             loss, grad, dt.type(scale_for(reduction, n)), parallel)
    else:
        total = 0.0
    value = loss.reshape(shape) if reduction == "none" else reduce_total(total, reduction, n, dt)
    return result(value, grad.reshape(shape) if return_grad else None, return_grad)
