"""Device-array plumbing shared by the CUDA backend modules (``numba_cuda*.py``).

A call on CUDA arrays works in the array library of its first CUDA input:
PyTorch, CuPy, or anything else with ``__cuda_array_interface__`` (Numba device
arrays included).  :class:`Library` wraps inputs as Numba device arrays without
copying, allocates outputs and scratch with that library's allocator (PyTorch's
and CuPy's memory pools are much cheaper than a bare ``cudaMalloc``), launches on
that library's current stream and device, and returns results of the same kind.

The few steps Numba has no kernel for (a stable sort of the scores, a boolean
compaction) run in the caller's library; for Numba device arrays and other CUDA
arrays they run in NumPy on host copies of O(N) data.

Under ``NUMBA_ENABLE_CUDASIM=1`` Numba's device arrays are the simulator's
``FakeCUDAArray``, which has no ``__cuda_array_interface__``: they are recognised
by Numba's own ``__cuda_ndarray__`` marker, so the simulator runs the same code.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
from numba import cuda


def is_numba_device_array(x) -> bool:
    """A Numba device array (a simulator ``FakeCUDAArray`` included)."""
    return getattr(x, "__cuda_ndarray__", False) is True


def _kind(x) -> str:
    top = type(x).__module__.split(".", 1)[0]
    return top if top in ("torch", "cupy") else "numba"


class Library:
    """Allocation, stream, device and results in the library of the CUDA array ``like``.

    ``like=None`` (NumPy input run with ``backend='cuda'``) works with Numba device arrays.
    """

    def __init__(self, like=None):
        self.kind = "numba" if like is None else _kind(like)
        self.like = like
        self.device_index = None
        if self.kind == "torch":
            import torch

            self.device_index = like.device.index
            self.stream = cuda.external_stream(torch.cuda.current_stream(like.device).cuda_stream)
            # the ops of the caller's kind, duck-typed: which methods are called depends on self.kind
            self.ops: Any = _TorchOps(torch, like.device)
        elif self.kind == "cupy":
            import cupy

            self.device_index = like.device.id
            self.stream = cuda.external_stream(cupy.cuda.get_current_stream().ptr)
            self.ops = _CupyOps(cupy, like.device)
        else:
            self.stream = cuda.default_stream()
            self.ops = _HostOps(self)

    def device(self):
        """Context manager: make the input's GPU the current one while launching."""
        if self.device_index is None:
            return contextlib.nullcontext()
        return cuda.gpus[self.device_index]

    def view(self, x):
        """A Numba device array on the memory of the CUDA array ``x`` (no copy).

        PyTorch and CuPy arrays are taken without a stream sync: the kernels run on
        their library's current stream, after the work that produced them.
        """
        if is_numba_device_array(x):
            return x
        return cuda.as_cuda_array(x, sync=_kind(x) == "numba")

    def empty(self, shape, dtype):
        """``(array of the caller's kind, its Numba view)``, uninitialised."""
        if self.kind == "numba":
            obj = cuda.device_array(shape, dtype=np.dtype(dtype), stream=self.stream)
        else:
            obj = self.ops.empty(shape, np.dtype(dtype))
        return obj, self.view(obj)

    def zeros(self, shape, dtype):
        """A zeroed Numba device array (scratch)."""
        if self.kind == "numba":
            return self.to_device(np.zeros(shape, dtype=dtype))
        return self.view(self.ops.zeros(shape, np.dtype(dtype)))

    def full(self, shape, value, dtype):
        """A Numba device array filled with ``value`` (scratch), without a host copy."""
        if self.kind == "numba":
            return self.to_device(np.full(shape, value, dtype=dtype))
        return self.view(self.ops.full(shape, value, np.dtype(dtype)))

    def wrap(self, view):
        """The Numba device array ``view`` as an array of the caller's kind (no copy)."""
        return view if self.kind == "numba" else self.ops.from_view(view)

    def to_host(self, view) -> np.ndarray:
        """Copy a (small) device array to the host, after the work queued before it."""
        host = view.copy_to_host(stream=self.stream)
        self.stream.synchronize()
        return host

    def to_device(self, host: np.ndarray):
        """Copy a host array to the device (a Numba device array)."""
        return cuda.to_device(np.ascontiguousarray(host), stream=self.stream)

    # --- the steps without a Numba kernel (NMS) ----------------------------------------

    def score_order(self, scores, labels, score_threshold):
        """``(by_score, visit, n, first_nan)`` for the device ``scores`` (and ``labels``).

        ``by_score``: every index by decreasing score, ties by lower index (a stable
        sort; -0.0 ties with 0.0), the candidates (score > ``score_threshold``,
        compared in float64) first, ``n`` of them.  ``visit``: the candidates
        grouped by label (a stable sort) when ``labels`` is given, then the others:
        a permutation of all boxes.  ``first_nan``: the index of the first NaN
        score, or -1; with a NaN nothing else is computed.  Numba device arrays.
        """
        ops = self.ops
        s = ops.float64(ops.array(scores)) + 0.0  # -0.0 + 0.0 is +0.0
        nan = ops.xp.isnan(s)
        if bool(nan.any()):
            return None, None, 0, ops.first_true(nan)
        by_score = ops.argsort(-s)
        n = s.shape[0] if score_threshold is None else int((s > score_threshold).sum())
        visit = by_score
        if labels is not None:
            head = by_score[:n]
            visit = ops.concat([head[ops.argsort(ops.array(labels)[head])], by_score[n:]])
        return ops.device(by_score), ops.device(visit), n, -1

    def gather(self, values, order, n: int):
        """``values[order[:n]]`` (a Numba device array), gathered by the caller's library."""
        ops = self.ops
        return ops.device(ops.array(values)[ops.array(order)[:n]])

    def kept_in_score_order(self, by_score, n, keep, k, n_total, max_output):
        """The kept indices ``keep[:k]`` in the order of ``by_score[:n]`` (a boolean
        compaction), cut to ``max_output`` (-1: all), as an array of the caller's kind."""
        ops = self.ops
        order = ops.array(by_score)[:n]
        flags = ops.zeros((n_total,), np.dtype(np.bool_))
        flags[ops.array(keep)[:k]] = True
        result = order[flags[order]]
        if max_output >= 0:
            result = result[:max_output]
        return ops.result(result)


