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


def test_quick_run_checks_nms_against_the_cpu(capsys, monkeypatch):
    bench = load()
    parse_args = bench.parse_args

    def smaller(argv):
        # --quick's NMS (150 boxes, 2 timed repeats) is most of the simulator's time here:
        # 70 boxes (2 mask words) and 1 repeat run every line of main() all the same.
        args = parse_args(argv)
        assert args.quick
        args.nms_boxes, args.repeat = 70, 1
        return args

    monkeypatch.setattr(bench, "parse_args", smaller)
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "box_iou 20x20 float32" in out and "complete_box_iou 12x12" in out
    assert out.count("identical to the CPU backend") == 2


def test_arguments():
    bench = load()
    args = bench.parse_args(["--sizes", "100", "200", "--nms-boxes", "5000", "--repeat", "3"])
    assert (args.sizes, args.nms_boxes, args.repeat, args.quick) == ([100, 200], 5000, 3, False)
    with pytest.raises(SystemExit):
        bench.parse_args(["--sizes", "0"])
