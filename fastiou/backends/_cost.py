"""The cost model behind ``select``: run a kernel in parallel only when that pays.

A parallel region has a fixed cost: waking the pool, handing out work, waiting
for the last thread to reach its end.  On a 2-vCPU virtual machine it was
measured at 10-25 us while the pool's threads still spin from the last region,
0.15-0.7 ms once they have gone to sleep, and 8-16 ms when other processes hold
the other vCPU: more than many whole jobs.  So:

- :func:`measure_warm` times empty regions, each ``WARM_S`` after the last, on
  the first call big enough to ask (its regions leave the pool warm, so that
  call is decided on the warm cost), once per process and backend;
- the cold cost is sampled, not slept for, in users' calls: each of the first
  ``COLD_SAMPLES`` calls that find the pool idle wakes it with one timed empty
  region (what such a call pays to go parallel) and is then decided on the warm
  cost; the samples' median is the process's cold cost.  :func:`measure` (for
  ``fastiou config`` and ``fastiou bench``, or a process that has none yet) times
  regions after ``IDLE_S`` of idleness instead, sleeping ``3 * IDLE_S``;
- the work model estimates the call's serial time ``W`` as ``work`` times the
  kind's serial nanoseconds per unit (``fastiou._config.SERIAL_NS_PER_UNIT``);
- the parallel loops hand out chunks on demand, so the threads that are awake
  start at once and a late one takes what is left: on ``T`` threads a call
  takes about ``L + (W - L) / T`` for a region cost ``L`` below ``W``, saving
  ``(W - L)(1 - 1/T)`` (:func:`saving`);
- a serial choice (on one thread there is no region to pay for) runs the parallel
  kernel on the calling thread alone for the kinds of
  ``fastiou._config.ONE_THREAD_PARALLEL``, whose loops it compiles better
  (:func:`on_one_thread`, asked by ``select``);
- :func:`pays` goes parallel when that saving exceeds ``MARGIN`` times ``L``,
  with ``L`` the warm cost while the pool is warm (a parallel call of this
  backend ended within ``WARM_S``) or while calls come back to back (the
  previous call that asked ended within ``WARM_S``: the first parallel one
  wakes the pool, the next ones find it awake), and the cold cost otherwise;
- a call estimated above :func:`sure_parallel` goes parallel without measuring:
  it would whatever the region cost up to ``MAX_REGION_S``;
- the model can be wrong where it matters most: a busy process beside this one can
  make a region cost a scheduler tick (4 ms) or more right after it measured 10 us,
  and a call's work can differ from its estimate.  So the calls the model sends
  parallel (below :func:`sure_parallel`) are timed (:func:`timed` wraps every Numba
  kernel, those ``'auto'`` runs; the Cython ones keep the model's choice) and
  remembered per backend, kind, thread count and octave of work, a parallel call
  only if it found the pool warm (one that woke it paid the cold cost, which the
  model accounts for), and none that loaded a kernel.  When ``SAMPLES`` such calls
  have run parallel, the next ones run serially to compare (one, if it took
  ``LONG_S`` and ``CLEAR_WIN`` times the parallel ones); while the parallel ones are
  slower (:func:`_typical` of the last ``KEEP`` of each), the calls stay serial.
  They try parallel again (the load may have gone) once the serial calls since have
  run ``RETRY_EVERY`` times what the retry is expected to cost (its calls' extra time
  as last observed, or what the last retry cost): a retry then costs at most a quarter
  of the time those calls took, whether they come back to back or between other work.
  A retry is judged on ``SAMPLES`` warm calls (lost at once by one that takes
  ``CLEAR_WIN`` times the serial ones), and each retry that loses doubles the next
  one's due.  Where the CPU time of other processes can be read (Linux:
  :mod:`._load`), it decides when: a retry waits for a window of it since parallel
  lost, comes at once when those processes let go of the CPUs after holding them, and
  as seldom as at ``LOADED_BACKOFF`` while they hold them (the serial calls themselves
  cannot tell a busy neighbour at nice 0, beside which parallel loses, from one at
  nice 19, beside which it wins; and a short retry wins beside either).  Once the
  choice is settled, one call per ``OBSERVE_S`` is observed (until an observed parallel
  call is slower than the serial ones; one that found the pool cold, by the predicted ends
  of the calls before it, has the next call observed, which follows its known end).

The choice is deterministic given the measured costs, the clock and the other
processes' CPU time (tests set all three), and the kernels' serial and parallel paths
give bit-identical results, so it changes only the time.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from typing import Any, Callable, NamedTuple

from .. import _config
from . import _load

#: Parallel only when the expected saving is this many times the region cost.
MARGIN = 1.0
#: Gap between regions of the warm measurement; a call within this long of the last
#: one's predicted end (twice its estimate: the estimate may be short) finds the pool warm.
#: With fastiou's GOMP_SPINCOUNT (fastiou._config) on a 2-vCPU virtual machine, an empty
#: region took 2-3 us after busy gaps of up to 0.1 ms (the threads still spin), 40-65 us
#: after 0.2-1 ms (they wake) and 95 us after 5 ms: calls whose Python part takes 0.2 ms
#: (RLE lists, batched NMS) still come back to back.
WARM_S = 1e-3
#: The most the warm cost of an observed backend (Numba's kernels are timed) is taken as:
#: measured (the fastest of 7 regions, 1 ms apart) it was 30-55 us on a quiet 2-vCPU
#: virtual machine, and 120-250 us beside a busy process.  Measured then, at a process's
#: start, and taken as it is, it would keep mid-size calls serial after the load has gone,
#: as nothing observes the calls the model sends serial (2074 calls of cross_entropy on
#: 1000 x 80, 1.6 times the parallel time, beside a nice-19 process); taken too low, it only
#: sends calls parallel that the observed calls return to serial while the load lasts.
MAX_WARM_S = 60e-6
#: How long the pool is left idle before each of the cold measurements.
IDLE_S = 0.02
#: Below this estimated serial time no parallel region can pay: not even measured.
MIN_SERIAL_S = 50e-6
#: The slowest empty region measured on a 2-vCPU virtual machine (the other vCPU busy).
MAX_REGION_S = 16e-3
#: Calls that find the pool idle and sample its cold cost before it is fixed.
COLD_SAMPLES = 3
#: A parallel choice observed slower than the serial one is tried again once the serial
#: calls since have run RETRY_EVERY times what the retry is expected to cost (its calls'
#: extra time in parallel; after a retry, what that one cost, its waking call too): a
#: retry costs at most 1/RETRY_EVERY of the time spent in such calls, however they are
#: spread in time, and a load that has gone is noticed soon; twice as long after each
#: retry that loses too (up to MAX_BACKOFF times), so that under a lasting load the
#: retries' share of the time keeps halving.  A retry that lost at no cost (its waking
#: call saved what its warm calls lost: a large call, whose wake is small next to its
#: work) is priced at nothing: tried again at once.  One whose call stalled, say for a
#: tick, spaces the next one out as much (the share holds; a load that has gone is
#: noticed later).
RETRY_EVERY, MAX_BACKOFF = 4, 16
#: The backoff while other processes hold the CPUs that parallel needs (:mod:`._load`):
#: a retry then checks only that hint, and one that wins is most likely a woken thread let
#: run at once before it waits its turn again.
LOADED_BACKOFF = 64
#: Calls observed of each choice before the observations decide, and the most kept.  Their
#: means (without the slowest) decide: a call that waits a scheduler tick (4 ms) for a
#: descheduled thread costs the user that tick, and calls beside a busy process do, in
#: streaks; a median would hide them.  The last few: a load that starts shows within a
#: few calls (two or three that wait a tick; up to 14 that take twice as long).
SAMPLES, KEEP = 3, 16
#: One serial call settles the comparison when it took at least LONG_S and CLEAR_WIN times
#: what the parallel ones take: observing serial calls costs their extra time (three times
#: 9 ms for a 20 ms sparse join, where parallel was right), and a wait of a scheduler tick or
#: two (4 ms each) cannot make a call that long half as slow again (and should the parallel
#: calls slow down, serial ones are observed again).  One retry call that takes CLEAR_WIN
#: times the serial ones loses the retry: a busy neighbour still holds the other vCPU, and
#: a wrong verdict costs only a later retry.
CLEAR_WIN, LONG_S = 1.5, 10e-3
#: A settled bucket (parallel ahead, and its last observed call faster than the serial ones;
#: or serial while a retry is not due) observes one call per OBSERVE_S, not each, and a
#: Python thread decides the calls like its last one in full only once per OBSERVE_S
#: (:func:`pays`): between the kernels of mid-size calls (box_iou of 1000 x 1000: 4 MB
#: written a call) a full decision took 10 us, closing an observed call 6-7 us, and a
#: call decided by its bucket alone 2 us (against 2, 1 and 0.7 us in a loop of its own).
#: With 1 ms, auto's calls there were 4-7 us slower than forced parallel ones, and 13-16 us
#: slower than forced serial ones beside a busy process; with 4 ms, 1-2 and 9-10 us.  A
#: load that starts still shows at the next observed call that found the pool warm: the
#: first observed parallel call slower than the serial ones has every call observed again
#: (one that found it cold, the next: the calls before it may have outlasted their
#: predicted ends).
OBSERVE_S = 4e-3


class RegionCost(NamedTuple):
    """Seconds one empty parallel region costs with a warm pool, and after idling."""

    warm: float
    cold: float


_costs: dict[str, RegionCost] = {}
#: Warm costs measured while the cold one was not needed yet.
_warm_costs: dict[str, float] = {}
#: Cold costs sampled by calls that found the pool idle, until there are COLD_SAMPLES.
_cold_samples: dict[str, list[float]] = {}
#: Per backend: until when the pool counts as warm after the last call that asked (calls
#: back to back), and after the last parallel one (its threads still spin): the call's
#: start plus twice its predicted seconds (the estimate may be short) plus ``WARM_S``, or
#: its end plus ``WARM_S`` once an observed one has ended.
_call_warm_until: dict[str, float] = {}
_parallel_warm_until: dict[str, float] = {}
_numba_region: Callable[[], object] | None = None


class _Observed:
    """Seconds per unit of work of the calls of one bucket, serial and parallel (the
    last ``KEEP`` each, and their :func:`_typical`, kept up to date as calls are recorded,
    not at each choice), and the retries' state: the serial seconds run since parallel lost
    (``spent``), those the next retry is priced at and those due before it (:meth:`_due`),
    when parallel lost and whether other processes have held the CPUs since, whether a
    retry is running and what it has cost so far, and the backoff factor; and until when
    the calls of a settled choice are not observed (``OBSERVE_S``)."""

    __slots__ = ("serial", "parallel", "typical_serial", "typical_parallel", "spent", "retry_after",
                 "retrying", "retry_extra", "backoff", "unobserved_until", "lost_at", "load_seen", "due",
                 "threads")

    def __init__(self, threads: int) -> None:
        self.threads = threads  # the calls' thread count
        self.serial: list[float] = []
        self.parallel: list[float] = []
        self.typical_serial = self.typical_parallel = 0.0
        self.spent = 0.0
        self.retry_after: float | None = None  # None: not priced since parallel last lost
        self.retrying = False
        self.retry_extra = 0.0  # what the running retry's calls took beyond the serial ones
        self.backoff = 1
        self.unobserved_until = 0.0  # settled: calls before then are not observed (OBSERVE_S)
        self.lost_at = 0.0  # when parallel last lost
        self.load_seen = False  # whether other processes have held the CPUs since
        self.due = 0.0  # the serial seconds to spend before the retry (_due)

    def record(self, parallel: bool, seconds: float, work: int) -> None:
        """A call of ``work`` units that took ``seconds``, run in parallel or serially."""
        times = self.parallel if parallel else self.serial
        times.append(seconds / work)
        if len(times) > KEEP:
            del times[0]
        if parallel:
            self.typical_parallel = _typical(times)
            if seconds > self.typical_serial * work:
                self.unobserved_until = 0.0  # slower than serial: observe every call again
        else:
            self.typical_serial = _typical(times)
            self.spent += seconds

    def settled(self, work: int, now: float) -> bool | None:
        """The choice of a call that is not observed (the bucket has settled: parallel
        ahead, or serial while a retry is not due; see ``OBSERVE_S``), else None."""
        if now < self.unobserved_until:
            if self.retry_after is None:
                return True
            if self.spent < self.due:
                self.spent += self.typical_serial * work  # counted now: this call is not observed
                return False
        return None

    def choose(self, work: int, now: float) -> tuple[bool, bool]:
        """Whether the call runs in parallel, and whether it is observed.

        Parallel (what the model chose) unless the observed parallel calls were slower:
        each choice is first observed ``SAMPLES`` times (serial once, if that call took
        ``LONG_S`` and ``CLEAR_WIN`` times the parallel ones), then :func:`_typical` decides.
        A parallel choice that lost is retried once the serial calls since have spent
        ``RETRY_EVERY`` times the retry's expected extra time on ``work``; a retry observes
        ``SAMPLES`` calls (the call that wakes the pool does not count) unless one takes
        ``CLEAR_WIN`` times the serial ones, and one that loses doubles the next one's due.
        Settled, the calls within ``OBSERVE_S`` of the last observed one are not observed
        (serial ones count towards the retry at their typical time)."""
        settled = self.settled(work, now)
        if settled is not None:
            return settled, False
        serial, parallel = self.typical_serial, self.typical_parallel
        self.unobserved_until = 0.0
        if len(self.parallel) < SAMPLES and self.retry_after is None:  # at first, or in a retry
            if not (self.retrying and self.parallel and parallel > CLEAR_WIN * serial):  # lost at once
                return True, True  # observe parallel
        if len(self.serial) < SAMPLES and not (
                self.serial and serial * work >= LONG_S and serial > CLEAR_WIN * parallel):
            return False, True  # observe serial, to compare
        if parallel <= serial:
            self.retrying, self.backoff, self.retry_after = False, 1, None
            if self.parallel and self.parallel[-1] <= serial:  # the last call too: settled
                # (self.parallel is empty only where another thread has just started a retry)
                self.unobserved_until = now + OBSERVE_S
            return True, True
        # read once: another Python thread may start the retry meanwhile (reading
        # /proc/stat, below, releases the GIL)
        retry_after = self.retry_after
        if retry_after is None:  # parallel has just lost: price the next retry
            if self.retrying:  # at what this one cost
                extra = self.retry_extra
                self.retrying, self.backoff = False, min(2 * self.backoff, MAX_BACKOFF)
            else:  # at what its calls would: one that wakes the pool, then SAMPLES observed
                extra = (SAMPLES + 1) * (parallel - serial) * work
            retry_after = RETRY_EVERY * self.backoff * max(extra, 0.0)
            self.spent, self.retry_after = 0.0, retry_after
            self.lost_at, self.load_seen = now, False
        _load.sample(now)  # first: a window it closes counts now, and an old one is dropped
        self.due = self._due(now, retry_after)
        if self.spent < self.due:
            self.unobserved_until = now + OBSERVE_S  # settled until the retry is due
            return False, True
        self.parallel.clear()
        self.typical_parallel = self.retry_extra = 0.0
        self.retrying, self.retry_after = True, None
        return True, True

    def _due(self, now: float, retry_after: float) -> float:
        """The serial seconds, spent since parallel lost, after which it is tried again.
        Where other processes' CPU time can be read (:mod:`fastiou.backends._load`), none
        before it has been for a window since parallel lost (at most ``_load.WAIT_S``: calls
        over ``_load.SPAN_S`` apart close none); then none at all if they have let go of the
        CPUs the calls' threads need since holding them (a busy neighbour has gone), and as
        many as at ``LOADED_BACKOFF`` while they hold them.  Otherwise ``retry_after``, the
        retry's price."""
        contended = _load.verdict(self.lost_at, self.threads)
        if contended:
            self.load_seen = True
            return retry_after * LOADED_BACKOFF / self.backoff
        if contended is False:
            return 0.0 if self.load_seen else retry_after
        if _load.readable() and now - self.lost_at < _load.WAIT_S:
            return math.inf
        return retry_after


