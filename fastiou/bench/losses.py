"""Benchmark cases for the loss library (see fastiou.bench.runner).

The issue's targets, each timed against PyTorch on the CPU with as many threads
as Numba uses:

- ``cross_entropy`` of ``N x 80`` float32 logits (N = 1,000,000), value and
  gradient, against ``torch.nn.functional.cross_entropy`` forward + backward;
- ``sigmoid_focal_loss`` over 10,000,000 float32 logits against
  ``torchvision.ops.sigmoid_focal_loss`` (forward, and forward + backward);
- ``info_nce_loss`` of ``4096 x 256`` float32 query and key embeddings
  (in-batch negatives, cosine similarity), value and gradient, against the
  same computation in PyTorch (normalize, matmul, cross-entropy, backward).

Plus smaller cases: the GIoU loss against torchvision, smooth L1 against
PyTorch, and the NumPy formulations a NumPy-only user would write.
"""

from __future__ import annotations

import numpy as np

from .. import losses, reference, synthetic
from .runner import Case, modes, optional


def _torch():
    """PyTorch with Numba's thread count, or None when it is not installed."""
    torch = optional("torch")
    if torch is not None:
        import numba

        torch.set_num_threads(numba.get_num_threads())
    return torch


def _modes(call, suffix: str = "") -> dict:
    """The loss's auto, serial and parallel implementations (the losses run on Numba only)."""
    return modes(lambda backend: call(), suffix)


def numpy_cross_entropy(x: np.ndarray, y: np.ndarray):
    """Mean cross-entropy and its gradient, vectorised NumPy (log-softmax, gather, softmax - onehot)."""
    z = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - lse
    rows = np.arange(x.shape[0])
    value = -logp[rows, y].mean()
    grad = np.exp(logp)
    grad[rows, y] -= 1
    grad /= x.shape[0]
    return value, grad


def _cross_entropy_case(n: int, with_grad: bool, n_classes: int = 80) -> Case:
    def setup():
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, n_classes), dtype=np.float32) * 3
        y = rng.integers(0, n_classes, size=n)
        torch = _torch()
        if with_grad:
            impls = _modes(lambda: losses.cross_entropy(x, y, return_grad=True), " value+grad")
            impls["numpy (vectorised) value+grad"] = lambda: numpy_cross_entropy(x, y)
            if torch is not None:
                xt, yt = torch.from_numpy(x), torch.from_numpy(y)

                def torch_fwd_bwd():
                    leaf = xt.detach().requires_grad_(True)
                    torch.nn.functional.cross_entropy(leaf, yt).backward()
                    return leaf.grad

                impls["torch forward+backward"] = torch_fwd_bwd
        else:
            impls = _modes(lambda: losses.cross_entropy(x, y))
            if torch is not None:
                xt, yt = torch.from_numpy(x), torch.from_numpy(y)
                impls["torch forward"] = lambda: torch.nn.functional.cross_entropy(xt, yt)
        return impls

    nbytes = n * n_classes * 4
    label = f"{n}x{n_classes} float32" + (", value+grad" if with_grad else "")
    return Case("cross_entropy", label, n * n_classes, n * n_classes, "elements", setup,
                bytes_written=nbytes if with_grad else 0, bytes_read=nbytes)


def _reference_case(n: int, n_classes: int = 80) -> Case:
    """A small cross-entropy where the naive per-sample loop of fastiou.reference is timed too."""

    def setup():
        rng = np.random.default_rng(4)
        x = rng.standard_normal((n, n_classes)) * 3
        y = rng.integers(0, n_classes, size=n)
        impls = _modes(lambda: losses.cross_entropy(x, y, reduction="none"), " per sample")
        impls["reference (naive loops)"] = lambda: reference.cross_entropy_loss(x, y)
        return impls

    return Case("cross_entropy", f"{n}x{n_classes} float64, per sample", n * n_classes, n * n_classes,
                "elements", setup, repeat=3)


def _focal_case(n: int, with_grad: bool) -> Case:
    def setup():
        rng = np.random.default_rng(1)
        x = rng.standard_normal(n, dtype=np.float32) * 3
        t = (rng.random(n) < 0.1).astype(np.float32)
        if with_grad:
            impls = _modes(lambda: losses.sigmoid_focal_loss(x, t, reduction="mean", return_grad=True),
                           " value+grad")
        else:
            impls = _modes(lambda: losses.sigmoid_focal_loss(x, t))
        torch = _torch()
        ops = optional("torchvision.ops")
        if torch is not None and ops is not None:
            xt, tt = torch.from_numpy(x), torch.from_numpy(t)
            if with_grad:
                def tv_fwd_bwd():
                    leaf = xt.detach().requires_grad_(True)
                    ops.sigmoid_focal_loss(leaf, tt, reduction="mean").backward()
                    return leaf.grad

                impls["torchvision forward+backward"] = tv_fwd_bwd
            else:
                impls["torchvision"] = lambda: ops.sigmoid_focal_loss(xt, tt)
        return impls

    label = f"{n} float32" + (", mean, value+grad" if with_grad else ", reduction='none'")
    return Case("sigmoid_focal_loss", label, n, n, "elements", setup, bytes_written=4 * n, bytes_read=8 * n)


