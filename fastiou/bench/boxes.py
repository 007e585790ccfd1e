"""Benchmark cases for the pairwise box metrics (see fastiou.bench.runner)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .. import pairwise, reference, synthetic
from .runner import Case, has_backend, modes, optional

if TYPE_CHECKING:
    from .._validate import MetricName

#: op -> (fastiou function, torchvision name, the reference metric)
METRIC_FUNCTIONS: dict[str, tuple[Callable[..., Any], str, MetricName]] = {
    "box_iou": (pairwise.box_iou, "box_iou", "iou"),
    "generalized_box_iou": (pairwise.generalized_box_iou, "generalized_box_iou", "giou"),
    "distance_box_iou": (pairwise.distance_box_iou, "distance_box_iou", "diou"),
    "complete_box_iou": (pairwise.complete_box_iou, "complete_box_iou", "ciou"),
}


def numpy_box_iou(b1, b2):
    """torchvision's box_iou formula with NumPy broadcasting (the usual NumPy-only baseline)."""
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    lt = np.maximum(b1[:, None, :2], b2[None, :, :2])
    rb = np.minimum(b1[:, None, 2:], b2[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area1[:, None] + area2[None, :] - inter)


def _torch_threads(torch):
    import numba

    torch.set_num_threads(numba.get_num_threads())


def _metric_case(op, n, dtype=np.float32, with_reference=False, with_cython=True):
    fn, tv_name, ref_metric = METRIC_FUNCTIONS[op]
    label = f"{n}x{n} clustered {np.dtype(dtype).name}"

    def setup():
        b1 = synthetic.clustered_boxes(n, seed=1, dtype=dtype)[0]
        b2 = synthetic.clustered_boxes(n, seed=2, dtype=dtype)[0]
        out = np.empty((n, n), dtype=dtype)
        impls = {"fastiou[numba]": lambda: fn(b1, b2, out=out, backend="numba")}
        if with_cython and has_backend("cython"):
            impls["fastiou[cython]"] = lambda: fn(b1, b2, out=out, backend="cython")
        impls.update(modes(lambda backend: fn(b1, b2, out=out, backend=backend)))
        if with_reference:
            impls["reference (naive loops)"] = lambda: reference.pairwise(b1, b2, ref_metric)
        if op == "box_iou":
            impls["numpy (broadcast)"] = lambda: numpy_box_iou(b1, b2)
        torch = optional("torch")
        ops = optional("torchvision.ops")
        if torch is not None and ops is not None:
            _torch_threads(torch)
            t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)
            tv = getattr(ops, tv_name)
            impls["torchvision"] = lambda: tv(t1, t2)
        pb = optional("powerboxes")
        if pb is not None and op in ("box_iou", "generalized_box_iou"):
            pb_fn = pb.parallel_iou_distance if op == "box_iou" else pb.parallel_giou_distance
            impls["powerboxes (parallel)"] = lambda: pb_fn(b1, b2)
        cb = optional("cython_bbox")
        if cb is not None and op == "box_iou":
            d1, d2 = b1.astype(np.float64), b2.astype(np.float64)
            impls["cython_bbox (float64, offset=1)"] = lambda: cb.bbox_overlaps(d1, d2)
        return impls

    return Case(op, label, n, n * n, "pairs", setup, bytes_written=n * n * np.dtype(dtype).itemsize)


def _small_case(n):
    def setup():
        b1 = synthetic.scattered_boxes(n, seed=1)[0]
        b2 = synthetic.scattered_boxes(n, seed=2)[0]
        impls = modes(lambda backend: pairwise.box_iou(b1, b2, backend=backend))
        impls["numpy (broadcast)"] = lambda: numpy_box_iou(b1, b2)
        if has_backend("cython"):
            impls["fastiou[cython]"] = lambda: pairwise.box_iou(b1, b2, backend="cython")
        torch = optional("torch")
        ops = optional("torchvision.ops")
        if torch is not None and ops is not None:
            t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)
            impls["torchvision"] = lambda: ops.box_iou(t1, t2)
        return impls

    return Case("box_iou", f"{n}x{n} tracking-size float32", n, n * n, "pairs", setup, repeat=25)


_FIRST_CALL = (
    "import numpy as np, fastiou; "
    "b = np.array([[0, 0, 2, 2], [1, 1, 3, 3]], dtype=np.float32); fastiou.box_iou(b, b)"
)