def _typical(times: list[float]) -> float:
    """The mean, without the slowest of three or more: the first call of a kernel in a
    process (which loads it), or one stray wait, does not decide; waits that recur do."""
    if len(times) < 3:
        return sum(times) / len(times)
    return (sum(times) - max(times)) / (len(times) - 1)


#: What the kernels of a call did (bits of ``_Call.ran``): ran serially, ran in parallel,
#: compiled or loaded from the cache (which took milliseconds or seconds).
SERIAL, PARALLEL, LOADED = 1, 2, 4


class _Call:
    """The open call of a Python thread: its bucket and work, whether the pool was warm
    when it was decided, and its kernels' run time and what they did."""

    __slots__ = ("key", "observed", "work", "warm", "seconds", "ended", "ran")

    def __init__(self, key: str, observed: _Observed, work: int, warm: bool) -> None:
        self.key, self.observed, self.work, self.warm = key, observed, work, warm
        self.seconds = self.ended = 0.0
        self.ran = 0  # SERIAL | PARALLEL | LOADED

    def close(self) -> None:
        # Observed: calls that ran one kind of kernel and loaded none; parallel ones only if
        # they found the pool warm (one that woke it paid for that, which the model's cold
        # cost accounts for): calls back to back, what parallel costs in a run.  A parallel
        # call that found it cold but took longer than the serial ones may have found it cold
        # only because the unobserved calls before it outlasted their predicted ends (they
        # slowed down: a busy neighbour): the next call, which follows this one's known end,
        # is observed too.
        observed = self.observed
        if self.ran == SERIAL or (self.ran == PARALLEL and self.warm):
            observed.record(self.ran == PARALLEL, self.seconds, self.work)
        elif self.ran == PARALLEL and self.seconds > observed.typical_serial * self.work:
            observed.unobserved_until = 0.0
        if self.ran == PARALLEL and observed.retrying:  # what a retry costs: the waking call too
            observed.retry_extra += self.seconds - observed.typical_serial * self.work


