"""Classification losses: 0-1, hinge, logistic, exponential, (binary) cross-entropy, focal.

Margin losses (``zero_one_loss``, ``hinge_loss``, ``logistic_loss``,
``exponential_loss``) take real ``scores`` ``f`` and ``labels`` ``y`` in {-1, +1}
of the same shape (the margin is ``y f``); ``zero_one_loss`` and ``hinge_loss``
also take multiclass ``scores`` ``(N, C)`` with integer labels ``(N,)``.  The
cross-entropy family follows ``torch.nn.functional`` (names, arguments,
defaults, weighted-mean semantics) and ``torchvision.ops.sigmoid_focal_loss``.

Every loss takes ``reduction`` and ``return_grad`` (see :mod:`fastiou.losses`);
the gradient is with respect to the first argument.  Logits are handled stably
(log-sum-exp, ``log1p(exp(-|x|))``): logits of +-1000 give finite, exact values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from .. import _validate
from ..backends import numba_cpu_losses as K
from . import _common
from ._common import LossResult

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, DTypeLike, NDArray

_FloatT = TypeVar("_FloatT", bound="np.floating[Any]")


# --- margin losses on labels in {-1, +1} -----------------------------------------------------


def _binary_margin(scores: Any, labels: Any) -> tuple[NDArray[Any], NDArray[Any], np.dtype[np.floating[Any]]]:
    f = _validate.as_array(scores, "scores")
    y = _validate.as_array(labels, "labels")
    _validate.check_same_shape(f, y, ("scores", "labels"))
    _validate.check_sign_labels(y, "labels")
    return f, y, _validate.loss_dtype(f)


def _is_multiclass(scores: Any, labels: Any) -> bool:
    f = np.asarray(scores) if not hasattr(scores, "shape") else scores
    y = np.asarray(labels) if not hasattr(labels, "shape") else labels
    return len(f.shape) == 2 and len(y.shape) == 1


def _multiclass(
    scores: Any,
    labels: Any,
) -> tuple[NDArray[np.floating[Any]], NDArray[np.int64], np.dtype[np.floating[Any]]]:
    f = _validate.as_array(scores, "scores")
    if f.ndim != 2 or f.shape[1] < 2:
        raise ValueError(f"multiclass scores must have shape (N, C) with C >= 2, got {f.shape}")
    y = _validate.as_class_indices(labels, "labels", f.shape[1])
    if y.shape != f.shape[:1]:
        raise ValueError(f"labels must have shape {f.shape[:1]} for scores of shape {f.shape}, got {y.shape}")
    dt = _validate.loss_dtype(f)
    return f.astype(dt, copy=False), y, dt


def zero_one_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """The 0-1 loss: 1 for a misclassified sample, else 0 (its mean is the error rate).

    Binary: ``scores`` and ``labels`` (in {-1, +1}) of the same shape; a sample is
    wrong when ``labels * scores <= 0`` (a score of 0 is on the boundary: wrong).
    Multiclass: ``scores`` ``(N, C)`` and integer ``labels`` ``(N,)``; wrong when
    ``argmax(scores) != label`` (ties go to the lowest class).  Not differentiable,
    so there is no ``return_grad``.

    Parameters
    ----------
    scores : array_like
    labels : array_like
    reduction : {'none', 'mean', 'sum'}, default 'mean'

    Returns
    -------
    ndarray or scalar

    Examples
    --------
    >>> from fastiou.losses import zero_one_loss
    >>> zero_one_loss([2.0, -1.0, 0.5, 0.0], [1, 1, -1, 1])
    np.float64(0.75)
    >>> zero_one_loss([[0.1, 2.0], [3.0, 1.0]], [1, 1], reduction="none")
    array([0., 1.])
    """
    _validate.check_reduction(reduction)
    if _is_multiclass(scores, labels):
        f, y, dt = _multiclass(scores, labels)
        wrong = np.argmax(f, axis=1) != y
    else:
        f, y, dt = _binary_margin(scores, labels)
        wrong = y * f.astype(dt, copy=False) <= 0
    return _common.reduce_values(wrong.astype(dt), reduction)


def hinge_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    margin: float = 1.0,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Hinge loss of SVMs: ``max(0, margin - y f)``; multiclass: Crammer-Singer.

    Binary: ``scores`` ``f`` and ``labels`` ``y`` in {-1, +1}, same shape.
    Multiclass: ``scores`` ``(N, C)``, integer ``labels`` ``(N,)``, and
    ``max(0, margin + max_{j != y} f_j - f_y)`` (Crammer and Singer, as
    scikit-learn's ``hinge_loss``).  The gradient at the kink is 0.

    Parameters
    ----------
    scores : array_like
    labels : array_like
    margin : float, default 1.0
        Must be finite (``ValueError``).
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient with respect to ``scores``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import hinge_loss
    >>> hinge_loss([2.0, 0.5, -1.0], [1, 1, 1], reduction="none")
    array([0. , 0.5, 2. ])
    >>> hinge_loss([[3.0, 1.0, 2.5]], [0], reduction="sum", return_grad=True)
    (np.float64(0.5), array([[-1.,  0.,  1.]]))
    """
    _validate.check_reduction(reduction)
    margin = _validate.check_real(margin, "margin")
    if not _is_multiclass(scores, labels):
        f, y, dt = _binary_margin(scores, labels)
        return _common.pointwise(K.HINGE, f, y, dt, reduction, return_grad, p0=margin)
    f, y, dt = _multiclass(scores, labels)
    rows = np.arange(f.shape[0])
    others = f.copy()
    others[rows, y] = -np.inf
    j = np.argmax(others, axis=1)
    violation = margin + others[rows, j] - f[rows, y]
    loss = np.maximum(violation, 0).astype(dt, copy=False)
    grad = None
    if return_grad:
        active = (violation > 0).astype(dt) * dt.type(_common.scale_for(reduction, f.shape[0]))
        grad = np.zeros_like(f)
        grad[rows, j] += active
        grad[rows, y] -= active
    return _common.result(_common.reduce_values(loss, reduction), grad, return_grad)


