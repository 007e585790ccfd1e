"""fastiou: fast box and mask metrics, NMS and losses for NumPy.

See the README for the API tour; every public function has a numpydoc docstring.
"""

from __future__ import annotations

from .formats import box_area, box_convert, clip_boxes_to_image, remove_small_boxes
from .pairwise import (
    bbox_overlaps,
    box_ioa,
    box_iou,
    complete_box_iou,
    distance_box_iou,
    generalized_box_iou,
)
from .runtime import get_num_threads, set_num_threads, show_config

__version__ = "0.1.0"

__all__ = [
    "box_area",
    "box_convert",
    "clip_boxes_to_image",
    "remove_small_boxes",
    "bbox_overlaps",
    "box_ioa",
    "box_iou",
    "complete_box_iou",
    "distance_box_iou",
    "generalized_box_iou",
    "get_num_threads",
    "set_num_threads",
    "show_config",
]