#: (backend key, kind, threads, octave of work): what the calls of that bucket took.
_observed: dict[tuple[str, str, int, int], _Observed] = {}


class _Thread(threading.local):
    """A Python thread's open call, and its last call of each backend and kind decided in
    full whose bucket settled: ``(work, until when it decides calls like it, bucket,
    backend key, serial estimate, saving)`` (see :func:`pays`)."""

    def __init__(self) -> None:
        self.call: _Call | None = None
        self.settled: dict[tuple[str, str], tuple[int, float, _Observed, str, float, float]] = {}
        self.one_thread = False  # the last select ran a serial choice's kernels on_one_thread


_open = _Thread()


def end_call() -> None:
    """Record the open call, and when it really ended: a slow parallel call (a busy
    neighbour held a thread) still leaves the pool warm for the next one.  (A call that is
    not observed has no end: its deadlines stay the predicted ones.)"""
    call = _open.call
    if call is not None:
        _open.call = None
        call.close()
        if call.ran:
            _call_warm_until[call.key] = until = call.ended + WARM_S
            if call.ran & PARALLEL:
                _parallel_warm_until[call.key] = until


def timed(kernel: Callable[..., Any], parallel: bool) -> Callable[..., Any]:
    """``kernel``, whose run time counts towards the open call of the calling thread (if any)."""
    overloads = getattr(kernel, "overloads", {})  # a Numba dispatcher's: one per signature loaded
    kind = PARALLEL if parallel else SERIAL

    def run(*args: Any) -> Any:
        call = _open.call
        one_thread = parallel and _open.one_thread
        if call is None and not one_thread:
            return kernel(*args)
        known = len(overloads)
        threads = _get_numba_threads() if one_thread else 1
        if threads != 1:
            _set_numba_threads(1)
        start = time.perf_counter()
        try:
            return kernel(*args)
        finally:
            ended = time.perf_counter()
            if threads != 1:
                _set_numba_threads(threads)
            if call is not None:
                call.ended = ended
                call.seconds += ended - start
                ran = SERIAL if one_thread else kind
                call.ran |= ran if len(overloads) == known else ran | LOADED

    run.__wrapped__ = kernel  # type: ignore[attr-defined]
    return run