def logistic_loss(scores: ArrayLike, labels: ArrayLike, *, reduction: Literal["none", "mean", "sum"] = "mean",
                  return_grad: bool = False) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Logistic loss ``log(1 + exp(-y f))`` for labels in {-1, +1}.

    Computed as ``softplus(-y f) = max(-y f, 0) + log1p(exp(-|y f|))``: finite for
    any finite score.  PyTorch: ``soft_margin_loss``.

    Parameters
    ----------
    scores : array_like
    labels : array_like, same shape, values in {-1, +1}
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient ``-y sigmoid(-y f)``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import logistic_loss
    >>> logistic_loss([0.0, 1000.0, -1000.0], [1, 1, 1], reduction="none")
    array([6.93147181e-01, 0.00000000e+00, 1.00000000e+03])
    """
    _validate.check_reduction(reduction)
    f, y, dt = _binary_margin(scores, labels)
    return _common.pointwise(K.LOGISTIC, f, y, dt, reduction, return_grad)


def exponential_loss(
    scores: ArrayLike,
    labels: ArrayLike,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Exponential loss of AdaBoost, ``exp(-y f)`` for labels in {-1, +1}.

    The value itself is exponential: it overflows to ``inf`` where ``-y f``
    exceeds about 88 (float32) or 709 (float64); it never gives NaN.

    Parameters
    ----------
    scores : array_like
    labels : array_like, same shape, values in {-1, +1}
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    return_grad : bool, default False
        Also return the gradient ``-y exp(-y f)``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import exponential_loss
    >>> exponential_loss([0.0, 2.0], [1, -1], reduction="none").round(6)
    array([1.      , 7.389056])
    """
    _validate.check_reduction(reduction)
    f, y, dt = _binary_margin(scores, labels)
    return _common.pointwise(K.EXPONENTIAL, f, y, dt, reduction, return_grad)


# --- binary cross-entropy ----------------------------------------------------------------


