"""Benchmark cases for the NMS family (see fastiou.bench.runner): nms, batched_nms, soft_nms, fusion.

Detector-like clustered boxes (``synthetic.clustered_boxes``), IoU threshold 0.5,
float32, against torchvision, lsnms, powerboxes and ensemble-boxes where installed.
torchvision's NMS compares every kept box with every later box, so its rows are
left out of the largest scattered case (it takes minutes there).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import reference, synthetic
from ..nms import batched_nms, nms, soft_nms, weighted_boxes_fusion
from .runner import Case, has_backend, modes, optional

THRESHOLD = 0.5


def _torch(module="torchvision.ops"):
    torch, ops = optional("torch"), optional(module)
    if torch is None or ops is None:
        return None, None
    import numba

    torch.set_num_threads(numba.get_num_threads())
    return torch, ops


def _fastiou_impls(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Callable[[], Any]]:
    impls = modes(lambda backend: fn(*args, backend=backend, **kwargs))
    for backend in ("numba", "cython"):
        if has_backend(backend):
            # (mypy cannot type a lambda whose default argument binds the loop variable)
            impls[f"fastiou[{backend}]"] = (
                lambda b=backend: fn(*args, backend=b, **kwargs))  # type: ignore[misc]
    return impls


def _nms_case(n, kind="clustered", with_torchvision=True, with_reference=False, repeat=7):
    label = f"{n} {kind} float32"

    def setup():
        if kind == "clustered":
            boxes, scores, _ = synthetic.clustered_boxes(n, seed=1)
        else:
            boxes, scores, _ = synthetic.scattered_boxes(n, image_size=10_000.0, seed=1)
        impls = _fastiou_impls(nms, boxes, scores, THRESHOLD)
        if with_reference:
            impls["reference (naive loops)"] = lambda: reference.nms(boxes, scores, THRESHOLD)
        torch, ops = _torch()
        if torch is not None and with_torchvision:
            tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
            impls["torchvision"] = lambda: ops.nms(tb, ts, THRESHOLD)
        lsnms = optional("lsnms")
        if lsnms is not None:
            impls["lsnms (rust r-tree)"] = lambda: lsnms.nms(boxes, scores, THRESHOLD, 0.0)
        pb = optional("powerboxes")
        if pb is not None:
            s64 = scores.astype(np.float64)
            impls["powerboxes"] = lambda: pb.nms(boxes, s64, THRESHOLD, 0.0)
            impls["powerboxes (r-tree)"] = lambda: pb.rtree_nms(boxes, s64, THRESHOLD, 0.0)
        return impls

    return Case("nms", label, n, n, "boxes", setup, repeat=repeat)


def _batched_case(n):
    def setup():
        boxes, scores, labels = synthetic.clustered_boxes(n, seed=2)
        impls = _fastiou_impls(batched_nms, boxes, scores, labels, THRESHOLD)
        torch, ops = _torch()
        if torch is not None:
            tb, ts, tl = torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(labels)
            impls["torchvision"] = lambda: ops.batched_nms(tb, ts, tl, THRESHOLD)
        lsnms = optional("lsnms")
        if lsnms is not None:
            impls["lsnms (rust r-tree)"] = lambda: lsnms.nms(boxes, scores, THRESHOLD, 0.0, class_ids=labels)
        return impls

    return Case("batched_nms", f"{n} clustered, 80 classes, float32", n, n, "boxes", setup)


def _small_case(n=100):
    def setup():
        boxes, scores, labels = synthetic.clustered_boxes(n, seed=3)
        impls = modes(lambda backend: nms(boxes, scores, THRESHOLD, backend=backend))
        if has_backend("cython"):
            impls["fastiou[cython]"] = lambda: nms(boxes, scores, THRESHOLD, backend="cython")
        torch, ops = _torch()
        if torch is not None:
            tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
            impls["torchvision"] = lambda: ops.nms(tb, ts, THRESHOLD)
        return impls

    return Case("nms", f"{n} clustered float32 (one image)", n, n, "boxes", setup, repeat=25)


def _normalised(n, seed):
    boxes, scores, labels = synthetic.clustered_boxes(n, seed=seed, dtype=np.float64)
    return boxes / 1024.0, scores, labels


def _soft_case(n=2000):
    def setup():
        boxes, scores, labels = _normalised(n, 4)
        impls = _fastiou_impls(soft_nms, boxes, scores, 0.5, 0.5, 1e-3, "gaussian")
        eb = optional("ensemble_boxes")
        if eb is not None:
            # ensemble-boxes' own soft-NMS (method 2: gaussian), one model, labels all 0.
            zeros = np.zeros(n)
            impls["ensemble-boxes soft_nms"] = lambda: eb.soft_nms(
                [boxes], [scores], [zeros], method=2, iou_thr=0.5, sigma=0.5, thresh=1e-3)
        return impls

    return Case("soft_nms", f"{n} clustered, gaussian, float64", n, n, "boxes", setup)


def _wbf_case(n_models=3, n=1000):
    def setup():
        parts = [_normalised(n, 10 + t) for t in range(n_models)]
        boxes, scores, labels = ([p[k] for p in parts] for k in range(3))
        impls = _fastiou_impls(weighted_boxes_fusion, boxes, scores, labels)
        eb = optional("ensemble_boxes")
        if eb is not None:
            impls["ensemble-boxes"] = lambda: eb.weighted_boxes_fusion(boxes, scores, labels)
        return impls

    return Case("weighted_boxes_fusion", f"{n_models} models x {n} boxes, float64", n_models * n,
                n_models * n, "boxes", setup, repeat=5)


def _rotated_case(n, repeat=5):
    """Rotated NMS (``'cxcywhr'``) of ``n`` clustered proposals (fastiou.bench.boxes'
    rotated scene) with uniform random scores, against powerboxes' ``rotated_nms``."""
    def setup():
        from .boxes import rotated_boxes

        boxes = rotated_boxes(n, 1, "clustered")
        scores = np.random.default_rng(1).random(n).astype(np.float32)
        # one fastiou row: rotated NMS is one serial kernel (Numba's, for either CPU backend)
        impls = {"fastiou[auto]": lambda: nms(boxes, scores, THRESHOLD, fmt="cxcywhr")}
        pb = optional("powerboxes")
        if pb is not None and n <= 20_000:  # float64 only; minutes beyond
            b64, s64 = boxes.astype(np.float64), scores.astype(np.float64)
            impls["powerboxes (float64)"] = lambda: pb.rotated_nms(b64, s64, THRESHOLD, 0.0)
        return impls

    return Case("nms (rotated)", f"{n} clustered float32 cxcywhr", n, n, "boxes", setup, repeat=repeat)


def cases(quick: bool, sizes: list[int] | None):
    """The NMS family's cases: ``sizes`` sets the sizes of the clustered ``nms`` and
    ``batched_nms`` cases; the 200,000 scattered boxes (minutes with the third parties)
    belong to the full table only, not to a run narrowed by ``quick`` or ``sizes``."""
    full = not quick and sizes is None
    if sizes is None:
        sizes = [10_000] if quick else [10_000, 50_000]
    out = [_small_case(), _nms_case(300, with_reference=True)]
    for n in sizes:
        out.append(_nms_case(n))
    out.append(_nms_case(20_000, "scattered"))
    if full:
        out.append(_nms_case(200_000, "scattered", with_torchvision=False, repeat=3))
    for n in sizes:
        out.append(_batched_case(n))
    out.append(_soft_case())
    out.append(_wbf_case())
    out.append(_rotated_case(10_000))
    out.append(_rotated_case(100_000, repeat=3))
    return out
