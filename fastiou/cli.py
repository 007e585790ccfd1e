"""The ``fastiou`` command.

``fastiou bench`` runs the comparison table (fastiou per backend against the naive
reference, NumPy and the installed third-party libraries) on synthetic data.
``fastiou config`` prints versions, backends and threads.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"--sizes must be positive integers, got {text!r}")
    return sizes


def _bench(args: argparse.Namespace) -> int:
    from . import _bench

    cases = _bench.all_cases(quick=args.quick, sizes=args.sizes, ops=args.ops)
    if not cases:
        print(f"no benchmark matches --ops {args.ops}", file=sys.stderr)
        return 2
    rows, bandwidth = _bench.run(cases, progress=not args.no_progress)
    print(_bench.format_table(rows, bandwidth))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"bandwidth": bandwidth, "rows": [asdict(r) for r in rows]}, fh, indent=1)
        print(f"\nwrote {args.json}")
    if args.plot:
        from . import viz

        viz.plot_benchmarks(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _config(args: argparse.Namespace) -> int:
    from . import show_config

    show_config()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastiou", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="run the comparison benchmarks on synthetic data")
    bench.add_argument("--quick", action="store_true", help="small sizes only (under a minute)")
    bench.add_argument("--sizes", type=_sizes, help="comma-separated input sizes, e.g. 1000,4000")
    bench.add_argument("--ops", nargs="+", help="only these operations (e.g. box_iou nms)")
    bench.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    bench.add_argument("--plot", metavar="PATH", help="also draw throughput against size (needs fastiou[plot])")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.set_defaults(func=_bench)
    config = sub.add_parser("config", help="print versions, backends and threads")
    config.set_defaults(func=_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
