"""Pictures: the geometry of IoU, GIoU, DIoU and CIoU, and detections before and after NMS.

(The benchmark pictures are in :mod:`fastiou.bench.plots`; they draw with the helpers here.)

Needs the ``plot`` extra (``pip install 'fastiou[plot]'``: matplotlib and Pillow).
``import fastiou`` never imports matplotlib; this module imports it only when a
function here draws.  Drawing is headless: figures are built on matplotlib's Agg
canvas directly, never through ``pyplot``, so no display, no global backend
switch and no global figure state are involved.

Every drawing function either writes a file (``path=...``; the format follows
the extension, PNG by default) and returns the path, or returns the picture as
an ``(H, W, 4)`` RGBA ``uint8`` array.  :func:`draw_boxes` can also draw into a
matplotlib ``Axes`` of the caller's own grid (``ax=...``).

Coordinates are image coordinates: ``x`` to the right, ``y`` downwards.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable, Literal, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _validate, pairwise
from ._columns import FORMATS

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

#: A colour as matplotlib takes it: a name or hex string, or RGBA floats.
_Colour = Union[str, Tuple[float, float, float, float]]
_MetricName = Literal["iou", "ioa", "giou", "diou", "ciou"]

INSTALL_HINT = "pip install 'fastiou[plot]'"

# name -> (label shown in pictures, fastiou function)
METRICS = {
    "iou": ("IoU", pairwise.box_iou),
    "ioa": ("IoA", pairwise.box_ioa),
    "giou": ("GIoU", pairwise.generalized_box_iou),
    "diou": ("DIoU", pairwise.distance_box_iou),
    "ciou": ("CIoU", pairwise.complete_box_iou),
}

# how each value is built from the drawn pieces (A, B the boxes, C the enclosing box)
_FORMULAS = {
    "iou": r"IoU = $|A \cap B|\,/\,|A \cup B|$",
    "ioa": r"IoA = $|A \cap B|\,/\,|A|$",
    "giou": r"GIoU = IoU $-\ |C \setminus (A \cup B)|\,/\,|C|$",
    "diou": r"DIoU = IoU $-\ \rho^2 / c^2$",
    "ciou": r"CIoU = DIoU $-\ \alpha v$ (aspect ratios)",
}

_DPI = 100
_BOX_COLOURS = ("#1f77b4", "#ff7f0e")
_INTERSECTION = "#2ca02c"
_ENCLOSING = "#555555"
_CENTRE_LINE = "#d62728"
_DIAGONAL = "#9467bd"


def _matplotlib() -> tuple[type[Figure], type[FigureCanvasAgg]]:
    """matplotlib's ``Figure`` and Agg canvas, or an ImportError saying how to install them."""
    try:
        import matplotlib  # noqa: F401 - imported first so that a missing package fails here
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            f"fastiou.viz needs matplotlib and Pillow (the 'plot' extra): {INSTALL_HINT}"
        ) from exc
    return Figure, FigureCanvasAgg


def _figure(width: int, height: int, **kwargs: Any) -> Figure:
    """A ``width`` x ``height`` pixel figure on its own Agg canvas (no pyplot)."""
    for value, name in ((width, "width"), (height, "height")):
        if _validate.check_int(value, name) < 32:
            raise ValueError(f"{name} must be at least 32 pixels, got {value}")
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _render(
    fig: Figure, path: str | os.PathLike[str] | None, palette: bool = False
) -> str | os.PathLike[str] | NDArray[np.uint8]:
    """Write ``fig`` to ``path`` and return the path, or return it as an RGBA array.

    ``palette=True`` writes PNGs with a 256-colour palette (drawings with flat
    colours, no photographs: several times smaller files, the same look).
    """
    if path is None:
        fig.canvas.draw()
        # _figure's Agg canvas (buffer_rgba is not in FigureCanvasBase's type)
        return np.asarray(fig.canvas.buffer_rgba()).copy()  # type: ignore[attr-defined]
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in ("", ".png"):
        fig.savefig(path, dpi=_DPI)
    elif palette:
        from PIL import Image

        fig.canvas.draw()
        rgba = fig.canvas.buffer_rgba()  # type: ignore[attr-defined]  # _figure's Agg canvas, as above
        rgb = Image.fromarray(np.asarray(rgba)).convert("RGB")
        rgb.quantize(256).save(path, format="PNG", optimize=True)
    else:
        fig.savefig(path, dpi=_DPI, format="png", pil_kwargs={"optimize": True})
    return path


