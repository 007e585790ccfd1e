"""GPU benchmark of fastiou's CUDA backend against torchvision's CUDA ops, on the same GPU, in one run.

Times (CUDA events, median of repeats after a warm-up call that also compiles):

* ``box_iou`` N x N float32 into a preallocated device ``out``, for each ``--sizes``
  (default 10k and 30k), against ``torchvision.ops.box_iou``; the fraction of the
  device write bandwidth reached (the N x N output over the time), the bandwidth
  measured in the same run with a fill of a large buffer;
* ``complete_box_iou`` at the first size, against ``torchvision.ops.complete_box_iou``;
* ``nms`` and ``batched_nms`` of ``--nms-boxes`` clustered boxes (default 100k),
  against ``torchvision.ops.nms`` / ``batched_nms``, checking that the kept
  indices are identical.

Ratios are torchvision's time over fastiou's (> 1: fastiou is faster).  Exit
status 1 when NMS indices differ.  ``--quick`` runs tiny sizes with Numba device
arrays (no torchvision needed): under ``NUMBA_ENABLE_CUDASIM=1`` it checks that
the script runs, its timings mean nothing.

    python benchmarks/gpu_bench.py                 # on a GPU machine
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu_bench.py --quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from numba import cuda

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
IOU_THRESHOLD = 0.5  # exact in float32: both libraries compare against the same value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000], help="N of the N x N box_iou")
    p.add_argument("--nms-boxes", type=int, default=100_000, help="boxes for nms and batched_nms")
    p.add_argument("--repeat", type=int, default=7, help="timed calls per measurement (median)")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes on Numba device arrays, no torchvision "
                        "(a smoke test, e.g. in the simulator)")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.nms_boxes, args.repeat = [12, 20], 150, 2
    if min(args.sizes) < 1 or args.nms_boxes < 1 or args.repeat < 1:
        p.error("sizes, --nms-boxes and --repeat must be positive")
    return args


class Clock:
    """Times GPU work: CUDA events on PyTorch's current stream, or a synchronised wall clock."""

    def __init__(self, torch=None):
        self.torch = torch

    def sync(self):
        if self.torch is not None:
            self.torch.cuda.synchronize()
        else:
            cuda.synchronize()

    def time(self, fn, repeat):
        """Median seconds of ``fn()`` over ``repeat`` calls, after one warm-up call."""
        fn()
        self.sync()
        times = []
        for _ in range(repeat):
            if self.torch is not None:
                start = self.torch.cuda.Event(enable_timing=True)
                end = self.torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                self.sync()
                times.append(time.perf_counter() - t0)
        return statistics.median(times)


