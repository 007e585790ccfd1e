"""COCO-style detector evaluation, exact to pycocotools.

:class:`COCOeval` is a drop-in for ``pycocotools.cocoeval.COCOeval``: the same
constructor, :class:`Params`, ``evaluate()``, ``accumulate()``, ``summarize()``,
``stats`` and ``eval['precision' | 'recall' | 'scores']``, for ``iouType``
``'bbox'``, ``'segm'`` (COCO RLE masks) and ``'keypoints'`` (OKS).  Its results
are identical (``np.array_equal``) to pycocotools', quirks included:

- detections sorted by ``np.argsort(-score, kind='mergesort')`` per image and
  again when accumulating, cut at ``maxDets`` after sorting;
- a match needs overlap ``>= min(t, 1 - 1e-10)``; a regular ground truth beats an
  ignored one, equal overlaps go to the later ground truth, a crowd absorbs any
  number of detections; ``ignore`` is ``iscrowd`` (and, for keypoints,
  ``num_keypoints == 0``); area ranges are inclusive;
- crowd overlap is the intersection over the detection's area (boxes and masks);
- precision ``tp / (tp + fp + np.spacing(1))``, made monotone from the right and
  read at ``searchsorted(recall, recThrs, side='left')``.

How it runs: the annotations become arrays once (:mod:`fastiou._coco_input`, the
validation boundary; JSON files are read straight into columns by
``fastiou._cy_json``; polygons become RLE exactly as pycocotools' ``annToRLE``
makes them); the overlaps of every (image, category) group come from fastiou's
box formula (one compiled kernel over all groups), from :func:`fastiou.mask_iou`
on RLE, or from the OKS kernels; pycocotools' greedy matching runs in one
compiled kernel over all groups, area ranges and thresholds, and accumulation in
one kernel call with one category per work item (parallel when it pays, with
serial twins), not a Python loop.

Unlike pycocotools, nothing of the caller's is modified.
"""

from __future__ import annotations

import copy
import datetime
import os
import time
from typing import Any, Literal, Mapping, Sequence, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _coco_input, _validate, backends

IOU_TYPES = ("segm", "bbox", "keypoints")
#: Keypoint sigmas of COCO's 17 person keypoints (pycocotools' ``kpt_oks_sigmas``).
COCO_KPT_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87,
                            .89, .89]) / 10.0
#: The names of ``stats``, in order, for each iouType.
STAT_NAMES = {
    "bbox": ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"],
    "segm": ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"],
    "keypoints": ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"],
}


class Params:
    """Evaluation parameters, with pycocotools' fields and defaults.

    ``iouThrs`` and ``recThrs`` are built with ``np.linspace`` exactly as
    pycocotools builds them (other constructions move points by an ulp).
    """

    imgIds: list[Any]
    catIds: list[Any]
    iouThrs: NDArray[np.float64]
    recThrs: NDArray[np.float64]
    maxDets: list[int]
    areaRng: list[list[float]]
    areaRngLbl: list[str]
    useCats: int
    kpt_oks_sigmas: NDArray[np.float64]  # keypoints only
    iouType: Literal['segm', 'bbox', 'keypoints']
    useSegm: int | None

    def setDetParams(self) -> None:
        self.imgIds = []
        self.catIds = []
        self.iouThrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.recThrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.maxDets = [1, 10, 100]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ['all', 'small', 'medium', 'large']
        self.useCats = 1

    def setKpParams(self) -> None:
        self.imgIds = []
        self.catIds = []
        self.iouThrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.recThrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        self.maxDets = [20]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ['all', 'medium', 'large']
        self.useCats = 1
        self.kpt_oks_sigmas = COCO_KPT_SIGMAS.copy()

    def __init__(self, iouType: Literal['segm', 'bbox', 'keypoints'] = 'segm') -> None:
        if iouType == 'segm' or iouType == 'bbox':
            self.setDetParams()
        elif iouType == 'keypoints':
            self.setKpParams()
        else:
            raise ValueError(f"iouType must be one of {IOU_TYPES}, got {iouType!r}")
        self.iouType = iouType
        self.useSegm = None  # deprecated in pycocotools; 1 / 0 selects 'segm' / 'bbox'


class _Evaluated:
    """What ``evaluate`` leaves for ``accumulate``: per kept detection its category
    index, rank in its group, score and what matching made of it per
    area range and threshold; per ground truth its category index and ignore flags; and
    matching's inputs, from which evalImgs' matches are rebuilt when asked for."""

    # per kept detection (in group order)
    kidx: NDArray[np.intp]
    rank: NDArray[np.intp]
    score: NDArray[np.float64]
    dt_id: NDArray[np.int64]
    match_inputs: tuple[Any, ...]  # greedy matching's, for evalImgs
    status: NDArray[np.uint8]  # (detection, area range, threshold): IGNORED / TRUE_POSITIVE / FALSE_POSITIVE
    # per ground truth (in group order); gt_ignore per (area range, ground truth)
    gt_kidx: NDArray[np.intp]
    gt_ignore: NDArray[np.bool_]
    gt_id: NDArray[np.int64]
    # per group
    n_cats: int
    groups: NDArray[np.int64]
    g_start: NDArray[np.intp]
    n_g: NDArray[np.intp]
    d_start: NDArray[np.intp]
    n_d: NDArray[np.intp]

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def _positions(ids: NDArray[np.int64], wanted: ArrayLike, name: str
               ) -> tuple[NDArray[np.bool_], NDArray[np.intp]]:
    """``(keep, pos)``: which ``ids`` are in ``wanted`` and their index in it."""
    wanted = np.asarray(wanted, dtype=np.int64).reshape(-1)
    if len(np.unique(wanted)) != len(wanted):
        raise ValueError(f"params.{name} holds duplicates")
    top = max(wanted.max(initial=-1), ids.max(initial=-1))
    if 0 <= wanted.min(initial=0) and top < 4 * len(ids) + 2**20:  # small ids: a lookup table
        table = np.full(top + 1, -1, np.int64)
        table[wanted] = np.arange(len(wanted))
        pos = table[np.clip(ids, 0, top)]
        keep = (pos >= 0) & (ids >= 0) & (ids <= top)
        return keep, np.where(keep, pos, 0)
    order = np.argsort(wanted, kind="stable")
    sorted_ids = wanted[order]
    idx = np.searchsorted(sorted_ids, ids)
    idx_c = np.minimum(idx, max(len(sorted_ids) - 1, 0))
    if not len(sorted_ids):
        return np.zeros(len(ids), bool), np.zeros(len(ids), np.int64)
    keep = (idx < len(sorted_ids)) & (sorted_ids[idx_c] == ids)
    return keep, order[idx_c]


