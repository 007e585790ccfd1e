"""Threads and configuration: ``set_num_threads``, ``get_num_threads``, ``show_config``."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import numpy as np

from . import _config, backends


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the parallel kernels of every CPU backend (numba and cython).

    Process-global: every Python thread's kernels use ``n`` (a ThreadPoolExecutor
    or Dask worker too), unlike ``numba.set_num_threads``, which is per thread.
    ``NUMBA_NUM_THREADS`` (read when numba is imported) caps ``n``.  Before a
    parallel Numba kernel runs, the calling thread's Numba count is set to ``n``.
    A child made by ``os.fork()`` runs serially whatever ``n`` is (see ``show_config``).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.set_num_threads(1); fastiou.get_num_threads()
    1
    >>> import numba; fastiou.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    """
    import numba

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an integer, got {type(n).__name__}")
    limit = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= limit:
        raise ValueError(f"n must be between 1 and {limit} (NUMBA_NUM_THREADS), got {n}")
    backends.set_num_threads(int(n))


def get_num_threads() -> int:
    """The number of threads the parallel kernels use.

    What :func:`set_num_threads` set, in every Python thread; before it is called,
    the calling thread's Numba count (``NUMBA_NUM_THREADS`` unless changed).

    Examples
    --------
    >>> import fastiou
    >>> fastiou.get_num_threads() >= 1
    True
    """
    return backends.get_num_threads()


def config_info() -> dict[str, Any]:
    """Versions, backends, threads and tunables, as a dict (what :func:`show_config` prints)."""
    import numba

    from . import __version__

    info: dict[str, Any] = {
        "fastiou": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "threads": get_num_threads(),
        "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS,
        "threading layer": _threading_layer(),
        "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "(unset)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "forked child": _fork_status(),
        "default backend": backends.DEFAULT,
        "FASTIOU_BACKEND": os.environ.get("FASTIOU_BACKEND", "(unset)"),
        "small pairwise path below (pairs)": _config.SERIAL_WORK_THRESHOLD,
        "parallel region cost": _region_costs(),
    }
    for name, status in backends.available().items():
        info[f"backend {name}"] = status
    if info["backend cuda"] == "yes":
        info["gpu"] = backends.load("cuda").device_name()
    return info


def _threading_layer() -> str:
    import numba

    try:
        layer: str = numba.threading_layer()
        return layer
    except ValueError:  # no parallel kernel has run yet
        return f"(not started; configured: {numba.config.THREADING_LAYER})"


def _region_costs() -> str:
    """The cost model's measured parallel-region cost of each CPU backend (measured now if
    no call has needed it yet)."""
    costs = []
    for name in ("numba", "cython"):
        try:
            backends.load(name)
        except ImportError:
            continue
        cost = backends._cost.region_cost(name, get_num_threads())
        costs.append(f"{name} {cost.warm * 1e3:.3f} ms warm, {cost.cold * 1e3:.3f} ms after idling")
    return "; ".join(costs)


def _fork_status() -> str:
    serial = backends.fork_serial
    if not serial:
        return "no"
    return "yes, serial: " + "; ".join(f"{name} ({why})" for name, why in serial.items())


def show_config() -> None:
    """Print versions, available backends (and why one is not), threads and the GPU.

    Examples
    --------
    >>> import fastiou
    >>> fastiou.show_config()  # doctest: +ELLIPSIS
    fastiou: ...
    """
    for key, value in config_info().items():
        print(f"{key}: {value}")