def _optional_weight(weight: Any, name: str) -> NDArray[Any] | None:
    return None if weight is None else _validate.as_array(weight, name)


def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Binary cross-entropy of probabilities (``torch.nn.functional.binary_cross_entropy``).

    ``-weight (t log p + (1 - t) log(1 - p))`` with PyTorch's clamps: each log is
    at least -100, and the gradient ``weight (p - t) / max(p (1 - p), 1e-12)``.
    Prefer :func:`binary_cross_entropy_with_logits` on logits.

    Parameters
    ----------
    input : array_like
        Probabilities ``p`` in [0, 1] (``ValueError`` otherwise).
    target : array_like, same shape
        Targets ``t`` (soft targets in [0, 1] allowed).
    weight : array_like, optional
        Broadcast to ``input``'s shape, multiplies each element's loss.
    reduction : {'none', 'mean', 'sum'}, default 'mean'
        ``'mean'`` divides by the number of elements (PyTorch).
    return_grad : bool, default False

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import binary_cross_entropy
    >>> binary_cross_entropy([0.5, 0.9, 0.0], [1.0, 1.0, 1.0], reduction="none").round(6)
    array([  0.693147,   0.105361, 100.      ])
    """
    _validate.check_reduction(reduction)
    p = _validate.as_array(input, "input")
    t = _validate.as_array(target, "target")
    _validate.check_same_shape(p, t, ("input", "target"))
    _validate.check_in_range(p, "input", 0, 1)
    w = _optional_weight(weight, "weight")
    dt = _validate.loss_dtype(p, t)
    return _common.pointwise(K.BCE, p, t, dt, reduction, return_grad, weight=w)


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    reduction: Literal["none", "mean", "sum"] = "mean",
    pos_weight: ArrayLike | None = None,
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Binary cross-entropy on logits (``torch.nn.functional.binary_cross_entropy_with_logits``).

    ``weight (pos_weight t softplus(-x) + (1 - t) softplus(x))``, which is
    ``-weight (pos_weight t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))``
    computed without overflow for any finite logit.

    Parameters
    ----------
    input : array_like
        Logits ``x``.
    target : array_like, same shape
        Targets ``t`` (soft targets allowed).
    weight : array_like, optional
        Broadcast to ``input``'s shape; multiplies each element's loss.
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    pos_weight : array_like, optional
        Weight of the positive term, broadcast to ``input``'s shape (usually one
        value per class, along the last axis).
    return_grad : bool, default False
        Also return the gradient ``weight ((1 - t) sigmoid(x) - pos_weight t sigmoid(-x))``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import binary_cross_entropy_with_logits
    >>> binary_cross_entropy_with_logits([0.0, 1000.0, -1000.0], [1.0, 0.0, 0.0], reduction="none")
    array([6.93147181e-01, 1.00000000e+03, 0.00000000e+00])
    """
    _validate.check_reduction(reduction)
    x = _validate.as_array(input, "input")
    t = _validate.as_array(target, "target")
    _validate.check_same_shape(x, t, ("input", "target"))
    w = _optional_weight(weight, "weight")
    pw = _optional_weight(pos_weight, "pos_weight")
    dt = _validate.loss_dtype(x, t)
    return _common.pointwise(K.BCE_LOGITS, x, t, dt, reduction, return_grad, weight=w, pos_weight=pw)


