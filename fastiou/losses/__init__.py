"""The loss library: classification, regression, retrieval, detection, segmentation, information.

One module per family; every name is re-exported here and from :mod:`fastiou`.

Conventions of every loss (see also each docstring):

- NumPy in, NumPy out; float32 stays float32, float64 stays float64 (integers
  and bools are computed in float64); the caller's arrays are never modified.
- Names, argument names and defaults follow ``torch.nn.functional`` and
  ``torchvision.ops`` where they have the function.  Options beyond PyTorch's
  positional arguments are keyword-only.
- ``reduction in {'none', 'mean', 'sum'}`` (``'batchmean'`` too for
  :func:`kl_divergence`); anything else raises ``ValueError``.  The mean of an
  empty batch is 0.0.  Reduced values are NumPy scalars of the compute dtype.
- ``return_grad=True`` returns ``(value, grad)``: the gradient of the returned
  value with respect to the first argument, of its shape and dtype; for
  ``reduction='none'`` the gradient of ``value.sum()``.
- Numerically stable (log-sum-exp, ``log1p(exp(-|x|))``, stable log-cosh):
  logits of +-1000 give finite, correct values.
- Bad parameters (``delta <= 0``, ``beta < 0``, ``label_smoothing`` outside
  [0, 1], ``quantile`` outside (0, 1), ...) and bad shapes raise ``ValueError``
  naming the argument; wrong kinds (strings, complex) raise ``TypeError``.
- The heavy kernels (cross-entropy, focal, the pointwise losses, the N x N
  hinge, box losses) are Numba kernels in
  :mod:`fastiou.backends.numba_cpu_losses`, parallel where the dispatcher's cost
  model (:mod:`fastiou.backends._cost`) says it pays.
"""

from __future__ import annotations

from .classification import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    exponential_loss,
    hinge_loss,
    log_softmax,
    logistic_loss,
    sigmoid_focal_loss,
    smooth_labels,
    softmax,
    softmax_focal_loss,
    zero_one_loss,
)
from .detection import box_iou_loss, complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss
from .information import (
    conditional_entropy,
    entropy,
    joint_entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
    self_information,
)
from .ranking import contrastive_hinge_loss, info_nce_loss, triplet_margin_loss
from .regression import huber_loss, l1_loss, log_cosh_loss, mse_loss, quantile_loss, smooth_l1_loss
from .segmentation import class_weights, dice_loss

__all__ = [
    # classification
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "exponential_loss",
    "hinge_loss",
    "log_softmax",
    "logistic_loss",
    "sigmoid_focal_loss",
    "smooth_labels",
    "softmax",
    "softmax_focal_loss",
    "zero_one_loss",
    # regression
    "huber_loss",
    "l1_loss",
    "log_cosh_loss",
    "mse_loss",
    "quantile_loss",
    "smooth_l1_loss",
    # retrieval
    "contrastive_hinge_loss",
    "info_nce_loss",
    "triplet_margin_loss",
    # detection
    "box_iou_loss",
    "complete_box_iou_loss",
    "distance_box_iou_loss",
    "generalized_box_iou_loss",
    # segmentation
    "class_weights",
    "dice_loss",
    # information
    "conditional_entropy",
    "entropy",
    "joint_entropy",
    "js_divergence",
    "kl_divergence",
    "mutual_information",
    "self_information",
]
