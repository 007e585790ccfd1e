"""Segmentation losses: Dice, pixel-wise cross-entropy, and class weights from label frequencies.

- :func:`dice_loss` is :func:`fastiou.masks.dice_loss` (MONAI's options).
- Pixel-wise cross-entropy is :func:`fastiou.losses.cross_entropy` on
  ``(N, C, H, W)`` logits and ``(N, H, W)`` class maps, with ``weight`` the class
  weights and ``ignore_index`` for unlabelled pixels (PyTorch's semantics).
- :func:`class_weights` gives the weights of the weighted cross-entropy that
  counters class imbalance: ``w_c = (N - N_c) / N``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _validate
from ..masks import dice_loss
from .classification import cross_entropy

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, DTypeLike, NDArray

__all__ = ["class_weights", "cross_entropy", "dice_loss"]


def class_weights(target: ArrayLike, num_classes: int, *, ignore_index: int = -100,
                  dtype: DTypeLike = None) -> NDArray[np.floating[Any]]:
    """Class weights from label frequencies: ``w_c = (N - N_c) / N``.

    ``N`` is the number of labelled pixels (those not equal to ``ignore_index``)
    and ``N_c`` the number labelled ``c``: a class covering most of the image
    (the background) gets a weight near 0, a rare class a weight near 1, an
    absent class 1.  Pass the result as ``weight`` to :func:`cross_entropy`.  With
    no labelled pixel every weight is 1.

    Parameters
    ----------
    target : array_like of int
        Class map(s), any shape (e.g. ``(N, H, W)``), values in ``[0, num_classes)``
        or ``ignore_index``.
    num_classes : int
        ``C`` >= 1.
    ignore_index : int, default -100
    dtype : float32 or float64, optional
        Output dtype (default float64).

    Returns
    -------
    ndarray, shape (num_classes,)

    Examples
    --------
    >>> import numpy as np
    >>> from fastiou.losses import class_weights, cross_entropy
    >>> target = np.array([[[0, 0, 0], [0, 1, 1]]])  # (N, H, W): 4 background, 2 foreground
    >>> w = class_weights(target, 2)
    >>> w
    array([0.33333333, 0.66666667])
    >>> logits = np.zeros((1, 2, 2, 3))
    >>> round(float(cross_entropy(logits, target, weight=w)), 6)
    0.693147
    """
    num_classes = _validate.check_int(num_classes, "num_classes")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    ignore_index = _validate.check_int(ignore_index, "ignore_index")
    y = _validate.as_class_indices(target, "target", num_classes, ignore_index)
    dt = _validate.compute_dtype(y, dtype=dtype)
    labelled = y[y != ignore_index]
    counts = np.bincount(labelled, minlength=num_classes).astype(np.float64)
    n = float(labelled.size)
    if n == 0:
        return np.ones(num_classes, dtype=dt)
    return ((n - counts) / n).astype(dt)