def _startup_case():
    """A new process: interpreter start, ``import fastiou`` and the first ``box_iou`` call.

    Default: the Cython split and small-input path (no JIT start-up).  With
    ``FASTIOU_BACKEND=numba`` the first call starts Numba and loads its cached kernels.
    """

    def run(env_backend):
        env = {**os.environ, "FASTIOU_BACKEND": env_backend}
        return lambda: subprocess.run([sys.executable, "-c", _FIRST_CALL], env=env, check=True)

    def setup():
        impls = {"fastiou[auto]": run("auto"), "fastiou[numba] (FASTIOU_BACKEND=numba)": run("numba")}
        if optional("torchvision") is not None:
            impls["torchvision"] = lambda: subprocess.run(
                [sys.executable, "-c", "import torch, torchvision.ops as ops; b = torch.tensor("
                 "[[0., 0, 2, 2], [1, 1, 3, 3]]); ops.box_iou(b, b)"], check=True)
        return impls

    return Case("import + first box_iou", "new process, caches warm", 1, 1, "calls", setup, repeat=5)


def rotated_boxes(n: int, seed: int, scene: str, dtype=np.float32) -> np.ndarray:
    """``(n, 5)`` ``'cxcywhr'`` boxes: the synthetic ``scene`` ('clustered' or 'scattered') with
    random angles (clustered: near a per-scene angle, as proposals of one object)."""
    make = synthetic.clustered_boxes if scene == "clustered" else synthetic.scattered_boxes
    b = make(n, seed=seed, dtype=np.float64)[0]
    rng = np.random.default_rng(seed)
    angle = rng.normal(30, 10, n) if scene == "clustered" else rng.uniform(-90, 90, n)
    cxcywh = np.c_[(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]]
    return np.c_[cxcywh, angle].astype(dtype)


def _rotated_case(n, scene):
    def setup():
        b1, b2 = rotated_boxes(n, 1, scene), rotated_boxes(n, 2, scene)
        out = np.empty((n, n), np.float32)
        impls = {"fastiou[numba]": lambda: pairwise.box_iou(b1, b2, fmt="cxcywhr", out=out, backend="numba")}
        if has_backend("cython"):
            impls["fastiou[cython]"] = lambda: pairwise.box_iou(b1, b2, fmt="cxcywhr", out=out,
                                                               backend="cython")
        impls.update(modes(lambda backend: pairwise.box_iou(b1, b2, fmt="cxcywhr", out=out,
                                                            backend=backend)))
        torch = optional("torch")
        ops = optional("torchvision.ops")
        if torch is not None and ops is not None:
            _torch_threads(torch)
            t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)
            impls["torchvision"] = lambda: ops.box_iou(t1, t2, fmt="cxcywhr")
        pb = optional("powerboxes")
        if pb is not None:  # float64 only
            d1, d2 = b1.astype(np.float64), b2.astype(np.float64)
            impls["powerboxes (parallel, float64)"] = lambda: pb.parallel_rotated_iou_distance(d1, d2)
        return impls

    return Case("box_iou (rotated)", f"{n}x{n} {scene} float32 cxcywhr", n, n * n, "pairs", setup,
                bytes_written=n * n * 4)


def _batched_case(batch, n):
    """``box_iou`` of ``(batch, n, 4) x (batch, n, 4)``: one flat kernel call, against
    torchvision's batched call and fastiou's unbatched call of the same pair count."""
    def setup():
        b1 = synthetic.clustered_boxes(batch * n, seed=1)[0].reshape(batch, n, 4)
        b2 = synthetic.clustered_boxes(batch * n, seed=2)[0].reshape(batch, n, 4)
        out = np.empty((batch, n, n), np.float32)
        impls = modes(lambda backend: pairwise.box_iou(b1, b2, out=out, backend=backend))
        side = int(round(n * batch**0.5))  # side x side = batch * n * n pairs, one batch
        f1, f2 = b1.reshape(-1, 4)[:side], b2.reshape(-1, 4)[:side]
        flat = np.empty((side, side), np.float32)
        impls[f"fastiou, one {side}x{side} call"] = lambda: pairwise.box_iou(f1, f2, out=flat)
        torch = optional("torch")
        ops = optional("torchvision.ops")
        if torch is not None and ops is not None:
            _torch_threads(torch)
            t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)
            impls["torchvision"] = lambda: ops.box_iou(t1, t2)
        return impls

    # ratios over the batched call (the unbatched one is a reference, not the baseline)
    return Case("box_iou (batched)", f"({batch}, {n}, 4) x ({batch}, {n}, 4) clustered float32", batch * n,
                batch * n * n, "pairs", setup, bytes_written=batch * n * n * 4, baseline="fastiou[auto]")


def cases(quick: bool, sizes: list[int] | None):
    if sizes is None:
        sizes = [2000] if quick else [1000, 4000, 10000]
    out = [] if quick else [_startup_case()]  # new processes take seconds each
    out += [_small_case(10), _metric_case("box_iou", 300, with_reference=True)]
    for n in sizes:
        for op in METRIC_FUNCTIONS:
            out.append(_metric_case(op, n))
    out.append(_batched_case(64, 1000))
    out += [_rotated_case(2000, scene) for scene in ("scattered", "clustered")]
    return out
