"""The serial/parallel choice (fastiou/backends/_cost.py): deterministic given the measured
region cost, measured once per process, never asked for small calls."""

from __future__ import annotations

import numpy as np
import pytest

import fastiou
from fastiou import _config, backends
from fastiou.backends import _cost

NS = _config.SERIAL_NS_PER_UNIT


@pytest.fixture
def region_costs(monkeypatch):
    """Known region costs (1 ms each), 2 threads, and no measuring allowed."""
    monkeypatch.setattr(_cost, "_costs", {"numba": 1e-3, "cython": 1e-3})
    monkeypatch.setattr(_cost, "measure", lambda *a: pytest.fail("measured again"))
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    return 1e-3


def _work(seconds: float, kind: str) -> int:
    return int(seconds / (NS[kind] * 1e-9))


@pytest.mark.parametrize("backend", ["numba", "cython"])
@pytest.mark.parametrize("kind", ["iou_pairs", "ciou_pairs", "nms", "masks", "losses"])
def test_parallel_exactly_when_the_saving_exceeds_the_margin(region_costs, backend, kind):
    # 2 threads save half the serial time; parallel needs half > MARGIN * 1 ms
    limit = 2 * _cost.MARGIN * region_costs
    for seconds, expected in ((0.8 * limit, False), (1.25 * limit, True)):
        work = _work(seconds, kind)
        assert backends.select(backend, work, kind=kind)[1] is expected, seconds


def test_one_thread_is_always_serial(region_costs, monkeypatch):
    monkeypatch.setattr(backends, "get_num_threads", lambda: 1)
    assert not backends.select("numba", 10**12)[1]


@pytest.mark.parametrize("kind", sorted(NS))
def test_small_calls_never_measure(monkeypatch, kind):
    monkeypatch.setattr(_cost, "_costs", {})
    monkeypatch.setattr(_cost, "measure", lambda *a: pytest.fail("a small call measured"))
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    work = _work(_cost.MIN_SERIAL_S * 0.99, kind)  # estimated below any region's cost
    assert not backends.select("numba", work, kind=kind)[1]


def test_region_cost_is_measured_once_per_backend(monkeypatch):
    calls = []
    monkeypatch.setattr(_cost, "_costs", {})
    monkeypatch.setattr(_cost, "measure", lambda backend, threads: calls.append(backend) or 5e-3)
    for _ in range(3):
        assert _cost.region_cost("numba", 2) == 5e-3
        assert _cost.region_cost("cuda", 2) == 5e-3  # cuda's host kernels are Numba's
        assert _cost.region_cost("cython", 2) == 5e-3
    assert calls == ["numba", "cython"]


@pytest.mark.parametrize("backend", ["numba", "cython"])
def test_measure_times_real_regions(backend):
    cost = _cost.measure(backend, 2)
    assert 0 < cost < 1.0  # seconds: an empty region, however slow the machine


def test_forcing_and_the_fork_rule(region_costs, monkeypatch):
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)
    assert backends.select("numba", 1)[1]
    monkeypatch.setattr(backends, "FORCE_PARALLEL", False)
    assert not backends.select("numba", 10**12)[1]
    monkeypatch.setattr(backends, "FORCE_PARALLEL", True)
    monkeypatch.setattr(backends, "_serial_only", frozenset({"numba", "cython", "cuda"}))
    assert not backends.select("cython", 10**12)[1]  # a forked child stays serial


def test_the_choice_changes_only_the_time(monkeypatch):
    """The same call under a cheap and a prohibitive region cost: identical bits."""
    b = fastiou.synthetic.clustered_boxes(700, seed=3)[0]
    monkeypatch.setattr(backends, "get_num_threads", lambda: 2)
    results = []
    for cost in (1e-9, 1e3):
        monkeypatch.setattr(_cost, "_costs", {"numba": cost, "cython": cost})
        assert backends.select("numba", 700 * 700, kind="ciou_pairs")[1] is (cost < 1)
        results.append(fastiou.complete_box_iou(b, b, backend="numba"))
    np.testing.assert_array_equal(results[0], results[1])


def test_config_prints_the_region_cost(capsys):
    fastiou.show_config()
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("parallel region cost"))
    assert "numba" in line and " ms" in line
