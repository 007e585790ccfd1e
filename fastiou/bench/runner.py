"""The timing core behind ``fastiou bench`` and ``benchmarks/``.

Each family registers its cases in ``fastiou/bench/<family>.py``, a module with

    def cases(quick: bool, sizes: list[int] | None) -> Iterable[Case]

A :class:`Case` is one operation on one input: a dict of implementations (zero-
argument callables over data prepared once) keyed by a name such as
``'fastiou[numba]'``, ``'reference'``, ``'numpy'``, ``'torchvision'``.  Cases
build their inputs lazily (``Case.setup``) so that listing the table is cheap.
Third-party implementations are added only when their package imports.
fastiou's default call comes in three (:func:`modes`): ``'fastiou[auto]'`` (the
cost model picks serial or parallel), ``'fastiou[serial]'`` and
``'fastiou[parallel]'`` (forced with ``fastiou.backends.FORCE_PARALLEL``), so
that the table shows the cost model's choice against both.

:func:`run` times every implementation (median of repeats, after one warm-up
call that also compiles), measures the machine's memory-write and -read
bandwidth in the same run, and returns one row per implementation with the
median, the throughput, fastiou's same-run speed-up over it, and the fraction of
the bandwidth reached where the case declares the bytes it moves.
:func:`machine` describes the machine (cores, threads, threading layer, the
measured cost of a parallel region).
:mod:`fastiou.bench.table` writes the rows as a table or JSON.
"""

from __future__ import annotations

import importlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Literal

import numba
import numpy as np

from .._progress import Progress

FAMILIES = ("boxes", "nms", "masks", "losses", "sparse", "coco")


@dataclass
class Case:
    """One operation on one input, and the implementations that compute it."""

    op: str  # e.g. 'box_iou'
    label: str  # e.g. '10000x10000 clustered float32'
    size: int  # x-axis of plots: boxes, masks or elements of the input
    work: int  # units of work per call (pairs, boxes, elements)
    unit: str  # 'pairs', 'boxes', 'elements', 'pixels'
    setup: Callable[[], dict[str, Callable[[], Any]]]  # -> {impl name: zero-arg callable}
    bytes_written: int = 0  # bytes the call must write (bandwidth-bound ops)
    bytes_read: int = 0  # bytes the call must read (bandwidth-bound ops)
    baseline: str = "fastiou"  # ratios are this impl's time over the others'
    repeat: int = 7


@dataclass
class Row:
    op: str
    label: str
    impl: str
    size: int
    work: int
    unit: str
    median_s: float
    per_s: float
    speedup: float | None = None  # baseline's speed-up over this impl, same run
    bandwidth: float | None = None  # fraction of the measured bandwidth
    extra: dict = field(default_factory=dict)


def optional(module: str):
    """Import ``module`` for comparison, or None when it is not installed."""
    try:
        return importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        return None


def forced(fn: Callable[[], Any], parallel: bool) -> Callable[[], Any]:
    """``fn`` run with every fastiou call forced parallel (True) or serial (False)."""
    from .. import backends

    def call():
        before = backends.FORCE_PARALLEL
        backends.FORCE_PARALLEL = parallel
        try:
            return fn()
        finally:
            backends.FORCE_PARALLEL = before

    return call


def default_cpu_backend() -> Literal["auto", "numba", "cython", "cuda"]:
    """The CPU backend that ``backend='auto'`` runs on the host."""
    from .. import backends

    return "numba" if backends.DEFAULT == "auto" else backends.DEFAULT


def modes(call: Callable[..., Any], suffix: str = "") -> dict[str, Callable[[], Any]]:
    """``'fastiou[auto]'``, ``'fastiou[serial]'`` and ``'fastiou[parallel]'`` (each + ``suffix``)
    for ``call(backend)``, a call of fastiou with that ``backend`` argument.

    The serial and parallel ones force ``fastiou.backends.FORCE_PARALLEL``; the parallel
    one names the default CPU backend, so that it runs the parallel kernel even where
    ``'auto'`` would take a small-input path that has none (small ``box_iou``).
    """
    backend = default_cpu_backend()
    return {
        f"fastiou[auto]{suffix}": lambda: call("auto"),
        f"fastiou[serial]{suffix}": forced(lambda: call("auto"), False),
        f"fastiou[parallel]{suffix}": forced(lambda: call(backend), True),
    }