#: Whether Numba's threading layer runs a one-thread region on the calling thread (None:
#: not asked yet), and the calling thread's Numba count: its getter and setter (Numba's
#: unchecked ones where it has them, a third of the public ones' cost); see on_one_thread.
_on_caller: bool | None = None
_get_numba_threads: Callable[[], int] = lambda: 1
_set_numba_threads: Callable[[int], object] = lambda n: None


def on_one_thread(work: int, kind: str) -> bool:
    """Whether a serial choice of ``work`` units of ``kind`` runs the parallel Numba kernel
    on the calling thread alone (its Numba count set to 1 for the kernel: :func:`timed`)
    rather than its serial twin: for the kinds of ``fastiou._config.ONE_THREAD_PARALLEL``,
    whose loops that kernel compiles better, in calls big enough to ask (``MIN_SERIAL_S``),
    and with the ``omp`` threading layer, where a team of one wakes no pool thread
    (``workqueue`` hands even one thread's work to a pool thread)."""
    global _on_caller, _get_numba_threads, _set_numba_threads
    if kind not in _config.ONE_THREAD_PARALLEL or serial_estimate(work, kind) < MIN_SERIAL_S:
        return False
    if _on_caller is None:
        import numba
        from numba.np.ufunc import parallel as numba_parallel

        numba.get_num_threads()  # starts the threading layer
        _get_numba_threads = getattr(numba_parallel, "_get_num_threads", numba.get_num_threads)
        _set_numba_threads = getattr(numba_parallel, "_set_num_threads", numba.set_num_threads)
        _on_caller = numba.threading_layer() == "omp"
    return _on_caller


