"""The dispatcher: picks the backend that runs a kernel.

``'auto'`` (the default, or ``FASTIOU_BACKEND``) takes the CUDA backend for CUDA
arrays and otherwise the Numba backend; every backend runs a kernel's serial twin
unless the cost model (:mod:`._cost`: the measured cost of a parallel region
against the call's estimated serial time) says the parallel one pays, or, for the
kinds whose parallel Numba kernel is faster on one thread, runs that kernel on the
calling thread alone (:func:`._cost.on_one_thread`).
``'numba'``, ``'cython'`` and ``'cuda'`` force a backend; asking for one that is
not installed raises ``ImportError`` saying how to install it.

Each backend has one module per family of kernels (a file owns one concern):
``numba_cpu.py`` / ``cython.py`` / ``numba_cuda.py`` for box metrics, and
``<backend>_<family>.py`` for the others (``numba_cpu_nms.py``, ...).  Every
module of a family exposes the same functions, called with the same arguments.

Threads and fork safety live here too, so that every parallel kernel obeys them:

- :func:`select` is the only place that says ``parallel``; :func:`threads` turns it
  into the thread count of a Cython kernel (1: a plain loop, no OpenMP call at all).
- ``fastiou.set_num_threads(n)`` is process-global: :func:`set_num_threads` stores
  ``n`` here, Cython kernels read it, and :func:`select` copies it into Numba's
  per-thread count (``numba.set_num_threads`` is thread-local) before a parallel Numba
  kernel of any Python thread.  Until it is called, each thread follows Numba's count.
- A child made by ``os.fork()`` (multiprocessing's default on Linux, PyTorch
  DataLoader workers, gunicorn) inherits a dead OpenMP pool: GNU libgomp hangs when it
  is used again, and Numba's ``omp`` layer kills the child.  An ``os.register_at_fork``
  hook therefore makes the child run serially: the Cython backend always (its OpenMP
  cannot be restarted), Numba unless its threading layer starts afresh in a child
  (``tbb``, or ``workqueue``, which aborts when two Python threads run parallel kernels
  at once; started, or asked for with ``NUMBA_THREADING_LAYER``).
  The check costs a set lookup; ``fastiou config`` shows what runs serially and why.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import Any, Callable, Literal, cast

from .._config import SERIAL_WORK_THRESHOLD  # noqa: F401  (fastiou.pairwise's small path)
from . import _cost

BACKENDS = ("auto", "numba", "cython", "cuda")
MODULES = {"numba": "numba_cpu", "cython": "cython", "cuda": "numba_cuda"}
INSTALL_HINTS = {
    "numba": "pip install numba",
    "cython": "the cython backend is compiled at install: reinstall fastiou from source "
    "with a C compiler (pip install --force-reinstall --no-binary fastiou fastiou)",
    "cuda": "the cuda backend needs an NVIDIA GPU and numba-cuda: pip install 'fastiou[cuda]'",
}


def _default_backend() -> Literal["auto", "numba", "cython", "cuda"]:
    name = os.environ.get("FASTIOU_BACKEND", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise ValueError(f"FASTIOU_BACKEND must be one of {BACKENDS}, got {name!r}")
    return cast("Literal['auto', 'numba', 'cython', 'cuda']", name)  # one of BACKENDS


DEFAULT = _default_backend()
_loaded: dict[tuple[str, str], ModuleType] = {}


def load(name: str, family: str = "boxes") -> Any:  # a ModuleType (its kernels are untyped)
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


_serial_entries: dict[str, Callable[..., Any] | None] = {}
#: Each serial entry's (Cython extension, module of its Numba twin, or None for none).
_SERIAL_ENTRIES = {"fill_columns": ("_cy_boxes", "numba_cpu"), "small_metric": ("_cy_boxes", "numba_cpu"),
                   "small_nms": ("_cy_nms", "numba_cpu_nms"), "small_rle_overlap": ("_cy_masks", None)}


def serial_entry(name: str) -> Any:  # a function, or None (see below)
    """``fill_columns``, ``small_metric``, ``small_nms`` or ``small_rle_overlap``: from the
    Cython extension when it is built (calling it needs no JIT, so a new process pays no
    Numba start-up and a small call costs about half as much), else from its Numba twin
    (same arguments and results), or None for an entry with no twin.
    """
    if name not in _serial_entries:
        extension, twin = _SERIAL_ENTRIES[name]
        module: ModuleType | None
        try:
            module = importlib.import_module(f"..{extension}", __name__)
        except ImportError:
            module = None if twin is None else importlib.import_module(f".{twin}", __name__)
        _serial_entries[name] = None if module is None else getattr(module, name)
    return _serial_entries[name]


def compiled_first(family: str) -> str:
    """What 'auto' means for a one-shot job (COCO evaluation): ``FASTIOU_BACKEND`` if it
    names a CPU backend, else Cython where it is built (calling it loads no JIT cache:
    a new process pays no Numba start-up), else Numba."""
    if DEFAULT in ("numba", "cython"):
        return DEFAULT
    try:
        load("cython", family)
    except ImportError:
        return "numba"
    return "cython"


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


#: ``fastiou.set_num_threads``'s count, for every Python thread (None: Numba's count).
_num_threads: int | None = None
#: The backends that run serially in this process because it is a forked child, and why.
fork_serial: dict[str, str] = {}
_serial_only: frozenset[str] = frozenset()  # fork_serial's backends, and 'cuda' with 'numba'


#: True / False runs every call in parallel / serially (tests, ``fastiou bench``'s
#: serial and parallel columns); None lets the cost model decide.  A forked child
#: runs serially either way.
FORCE_PARALLEL: bool | None = None


def select(backend: str, work: int, on_device: bool = False, family: str = "boxes",
           kind: str | None = None) -> tuple[Any, bool]:  # (a ModuleType, parallel)
    """``(module, parallel)`` for ``backend``, a ``family`` of kernels and ``work`` units.

    ``parallel`` comes from the cost model (:mod:`._cost`) for ``work`` units of the
    work model's ``kind`` (default: the family's name).
    """
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
    module = load(backend, family)
    kind = kind or ("iou_pairs" if family == "boxes" else family)
    if backend in _serial_only:
        parallel = False
    elif FORCE_PARALLEL is not None:
        _cost.end_call()  # its kernels are not the open call's
        parallel = FORCE_PARALLEL
    else:
        parallel = _cost.pays(backend, work, kind, get_num_threads)
    # serial: the parallel kernel on this thread alone, where it runs faster than its twin
    one_thread = (not parallel and backend != "cython" and backend not in _serial_only
                  and _cost.on_one_thread(work, kind))
    _cost.run_serial_on_one_thread(one_thread)
    if one_thread:
        return module, True
    if parallel and _num_threads is not None and backend != "cython":
        _numba_threads_to(_num_threads)  # the CPU kernels of 'cuda' are Numba's too
    return module, parallel


def threads(parallel: bool) -> int:
    """The thread count a Cython kernel runs on: 1 (a plain loop, no OpenMP) unless ``parallel``."""
    if not parallel:
        return 1
    return get_num_threads()  # not set: the calling thread's Numba count, as the Numba kernels use


def set_num_threads(n: int | None) -> None:
    """Make ``n`` the thread count of every Python thread's parallel kernels (None: Numba's)."""
    global _num_threads
    _num_threads = n


def get_num_threads() -> int:
    """The thread count of the calling thread's parallel kernels (when they run in parallel)."""
    if _num_threads is not None:
        return _num_threads
    numba = sys.modules.get("numba")
    if numba is None:  # nothing can have changed Numba's default: a Cython kernel does not start Numba
        return _numba_default_threads()
    return int(numba.get_num_threads())