def _metric_names(metrics: str | Iterable[str]) -> list[str]:
    names: list[str] = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in names:
        _validate.check_choice(name, "metrics", METRICS)
    return names


def _pair_values(b1: NDArray[Any], b2: NDArray[Any], names: list[str],
                 fmt: Literal["xyxy", "xywh", "cxcywh", "cxcywhr", "xywhr", "xyxyxyxy"]) -> dict[str, float]:
    """Each metric of the pair, computed by fastiou's own functions."""
    return {name: float(METRICS[name][1](b1, b2, fmt=fmt, aligned=True)[0]) for name in names}


def _xyxy(arr: NDArray[Any], name: str, fmt: str) -> NDArray[np.float64]:
    """Validated boxes ``arr`` (N, 4) in ``fmt``, as float64 ``xyxy`` rows."""
    cols = _validate.as_box_columns(arr, name, np.dtype(np.float64), fmt, 0, True)
    return np.ascontiguousarray(cols[:4].T)


def format_value(label: str, value: float) -> str:
    """The text line a picture shows for one metric, e.g. ``'GIoU = -0.0417'``.

    Examples
    --------
    >>> from fastiou.viz import format_value
    >>> format_value("IoU", 1 / 7)
    'IoU  =  0.1429'
    """
    return f"{label:<4} = {value: .4f}"


