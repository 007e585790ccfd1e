"""``fastiou bench``'s serial / parallel columns and header, and benchmarks/load_matrix.py.

No timing is asserted: only what is printed and saved."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastiou import backends, cli
from fastiou.bench import boxes as bench_boxes
from fastiou.bench import nms as bench_nms
from fastiou.bench import runner, table

LOAD_MATRIX = Path(__file__).resolve().parents[1] / "benchmarks" / "load_matrix.py"


def test_modes_force_and_restore(monkeypatch):
    monkeypatch.setattr(backends, "FORCE_PARALLEL", None)
    seen = []
    impls = runner.modes(lambda backend: seen.append((backend, backends.FORCE_PARALLEL)), " value+grad")
    assert list(impls) == [f"fastiou[{m}] value+grad" for m in ("auto", "serial", "parallel")]
    for fn in impls.values():
        fn()
    assert seen == [("auto", None), ("auto", False), (runner.default_cpu_backend(), True)]
    assert backends.FORCE_PARALLEL is None

    def boom(backend):
        raise RuntimeError("kernel failed")

    with pytest.raises(RuntimeError):
        runner.modes(boom)["fastiou[parallel]"]()
    assert backends.FORCE_PARALLEL is None  # restored on error too


@pytest.mark.parametrize("settle", [False, True])
def test_settle_pauses_only_when_asked(monkeypatch, settle):
    pauses = []
    monkeypatch.setattr(runner.time, "sleep", pauses.append)
    runner.time_rounds({"a": lambda: None, "b": lambda: None}, repeat=2, budget_s=0.01, settle=settle)
    assert pauses == ([runner.SETTLE_S] * 4 if settle else [])


def test_table_folds_the_twins_into_the_auto_row():
    def row(impl, s):
        return runner.Row("nms", "100 boxes", impl, 100, 100, "boxes", s, 100 / s, speedup=1.0)

    rows = [row("fastiou[auto]", 2e-3), row("fastiou[serial]", 2e-3), row("fastiou[parallel]", 5e-3),
            row("fastiou[numba]", 2e-3), row("torchvision", 9e-3)]
    machine = {"cores": 2, "threads": 2, "threading_layer": "omp", "region_cost_s": {"numba": 8e-3},
               "region_cost_warm_s": {"numba": 2e-5}, "load_average_1min": 1.5}
    text = table.format_table(rows, {"write": 5e9, "read": 8e9}, machine)
    assert "parallel region cost after idling (the cost model's measure): numba 8 ms (20 us warm)" in text
    assert "2 cores, 2 threads, threading layer omp, load average 1.50" in text
    lines = [line for line in text.splitlines() if line.startswith("| nms")]
    assert [line.split(" | ")[2] for line in lines] == ["fastiou[auto]", "fastiou[numba]", "torchvision"]
    assert lines[0].split(" | ")[4] == "2 ms / 5 ms"
    assert lines[1].split(" | ")[4] == ""


def test_cli_bench_shows_region_cost_and_serial_parallel(tmp_path, monkeypatch, capsys):
    # a small bandwidth probe and no third-party libraries keep this quick
    probe = runner.memory_bandwidth
    monkeypatch.setattr(runner, "memory_bandwidth", lambda nbytes=0, repeat=0: probe(2**22, 3))
    monkeypatch.setattr(bench_boxes, "optional", lambda name: None)
    js = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--ops", "box_iou", "--sizes", "50", "--no-progress",
                     "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "parallel region cost after idling (the cost model's measure): numba " in out
    assert "threading layer " in out
    assert "| serial / parallel |" in out
    auto_lines = [line for line in out.splitlines() if "| 50x50 clustered float32 | fastiou[auto] |" in line]
    assert len(auto_lines) == 1 and " / " in auto_lines[0].split(" | ")[4]
    assert "fastiou[serial]" not in out and "fastiou[parallel]" not in out  # folded into the auto row
    data = json.loads(js.read_text())
    assert data["machine"]["region_cost_s"]["numba"] > 0
    for label in ("10x10 tracking-size float32", "300x300 clustered float32", "50x50 clustered float32"):
        impls = {r["impl"]: r for r in data["rows"] if r["label"] == label}
        for mode in ("auto", "serial", "parallel"):
            assert impls[f"fastiou[{mode}]"]["median_s"] > 0
        assert impls["fastiou[serial]"]["speedup"] is not None


def test_bench_help_names_settle(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "--settle" in out and "serial / parallel" in out


def test_bench_sizes_leave_out_the_largest_nms_case():
    """``--sizes`` (or ``--quick``) narrows the NMS family: its 200,000-box scattered case,
    minutes with the third parties, belongs to the full table only."""
    def largest_scattered(quick, sizes):
        return max(c.size for c in bench_nms.cases(quick, sizes) if "scattered" in c.label)

    assert largest_scattered(False, None) == 200_000
    assert largest_scattered(True, None) == largest_scattered(False, [100]) == 20_000
    assert {c.size for c in bench_nms.cases(False, [100]) if c.op == "batched_nms"} == {100}


def _load_matrix():
    spec = importlib.util.spec_from_file_location("load_matrix", LOAD_MATRIX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _children() -> str:
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return path.read_text() if path.exists() else ""


def test_load_matrix_imports_without_side_effects():
    before = _children()
    module = _load_matrix()
    assert module._busy == [] and _children() == before  # no busy process started
    assert set(module.OPS) == {"box_iou", "nms", "mask_iou", "cross_entropy", "sparse_box_iou"}


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX niceness")
def test_load_matrix_busy_process_is_niced_and_stopped():
    module = _load_matrix()
    proc = module.start_busy(19)
    try:
        assert proc.poll() is None
        assert os.getpriority(os.PRIO_PROCESS, proc.pid) == 19
    finally:
        module.stop_busy()
    assert proc.poll() is not None and module._busy == []


def test_load_matrix_smoke_runs_end_to_end(tmp_path):
    js = tmp_path / "matrix.json"
    result = subprocess.run([sys.executable, str(LOAD_MATRIX), "--smoke", "--control", "--no-progress",
                             "--json", str(js)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "parallel region cost measured by the cost model" in result.stdout
    assert "| op | size | thr | quiet auto | own | a/o | 3rd | flags |" in result.stdout
    rows = json.loads(js.read_text())["rows"]
    assert rows and {r["op"] for r in rows} == {"mask_iou"} and {r["load"] for r in rows} == {"quiet"}
    for r in rows:
        assert r["auto_s"] > 0 and r["serial_s"] > 0 and r["parallel_s"] > 0
        assert r["best_own_s"] == min(r["serial_s"], r["parallel_s"])
        assert r["calls"]["ctl:serial"] >= 2 and r["calls"]["ctl:parallel"] >= 2
        assert r["control_over_best_own"] > 0
    assert f"auto within 1.10 x the faster own path in {sum('own' not in r['flags'] for r in rows)} of " \
           f"{len(rows)} cells; the control in " in result.stdout


def test_load_matrix_control_is_the_copy_of_the_faster_own_path_held_to_autos_test():
    # an auto that always picks right: the noise floor of the 10% line
    module = _load_matrix()

    def row(**typical):
        timed = {name.replace("ctl_", "ctl:"): (t, t, t, t, 50) for name, t in typical.items()}
        return module._row("box_iou", "n", 1, "small", 2, "quiet", timed, {})

    crossed = row(auto=1.0, serial=2.0, parallel=1.0, ctl_serial=2.0, ctl_parallel=1.2)
    assert crossed["best_own"] == "parallel" and crossed["control_over_best_own"] == 1.2
    assert crossed["flags"] == ["ctl"]
    # the copy of the slower path does not count
    within = row(auto=1.15, serial=1.0, parallel=2.0, ctl_serial=1.05, ctl_parallel=5.0)
    assert within["control_over_best_own"] == 1.05 and within["flags"] == ["own"]
    assert row(auto=1.0, serial=1.0, parallel=2.0)["control_over_best_own"] is None


def test_load_matrix_cells_time_fastiou_min_calls_times_and_third_parties_once_a_round():
    # the 10% comparison rests on auto, serial and parallel: a mean of a few calls of a large
    # size moves by a third with one slow call
    module = _load_matrix()
    impls = {name: (lambda: None) for name in ("auto", "serial", "parallel", "3rd:other")}
    timed, dropped = module.time_cell(impls, budget_s=0.0, min_calls=10, rounds=2)
    assert not dropped
    assert {name: t[4] for name, t in timed.items()} == {"auto": 10, "serial": 10, "parallel": 10,
                                                         "3rd:other": 2}


def _clocked(monkeypatch, seconds):
    """A call that takes the next of ``seconds`` on the clock that time_cell reads."""
    clock, calls = [0.0], iter(seconds)
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])

    def call():
        clock[0] += next(calls)
    return call


def test_load_matrix_control_copies_leave_the_others_turns_as_long(monkeypatch):
    module = _load_matrix()
    call = _clocked(monkeypatch, itertools.repeat(1.0))
    timed, _ = module.time_cell({"auto": call, "ctl:serial": call}, budget_s=4.0, min_calls=0, rounds=2)
    # a turn of 4 / (2 rounds x 1 implementation) = 2 seconds: two calls a turn, for the copy too
    assert timed["auto"][4] == timed["ctl:serial"][4] == 4


def test_load_matrix_summary_counts_the_control_only_where_timed():
    module = _load_matrix()
    rows = [{"flags": []}, {"flags": ["own", "3rd"]}]
    assert module.summary(rows) == ("auto within 1.10 x the faster own path in 1 of 2 cells; "
                                    "slower than the best third party in 1")
    rows = [dict(r, control_over_best_own=1.0) for r in rows] + [
        {"flags": ["ctl"], "control_over_best_own": 1.2}]
    assert module.summary(rows) == ("auto within 1.10 x the faster own path in 2 of 3 cells; the control in "
                                    "2 of 3; slower than the best third party in 1")


def test_load_matrix_cells_are_the_median_of_the_rounds_means(monkeypatch):
    # a call that stalls (the host took the vCPU) moves one round; waits that recur are in each
    module = _load_matrix()
    # seconds: the first call (untimed), then two calls a round, one of them stalled
    call = _clocked(monkeypatch, [1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 30.0, 2.0, 2.0])
    timed, _ = module.time_cell({"auto": call}, budget_s=0.0, min_calls=8, rounds=4)
    # (each turn's first call is untimed too, unless calls take SLOW_S: these do)
    typical, mean, median, fastest, count = timed["auto"]
    assert count == 8 and mean == 44 / 8 and median == 2.0 and fastest == 2.0
    assert typical == 2.0  # round means 2, 2, 16, 2: the stalled round does not decide
