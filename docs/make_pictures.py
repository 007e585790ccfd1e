"""Regenerate the README's pictures: ``python docs/make_pictures.py`` (needs ``fastiou[plot]``).

Writes, next to this file:

- ``box_pair.png``: two boxes with the geometry of IoU, GIoU, DIoU and CIoU and the
  values fastiou computes (``fastiou draw 0,0,4,4 2,1,8,5 -o docs/box_pair.png``);
- ``bench.png``: throughput against input size from ``fastiou bench --quick --plot``.

``--only box_pair`` or ``--only bench`` regenerates one of them.  The bench plot
measures this machine, now: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys

from fastiou import cli

HERE = os.path.dirname(os.path.abspath(__file__))
PICTURES = {
    "box_pair": ["draw", "0,0,4,4", "2,1,8,5", "-o", os.path.join(HERE, "box_pair.png")],
    "bench": ["bench", "--quick", "--no-progress", "--plot", os.path.join(HERE, "bench.png")],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(PICTURES), action="append", help="just this picture")
    args = parser.parse_args(argv)
    for name in args.only or PICTURES:
        code = cli.main(PICTURES[name])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
