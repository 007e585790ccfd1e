"""The benchmark pictures (fastiou.bench.plots, ``fastiou bench --plot``, docs/make_pictures.py).

Each picture is drawn from a small saved run in tests/ (pictures_bench.json in the format of
``fastiou bench --json``, pictures_load.json in that of ``benchmarks/load_matrix.py --json``);
the tests check the files and the values that the matplotlib artists plot, not pixels.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fastiou import cli
from fastiou.bench import plots
from fastiou.bench import runner as _runner

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = plots.read_json(os.path.join(HERE, "pictures_bench.json"))
LOAD = plots.read_json(os.path.join(HERE, "pictures_load.json"))
PLOT_REASON = "the 'plot' extra (matplotlib, Pillow) is not installed"

# what the fixtures hold, worked out by hand: (op, input, peer, fastiou's median, the peer's median)
SUMMARY = [
    ("box_iou", "2000x2000 clustered float32", "numpy (broadcast)", 4e-3, 1e-1),  # auto, not numba / twin
    ("generalized_box_iou", "2000x2000 clustered float32", "torchvision", 5e-3, 0.75),
    ("nms", "10000 clustered float32", "lsnms (rust r-tree)", 1e-3, 8e-3),
    ("mask_iou", "50x50 masks 512x512 clustered RLE", "pycocotools.mask.iou", 4e-4, 2e-4),  # slower
]  # cross_entropy has only the naive reference: no bar


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib", reason=PLOT_REASON)


@pytest.fixture
def pil_image():
    return pytest.importorskip("PIL.Image", reason=PLOT_REASON)


def _size(pil_image, path):
    with pil_image.open(path) as img:
        return img.size


def test_importing_fastiou_and_the_plots_module_does_not_import_matplotlib():
    code = ("import sys, fastiou, fastiou.cli, fastiou.bench.plots; "
            "bad = [m for m in ('matplotlib', 'PIL') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("call", [lambda: plots.plot_summary(BENCH), lambda: plots.plot_load(LOAD),
                                  lambda: plots.plot_scaling(BENCH["rows"], ".")],
                         ids=["summary", "load", "scaling"])
def test_missing_plot_extra_says_how_to_install(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=re.escape("pip install 'fastiou[plot]'")):
        call()


# --- the headline chart ---------------------------------------------------------------


def test_summary_bars_are_the_fixtures_speedups():
    bars = plots.summary_bars(BENCH)
    assert [(b["op"], b["label"], b["peer"], b["fastiou_s"], b["peer_s"]) for b in bars] == SUMMARY
    assert {b["fastiou"] for b in bars} == {"fastiou[auto]"}
    assert [b["speedup"] for b in bars] == pytest.approx([peer / ours for *_, ours, peer in SUMMARY])


def test_summary_picture(mpl, pil_image, tmp_path):
    path = tmp_path / "summary.png"
    assert plots.plot_summary(BENCH, path) == path
    assert _size(pil_image, path) == (900, 120 + 34 * len(SUMMARY))
    fig = plots.summary_figure(BENCH)
    ax = fig.axes[0]
    bars = sorted((p for p in ax.patches if p.get_gid() == "speedup"), key=lambda p: -p.get_y())
    speedups = [peer / ours for *_, ours, peer in SUMMARY]
    assert [p.get_x() for p in bars] == [1] * len(SUMMARY)  # every bar starts at 1x
    assert [p.get_x() + p.get_width() for p in bars] == pytest.approx(speedups)
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"{op}\n{label}" for op, label, *_ in SUMMARY]  # top to bottom, with the input
    notes = [t.get_text() for t in ax.texts]
    assert notes == ["25x vs numpy (broadcast)", "150x vs torchvision", "8x vs lsnms (rust r-tree)",
                     "0.50x vs pycocotools.mask.iou"]
    low, high = ax.get_xlim()
    assert low < 0.5 and high > 150  # every bar inside the axis
    box = ax.get_window_extent()
    assert all(box.x0 <= t.get_window_extent().x0 and t.get_window_extent().x1 <= box.x1 for t in ax.texts)
    # the slower mask_iou's note starts at 1x, beside its bar pointing left
    assert ax.texts[-1].xy[0] == 1 and ax.texts[-1].get_ha() == "left"
    caption = fig._supxlabel.get_text().replace("\n", " ")
    assert "2 cores" in caption and "write bandwidth 3.2 GB/s" in caption and "2026-12-01" in caption


def test_summary_notes_fit_on_a_narrow_axis(mpl):
    # long two-line labels leave a narrow axis; a long note on a short bar fits beside it only if
    # the axis widens, and a long bar's note fits inside it only if the axis does not widen much
    cases = [("mask_iou", "50x50 masks 512x512 clustered dense", "supervision-style NumPy (broadcast)", 300),
             ("sparse_box_iou", "2000x2000 tiled clustered float32, min_iou 0.5",
              "shapely 2 (STRtree.query + NumPy IoU)", 9.9),
             ("box_iou (rotated)", "1000x1000 scattered float32 cxcywhr", "powerboxes (parallel, float64)", 0.97),
             ("dice", "16x4x512x512 float32 probabilities vs float32 one-hot", "torch (sums over H, W)", 6.3)]
    rows = [row for op, label, peer, speedup in cases
            for row in ({"op": op, "label": label, "impl": "fastiou[auto]", "size": 1000, "median_s": 1e-3},
                        {"op": op, "label": label, "impl": peer, "size": 1000, "median_s": speedup * 1e-3})]
    fig = plots.summary_figure({**BENCH, "rows": rows})
    ax = fig.axes[0]
    box = ax.get_window_extent()
    assert all(box.x0 <= t.get_window_extent().x0 and t.get_window_extent().x1 <= box.x1 for t in ax.texts)
    low, high = ax.get_xlim()
    assert low < 0.97 and 300 < high < 3000  # room for the notes, and the bars still read
    inside = [t.get_color() == "white" for t in ax.texts]
    assert inside == [True, False, False, False]


def test_summary_caption_without_a_date(mpl):
    run = {k: v for k, v in BENCH.items() if k != "date"}  # records written before the date was kept
    assert "date not recorded" in plots.summary_figure(run)._supxlabel.get_text().replace("\n", " ")


def _without(run, *keys):
    """``run`` deep-copied, with the field at the path ``keys`` removed."""
    run = copy.deepcopy(run)
    target = run
    for key in keys[:-1]:
        target = target[key]
    del target[keys[-1]]
    return run


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (_without(BENCH, "rows"), "the benchmark record lacks the field 'rows'"),
        (_without(BENCH, "rows", 3, "median_s"), "rows[3] lacks the field 'median_s'"),
        (_without(BENCH, "machine"), "the benchmark record lacks the field 'machine'"),
        (_without(BENCH, "machine", "cores"), "the record's 'machine' lacks the field 'cores'"),
        (_without(BENCH, "bandwidth", "write"), "the record's 'bandwidth' lacks the field 'write'"),
        ({**BENCH, "rows": []}, "'rows' is empty"),
        ({**BENCH, "rows": [r for r in BENCH["rows"] if r["op"] == "cross_entropy"]},
         "no operation in the record was timed against another library"),
    ],
)
def test_summary_bad_record(mpl, run, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        plots.plot_summary(run)


def test_read_json_wants_an_object(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a JSON list, not an object with 'rows'"):
        plots.read_json(path)


# --- the scaling plots ----------------------------------------------------------------


def test_scaling_panels_only_where_three_sizes_were_measured():
    panels = plots.scaling_panels(BENCH["rows"])
    # box_iou clustered: 500, 1000, 2000; generalized_box_iou has two sizes, the rest one
    assert list(panels) == ["boxes"]
    (panel,) = panels["boxes"]
    assert (panel["op"], panel["kind"], panel["unit"]) == ("box_iou", "clustered float32", "pairs")
    assert list(panel["lines"]) == ["fastiou[numba]", "fastiou[auto]", "reference (naive loops)",
                                    "numpy (broadcast)", "torchvision"]  # no forced twins
    expected = {(r["impl"], r["size"]): r["per_s"] for r in BENCH["rows"]
                if r["op"] == "box_iou" and "clustered" in r["label"]}
    assert panel["lines"]["torchvision"] == [(n, expected["torchvision", n]) for n in (500, 1000, 2000)]
    assert panel["lines"]["reference (naive loops)"] == [(500, expected["reference (naive loops)", 500])]


def test_scaling_panels_group_by_family_and_input_kind():
    rows = [{"op": op, "label": f"{n} {kind}", "impl": "fastiou[auto]", "size": n, "per_s": float(n),
             "unit": "boxes"} for op, kind in (("nms", "clustered float32"), ("nms", "scattered float32"),
                                               ("batched_nms", "clustered, 80 classes"), ("retired_op", "x"))
            for n in (10, 20, 40)]
    panels = plots.scaling_panels(rows)
    assert {family: [(p["op"], p["kind"]) for p in ps] for family, ps in panels.items()} == {
        "nms": [("nms", "clustered float32"), ("nms", "scattered float32"),
                ("batched_nms", "clustered, 80 classes")],  # only the size is taken off the label
        "other": [("retired_op", "x")],  # an operation fastiou bench no longer runs
    }


def test_op_families_cover_every_case():
    families = plots.op_families()
    assert {case.op for case in _runner.all_cases()} <= set(families)
    assert families["box_iou"] == "boxes" and families["nms"] == "nms" and families["dice"] == "masks"


def test_scaling_picture(mpl, pil_image, tmp_path):
    rows = BENCH["rows"] + [dict(r, op="distance_box_iou") for r in BENCH["rows"] if r["op"] == "box_iou"]
    paths = plots.plot_scaling(rows, tmp_path)
    assert paths == [os.path.join(tmp_path, "scaling_boxes.png")]
    assert _size(pil_image, paths[0]) == (1000, 380)  # two panels side by side, the legend below
    (panels,) = plots.scaling_panels(rows).values()
    fig = plots.scaling_figure("boxes", panels)
    for ax, panel in zip(fig.axes, panels):
        plotted = {line.get_gid(): list(zip(*line.get_data())) for line in ax.get_lines()}
        assert plotted == panel["lines"]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["500", "1k", "2k"]
        assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(panels[0]["lines"])
    fig.canvas.draw()
    assert all(legend.get_window_extent().y1 <= ax.get_window_extent().y0 for ax in fig.axes)  # below


def test_scaling_without_three_sizes_writes_nothing(mpl, tmp_path):
    rows = [r for r in BENCH["rows"] if r["op"] != "box_iou"]
    assert plots.plot_scaling(rows, tmp_path) == []
    assert os.listdir(tmp_path) == []


# --- the load heat map -------------------------------------------------------------------


def test_load_cells_are_the_fixtures_ratios():
    cells = plots.load_cells(LOAD)
    assert cells["threads"] == 2  # the largest thread count; the one-thread rows differ
    assert cells["rows"] == ["box_iou 100x100", "box_iou 4000x4000", "nms 50000 clustered"]
    assert cells["loads"] == ["quiet", "nice0"]
    expected = [[1e-3 / 1e-3, 3e-3 / 2e-3], [5e-3 / 5e-3, 1.2e-2 / 8e-3], [2e-2 / 2e-2, np.nan]]
    np.testing.assert_allclose(cells["ratio"], expected)
    assert cells["best"] == [["serial", "serial"], ["parallel", "parallel"], ["parallel", None]]


def test_load_picture(mpl, pil_image, tmp_path):
    path = tmp_path / "load.png"
    assert plots.plot_load(LOAD, path) == path
    assert _size(pil_image, path) == (640, 150 + 30 * 3)
    fig = plots.load_figure(LOAD)
    ax = fig.axes[0]
    (image,) = [a for a in ax.get_images() if a.get_gid() == "ratio"]
    np.testing.assert_allclose(image.get_array().filled(np.nan), plots.load_cells(LOAD)["ratio"])
    assert [t.get_text() for t in ax.texts] == ["1.00 (S)", "1.50 (S)", "1.00 (P)", "1.50 (P)", "1.00 (P)", "-"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["quiet", "1 busy process\n(nice 0)"]
    caption = fig._supxlabel.get_text().replace("\n", " ")
    assert "2 threads" in caption and "2 cores" in caption


@pytest.mark.parametrize("field", ["auto_s", "serial_s", "parallel_s", "load", "threads"])
def test_load_bad_record(mpl, field):
    with pytest.raises(ValueError, match=re.escape(f"rows[0] lacks the field '{field}'")):
        plots.plot_load(_without(LOAD, "rows", 0, field))


# --- the commands -------------------------------------------------------------------------


def test_make_pictures_regenerates_every_picture(mpl, pil_image, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("make_pictures", os.path.join(HERE, "..", "docs",
                                                                                "make_pictures.py"))
    make_pictures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_pictures)
    stale = tmp_path / "scaling_sparse.png"
    stale.write_bytes(b"from an earlier run")
    bench, load = os.path.join(HERE, "pictures_bench.json"), os.path.join(HERE, "pictures_load.json")
    assert make_pictures.main([bench, load, "--out", str(tmp_path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["box_pair.png", "load.png", "scaling_boxes.png", "summary.png"]
    assert _size(pil_image, tmp_path / "summary.png") == (900, 120 + 34 * len(SUMMARY))
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(_without(BENCH, "machine")))
    assert make_pictures.main([str(broken), load, "--out", str(tmp_path)]) == 1
    assert "the benchmark record lacks the field 'machine'" in capsys.readouterr().err


def test_cli_bench_plot(mpl, pil_image, tmp_path, monkeypatch, capsys):
    # a small bandwidth probe keeps this quick; the plot path is the one `fastiou bench` takes
    probe = _runner.memory_bandwidth
    monkeypatch.setattr(_runner, "memory_bandwidth", lambda nbytes=0, repeat=0: probe(2**22, 3))
    png, js = tmp_path / "summary.png", tmp_path / "bench.json"
    argv = ["bench", "--quick", "--ops", "generalized_box_iou", "--sizes", "16,32,64", "--no-progress",
            "--plot", str(png), "--json", str(js)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    scaling = tmp_path / "summary_boxes.png"
    assert f"wrote {png}" in out and f"wrote {scaling}" in out
    run = json.loads(js.read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", run["date"])
    with pil_image.open(png) as img:
        assert img.size[0] == 900
    assert scaling.exists()
    (bar,) = plots.summary_bars(run)  # the JSON replots what --plot drew
    assert (bar["op"], bar["size"]) == ("generalized_box_iou", 64)
