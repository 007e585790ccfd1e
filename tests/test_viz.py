"""fastiou.viz and the ``fastiou draw`` command (the benchmark pictures: tests/test_pictures.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import fastiou
from fastiou import cli, synthetic, viz

PLOT_REASON = "the 'plot' extra (matplotlib, Pillow) is not installed"


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib", reason=PLOT_REASON)


@pytest.fixture
def pil_image():
    return pytest.importorskip("PIL.Image", reason=PLOT_REASON)


FASTIOU_FUNCTIONS = {
    "iou": fastiou.box_iou,
    "ioa": fastiou.box_ioa,
    "giou": fastiou.generalized_box_iou,
    "diou": fastiou.distance_box_iou,
    "ciou": fastiou.complete_box_iou,
}

PAIRS = {
    "overlapping": ([0, 0, 4, 4], [2, 1, 8, 4], "xyxy"),
    "disjoint": ([0, 0, 4, 4], [6, -2, 9, 1], "xyxy"),
    "negative left of": ([-10.5, -3, -2, 5], [-30, -8, -12, 0.25], "xyxy"),
    "contained": ([0, 0, 10, 10], [2, 3, 4, 9], "xyxy"),
    "identical": ([1, 1, 3, 5], [1, 1, 3, 5], "xyxy"),
    "zero width": ([2, 0, 2, 4], [0, 0, 4, 4], "xyxy"),
    "xywh": ([0, 0, 4, 4], [2, 1, 6, 3], "xywh"),
    "cxcywh float32": (np.float32([2, 2, 4, 4]), np.float32([5, 2.5, 6, 3]), "cxcywh"),
}


def _printed_values(fig):
    """{metric name: the text the picture prints for it}."""
    texts = fig.findobj(lambda a: str(a.get_gid()).startswith("metric:"))
    return {t.get_gid().split(":", 1)[1]: t.get_text() for t in texts}


# --- import hygiene and the missing extra ----------------------------------------


def test_importing_fastiou_does_not_import_plotting_libraries():
    code = (
        "import sys, fastiou, fastiou.viz, fastiou.cli; "
        "bad = [m for m in ('matplotlib', 'PIL') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "call",
    [
        lambda: viz.draw_box_pair([0, 0, 1, 1], [0, 0, 2, 2]),
        lambda: viz.draw_boxes((10, 10), [[0, 0, 1, 1]]),
        lambda: viz.draw_nms_comparison((10, 10), [[0, 0, 1, 1]], [0.5], [0]),
    ],
    ids=["draw_box_pair", "draw_boxes", "draw_nms_comparison"],
)
def test_missing_plot_extra_says_how_to_install(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=re.escape("pip install 'fastiou[plot]'")):
        call()


def test_cli_draw_without_plot_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "pair.png"
    assert cli.main(["draw", "0,0,1,1", "0,0,2,2", "-o", str(out)]) == 1
    assert "pip install 'fastiou[plot]'" in capsys.readouterr().err
    assert not out.exists()


# --- draw_box_pair ----------------------------------------------------------------


def test_draw_box_pair_writes_png_of_expected_size(mpl, pil_image, tmp_path):
    path = tmp_path / "pair.png"
    assert viz.draw_box_pair([0, 0, 4, 4], [2, 1, 7, 5], path=path) == path
    with pil_image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (640, 480)
    small = tmp_path / "small.png"
    viz.draw_box_pair([0, 0, 4, 4], [2, 1, 7, 5], path=str(small), width=500, height=300)
    with pil_image.open(small) as img:
        assert img.size == (500, 300)


def test_draw_box_pair_array(mpl):
    picture = viz.draw_box_pair([0, 0, 4, 4], [2, 1, 7, 5], width=400, height=300)
    assert picture.shape == (300, 400, 4)
    assert picture.dtype == np.uint8
    colours = np.unique(picture.reshape(-1, 4), axis=0)
    assert len(colours) > 20  # boxes, fills, lines and text, not a blank canvas


@pytest.mark.parametrize("name", list(PAIRS))
def test_printed_values_equal_fastiou(mpl, name):
    box1, box2, fmt = PAIRS[name]
    metrics = list(FASTIOU_FUNCTIONS)
    fig = viz.box_pair_figure(box1, box2, metrics=metrics, fmt=fmt)
    printed = _printed_values(fig)
    assert list(printed) == metrics
    for metric, text in printed.items():
        label, value = re.fullmatch(r"(\w+)\s*=\s*(-?\d+\.\d{4})", text).groups()
        assert label == viz.METRICS[metric][0]
        expected = float(FASTIOU_FUNCTIONS[metric]([box1], [box2], fmt=fmt)[0, 0])
        assert float(value) == pytest.approx(expected, abs=5e-5), (metric, text, expected)
        assert text == viz.format_value(label, expected)


def test_printed_values_match_known_geometry(mpl):
    # IoU 6/28, IoA 6/16, GIoU 6/28 - (32-28)/32 worked out by hand
    fig = viz.box_pair_figure([0, 0, 4, 4], [2, 1, 8, 4], metrics=("iou", "ioa", "giou"))
    printed = _printed_values(fig)
    assert printed == {"iou": "IoU  =  0.2143", "ioa": "IoA  =  0.3750", "giou": "GIoU =  0.0893"}


def test_draw_box_pair_geometry(mpl):
    from matplotlib.patches import Rectangle

    fig = viz.box_pair_figure([0, 0, 4, 4], [2, 1, 8, 5])
    ax = fig.axes[0]
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend[:4] == ["box1", "box2", "intersection", "enclosing box C"]
    rects = {p.get_label(): p for p in ax.patches if isinstance(p, Rectangle) and p.get_label()[:1] != "_"}
    assert rects["intersection"].get_bbox().bounds == (2, 1, 2, 3)
    assert rects["enclosing box C"].get_bbox().bounds == (0, 0, 8, 5)
    lines = {line.get_label(): line.get_xydata().tolist() for line in ax.lines}
    assert lines[r"centre distance $\rho$"] == [[2, 2], [5, 3]]
    assert lines["enclosing diagonal c"] == [[0, 0], [8, 5]]
    # disjoint boxes: no intersection to fill
    fig = viz.box_pair_figure([0, 0, 1, 1], [3, 3, 4, 4])
    assert "intersection" not in [t.get_text() for t in fig.axes[1].get_legend().get_texts()]


def test_draw_box_pair_single_metric_string(mpl):
    assert list(_printed_values(viz.box_pair_figure([0, 0, 1, 1], [0, 0, 2, 2], metrics="ciou"))) == ["ciou"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"box1": [0, 0, 1]}, ValueError, "box1 must be one box"),
        ({"box2": [[0, 0, 1, 1], [0, 0, 1, 1]]}, ValueError, "box2 must be one box"),
        ({"box2": [3, 0, 1, 1]}, ValueError, "box2 has an invalid box"),
        ({"box1": [0, 0, np.inf, 1]}, ValueError, "box1 has an invalid box"),
        ({"box1": "0,0,1,1"}, TypeError, "box1"),
        ({"metrics": ["iou", "dice"]}, ValueError, "metrics must be one of"),
        ({"fmt": "yxyx"}, ValueError, "fmt must be one of"),
        ({"width": 10}, ValueError, "width must be at least"),
        ({"height": 2.5}, TypeError, "height must be an integer"),
    ],
)
def test_draw_box_pair_bad_input(mpl, kwargs, error, match):
    args = {"box1": [0, 0, 2, 2], "box2": [1, 1, 3, 3], **kwargs}
    with pytest.raises(error, match=match):
        viz.draw_box_pair(args.pop("box1"), args.pop("box2"), **args)


def test_draw_box_pair_does_not_modify_inputs(mpl):
    b1, b2 = np.array([0.0, 0, 4, 4]), np.array([2.0, 1, 4, 3])  # xywh
    viz.draw_box_pair(b1, b2, fmt="xywh", width=200, height=150)
    assert b1.tolist() == [0, 0, 4, 4] and b2.tolist() == [2, 1, 4, 3]


# --- draw_boxes and draw_nms_comparison ----------------------------------------------


def test_draw_boxes_on_blank_canvas(mpl, pil_image, tmp_path):
    boxes, scores, labels = synthetic.clustered_boxes(30, n_objects=3, image_size=200, seed=0)
    picture = viz.draw_boxes((100, 200), boxes / 2, labels, scores, width=400)
    assert picture.shape == (200, 400, 4)
    path = viz.draw_boxes((100, 200), boxes / 2, path=tmp_path / "boxes.png", title="detections")
    with pil_image.open(path) as img:
        assert img.width == 640


def test_draw_boxes_shows_the_image(mpl):
    image = np.zeros((40, 80, 3), np.uint8)
    image[..., 0] = 255  # red
    picture = viz.draw_boxes(image, np.zeros((0, 4)), width=160)
    assert picture.shape == (80, 160, 4)
    centre = picture[20:60, 40:120, :3].reshape(-1, 3)
    assert (centre == [255, 0, 0]).all()
    grey = viz.draw_boxes(np.full((40, 80), 0.0), [[0, 0, 10, 10]], width=160)
    assert (grey[60:75, 120:155, :3] == 0).all()  # black image away from the box


def test_draw_boxes_into_axes(mpl):
    from matplotlib.patches import Rectangle

    fig = viz._figure(400, 200)
    axes = fig.subplots(1, 2)
    boxes = [[10, 10, 50, 40], [20, 5, 90, 60], [0, 0, 5, 5]]
    assert viz.draw_boxes((100, 100), boxes, ["cat", "dog", "cat"], [0.9, 0.5, 0.1], ax=axes[1]) is axes[1]
    rects = [p for p in axes[1].patches if isinstance(p, Rectangle)]
    assert sorted(r.get_bbox().bounds for r in rects) == [(0, 0, 5, 5), (10, 10, 40, 30), (20, 5, 70, 55)]
    tags = sorted(t.get_text() for t in axes[1].texts)
    assert tags == ["cat 0.10", "cat 0.90", "dog 0.50"]
    colours = {t.get_text(): t.get_bbox_patch().get_facecolor()[:3] for t in axes[1].texts}
    assert colours["cat 0.10"] == colours["cat 0.90"] != colours["dog 0.50"]
    assert not axes[0].patches


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"labels": [1, 2]}, ValueError, r"labels must have one entry per box \(3\)"),
        ({"scores": [0.1, 0.2]}, ValueError, r"scores must have shape \(3,\)"),
        ({"image_or_size": (0, 10)}, ValueError, "image_or_size"),
        ({"image_or_size": np.zeros((4, 4, 2))}, ValueError, "image_or_size must be an image"),
        ({"boxes": [[0, 0, 1]]}, ValueError, r"boxes must have shape \(N, 4\)"),
        ({"boxes": [[0, 0, 1, 1], [2, 2, 1, 1], [0, 0, 1, 1]]}, ValueError,
         "boxes has an invalid box at row 1"),
    ],
)
def test_draw_boxes_bad_input(mpl, kwargs, error, match):
    args = {"image_or_size": (10, 10), "boxes": [[0, 0, 1, 1]] * 3, **kwargs}
    with pytest.raises(error, match=match):
        viz.draw_boxes(args.pop("image_or_size"), args.pop("boxes"), **args)


def test_draw_nms_comparison(mpl, pil_image, tmp_path):
    boxes, scores, labels = synthetic.clustered_boxes(30, n_objects=3, image_size=200, seed=0)
    picture = viz.draw_nms_comparison((200, 200), boxes, scores, [], labels, width=400)
    assert picture.shape == (228, 400, 4)
    body = picture[40:220, :, :3]
    left, right = body[:, 10:190], body[:, 210:390]
    assert (left != 255).any()  # all 30 boxes on the left
    assert (right == 255).all()  # nothing kept: the right panel is empty
    keep = np.argsort(-scores)[:3]
    path = viz.draw_nms_comparison((200, 200), boxes, scores, keep, path=tmp_path / "nms.png")
    with pil_image.open(path) as img:
        assert img.size[0] == 960
    with pytest.raises(ValueError, match=r"keep must hold indices in \[0, 30\)"):
        viz.draw_nms_comparison((200, 200), boxes, scores, [0, 30])
    with pytest.raises(TypeError, match="keep must hold integer indices"):
        viz.draw_nms_comparison((200, 200), boxes, scores, [0.5])


def test_draw_nms_comparison_keeps_label_colours(mpl):
    blue, orange = (31, 119, 180), (255, 127, 14)  # tab10's first two: labels 'a' and 'b'
    picture = viz.draw_nms_comparison((100, 100), [[10, 10, 40, 40], [50, 50, 90, 90]], [0.9, 0.8], [1],
                                      ["a", "b"], width=400)
    colours = lambda panel: {tuple(c) for c in panel[..., :3].reshape(-1, 3).tolist()}  # noqa: E731
    left, right = colours(picture[30:, :195]), colours(picture[30:, 205:])
    assert blue in left and orange in left
    assert orange in right and blue not in right  # 'b' kept its colour although it is alone there


# --- the command line --------------------------------------------------------------


def test_cli_draw(mpl, pil_image, tmp_path):
    out = tmp_path / "pair.png"
    result = subprocess.run(
        [sys.executable, "-m", "fastiou.cli", "draw", "0,0,4,4", "2,1,7,5", "-o", str(out),
         "--metrics", "iou,ciou", "--fmt", "xyxy"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    with pil_image.open(out) as img:
        assert img.size == (640, 480)
    negative = tmp_path / "negative.png"
    assert cli.main(["draw", "-o", str(negative), "--fmt", "xywh", "--", "-1,-1,2,2", "0,0,1,1"]) == 0
    assert negative.stat().st_size > 0


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        (["0,0,4", "2,1,7,5"], "a box is four comma-separated numbers X1,Y1,X2,Y2, got '0,0,4'"),
        (["0,0,4,4", "2,1,x,5"], "got '2,1,x,5'"),
        (["4,0,0,4", "2,1,7,5"], "box1 has an invalid box"),
        (["0,0,4,4", "2,1,7,5", "--metrics", "iou,dice"], "metrics must be one of"),
    ],
)
def test_cli_draw_bad_input_exits_2(mpl, tmp_path, capsys, boxes, message):
    out = tmp_path / "pair.png"
    try:
        code = cli.main(["draw", *boxes, "-o", str(out)])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_format_follows_the_extension(mpl, tmp_path):
    path = viz.draw_box_pair([0, 0, 4, 4], [2, 1, 7, 5], path=tmp_path / "pair.svg")
    text = path.read_text()
    assert text.startswith("<?xml") and "<svg" in text
