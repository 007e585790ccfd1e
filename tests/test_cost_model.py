"""The serial/parallel choice (fastiou/backends/_cost.py): deterministic given the measured
region cost, measured once per process, never asked for small calls."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import fastiou
from fastiou import _config, backends
from fastiou.backends import _cost, _load

NS = _config.SERIAL_NS_PER_UNIT
READ_OTHERS_SECONDS = _load._others_seconds  # the fixture below replaces it


@pytest.fixture(autouse=True)
def no_load_readings(monkeypatch):
    """Other processes' CPU time unread (as where there is no /proc/stat), and none read
    before: the retries follow the serial time spent alone (the hint has tests of its own)."""
    monkeypatch.setattr(_load, "_others_seconds", lambda: None)
    monkeypatch.setattr(_load, "_last", None)
    monkeypatch.setattr(_load, "_window", None)


COLD, WARM = 1e-3, 1e-5


@pytest.fixture
def region_costs(monkeypatch):
    """Known region costs (1 ms cold, 10 us warm), 2 threads, no measuring allowed, and
    no call before (the pool is cold)."""
    monkeypatch.setattr(_cost, "_costs", {"numba": _cost.RegionCost(WARM, COLD),
                                          "cython": _cost.RegionCost(WARM, COLD)})
    monkeypatch.setattr(_cost, "_call_warm_until", {})
    monkeypatch.setattr(_cost, "_parallel_warm_until", {})
    monkeypatch.setattr(_cost, "_observed", {})
    monkeypatch.setattr(_cost, "_open", _cost._Thread())
    monkeypatch.setattr(_cost, "measure", lambda *a: pytest.fail("measured again"))
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    return _cost.RegionCost(WARM, COLD)


class Clock:
    """``time.perf_counter`` as the cost model reads it, moved by hand."""

    def __init__(self, monkeypatch):
        self.now = 1000.0
        monkeypatch.setattr(_cost.time, "perf_counter", lambda: self.now)

    def kernels(self, seconds: dict) -> dict:
        """A timed serial (False) and parallel (True) kernel that take ``seconds[flag]``
        (read at each call) on this clock."""
        def kernel(flag):
            def run():
                self.now += seconds[flag]
            return _cost.timed(run, flag)
        return {flag: kernel(flag) for flag in (False, True)}


def chosen(*args, **kwargs) -> bool:
    """Whether ``backends.select(*args, **kwargs)`` chose parallel.  A serial choice may run
    the parallel kernel on the calling thread alone (select's ``parallel`` True, and the
    thread's ``one_thread`` set: ``_cost.on_one_thread``)."""
    runs_parallel_kernel = backends.select(*args, **kwargs)[1]
    return runs_parallel_kernel and not _cost._open.one_thread


def _work(seconds: float, kind: str) -> int:
    return int(seconds / (NS[kind] * 1e-9))


def _limit(cost: float, threads: int = 2) -> float:
    """Serial seconds above which chunked work on ``threads`` threads saves MARGIN * cost:
    (W - cost)(1 - 1/threads) = MARGIN * cost."""
    return cost + _cost.MARGIN * cost / (1 - 1 / threads)


def test_saving_of_chunked_work():
    assert _cost.saving(10e-3, 2e-3, 2) == pytest.approx(4e-3)  # 2 + 8/2 = 6 ms instead of 10
    assert _cost.saving(10e-3, 2e-3, 4) == pytest.approx(6e-3)  # 2 + 8/4
    assert _cost.saving(1e-3, 2e-3, 2) == pytest.approx(-1e-3)  # the region outlasts the work


@pytest.mark.parametrize("backend", ["numba", "cython"])
@pytest.mark.parametrize("kind", ["iou_pairs", "ciou_pairs", "nms", "masks", "losses"])
def test_cold_pool_parallel_exactly_when_the_saving_exceeds_the_margin(region_costs, backend, kind,
                                                                        monkeypatch):
    clock = Clock(monkeypatch)
    for seconds, expected in ((0.95 * _limit(COLD), False), (1.05 * _limit(COLD), True)):
        clock.now += 1.0  # long after any call: the pool is cold
        assert chosen(backend, _work(seconds, kind), kind=kind) is expected, seconds


@pytest.mark.parametrize("threads", [2, 4, 16])
def test_more_threads_lower_the_limit(region_costs, monkeypatch, threads):
    clock = Clock(monkeypatch)
    monkeypatch.setattr(backends, "get_num_threads", lambda: threads)
    for seconds, expected in ((0.95 * _limit(COLD, threads), False), (1.05 * _limit(COLD, threads), True)):
        clock.now += 1.0
        assert chosen("numba", _work(seconds, "losses"), kind="losses") is expected


def test_warm_pool_and_back_to_back_calls_use_the_warm_cost(region_costs, monkeypatch):
    clock = Clock(monkeypatch)
    mid = _work(0.5 * _limit(COLD), "iou_pairs")  # pays warm, not cold
    assert _limit(WARM) < 0.5 * _limit(COLD)
    assert not chosen("numba", mid)  # cold: serial
    serial = _cost.serial_estimate(mid, "iou_pairs")
    clock.now += serial + _cost.WARM_S / 2  # the next call, back to back
    assert chosen("numba", mid)  # parallel: this one wakes the pool
    clock.now += serial  # ... and the one after finds it warm
    assert chosen("numba", mid)
    clock.now += 2 * serial + 2 * _cost.WARM_S  # a pause: cold again
    assert not chosen("numba", mid)
    assert not chosen("cython", mid)  # each backend has its own pool


def test_a_long_parallel_call_keeps_the_pool_warm(region_costs, monkeypatch):
    clock = Clock(monkeypatch)
    big = _work(100 * COLD, "losses")
    assert chosen("numba", big, kind="losses")
    clock.now += 50 * COLD  # still running (its estimate) when a mid-size call asks
    assert chosen("numba", _work(0.5 * _limit(COLD), "iou_pairs"))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", sorted(NS))
def test_a_serial_choice_runs_the_faster_kernel(region_costs, monkeypatch, kind, threads):
    """A serial choice (one thread: no region to pay for; two: a cold pool) runs the parallel
    kernel on the calling thread alone for the kinds whose loops it compiles better, in
    calls big enough to ask, with the omp threading layer; else the serial twin.  Never on
    Cython (a plain loop) nor in a forked child (its OpenMP pool is dead)."""
    import numba

    clock = Clock(monkeypatch)
    monkeypatch.setattr(backends, "get_num_threads", lambda: threads)
    faster = kind in _config.ONE_THREAD_PARALLEL and numba.threading_layer() == "omp"
    work = _work(0.95 * _limit(COLD), kind)  # serial on a cold pool, whatever the threads
    for backend, one_thread in (("numba", faster), ("cython", False)):
        clock.now += 1.0
        assert backends.select(backend, work, kind=kind)[1] is one_thread
        assert _cost._open.one_thread is one_thread
    clock.now += 1.0
    assert not backends.select("numba", _work(0.99 * _cost.MIN_SERIAL_S, kind), kind=kind)[1]
    assert not _cost._open.one_thread
    monkeypatch.setattr(backends, "_serial_only", frozenset({"numba", "cython", "cuda"}))
    clock.now += 1.0
    assert not backends.select("numba", work, kind=kind)[1]
    assert not _cost._open.one_thread


def test_one_thread_sets_numbas_count_for_the_kernel_only(monkeypatch):
    """On one thread, a parallel kernel sees a Numba count of 1, restored after it (raised
    or not), and counts as serial for the cost model; without the flag it sees the count."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("Numba has one thread here: there is no count to lower")
    monkeypatch.setattr(_cost, "_open", _cost._Thread())
    _cost.on_one_thread(10**9, "losses")  # looks up Numba's count functions
    seen = []

    def kernel(fail=False):
        seen.append(numba.get_num_threads())
        if fail:
            raise ZeroDivisionError

    run = _cost.timed(kernel, True)
    numba.set_num_threads(2)
    try:
        _cost.run_serial_on_one_thread(True)
        call = _cost._open.call = _cost._Call("numba", _cost._Observed(2), 1, True)
        run()
        assert seen == [1] and numba.get_num_threads() == 2
        assert call.ran == _cost.SERIAL
        with pytest.raises(ZeroDivisionError):
            run(True)
        assert seen == [1, 1] and numba.get_num_threads() == 2
        _cost.run_serial_on_one_thread(False)
        run()
        assert seen == [1, 1, 2]
    finally:
        _cost._open.call = None
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


@pytest.mark.parametrize("kind", sorted(NS))
def test_small_calls_never_measure(monkeypatch, kind):
    monkeypatch.setattr(_cost, "_costs", {})
    monkeypatch.setattr(_cost, "measure", lambda *a: pytest.fail("a small call measured"))
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    work = _work(_cost.MIN_SERIAL_S * 0.99, kind)  # estimated below any region's cost
    assert not chosen("numba", work, kind=kind)


def test_region_cost_is_measured_once_per_backend(monkeypatch):
    calls = []
    monkeypatch.setattr(_cost, "_costs", {})
    cost = _cost.RegionCost(1e-5, 5e-3)
    monkeypatch.setattr(_cost, "measure", lambda backend, threads: calls.append(backend) or cost)
    for _ in range(3):
        assert _cost.region_cost("numba", 2) == cost
        assert _cost.region_cost("cuda", 2) == cost  # cuda's host kernels are Numba's
        assert _cost.region_cost("cython", 2) == cost
    assert calls == ["numba", "cython"]


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_measure_times_real_regions(backend):
    cost = _cost.measure(backend, 2)
    assert 0 < cost.warm <= cost.cold < 1.0  # seconds: an empty region, however slow the machine


def test_forcing_and_the_fork_rule(region_costs, monkeypatch):
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)
    assert chosen("numba", 1)
    monkeypatch.setattr(backends, "FORCE_PARALLEL", False)
    assert not chosen("numba", 10**12)  # serial (the parallel kernel on one thread: above)
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)
    monkeypatch.setattr(backends, "_serial_only", frozenset({"numba", "cython", "cuda"}))
    assert not chosen("cython", 10**12)  # a forked child stays serial


def test_the_choice_changes_only_the_time(monkeypatch):
    """The same call under a cheap and a prohibitive region cost: identical bits."""
    b = fastiou.synthetic.clustered_boxes(700, seed=3)[0]
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    results = []
    for cost in (1e-9, 1e3):
        monkeypatch.setattr(_cost, "_costs", {"numba": _cost.RegionCost(cost, cost),
                                              "cython": _cost.RegionCost(cost, cost)})
        _cost.end_call()  # the last call's
        monkeypatch.setattr(_cost, "_call_warm_until", {})  # the pool idles: the cold cost applies
        monkeypatch.setattr(_cost, "_parallel_warm_until", {})
        assert chosen("numba", 700 * 700, kind="ciou_pairs") is (cost < 1)
        results.append(fastiou.complete_box_iou(b, b, backend="numba"))
    np.testing.assert_array_equal(results[0], results[1])


def test_config_prints_the_region_cost(capsys):
    fastiou.show_config()
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("parallel region cost"))
    assert "numba" in line and " ms warm, " in line and " ms after idling" in line


def test_the_warm_cost_is_the_fastest_region(monkeypatch):
    # a stray wait only adds, and a cost measured high would keep calls serial for good
    # (the observed calls check only parallel choices): one slow region does not decide
    runs = iter([240e-6, 50e-6, 41e-6, 240e-6, 240e-6, 45e-6, 240e-6])
    monkeypatch.setattr(_cost, "_times", lambda run, repeat, idle: [next(runs) for _ in range(repeat)])
    monkeypatch.setattr(_cost, "_region", lambda *a: lambda: None)
    assert _cost.measure_warm("numba", 2) == 41e-6


def test_a_warm_cost_measured_beside_a_busy_process_does_not_keep_calls_serial(region_costs, monkeypatch):
    # measured at a process's start beside a busy process, the warm cost can be 120-250 us;
    # the model takes at most MAX_WARM_S for the Numba kernels, whose calls are observed
    # (a parallel choice that loses returns to serial), and the measured cost for Cython's
    clock = Clock(monkeypatch)
    high = 20 * _cost.MAX_WARM_S
    monkeypatch.setattr(_cost, "_costs", {"numba": _cost.RegionCost(high, high),
                                          "cython": _cost.RegionCost(high, high)})
    work = _work((_limit(_cost.MAX_WARM_S) + _limit(high)) / 2, "iou_pairs")
    for backend, parallel in (("numba", True), ("cython", False)):
        _cost._call_warm_until[_cost._key(backend)] = clock.now + _cost.WARM_S  # calls back to back
        assert chosen(backend, work) is parallel
    clock.now += 1.0  # idle: the cold cost applies to both
    assert not any(chosen(backend, work) for backend in ("numba", "cython"))


def test_a_call_sure_to_pay_measures_nothing(monkeypatch):
    monkeypatch.setattr(_cost, "_costs", {})
    monkeypatch.setattr(_cost, "_warm_costs", {})
    monkeypatch.setattr(_cost, "measure", lambda *a: pytest.fail("measured"))
    monkeypatch.setattr(_cost, "measure_warm", lambda *a: pytest.fail("measured"))
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    limit = _cost.sure_parallel(2)
    assert limit == pytest.approx(_limit(_cost.MAX_REGION_S))  # parallel pays at any cost up to MAX_REGION_S
    assert chosen("numba", _work(1.01 * limit, "coco"), kind="coco")


def test_the_first_call_measures_only_the_warm_cost_and_finds_the_pool_warm(monkeypatch):
    # its own measuring regions have just woken the pool; the calls that find the pool
    # idle sample the cold cost (one region each, no sleeping), decided on the warm cost
    # as the sample has woken the pool, until COLD_SAMPLES give its median
    clock = Clock(monkeypatch)
    monkeypatch.setattr(_cost, "_costs", {})
    monkeypatch.setattr(_cost, "_warm_costs", {})
    monkeypatch.setattr(_cost, "_cold_samples", {})
    monkeypatch.setattr(_cost, "_call_warm_until", {})
    monkeypatch.setattr(_cost, "_parallel_warm_until", {})
    monkeypatch.setattr(_cost, "_observed", {})
    measured = []
    samples = iter([COLD, 3 * COLD, COLD / 2])
    monkeypatch.setattr(_cost, "measure_warm", lambda *a: measured.append("warm") or WARM)
    monkeypatch.setattr(_cost, "measure_now", lambda *a: measured.append("now") or next(samples))
    monkeypatch.setattr(_cost, "measure", lambda *a: pytest.fail("slept in a user's call"))
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    mid = _work((_limit(WARM) + _limit(COLD)) / 2, "iou_pairs")  # parallel when warm, serial when cold
    assert chosen("numba", mid)
    assert measured == ["warm"]
    for n in range(1, _cost.COLD_SAMPLES + 1):
        clock.now += 1.0  # idle: a sample wakes the pool, and the warm cost decides
        assert chosen("numba", mid)
        assert measured == ["warm"] + ["now"] * n
    assert _cost._costs["numba"] == _cost.RegionCost(WARM, COLD)  # the samples' median
    clock.now += 1.0  # idle again: the cold cost decides, and nothing is measured
    assert not chosen("numba", mid)
    assert measured == ["warm"] + ["now"] * _cost.COLD_SAMPLES


# Serial calls of 3.9 ms (about every other settled one observed: OBSERVE_S is 4 ms) and of
# 0.98 ms (one in four or five; the others counted at their typical time): the same choices.
@pytest.mark.parametrize("unit", [2.0 ** -8, 2.0 ** -10])
def test_observed_calls_overrule_the_model(region_costs, monkeypatch, unit):
    """Calls the model sends parallel are timed: once SAMPLES parallel calls that found the
    pool warm and SAMPLES serial ones are known, the faster decides; a slower parallel is
    retried once the serial calls since have run RETRY_EVERY times the retry's expected
    extra time (after a retry, what that one cost), a retry is judged on SAMPLES warm
    calls (on one that takes CLEAR_WIN times the serial ones), and each retry that loses
    doubles the serial time due before the next."""
    clock = Clock(monkeypatch)
    # binary fractions: the sums of call times are exact
    seconds = {False: unit, True: 4 * unit}  # a busy neighbour: parallel calls take 4x longer
    unobserved = []

    def kernel(parallel):
        def run():
            clock.now += seconds[parallel]
            unobserved.append(_cost._open.call is None)
        return _cost.timed(run, parallel)

    kernels = {flag: kernel(flag) for flag in (False, True)}
    # the model says parallel, even cold; a power of two: the times per unit are exact too
    work = 1 << _work(2 * _limit(COLD), "losses").bit_length()

    def calls(count):
        choices = []
        for _ in range(count):
            parallel = chosen("numba", work, kind="losses")
            kernels[parallel]()
            choices.append(parallel)
        return choices

    def serial_calls_before_parallel():
        count = 0
        while not chosen("numba", work, kind="losses"):
            kernels[False]()
            count += 1
        kernels[True]()
        return count

    n = _cost.SAMPLES
    # the first parallel call wakes the pool (not observed), then n warm ones, then n serial
    assert calls(2 * n + 2) == [True] * (n + 1) + [False] * n + [False]
    # parallel lost by 3 units a call: a retry (a waking call and n observed) is due after
    # RETRY_EVERY times their 3 (n + 1) units, run serially
    due = _cost.RETRY_EVERY * 3 * (n + 1)
    assert serial_calls_before_parallel() == due - 1  # counted from the call that lost
    # the retry's first warm call took over CLEAR_WIN times the serial ones: lost at once
    assert calls(2) == [True, False]
    seconds[True] = 5 * unit / 4  # a lighter load: parallel calls 1.25 times the serial ones
    # the next retry is due twice as late, priced at what this one cost: its waking call and
    # the one that lost, 3 units each
    assert serial_calls_before_parallel() == _cost.RETRY_EVERY * 2 * 2 * 3 - 1
    assert calls(n + 1) == [True] * n + [False]  # under CLEAR_WIN: n warm calls decide, slower
    seconds[True] = unit / 2  # the neighbour has gone
    # the next retry is due four times as late, priced at what this one cost: its waking
    # call and n observed, 1/4 unit each
    assert serial_calls_before_parallel() == _cost.RETRY_EVERY * 4 * (n + 1) // 4 - 1
    assert all(calls(3 * n))  # the retry wins: parallel again
    assert sum(unobserved) > (len(unobserved) // 2 if unit < _cost.OBSERVE_S / 2 else 0)
    # other thread counts, kinds and octaves of work are observed apart
    monkeypatch.setattr(backends, "get_num_threads", lambda: 4)
    assert chosen("numba", work, kind="losses")


def test_a_settled_parallel_choice_is_observed_once_per_observe_s(region_costs, monkeypatch):
    """Parallel ahead, its calls are observed one per OBSERVE_S (observing costs microseconds
    between a user's kernels); the first observed call slower than the serial ones has
    every call observed again, so that a load that starts shows as fast as before."""
    clock = Clock(monkeypatch)
    unit = 2.0 ** -12  # 244 us: 16 calls of one unit per OBSERVE_S
    seconds = {False: 2 * unit, True: unit}
    kernels = clock.kernels(seconds)
    work = _work(2 * _limit(COLD), "losses")

    def observed_calls(count):
        observed = []
        for _ in range(count):
            parallel = chosen("numba", work, kind="losses")
            observed.append((parallel, _cost._open.call is not None))
            kernels[parallel]()
        return observed

    n = _cost.SAMPLES
    assert observed_calls(2 * n + 1) == [(True, True)] * (n + 1) + [(False, True)] * n
    settled = observed_calls(50)  # the next observation is due at the 52nd
    assert all(parallel for parallel, _ in settled)
    # the first settles; then one each OBSERVE_S: 16 calls of one unit later
    assert [i for i, (_, observed) in enumerate(settled) if observed] == [0, 17, 34]
    seconds[True] = 3 * unit  # a busy neighbour: parallel calls now slower than the serial ones
    # a settled call not observed (it runs slower), the next observed one (slower), then each
    assert [observed for _, observed in observed_calls(4)] == [False, True, True, True]


def test_settled_calls_spaced_out_beyond_warm_s_are_not_all_observed(region_costs, monkeypatch):
    """Settled parallel calls that come more than WARM_S apart (an observed call's end leaves
    the pool warm for WARM_S only, and the next call then wakes it): the cold ones are decided
    in full and not recorded, but the bucket does not end up observing every call."""
    clock = Clock(monkeypatch)
    unit = 2.0 ** -12
    kernels = clock.kernels({False: 2 * unit, True: unit})
    work = _work(2 * _limit(COLD), "losses")

    def call():
        parallel = chosen("numba", work, kind="losses")
        observed = _cost._open.call is not None
        kernels[parallel]()
        return parallel, observed

    for _ in range(2 * _cost.SAMPLES + 2):  # settled on parallel, back to back
        call()
    bucket = next(iter(_cost._observed.values()))
    recorded = len(bucket.parallel)
    spaced = []
    for _ in range(40):
        clock.now += 1.2 * _cost.WARM_S
        spaced.append(call())
    assert all(parallel for parallel, _ in spaced)
    assert sum(observed for _, observed in spaced) <= 30
    assert len(bucket.parallel) > recorded  # and the observed ones are recorded


def test_settled_parallel_calls_that_slow_down_past_their_predicted_ends_are_noticed(region_costs,
                                                                                     monkeypatch):
    """Settled parallel calls that slow down beyond the model's estimate (a busy neighbour)
    outlast the predicted ends that keep the pool warm, so the observed call among them (one
    per OBSERVE_S) finds it cold and is not recorded.  Slower than the serial ones, it has the
    next call observed, which follows its known end and is recorded: the calls turn serial
    within a few."""
    cold = 1e-4  # a call of 1 ms pays even cold: the cold ones are not sent serial
    monkeypatch.setattr(_cost, "_costs", {"numba": _cost.RegionCost(WARM, cold)})
    clock = Clock(monkeypatch)
    work = _work(1e-3, "losses")
    estimate = _cost.serial_estimate(work, "losses")
    seconds = {False: estimate, True: estimate / 2}
    kernels = clock.kernels(seconds)

    def call():
        parallel = chosen("numba", work, kind="losses")
        opened = _cost._open.call
        kernels[parallel]()
        return parallel, opened is not None, opened is not None and opened.warm

    for _ in range(2 * _cost.SAMPLES + 2):  # settled on parallel, back to back
        call()
    # the calls now outlast what keeps the pool warm after an unobserved one (twice the
    # predicted parallel time, and WARM_S), though not OBSERVE_S
    seconds[True] = 2.5 * estimate
    predicted = estimate - _cost.saving(estimate, WARM, 2)
    assert 2 * predicted + _cost.WARM_S < seconds[True] < _cost.OBSERVE_S
    calls = [call() for _ in range(40)]
    first = next(i for i, (_, observed, _) in enumerate(calls) if observed)
    assert calls[first] == (True, True, False)  # observed, but found the pool cold ...
    assert calls[first + 1] == (True, True, True)  # ... so the next is observed, warm
    lost = next(i for i, (parallel, _, _) in enumerate(calls) if not parallel)
    assert lost <= first + 1 + _cost.KEEP
    assert sum(not parallel for parallel, _, _ in calls[lost:]) > 0.75 * len(calls[lost:])  # retries only


def test_an_observed_parallel_call_slower_than_serial_has_the_next_calls_observed():
    work, unit = 1 << 20, 2.0 ** -10
    observed = _cost._Observed(2)
    for _ in range(_cost.SAMPLES):
        observed.record(True, unit, work)
        observed.record(False, 2 * unit, work)
    assert observed.choose(work, 0.0) == (True, True)  # settled
    assert observed.choose(work, _cost.OBSERVE_S / 2) == (True, False)
    for _ in range(2):
        call = _cost._Call("numba", observed, work, True)
        call.seconds, call.ran = 3 * unit, _cost.PARALLEL
        call.close()
        assert observed.choose(work, _cost.OBSERVE_S / 2) == (True, True)


@pytest.mark.parametrize("faster", [True, False])
def test_a_settled_choice_decides_its_calls_without_asking_the_model(region_costs, monkeypatch, faster):
    """Once a bucket has settled (parallel ahead, or serial while a retry is not due), the
    calls of the same backend, kind and work in the same Python thread are decided by the
    bucket alone within OBSERVE_S of the last one decided in full: the thread count is not
    asked, and a thread count changed since is taken within OBSERVE_S."""
    clock = Clock(monkeypatch)
    unit = 2.0 ** -12  # 244 us: 16 calls of one unit per OBSERVE_S
    # slower in parallel: a retry is due after RETRY_EVERY * 3 * (SAMPLES + 1) units, not within OBSERVE_S
    seconds = {False: 2 * unit, True: unit} if faster else {False: unit, True: 4 * unit}
    kernels = clock.kernels(seconds)
    asked = []

    def threads():
        asked.append(True)
        return 2

    monkeypatch.setattr(backends, "get_num_threads", threads)
    work = _work(2 * _limit(COLD), "losses")

    def call(size=work):
        asked.append(False)
        parallel = chosen("numba", size, kind="losses")
        kernels[parallel]()
        return parallel

    n = _cost.SAMPLES
    # observed: the waking call and n parallel ones, n serial, then the one that settles
    assert [call() for _ in range(2 * n + 2)] == [True] * (n + 1) + [False] * n + [faster]
    asked.clear()
    # the next 16 calls, within OBSERVE_S of the settling one, ask nothing; the 17th is observed
    assert [call() for _ in range(17)] == [faster] * 17
    assert asked == [False] * 16 + [False, True]
    if faster:  # within OBSERVE_S, but the pool has idled since the observed call ended: cold,
        clock.now += 2 * _cost.WARM_S  # so decided in full (on the cold cost)
        asked.clear()
        assert call() and asked == [False, True]
    monkeypatch.setattr(backends, "get_num_threads", lambda: 1)  # one thread now
    assert call() is faster  # still the bucket's
    monkeypatch.setattr(backends, "get_num_threads", threads)
    asked.clear()
    assert call(work + 1) is faster and asked == [False, True]  # another work: asked
    other = []
    worker = threading.Thread(
        target=lambda: other.append(chosen("numba", work + 1, kind="losses")))
    worker.start()
    worker.join()
    assert other == [faster] and asked == [False, True, True]  # another Python thread: asked
    monkeypatch.setattr(backends, "get_num_threads", lambda: 1)
    clock.now += _cost.OBSERVE_S  # the bucket's next observation: asked
    assert not call(work + 1)  # one thread: serial (the faster kernel: on_one_thread, tested above)


def test_a_thread_count_changed_is_taken_within_observe_s_whatever_other_threads_do(
        region_costs, monkeypatch):
    """A Python thread decides a call in full at least once per OBSERVE_S, however often other
    threads' calls keep the bucket settled, and a call that would be observed (a retry due)
    is decided in full: a thread count changed since is taken (Numba's is per thread)."""
    clock = Clock(monkeypatch)
    unit = 2.0 ** -14
    kind = "masks"  # on one thread: the serial kernel
    assert kind not in _config.ONE_THREAD_PARALLEL
    seconds = {False: 2 * unit, True: unit}
    kernels = clock.kernels(seconds)
    states = {"a": _cost._open, "b": _cost._Thread()}
    counts = {"a": 2, "b": 2}
    current = ["a"]
    monkeypatch.setattr(backends, "get_num_threads", lambda: counts[current[0]])
    work = _work(2 * _limit(COLD), kind)

    def call(thread):
        current[0] = thread
        monkeypatch.setattr(_cost, "_open", states[thread])
        parallel = chosen("numba", work, kind=kind)
        kernels[parallel]()
        return parallel

    for _ in range(2 * _cost.SAMPLES + 2):  # observed, then settled on parallel
        call("a")
    counts["a"] = 1
    changed, late = clock.now, []
    for i in range(400):  # b calls every unit and keeps the bucket settled; a every fifth
        call("b")
        if i % 5 == 0:
            asked_at = clock.now
            parallel = call("a")
            if asked_at >= changed + _cost.OBSERVE_S:
                late.append(parallel)
    assert late and not any(late)
    # a full decision that finds the thread count changed ends the thread's shortcut at once
    counts["a"] = 2
    clock.now += 1.0
    assert call("a")  # settles the bucket again, and a's shortcut
    bucket = next(o for k, o in _cost._observed.items() if k[1] == kind and k[2] == 2)
    counts["a"] = 1
    bucket.unobserved_until = 0.0  # as after a slow parallel call: the next call is observed
    assert call("a") is False  # decided in full, on one thread
    assert call("b")  # b's observed call settles the bucket again
    assert call("a") is False  # not by the two-thread bucket, though a's shortcut had time left
    # settled on serial: a call whose retry is due is decided in full, on the thread count now
    seconds[True] = 4 * unit
    counts["a"] = counts["b"] = 2
    clock.now += 1.0
    # the first call wakes the pool (not recorded); the next observed one, an OBSERVE_S of
    # parallel calls later, is slower: every call observed again, and KEEP slower ones at most
    # outweigh the faster ones before
    within = int(_cost.OBSERVE_S / (4 * unit)) + 1 + _cost.KEEP
    for _ in range(within):
        call("a")
        if bucket.retry_after is not None:
            break
    assert bucket.retry_after is not None and clock.now < bucket.unobserved_until
    bucket.spent = bucket.retry_after
    counts["a"] = 1
    assert call("a") is False and not bucket.retrying  # one thread: no retry of the two-thread bucket


@pytest.mark.parametrize("wake_units", [1.0, 0.25])
def test_a_retry_is_priced_at_what_it_cost_its_waking_call_too(wake_units):
    # a retry's waking call can be faster than serial (for a large call the wake is small next
    # to the work): a retry that lost at no cost is tried again at once
    work, unit = 1 << 20, 2.0 ** -10
    observed = _cost._Observed(2)
    for _ in range(_cost.SAMPLES):
        observed.record(True, 2 * unit, work)
        observed.record(False, unit, work)
    assert observed.choose(work, 0.0) == (False, True)  # parallel lost: a retry is priced
    observed.spent = observed.retry_after  # the serial calls since have run it
    assert observed.choose(work, 1.0) == (True, True) and observed.retrying
    for warm, seconds in [(False, wake_units * unit)] + [(True, 5 * unit / 4)] * 3:
        call = _cost._Call("numba", observed, work, warm)
        call.seconds, call.ran = seconds, _cost.PARALLEL
        call.close()
        chosen = observed.choose(work, 2.0)
    if wake_units == 1:  # the waking call took as long as serial: the three warm ones lost 3/4 unit
        assert chosen == (False, True) and not observed.retrying
        assert observed.retry_after == _cost.RETRY_EVERY * 2 * 3 * unit / 4  # backoff 2
    else:  # the waking call saved those 3/4 unit
        assert chosen == (True, True) and observed.retrying and observed.retry_after is None


def test_one_long_serial_call_that_parallel_clearly_beats_settles_it(region_costs, monkeypatch):
    """Observing serial calls costs their extra time: one serial call of LONG_S or more
    that took over CLEAR_WIN times what the parallel ones take settles the comparison;
    shorter calls, or a closer race, are observed SAMPLES times."""
    clock = Clock(monkeypatch)
    work = _work(2 * _limit(COLD), "losses")  # the model says parallel, even cold
    n, long = _cost.SAMPLES, _cost.LONG_S
    for serial, parallel, serial_calls in [
        (2 * long, long, 1),  # long, and parallel twice as fast
        (2 * long, 2 * long / 1.25, n),  # long, but parallel only 1.25 times as fast
        (long / 2, long / 8, n),  # parallel four times as fast, but a short call
    ]:
        monkeypatch.setattr(_cost, "_observed", {})
        clock.now += 1.0  # the pool idles: the first call wakes it
        kernels = clock.kernels({False: serial, True: parallel})
        choices = []
        for _ in range(2 * n + 2):
            choices.append(chosen("numba", work, kind="losses"))
            kernels[choices[-1]]()
        # the first parallel call wakes the pool (not observed), then n observed
        assert choices == [True] * (n + 1) + [False] * serial_calls + [True] * (n + 1 - serial_calls)


def test_a_call_that_loads_a_kernel_is_not_observed(region_costs, monkeypatch):
    # the first call of a signature in a process compiles the kernel or loads it from the
    # cache (Numba's dispatcher adds an overload): it took what loading took
    Clock(monkeypatch)
    work = _work(2 * _limit(COLD), "losses")

    class Dispatcher:
        def __init__(self):
            self.overloads = {}

        def __call__(self, signature):
            self.overloads.setdefault(signature, "loaded")

    kernel = _cost.timed(Dispatcher(), True)
    assert chosen("numba", work, kind="losses")
    kernel("float32")  # loads, and woke the pool
    for signature in ("float64", "float32", "float64"):  # loads, then two calls observed
        assert chosen("numba", work, kind="losses")
        kernel(signature)
    _cost.end_call()
    assert [len(o.parallel) for o in _cost._observed.values()] == [2]


def test_observed_choices_follow_the_calls_that_change():
    """A comparison settled by one long serial call is reopened when the parallel calls slow
    down; a parallel choice that wins again has no retry due, so that when it loses again
    the next retry is priced anew."""
    work, long = 1 << 20, _cost.LONG_S
    seconds_apart = iter(range(10))  # calls a second apart: each is observed
    settled = _cost._Observed(2)
    for _ in range(_cost.SAMPLES):
        settled.record(True, long, work)
    settled.record(False, 2 * long, work)
    assert settled.choose(work, next(seconds_apart)) == (True, True)  # one serial call, twice as long
    for _ in range(_cost.KEEP):
        settled.record(True, 1.6 * long, work)  # parallel slows down: no longer CLEAR_WIN faster
    assert settled.choose(work, next(seconds_apart)) == (False, True)  # serial is observed again

    unit = 2.0 ** -10
    observed = _cost._Observed(2)
    for _ in range(_cost.SAMPLES):
        observed.record(True, 2 * unit, work)
        observed.record(False, unit, work)
    assert not observed.choose(work, next(seconds_apart))[0] and observed.retry_after is not None  # lost
    for _ in range(_cost.KEEP):
        observed.record(False, 3 * unit, work)  # the serial calls slow down
    assert observed.choose(work, next(seconds_apart))[0] and observed.retry_after is None  # parallel wins
    for _ in range(_cost.KEEP):
        observed.record(True, 4 * unit, work)
    assert not observed.choose(work, next(seconds_apart))[0]  # lost again: priced anew, not retried at once


def test_unbatched_nms_does_not_ask_the_cost_model(region_costs, monkeypatch):
    # one class is sequential work: its calls are neither decided nor observed
    boxes = fastiou.synthetic.clustered_boxes(5000, seed=1)[0]
    scores = np.random.default_rng(1).random(5000)
    for labels, asked in ((None, False), (np.arange(5000) % 3, True)):
        monkeypatch.setattr(_cost, "_observed", {})
        # the last call is predicted to end 10 s from now: the pool counts as warm
        _cost._call_warm_until["numba"] = _cost.time.perf_counter() + 20.0
        if labels is None:
            fastiou.nms(boxes, scores, 0.5, backend="numba")
        else:
            fastiou.batched_nms(boxes, scores, labels, 0.5, backend="numba")
        _cost.end_call()
        assert bool(_cost._observed) is asked


def test_a_call_that_runs_no_kernel_or_both_kinds_observes_nothing(region_costs, monkeypatch):
    Clock(monkeypatch)
    work = _work(2 * _limit(COLD), "losses")
    both = [_cost.timed(lambda: None, flag) for flag in (False, True)]
    for _ in range(3 * _cost.SAMPLES):
        assert chosen("numba", work, kind="losses")
        both[0]()
        both[1]()
    assert all(not o.serial and not o.parallel for o in _cost._observed.values())


def test_a_forced_call_ends_the_open_one(region_costs, monkeypatch):
    # a call forced serial or parallel (fastiou bench's columns) runs its kernels after
    # the last 'auto' call: they are not that call's
    Clock(monkeypatch)
    work = _work(2 * _limit(COLD), "losses")
    kernel = _cost.timed(lambda: None, True)
    assert chosen("numba", work, kind="losses")
    assert _cost._open.call is not None
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)
    assert chosen("numba", work, kind="losses")
    assert _cost._open.call is None
    kernel()
    assert all(not o.serial and not o.parallel for o in _cost._observed.values())


class Readings:
    """Other processes' CPU seconds as ``_load`` reads them, set by hand, on 2 CPUs."""

    def __init__(self, monkeypatch):
        self.others = 0.0
        monkeypatch.setattr(_load, "_others_seconds", lambda: self.others)
        monkeypatch.setattr(_load, "_lines", ((b"cpu ",), 2))


def test_load_windows(monkeypatch):
    """A window closes at the first sample WINDOW_S after the reading that opened it, also
    across a pause (calls in short bursts still close windows), and says contended when
    other processes left fewer CPUs than the threads need (by SLACK); it counts only if it
    started after ``since``.  A reading over SPAN_S old opens a new window instead."""
    clock, readings = Clock(monkeypatch), Readings(monkeypatch)
    start = clock.now
    _load.sample(clock.now)  # opens a window
    assert _load.verdict(start - 1, 2) is None  # none closed yet
    step = 2.0 ** -6  # 15.6 ms: exact sums on the clock
    assert step < _load.WINDOW_S <= 2 * step
    for load in (0.25, 1.0):  # CPUs other processes take
        for _ in range(2):  # samples a step apart: the second closes the window
            clock.now += step
            readings.others += load * step
            _load.sample(clock.now)
        assert _load.verdict(start - 1, 2) is (load > 2 - 2 + _load.SLACK)
        assert _load.verdict(start - 1, 1) is False  # one thread: one CPU free is enough
        start = clock.now
    assert _load.verdict(clock.now, 2) is None  # the last window started before then
    pause = 2.0 ** -3  # the calls paused (or other work ran) for 125 ms: one sample closes it
    assert _load.WINDOW_S < pause < _load.SPAN_S
    clock.now += pause
    readings.others += 0.25 * pause
    _load.sample(clock.now)
    assert _load._window == (start, 0.25)
    clock.now += 2 * _load.SPAN_S  # long after: a new window opens, and the last one is dropped
    readings.others += 10.0
    _load.sample(clock.now)
    assert _load._window is None and _load.verdict(start - 1, 2) is None
    opened = clock.now
    for _ in range(2):
        clock.now += step
        _load.sample(clock.now)
    assert _load._window == (opened, 0.0)


@pytest.mark.skipif(not os.path.exists("/proc/stat") or not hasattr(os, "sched_getaffinity"),
                    reason="reads Linux's /proc/stat")
def test_others_cpu_time_is_read_from_proc_stat(monkeypatch, tmp_path):
    # user nice system idle iowait irq softirq steal: all but nice, idle and iowait count
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 1000 20 5000 7 1 2 3 0 0\n"
                    "cpu0 60 500 10 2500 3 1 1 2 0 0\n"
                    "cpu1 40 500 10 2500 4 0 1 1 0 0\n"
                    "intr 1 2 3\n")
    monkeypatch.setattr(_load, "_PATH", str(stat))
    monkeypatch.setattr(_load.os, "getpriority", lambda *a: 0)
    import resource

    def read(cpus):
        monkeypatch.setattr(_load.os, "sched_getaffinity", lambda pid: cpus)
        monkeypatch.setattr(_load.os, "cpu_count", lambda: 2)
        monkeypatch.setattr(_load, "_lines", None)
        before = resource.getrusage(resource.RUSAGE_SELF)
        others = READ_OTHERS_SECONDS()
        after = resource.getrusage(resource.RUSAGE_SELF)
        # this process's own CPU time is not others'
        own = [r.ru_utime + r.ru_stime for r in (before, after)]
        return others, own

    for cpus, ticks in [({0, 1}, 100 + 20 + 1 + 2 + 3), ({1}, 40 + 10 + 0 + 1 + 1)]:
        others, own = read(cpus)
        assert ticks / _load._ticks - own[1] <= others <= ticks / _load._ticks - own[0]
    monkeypatch.setattr(_load.os, "getpriority", lambda *a: 10)  # niced: own time is in nice
    monkeypatch.setattr(_load.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(_load, "_lines", None)
    assert READ_OTHERS_SECONDS() == (100 + 20 + 1 + 2 + 3) / _load._ticks
    monkeypatch.setattr(_load, "_PATH", str(tmp_path / "missing"))
    assert READ_OTHERS_SECONDS() is None
    # not the kernel's format, or a CPU of the set missing: no reading, never an error
    monkeypatch.setattr(_load, "_PATH", str(stat))
    for text in ("cpu  100 0 x 5000\n", "cpu  1e3 0 20 5000 7 1 2 3\n", "", "\x00\xff garbage"):
        stat.write_bytes(text.encode("latin-1"))
        assert READ_OTHERS_SECONDS() is None
    stat.write_text("cpu0 60 500 10 2500 3 1 1 2 0 0\n")
    monkeypatch.setattr(_load.os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(_load.os, "cpu_count", lambda: 4)  # a set of 2 of 4: cpu1 is missing
    monkeypatch.setattr(_load, "_lines", None)
    assert READ_OTHERS_SECONDS() is None


def _lost(work: int, unit: float, now: float) -> _cost._Observed:
    """A two-thread bucket whose parallel calls (2 units) just lost to serial ones (1 unit)."""
    observed = _cost._Observed(2)
    for _ in range(_cost.SAMPLES):
        observed.record(True, 2 * unit, work)
        observed.record(False, unit, work)
    assert observed.choose(work, now) == (False, True) and observed.lost_at == now
    return observed


def test_retries_follow_other_processes_load(monkeypatch):
    """Where other processes' CPU time is read, a retry waits for a window since parallel
    lost (at most WAIT_S); it comes at once when they let go of the CPUs after holding them,
    and as seldom as at LOADED_BACKOFF while they hold them; a lost retry starts afresh."""
    work, unit = 1 << 20, 2.0 ** -10
    verdicts = {}
    monkeypatch.setattr(_load, "verdict", lambda since, threads: verdicts.get(since))
    monkeypatch.setattr(_load, "readable", lambda: True)
    monkeypatch.setattr(_load, "sample", lambda now: None)

    observed = _lost(work, unit, 0.0)
    price = observed.retry_after
    assert price == _cost.RETRY_EVERY * (_cost.SAMPLES + 1) * unit  # backoff 1
    observed.spent = price
    assert observed.choose(work, _load.WAIT_S / 2) == (False, True)  # no window yet: waits
    assert observed.settled(work, _load.WAIT_S / 2) is False  # and its calls stay serial
    assert observed.choose(work, 2 * _load.WAIT_S) == (True, True)  # waited long enough: due

    observed = _lost(work, unit, 0.0)
    verdicts[0.0] = True  # a window since: contended
    observed.spent = price * _cost.LOADED_BACKOFF - unit
    assert observed.choose(work, 1.0) == (False, True) and observed.load_seen
    verdicts[0.0] = False  # the next one: the CPUs are free again
    observed.spent = 0.0
    assert observed.choose(work, 1.5) == (True, True) and observed.retrying  # at once
    for _ in range(_cost.SAMPLES):
        observed.record(True, 2 * unit, work)
    observed.retry_extra = 3 * unit  # what the retry's calls cost beyond serial ones
    assert observed.choose(work, 2.0) == (False, True)  # the retry lost: priced anew
    assert observed.lost_at == 2.0 and not observed.load_seen and observed.backoff == 2
    assert observed.retry_after == _cost.RETRY_EVERY * 2 * 3 * unit
    verdicts[2.0] = False  # free, but not held since: no retry at once, nor before retry_after
    observed.spent = observed.retry_after - unit
    assert observed.choose(work, 3.0) == (False, True)
    verdicts[2.0] = True  # held: as seldom as at LOADED_BACKOFF, whatever the backoff
    observed.spent = observed.retry_after * _cost.LOADED_BACKOFF / 2 - unit
    assert observed.choose(work, 4.0) == (False, True)
    observed.spent += unit
    assert observed.choose(work, 5.0) == (True, True)


def test_a_retry_another_thread_starts_while_the_load_is_read_is_no_error(monkeypatch):
    """Reading /proc/stat releases the GIL: another Python thread's call on the same bucket
    may start the retry meanwhile (its price then reads None)."""
    work, unit = 1 << 20, 2.0 ** -10
    observed = _lost(work, unit, 0.0)
    price = observed.retry_after

    def another_thread_starts_the_retry(now):
        observed.retrying, observed.retry_after = True, None

    monkeypatch.setattr(_load, "sample", another_thread_starts_the_retry)
    assert observed.choose(work, 1.0) == (False, True)  # decided on the price it read
    assert observed.due == price


def test_a_forked_child_reads_the_load_afresh(monkeypatch):
    Readings(monkeypatch)
    _load.sample(1.0)
    assert _load.readable()
    pid = os.fork() if hasattr(os, "fork") else pytest.skip("no fork here")
    if pid == 0:  # the child: nothing read, nothing closed
        os._exit(0 if (_load._last, _load._window, _load._lines) == (None, None, None) else 1)
    assert os.waitpid(pid, 0)[1] == 0
