"""benchmarks/gpu_bench.py runs end to end at tiny sizes (``--quick``: Numba arrays, no torchvision)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_bench.py"


def load():
    spec = importlib.util.spec_from_file_location("gpu_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_checks_nms_against_the_cpu(capsys):
    assert load().main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "box_iou 20x20 float32" in out and "complete_box_iou 12x12" in out
    assert out.count("identical to the CPU backend") == 2


def test_arguments():
    bench = load()
    args = bench.parse_args(["--sizes", "100", "200", "--nms-boxes", "5000", "--repeat", "3"])
    assert (args.sizes, args.nms_boxes, args.repeat, args.quick) == ([100, 200], 5000, 3, False)
    with pytest.raises(SystemExit):
        bench.parse_args(["--sizes", "0"])
