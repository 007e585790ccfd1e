"""The dispatcher: picks the backend that runs a kernel.

``'auto'`` (the default, or ``FASTIOU_BACKEND``) takes the CUDA backend for CUDA
arrays and otherwise the Numba backend, running its serial twin below
``SERIAL_WORK_THRESHOLD`` (a thread pool costs more to wake than a small job).
``'numba'``, ``'cython'`` and ``'cuda'`` force a backend; asking for one that is
not installed raises ``ImportError`` saying how to install it.

Each backend has one module per family of kernels (a file owns one concern):
``numba_cpu.py`` / ``cython.py`` / ``numba_cuda.py`` for box metrics, and
``<backend>_<family>.py`` for the others (``numba_cpu_nms.py``, ...).  Every
module of a family exposes the same functions, called with the same arguments.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from .._config import SERIAL_WORK_THRESHOLD

BACKENDS = ("auto", "numba", "cython", "cuda")
MODULES = {"numba": "numba_cpu", "cython": "cython", "cuda": "numba_cuda"}
INSTALL_HINTS = {
    "numba": "pip install numba",
    "cython": "the cython backend is compiled at install: reinstall fastiou from source "
    "with a C compiler (pip install --force-reinstall --no-binary fastiou fastiou)",
    "cuda": "the cuda backend needs an NVIDIA GPU and numba-cuda: pip install 'fastiou[cuda]'",
}


def _default_backend() -> str:
    name = os.environ.get("FASTIOU_BACKEND", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise ValueError(f"FASTIOU_BACKEND must be one of {BACKENDS}, got {name!r}")
    return name


DEFAULT = _default_backend()
_loaded: dict[str, Any] = {}


def load(name: str, family: str = "boxes"):
    """The ``family`` module of backend ``name`` (``'numba'``, ``'cython'``, ``'cuda'``), imported once."""
    key = (name, family)
    module = _loaded.get(key)
    if module is None:
        suffix = "" if family == "boxes" else f"_{family}"
        try:
            module = importlib.import_module(f".{MODULES[name]}{suffix}", __name__)
        except ImportError as exc:
            raise ImportError(f"backend {name!r} is not available ({exc}); {INSTALL_HINTS[name]}") from exc
        if name == "cuda":
            module.require_gpu()
        _loaded[key] = module
    return module


_serial_entries: dict[str, Any] = {}


def serial_entry(name: str):
    """``fill_columns`` or ``small_metric``: from the Cython extension when it is built
    (calling it needs no JIT, so a new process pays no Numba start-up and a small call
    costs about half as much), else from :mod:`.numba_cpu`.  Same arguments and results.
    """
    entry = _serial_entries.get(name)
    if entry is None:
        try:
            from .. import _cy_boxes as module
        except ImportError:
            from . import numba_cpu as module
        entry = _serial_entries[name] = getattr(module, name)
    return entry


def available() -> dict[str, str]:
    """Each backend and whether it can run here (``'yes'`` or the reason it cannot)."""
    status = {}
    for name in BACKENDS[1:]:
        try:
            load(name)
            status[name] = "yes"
        except (ImportError, RuntimeError) as exc:
            status[name] = str(exc)
    return status


def select(backend: str, work: int, on_device: bool = False, family: str = "boxes"):
    """``(module, parallel)`` for ``backend``, a ``family`` of kernels and ``work`` pairs or boxes."""
    if backend == "auto":
        backend = DEFAULT
    if backend == "auto":
        backend = "cuda" if on_device else "numba"
    elif backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if on_device and backend != "cuda":
        raise ValueError(
            f"backend={backend!r} cannot take CUDA arrays; copy them to the host or use backend='cuda'"
        )
    return load(backend, family), work >= SERIAL_WORK_THRESHOLD
