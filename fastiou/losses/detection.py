"""Box regression losses of the IoU family, with torchvision's signatures, eps and values.

``loss(boxes1, boxes2, reduction='none', eps=1e-7)`` compares ``boxes1[..., i, :]`` with
``boxes2[..., i, :]`` (xyxy boxes ``(..., 4)`` of one shape, any leading dimensions as in
torchvision; one ``(4,)`` box each gives a scalar).  The boxes are one flat problem for
the kernel; ``reduction='none'`` returns the losses in the leading shape.  An empty
``(0,)`` array is taken as ``(0, 4)``:

- ``box_iou_loss``: ``1 - IoU``;
- ``generalized_box_iou_loss``: ``1 - IoU + (C - U) / C`` (``C`` the enclosing box's area);
- ``distance_box_iou_loss``: ``1 - IoU + rho^2 / c^2`` (centre distance over enclosing diagonal);
- ``complete_box_iou_loss``: the DIoU loss ``+ alpha v``, ``v = 4/pi^2 (atan(w2/h2) - atan(w1/h1))^2``.

How ``eps`` is applied (torchvision's meaning): it is added to every
denominator, ``IoU = I / (U + eps)``, ``(C - U) / (C + eps)``,
``rho^2 / (c^2 + eps)`` and ``alpha = v / (1 - IoU + v + eps)``.  With the
default ``eps = 1e-7`` the values equal torchvision's; with ``eps = 0`` a zero
denominator gives 0 for its term (the guarded division of
:func:`fastiou.box_iou`; ``eps=None`` means the same), so ``1 - box_iou_loss(..., eps=0)`` is exactly
``fastiou.box_iou(..., aligned=True)``, and the same holds for GIoU, DIoU and
CIoU.  (torchvision's CIoU passes ``eps`` only to ``alpha``, its DIoU part always
uses 1e-7; fastiou uses ``eps`` everywhere, which is the same at the default.)

Gradients (``return_grad=True``) are with respect to ``boxes1``: the derivatives
of torchvision's formulas, with PyTorch's conventions: where ``min``/``max`` tie
each side gets half, a non-overlapping pair's intersection has zero gradient, and
CIoU's ``alpha`` is held constant (computed without gradient, as in torchvision
and the CIoU paper).  The kernel is the shared scalar formulas of
:mod:`fastiou._formulas` (enclosing box, guarded division) plus their
derivatives, in :mod:`fastiou.backends.numba_cpu_losses`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _extreme, _validate
from ..backends import numba_cpu_losses as K
from . import _common
from ._common import LossResult

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray


def _box_loss(code: int, boxes1: Any, boxes2: Any, reduction: str, eps: float | None, return_grad: bool,
              validate: bool) -> LossResult:
    _validate.check_reduction(reduction)
    eps = 0.0 if eps is None else _validate.check_real(eps, "eps", 0)
    b1 = _validate.as_box_batch(boxes1, "boxes1")
    b2 = _validate.as_box_batch(boxes2, "boxes2")
    _validate.check_same_shape(b1, b2, ("boxes1", "boxes2"))
    lead = b1.shape[:-1]
    a1, a2 = b1.reshape(-1, 4), b2.reshape(-1, 4)
    c1, c2, dt, extreme = _validate.box_pair(a1, a2, fmt="xyxy", offset=0, dtype=None,
                                             validate=validate, aligned=True, angle=code == K.CIOU_LOSS)
    n = c1.shape[1]
    loss = np.empty(n, dtype=dt)
    grad = np.empty((n, 4), dtype=dt) if return_grad else _common.empty(dt, 2)
    if n:
        module, parallel = _common.kernels(n, "box_losses")
        scale = _common.scale_for(reduction, n)
        if extreme:  # a coordinate outside the fast formulas' safe range (rare)
            f64 = np.dtype(np.float64)
            _extreme.box_losses(
                lambda b1, b2, eps_area, block_loss, block_grad: module.box_losses(
                    code, b1, b2, float(eps), eps_area, K.constants(f64), block_loss, block_grad,
                    scale, parallel),
                a1.astype(dt, copy=False), a2.astype(dt, copy=False), eps, code == K.CIOU_LOSS,
                loss, grad)
        else:
            module.box_losses(code, c1, c2, dt.type(eps), dt.type(eps), K.constants(dt), loss, grad,
                              dt.type(scale), parallel)
    loss = loss.reshape(lead)
    if return_grad:
        grad = grad.reshape(b1.shape)
    return _common.result(_common.reduce_values(loss, reduction), grad if return_grad else None, return_grad)


_PARAMETERS = """\
    Parameters
    ----------
    boxes1 : array_like, shape (..., 4): (N, 4), (4,), or any leading dimensions
        Predicted boxes, ``(x1, y1, x2, y2)``.
    boxes2 : array_like, same shape
        Target boxes.
    reduction : {'none', 'mean', 'sum'}, default 'none'
        'none' gives the losses in the leading shape ``boxes1.shape[:-1]``.
    eps : float >= 0, or None, default 1e-7
        Added to each denominator (see :mod:`fastiou.losses.detection`); None or 0:
        the guarded division.
    return_grad : bool, default False
        Also return the gradient with respect to ``boxes1``.
    validate : bool, default True
        Check that coordinates are finite with ``x2 >= x1`` and ``y2 >= y1``
        (``ValueError`` naming the first bad row).

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