def _paired(d_start: NDArray[np.intp], n_d: NDArray[np.intp], n_g: NDArray[np.intp]
            ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """``(paired, paired_start)``: the detections of the groups with ground truth, the
    only ones with overlaps, and where each group's begin among them."""
    n_paired = np.where(n_g > 0, n_d, 0)
    paired_start = np.cumsum(n_paired) - n_paired
    paired = np.repeat(d_start - paired_start, n_paired) + np.arange(int(n_paired.sum()))
    return paired, paired_start


def _kernel_backend(backend: str) -> str:
    """The backend of COCOeval's kernels: 'auto' is ``FASTIOU_BACKEND`` if that names
    a CPU backend, else Cython where it is built: as fast as Numba here (bbox, 5,000
    images: 145-177 ms against 150-219 ms) and with no JIT cache to load, so that a
    first evaluation in a new process takes a third of Numba's time and imports no
    Numba (see :func:`fastiou.backends.compiled_first`)."""
    return backend if backend != "auto" else backends.compiled_first("coco")


class COCO(_coco_input.Loaded):
    """A COCO dataset loaded for evaluation: pycocotools' ``COCO``, read once.

    What :class:`COCOeval` reads of a ``COCO`` (ids, areas, boxes, masks and
    keypoints as checked arrays) is read at its first evaluation and kept, so that
    every later evaluation of the same objects (other parameters, other iouTypes,
    :meth:`loadRes` results against the same ground truth) starts from the arrays.
    The dataset is taken as it is then: after changing it, make a new ``COCO``.
    Plain dicts, pycocotools objects and paths are read at every evaluation.

    Parameters
    ----------
    annotation_file : path, dict or None
        A COCO JSON file, a dict in the COCO layout (not copied: leave it
        unchanged), or None for an empty dataset.

    Examples
    --------
    >>> from fastiou import coco, synthetic
    >>> gt, dets = synthetic.coco_like(20, seed=0)
    >>> G = coco.COCO(gt)
    >>> D = G.loadRes(dets)
    >>> len(G.getImgIds()), len(D.dataset["annotations"])
    (20, 2000)
    """

    def __init__(self, annotation_file: Any = None) -> None:
        dataset = {} if annotation_file is None else _coco_input.as_dataset(annotation_file, "annotation_file")
        super().__init__(dataset)

    def getImgIds(self) -> list[Any]:
        """The image ids, in the dataset's order."""
        return _coco_input._field(self._source.get("images", []), "id", "dataset['images']")

    def getCatIds(self) -> list[Any]:
        """The category ids, in the dataset's order."""
        return _coco_input._field(self._source.get("categories", []), "id", "dataset['categories']")

    def loadRes(self, resFile: Any) -> "COCO":
        """Detector results against this ground truth: a JSON path, a list of result
        dicts or an ``(N, 7)`` array, as pycocotools' ``loadRes`` takes them.

        The result has this dataset's images and categories; its annotations are the
        results as given (not modified: the ids ``1..N`` and areas that pycocotools'
        ``loadRes`` writes into them are made when they are read).
        """
        if isinstance(resFile, (str, os.PathLike)):
            resFile = _coco_input.load_json(resFile, "resFile")
        if not isinstance(resFile, (list, tuple, np.ndarray, _coco_input.Records)):
            raise TypeError(f"resFile must be a JSON path, a list of result dicts or an (N, 7) array, "
                            f"got {type(resFile).__name__}")
        res = COCO()
        res.dataset = {"images": self._source.get("images", []), "categories": self._source.get("categories", []),
                       "annotations": resFile}
        res.results = resFile
        return res


class COCOeval:
    """COCO evaluation of detections against ground truth, identical to pycocotools.

    Parameters
    ----------
    cocoGt : pycocotools COCO, dict or path
        The ground truth: anything with a ``.dataset`` dict in the COCO layout, such
        a dict, or the path of a COCO JSON file.
    cocoDt : COCO, list of dicts, path or ndarray
        The detections: ``cocoGt.loadRes(...)``'s result, the result dicts that
        ``loadRes`` takes, the path of a JSON list of them, or an ``(N, 7)`` array
        ``[image_id, x, y, w, h, score, category_id]``.
    iouType : {'segm', 'bbox', 'keypoints'}, default 'segm' (as pycocotools)
    backend : {'auto', 'numba', 'cython'}, default 'auto'
        Backend of the kernels (grouping, box, mask and OKS overlaps, matching,
        accumulation; a 'cython' evaluation imports no Numba unless it rasterises
        polygons); 'auto' is Cython where it is built, else Numba
        (``FASTIOU_BACKEND`` may name either).  Every backend gives identical results.

    Examples
    --------
    >>> from fastiou import coco, synthetic
    >>> gt, dt = synthetic.coco_like(n_images=20, seed=0)
    >>> E = coco.COCOeval(gt, dt, 'bbox')
    >>> E.evaluate(); E.accumulate(); _ = E.summarize()  # doctest: +ELLIPSIS
    Running per image evaluation...
    ...
    >>> E.stats.shape, E.eval['precision'].shape
    ((12,), (10, 101, 80, 4, 3))
    """

    def __init__(self, cocoGt: Any = None, cocoDt: Any = None,
                 iouType: Literal['segm', 'bbox', 'keypoints'] = 'segm', *,
                 backend: Literal['auto', 'numba', 'cython'] = "auto") -> None:
        self.backend = _validate.check_backend(backend, ("auto", "numba", "cython"))
        self._kernels = _kernel_backend(self.backend)
        if not iouType:
            print('iouType not specified. use default iouType segm')
            iouType = 'segm'
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        self.params = Params(iouType=iouType)
        self.eval: dict[str, Any] = {}
        self.stats: NDArray[np.float64] | list[float] = []
        self._paramsEval: Any = {}  # a Params once evaluate() has run
        self._result: _Evaluated | None = None
        self._evalImgs: list[dict[str, Any] | None] | None = None
        self._gt_dataset: dict[str, Any] | None = None
        if cocoGt is not None:
            dataset = _coco_input.as_dataset(cocoGt, "cocoGt")
            self._gt_dataset = dataset
            images = dataset.get("images", [])
            cats = dataset.get("categories", [])
            self.params.imgIds = sorted(_coco_input._field(images, "id", "cocoGt['images']"))
            self.params.catIds = sorted(_coco_input._field(cats, "id", "cocoGt['categories']"))

    # --- evaluate ---------------------------------------------------------------
    def evaluate(self) -> None:
        """Match detections to ground truth for every image, category, area range and threshold."""
        tic = time.time()
        print('Running per image evaluation...')
        p = self.params
        if p.useSegm is not None:
            p.iouType = 'segm' if p.useSegm == 1 else 'bbox'
            print('useSegm (deprecated) is not None. Running {} evaluation'.format(p.iouType))
        print('Evaluate annotation type *{}*'.format(p.iouType))
        if p.iouType not in IOU_TYPES:
            raise ValueError(f"params.iouType must be one of {IOU_TYPES}, got {p.iouType!r}")
        if self.cocoGt is None or self.cocoDt is None:
            raise ValueError("COCOeval needs cocoGt and cocoDt to evaluate")
        p.imgIds = list(np.unique(p.imgIds))
        if p.useCats:
            p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        self.params = p
        self._result = self._evaluate(p)
        self._evalImgs = None
        # (the id lists hold NumPy scalars, immutable and slow to deep-copy one by one)
        ids = {id(p.imgIds): list(p.imgIds), id(p.catIds): list(p.catIds)}
        self._paramsEval = copy.deepcopy(self.params, ids)
        print('DONE (t={:0.2f}s).'.format(time.time() - tic))

    def _evaluate(self, p: Params) -> _Evaluated:
        iou_type = p.iouType
        n_kp = len(p.kpt_oks_sigmas) if iou_type == "keypoints" else 0
        gt_source = self.cocoGt if isinstance(self.cocoGt, _coco_input.Loaded) else self._gt_dataset
        gt, info = _coco_input.ground_truth(gt_source, iou_type, n_kp)
        dt = _coco_input.detections(self.cocoDt, iou_type, n_kp, info)
        use_cats = bool(p.useCats)
        cat_ids = list(p.catIds)
        n_cats = len(cat_ids) if use_cats else 1
        gkeep, gimg = _positions(gt.image_id, p.imgIds, "imgIds")
        dkeep, dimg = _positions(dt.image_id, p.imgIds, "imgIds")
        gcat_ok, gcat = _positions(gt.category_id, cat_ids, "catIds")
        dcat_ok, dcat = _positions(dt.category_id, cat_ids, "catIds")
        gkeep &= gcat_ok
        dkeep &= dcat_ok
        # pycocotools' order: by group, (for detections) decreasing score, category
        # (useCats=0: in params.catIds order) and input order; detections cut at maxDets[-1]
        per_group = 1 if use_cats else max(len(cat_ids), 1)
        n_keys = len(p.imgIds) * len(cat_ids)
        gsub = np.flatnonzero(gkeep)
        dsub = np.flatnonzero(dkeep)
        group_order = backends.load(self._kernels, "coco").group_order
        gpos, _, g_count = group_order(gimg[gsub] * len(cat_ids) + gcat[gsub], n_keys, per_group,
                                       np.zeros(0), len(gsub))
        dpos, rank, d_count = group_order(dimg[dsub] * len(cat_ids) + dcat[dsub], n_keys, per_group,
                                          dt.score[dsub], int(p.maxDets[-1]))
        gorder, dorder = gsub[gpos], dsub[dpos]
        groups = np.flatnonzero(g_count + d_count).astype(np.int64)
        g_start = (np.cumsum(g_count) - g_count)[groups]
        d_start = (np.cumsum(d_count) - d_count)[groups]
        n_g, n_d = g_count[groups], d_count[groups]
        sizes = n_d * n_g
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if len(groups) else \
            np.zeros(0, np.int64)
        total = int(sizes.sum())
        has_overlaps = np.ones(len(groups), np.bool_)
        if iou_type == "bbox":
            ious = self._box_overlaps(gt, dt, gorder, dorder, d_start, n_d, g_start, n_g, offsets, total,
                                      self._kernels)
        elif iou_type == "segm":
            size_ids: dict[tuple[int, int], int] = {}  # each image's [height, width], numbered
            img_size = np.array([size_ids.setdefault(info["sizes"][int(i)], len(size_ids)) for i in p.imgIds],
                                np.intp)
            ious = self._mask_overlaps(self._kernels, gt, dt, gorder, dorder, list(size_ids),
                                       img_size[gimg[gorder]], img_size[dimg[dorder]],
                                       d_start, n_d, g_start, n_g, offsets, total)
        else:
            ious = self._oks(self._kernels, p, gt, dt, gorder, dorder, d_start, n_d, g_start, n_g, offsets, total)
            if not use_cats:  # pycocotools' computeOks looks up (image, -1): no overlaps at all
                has_overlaps[:] = False
        area_rng = np.asarray(p.areaRng, dtype=np.float64).reshape(-1, 2)
        thresholds = np.asarray(p.iouThrs, dtype=np.float64).reshape(-1)
        n_area, n_thr, n_det, n_gt = len(area_rng), len(thresholds), len(dorder), len(gorder)
        gt_ignore = np.empty((n_area, n_gt), np.bool_)
        status = np.empty((n_det, n_area, n_thr), np.uint8)
        # greedy matching's inputs, kept to rebuild evalImgs' matches on demand
        match_inputs = (ious, offsets, d_start, n_d, g_start, n_g, has_overlaps, gt.ignore[gorder],
                        gt.iscrowd[gorder], gt.area[gorder], gt.id[gorder], dt.id[dorder], dt.area[dorder],
                        area_rng[:, 0].copy(), area_rng[:, 1].copy(), thresholds)
        if len(groups):
            self._greedy_match(match_inputs, gt_ignore, status)
        return _Evaluated(
            kidx=(dcat[dorder] if use_cats else np.zeros(n_det, np.int64)),
            rank=rank, score=dt.score[dorder], status=status, match_inputs=match_inputs,
            gt_kidx=(gcat[gorder] if use_cats else np.zeros(n_gt, np.int64)), gt_ignore=gt_ignore,
            n_cats=n_cats, groups=groups, g_start=g_start, n_g=n_g, d_start=d_start, n_d=n_d,
            gt_id=gt.id[gorder], dt_id=dt.id[dorder],
        )

    def _greedy_match(self, inputs: tuple[Any, ...], gt_ignore: NDArray[np.bool_], status: NDArray[np.uint8],
                      matches: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]] | None = None
                      ) -> None:
        """Greedy matching of every group into ``gt_ignore`` and ``status``, and, if
        given, the ``matches`` (dt_match, gt_match, dt_ignore) that evalImgs shows."""
        n_det, n_area, n_thr = status.shape
        ious = inputs[0]
        work = (len(ious) + n_det + gt_ignore.shape[1]) * n_area * n_thr
        module, parallel = backends.select(self._kernels, work, family="coco", kind="coco")
        module.greedy_match(*inputs, gt_ignore, status, matches, parallel)

    @property
    def evalImgs(self) -> list[dict[str, Any] | None]:
        """pycocotools' per-(category, area range, image) results, built on first access
        (None where the image has neither ground truth nor detections of the category)."""
        if self._evalImgs is None:
            r = self._result
            self._evalImgs = [] if r is None else self._build_eval_imgs(self._paramsEval, r, self._matches(r))
        return self._evalImgs

    @evalImgs.setter
    def evalImgs(self, value: list[dict[str, Any] | None]) -> None:
        self._evalImgs = value

    def _matches(self, r: _Evaluated) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.bool_]]:
        """greedy matching again, for ``(dt_match, gt_match, dt_ignore)``: (area range,
        threshold, detection or ground truth) index of the match (-1: none) and ignore flags."""
        n_det, n_area, n_thr = r.status.shape
        n_gt = r.gt_ignore.shape[1]
        matches = (np.empty((n_area, n_thr, n_det), np.int32), np.empty((n_area, n_thr, n_gt), np.int32),
                   np.empty((n_area, n_thr, n_det), np.bool_))
        if len(r.groups):
            self._greedy_match(r.match_inputs, np.empty_like(r.gt_ignore), np.empty_like(r.status), matches)
        return matches

    @staticmethod
    def _build_eval_imgs(p: Params, r: _Evaluated, matches: tuple[NDArray[np.int32], NDArray[np.int32],
                                                                  NDArray[np.bool_]]
                         ) -> list[dict[str, Any] | None]:
        dt_match, gt_match, dt_ignore = matches
        cat_ids = list(p.catIds) if p.useCats else [-1]
        img_ids = list(p.imgIds)
        n_img, K = len(img_ids), len(cat_ids)
        where = np.full(K * n_img, -1, np.int64)  # (category, image) -> group
        img_of, cat_of = r.groups // r.n_cats, r.groups % r.n_cats
        where[cat_of * n_img + img_of] = np.arange(len(r.groups))
        max_det = p.maxDets[-1]
        out: list[dict[str, Any] | None] = []
        for k in range(K):
            for a, a_rng in enumerate(p.areaRng):
                for i in range(n_img):
                    g = where[k * n_img + i]
                    if g < 0:
                        out.append(None)
                        continue
                    gs = np.arange(r.g_start[g], r.g_start[g] + r.n_g[g])
                    ds = np.arange(r.d_start[g], r.d_start[g] + r.n_d[g])
                    gt_ig = r.gt_ignore[a, gs]
                    sort = np.argsort(gt_ig, kind="mergesort")  # regular ground truth first
                    gs = gs[sort]
                    dtm = dt_match[a][:, ds]
                    gtm = gt_match[a][:, gs]
                    out.append({
                        'image_id': img_ids[i],
                        'category_id': cat_ids[k],
                        'aRng': a_rng,
                        'maxDet': max_det,
                        'dtIds': r.dt_id[ds].tolist(),
                        'gtIds': r.gt_id[gs].tolist(),
                        'dtMatches': np.where(dtm >= 0, r.gt_id[np.maximum(dtm, 0)], 0).astype(float),
                        'gtMatches': np.where(gtm >= 0, r.dt_id[np.maximum(gtm, 0)], 0).astype(float),
                        'dtScores': r.score[ds].tolist(),
                        'gtIgnore': gt_ig[sort].astype(int),
                        'dtIgnore': dt_ignore[a][:, ds],
                    })
        return out

    @staticmethod
    def _box_overlaps(gt: _coco_input.Table, dt: _coco_input.Table, gorder: NDArray[np.intp],
                      dorder: NDArray[np.intp], d_start: NDArray[np.intp], n_d: NDArray[np.intp],
                      g_start: NDArray[np.intp], n_g: NDArray[np.intp], offsets: NDArray[np.int64],
                      total: int, backend: str) -> NDArray[np.float64]:
        def columns(bbox: NDArray[np.float64]) -> NDArray[np.float64]:
            # pycocotools' bbIou: corners x + w, areas w * h (not (x2 - x1) * (y2 - y1))
            cols = np.zeros((8, len(bbox)))
            cols[0], cols[1] = bbox[:, 0], bbox[:, 1]
            with np.errstate(over="ignore"):  # inf beyond float64, as pycocotools
                cols[2], cols[3] = bbox[:, 0] + bbox[:, 2], bbox[:, 1] + bbox[:, 3]
                cols[4] = bbox[:, 2] * bbox[:, 3]
            return cols

        out = np.empty(total)
        if total:
            paired, paired_start = _paired(d_start, n_d, n_g)
            module, parallel = backends.select(backend, total, family="coco", kind="iou_pairs")
            module.box_overlaps(columns(dt.bbox[dorder[paired]]), columns(gt.bbox[gorder]),
                                gt.iscrowd[gorder].astype(np.uint8), paired_start, n_d, g_start, n_g, offsets,
                                out, parallel)
        return out

    @staticmethod
    def _mask_overlaps(backend: str, gt: _coco_input.Table, dt: _coco_input.Table, gorder: NDArray[np.intp],
                       dorder: NDArray[np.intp], sizes: list[tuple[int, int]], gsize: NDArray[np.intp],
                       dsize: NDArray[np.intp], d_start: NDArray[np.intp], n_d: NDArray[np.intp],
                       g_start: NDArray[np.intp], n_g: NDArray[np.intp], offsets: NDArray[np.int64],
                       total: int) -> NDArray[np.float64]:
        # fastiou.mask_iou's RLE kernel (crowd-aware), on masks decoded once per image
        # size (``sizes[k]``: size k's height and width) and read per group through
        # slices: no decoding or checking per group
        from ._mask_formulas import IOU as MASK_IOU
        from .masks import _decode_rles

        out = np.empty(total)
        pairs = np.flatnonzero(n_d * n_g)
        if not len(pairs):
            return out
        module = backends.load(backend, "masks")

        def decode(counts: list[Any], order: NDArray[np.intp], size: NDArray[np.intp], name: str
                   ) -> tuple[NDArray[np.int64], dict[int, Any]]:
            # rows ``order`` (of image size ``size``, numbered) decoded per size: each row's
            # place among its size's masks, and per size (runs, index, info, segments)
            position = np.empty(len(order), np.int64)
            runs: dict[int, Any] = {}
            by_size = np.argsort(size, kind="stable")
            for rows in np.split(by_size, np.flatnonzero(np.diff(size[by_size])) + 1):
                if len(rows):
                    position[rows] = np.arange(len(rows))
                    chosen = [counts[i] for i in order[rows].tolist()]
                    work = sum(map(len, chosen))  # characters ~ runs, as _MaskSet's
                    h, w = sizes[int(size[rows[0]])]
                    runs[int(size[rows[0]])] = _decode_rles(module, chosen, h, w, name, False,
                                                            backends.select(backend, work, family="masks")[1])
            return position, runs

        paired, paired_start = _paired(d_start, n_d, n_g)
        dpos, druns = decode(dt.rle_counts, dorder[paired], dsize[paired], "cocoDt")
        gpos, gruns = decode(gt.rle_counts, gorder, gsize, "cocoGt")
        crowd = gt.iscrowd[gorder].astype(np.uint8)
        pair_size = gsize[g_start[pairs]]  # a group's masks share their image's size
        for size in np.unique(pair_size).tolist():
            ks = pairs[pair_size == size]
            first1, first2 = dpos[paired_start[ks]], gpos[g_start[ks]]
            # mask_iou's work model: a pair reads both masks' runs (index[:, 1])
            runs_per_pair = druns[size][1][:, 1].mean() + gruns[size][1][:, 1].mean()
            work = int((n_d[ks] * n_g[ks]).sum() * runs_per_pair)
            parallel = backends.select(backend, work, family="masks")[1]
            module.rle_groups(MASK_IOU, *druns[size], *gruns[size], crowd, first1, first2, n_d[ks], n_g[ks],
                              g_start[ks], offsets[ks], out, parallel)
        return out

    @staticmethod
    def _oks(backend: str, p: Params, gt: _coco_input.Table, dt: _coco_input.Table, gorder: NDArray[np.intp],
             dorder: NDArray[np.intp], d_start: NDArray[np.intp], n_d: NDArray[np.intp],
             g_start: NDArray[np.intp], n_g: NDArray[np.intp], offsets: NDArray[np.int64],
             total: int) -> NDArray[np.float64]:
        sigmas = np.asarray(p.kpt_oks_sigmas, dtype=np.float64)
        variances = (sigmas * 2) ** 2
        gkp = gt.keypoints[gorder]
        gvis = np.count_nonzero(gkp[:, 2::3] > 0, axis=1)
        exps = np.zeros((total, len(sigmas)))
        out = np.empty(total)
        if total:
            module, parallel = backends.select(backend, total * len(sigmas), family="coco", kind="losses")
            module.oks_exponents(dt.keypoints[dorder], gkp, gvis, gt.bbox[gorder], gt.area[gorder], variances,
                                 d_start, n_d, g_start, n_g, offsets, exps, parallel)
            np.exp(exps, out=exps)  # NumPy's exp, as pycocotools' np.exp(-e)
            gcount = np.where(gvis > 0, gvis, len(sigmas))
            group = np.repeat(np.arange(len(offsets)), n_d * n_g)
            local = np.arange(total) - offsets[group]
            pair_count = gcount[g_start[group] + local % n_g[group]]
            module.oks_sums(exps, pair_count, out, parallel)
        return out

    # --- accumulate -------------------------------------------------------------
    def accumulate(self, p: Params | None = None) -> None:
        """Precision, recall and scores per threshold, recall point, category, area range and maxDets."""
        print('Accumulating evaluation results...')
        tic = time.time()
        if self._result is None:
            raise ValueError("run evaluate() before accumulate()")
        if p is None:
            p = self.params
        p.catIds = p.catIds if p.useCats == 1 else [-1]
        pe = self._paramsEval
        for field in ("iouThrs", "maxDets", "areaRng", "imgIds", "useCats"):
            if not np.array_equal(np.asarray(getattr(p, field)), np.asarray(getattr(pe, field))):
                raise ValueError(f"accumulate: p.{field} differs from the one evaluate() ran with; only "
                                 f"recThrs may change between evaluate() and accumulate()")
        if pe.useCats and not np.array_equal(np.asarray(p.catIds), np.asarray(pe.catIds)):
            raise ValueError("accumulate: p.catIds differs from the one evaluate() ran with; only "
                             "recThrs may change between evaluate() and accumulate()")
        r = self._result
        T, R, K = len(p.iouThrs), len(p.recThrs), r.n_cats
        A, M = len(p.areaRng), len(p.maxDets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        scores = -np.ones((T, R, K, A, M))
        rec_thrs = np.asarray(p.recThrs, dtype=np.float64)
        # regular ground truth per (area range, category)
        npig = np.stack([np.bincount(r.gt_kidx[~r.gt_ignore[a]], minlength=K) for a in range(A)])
        module, parallel = backends.select(self._kernels, r.status.size * M, family="coco", kind="coco")
        module.accumulate(r.status, r.kidx, K, r.rank, r.score, npig, np.asarray(p.maxDets, np.intp),
                          rec_thrs, precision, scores, recall, parallel)
        self.eval = {
            'params': p,
            'counts': [T, R, K, A, M],
            'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S'),
            'precision': precision,
            'recall': recall,
            'scores': scores,
        }
        print('DONE (t={:0.2f}s).'.format(time.time() - tic))

    # --- summarize --------------------------------------------------------------
    def summarize(self) -> NDArray[np.float64]:
        """Print pycocotools' 12-line summary (10 for keypoints); returns and stores ``stats``."""
        self.stats = self._summary()
        return self.stats

    def _summary(self, cat: int | None = None, verbose: bool = True) -> NDArray[np.float64]:
        """pycocotools' summary numbers, over every category or only category index ``cat``
        (what pycocotools gives with ``params.catIds = [that id]``)."""

        def _summarize(ap: int = 1, iouThr: float | None = None, areaRng: str = 'all',
                       maxDets: int = 100) -> float | np.floating[Any]:
            p = self.params
            iStr = ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
            titleStr = 'Average Precision' if ap == 1 else 'Average Recall'
            typeStr = '(AP)' if ap == 1 else '(AR)'
            iouStr = '{:0.2f}:{:0.2f}'.format(p.iouThrs[0], p.iouThrs[-1]) \
                if iouThr is None else '{:0.2f}'.format(iouThr)
            aind = [i for i, aRng in enumerate(p.areaRngLbl) if aRng == areaRng]
            mind = [i for i, mDet in enumerate(p.maxDets) if mDet == maxDets]
            if ap == 1:
                s = self.eval['precision']
                if cat is not None:
                    s = s[:, :, cat:cat + 1]
                if iouThr is not None:
                    t = np.where(iouThr == p.iouThrs)[0]
                    s = s[t]
                s = s[:, :, :, aind, mind]
            else:
                s = self.eval['recall']
                if cat is not None:
                    s = s[:, cat:cat + 1]
                if iouThr is not None:
                    t = np.where(iouThr == p.iouThrs)[0]
                    s = s[t]
                s = s[:, :, aind, mind]
            mean_s: float | np.floating[Any]
            if len(s[s > -1]) == 0:
                mean_s = -1
            else:
                mean_s = np.mean(s[s > -1])
            if verbose:
                print(iStr.format(titleStr, typeStr, iouStr, areaRng, maxDets, mean_s))
            return mean_s

        def _summarizeDets() -> NDArray[np.float64]:
            stats = np.zeros((12,))
            stats[0] = _summarize(1)
            stats[1] = _summarize(1, iouThr=.5, maxDets=self.params.maxDets[2])
            stats[2] = _summarize(1, iouThr=.75, maxDets=self.params.maxDets[2])
            stats[3] = _summarize(1, areaRng='small', maxDets=self.params.maxDets[2])
            stats[4] = _summarize(1, areaRng='medium', maxDets=self.params.maxDets[2])
            stats[5] = _summarize(1, areaRng='large', maxDets=self.params.maxDets[2])
            stats[6] = _summarize(0, maxDets=self.params.maxDets[0])
            stats[7] = _summarize(0, maxDets=self.params.maxDets[1])
            stats[8] = _summarize(0, maxDets=self.params.maxDets[2])
            stats[9] = _summarize(0, areaRng='small', maxDets=self.params.maxDets[2])
            stats[10] = _summarize(0, areaRng='medium', maxDets=self.params.maxDets[2])
            stats[11] = _summarize(0, areaRng='large', maxDets=self.params.maxDets[2])
            return stats

        def _summarizeKps() -> NDArray[np.float64]:
            stats = np.zeros((10,))
            stats[0] = _summarize(1, maxDets=20)
            stats[1] = _summarize(1, maxDets=20, iouThr=.5)
            stats[2] = _summarize(1, maxDets=20, iouThr=.75)
            stats[3] = _summarize(1, maxDets=20, areaRng='medium')
            stats[4] = _summarize(1, maxDets=20, areaRng='large')
            stats[5] = _summarize(0, maxDets=20)
            stats[6] = _summarize(0, maxDets=20, iouThr=.5)
            stats[7] = _summarize(0, maxDets=20, iouThr=.75)
            stats[8] = _summarize(0, maxDets=20, areaRng='medium')
            stats[9] = _summarize(0, maxDets=20, areaRng='large')
            return stats

        if not self.eval:
            raise ValueError("run accumulate() before summarize()")
        iouType = self.params.iouType
        summarize = _summarizeKps if iouType == 'keypoints' else _summarizeDets
        return summarize()

    def __str__(self) -> str:
        self.summarize()
        return ""