def run_serial_on_one_thread(flag: bool) -> None:
    """Whether the calling thread's parallel Numba kernels, until its next ``select``, run
    on that thread alone (a serial choice: :func:`on_one_thread`)."""
    _open.one_thread = flag


def _numba_empty_region(threads: int) -> None:
    global _numba_region
    if _numba_region is None:
        import numba
        import numpy as np

        @numba.njit(parallel=True, cache=True)
        def empty_region(out: np.ndarray[Any, Any]) -> None:
            for i in numba.prange(out.shape[0]):
                out[i] = i

        buf = np.empty(64, np.int64)
        _numba_region = lambda: empty_region(buf)  # noqa: E731
    _numba_region()


def _cython_empty_region(threads: int) -> None:
    from .._cy_boxes import empty_region

    empty_region(threads)


def _times(run: Callable[[], object], repeat: int, idle: float) -> list[float]:
    times = []
    for _ in range(repeat):
        time.sleep(idle)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def _region(backend: str, threads: int) -> Callable[[], None]:
    region = _cython_empty_region if backend == "cython" else _numba_empty_region
    return lambda: region(threads)


def measure_warm(backend: str, threads: int) -> float:
    """What one empty parallel region of ``backend`` costs here with the pool warm
    (the fastest of 7, each ``WARM_S`` after the last region).

    The fastest, not the median: a cost measured too high keeps calls serial, and no
    observed call corrects that (only parallel choices are checked against serial
    ones), while one measured too low costs a few observed calls; and a stray wait
    only ever adds (in one process of eight, the median came out at 240 us, against
    40-57 us in the others)."""
    run = _region(backend, threads)
    run()  # compile (or load from the cache) and start the pool
    return min(_times(run, 7, WARM_S))