def box_pair_figure(
    box1: ArrayLike,
    box2: ArrayLike,
    *,
    metrics: _MetricName | Iterable[_MetricName] = ("iou", "giou", "diou", "ciou"),
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    width: int = 640,
    height: int = 480,
) -> Figure:
    """The matplotlib figure that :func:`draw_box_pair` renders (to save as SVG or PDF, or edit).

    Parameters are those of :func:`draw_box_pair`.

    Returns
    -------
    matplotlib.figure.Figure
        On its own Agg canvas (no pyplot); ``fig.savefig('pair.svg')`` works headless.
        The text artist of each value has the gid ``'metric:<name>'`` (e.g. ``'metric:iou'``).

    Examples
    --------
    >>> from fastiou import viz
    >>> import io
    >>> fig = viz.box_pair_figure([0, 0, 4, 4], [2, 1, 7, 5], metrics=["iou", "giou"])
    >>> fig.savefig(io.BytesIO(), format="svg")
    >>> [t.get_text() for t in fig.findobj(lambda a: str(a.get_gid()).startswith("metric:"))]
    ['IoU  =  0.2000', 'GIoU =  0.0571']
    """
    _validate.check_choice(fmt, "fmt", FORMATS)
    names = _metric_names(metrics)
    a1 = _validate.as_single_box(box1, "box1")
    a2 = _validate.as_single_box(box2, "box2")
    (x1, y1, x2, y2), = _xyxy(a1, "box1", fmt)
    (u1, v1, u2, v2), = _xyxy(a2, "box2", fmt)
    values = _pair_values(a1, a2, names, fmt)

    fig = _figure(width, height)  # first: says how to install matplotlib when it is missing
    from matplotlib.patches import Rectangle

    ax = fig.add_axes((0.08, 0.08, 0.56, 0.84))
    info = fig.add_axes((0.67, 0.04, 0.31, 0.92))
    info.set_axis_off()

    # the smallest enclosing box C and its diagonal c
    cx1, cy1, cx2, cy2 = min(x1, u1), min(y1, v1), max(x2, u2), max(y2, v2)
    ax.add_patch(Rectangle((cx1, cy1), cx2 - cx1, cy2 - cy1, fill=False, ls="--", lw=1.2,
                           ec=_ENCLOSING, label="enclosing box C"))
    ax.plot([cx1, cx2], [cy1, cy2], ls=":", lw=1.5, color=_DIAGONAL, label="enclosing diagonal c")
    # the intersection, filled where it has an area
    ix1, iy1, ix2, iy2 = max(x1, u1), max(y1, v1), min(x2, u2), min(y2, v2)
    if ix2 > ix1 and iy2 > iy1:
        ax.add_patch(Rectangle((ix1, iy1), ix2 - ix1, iy2 - iy1, fc=_INTERSECTION, alpha=0.55, lw=0,
                               label="intersection"))
    for (bx1, by1, bx2, by2), colour, name in zip(((x1, y1, x2, y2), (u1, v1, u2, v2)), _BOX_COLOURS,
                                                  ("box1", "box2")):
        ax.add_patch(Rectangle((bx1, by1), bx2 - bx1, by2 - by1, fc=colour, alpha=0.12, lw=0))
        ax.add_patch(Rectangle((bx1, by1), bx2 - bx1, by2 - by1, fill=False, lw=2, ec=colour, label=name))
    # the centre distance rho
    centres = np.array([[(x1 + x2) / 2, (y1 + y2) / 2], [(u1 + u2) / 2, (v1 + v2) / 2]])
    ax.plot(centres[:, 0], centres[:, 1], "-", lw=1.8, color=_CENTRE_LINE, marker="o", ms=4,
            label=r"centre distance $\rho$")

    # limits around C with a margin, widened to the axes' shape so that x and y share one scale
    span = max(cx2 - cx1, cy2 - cy1)
    margin = 0.08 * span if span > 0 else 1.0
    dx, dy = cx2 - cx1 + 2 * margin, cy2 - cy1 + 2 * margin
    shape = ax.get_position().height * height / (ax.get_position().width * width)
    dx, dy = max(dx, dy / shape), max(dy, dx * shape)
    mx, my = (cx1 + cx2) / 2, (cy1 + cy2) / 2
    ax.set_xlim(mx - dx / 2, mx + dx / 2)
    ax.set_ylim(my + dy / 2, my - dy / 2)  # image coordinates: y grows downwards
    ax.set_aspect("equal", adjustable="box")
    ax.grid(True, lw=0.4, alpha=0.4)
    ax.tick_params(labelsize=8)
    ax.set_title(f"box1 and box2 ({fmt})", fontsize=10)

    handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
    order = [k for k in ("box1", "box2", "intersection", "enclosing box C", r"centre distance $\rho$",
                         "enclosing diagonal c") if k in handles]
    info.legend([handles[k] for k in order], order, loc="upper left", fontsize=8, frameon=False)
    text: dict[str, Any] = {"transform": info.transAxes, "va": "top", "ha": "left", "family": "monospace",
                            "fontsize": 8.5}
    info.text(0.0, 0.66, f"box1 = {_coords(a1)}\nbox2 = {_coords(a2)}", **text)
    if names:
        info.text(0.0, 0.555, "computed by fastiou:", transform=info.transAxes, va="top", ha="left",
                  fontsize=7.5, color="#555555")
    for k, name in enumerate(names):  # one artist per value, tagged so that tests can read it back
        info.text(0.0, 0.51 - 0.05 * k, format_value(METRICS[name][0], values[name]), gid=f"metric:{name}",
                  **text)
    formulas = [_FORMULAS[name] for name in names]
    if formulas:
        info.text(0.0, 0.50 - 0.05 * len(names), "\n".join(formulas), transform=info.transAxes, va="top",
                  ha="left", fontsize=7.5, color="#555555", linespacing=1.6)
    return fig


def _coords(box: NDArray[Any]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box.reshape(-1).tolist()) + "]"


