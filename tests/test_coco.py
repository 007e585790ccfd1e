"""fastiou.coco.COCOeval against pycocotools: identical stats, precision, recall and scores.

Each rule of pycocotools' evaluation has a small dataset built to hit it; generated
COCO-like sets and hypothesis datasets cover the rules together.  Parity tests skip
when pycocotools (the ``compare`` extra) is not installed; the bad-input tests do not
need it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastiou import coco, synthetic
from fastiou.backends import numba_cpu_coco


def _pycocotools():
    return pytest.importorskip("pycocotools.cocoeval",
                               reason="pycocotools (the 'compare' extra) is the reference")


def _quiet():
    return contextlib.redirect_stdout(io.StringIO())


def _coco_object(dataset):
    from pycocotools.coco import COCO

    with _quiet():
        c = COCO()
        c.dataset = copy.deepcopy(dataset)
        c.createIndex()
    return c


def run_pycocotools(gt, dets, iou_type="bbox", setup=None):
    cocoeval = _pycocotools()
    G = _coco_object(gt)
    with _quiet():
        D = G.loadRes(copy.deepcopy(dets)) if len(dets) else _coco_object({**gt, "annotations": []})
        E = cocoeval.COCOeval(G, D, iou_type)
        if setup:
            setup(E.params)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def run_fastiou(gt, dets, iou_type="bbox", setup=None, backend="auto"):
    with _quiet():
        E = coco.COCOeval(gt, dets, iou_type, backend=backend)
        if setup:
            setup(E.params)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def assert_same(gt, dets, iou_type="bbox", setup=None, backend="auto"):
    ref = run_pycocotools(gt, dets, iou_type, setup)
    got = run_fastiou(gt, dets, iou_type, setup, backend)
    for key in ("precision", "recall", "scores"):
        assert got.eval[key].shape == ref.eval[key].shape, key
        assert np.array_equal(got.eval[key], ref.eval[key]), key
    assert np.array_equal(got.stats, ref.stats)
    return got


# --- small hand-made datasets ----------------------------------------------------

def dataset(gts, n_images=1, n_cats=1, size=(100, 100)):
    """A COCO dict: ``gts`` are (image_id, category_id, [x, y, w, h], extra dict)."""
    images = [{"id": i + 1, "height": size[0], "width": size[1]} for i in range(n_images)]
    cats = [{"id": c + 1, "name": f"c{c + 1}"} for c in range(n_cats)]
    anns = []
    for k, (img, cat, box, *extra) in enumerate(gts):
        ann = {"id": k + 1, "image_id": img, "category_id": cat, "bbox": list(map(float, box)),
               "area": float(box[2] * box[3]), "iscrowd": 0}
        if extra:
            ann.update(extra[0])
        anns.append(ann)
    return {"images": images, "categories": cats, "annotations": anns}


def det(img, cat, box, score):
    return {"image_id": img, "category_id": cat, "bbox": list(map(float, box)), "score": score}


#: A precision of 1 as pycocotools computes it: tp / (tp + fp + np.spacing(1)).
ONE = pytest.approx(1.0, abs=1e-12)


def ap(E, t=0, a=0, m=-1, k=0):
    """Precision at every recall point of threshold t, category k, area a, maxDets m."""
    return E.eval["precision"][t, :, k, a, m]


def test_score_ties_keep_input_order():
    # two detections of equal score, only the second overlaps: input order decides the AP
    gt = dataset([(1, 1, [0, 0, 10, 10])])
    miss, hit = det(1, 1, [50, 50, 10, 10], 0.5), det(1, 1, [0, 0, 10, 10], 0.5)
    first = assert_same(gt, [hit, miss])
    second = assert_same(gt, [miss, hit])
    assert ap(first)[0] == ONE and ap(second)[0] == pytest.approx(0.5, abs=1e-12)


def test_score_ties_across_images_keep_image_order():
    gt = dataset([(1, 1, [0, 0, 10, 10]), (2, 1, [0, 0, 10, 10])], n_images=2)
    dets = [det(2, 1, [0, 0, 10, 10], 0.7), det(1, 1, [60, 60, 5, 5], 0.7), det(1, 1, [0, 0, 10, 10], 0.3)]
    assert_same(gt, dets)


def test_max_dets_cut_after_sorting():
    gt = dataset([(1, 1, [0, 0, 10, 10])])
    dets = [det(1, 1, [50, 50, 5, 5], 0.1 + 0.01 * i) for i in range(12)] + [det(1, 1, [0, 0, 10, 10], 0.9)]
    E = assert_same(gt, dets)
    assert E.eval["recall"][0, 0, 0, 0] == 1.0  # maxDets=1 keeps the best, the last in the input


def test_threshold_equality_and_cap():
    # IoU exactly 0.5 matches at 0.5; identical boxes match at 0.95 (threshold capped at 1 - 1e-10)
    gt = dataset([(1, 1, [0, 0, 10, 10]), (1, 1, [40, 40, 10, 10])])
    dets = [det(1, 1, [0, 0, 10, 20], 0.9), det(1, 1, [40, 40, 10, 10], 0.8)]
    E = assert_same(gt, dets, setup=lambda p: setattr(p, "iouThrs", np.array([0.5, 0.95, 1.0])))
    assert list(E.eval["recall"][:, 0, 0, -1]) == [1.0, 0.5, 0.5]


def test_linspace_thresholds_are_pycocotools():
    p = coco.Params("bbox")
    assert np.array_equal(p.iouThrs, np.linspace(.5, 0.95, 10, endpoint=True))
    assert np.array_equal(p.recThrs, np.linspace(.0, 1.00, 101, endpoint=True))
    # other constructions differ by an ulp somewhere
    assert not np.array_equal(p.iouThrs, np.arange(.5, .951, .05))
    assert not np.array_equal(p.recThrs, np.arange(101) / 100)


def test_ignore_is_overwritten_by_iscrowd():
    gt = dataset([(1, 1, [0, 0, 10, 10], {"ignore": 1}),
                  (1, 1, [40, 40, 10, 10], {"iscrowd": 1, "ignore": 0})])
    dets = [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 1, [40, 40, 10, 10], 0.8)]
    E = assert_same(gt, dets)
    assert E.eval["recall"][0, 0, 0, -1] == 1.0  # the 'ignore': 1 object still counts


def test_gt_area_field_and_inclusive_ranges():
    # box areas disagree with the 'area' fields; 32**2 is both small and medium
    gt = dataset([(1, 1, [0, 0, 50, 50], {"area": 32.0 ** 2}), (1, 1, [60, 60, 5, 5], {"area": 96.0 ** 2}),
                  (1, 1, [0, 60, 20, 20], {"area": 96.0 ** 2 + 1})])
    dets = [det(1, 1, [0, 0, 50, 50], 0.9), det(1, 1, [60, 60, 5, 5], 0.8), det(1, 1, [0, 60, 20, 20], 0.7),
            det(1, 1, [80, 0, 32, 32], 0.6), det(1, 1, [80, 40, 31.9, 32], 0.5)]
    E = assert_same(gt, dets)
    assert E.eval["recall"][0, 0, 1:, -1].tolist() == [1.0, 1.0, 1.0]


def test_regular_gt_beats_crowd_at_lower_iou():
    gt = dataset([(1, 1, [0, 0, 10, 10], {"iscrowd": 1}), (1, 1, [0, 0, 10, 6])])
    dets = [det(1, 1, [0, 0, 10, 10], 0.9)]
    E = assert_same(gt, dets)
    assert E.eval["recall"][0, 0, 0, -1] == 1.0


def test_equal_iou_goes_to_later_gt():
    # two equal boxes, one detection: it takes the later one.  pycocotools counts a
    # match to a ground truth of id 0 as no match, which shows which one it took.
    boxes = [(1, 1, [0, 0, 20, 20], {"id": 0}), (1, 1, [0, 0, 20, 20], {"id": 5})]
    dets = [det(1, 1, [0, 0, 20, 20], 0.9)]
    later_is_5 = assert_same(dataset(boxes), dets)
    later_is_0 = assert_same(dataset(boxes[::-1]), dets)
    assert later_is_5.eval["recall"][0, 0, 0, -1] == 0.5 and later_is_0.eval["recall"][0, 0, 0, -1] == 0.0


def test_crowd_absorbs_many_detections_as_neither_tp_nor_fp():
    gt = dataset([(1, 1, [0, 0, 50, 50], {"iscrowd": 1}), (1, 1, [70, 70, 10, 10])])
    dets = [det(1, 1, [5 * i, 5 * i, 10, 10], 0.9 - 0.01 * i) for i in range(4)] + \
        [det(1, 1, [70, 70, 10, 10], 0.5)]
    E = assert_same(gt, dets)
    assert ap(E).max() == ONE and ap(E)[-1] == ONE  # the crowd's detections are not false positives


def test_crowd_overlap_is_over_detection_area():
    # the detection lies inside the crowd: IoU 0.04, intersection / detection area 1
    gt = dataset([(1, 1, [0, 0, 50, 50], {"iscrowd": 1}), (1, 1, [70, 70, 10, 10])])
    dets = [det(1, 1, [10, 10, 10, 10], 0.9), det(1, 1, [70, 70, 10, 10], 0.5)]
    E = assert_same(gt, dets)
    assert ap(E)[0] == ONE


def test_unmatched_detections_outside_area_range_are_ignored():
    gt = dataset([(1, 1, [0, 0, 10, 10])])
    dets = [det(1, 1, [50, 0, 40, 40], 0.9), det(1, 1, [0, 0, 10, 10], 0.5)]
    E = assert_same(gt, dets)
    assert ap(E, a=1)[0] == ONE and ap(E, a=0)[0] == pytest.approx(0.5, abs=1e-12)


def test_unreachable_recall_and_category_without_gt():
    gt = dataset([(1, 1, [0, 0, 10, 10]), (1, 1, [30, 30, 10, 10])], n_cats=3)
    dets = [det(1, 1, [0, 0, 10, 10], 0.9), det(1, 2, [0, 0, 10, 10], 0.9)]
    E = assert_same(gt, dets)
    assert ap(E)[50] == ONE and ap(E)[51] == 0.0  # recall above 0.5 unreachable
    assert (E.eval["precision"][:, :, 1:] == -1).all() and (E.eval["recall"][:, 1:] == -1).all()


def test_stats0_at_100_whatever_max_dets():
    gt, dets = synthetic.coco_like(8, n_categories=5, seed=2)
    E = assert_same(gt, dets, setup=lambda p: setattr(p, "maxDets", [1, 10, 50]))
    assert E.stats[0] == -1 and E.stats[1] > 0


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
@pytest.mark.parametrize("seed", [0, 1])
def test_coco_like(iou_type, seed):
    gt, dets = synthetic.coco_like(25, n_categories=6, iou_type=iou_type, seed=seed,
                                   image_size=(200, 260) if iou_type == "segm" else None)
    E = assert_same(gt, dets, iou_type)
    assert (E.eval["precision"] > 0).any()


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_use_cats_0(iou_type):
    gt, dets = synthetic.coco_like(12, n_categories=4, iou_type=iou_type, seed=5)
    assert_same(gt, dets, iou_type, setup=lambda p: setattr(p, "useCats", 0))


def test_custom_params():
    gt, dets = synthetic.coco_like(15, n_categories=5, seed=7)

    def setup(p):
        p.iouThrs = np.array([0.3, 0.55, 0.9])
        p.maxDets = [3, 30, 7]  # sorted by evaluate, as pycocotools
        p.areaRng = [[0, 1e10], [100, 2000], [2000, 1e10]]
        p.areaRngLbl = ["all", "small", "large"]
        p.recThrs = np.linspace(0, 1, 11)
    assert_same(gt, dets, setup=setup)


@pytest.mark.parametrize("rec_thrs", [[0.5, 0.0, 1.0, 0.25], [-0.5, 0.0, 0.3, 2.0, 0.1], [0.2, np.nan, 0.4]],
                         ids=["unsorted", "outside [0, 1]", "nan"])
def test_recall_points_in_any_order(backend, rec_thrs):
    # pycocotools reads each recall point in order and stops at the first one that
    # no detection reaches: later reachable points stay 0
    gt, dets = synthetic.coco_like(15, n_categories=5, seed=7)
    assert_same(gt, dets, setup=lambda p: setattr(p, "recThrs", np.array(rec_thrs)), backend=backend)


@pytest.mark.parametrize("shift", [10**12, -1000], ids=["large ids", "negative ids"])
def test_ids_far_from_zero(shift):
    # ids are looked up through a table when small, by binary search otherwise
    gt, dets = synthetic.coco_like(10, n_categories=4, seed=6)
    for record in gt["images"] + gt["categories"]:
        record["id"] += shift
    for record in gt["annotations"] + dets:
        record["image_id"] += shift
        record["category_id"] += shift
    assert_same(gt, dets, setup=lambda p: setattr(p, "imgIds", sorted(p.imgIds)[1:]))


def test_segm_images_of_several_sizes():
    # masks are decoded per image size and each size's groups overlap in one call
    parts = [synthetic.coco_like(6, n_categories=3, iou_type="segm", image_size=size, seed=k)
             for k, size in enumerate([(120, 160), (90, 200), (120, 160)])]
    gt = {"images": [], "annotations": [], "categories": parts[0][0]["categories"]}
    dets = []
    for k, (g, d) in enumerate(parts):
        for img in g["images"]:
            gt["images"].append({**img, "id": img["id"] + 100 * k})
        for ann in g["annotations"]:
            gt["annotations"].append({**ann, "id": ann["id"] + 10_000 * k, "image_id": ann["image_id"] + 100 * k})
        dets += [{**det, "image_id": det["image_id"] + 100 * k} for det in d]
    assert_same(gt, dets, "segm")
    # COCO objects, evaluated again on other image subsets: the same results
    G = coco.COCO(gt)
    D = G.loadRes(dets)
    for subset in (None, [1, 2, 102, 203], [203, 3], None):
        def setup(p, subset=subset):
            if subset is not None:
                p.imgIds = subset
        ref = run_pycocotools(gt, dets, "segm", setup)
        got = run_fastiou(G, D, "segm", setup)
        assert np.array_equal(got.eval["precision"], ref.eval["precision"])
        assert np.array_equal(got.stats, ref.stats)


def test_img_ids_subset_and_cat_ids_subset():
    gt, dets = synthetic.coco_like(15, n_categories=5, seed=8)

    def setup(p):
        p.imgIds = [9, 3, 4, 4, 12]
        p.catIds = [2, 5]
    E = assert_same(gt, dets, setup=setup)
    assert E.eval["precision"].shape[2] == 2


def test_empty_images_crowd_only_and_no_detections():
    gt = dataset([(1, 1, [0, 0, 10, 10], {"iscrowd": 1}), (2, 1, [0, 0, 10, 10]), (2, 2, [5, 5, 10, 10])],
                 n_images=4, n_cats=3)
    dets = [det(1, 1, [0, 0, 10, 10], 0.9), det(2, 1, [0, 0, 10, 10], 0.8), det(3, 3, [0, 0, 5, 5], 0.7)]
    assert_same(gt, dets)
    E = assert_same(gt, [])
    assert (E.eval["precision"][:, :, :2, :2] == 0).all() and (E.eval["precision"][:, :, 2] == -1).all()


def test_empty_ground_truth():
    gt = dataset([], n_images=2, n_cats=2)
    E = assert_same(gt, [det(1, 1, [0, 0, 10, 10], 0.9)])
    assert (E.stats == -1).all()


boxes_st = st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(1, 8), st.integers(1, 8))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gts=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 2), boxes_st, st.booleans(),
                              st.sampled_from([4.0, 16.0, 40.0])), max_size=12),
       dts=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 2), boxes_st,
                              st.sampled_from([0.1, 0.5, 0.5, 0.9])), max_size=25),
       max_dets=st.sampled_from([[1, 2, 100], [1, 10, 100]]))
def test_hypothesis_bbox(gts, dts, max_dets):
    gt = dataset([(i, c, b, {"iscrowd": int(crowd), "area": area}) for i, c, b, crowd, area in gts],
                 n_images=3, n_cats=2)
    dets = [det(i, c, b, s) for i, c, b, s in dts]

    def setup(p):
        p.maxDets = max_dets
        p.areaRng = [[0, 1e10], [0, 16], [16, 40], [40, 1e10]]
    assert_same(gt, dets, setup=setup)


# --- inputs ----------------------------------------------------------------------

def test_input_forms(tmp_path):
    gt, dets = synthetic.coco_like(10, n_categories=4, seed=9)
    ref = run_pycocotools(gt, dets)
    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(dets))
    G = _coco_object(gt)
    with _quiet():
        loaded = G.loadRes(copy.deepcopy(dets))
    array = np.array([[d["image_id"], *d["bbox"], d["score"], d["category_id"]] for d in dets])
    for g, d in [(str(gt_path), str(dt_path)), (G, loaded), (gt, array), (gt_path, dets)]:
        with _quiet():
            E = coco.COCOeval(g, d, "bbox")
            E.evaluate()
            E.accumulate()
            E.summarize()
        assert np.array_equal(E.eval["precision"], ref.eval["precision"])
        assert np.array_equal(E.stats, ref.stats)


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_inputs_not_modified(iou_type):
    gt, dets = synthetic.coco_like(6, n_categories=3, iou_type=iou_type, seed=4)
    gt_before, dets_before = copy.deepcopy(gt), copy.deepcopy(dets)
    run_fastiou(gt, dets, iou_type)
    assert gt == gt_before and dets == dets_before
    array = np.array([[1, 0, 0, 5, 5, 0.5, 1]], np.float64)
    before = array.copy()
    run_fastiou(gt, array, "bbox")
    assert np.array_equal(array, before)


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_backends_serial_and_parallel_identical(backend, force_parallel, iou_type):
    gt, dets = synthetic.coco_like(20, n_categories=5, iou_type=iou_type, seed=11)
    gt["annotations"][0]["iscrowd"] = 1
    ref = run_fastiou(gt, dets, iou_type)
    with _quiet():
        E = coco.COCOeval(gt, dets, iou_type, backend=backend)
        E.evaluate()
        E.accumulate()
    for key in ("precision", "recall", "scores"):
        assert np.array_equal(E.eval[key], ref.eval[key]), key
    for a, b in zip(E.evalImgs, ref.evalImgs):
        assert (a is None and b is None) or np.array_equal(a["dtMatches"], b["dtMatches"])


def test_bad_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        coco.COCOeval(None, None, "bbox", backend="cuda")


def test_numpy_summation_order():
    rng = np.random.default_rng(0)
    for n in range(1, 60):
        x = np.exp(-rng.exponential(3, n))
        assert numba_cpu_coco.numpy_sum(x) == np.sum(x)


def _cython_coco():
    pytest.importorskip("fastiou._cy_coco", reason="the compiled module is not built")
    from fastiou.backends import cython_coco

    return cython_coco


@pytest.mark.parametrize("per_group", [1, 3])
def test_cython_grouping_equals_numba(per_group):
    # the same arrays, dtypes and order: groups of up to 16 take the insertion sort,
    # bigger ones the sort by (-score, place); few distinct scores make many ties
    cython_coco = _cython_coco()
    rng = np.random.default_rng(per_group)
    for n, n_groups in [(0, 0), (0, 3), (7, 1), (60, 4), (500, 3), (2000, 9)]:
        n_keys = n_groups * per_group
        key = rng.integers(0, n_keys, n) if n else np.zeros(0, np.int64)
        score = rng.integers(0, 4, n) / 4.0
        score[rng.random(n) < 0.1] = -0.0  # equal to 0.0
        ref, got = numba_cpu_coco.group_by(key, n_keys), cython_coco.group_by(key, n_keys)
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(got, ref))
        for scores, max_per_group in [(np.zeros(0), n), (score, 0), (score, 1), (score, 20), (score, n + 1)]:
            ref = numba_cpu_coco.group_order(key, n_keys, per_group, scores, max_per_group)
            got = cython_coco.group_order(key, n_keys, per_group, scores, max_per_group)
            for a, b in zip(got, ref):
                assert a.dtype == b.dtype and np.array_equal(a, b), (n, n_groups, max_per_group)


def _box_columns(boxes):
    # as COCOeval._box_overlaps: x, y, x + w, y + h, w * h
    cols = np.zeros((8, len(boxes)))
    cols[0], cols[1] = boxes[:, 0], boxes[:, 1]
    cols[2], cols[3] = boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]
    cols[4] = boxes[:, 2] * boxes[:, 3]
    return cols


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_cython_box_overlaps_equal_numba_bitwise(parallel):
    cython_coco = _cython_coco()
    rng = np.random.default_rng(4)
    for n_groups in [0, 1, 40]:
        n_d = rng.choice([0, 1, 5, 30], n_groups).astype(np.intp)
        n_g = rng.choice([0, 1, 3, 20], n_groups).astype(np.intp)
        d_start = (np.cumsum(n_d) - n_d).astype(np.intp)
        g_start = (np.cumsum(n_g) - n_g).astype(np.intp)
        sizes = n_d * n_g
        offsets = (np.cumsum(sizes) - sizes).astype(np.int64)
        paired, paired_start = coco._paired(d_start, n_d, n_g)
        gboxes = np.round(rng.uniform(0, 30, (int(n_g.sum()), 4)), 1)
        gboxes[::7, 2] = 0  # zero area
        dboxes = np.round(rng.uniform(0, 30, (int(n_d.sum()), 4)), 1)
        dboxes[::5] = gboxes[0] if len(gboxes) else 0  # identical boxes: 1 exactly
        crowd = (rng.random(len(gboxes)) < 0.3).astype(np.uint8)
        args = (_box_columns(dboxes[paired]), _box_columns(gboxes), crowd, paired_start, n_d, g_start, n_g,
                offsets)
        ref, got = np.full(int(sizes.sum()), np.nan), np.full(int(sizes.sum()), np.nan)
        numba_cpu_coco.box_overlaps(*args, ref, parallel)
        cython_coco.box_overlaps(*args, got, parallel)
        assert np.array_equal(got.view(np.uint64), ref.view(np.uint64))


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_cython_oks_kernels_equal_numba_bitwise(parallel):
    cython_coco = _cython_coco()
    rng = np.random.default_rng(5)
    n_d = np.array([0, 3, 1, 6], np.intp)
    n_g = np.array([2, 0, 4, 3], np.intp)
    d_start, g_start = (np.cumsum(n_d) - n_d).astype(np.intp), (np.cumsum(n_g) - n_g).astype(np.intp)
    sizes = n_d * n_g
    offsets = (np.cumsum(sizes) - sizes).astype(np.int64)
    total, nk = int(sizes.sum()), 17
    dkp = rng.uniform(0, 100, (int(n_d.sum()), 3 * nk))
    gkp = rng.uniform(0, 100, (int(n_g.sum()), 3 * nk))
    gkp[:, 2::3] = rng.integers(0, 3, (len(gkp), nk))
    gkp[1, 2::3] = 0  # no visible keypoint: distances to the box
    gvis = np.count_nonzero(gkp[:, 2::3] > 0, axis=1).astype(np.intp)
    gbox = rng.uniform(0, 50, (len(gkp), 4))
    garea = rng.uniform(1, 2500, len(gkp))
    variances = (np.asarray(coco.Params("keypoints").kpt_oks_sigmas) * 2) ** 2
    outs = []
    for module in (numba_cpu_coco, cython_coco):
        exps = np.zeros((total, nk))
        module.oks_exponents(dkp, gkp, gvis, gbox, garea, variances, d_start, n_d, g_start, n_g, offsets, exps,
                             parallel)
        np.exp(exps, out=exps)
        out = np.full(total, np.nan)
        group = np.repeat(np.arange(len(offsets)), sizes)
        local = np.arange(total) - offsets[group]
        counts = np.where(gvis > 0, gvis, nk)[g_start[group] + local % n_g[group]]
        module.oks_sums(exps, counts, out, parallel)
        outs.append((exps, out))
    assert np.array_equal(outs[0][0].view(np.uint64), outs[1][0].view(np.uint64))
    assert np.array_equal(outs[0][1].view(np.uint64), outs[1][1].view(np.uint64))


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_cython_mask_groups_equal_numba_bitwise(parallel):
    import fastiou
    from fastiou._mask_formulas import IOU
    from fastiou.backends import numba_cpu_masks
    from fastiou.masks import _decode_rles

    cython_masks = pytest.importorskip("fastiou.backends.cython_masks", reason="the Cython backend is not built")
    rng = np.random.default_rng(6)
    dense = (rng.random((30, 24, 20)) < 0.3).astype(np.uint8)
    dense[::4] = 0
    dense[1::4, 5:15, 4:12] = 1  # simple masks beside scattered ones
    counts = [rle["counts"] for rle in fastiou.rle_encode(dense)]
    n1, n2 = np.array([3, 0, 5, 2], np.intp), np.array([4, 2, 0, 6], np.intp)
    first1, first2 = np.array([0, 3, 3, 8], np.intp), np.array([10, 14, 16, 16], np.intp)
    sizes = n1 * n2
    offsets = (np.cumsum(sizes) - sizes).astype(np.int64)
    crowd = (rng.random(30) < 0.3).astype(np.uint8)
    outs = []
    for module in (numba_cpu_masks, cython_masks):
        runs = _decode_rles(module, counts, 24, 20, "m", False, parallel)
        out = np.full(int(sizes.sum()), np.nan)
        module.rle_groups(IOU, *runs, *runs, crowd, first1, first2, n1, n2, first2, offsets, out, parallel)
        outs.append(out)
    assert np.array_equal(outs[0].view(np.uint64), outs[1].view(np.uint64))


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
def test_cython_evaluation_imports_no_numba(iou_type, tmp_path):
    # backend='cython' (and 'auto') evaluates with no Numba at all (serially and in
    # parallel: the thread count too), and gives Numba's results
    _cython_coco()
    gt, dets = synthetic.coco_like(30, n_categories=5, iou_type=iou_type, seed=2)  # (masks: Numba's encoder)
    gt["annotations"][0]["iscrowd"] = 1
    (tmp_path / "data.json").write_text(json.dumps([gt, dets]))
    code = f"""if True:
        import contextlib, io, json, sys
        import numpy as np
        from fastiou import backends, coco

        gt, dets = json.load(open({str(tmp_path / "data.json")!r}))

        def run(backend):
            with contextlib.redirect_stdout(io.StringIO()):
                E = coco.COCOeval(gt, dets, {iou_type!r}, backend=backend)
                E.evaluate()
                E.accumulate()
                E.summarize()
            return E

        got = [run("cython"), run("auto")]
        backends.FORCE_PARALLEL = True
        got.append(run("cython"))
        assert "numba" not in sys.modules, sorted(m for m in sys.modules if m.startswith("numba"))
        backends.FORCE_PARALLEL = None
        ref = run("numba")
        for E in got:
            assert np.array_equal(E.stats, ref.stats)
            for key in ("precision", "recall", "scores"):
                assert np.array_equal(E.eval[key], ref.eval[key]), key
        print("ok")
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _bad(gt, dets, iou_type="bbox"):
    with _quiet():
        E = coco.COCOeval(gt, dets, iou_type)
        E.evaluate()


