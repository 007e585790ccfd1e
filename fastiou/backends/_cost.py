"""The cost model behind ``select``: run a kernel in parallel only when that pays.

A parallel region has a fixed cost: waking the pool, handing out work, waiting
for the last thread.  On a 2-vCPU virtual machine it was measured at 12-23 us
with a warm pool and up to ~8 ms after the pool had been idle a few
milliseconds (idle virtual CPUs wake slowly), more than many whole jobs.  So:

- :func:`region_cost` measures it once per process and backend, on the first
  call big enough to ask: a few empty regions while the pool is warm and a few
  after it has been idle (``IDLE_S``), keeping the larger median;
- the work model estimates the call's serial time as ``work`` times the kind's
  serial nanoseconds per unit (``fastiou._config.SERIAL_NS_PER_UNIT``);
- :func:`pays` goes parallel only when the time saved on ``threads`` threads,
  ``serial * (1 - 1 / threads)``, exceeds the region cost by ``MARGIN``.

The choice is deterministic given the measured cost (tests set it), and the
kernels' serial and parallel paths give bit-identical results, so it changes
only the time.
"""

from __future__ import annotations

import statistics
import time

from .. import _config

#: Parallel only when the expected saving is this many times the region cost.
MARGIN = 2.0
#: How long the pool is left idle before each of the idle measurements.
IDLE_S = 0.02
#: Below this estimated serial time no parallel region can pay: not even measured.
MIN_SERIAL_S = 50e-6

_costs: dict[str, float] = {}
_numba_region = None


def _numba_empty_region(threads: int) -> None:
    global _numba_region
    if _numba_region is None:
        import numba
        import numpy as np

        @numba.njit(parallel=True, cache=True)
        def empty_region(out):
            for i in numba.prange(out.shape[0]):
                out[i] = i

        buf = np.empty(64, np.int64)
        _numba_region = lambda: empty_region(buf)  # noqa: E731
    _numba_region()


def _cython_empty_region(threads: int) -> None:
    from .. import _cy_boxes

    _cy_boxes.empty_region(threads)


def _median_time(run, repeat: int, idle: float) -> float:
    times = []
    for _ in range(repeat):
        if idle:
            time.sleep(idle)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(backend: str, threads: int) -> float:
    """Seconds one empty parallel region of ``backend`` costs here: the larger of the
    medians with a warm pool and after ``IDLE_S`` of idleness."""
    region = _cython_empty_region if backend == "cython" else _numba_empty_region
    run = lambda: region(threads)  # noqa: E731
    run()  # compile (or load from the cache) and start the pool
    warm = _median_time(run, 7, 0.0)
    idle = _median_time(run, 3, IDLE_S)
    return max(warm, idle)


def region_cost(backend: str, threads: int) -> float:
    """:func:`measure`'d once per process and backend ('cuda''s host kernels are Numba's)."""
    key = "cython" if backend == "cython" else "numba"
    cost = _costs.get(key)
    if cost is None:
        cost = _costs[key] = measure(key, threads)
    return cost


def serial_estimate(work: int, kind: str) -> float:
    """Seconds the serial kernel of ``kind`` is expected to take on ``work`` units."""
    return work * _config.SERIAL_NS_PER_UNIT[kind] * 1e-9


def pays(backend: str, work: int, kind: str, threads: int) -> bool:
    """Whether running ``work`` units of ``kind`` on ``threads`` threads saves more than
    ``MARGIN`` times the measured region cost."""
    if threads < 2:
        return False
    serial = serial_estimate(work, kind)
    if serial < MIN_SERIAL_S:
        return False
    return serial * (1 - 1 / threads) > MARGIN * region_cost(backend, threads)