def draw_box_pair(
    box1: ArrayLike,
    box2: ArrayLike,
    *,
    metrics: _MetricName | Iterable[_MetricName] = ("iou", "giou", "diou", "ciou"),
    path: str | os.PathLike[str] | None = None,
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    width: int = 640,
    height: int = 480,
) -> str | os.PathLike[str] | NDArray[np.uint8]:
    """Draw two boxes with the geometry of their IoU variants and the values fastiou computes.

    The picture shows both boxes, their intersection (filled), the smallest
    enclosing box C, the line between the centres (rho, used by DIoU and CIoU)
    and C's diagonal (c), and beside them each metric in ``metrics`` as computed
    by :func:`fastiou.box_iou`, :func:`fastiou.generalized_box_iou`, ... with
    ``aligned=True`` on the two boxes.

    Parameters
    ----------
    box1, box2 : array_like, shape (4,)
        The two boxes, in ``fmt``.
    metrics : str or sequence of {'iou', 'ioa', 'giou', 'diou', 'ciou'}
        The values to print (IoA is the intersection over box1's area).
    path : str or path-like, optional
        Write the picture there (PNG unless the extension says otherwise) and
        return ``path``.  Default: return the picture as an array.
    fmt : {'xyxy', 'xywh', 'cxcywh'}, default 'xyxy'
    width, height : int, default 640 x 480
        Picture size in pixels.

    Returns
    -------
    path, or ndarray of shape (height, width, 4), dtype uint8 (RGBA)

    Raises
    ------
    ImportError
        Without matplotlib: ``pip install 'fastiou[plot]'``.
    ValueError
        An invalid box (non-finite, or ``x2 < x1`` / ``y2 < y1``), naming it.

    Examples
    --------
    >>> from fastiou import viz
    >>> picture = viz.draw_box_pair([0, 0, 4, 4], [2, 1, 7, 5])
    >>> picture.shape, picture.dtype
    ((480, 640, 4), dtype('uint8'))
    """
    fig = box_pair_figure(box1, box2, metrics=metrics, fmt=fmt, width=width, height=height)
    return _render(fig, path, palette=True)


def _label_colours(labels: Sequence[Any] | None, n: int) -> list[_Colour]:
    """One colour per box: by label (first appearance order) when given, else a single colour."""
    if labels is None:
        return [_BOX_COLOURS[0]] * n
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    order = {key: i for i, key in enumerate(dict.fromkeys(_hashable(v) for v in labels))}
    return [cmap(order[_hashable(v)] % cmap.N) for v in labels]


def _hashable(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def draw_boxes(
    image_or_size: ArrayLike,
    boxes: ArrayLike,
    labels: Sequence[Any] | None = None,
    scores: ArrayLike | None = None,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    title: str | None = None,
    ax: Axes | None = None,
    path: str | os.PathLike[str] | None = None,
    width: int = 640,
) -> str | os.PathLike[str] | NDArray[np.uint8] | Axes:
    """Draw detections over an image (or a blank canvas of the image's size).

    Boxes are coloured by label; each is tagged with its label and score when given.

    Parameters
    ----------
    image_or_size : ndarray or (height, width)
        An image ``(H, W)`` (grey), ``(H, W, 3)`` or ``(H, W, 4)`` (uint8, or floats
        in [0, 1]), or the size of a blank canvas.  Pixel ``(r, c)`` covers
        ``[c, c + 1] x [r, r + 1]`` in box coordinates.
    boxes : array_like, shape (N, 4)
    labels : sequence of length N, optional
        Class ids or names.
    scores : array_like, shape (N,), optional
    fmt : {'xyxy', 'xywh', 'cxcywh'}, default 'xyxy'
    title : str, optional
    ax : matplotlib Axes, optional
        Draw into this axes (e.g. one cell of your own grid) and return it; ``path``
        and ``width`` are then not used.
    path : str or path-like, optional
        Write the picture there and return ``path``.  Default: return it as an array.
    width : int, default 640
        Picture width in pixels; the height follows the image's aspect ratio.

    Returns
    -------
    ax if given, else path if given, else ndarray (H, width, 4) uint8 (RGBA)

    See Also
    --------
    draw_nms_comparison : all boxes and those NMS keeps, side by side.

    Examples
    --------
    >>> from fastiou import synthetic, viz
    >>> boxes, scores, labels = synthetic.clustered_boxes(20, n_objects=3, image_size=256, seed=0)
    >>> picture = viz.draw_boxes((256, 256), boxes, labels, scores, width=320)
    >>> picture.shape
    (320, 320, 4)
    """
    _validate.check_choice(fmt, "fmt", FORMATS)
    image, img_h, img_w = _validate.as_image_or_size(image_or_size, "image_or_size")
    xyxy = _xyxy(_validate.as_box_array(boxes, "boxes"), "boxes", fmt)
    n = xyxy.shape[0]
    labels = None if labels is None else _validate.check_length(labels, "labels", n)
    scores = None if scores is None else _validate.as_per_box(scores, "scores", n)
    if ax is not None:
        _draw_detections(ax, image, img_h, img_w, xyxy, labels, scores, _label_colours(labels, n), title)
        return ax
    height = max(32, round(width * img_h / img_w) + (28 if title else 0))
    fig = _figure(width, height)
    top = 1 - 28 / height if title else 1.0
    ax = fig.add_axes((0.002, 0.002, 0.996, top - 0.004))
    _draw_detections(ax, image, img_h, img_w, xyxy, labels, scores, _label_colours(labels, n), title)
    return _render(fig, path)


def _draw_detections(ax: Axes, image: NDArray[Any] | None, img_h: int, img_w: int, xyxy: NDArray[np.float64],
                     labels: Sequence[Any] | None, scores: NDArray[Any] | None, colours: Sequence[_Colour],
                     title: str | None) -> None:
    from matplotlib.patches import Rectangle

    if image is not None:
        grey = image.ndim == 2
        ax.imshow(image, extent=(0, img_w, img_h, 0), cmap="gray" if grey else None, interpolation="nearest")
    ax.set_xlim(0, img_w)
    ax.set_ylim(img_h, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    order = range(xyxy.shape[0]) if scores is None else np.argsort(scores, kind="stable")
    for i in order:  # the best-scored boxes last, on top
        x1, y1, x2, y2 = xyxy[i].tolist()
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=1.5, ec=colours[i]))
        tag = " ".join(
            part for part in (
                None if labels is None else str(labels[i]),
                None if scores is None else f"{float(scores[i]):.2f}",
            ) if part is not None
        )
        if tag:
            inside = y1 < 0.04 * img_h  # no room above the box: tag it inside
            ax.text(x1, y1, tag, fontsize=6.5, color="white", va="top" if inside else "bottom", ha="left",
                    clip_on=True,
                    bbox={"fc": colours[i], "ec": "none", "alpha": 0.8, "pad": 1})
    if title:
        ax.set_title(title, fontsize=10)