def measure_now(backend: str, threads: int) -> float:
    """One empty parallel region of ``backend``, timed now: with the pool as it is."""
    run = _region(backend, threads)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(backend: str, threads: int) -> RegionCost:
    """What one empty parallel region of ``backend`` costs here: with the pool warm
    (:func:`measure_warm`) and after ``IDLE_S`` of idleness (the median of 3)."""
    warm = measure_warm(backend, threads)
    cold = statistics.median(_times(_region(backend, threads), 3, IDLE_S))
    return RegionCost(warm, max(warm, cold))


def _key(backend: str) -> str:
    return "cython" if backend == "cython" else "numba"  # 'cuda''s host kernels are Numba's


def region_cost(backend: str, threads: int) -> RegionCost:
    """:func:`measure`'d once per process and backend."""
    key = _key(backend)
    cost = _costs.get(key)
    if cost is None:
        cost = _costs[key] = measure(key, threads)
    return cost


def _warm_cost(key: str, threads: int) -> float:
    """The warm region cost, measured now (leaving the pool warm) if not yet."""
    if key in _costs:
        return _costs[key].warm
    if key not in _warm_costs:
        _warm_costs[key] = measure_warm(key, threads)
        _parallel_warm_until[key] = time.perf_counter() + WARM_S  # its regions just ran
    return _warm_costs[key]


def _cost_now(key: str, threads: int) -> float:
    """The region cost that applies now: warm while the pool is (a recent parallel call,
    or calls back to back; at most ``MAX_WARM_S`` for Numba), else cold; while the cold
    cost is being sampled, the pool is woken (one timed empty region: a sample) and the
    warm cost applies."""
    warm_cost = _warm_cost(key, threads)
    now = time.perf_counter()
    applies = min(warm_cost, MAX_WARM_S) if key == "numba" else warm_cost
    if _warm(key, now):
        return applies
    if key in _costs:
        return _costs[key].cold
    samples = _cold_samples.setdefault(key, [])
    samples.append(measure_now(key, threads))
    if len(samples) >= COLD_SAMPLES:
        _costs[key] = RegionCost(warm_cost, max(warm_cost, statistics.median(samples)))
    _parallel_warm_until[key] = time.perf_counter() + WARM_S  # the sample's region woke the pool
    return applies