class _TorchOps:
    def __init__(self, torch, device):
        self.xp = torch
        self.device_ = device

    def _dtype(self, dtype):
        return getattr(self.xp, "bool" if dtype.kind == "b" else dtype.name)

    def empty(self, shape, dtype):
        return self.xp.empty(shape, dtype=self._dtype(dtype), device=self.device_)

    def zeros(self, shape, dtype):
        return self.xp.zeros(shape, dtype=self._dtype(dtype), device=self.device_)

    def full(self, shape, value, dtype):
        return self.xp.full(shape, value, dtype=self._dtype(dtype), device=self.device_)

    def from_view(self, view):
        return self.xp.as_tensor(view, device=self.device_)

    array = from_view

    def device(self, a):
        return cuda.as_cuda_array(a.contiguous(), sync=False)

    def result(self, a):
        return a

    def float64(self, a):
        return a.to(self.xp.float64)

    def argsort(self, a):
        return self.xp.sort(a, stable=True).indices

    def concat(self, parts):
        return self.xp.cat(parts)

    def first_true(self, flags):
        return int(self.xp.nonzero(flags, as_tuple=True)[0][0])


class _CupyOps:
    def __init__(self, cupy, device):
        self.xp = cupy
        self.device_ = device

    def empty(self, shape, dtype):
        with self.device_:
            return self.xp.empty(shape, dtype=dtype)

    def zeros(self, shape, dtype):
        with self.device_:
            return self.xp.zeros(shape, dtype=dtype)

    def full(self, shape, value, dtype):
        with self.device_:
            return self.xp.full(shape, value, dtype=dtype)

    def from_view(self, view):
        with self.device_:
            return self.xp.asarray(view)

    array = from_view

    def device(self, a):
        return cuda.as_cuda_array(self.xp.ascontiguousarray(a), sync=False)

    def result(self, a):
        return a

    def float64(self, a):
        return a.astype(self.xp.float64)

    def argsort(self, a):
        return self.xp.argsort(a)  # CuPy's sorts are stable

    def concat(self, parts):
        return self.xp.concatenate(parts)

    def first_true(self, flags):
        return int(self.xp.nonzero(flags)[0][0])


class _HostOps:
    """NumPy on host copies (Numba device arrays and other CUDA arrays)."""

    xp = np

    def __init__(self, lib: Library):
        self.lib = lib

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def array(self, view):
        return self.lib.to_host(view) if view.shape[0] else np.empty(view.shape, view.dtype)

    def device(self, a):
        return self.lib.to_device(a)

    result = device

    def float64(self, a):
        return a.astype(np.float64)

    def argsort(self, a):
        return np.argsort(a, kind="stable")

    def concat(self, parts):
        return np.concatenate(parts)

    def first_true(self, flags):
        return int(np.flatnonzero(flags)[0])
