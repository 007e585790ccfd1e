"""fastiou: fast box and mask metrics, NMS and losses for NumPy.

See the README for the API tour; every public function has a numpydoc docstring.

``import fastiou`` stays light (NumPy and the compiled extension): the families
whose modules start Numba or SciPy when imported (losses, masks, sparse joins,
matching) are imported on first use of one of their names, and every public
submodule (``fastiou.losses``, ``fastiou.viz``, ``fastiou.bench``, ...) on first
access as an attribute (``fastiou.nms`` is the function ``nms``;
``importlib.import_module("fastiou.nms")`` is its module).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .formats import box_area, box_convert, clip_boxes_to_image, masks_to_boxes, remove_small_boxes
from .pairwise import bbox_overlaps, box_ioa, box_iou, complete_box_iou, distance_box_iou, generalized_box_iou
from .nms import batched_nms, nms, soft_nms, weighted_boxes_fusion
from .rotated import box_iou_rotated, nms_rotated
from .runtime import get_num_threads, set_num_threads, show_config

__version__ = "0.1.0"

# name -> submodule, imported on first access (PEP 562)
_LAZY = {
    "binary_cross_entropy": "losses",
    "binary_cross_entropy_with_logits": "losses",
    "box_iou_loss": "losses",
    "class_weights": "losses",
    "complete_box_iou_loss": "losses",
    "conditional_entropy": "losses",
    "contrastive_hinge_loss": "losses",
    "cross_entropy": "losses",
    "distance_box_iou_loss": "losses",
    "entropy": "losses",
    "exponential_loss": "losses",
    "generalized_box_iou_loss": "losses",
    "hinge_loss": "losses",
    "huber_loss": "losses",
    "info_nce_loss": "losses",
    "joint_entropy": "losses",
    "js_divergence": "losses",
    "kl_divergence": "losses",
    "l1_loss": "losses",
    "log_cosh_loss": "losses",
    "log_softmax": "losses",
    "logistic_loss": "losses",
    "mse_loss": "losses",
    "mutual_information": "losses",
    "quantile_loss": "losses",
    "self_information": "losses",
    "sigmoid_focal_loss": "losses",
    "smooth_l1_loss": "losses",
    "smooth_labels": "losses",
    "softmax": "losses",
    "softmax_focal_loss": "losses",
    "triplet_margin_loss": "losses",
    "zero_one_loss": "losses",
    "dice": "masks",
    "dice_loss": "masks",
    "mask_dice": "masks",
    "mask_iou": "masks",
    "rle_decode": "masks",
    "rle_encode": "masks",
    "match_boxes": "matching",
    "max_box_iou": "sparse",
    "sparse_box_iou": "sparse",
}

# public submodules, imported on first access as attributes (PEP 562); "nms" is the function
_SUBMODULES = (
    "backends",
    "bench",
    "cli",
    "coco",
    "dask",
    "formats",
    "losses",
    "masks",
    "matching",
    "pairwise",
    "reference",
    "rotated",
    "runtime",
    "sparse",
    "synthetic",
    "viz",
)

__all__ = [
    "box_area",
    "box_convert",
    "clip_boxes_to_image",
    "masks_to_boxes",
    "remove_small_boxes",
    "bbox_overlaps",
    "box_ioa",
    "box_iou",
    "complete_box_iou",
    "distance_box_iou",
    "generalized_box_iou",
    "box_iou_rotated",
    "nms_rotated",
    "batched_nms",
    "nms",
    "soft_nms",
    "weighted_boxes_fusion",
    "get_num_threads",
    "set_num_threads",
    "show_config",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "box_iou_loss",
    "class_weights",
    "complete_box_iou_loss",
    "conditional_entropy",
    "contrastive_hinge_loss",
    "cross_entropy",
    "distance_box_iou_loss",
    "entropy",
    "exponential_loss",
    "generalized_box_iou_loss",
    "hinge_loss",
    "huber_loss",
    "info_nce_loss",
    "joint_entropy",
    "js_divergence",
    "kl_divergence",
    "l1_loss",
    "log_cosh_loss",
    "log_softmax",
    "logistic_loss",
    "mse_loss",
    "mutual_information",
    "quantile_loss",
    "self_information",
    "sigmoid_focal_loss",
    "smooth_l1_loss",
    "smooth_labels",
    "softmax",
    "softmax_focal_loss",
    "triplet_margin_loss",
    "zero_one_loss",
    "dice",
    "dice_loss",
    "mask_dice",
    "mask_iou",
    "rle_decode",
    "rle_encode",
    "match_boxes",
    "max_box_iou",
    "sparse_box_iou",
]


def _import_submodule(name: str) -> ModuleType:
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as exc:
        if name == "dask" and not (exc.name or "fastiou").startswith("fastiou"):
            raise ModuleNotFoundError(
                f"fastiou.dask needs Dask (the 'dask' extra): pip install 'fastiou[dask]' ({exc})",
                name=exc.name,
            ) from exc
        raise


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        submodule = globals()[name] = _import_submodule(name)
        return submodule
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastiou' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