def _info_nce_case(n: int, d: int, with_grad: bool) -> Case:
    def setup():
        rng = np.random.default_rng(2)
        q = rng.standard_normal((n, d), dtype=np.float32)
        k = rng.standard_normal((n, d), dtype=np.float32)
        impls = _modes(lambda: losses.info_nce_loss(q, k, temperature=0.07, return_grad=with_grad),
                       " value+grad" if with_grad else "")
        torch = _torch()
        if torch is not None:
            tf = torch.nn.functional
            qt, kt = torch.from_numpy(q), torch.from_numpy(k)
            labels = torch.arange(n)

            def torch_loss(query):
                logits = tf.normalize(query, dim=1) @ tf.normalize(kt, dim=1).T / 0.07
                return tf.cross_entropy(logits, labels)

            if with_grad:
                def torch_fwd_bwd():
                    leaf = qt.detach().requires_grad_(True)
                    torch_loss(leaf).backward()
                    return leaf.grad

                impls["torch forward+backward"] = torch_fwd_bwd
            else:
                impls["torch forward"] = lambda: torch_loss(qt)
        return impls

    label = f"{n}x{d} float32" + (", value+grad" if with_grad else "")
    return Case("info_nce_loss", label, n, n * n, "pairs", setup)


def _giou_loss_case(n: int) -> Case:
    def setup():
        b1 = synthetic.clustered_boxes(n, seed=1)[0]
        b2 = synthetic.clustered_boxes(n, seed=2)[0]
        impls = _modes(lambda: losses.generalized_box_iou_loss(b1, b2, "mean", return_grad=True),
                       " value+grad")
        torch = _torch()
        ops = optional("torchvision.ops")
        if torch is not None and ops is not None:
            t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)

            def tv_fwd_bwd():
                leaf = t1.detach().requires_grad_(True)
                ops.generalized_box_iou_loss(leaf, t2, reduction="mean").backward()
                return leaf.grad

            impls["torchvision forward+backward"] = tv_fwd_bwd
        return impls

    return Case("generalized_box_iou_loss", f"{n} pairs float32, value+grad", n, n, "pairs", setup)


def _smooth_l1_case(n: int) -> Case:
    def setup():
        rng = np.random.default_rng(3)
        x = rng.standard_normal(n, dtype=np.float32)
        t = rng.standard_normal(n, dtype=np.float32)
        impls = _modes(lambda: losses.smooth_l1_loss(x, t, return_grad=True), " value+grad")
        impls["numpy value+grad"] = lambda: _numpy_smooth_l1(x, t)
        torch = _torch()
        if torch is not None:
            xt, tt = torch.from_numpy(x), torch.from_numpy(t)

            def torch_fwd_bwd():
                leaf = xt.detach().requires_grad_(True)
                torch.nn.functional.smooth_l1_loss(leaf, tt).backward()
                return leaf.grad

            impls["torch forward+backward"] = torch_fwd_bwd
        return impls

    return Case("smooth_l1_loss", f"{n} float32, mean, value+grad", n, n, "elements", setup,
                bytes_written=4 * n, bytes_read=8 * n)


def _numpy_smooth_l1(x: np.ndarray, t: np.ndarray, beta: float = 1.0):
    """Smooth L1 mean and gradient in NumPy (what a NumPy-only user writes)."""
    d = x - t
    ad = np.abs(d)
    small = ad < beta
    value = np.where(small, 0.5 * d * d / beta, ad - 0.5 * beta).mean()
    grad = np.where(small, d / beta, np.sign(d)) / d.size
    return value, grad


def cases(quick: bool, sizes: list[int] | None):
    """The loss cases; their sizes are the issue's targets (``sizes`` applies to box metrics only)."""
    if quick:
        return [
            _reference_case(2000),
            _cross_entropy_case(100_000, with_grad=True),
            _focal_case(1_000_000, with_grad=False),
            _info_nce_case(1024, 256, with_grad=True),
            _giou_loss_case(100_000),
            _smooth_l1_case(1_000_000),
        ]
    return [
        _reference_case(2000),
        _cross_entropy_case(1_000_000, with_grad=True),
        _cross_entropy_case(1_000_000, with_grad=False),
        _focal_case(10_000_000, with_grad=False),
        _focal_case(10_000_000, with_grad=True),
        _info_nce_case(4096, 256, with_grad=False),
        _info_nce_case(4096, 256, with_grad=True),
        _giou_loss_case(1_000_000),
        _smooth_l1_case(10_000_000),
    ]