def is_forced(impl: str) -> bool:
    """Whether ``impl`` is a forced serial or parallel twin made by :func:`modes`."""
    return impl.startswith(("fastiou[serial]", "fastiou[parallel]"))


def twin(auto_impl: str, mode: str) -> str:
    """The name of ``auto_impl``'s forced twin, ``mode`` ``'serial'`` or ``'parallel'``."""
    return auto_impl.replace("fastiou[auto]", f"fastiou[{mode}]", 1)


def has_backend(name: str) -> bool:
    """Whether fastiou's backend ``name`` can run here (cases add its row only then)."""
    from .. import backends

    try:
        backends.load(name)
    except (ImportError, RuntimeError):
        return False
    return True


def all_cases(
    quick: bool = False,
    sizes: list[int] | None = None,
    ops: Iterable[str] | None = None,
) -> list[Case]:
    """Every registered case, optionally only the operations in ``ops``."""
    result = []
    for family in FAMILIES:
        try:
            module = importlib.import_module(f".{family}", __package__)
        except ModuleNotFoundError:
            continue
        result.extend(module.cases(quick, sizes))
    if ops:
        wanted = set(ops)
        result = [c for c in result if c.op in wanted or c.op.split("[")[0] in wanted]
    return result


def time_call(fn: Callable[[], Any], repeat: int, budget_s: float = 5.0) -> float:
    """Median wall time of ``fn`` over up to ``repeat`` calls (after one warm-up)."""
    fn()
    times = []
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s and len(times) >= 3:
            break
    return statistics.median(times)


#: Implementations faster than this per call are timed warm and in batches.
WARM_S = 0.02
#: A fast implementation's batch of calls lasts about this long.
BATCH_S = 0.002
#: Pause before each implementation's turn with ``settle=True`` (``fastiou bench
#: --settle``): another library's thread pool keeps spinning for a while after its
#: call and would slow whatever runs next.  Off by default: back-to-back calls are
#: what a user gets.
SETTLE_S = 0.005