def _torch_linspace(start: float, end: float, steps: int) -> list[float]:
    """``torch.linspace(start, end, steps).tolist()`` (float32), without torch: torchmetrics'
    default thresholds, which differ from pycocotools' float64 ones by up to 1e-8."""
    step = np.float64(np.float32((end - start) / (steps - 1)))
    i = np.arange(steps, dtype=np.float64)
    values = np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))
    out: list[float] = values.astype(np.float32).astype(np.float64).tolist()
    return out


class MeanAveragePrecision:
    """COCO mAP over streamed batches, with torchmetrics' interface and answers.

    ``update(preds, target)`` takes one dict per image of NumPy arrays (or array
    likes): ``preds`` with ``boxes`` (N, 4), ``scores`` (N,), ``labels`` (N,) and,
    for ``iou_type='segm'``, ``masks`` (N, H, W); ``target`` with ``boxes``,
    ``labels``, optionally ``iscrowd`` and ``area`` (used where > 0), and ``masks``
    for segm.  ``compute()`` evaluates everything seen since ``reset()`` with
    :class:`COCOeval` and returns torchmetrics' keys (``map``, ``map_50``,
    ``map_75``, ``map_small``, ``map_medium``, ``map_large``, ``mar_1``,
    ``mar_10``, ``mar_100``, ``mar_small``, ``mar_medium``, ``mar_large``,
    ``map_per_class``, ``mar_100_per_class``, ``classes``) as float32 arrays.

    Like torchmetrics, the default thresholds are ``torch.linspace``'s float32
    values (pycocotools' are float64: pass ``iou_thresholds`` /
    ``rec_thresholds`` for those), images are numbered from 0 in update order,
    the categories are the labels seen, ``average='micro'`` pools all labels into
    one, boxes become ``xywh`` in their own dtype before evaluation, and with
    ``iou_type='segm'`` images without target masks are left out.  Memory
    holds the inputs' boxes (or RLE masks), never an overlap matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from fastiou.coco import MeanAveragePrecision
    >>> metric = MeanAveragePrecision()
    >>> metric.update([{"boxes": np.array([[0, 0, 10, 10.]]), "scores": np.array([0.9]),
    ...                 "labels": np.array([1])}],
    ...               [{"boxes": np.array([[0, 0, 10, 9.]]), "labels": np.array([1])}])
    >>> result = metric.compute()
    >>> float(result["map_50"]), float(result["map"])
    (1.0, 0.8999999761581421)
    """

    def __init__(self, box_format: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
                 iou_type: Literal["bbox", "segm"] = "bbox", iou_thresholds: Sequence[float] | None = None,
                 rec_thresholds: Sequence[float] | None = None,
                 max_detection_thresholds: Sequence[int] | None = None, class_metrics: bool = False,
                 average: Literal["macro", "micro"] = "macro",
                 backend: Literal["auto", "numba", "cython"] = "auto") -> None:
        _validate.check_choice(box_format, "box_format", ("xyxy", "xywh", "cxcywh"))
        self.box_format = box_format
        _validate.check_choice(iou_type, "iou_type", ("bbox", "segm"))
        self.iou_type = iou_type
        self.average = _validate.check_choice(average, "average", ("macro", "micro"))
        self.class_metrics = _validate.check_bool(class_metrics, "class_metrics")
        # check_backend returns its argument, one of the allowed names
        self.backend = cast('Literal["auto", "numba", "cython"]',
                            _validate.check_backend(backend, ("auto", "numba", "cython")))
        self.iou_thresholds = (list(iou_thresholds) if iou_thresholds is not None
                               else _torch_linspace(0.5, 0.95, 10))
        self.rec_thresholds = (list(rec_thresholds) if rec_thresholds is not None
                               else _torch_linspace(0.0, 1.0, 101))
        max_dets = [1, 10, 100] if max_detection_thresholds is None else list(max_detection_thresholds)
        if len(max_dets) != 3:
            raise ValueError(f"max_detection_thresholds must hold 3 numbers, got {max_dets}")
        self.max_detection_thresholds = sorted(int(m) for m in max_dets)
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        self._preds: list[dict[str, Any]] = []
        self._targets: list[dict[str, Any]] = []

    def _image(self, item: Any, name: str, pred: bool) -> dict[str, Any]:
        from . import formats
        from .masks import rle_encode

        if not isinstance(item, dict):
            raise TypeError(f"{name} must be a dict of arrays, got {type(item).__name__}")
        keys: tuple[str, ...] = ("labels", "scores") if pred else ("labels",)
        keys += ("masks",) if self.iou_type == "segm" else ("boxes",)
        for key in keys:
            if key not in item:
                raise ValueError(f"{name} has no {key!r}")
        labels = _validate.as_array(item["labels"], f"{name}['labels']").reshape(-1)
        if labels.dtype.kind not in "iu":
            raise ValueError(f"{name}['labels'] must be integers, got dtype {labels.dtype}")
        n = len(labels)
        out: dict[str, Any] = {"labels": labels.astype(np.int64)}
        if self.iou_type == "bbox":
            boxes = _validate.as_box_array(item["boxes"], f"{name}['boxes']")
            if boxes.shape != (n, 4):
                raise ValueError(f"{name}['boxes'] must have shape ({n}, 4) (one box per label), "
                                 f"got {boxes.shape}")
            finite = np.isfinite(boxes).all(axis=1)
            if not finite.all():
                raise ValueError(f"{name}['boxes'][{int(np.argmax(~finite))}] is not finite")
            # torchvision's box_convert, in the boxes' own dtype, as torchmetrics does
            xywh = boxes if self.box_format == "xywh" else formats.box_convert(boxes, self.box_format, "xywh")
            out["boxes"] = np.asarray(xywh, dtype=np.float64)
        else:
            masks = _validate.as_array(item["masks"], f"{name}['masks']")
            if masks.ndim != 3 or len(masks) != n:
                raise ValueError(f"{name}['masks'] must have shape ({n}, H, W), got {masks.shape}")
            out["masks"] = rle_encode(masks) if n else []
            out["size"] = list(masks.shape[1:])
        if pred:
            out["scores"] = _validate.as_scores(item["scores"], f"{name}['scores']", n).astype(np.float64)
        else:
            crowd = item.get("iscrowd")
            out["iscrowd"] = np.zeros(n, np.int64) if crowd is None else \
                _validate.as_array(crowd, f"{name}['iscrowd']").reshape(-1).astype(np.int64)
            area = item.get("area")
            out["area"] = np.zeros(n) if area is None else \
                _validate.as_array(area, f"{name}['area']").reshape(-1).astype(np.float64)
            for key in ("iscrowd", "area"):
                if len(out[key]) != n:
                    raise ValueError(f"{name}[{key!r}] must have {n} values, got {len(out[key])}")
        return out

    def update(self, preds: Sequence[Mapping[str, ArrayLike]],
               target: Sequence[Mapping[str, ArrayLike]]) -> None:
        """Add one batch: ``preds[i]`` and ``target[i]`` describe the same image."""
        if not isinstance(preds, (list, tuple)) or not isinstance(target, (list, tuple)):
            raise TypeError("preds and target must be lists of dicts")
        if len(preds) != len(target):
            raise ValueError(f"preds and target must have the same length, got {len(preds)} and "
                             f"{len(target)}")
        new_preds = [self._image(p, f"preds[{i}]", True) for i, p in enumerate(preds)]
        new_targets = [self._image(t, f"target[{i}]", False) for i, t in enumerate(target)]
        self._preds += new_preds
        self._targets += new_targets

    def _datasets(self, average: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[int]]:
        micro = average == "micro"
        area: float | NDArray[np.float64]  # an annotation's, then the missing mask areas
        labels = [t["labels"] for t in self._targets] + [p["labels"] for p in self._preds]
        classes: list[int] = (np.unique(np.concatenate(labels)).tolist() if labels and sum(map(len, labels))
                              else [])
        images: list[dict[str, Any]]
        anns: list[dict[str, Any]]
        dets: list[dict[str, Any]]
        images, anns, dets = [], [], []
        segm = self.iou_type == "segm"
        for i, (p, t) in enumerate(zip(self._preds, self._targets)):
            if segm and not len(t["labels"]):
                continue  # torchmetrics leaves out images without a target mask, and their detections
            image: dict[str, Any] = {"id": i}
            if segm:
                image["height"], image["width"] = t["size"]
            images.append(image)
            for k in range(len(t["labels"])):
                ann: dict[str, Any] = {"id": len(anns) + 1, "image_id": i,
                                       "category_id": 0 if micro else int(t["labels"][k]),
                                       "iscrowd": int(t["iscrowd"][k])}
                if segm:
                    ann["segmentation"] = t["masks"][k]
                else:
                    ann["bbox"] = t["boxes"][k].tolist()
                area = float(t["area"][k])
                ann["area"] = area if area > 0 else None
                anns.append(ann)
            for k in range(len(p["labels"])):
                det: dict[str, Any] = {"image_id": i, "category_id": 0 if micro else int(p["labels"][k]),
                                       "score": float(p["scores"][k])}
                if segm:
                    det["segmentation"] = p["masks"][k]
                else:
                    det["bbox"] = p["boxes"][k].tolist()
                dets.append(det)
        if segm:
            missing = [a for a in anns if a["area"] is None]
            if missing:
                area, _ = _coco_input._rle_area_and_box([a["segmentation"] for a in missing], "target masks")
                for a, v in zip(missing, area):
                    a["area"] = float(v)
        else:
            for a in anns:
                if a["area"] is None:
                    a["area"] = a["bbox"][2] * a["bbox"][3]
        cats = [{"id": 0, "name": "0"}] if micro else [{"id": c, "name": str(c)} for c in classes]
        return {"images": images, "annotations": anns, "categories": cats}, dets, classes

    def _evaluate(self, average: str) -> COCOeval:
        gt, dets, _ = self._datasets(average)
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            E = COCOeval(gt, dets, self.iou_type, backend=self.backend)
            E.params.iouThrs = np.array(self.iou_thresholds, dtype=np.float64)
            E.params.recThrs = np.array(self.rec_thresholds, dtype=np.float64)
            E.params.maxDets = list(self.max_detection_thresholds)
            E.evaluate()
            E.accumulate()
            E.stats = E._summary(verbose=False)
        return E

    def compute(self) -> dict[str, np.float32 | NDArray[np.float32] | NDArray[np.int32]]:
        """torchmetrics' result dict for everything since :meth:`reset`."""
        mdt = self.max_detection_thresholds
        classes = self._datasets("macro")[2]
        stats: NDArray[np.float64] | list[float]
        if not self._preds:
            stats = -np.ones(12)
        else:
            E = self._evaluate(self.average)
            stats = E.stats
        names = ["map", "map_50", "map_75", "map_small", "map_medium", "map_large", f"mar_{mdt[0]}",
                 f"mar_{mdt[1]}", f"mar_{mdt[2]}", "mar_small", "mar_medium", "mar_large"]
        result: dict[str, np.float32 | NDArray[np.float32] | NDArray[np.int32]] = {
            name: np.float32(v) for name, v in zip(names, stats)}
        if self.class_metrics and self._preds:
            E = self._evaluate("macro")
            per_class = [E._summary(cat=k, verbose=False) for k in range(len(classes))]
            result["map_per_class"] = np.array([s[0] for s in per_class], np.float32)
            result[f"mar_{mdt[2]}_per_class"] = np.array([s[8] for s in per_class], np.float32)
        else:
            result["map_per_class"] = np.array([-1], np.float32)
            result[f"mar_{mdt[2]}_per_class"] = np.array([-1], np.float32)
        result["classes"] = np.array(classes, np.int32)
        return result