def write_bandwidth(clock, torch, repeat, nbytes):
    """Device write bandwidth (bytes/s): filling a buffer of ``nbytes``."""
    if torch is not None:
        buf = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
        seconds = clock.time(lambda: buf.fill_(1.0), repeat)
        return buf.numel() * 4 / seconds
    buf = cuda.device_array(nbytes // 4, dtype=np.float32)
    grid = (1, 32) if SIMULATOR else (1024, 256)  # the simulator runs a Python thread per CUDA thread
    seconds = clock.time(lambda: _fill[grid](buf, np.float32(1)), repeat)
    return buf.size * 4 / seconds


@cuda.jit
def _fill(a, value):
    for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[i] = value


def row(name, ours, theirs=None, extra=""):
    ratio = f"{theirs / ours:8.2f}x" if theirs else "        -"
    tv = f"{theirs * 1e3:10.3f}" if theirs else "         -"
    print(f"{name:<38} {ours * 1e3:10.3f} {tv} {ratio}  {extra}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    import fastiou
    from fastiou import synthetic
    from fastiou.nms import batched_nms, nms

    torch = tv = None
    if not args.quick:
        import torch
        import torchvision.ops as tv

        if not torch.cuda.is_available():
            print("error: PyTorch sees no CUDA device", file=sys.stderr)
            return 2
    clock = Clock(torch)
    if torch is not None:
        to_dev = lambda a: torch.from_numpy(np.ascontiguousarray(a)).cuda()  # noqa: E731
        empty = lambda shape: torch.empty(shape, dtype=torch.float32, device="cuda")  # noqa: E731
        same = lambda a, b: a.shape == b.shape and bool((a == b).all())  # noqa: E731
    else:
        to_dev = cuda.to_device
        empty = lambda shape: cuda.device_array(shape, np.float32)  # noqa: E731
        same = lambda a, b: np.array_equal(a.copy_to_host(), np.asarray(b))  # noqa: E731

    print(f"device: {fastiou.backends.load('cuda').device_name()}"
          f"{' (simulator: timings meaningless)' if SIMULATOR else ''}")
    bw = write_bandwidth(clock, torch, args.repeat, 2 * 2**30 if not args.quick else 2**12)
    print(f"device write bandwidth (fill, same run): {bw / 1e9:.1f} GB/s\n")
    print(f"{'operation':<38} {'fastiou ms':>10} {'tv ms':>10} {'tv/ours':>9}  notes")

    failures = 0
    for i, n in enumerate(args.sizes):
        b1 = to_dev(synthetic.clustered_boxes(n, seed=1, dtype=np.float32)[0])
        b2 = to_dev(synthetic.clustered_boxes(n, seed=2, dtype=np.float32)[0])
        out = empty((n, n))
        ours = clock.time(lambda: fastiou.box_iou(b1, b2, out=out), args.repeat)
        ours_nv = clock.time(lambda: fastiou.box_iou(b1, b2, out=out, validate=False), args.repeat)
        theirs = clock.time(lambda: tv.box_iou(b1, b2), args.repeat) if tv else None
        written = n * n * 4
        row(f"box_iou {n}x{n} float32, out=", ours, theirs,
            f"{written / ours / bw:6.1%} of write bandwidth; validate=False: {ours_nv * 1e3:.3f} ms, "
            f"{written / ours_nv / bw:6.1%}")
        if tv is not None:
            diff = float((out - tv.box_iou(b1, b2)).abs().max())
            print(f"{'':<38} max |fastiou - torchvision| = {diff:.2e}")
        if i == 0:
            ours = clock.time(lambda: fastiou.complete_box_iou(b1, b2, out=out), args.repeat)
            theirs = clock.time(lambda: tv.complete_box_iou(b1, b2), args.repeat) if tv else None
            row(f"complete_box_iou {n}x{n} float32, out=", ours, theirs,
                f"{written / ours / bw:6.1%} of write bandwidth")
        del b1, b2, out

    boxes, scores, labels = synthetic.clustered_boxes(args.nms_boxes, seed=3, dtype=np.float32)
    b, s, l = to_dev(boxes), to_dev(scores), to_dev(labels)
    for name, ours_fn, tv_fn in [
        ("nms", lambda: nms(b, s, IOU_THRESHOLD),
         (lambda: tv.nms(b, s, IOU_THRESHOLD)) if tv else None),
        ("batched_nms", lambda: batched_nms(b, s, l, IOU_THRESHOLD),
         (lambda: tv.batched_nms(b, s, l, IOU_THRESHOLD)) if tv else None),
    ]:
        ours = clock.time(ours_fn, args.repeat)
        theirs = clock.time(tv_fn, args.repeat) if tv_fn else None
        kept = ours_fn()
        if tv_fn is not None:
            ok = same(kept, tv_fn())
        else:  # the CPU backend is the reference
            cpu = nms(boxes, scores, IOU_THRESHOLD) if name == "nms" else \
                batched_nms(boxes, scores, labels, IOU_THRESHOLD)
            ok = same(kept, cpu)
        failures += not ok
        against = "torchvision" if tv_fn else "the CPU backend"
        row(f"{name} {args.nms_boxes} clustered float32", ours, theirs,
            f"kept {len(kept)}, indices {'identical to' if ok else 'DIFFERENT from'} {against}")
        if not ok and tv_fn is not None:
            a, t = kept.cpu().numpy(), tv_fn().cpu().numpy()
            only_ours, only_tv = sorted(set(a) - set(t))[:10], sorted(set(t) - set(a))[:10]
            print(f"{'':<38} torchvision kept {len(t)}; same set: {set(a) == set(t)}; "
                  f"only fastiou: {only_ours}, only torchvision: {only_tv}")
    if failures:
        print("\nFAILED: NMS indices differ", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