@pytest.mark.parametrize("change, match", [
    (lambda d: d[1].update(image_id=99), r"cocoDt\[1\].*'image_id' 99"),
    (lambda d: d[2].update(category_id=7), r"cocoDt\[2\].*'category_id' 7"),
    (lambda d: d[1].update(score=float("nan")), r"cocoDt\[1\].*'score' is not finite"),
    (lambda d: d[2].update(bbox=[0, 0, float("inf"), 1]), r"cocoDt\[2\].*'bbox' is not finite"),
    (lambda d: d[1].update(bbox=[0, 0, -1, 1]), r"cocoDt\[1\].*negative width"),
    (lambda d: d[2].pop("score"), r"cocoDt\[2\] has no 'score'"),
    (lambda d: d[1].update(bbox=[0, 0, 1]), r"cocoDt\[1\].*'bbox' must be 4 numbers"),
    # ids that NumPy cannot make one array of: the record is named, not a TypeError raised
    (lambda d: d[1].update(image_id=[1, 2]), r"cocoDt\[1\].*'image_id' must be an integer, got \[1, 2\]"),
])
def test_bad_detections(change, match):
    gt = dataset([(1, 1, [0, 0, 10, 10])], n_images=2)
    dets = [det(1, 1, [0, 0, 10, 10], 0.9), det(2, 1, [0, 0, 5, 5], 0.5), det(1, 1, [3, 3, 5, 5], 0.4)]
    change(dets)
    with pytest.raises(ValueError, match=match):
        _bad(gt, dets)