def sigmoid_focal_loss(
    inputs: ArrayLike,
    targets: ArrayLike,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: Literal["none", "mean", "sum"] = "none",
    *,
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Focal loss of RetinaNet on logits (``torchvision.ops.sigmoid_focal_loss``).

    ``alpha_t (1 - p_t)^gamma BCE(inputs, targets)`` with ``p = sigmoid(inputs)``,
    ``p_t = p t + (1 - p)(1 - t)`` and ``alpha_t = alpha t + (1 - alpha)(1 - t)``.
    ``1 - p_t`` is computed as ``t sigmoid(-x) + (1 - t) sigmoid(x)``, which keeps
    its precision for confident predictions.

    Parameters
    ----------
    inputs : array_like
        Logits, any shape.
    targets : array_like, same shape
        Binary (or soft) targets.
    alpha : float, default 0.25
        Weight of the positives, in [0, 1]; a negative value disables the weighting
        (torchvision).  Above 1: ``ValueError``.
    gamma : float, default 2.0
        Focusing exponent, >= 0 (``ValueError`` otherwise); 0 gives the
        alpha-weighted BCE.
    reduction : {'none', 'mean', 'sum'}, default 'none'
    return_grad : bool, default False
        Also return the gradient with respect to ``inputs``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import sigmoid_focal_loss
    >>> sigmoid_focal_loss([0.0, 2.0, -1.0], [1.0, 0.0, 1.0]).round(6)
    array([0.043322, 1.237559, 0.175467])
    """
    _validate.check_reduction(reduction)
    alpha = _validate.check_real(alpha, "alpha", high=1)
    gamma = _validate.check_real(gamma, "gamma", 0)
    x = _validate.as_array(inputs, "inputs")
    t = _validate.as_array(targets, "targets")
    _validate.check_same_shape(x, t, ("inputs", "targets"))
    dt = _validate.loss_dtype(x, t)
    return _common.pointwise(K.SIGMOID_FOCAL, x, t, dt, reduction, return_grad, p0=alpha, p1=gamma)


# --- softmax losses ------------------------------------------------------------------------


def _class_axis_input(input: Any) -> NDArray[Any]:
    x = _validate.as_array(input, "input")
    if x.ndim < 1 or x.shape[0 if x.ndim == 1 else 1] < 1:
        raise ValueError(f"input must have shape (C,), (N, C) or (N, C, d1, ...) with C >= 1, got {x.shape}")
    return x


def _class_targets(x: NDArray[Any], target: Any, ignore_index: int | None) -> NDArray[np.int64]:
    """Integer targets of the shape of ``x`` without its class axis."""
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    y = _validate.as_class_indices(target, "target", n_classes, ignore_index)
    expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if y.shape != expected:
        raise ValueError(f"target must have shape {expected} for input of shape {x.shape}, got {y.shape}")
    return y


def _class_weight(weight: Any, name: str, n_classes: int, dt: np.dtype[_FloatT]) -> NDArray[_FloatT] | None:
    if weight is None:
        return None
    w = _validate.as_array(weight, name)
    if w.shape != (n_classes,):
        raise ValueError(f"{name} must have shape ({n_classes},), one value per class, got {w.shape}")
    return np.ascontiguousarray(w, dtype=dt)


def _softmax_kernel(
    mode: int,
    x: NDArray[Any],
    y: NDArray[np.int64],
    dt: np.dtype[np.floating[Any]],
    weight: NDArray[np.floating[Any]] | None,
    ignore_index: int,
    smoothing: float,
    gamma: float,
    reduction: str,
    count: float,
    return_grad: bool,
) -> LossResult:
    """Run the softmax kernel on ``x`` (C,), (N, C) or (N, C, ...) with class-index targets ``y``."""
    shape = x.shape
    n_classes = shape[0] if x.ndim == 1 else shape[1]
    xk: NDArray[np.floating[Any]]
    yk: NDArray[np.int64]
    if x.ndim <= 2:
        xk = np.ascontiguousarray(x, dtype=dt).reshape(-1, n_classes)
        yk = y.reshape(-1)
    else:
        space = int(np.prod(shape[2:]))
        xk = np.ascontiguousarray(x, dtype=dt).reshape(shape[0], n_classes, space)
        yk = np.ascontiguousarray(y).reshape(shape[0], space)
    loss = np.empty(yk.shape, dtype=dt)
    grad = np.empty(xk.shape, dtype=dt) if return_grad else _common.empty(dt, xk.ndim)
    if loss.size:
        module, parallel = _common.kernels(xk.size)
        has_weight = weight is not None
        wk = weight if has_weight else _common.empty(dt)
        wsum = float(weight.sum(dtype=np.float64)) if weight is not None else float(n_classes)
        module.softmax_loss(mode, xk, yk, wk, has_weight, dt.type(wsum), ignore_index, dt.type(smoothing),
                            dt.type(smoothing / n_classes), dt.type(gamma), K.constants(dt), loss, grad,
                            dt.type(_common.scale_for(reduction, count)), parallel)
    value = _common.reduce_values(loss.reshape(y.shape), reduction, count)
    return _common.result(value, grad.reshape(shape) if return_grad else None, return_grad)


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    *,
    ignore_index: int = -100,
    reduction: Literal["none", "mean", "sum"] = "mean",
    label_smoothing: float = 0.0,
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Cross-entropy of logits and class targets (``torch.nn.functional.cross_entropy``).

    ``input`` holds logits with the classes on axis 1: ``(N, C)``, ``(C,)``, or
    ``(N, C, d1, d2, ...)`` for pixel-wise losses (segmentation ``(N, C, H, W)``).
    ``target`` holds either class indices (integers, ``input``'s shape without
    the class axis) or class probabilities (floats, ``input``'s shape).

    Class indices: the loss of a sample is
    ``(1 - eps) w[y] (-log p_y) + eps / C sum_c w[c] (-log p_c)`` with
    ``p = softmax(input)``, ``eps = label_smoothing`` and ``w = weight`` (ones by
    default); samples whose target is ``ignore_index`` count 0.  ``'mean'``
    divides the sum by ``sum w[y]`` over the samples not ignored (PyTorch's
    weighted mean), and is 0.0 when every sample is ignored (PyTorch: NaN).
    Probabilities: ``-sum_c w[c] t'_c log p_c`` with ``t' = (1 - eps) t + eps / C``;
    ``'mean'`` divides by the number of samples.

    Computed as log-sum-exp in one pass over the logits (Numba kernel, parallel
    for large inputs); the gradient ``w-weighted (softmax - target)`` comes from
    the same pass.

    Parameters
    ----------
    input : array_like
        Logits.
    target : array_like
        Class indices or probabilities, see above.
    weight : array_like, shape (C,), optional
        Class weights.
    ignore_index : int, default -100
        Target value whose samples are ignored (class indices only).
    reduction : {'none', 'mean', 'sum'}, default 'mean'
    label_smoothing : float, default 0.0
        In [0, 1] (``ValueError`` otherwise).
    return_grad : bool, default False
        Also return the gradient with respect to ``input``.

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> import numpy as np
    >>> from fastiou.losses import cross_entropy
    >>> logits = np.array([[2.0, 0.0, 0.0], [0.0, 1000.0, -1000.0]])
    >>> cross_entropy(logits, [0, 1], reduction="none").round(6)
    array([0.239545, 0.      ])
    >>> value, grad = cross_entropy(logits, [0, -100], return_grad=True)
    >>> round(float(value), 6)
    0.239545
    >>> grad.round(4)
    array([[-0.213 ,  0.1065,  0.1065],
           [ 0.    ,  0.    ,  0.    ]])
    """
    _validate.check_reduction(reduction)
    ignore_index = _validate.check_int(ignore_index, "ignore_index")
    smoothing = _validate.check_real(label_smoothing, "label_smoothing", 0, 1)
    x = _class_axis_input(input)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    t = _validate.as_array(target, "target")
    if t.dtype.kind == "f" and t.shape == x.shape:
        dt = _validate.loss_dtype(x, t)
        w = _class_weight(weight, "weight", n_classes, dt)
        return _cross_entropy_probabilities(x.astype(dt, copy=False), t.astype(dt, copy=False), w,
                                            smoothing, reduction, return_grad)
    dt = _validate.loss_dtype(x)
    y = _class_targets(x, t, ignore_index)
    w = _class_weight(weight, "weight", n_classes, dt)
    valid = y != ignore_index
    count = float(w[y[valid]].sum(dtype=np.float64)) if w is not None else float(valid.sum())
    return _softmax_kernel(K.CE, x, y, dt, w, ignore_index, smoothing, 0.0, reduction, count, return_grad)


def _cross_entropy_probabilities(
    x: NDArray[np.floating[Any]],
    t: NDArray[np.floating[Any]],
    w: NDArray[np.floating[Any]] | None,
    smoothing: float,
    reduction: str,
    return_grad: bool,
) -> LossResult:
    axis = 0 if x.ndim == 1 else 1
    n_classes = x.shape[axis]
    if smoothing > 0:
        t = t * x.dtype.type(1 - smoothing) + x.dtype.type(smoothing / n_classes)
    if w is not None:
        t = t * w.reshape((-1,) + (1,) * (x.ndim - axis - 1))
    logp = _log_softmax(x, axis)
    loss = -(t * logp).sum(axis=axis)
    count = loss.size
    value = _common.reduce_values(loss, reduction, count)
    grad = None
    if return_grad:
        scale = x.dtype.type(_common.scale_for(reduction, count))
        grad = (np.exp(logp) * t.sum(axis=axis, keepdims=True) - t) * scale
    return _common.result(value, grad, return_grad)


def softmax_focal_loss(
    inputs: ArrayLike,
    targets: ArrayLike,
    alpha: ArrayLike | None = None,
    gamma: float = 2.0,
    reduction: Literal["none", "mean", "sum"] = "mean",
    *,
    ignore_index: int = -100,
    return_grad: bool = False,
) -> (NDArray[np.floating[Any]] | np.floating[Any]
      | tuple[NDArray[np.floating[Any]] | np.floating[Any], NDArray[np.floating[Any]]]):
    """Multiclass focal loss on logits: ``-alpha_y (1 - p_y)^gamma log p_y``, ``p = softmax``.

    The softmax counterpart of :func:`sigmoid_focal_loss` (Lin et al., 2017, as in
    kornia's ``focal_loss``).  Shapes as :func:`cross_entropy` with class-index
    targets: ``(N, C)`` or ``(N, C, d1, ...)`` logits.  ``1 - p_y`` is computed as
    ``-expm1(log p_y)``, precise for confident predictions.  The gradient is
    ``K (softmax - onehot(y))`` with
    ``K = alpha_y ((1 - p_y)^gamma - gamma (1 - p_y)^(gamma - 1) p_y log p_y)``.

    Parameters
    ----------
    inputs : array_like
        Logits, classes on axis 1.
    targets : array_like of int
        Class indices (``inputs``' shape without the class axis).
    alpha : float or array_like of shape (C,), optional
        Weight of every class (a float: the same for all); None: 1.
    gamma : float, default 2.0
        Focusing exponent, >= 0; 0 gives the (alpha-weighted) cross-entropy.
    reduction : {'none', 'mean', 'sum'}, default 'mean'
        ``'mean'`` divides by the number of samples not ignored.
    ignore_index : int, default -100
    return_grad : bool, default False

    Returns
    -------
    value : ndarray or scalar
    grad : ndarray, only with ``return_grad=True``

    Examples
    --------
    >>> from fastiou.losses import softmax_focal_loss
    >>> softmax_focal_loss([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0]], [0, 0], reduction="none").round(6)
    array([0.010869, 1.787895])
    """
    _validate.check_reduction(reduction)
    ignore_index = _validate.check_int(ignore_index, "ignore_index")
    gamma = _validate.check_real(gamma, "gamma", 0)
    x = _class_axis_input(inputs)
    n_classes = x.shape[0] if x.ndim == 1 else x.shape[1]
    dt = _validate.loss_dtype(x)
    y = _class_targets(x, targets, ignore_index)
    if alpha is not None and np.ndim(alpha) == 0:
        alpha = np.full(n_classes, _validate.check_real(alpha, "alpha"), dtype=dt)
    w = _class_weight(alpha, "alpha", n_classes, dt)
    count = float((y != ignore_index).sum())
    return _softmax_kernel(K.FOCAL, x, y, dt, w, ignore_index, 0.0, gamma, reduction, count, return_grad)


def _log_softmax(x: NDArray[np.floating[Any]], axis: int) -> NDArray[np.floating[Any]]:
    if x.size == 0:
        return x.copy()
    z = x - x.max(axis=axis, keepdims=True)
    out: NDArray[np.floating[Any]] = z - np.log(np.exp(z).sum(axis=axis, keepdims=True))
    return out


def _softmax_input(input: Any, dim: int) -> tuple[NDArray[np.floating[Any]], int]:
    x = _validate.as_array(input, "input")
    dim = _validate.check_int(dim, "dim")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim must be in [{-x.ndim}, {x.ndim}) for input of shape {x.shape}, got {dim}")
    return x.astype(_validate.loss_dtype(x), copy=False), dim


def log_softmax(input: ArrayLike, dim: int = -1) -> NDArray[np.floating[Any]]:
    """``log(softmax(input))`` along ``dim``, computed as ``x - max - log(sum(exp(x - max)))``.

    Stable for any finite logits (``torch.nn.functional.log_softmax``; the
    default ``dim`` is the last axis).

    Parameters
    ----------
    input : array_like
    dim : int, default -1

    Returns
    -------
    ndarray
        Same shape; float32 stays float32.

    Examples
    --------
    >>> from fastiou.losses import log_softmax
    >>> log_softmax([0.0, 1000.0]).round(6)
    array([-1000.,     0.])
    """
    x, dim = _softmax_input(input, dim)
    return _log_softmax(x, dim)


def softmax(input: ArrayLike, dim: int = -1) -> NDArray[np.floating[Any]]:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the maximum so nothing overflows.

    (``torch.nn.functional.softmax``; the default ``dim`` is the last axis.)

    Parameters
    ----------
    input : array_like
    dim : int, default -1

    Returns
    -------
    ndarray
        Same shape, non-negative, summing to 1 along ``dim``.

    Examples
    --------
    >>> from fastiou.losses import softmax
    >>> softmax([[1.0, 1.0], [0.0, 1000.0]])
    array([[0.5, 0.5],
           [0. , 1. ]])
    """
    x, dim = _softmax_input(input, dim)
    if x.size == 0:
        return x.copy()
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    out: NDArray[np.floating[Any]] = e / e.sum(axis=dim, keepdims=True)
    return out


def smooth_labels(
    labels: ArrayLike,
    num_classes: int,
    epsilon: float = 0.1,
    *,
    dtype: DTypeLike = None,
) -> NDArray[np.floating[Any]]:
    """Label smoothing: one-hot targets mixed with the uniform distribution.

    ``(1 - epsilon) onehot(labels) + epsilon / num_classes``, the convention of
    PyTorch's ``cross_entropy(label_smoothing=epsilon)``: the true class gets
    ``1 - epsilon + epsilon / C`` and every other ``epsilon / C``.

    Parameters
    ----------
    labels : array_like of int
        Class indices in ``[0, num_classes)``, any shape.
    num_classes : int
        ``C`` >= 1.
    epsilon : float, default 0.1
        In [0, 1] (``ValueError`` otherwise).
    dtype : float32 or float64, optional
        Output dtype (default float64).

    Returns
    -------
    ndarray, shape ``labels.shape + (num_classes,)``
        Each row sums to 1.

    Examples
    --------
    >>> from fastiou.losses import smooth_labels
    >>> smooth_labels([0, 2], 3, epsilon=0.3)
    array([[0.8, 0.1, 0.1],
           [0.1, 0.1, 0.8]])
    """
    num_classes = _validate.check_int(num_classes, "num_classes")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    epsilon = _validate.check_real(epsilon, "epsilon", 0, 1)
    y = _validate.as_class_indices(labels, "labels", num_classes)
    dt = _validate.compute_dtype(y, dtype=dtype)
    out = np.full(y.shape + (num_classes,), epsilon / num_classes, dtype=dt)
    np.put_along_axis(out, y[..., None], dt.type(1 - epsilon + epsilon / num_classes), axis=-1)
    return out