def _warm(key: str, now: float) -> bool:
    """Whether the pool counts as warm: a parallel call of this backend, or any call that
    asked (calls back to back), ended within ``WARM_S`` (or is expected to have)."""
    return now <= _parallel_warm_until.get(key, 0.0) or now <= _call_warm_until.get(key, 0.0)


def sure_parallel(threads: int) -> float:
    """Serial seconds above which parallel pays even at ``MAX_REGION_S`` a region."""
    return MAX_REGION_S * (1 + MARGIN / (1 - 1 / threads))


def serial_estimate(work: int, kind: str) -> float:
    """Seconds the serial kernel of ``kind`` is expected to take on ``work`` units."""
    return work * _config.SERIAL_NS_PER_UNIT[kind] * 1e-9


def saving(serial: float, cost: float, threads: int) -> float:
    """Seconds saved by running ``serial`` seconds of chunked work on ``threads`` threads
    when the region costs ``cost``: the awake threads start at once, a late one joins
    after ``cost`` (negative: the region costs more than the work)."""
    if serial <= cost:
        return serial - cost
    return (serial - cost) * (1 - 1 / threads)


def pays(backend: str, work: int, kind: str, get_threads: Callable[[], int]) -> bool:
    """Whether running ``work`` units of ``kind`` on ``get_threads()`` threads saves more
    than ``MARGIN`` times the region cost that applies now (warm or cold), and the calls
    like it observed so far were not slower in parallel.  The thread count is asked
    only of calls big enough (asking Numba costs a microsecond or two).

    A call of the same backend, kind and ``work`` as one this Python thread decided in
    full within the last ``OBSERVE_S``, whose bucket has settled, is decided by the bucket
    alone if it is not to be observed and, for parallel, the pool is warm: the model's
    verdict then (parallel, at a region cost no lower than the warm one) stands.  That
    costs well under a microsecond, against one or two in a loop of its own and 10 between
    the kernels of mid-size calls; the thread count is not asked (a changed one is taken at
    the thread's next full decision, within ``OBSERVE_S``)."""
    end_call()
    now = time.perf_counter()
    work = int(work)
    settled = _open.settled.get((backend, kind))
    if settled is not None and settled[0] == work and now < settled[1]:
        _, _, observed, key, serial, saved = settled
        parallel = observed.settled(work, now)
        if parallel is False or (parallel and _warm(key, now)):  # cold: the cold cost decides
            return _decided(key, now, serial, saved, parallel)
    _open.settled.pop((backend, kind), None)  # decided in full: stored again if settled
    serial = serial_estimate(work, kind)
    if serial < MIN_SERIAL_S:
        return False
    threads = get_threads()
    if threads < 2:  # no region to pay for (select runs the faster kernel: on_one_thread)
        return False
    key = _key(backend)
    # above sure_parallel the choice is parallel whatever the region costs: not measured
    sure = serial > sure_parallel(threads)
    cost = MAX_REGION_S if sure else _cost_now(key, threads)
    now = time.perf_counter()  # after _cost_now, which may have measured
    saved = saving(serial, cost, threads)
    parallel = saved > MARGIN * cost
    if not parallel or sure:
        return _decided(key, now, serial, saved, parallel)
    bucket = (key, kind, threads, work.bit_length())
    observed = _observed.get(bucket) or _observed.setdefault(bucket, _Observed(threads))
    parallel, observe = observed.choose(work, now)
    if observe:
        _open.call = _Call(key, observed, work, now <= _parallel_warm_until.get(key, 0.0))
    if now < observed.unobserved_until:
        _open.settled[backend, kind] = (work, now + OBSERVE_S, observed, key, serial, saved)
    return _decided(key, now, serial, saved, parallel)


def _decided(key: str, now: float, serial: float, saved: float, parallel: bool) -> bool:
    """``parallel``, once the pool's deadlines are set: a call that asks at ``now`` and is
    expected to run ``serial`` seconds, ``saved`` fewer in parallel, keeps the pool warm
    for twice that (the estimate may be short) and ``WARM_S``."""
    _call_warm_until[key] = until = now + 2 * (serial - saved if parallel else serial) + WARM_S
    if parallel:
        _parallel_warm_until[key] = until
    return parallel