def _numba_default_threads() -> int:
    """Numba's default thread count (numba.config.NUMBA_NUM_THREADS), without importing Numba."""
    try:
        return max(1, int(os.environ["NUMBA_NUM_THREADS"]))
    except (KeyError, ValueError):
        pass
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _numba_threads_to(n: int) -> None:
    # Numba's count is per thread: a Dask or ThreadPool worker starts with the default.
    import numba

    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


def _numba_layer() -> str:
    """Numba's threading layer: the one started, else the one asked for (without importing Numba)."""
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            layer: str = numba.threading_layer()
            return layer
        except ValueError:  # not started yet
            return str(numba.config.THREADING_LAYER).lower()
    return os.environ.get("NUMBA_THREADING_LAYER", "default").strip().lower() or "default"


#: Numba threading layers (or requests) that start a fresh pool in a forked child.
FORK_SAFE_LAYERS = ("workqueue", "tbb", "forksafe", "safe")


def _after_fork_in_child() -> None:
    # GNU libgomp keeps the parent's pool, whose threads do not exist here: the next
    # parallel region waits for them forever (Numba's 'omp' layer kills the child instead).
    global _serial_only
    fork_serial["cython"] = "OpenMP cannot be restarted after fork()"
    layer = _numba_layer()
    if layer not in FORK_SAFE_LAYERS:
        fork_serial["numba"] = f"threading layer {layer!r} is not fork-safe; tbb and workqueue are"
    # the host-side kernels of 'cuda' are Numba's
    _serial_only = frozenset(fork_serial) | ({"cuda"} if "numba" in fork_serial else set())


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
