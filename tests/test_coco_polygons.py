"""Polygon masks in COCO evaluation: pycocotools' annToRLE (frPyObjects, rleFrPoly, merge), exactly."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from fastiou import _coco_input, coco, synthetic
from test_coco import assert_same, run_fastiou

mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools (the 'compare' extra) is the reference")


def decode(rle) -> np.ndarray:
    h, w = rle["size"]
    values = np.arange(len(rle["counts"])) % 2
    return np.repeat(values, rle["counts"]).reshape(w, h).T.astype(np.uint8)


def reference(segm, h, w) -> np.ndarray:
    return mask_api.decode(mask_api.merge(mask_api.frPyObjects(segm, h, w)))


def random_polygons(rng, h, w):
    polygons = []
    for _ in range(int(rng.integers(1, 4))):
        corners = rng.uniform(-8, max(h, w) + 8, 2 * int(rng.integers(3, 9)))
        if rng.random() < 0.3:  # on the half-pixel grid: the rounding ties
            corners = np.round(corners * 2) / 2
        if rng.random() < 0.2:  # a repeated corner
            corners[2:4] = corners[0:2]
        if rng.random() < 0.1:  # an odd count: the last number is unused
            corners = np.append(corners, 3.0)
        polygons.append(corners.tolist())
    return polygons


def test_polygons_rasterise_exactly_as_pycocotools():
    rng = np.random.default_rng(0)
    segms, sizes = [], []
    for _ in range(2000):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        segms.append(random_polygons(rng, h, w))
        sizes.append((h, w))
    segms.append([[0, 0, 10, 0, 10, 10, 0, 10], [5, 5, 15, 5, 15, 15, 5, 15]])  # overlapping: the union
    sizes.append((12, 12))
    segms.append([[2.5, 1, 4, 6, 1, 1], [0, 0, 3], [4, 4, 5, 5]])  # short polygons after the first
    sizes.append((9, 7))
    segms.append([[-50, -50, 500, -50, 500, 500, -50, 500]])  # the whole image
    sizes.append((5, 6))
    segms.append([[3, 3, 3, 3, 3, 3]])  # one point, three times: empty
    sizes.append((8, 8))
    got = _coco_input._polygon_rles(copy.deepcopy(segms), np.array(sizes), ["x"] * len(segms))
    for segm, (h, w), rle in zip(segms, sizes, got):
        assert rle["size"] == [h, w]
        assert rle["counts"].sum() == h * w and (rle["counts"][1:] > 0).all()  # canonical runs
        np.testing.assert_array_equal(decode(rle), reference(segm, h, w), err_msg=str(segm))


def _with_polygons(gt, dets, rng):
    """gt (and some detections) with polygon masks: a quadrilateral in each box."""
    gt, dets = copy.deepcopy(gt), copy.deepcopy(dets)
    for ann in gt["annotations"] + dets[::3]:
        rle = ann["segmentation"]
        x, y, w, h = ann.get("bbox") or mask_api.toBbox({**rle, "counts": rle["counts"].encode()}).tolist()
        jitter = rng.uniform(0, 0.3, 8) * [w, h, w, h, w, h, w, h]
        corners = np.array([x, y, x + w, y, x + w, y + h, x, y + h]) + jitter * [1, 1, -1, 1, -1, -1, 1, -1]
        ann["segmentation"] = [np.round(corners, 2).tolist()]
    for ann in gt["annotations"][::7]:  # two polygons
        x, y, w, h = ann["bbox"]  # (gt boxes are given)
        ann["segmentation"].append([x + w / 2, y, x + w, y + h / 2, x + w / 2, y + h, x, y + h / 2])
    return gt, dets


def test_evaluation_with_polygon_masks_equals_pycocotools():
    rng = np.random.default_rng(1)
    gt, dets = synthetic.coco_like(30, iou_type="segm", seed=3)
    gt, dets = _with_polygons(gt, dets, rng)
    # pycocotools' loadRes reads a result's area from an RLE only: results keep theirs,
    # and the dataset form (areas given) carries the polygon detections
    dt = {**gt, "annotations": [{**d, "id": k + 1, "area": 100.0 + k % 5000} for k, d in enumerate(dets)]}
    before = copy.deepcopy((gt, dt))
    from test_coco import _coco_object, _pycocotools, _quiet
    cocoeval = _pycocotools()
    with _quiet():
        ref = cocoeval.COCOeval(_coco_object(gt), _coco_object(dt), "segm")
        ref.evaluate(); ref.accumulate(); ref.summarize()
    for backend in ("numba", "cython"):
        with _quiet():
            E = coco.COCOeval(gt, dt, "segm", backend=backend)
            E.evaluate(); E.accumulate(); E.summarize()
        for key in ("precision", "recall", "scores"):
            assert np.array_equal(E.eval[key], ref.eval[key]), key
        assert np.array_equal(E.stats, ref.stats)
    assert (gt, dt) == before  # nothing of the caller's changed


def test_polygon_ground_truth_with_rle_results():
    gt, dets = synthetic.coco_like(20, iou_type="segm", seed=4)
    gt, _ = _with_polygons(gt, dets, np.random.default_rng(2))
    assert_same(gt, dets, "segm")


@pytest.mark.parametrize("segm, message", [
    ([], "non-empty list of polygons"),
    ([[1, 2, 3]], "more than four numbers"),
    ([[1, 2, 3, 4], [1, 2, 3, 4, 5, 6]], "more than four numbers"),  # pycocotools: a box, and a TypeError
    ([[1, 2, 3, 4, 5, 6], [1]], r"at least \[x, y\]"),
    ([[1, 2, 3, float("nan"), 5, 6]], "not finite"),
    ([[1, 2, 3, 1e9, 5, 6]], "beyond"),
    ([[1, 2, [3], 4, 5, 6]], "lists of numbers"),
    ([["a", 2, 3, 4, 5, 6]], "lists of numbers"),
    ([[0, 0, 1e7, 0, 1e7, 1e7]], "boundary points"),
    ("abc", "COCO RLE dict or a list of polygons"),
])
def test_bad_polygons_are_named(segm, message):
    gt, dets = synthetic.coco_like(3, iou_type="segm", seed=0)
    gt["annotations"][2]["segmentation"] = segm
    with pytest.raises(ValueError, match=message) as info:
        run_fastiou(gt, dets, "segm")
    assert "cocoGt['annotations'][2]" in str(info.value)
