"""The ``fastiou`` command.

``fastiou bench`` runs the comparison table (fastiou per backend against the naive
reference, NumPy and the installed third-party libraries) on synthetic data
(the harness is :mod:`fastiou.bench`): fastiou's default call with the cost
model's choice and forced serial / parallel side by side, back-to-back calls
(``--settle`` pauses before each implementation's turn), and the machine's
measured parallel-region cost in the header.
``fastiou eval GT.json DT.json`` runs COCO evaluation (:mod:`fastiou.coco`) and prints
pycocotools' summary block.
``fastiou config`` prints versions, backends and threads.
``fastiou draw`` draws two boxes with their IoU variants (needs ``fastiou[plot]``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"--sizes must be positive integers, got {text!r}")
    return sizes


def _bench(args: argparse.Namespace) -> int:
    from . import bench

    cases = bench.all_cases(quick=args.quick, sizes=args.sizes, ops=args.ops)
    if not cases:
        print(f"no benchmark matches --ops {args.ops}", file=sys.stderr)
        return 2
    # --quick: about half a second of timing per implementation (one timed call for the slow ones)
    budget: dict[str, Any] = (dict(budget_s=0.5, min_calls=1) if args.quick
                              else dict(budget_s=5.0, min_calls=3))
    machine = bench.machine()  # measures the region cost before the timing, as the first big call would
    rows, bandwidth = bench.run(cases, progress=not args.no_progress, settle=args.settle, **budget)
    print(bench.format_table(rows, bandwidth, machine))
    if args.json:
        bench.write_json(rows, bandwidth, args.json, machine)
        print(f"\nwrote {args.json}")
    if args.plot:
        return _plot(bench.record(rows, bandwidth, machine), args.plot)
    return 0


def _plot(run: dict, path: str) -> int:
    """The headline chart at ``path``, and beside it ``<stem>_<family><ext>``, the scaling plots
    of the families measured at three or more sizes."""
    from .bench import plots

    try:
        written = [plots.plot_summary(run, path)]
        stem, ext = os.path.splitext(path)
        written += plots.plot_scaling(run["rows"], os.path.dirname(stem) or ".",
                                      prefix=os.path.basename(stem) + "_", suffix=ext or ".png")
    except (ImportError, OSError, ValueError) as exc:  # no matplotlib; unwritable path; nothing to plot
        print(f"fastiou bench --plot: {exc}", file=sys.stderr)
        return 1
    for p in written:
        print(f"wrote {p}")
    return 0


def _box(text: str) -> list[float]:
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"a box is four comma-separated numbers X1,Y1,X2,Y2, got {text!r}")
    return box


def _draw(args: argparse.Namespace) -> int:
    from . import viz

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    try:
        viz.draw_box_pair(args.box1, args.box2, metrics=metrics, fmt=args.fmt, path=args.output)
    except ValueError as exc:
        print(f"fastiou draw: error: {exc}", file=sys.stderr)
        return 2
    except (ImportError, OSError) as exc:  # no matplotlib; a path that cannot be written
        print(f"fastiou draw: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import contextlib
    import io
    import json

    from . import _coco_input, coco
    from ._progress import Progress

    # a bar on a terminal; pycocotools' progress lines would break it, so only the
    # summary block is printed, after it
    bar = Progress(4, enabled=not args.no_progress and sys.stderr.isatty())
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            bar.step("reading the ground truth", advance=False)
            G = coco.COCO(_coco_input.load_json(args.gt, "gt"))
            bar.step("reading the detections")
            dt = _coco_input.load_json(args.dt, "dt")
            D = coco.COCO(dt) if isinstance(dt, dict) else G.loadRes(dt)
            bar.step("matching")
            E = coco.COCOeval(G, D, args.iou_type, backend=args.backend)
            E.evaluate()
            bar.step("accumulating")
            E.accumulate()
            bar.step("done")
        bar.close()
        stats = E.summarize()
    except (ValueError, TypeError) as exc:
        bar.close()
        print(f"fastiou eval: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        names = coco.STAT_NAMES[args.iou_type]
        with open(args.json, "w") as f:
            json.dump({"iou_type": args.iou_type, "stats": dict(zip(names, map(float, stats)))}, f, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        from . import viz

        try:
            viz.plot_pr_curves(E, args.plot)
        except (ImportError, OSError) as exc:  # no matplotlib; a path that cannot be written
            print(f"fastiou eval: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.plot}")
    return 0


def _config(args: argparse.Namespace) -> int:
    from . import show_config

    show_config()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``fastiou`` command's argument parser (subcommands ``bench``, ``draw`` and ``config``).

    Returns
    -------
    argparse.ArgumentParser
        ``parse_args`` gives a namespace whose ``func`` runs the chosen subcommand.
    """
    parser = argparse.ArgumentParser(prog="fastiou", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser(
        "bench", help="run the comparison benchmarks on synthetic data",
        description="Time fastiou against the installed libraries on synthetic data. Each fastiou "
                    "default call is timed as the cost model runs it ('fastiou[auto]') and forced "
                    "serial and parallel (the 'serial / parallel' column); the header gives the "
                    "cores, threads, threading layer, the measured parallel-region cost and the "
                    "memory bandwidth.")
    bench.add_argument("--quick", action="store_true", help="small sizes only (under a minute)")
    bench.add_argument("--sizes", type=_sizes, help="comma-separated input sizes, e.g. 1000,4000")
    bench.add_argument("--ops", nargs="+", help="only these operations (e.g. box_iou nms)")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument("--plot", metavar="PATH",
                       help="also draw fastiou's speed-up over the fastest other library per operation "
                            "at PATH, and beside it (PATH's name + _<family>) throughput against size "
                            "for the families measured at three or more sizes (needs fastiou[plot])")
    bench.add_argument("--settle", action="store_true",
                       help="pause 5 ms before each implementation's turn, so that another library's "
                            "spinning threads do not slow it (default: back-to-back calls)")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.set_defaults(func=_bench)
    draw = sub.add_parser(
        "draw", help="draw two boxes with their IoU, GIoU, DIoU, CIoU (needs fastiou[plot])",
        epilog="Boxes after '--' may start with a minus: fastiou draw -o p.png -- -1,0,2,2 0,0,1,1",
    )
    draw.add_argument("box1", type=_box, help="X1,Y1,X2,Y2 (in --fmt)")
    draw.add_argument("box2", type=_box, help="X1,Y1,X2,Y2 (in --fmt)")
    draw.add_argument("-o", "--output", required=True, metavar="PATH", help="picture to write (PNG)")
    draw.add_argument("--fmt", default="xyxy", choices=["xyxy", "xywh", "cxcywh"], help="box format")
    draw.add_argument("--metrics", default="iou,giou,diou,ciou",
                      help="comma-separated, from iou,ioa,giou,diou,ciou")
    draw.set_defaults(func=_draw)
    ev = sub.add_parser(
        "eval", help="COCO evaluation of detections, exact to pycocotools",
        description="Evaluate detections (a JSON list of results) against COCO ground truth and "
                    "print pycocotools' summary block; the numbers are pycocotools' own.")
    ev.add_argument("gt", help="ground truth: a COCO JSON file")
    ev.add_argument("dt", help="detections: a JSON list of results (as COCO.loadRes takes)")
    ev.add_argument("--iou-type", default="bbox", choices=["bbox", "segm", "keypoints"])
    ev.add_argument("--backend", default="auto", choices=["auto", "numba", "cython"])
    ev.add_argument("--json", metavar="PATH", help="also write the stats as JSON")
    ev.add_argument("--plot", metavar="PATH",
                    help="also draw precision-recall curves (needs fastiou[plot])")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar (shown on a terminal)")
    ev.set_defaults(func=_eval)
    config = sub.add_parser("config", help="print versions, backends and threads")
    config.set_defaults(func=_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``fastiou`` command (the console script's entry point).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a bad argument, 1 when a picture cannot be drawn.
    """
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