@pytest.mark.parametrize("iou_type", ["bbox", "keypoints"])
def test_one_pass_reading_equals_the_checked_path(monkeypatch, iou_type):
    # the compiled pass over the records (fastiou._cy_coco.record_columns) and the
    # field-by-field path give the same arrays; records it cannot read (a NumPy
    # score, a tuple box, a bool id) leave every field to the checked path
    pytest.importorskip("fastiou._cy_coco", reason="the compiled module is not built")
    from fastiou import _coco_input

    gt, dets = synthetic.coco_like(30, n_categories=6, iou_type=iou_type, seed=9)
    loaded = run_pycocotools(gt, dets, iou_type).cocoDt
    tupled = copy.deepcopy(dets)
    for d in tupled:
        if "bbox" in d:
            d["bbox"] = tuple(d["bbox"])
    odd = copy.deepcopy(dets)
    odd[5]["score"] = np.float32(odd[5]["score"])
    n_kp = 17 if iou_type == "keypoints" else 0

    def tables():
        g, info = _coco_input.ground_truth(gt, iou_type, n_kp)
        return [g] + [_coco_input.detections(x, iou_type, n_kp, info) for x in (dets, loaded, tupled, odd)]

    fast = tables()
    monkeypatch.setattr(_coco_input._Records, "prefetch", lambda self, widths: None)
    slow = tables()
    for a, b in zip(fast, slow):
        assert sorted(vars(a)) == sorted(vars(b))
        for key, value in vars(a).items():
            if isinstance(value, np.ndarray):
                assert value.dtype == vars(b)[key].dtype and np.array_equal(value, vars(b)[key]), key
    from fastiou._cy_coco import record_columns
    assert record_columns(dets, ("image_id", "score"), (0, 1)) is not None
    assert record_columns(odd, ("image_id", "score"), (0, 1)) is None
    assert record_columns([{"id": True}], ("id",), (0,)) is None
    assert record_columns([{"id": 2 ** 70}], ("id",), (0,)) is None


