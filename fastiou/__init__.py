"""fastiou: fast box and mask metrics, NMS and losses for NumPy.

See the README for the API tour; every public function has a numpydoc docstring.
"""

from __future__ import annotations

from .pairwise import (
    bbox_overlaps,
    box_ioa,
    box_iou,
    complete_box_iou,
    distance_box_iou,
    generalized_box_iou,
)

__version__ = "0.1.0"

__all__ = [
    "bbox_overlaps",
    "box_ioa",
    "box_iou",
    "complete_box_iou",
    "distance_box_iou",
    "generalized_box_iou",
]