"""


def box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    reduction: Literal["none", "mean", "sum"] = "none",
    eps: float | None = 1e-7,
    *,
    return_grad: bool = False,
    validate: bool = True,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """IoU loss ``1 - I / (U + eps)`` of aligned box pairs (no torchvision function).

{parameters}
    Examples
    --------
    >>> from fastiou.losses import box_iou_loss
    >>> box_iou_loss([[0, 0, 2, 2]], [[1, 1, 3, 3]], eps=0).round(6)
    array([0.857143])
    """
    return _box_loss(K.IOU_LOSS, boxes1, boxes2, reduction, eps, return_grad, validate)


def generalized_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    reduction: Literal["none", "mean", "sum"] = "none",
    eps: float | None = 1e-7,
    *,
    return_grad: bool = False,
    validate: bool = True,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """GIoU loss ``1 - IoU + (C - U) / (C + eps)`` (``torchvision.ops.generalized_box_iou_loss``).

{parameters}
    Examples
    --------
    >>> from fastiou.losses import generalized_box_iou_loss
    >>> generalized_box_iou_loss([[0, 0, 1, 1]], [[2, 0, 3, 1]], eps=0).round(6)
    array([1.333333])
    """
    return _box_loss(K.GIOU_LOSS, boxes1, boxes2, reduction, eps, return_grad, validate)


def distance_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    reduction: Literal["none", "mean", "sum"] = "none",
    eps: float | None = 1e-7,
    *,
    return_grad: bool = False,
    validate: bool = True,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """DIoU loss ``1 - IoU + rho^2 / (c^2 + eps)`` (``torchvision.ops.distance_box_iou_loss``).

{parameters}
    Examples
    --------
    >>> from fastiou.losses import distance_box_iou_loss
    >>> distance_box_iou_loss([[0, 0, 1, 1]], [[2, 0, 3, 1]], eps=0).round(6)
    array([1.4])
    """
    return _box_loss(K.DIOU_LOSS, boxes1, boxes2, reduction, eps, return_grad, validate)


def complete_box_iou_loss(
    boxes1: ArrayLike,
    boxes2: ArrayLike,
    reduction: Literal["none", "mean", "sum"] = "none",
    eps: float | None = 1e-7,
    *,
    return_grad: bool = False,
    validate: bool = True,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """CIoU loss: the DIoU loss ``+ alpha v`` (``torchvision.ops.complete_box_iou_loss``).

    ``v = 4 / pi^2 (atan(w2 / h2) - atan(w1 / h1))^2`` and
    ``alpha = v / (1 - IoU + v + eps)``, held constant in the gradient.

{parameters}
    Examples
    --------
    >>> from fastiou.losses import complete_box_iou_loss
    >>> complete_box_iou_loss([[0, 0, 2, 1]], [[0, 0, 1, 2]], eps=0).round(4)
    array([0.7629])
    """
    return _box_loss(K.CIOU_LOSS, boxes1, boxes2, reduction, eps, return_grad, validate)


for _f in (box_iou_loss, generalized_box_iou_loss, distance_box_iou_loss, complete_box_iou_loss):
    if _f.__doc__ is not None:  # None under python -OO
        _f.__doc__ = _f.__doc__.replace("{parameters}\n", _PARAMETERS)
del _f