def draw_nms_comparison(
    image_or_size: ArrayLike,
    boxes: ArrayLike,
    scores: ArrayLike,
    keep: ArrayLike,
    labels: Sequence[Any] | None = None,
    *,
    fmt: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    path: str | os.PathLike[str] | None = None,
    width: int = 960,
) -> str | os.PathLike[str] | NDArray[np.uint8]:
    """All boxes (left) and the boxes an NMS kept (right), side by side.

    Parameters
    ----------
    image_or_size, boxes, labels, scores, fmt
        As in :func:`draw_boxes`.
    keep : array_like of int
        Indices of the kept boxes, as returned by an NMS (``fastiou.nms``,
        ``torchvision.ops.nms``, ...).
    path : str or path-like, optional
        Write the picture there and return ``path``.  Default: return it as an array.
    width : int, default 960
        Picture width in pixels (both panels).

    Returns
    -------
    path, or ndarray (H, width, 4) uint8 (RGBA)

    Examples
    --------
    >>> from fastiou import synthetic, viz
    >>> boxes, scores, labels = synthetic.clustered_boxes(30, n_objects=3, image_size=256, seed=0)
    >>> keep = [int(scores.argmax())]
    >>> viz.draw_nms_comparison((256, 256), boxes, scores, keep, labels, width=480).shape
    (268, 480, 4)
    """
    _validate.check_choice(fmt, "fmt", FORMATS)
    image, img_h, img_w = _validate.as_image_or_size(image_or_size, "image_or_size")
    xyxy = _xyxy(_validate.as_box_array(boxes, "boxes"), "boxes", fmt)
    n = xyxy.shape[0]
    keep = _validate.as_indices(keep, "keep", n)
    scores = _validate.as_per_box(scores, "scores", n)
    labels = None if labels is None else _validate.check_length(labels, "labels", n)
    title_px = 28
    fig = _figure(width, max(32, round((width / 2) * img_h / img_w) + title_px))
    top = 1 - title_px / fig.bbox.height
    colours = _label_colours(labels, n)  # computed over all boxes: a label keeps its colour on both sides
    left = fig.add_axes((0.005, 0.005, 0.49, top - 0.01))
    _draw_detections(left, image, img_h, img_w, xyxy, labels, scores, colours, f"before NMS: {n} boxes")
    right = fig.add_axes((0.505, 0.005, 0.49, top - 0.01))
    kept_labels = None if labels is None else [labels[i] for i in keep]
    _draw_detections(right, image, img_h, img_w, xyxy[keep], kept_labels, scores[keep],
                     [colours[i] for i in keep], f"after NMS: {keep.size} kept")
    return _render(fig, path)