def test_loaded_coco_objects_read_once(tmp_path):
    # fastiou.coco.COCO keeps what evaluation read of it: later evaluations, with
    # other parameters, give what a fresh evaluation gives; nothing is modified
    gt, dets = synthetic.coco_like(15, n_categories=5, seed=3)
    gt_before, dets_before = copy.deepcopy(gt), copy.deepcopy(dets)
    G = coco.COCO(gt)
    D = G.loadRes(dets)
    assert G.getImgIds() == [img["id"] for img in gt["images"]] and G.getCatIds() == [1, 2, 3, 4, 5]
    first = run_fastiou(G, D)
    assert_same(gt, dets)  # the plain dicts equal pycocotools
    assert np.array_equal(first.stats, run_fastiou(gt, dets).stats)
    setup = lambda p: setattr(p, "iouThrs", np.array([0.3, 0.6]))  # noqa: E731
    again = run_fastiou(G, D, setup=setup)
    assert np.array_equal(again.eval["precision"], run_fastiou(gt, dets, setup=setup).eval["precision"])
    assert gt == gt_before and dets == dets_before
    read = [v for v in vars(next(iter(D._read.values()))[1]).values() if isinstance(v, np.ndarray)]
    assert read and not any(v.flags.writeable for v in read)
    # results from a JSON file and from an (N, 7) array
    path = tmp_path / "dt.json"
    path.write_text(json.dumps(dets))
    assert np.array_equal(run_fastiou(G, G.loadRes(str(path))).stats, first.stats)
    array = np.array([[d["image_id"], *d["bbox"], d["score"], d["category_id"]] for d in dets])
    assert np.array_equal(run_fastiou(G, G.loadRes(array)).stats, first.stats)
    # results read against one ground truth are checked again against another
    fewer = copy.deepcopy(gt)
    fewer["images"] = fewer["images"][1:]
    with pytest.raises(ValueError, match="is not an image of the ground truth"):
        run_fastiou(coco.COCO(fewer), D)
    with pytest.raises(TypeError, match="resFile must be"):
        G.loadRes(42)