def _timed(fn: Callable[[], Any], calls: int = 1) -> float:
    """Mean wall time of ``calls`` back-to-back calls of ``fn``."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def time_rounds(impls: dict[str, Callable[[], Any]], repeat: int, budget_s: float = 5.0,
                on_round: Callable[[int], None] | None = None,
                min_calls: int = 3, settle: bool = False) -> dict[str, float]:
    """Median wall time per call of each of ``impls``, timed in interleaved rounds.

    Interleaving puts a shared machine's slow and fast spells on every implementation
    alike, so that the ratios between them hold while the absolute times drift.  In
    each of up to ``repeat`` rounds every implementation takes its turn (at least
    ``min_calls`` turns, and no more once it has spent ``budget_s``): with ``settle``,
    a pause of ``SETTLE_S`` first; then, for a fast one (under ``WARM_S`` a call), an
    untimed call that wakes its own thread pool and caches and a timed batch of calls
    lasting about ``BATCH_S``; a slow one makes one timed call.  Each round starts one
    implementation further down the list.
    """
    first = {name: _timed(fn) for name, fn in impls.items()}
    batch = {name: max(1, int(BATCH_S / t)) if t < WARM_S else 1 for name, t in first.items()}
    times: dict[str, list[float]] = {name: [] for name in impls}
    order = list(impls)
    for k in range(repeat):
        if on_round is not None:
            on_round(k)
        for name in order[k % len(order):] + order[:k % len(order)]:
            fn = impls[name]
            if len(times[name]) >= min_calls and sum(times[name]) * batch[name] > budget_s:
                continue
            if settle:
                time.sleep(SETTLE_S)
            if first[name] < WARM_S:
                fn()
            times[name].append(_timed(fn, batch[name]))
    return {name: statistics.median(t) for name, t in times.items()}


@numba.njit(parallel=True, cache=True)
def _fill(out, value):
    for i in numba.prange(out.shape[0]):
        out[i] = value


@numba.njit(parallel=True, cache=True, fastmath={"reassoc"})  # reassoc: a vectorised sum
def _sum(a):
    total = a[0] - a[0]
    for i in numba.prange(a.shape[0]):
        total += a[i]
    return total


def memory_bandwidth(nbytes: int = 512 * 2**20, repeat: int = 7) -> dict[str, float]:
    """Write and read bandwidth (bytes/s) of this machine, now, with Numba's threads.

    Write: a parallel fill of a float32 array of ``nbytes`` (the same stores a
    kernel's output makes).  Read: a parallel sum over it.
    """
    a = np.empty(nbytes // 4, dtype=np.float32)
    write = time_call(lambda: _fill(a, np.float32(1)), repeat)
    read = time_call(lambda: _sum(a), repeat)
    return {"write": nbytes / write, "read": nbytes / read}


def machine() -> dict:
    """Cores, fastiou's threads, Numba's threading layer, the load average and the cost
    model's parallel-region costs per CPU backend (seconds, after idling and warm;
    measured now unless a call of this process has already measured them: the same
    figures ``backend='auto'`` uses)."""
    from .. import backends

    threads = backends.get_num_threads()
    costs = {name: backends._cost.region_cost(name, threads)
             for name in ("numba", "cython") if has_backend(name)}
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel region yet
        layer = f"(not started; configured: {numba.config.THREADING_LAYER})"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": cores, "threads": threads, "threading_layer": layer,
            "region_cost_s": {name: c.cold for name, c in costs.items()},
            "region_cost_warm_s": {name: c.warm for name, c in costs.items()},
            "load_average_1min": load}


def run(cases: list[Case], progress: bool = True, bandwidth: dict | None = None,
        budget_s: float = 5.0, min_calls: int = 3, settle: bool = False) -> tuple[list[Row], dict]:
    """Time every implementation of every case; return the rows and the bandwidth measured.

    The implementations of a case are timed in interleaved rounds (:func:`time_rounds`;
    ``settle``: with a pause before each turn).  The bandwidth is measured once at the
    start and again right before each case that declares the bytes it moves, so that
    its fraction compares times taken moments apart (shared machines drift).
    fastiou's speed-up is over its fastest unforced implementation (not the
    :func:`modes` twins, whose choice a user does not make).
    """
    bandwidth = bandwidth or memory_bandwidth()
    prepared = [(case, case.setup()) for case in cases]
    bar = Progress(sum(case.repeat for case in cases), progress)
    rows: list[Row] = []
    for case, impls in prepared:
        local = bandwidth
        if case.bytes_written or case.bytes_read:
            local = memory_bandwidth(nbytes=256 * 2**20, repeat=5)
        bar.step(f"{case.op} {case.label}: warm-up", advance=False)
        def on_round(k, c=case):
            bar.step(f"{c.op} {c.label}: round {k + 1}")

        medians = time_rounds(impls, case.repeat, budget_s, on_round, min_calls, settle)
        case_rows = [Row(case.op, case.label, name, case.size, case.work, case.unit, median,
                         case.work / median, extra={"bandwidth": local})
                     for name, median in medians.items()]
        base = [r for r in case_rows if r.impl.startswith(case.baseline) and not is_forced(r.impl)]
        best = min((r.median_s for r in base), default=None)
        moved = case.bytes_written / local["write"] + case.bytes_read / local["read"]
        for r in case_rows:
            if best is not None:
                r.speedup = r.median_s / best
            if moved:
                r.bandwidth = moved / r.median_s
        rows.extend(case_rows)
    bar.close()
    return rows, bandwidth