# --- evaluation ----------------------------------------------------------------


def _palette() -> list[_Colour]:
    from matplotlib import colormaps

    return [colormaps[name](i) for name, n in (("tab10", 10), ("Dark2", 8)) for i in range(n)]


def plot_pr_curves(
    result: Any, path: str | os.PathLike[str] | None = None, *, iou_thresholds: Sequence[float] = (0.5, 0.75),
    category: int | None = None, area: str = "all", max_dets: int | None = None,
) -> str | os.PathLike[str] | NDArray[np.uint8]:
    """Precision against recall from a COCO evaluation: one curve per IoU threshold.

    Parameters
    ----------
    result : fastiou.coco.COCOeval (or pycocotools') after ``accumulate()``, or its ``eval`` dict
    path : str or path-like, optional
        Write the plot there and return ``path``.  Default: return it as an array.
    iou_thresholds : sequence of float, default (0.5, 0.75)
        Values of ``params.iouThrs`` to draw.
    category : int, optional
        A category id of ``params.catIds``; default: the mean over the categories
        that have ground truth (at each recall point, as AP averages them).
    area : str, default 'all'
        A label of ``params.areaRngLbl``.
    max_dets : int, optional
        A value of ``params.maxDets``; default: the largest.

    Returns
    -------
    path, or ndarray (H, W, 4) uint8 (RGBA)

    Examples
    --------
    >>> import contextlib, io
    >>> from fastiou import coco, synthetic, viz
    >>> gt, dets = synthetic.coco_like(20, n_categories=5, seed=0)
    >>> E = coco.COCOeval(gt, dets, 'bbox')
    >>> with contextlib.redirect_stdout(io.StringIO()):
    ...     E.evaluate(); E.accumulate()
    >>> viz.plot_pr_curves(E).shape
    (400, 520, 4)
    """
    ev = getattr(result, "eval", result)
    if not isinstance(ev, dict) or "precision" not in ev or "params" not in ev:
        raise ValueError("result must be a COCOeval after accumulate(), or its eval dict")
    p = ev["params"]
    precision = np.asarray(ev["precision"])
    thrs = np.asarray(p.iouThrs, dtype=np.float64)
    labels = list(p.areaRngLbl)
    if area not in labels:
        raise ValueError(f"area must be one of {labels}, got {area!r}")
    max_dets = p.maxDets[-1] if max_dets is None else max_dets
    if max_dets not in p.maxDets:
        raise ValueError(f"max_dets must be one of {list(p.maxDets)}, got {max_dets!r}")
    a, m = labels.index(area), list(p.maxDets).index(max_dets)
    if category is None:
        cats = slice(None)
        what = "mean over categories"
    else:
        if not p.useCats or category not in list(p.catIds):
            raise ValueError(f"category must be one of params.catIds, got {category!r}")
        cats = slice(list(p.catIds).index(category), list(p.catIds).index(category) + 1)
        what = f"category {category}"
    fig = _figure(520, 400, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    palette = _palette()
    for n, thr in enumerate(iou_thresholds):
        hit = np.flatnonzero(np.isclose(thrs, thr, rtol=0, atol=1e-6))
        if not len(hit):
            raise ValueError(f"iou_thresholds: {thr} is not one of params.iouThrs {thrs.tolist()}")
        curves = precision[hit[0], :, cats, a, m]  # (R, K)
        valid = curves > -1
        count = valid.sum(axis=1)
        mean = np.where(count > 0, np.where(valid, curves, 0).sum(axis=1) / np.maximum(count, 1), np.nan)
        ap = float(np.mean(curves[valid])) if valid.any() else -1.0
        ax.plot(np.asarray(p.recThrs), mean, lw=1.8, color=palette[n % len(palette)],
                label=f"IoU={thrs[hit[0]]:.2f} (AP {ap:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall", fontsize=9)
    ax.set_ylabel("precision", fontsize=9)
    ax.set_title(f"precision-recall, {what}, area={area}, maxDets={max_dets}", fontsize=10)
    ax.grid(True, lw=0.5, alpha=0.5)
    ax.legend(fontsize=8, loc="lower left")
    return _render(fig, path, palette=True)