def test_bad_ground_truth():
    gt = dataset([(1, 1, [0, 0, 10, 10]), (1, 1, [0, 0, 10, 10])])
    del gt["annotations"][1]["iscrowd"]
    with pytest.raises(ValueError, match=r"cocoGt\['annotations'\]\[1\] \(id 2\) has no 'iscrowd'"):
        _bad(gt, [])
    with pytest.raises(TypeError, match="cocoGt must be"):
        _bad(42, [])


def test_bad_masks_and_keypoints():
    gt, dets = synthetic.coco_like(3, n_categories=2, iou_type="segm", seed=1)
    dets = copy.deepcopy(dets)
    dets[1]["segmentation"]["size"] = [10, 10]
    with pytest.raises(ValueError, match=r"cocoDt\[1\].*mask size \[10, 10\] differs"):
        _bad(gt, dets, "segm")
    # a size given as an array is compared by value, not taken for a mismatch nor an error
    dets[1]["segmentation"]["size"] = np.array(gt["annotations"][0]["segmentation"]["size"])
    listed = copy.deepcopy(dets)
    listed[1]["segmentation"]["size"] = listed[1]["segmentation"]["size"].tolist()
    assert np.array_equal(run_fastiou(gt, dets, "segm").stats, run_fastiou(gt, listed, "segm").stats)
    dets[1]["segmentation"]["size"] = np.array([10, 10])
    with pytest.raises(ValueError, match=r"cocoDt\[1\].*mask size .* differs"):
        _bad(gt, dets, "segm")
    gt, dets = synthetic.coco_like(3, iou_type="keypoints", seed=1)
    dets = copy.deepcopy(dets)
    dets[2]["keypoints"] = dets[2]["keypoints"][:-3]
    with pytest.raises(ValueError, match=r"cocoDt\[2\].*'keypoints' must be 51 numbers"):
        _bad(gt, dets, "keypoints")


