"""Benchmark cases for COCO-style evaluation (see fastiou.bench.runner).

Data: :func:`fastiou.synthetic.coco_like`, a generated COCO-val-like set (80
categories, about 7.3 objects and 100 detections per image, score ties, crowd
regions; RLE masks for ``segm``, 17 keypoints on a person-only set for
``keypoints``).  Each evaluator runs ``evaluate(); accumulate(); summarize()``
(output discarded) from its own loaded objects, made once before timing:

- fastiou: :class:`fastiou.coco.COCOeval` on :class:`fastiou.coco.COCO` objects
  (``COCO(gt)``, ``loadRes(results)``), which keep the arrays read at their first
  evaluation (the harness's untimed warm-up call); the row "fastiou, from dicts"
  evaluates the ground-truth dict and the list of result dicts themselves, read
  at every call;
- pycocotools, ultrafast-pycocotools: ``COCO`` + ``loadRes``, ``COCOeval``;
- faster-coco-eval: ``COCO`` + ``loadRes``, ``COCOeval_faster``;
- hotcoco: ``COCO`` + ``load_res``, ``COCOeval``;
- vernier: ``vernier.COCOeval`` on pycocotools' loaded objects.

pycocotools takes about 10 s per 1,000 images here, so it is timed only on the
sets of at most :data:`PYCOCOTOOLS_MAX_IMAGES` images; ``benchmarks/coco_eval.py``
times it once on the full 5,000-image set.
"""

from __future__ import annotations

import contextlib
import copy
import io
from typing import Any, Callable, Literal

from .. import coco, synthetic
from .runner import Case, modes, optional

#: pycocotools is timed on sets of at most this many images (it is slow).
PYCOCOTOOLS_MAX_IMAGES = 500


def _quiet(fn: Callable[[], Any]) -> Callable[[], Any]:
    def call() -> Any:
        with contextlib.redirect_stdout(io.StringIO()):
            return fn()
    return call


def _run(E: Any) -> Any:
    E.evaluate()
    E.accumulate()
    E.summarize()
    return E.stats


def _pycocotools_like(module: str, coco_module: str, eval_name: str) -> Callable[..., Any] | None:
    """``make(gt, dets, iou_type)`` for a library with pycocotools' COCO / loadRes / COCOeval."""
    cocomod, evalmod = optional(coco_module), optional(module)
    if cocomod is None or evalmod is None:
        return None

    def make(gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str) -> Callable[[], Any]:
        with contextlib.redirect_stdout(io.StringIO()):
            G = cocomod.COCO()
            G.dataset = copy.deepcopy(gt)
            G.createIndex()
            D = G.loadRes(copy.deepcopy(dets))
        cls = getattr(evalmod, eval_name)
        return _quiet(lambda: _run(cls(G, D, iou_type)))
    return make


IouType = Literal["segm", "bbox", "keypoints"]


def evaluators(gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: IouType,
               pycocotools: bool = True) -> dict[str, Callable[[], Any]]:
    """Every installed evaluator's timed call on the same data (see the module)."""
    G = coco.COCO(gt)
    D = G.loadRes(dets)
    impls = modes(lambda backend: _quiet(lambda: _run(coco.COCOeval(G, D, iou_type, backend=backend)))())
    impls["fastiou, from dicts"] = _quiet(lambda: _run(coco.COCOeval(gt, dets, iou_type)))
    makers: dict[str, Callable[..., Any] | None] = {
        "ultrafast-pycocotools": _pycocotools_like("ultrafast_pycocotools.cocoeval", "ultrafast_pycocotools.coco",
                                                   "COCOeval"),
    }
    if pycocotools:
        makers["pycocotools"] = _pycocotools_like("pycocotools.cocoeval", "pycocotools.coco", "COCOeval")
    fce = optional("faster_coco_eval")
    if fce is not None:
        def faster(gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str) -> Callable[[], Any]:
            with contextlib.redirect_stdout(io.StringIO()):
                G = fce.COCO(copy.deepcopy(gt))
                D = G.loadRes(copy.deepcopy(dets))
            return _quiet(lambda: _run(fce.COCOeval_faster(G, D, iou_type)))
        makers["faster-coco-eval"] = faster
    hot = optional("hotcoco")
    if hot is not None:
        def hotcoco(gt: dict[str, Any], dets: list[dict[str, Any]], iou_type: str) -> Callable[[], Any]:
            G = hot.COCO(copy.deepcopy(gt))
            D = G.load_res(copy.deepcopy(dets))
            return _quiet(lambda: _run(hot.COCOeval(G, D, iou_type)))
        makers["hotcoco"] = hotcoco
    if iou_type != "segm":  # vernier refuses the NumPy boxes that pycocotools' loadRes gives segm results
        makers["vernier"] = _pycocotools_like("vernier", "pycocotools.coco", "COCOeval")
    for name, make in makers.items():
        if make is not None:
            impls[name] = make(gt, dets, iou_type)
    return impls


def _case(n_images: int, iou_type: IouType) -> Case:
    label = f"{n_images} images, {iou_type}, evaluate + accumulate + summarize"

    def setup() -> dict[str, Callable[[], Any]]:
        gt, dets = synthetic.coco_like(n_images, iou_type=iou_type, seed=0)
        return evaluators(gt, dets, iou_type, pycocotools=n_images <= PYCOCOTOOLS_MAX_IMAGES)

    return Case("COCOeval", label, n_images, n_images, "images", setup, repeat=5)


def cases(quick: bool, sizes: list[int] | None) -> list[Case]:
    """The evaluation cases; ``sizes`` (box counts of the other families) does not apply."""
    if quick:  # pycocotools takes about 3 s a call here
        return [_case(200, "bbox")]
    return [_case(500, "bbox"), _case(5000, "bbox"), _case(500, "segm"), _case(2000, "keypoints")]