def test_order_of_calls():
    gt, dets = synthetic.coco_like(3, seed=1)
    E = coco.COCOeval(gt, dets, "bbox")
    with pytest.raises(ValueError, match="evaluate"):
        E.accumulate()
    with pytest.raises(ValueError, match="iouType"):
        coco.COCOeval(gt, dets, "boxes")


@pytest.mark.parametrize("use_cats", [1, 0])
def test_eval_imgs(use_cats):
    gt, dets = synthetic.coco_like(6, n_categories=3, seed=12)
    gt["annotations"][0]["iscrowd"] = 1
    setup = lambda p: setattr(p, "useCats", use_cats)  # noqa: E731
    ref, got = run_pycocotools(gt, dets, setup=setup), run_fastiou(gt, dets, setup=setup)
    assert len(got.evalImgs) == len(ref.evalImgs)
    for a, b in zip(ref.evalImgs, got.evalImgs):
        assert (a is None) == (b is None)
        if a is None:
            continue
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], np.ndarray):
                assert np.array_equal(np.asarray(a[key], float), np.asarray(b[key], float)), key
            else:
                assert list(np.ravel(a[key])) == list(np.ravel(b[key])), key


def test_segm_crowd_overlap_and_loaded_results():
    # a detection mask inside a crowd mask: intersection over the detection's area is 1
    from fastiou import rle_encode

    def rle(y0, y1, x0, x1):
        m = np.zeros((40, 40), bool)
        m[y0:y1, x0:x1] = True
        r = rle_encode(m)
        return {"size": r["size"], "counts": r["counts"].decode()}

    gt = {"images": [{"id": 1, "height": 40, "width": 40}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle(0, 30, 0, 30), "area": 900.0,
               "iscrowd": 1, "bbox": [0, 0, 30, 30]},
              {"id": 2, "image_id": 1, "category_id": 1, "segmentation": rle(32, 40, 32, 40), "area": 64.0,
               "iscrowd": 0, "bbox": [32, 32, 8, 8]}]}
    dets = [{"image_id": 1, "category_id": 1, "segmentation": rle(5, 10, 5, 10), "score": 0.9},
            {"image_id": 1, "category_id": 1, "segmentation": rle(32, 40, 32, 40), "score": 0.5}]
    E = assert_same(gt, dets, "segm")
    assert ap(E)[0] == ONE
    with _quiet():
        loaded = _coco_object(gt).loadRes(copy.deepcopy(dets))
    assert np.array_equal(run_fastiou(gt, loaded, "segm").eval["precision"], E.eval["precision"])


def test_boxes_beyond_float64_give_inf_areas_without_warnings():
    # w * h and x + w overflow to inf, as in pycocotools: no NaN, no RuntimeWarning
    import warnings

    gt, dets = synthetic.coco_like(6, n_categories=2, seed=3)
    dets = copy.deepcopy(dets)
    dets[0]["bbox"] = [1e308, 1e308, 1e308, 1e308]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        E = assert_same(gt, dets)
    assert not np.isnan(E.stats).any()


def test_cli_eval(tmp_path, capsys):
    from fastiou import cli

    gt, dets = synthetic.coco_like(8, n_categories=3, seed=13)
    gt_path, dt_path, out = tmp_path / "gt.json", tmp_path / "dt.json", tmp_path / "stats.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(dets))
    assert cli.main(["eval", str(gt_path), str(dt_path), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("Average Precision") == 6 and printed.count("Average Recall") == 6
    stats = json.loads(out.read_text())["stats"]
    assert list(stats) == coco.STAT_NAMES["bbox"]
    assert list(stats.values()) == run_fastiou(gt, dets).stats.tolist()
    pytest.importorskip("matplotlib", reason="--plot needs the 'plot' extra")
    assert cli.main(["eval", str(gt_path), str(dt_path), "--plot", str(tmp_path / "pr.png")]) == 0
    assert (tmp_path / "pr.png").stat().st_size > 0
    dets[0]["category_id"] = 99
    dt_path.write_text(json.dumps(dets))
    assert cli.main(["eval", str(gt_path), str(dt_path)]) == 2
    assert "'category_id' 99" in capsys.readouterr().err


def test_cli_eval_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    from fastiou import cli

    gt, dets = synthetic.coco_like(4, n_categories=2, seed=1)
    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps({**gt, "annotations": [{**d, "id": k + 1, "area": 10.0}
                                                         for k, d in enumerate(dets)]}))  # a dataset
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli.main(["eval", str(gt_path), str(dt_path)]) == 0
    out, err = capsys.readouterr()
    assert "[" + "#" * 30 + "] 4/4" in err and "accumulating" in err
    assert "Running per image" not in out and out.count("Average Precision") == 6  # the block, after the bar
    assert cli.main(["eval", str(gt_path), str(dt_path), "--no-progress"]) == 0
    assert "#" not in capsys.readouterr().err
    assert cli.main(["eval", str(tmp_path / "none.json"), str(dt_path)]) == 2
    assert "gt: cannot read" in capsys.readouterr().err


def test_accumulate_with_other_rec_thrs_and_refused_changes():
    gt, dets = synthetic.coco_like(8, n_categories=3, seed=14)

    def run(E):
        with _quiet():
            E.evaluate()
            p = copy.deepcopy(E.params)
            p.recThrs = np.linspace(0, 1, 21)
            E.accumulate(p)
        return E.eval["precision"]

    G = _coco_object(gt)
    with _quiet():
        D = G.loadRes(copy.deepcopy(dets))
    ref = run(_pycocotools().COCOeval(G, D, "bbox"))
    assert np.array_equal(run(coco.COCOeval(gt, dets, "bbox")), ref)
    E = coco.COCOeval(gt, dets, "bbox")
    with _quiet():
        E.evaluate()
        p = copy.deepcopy(E.params)
        p.iouThrs = np.array([0.5])
        with pytest.raises(ValueError, match="p.iouThrs differs"):
            E.accumulate(p)


# --- MeanAveragePrecision against torchmetrics --------------------------------------

def _map_batches(seed, n_images=12, n_classes=4, masks=False):
    """Per image: ground truth, jittered copies of it with its labels, and false positives."""
    rng = np.random.default_rng(seed)
    preds, target = [], []
    for _ in range(n_images):
        n_gt, n_fp = int(rng.integers(0, 6)), int(rng.integers(0, 6))

        def boxes(n):
            xy = rng.uniform(0, 150, (n, 2))
            wh = np.exp(rng.uniform(np.log(4), np.log(400), (n, 2)))
            return np.round(np.concatenate([xy, xy + wh], 1), 1)

        gb = boxes(n_gt)
        glabels = rng.integers(0, n_classes, n_gt)
        owner = rng.integers(0, n_gt, 2 * n_gt) if n_gt else np.zeros(0, int)
        copies = gb[owner] + rng.normal(0, 2, (len(owner), 4))
        db = np.concatenate([copies, boxes(n_fp)])
        db = np.concatenate([np.minimum(db[:, :2], db[:, 2:]), np.maximum(db[:, :2], db[:, 2:])], 1)
        t = {"boxes": gb.astype(np.float32), "labels": glabels,
             "iscrowd": (rng.uniform(0, 1, n_gt) < 0.1).astype(np.int64)}
        p = {"boxes": db.astype(np.float32),
             "labels": np.concatenate([glabels[owner], rng.integers(0, n_classes, n_fp)]),
             "scores": np.round(rng.uniform(0, 1, len(db)), 1).astype(np.float32)}
        if masks:
            for d in (t, p):
                m = np.zeros((len(d["boxes"]), 600, 600), bool)
                for k, (x1, y1, x2, y2) in enumerate(np.clip(d["boxes"], 0, 599).astype(int)):
                    m[k, y1:y2 + 1, x1:x2 + 1] = True
                d["masks"] = m
        preds.append(p)
        target.append(t)
    return preds, target


@pytest.mark.parametrize("kwargs", [{}, {"class_metrics": True}, {"average": "micro"},
                                    {"box_format": "cxcywh", "max_detection_thresholds": [1, 5, 20]},
                                    {"iou_type": "segm", "class_metrics": True}])
def test_mean_average_precision_equals_torchmetrics(kwargs):
    torch = pytest.importorskip("torch", reason="torchmetrics is the reference")
    tm_detection = pytest.importorskip("torchmetrics.detection", reason="torchmetrics is the reference")
    _pycocotools()
    segm = kwargs.get("iou_type") == "segm"
    ref = tm_detection.MeanAveragePrecision(**kwargs)
    got = coco.MeanAveragePrecision(**kwargs)
    for seed in range(3):
        preds, target = _map_batches(seed, masks=segm)
        as_torch = lambda items: [{k: torch.from_numpy(np.asarray(v)) for k, v in d.items()  # noqa: E731
                                   if not (segm and k == "boxes")} for d in items]
        ref.update(as_torch(preds), as_torch(target))
        got.update([{k: v for k, v in d.items() if not (segm and k == "boxes")} for d in preds],
                   [{k: v for k, v in d.items() if not (segm and k == "boxes")} for d in target])
    expected, result = ref.compute(), got.compute()
    assert 0.3 < float(result["map_50"]) < 1 and float(result["map_large"]) > 0
    assert set(expected) == set(result)
    for key in expected:
        assert np.array_equal(expected[key].numpy().reshape(-1), np.asarray(result[key]).reshape(-1)), key
    got.reset()
    assert float(got.compute()["map"]) == -1


def test_torch_linspace_thresholds():
    torch = pytest.importorskip("torch", reason="the thresholds are torch.linspace's")
    for args in [(0.5, 0.95, 10), (0.0, 1.0, 101)]:
        assert coco._torch_linspace(*args) == torch.linspace(*args).tolist()


def test_mean_average_precision_bad_input():
    metric = coco.MeanAveragePrecision()
    with pytest.raises(ValueError, match=r"preds\[0\] has no 'scores'"):
        metric.update([{"boxes": np.zeros((1, 4)), "labels": [1]}],
                      [{"boxes": np.zeros((0, 4)), "labels": []}])
    with pytest.raises(ValueError, match=r"target\[0\]\['boxes'\] must have shape \(2, 4\)"):
        metric.update([{"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int), "scores": []}],
                      [{"boxes": np.zeros((1, 4)), "labels": [1, 2]}])
    with pytest.raises(ValueError, match="box_format"):
        coco.MeanAveragePrecision(box_format="xy")


def test_plot_pr_curves(tmp_path):
    viz = pytest.importorskip("fastiou.viz")
    pytest.importorskip("matplotlib", reason="the 'plot' extra draws")
    gt, dets = synthetic.coco_like(10, n_categories=3, seed=15)
    E = run_fastiou(gt, dets)
    picture = viz.plot_pr_curves(E, iou_thresholds=(0.5, 0.75, 0.95), category=2, area="small", max_dets=10)
    assert picture.shape == (400, 520, 4) and picture.dtype == np.uint8
    assert viz.plot_pr_curves(E.eval, tmp_path / "pr.png") == tmp_path / "pr.png"
    assert (tmp_path / "pr.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="0.33 is not one of params.iouThrs"):
        viz.plot_pr_curves(E, iou_thresholds=(0.33,))
    with pytest.raises(ValueError, match="category must be one of"):
        viz.plot_pr_curves(E, category=99)
