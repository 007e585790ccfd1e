"""The load matrix: does ``backend='auto'`` pick well on a quiet and on a busy machine?

Run: ``python benchmarks/load_matrix.py`` (about 3 minutes on 2 cores; ``--quick``,
small and large sizes with a shorter budget, about one; ``--json PATH`` saves the rows).

Every family's main operation (``box_iou``, ``nms``, ``mask_iou`` on COCO RLE,
``cross_entropy`` value + gradient, ``sparse_box_iou``) at a small, a medium and a
large size (the large ones take some 10-100 ms serially), with fastiou's threads at
1 and at all, under three loads: quiet, one busy process beside it at nice 0, and
one at nice 19 (``python -c 'while True: pass'``, started and stopped by this
script around each cell).  Each cell times, in interleaved rounds of back-to-back
calls (no pauses; the first call of each implementation, and of each of its turns,
excluded: :func:`time_cell`), the mean time a call takes in such a run (what a
user's loop of calls costs; a median would hide the waits of a scheduler tick, 4 ms
here, that a busy neighbour causes now and then), as the median of the means of 5
rounds (so that one call that the virtual machine's host stalls does not decide), for:

- ``auto``: the call as a user makes it (the cost model picks serial or parallel);
- ``serial`` and ``parallel``: the same call with ``fastiou.backends.FORCE_PARALLEL``
  False / True (the parallel one names the default CPU backend, so that small
  ``box_iou`` runs the parallel kernel rather than the serial small-input path);
- the third-party implementations the benchmark pages compare with, where installed
  (torchvision and powerboxes for ``box_iou``; torchvision, lsnms and powerboxes for
  ``nms``; pycocotools for ``mask_iou``; PyTorch for ``cross_entropy``; shapely 2 for
  ``sparse_box_iou``), given the same thread count where they take one (those whose
  first call is over twice the fastest one's are not timed further).

With ``--control``, each cell also times a second copy of the serial and the parallel
column (``ctl:serial``, ``ctl:parallel``), made and timed like the first ones but
separately, in turns of their own.  The copy of the faster own path is an idealised
``auto`` that always picks right at no dispatch cost, held to auto's test (flag ``ctl``):
where it is more than 10% slower than the faster own path, the cell's noise alone crosses
the line that auto is held to.

The JSON rows also keep each implementation's plain mean, median and fastest call, and its
number of calls.
The table flags a cell (``own``) where auto is more than 10% slower than the faster
of serial and parallel, and (``3rd``) where it is slower than the best third party.
The parallel-region cost that the cost model uses is measured once, quiet, at the
start (as a user's process measures it on its first big call); the header also
shows what the same measurement gives under each load.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import importlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time

TOLERANCE = 1.10  # auto may be this much slower than the faster of serial and parallel
LOADS = ("quiet", "nice0", "nice19")
SIZES = {  # small, medium, large
    "box_iou": (100, 1000, 4000),  # n x n boxes
    "nms": (100, 2000, 50_000),  # boxes
    "mask_iou": (10, 50, 250),  # n x n masks of 512 x 512, RLE
    "cross_entropy": (1000, 20_000, 100_000),  # rows of 80 logits
    "sparse_box_iou": (300, 3000, 10_000),  # n x n boxes at a detector's density
}
SMOKE_SIZES = {"box_iou": (20, 60), "nms": (50,), "mask_iou": (3,), "cross_entropy": (100,),
               "sparse_box_iou": (100,)}
SIZE_NAMES = ("small", "medium", "large")


def _optional(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - not installed or broken: no comparison
        return None


# --- the operations: (label, own(backend): fastiou's call, third(threads): {name: call}) ---


def _box_iou(n: int):
    from fastiou import box_iou, synthetic

    b1 = synthetic.clustered_boxes(n, seed=1)[0]
    b2 = synthetic.clustered_boxes(n, seed=2)[0]

    def own(backend):
        return box_iou(b1, b2, backend=backend)

    def third(threads):
        impls = {}
        torch, ops = _optional("torch"), _optional("torchvision.ops")
        if torch is not None and ops is not None:
            torch.set_num_threads(threads)
            t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)
            impls["torchvision"] = lambda: ops.box_iou(t1, t2)
        pb = _optional("powerboxes")
        if pb is not None:
            impls["powerboxes"] = lambda: pb.iou_distance(b1, b2)
            if threads > 1:  # rayon's pool: all cores
                impls["powerboxes parallel"] = lambda: pb.parallel_iou_distance(b1, b2)
        return impls

    return f"{n}x{n}", own, third


def _nms(n: int):
    import numpy as np

    from fastiou import nms, synthetic

    boxes, scores, _ = synthetic.clustered_boxes(n, seed=1)

    def own(backend):
        return nms(boxes, scores, 0.5, backend=backend)

    def third(threads):
        impls = {}
        torch, ops = _optional("torch"), _optional("torchvision.ops")
        if torch is not None and ops is not None:
            torch.set_num_threads(threads)
            tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
            impls["torchvision"] = lambda: ops.nms(tb, ts, 0.5)
        lsnms = _optional("lsnms")
        if lsnms is not None:
            impls["lsnms"] = lambda: lsnms.nms(boxes, scores, 0.5, 0.0)
        pb = _optional("powerboxes")
        if pb is not None:
            s64 = scores.astype(np.float64)
            impls["powerboxes"] = lambda: pb.nms(boxes, s64, 0.5, 0.0)
            impls["powerboxes rtree"] = lambda: pb.rtree_nms(boxes, s64, 0.5, 0.0)
        return impls

    return f"{n} clustered", own, third


def _mask_iou(n: int):
    from fastiou import masks, synthetic

    both = synthetic.clustered_masks(2 * n, height=512, width=512, seed=3)
    dt, gt = masks.rle_encode(both[:n]), masks.rle_encode(both[n:])
    del both

    def own(backend):
        return masks.mask_iou(dt, gt, backend=backend)

    def third(threads):
        cocomask = _optional("pycocotools.mask")
        if cocomask is None:
            return {}
        crowd = [0] * n
        return {"pycocotools": lambda: cocomask.iou(dt, gt, crowd)}

    return f"{n}x{n} RLE 512x512", own, third


def _cross_entropy(n: int):
    import numpy as np

    from fastiou import losses

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 80), dtype=np.float32) * 3
    y = rng.integers(0, 80, size=n)

    def own(backend):  # the losses run on Numba only
        return losses.cross_entropy(x, y, return_grad=True)

    def third(threads):
        torch = _optional("torch")
        if torch is None:
            return {}
        torch.set_num_threads(threads)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def forward_backward():
            leaf = xt.detach().requires_grad_(True)
            torch.nn.functional.cross_entropy(leaf, yt).backward()
            return leaf.grad

        return {"torch": forward_backward}

    return f"{n}x80 value+grad", own, third


def _sparse_box_iou(n: int):
    from fastiou import sparse
    from fastiou.bench.sparse import shapely_join, tiled_clustered_boxes

    b1, b2 = tiled_clustered_boxes(n, seed=1)

    def own(backend):  # Numba only
        return sparse.sparse_box_iou(b1, b2, 0.5)

    def third(threads):
        shapely = _optional("shapely")
        if shapely is None:
            return {}
        return {"shapely": lambda: shapely_join(b1, b2, 0.5, shapely)}

    return f"{n}x{n} tiled", own, third


OPS = {"box_iou": _box_iou, "nms": _nms, "mask_iou": _mask_iou, "cross_entropy": _cross_entropy,
       "sparse_box_iou": _sparse_box_iou}


# --- the busy process ---------------------------------------------------------------

_busy: list[subprocess.Popen] = []


def _child_setup(niceness: int):
    def setup():
        os.nice(niceness)
        try:  # Linux: the child dies with this script, however it ends
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001 - elsewhere: the finally / atexit stop it
            pass
    return setup


def start_busy(niceness: int) -> subprocess.Popen:
    """A process spinning one core at ``niceness``; returns once it spins."""
    code = "import sys\nsys.stdout.write('spinning\\n')\nsys.stdout.flush()\nwhile True: pass"
    proc = subprocess.Popen([sys.executable, "-S", "-c", code], stdout=subprocess.PIPE,
                            preexec_fn=_child_setup(niceness))
    _busy.append(proc)
    proc.stdout.readline()
    time.sleep(0.02)  # let the scheduler see it
    return proc


def stop_busy() -> None:
    """Kill every busy process this script started."""
    while _busy:
        proc = _busy.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


class Load:
    """``with Load('nice19'):`` runs the body beside a busy process at that niceness."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        if self.name != "quiet":
            start_busy(int(self.name[len("nice"):]))
        return self

    def __exit__(self, *exc):
        stop_busy()


# --- timing ---------------------------------------------------------------------------


#: A call at least this slow makes no untimed call when its turn starts.
SLOW_S = 0.1
#: Third parties whose first call is this many times the fastest one's are not timed further.
RIVAL_SLACK = 2.0


def time_cell(impls: dict, budget_s: float, min_calls: int, rounds: int = 5,
              seed: int = 0) -> tuple[dict, dict]:
    """``({name: (typical, mean, median, fastest, calls)}, {name: first call})``: seconds per
    call; ``typical`` is the median of the rounds' means (below).

    One untimed first call each; the third parties (``'3rd:'`` names) whose first call
    took over ``RIVAL_SLACK`` times the fastest third party's are dropped there (only
    the best one is compared; they keep their first call's time).  Then ``rounds``
    rounds, each in a new (seeded) random order so that no implementation always
    follows the same one.  In each round every implementation makes back-to-back calls
    for about ``budget_s / (rounds * len(impls))`` (the control's ``'ctl:'`` copies not
    counted: the others' turns last as long as without them), and fastiou's own ones
    ``min_calls`` timed calls in all at least (the third parties one a round): the 10% comparison
    rests on them, and a mean of some 15 calls can move by a third with one slow call
    (one-thread ``box_iou`` of 4000 x 4000 beside a nice-19 process read 1.39 times the
    parallel column, whose kernel ``auto`` runs there).  The first call of a turn is not
    timed (it pays for the switch from another implementation) unless calls take
    ``SLOW_S``.

    The typical time is the median of the rounds' means: a call that stalls for a tenth
    of a second (the virtual machine's host took the vCPU: one in some 300 calls of
    12 ms, in any column) moves one round, while the waits that recur (a busy
    neighbour's scheduler ticks) are in every round.  What it can leave out is what
    falls in one or two rounds only: ``auto`` finding the load at the start of a loaded
    cell, and the cost model's retries of parallel once they are spaced out.  The plain
    mean keeps them (the JSON has it).
    """
    clock = time.perf_counter
    first = {}
    for name, fn in impls.items():
        t0 = clock()
        fn()
        first[name] = clock() - t0
    rivals = [first[name] for name in impls if name.startswith("3rd:")]
    dropped = {name: t for name, t in first.items()
               if name.startswith("3rd:") and t > RIVAL_SLACK * min(rivals)}
    impls = {name: fn for name, fn in impls.items() if name not in dropped}
    times: dict[str, list[float]] = {name: [] for name in impls}
    round_means: dict[str, list[float]] = {name: [] for name in impls}
    share = budget_s / (rounds * sum(not name.startswith("ctl:") for name in impls))
    own_per_round = -(-min_calls // rounds)
    names = list(impls)
    order = random.Random(seed)
    for _ in range(rounds):
        order.shuffle(names)
        for name in names:
            fn, own = impls[name], times[name]
            if first[name] < SLOW_S:
                fn()
            start = clock()
            done = 0
            per_round = 1 if name.startswith("3rd:") else own_per_round
            while done < per_round or clock() - start < share:
                t0 = clock()
                fn()
                own.append(clock() - t0)
                done += 1
            round_means[name].append(statistics.fmean(own[-done:]))
    return {name: (statistics.median(round_means[name]), statistics.fmean(t), statistics.median(t), min(t),
                   len(t)) for name, t in times.items()}, dropped


def measure(ops: list[str], sizes: dict, threads_list: list[int], loads: list[str], budget_s: float,
            min_calls: int, rounds: int, progress: bool = True, control: bool = False) -> list[dict]:
    """One row per op, size, thread count and load (see the module); with ``control``, each
    cell also times a second, independent copy of the forced serial and parallel columns
    (the control: see the module)."""
    import fastiou
    from fastiou.bench.runner import default_cpu_backend, forced

    parallel_backend = default_cpu_backend()
    rows = []
    cells = sum(len(sizes[op]) for op in ops) * len(threads_list) * len(loads)
    done = 0
    for op in ops:
        for size in sizes[op]:
            label, own, third = OPS[op](size)
            for threads in threads_list:
                fastiou.set_num_threads(threads)
                others = third(threads)
                impls = {
                    "auto": lambda: own("auto"),
                    "serial": forced(lambda: own("auto"), False),
                    "parallel": forced(lambda: own(parallel_backend), True),
                    **{f"3rd:{name}": fn for name, fn in others.items()},
                }
                if control:
                    impls["ctl:serial"] = forced(lambda: own("auto"), False)
                    impls["ctl:parallel"] = forced(lambda: own(parallel_backend), True)
                for load in loads:
                    if progress:
                        done += 1
                        sys.stderr.write(f"\r{done}/{cells} {op} {label} threads={threads} {load}".ljust(79))
                        sys.stderr.flush()
                    with Load(load):
                        timed, dropped = time_cell(impls, budget_s, min_calls, rounds)
                    size_name = SIZE_NAMES[SIZES[op].index(size)] if size in SIZES[op] else str(size)
                    rows.append(_row(op, label, size, size_name, threads, load, timed, dropped))
    if progress:
        sys.stderr.write("\n")
    return rows


def _row(op, label, size, size_name, threads, load, timed, dropped) -> dict:
    typical = {name: t[0] for name, t in timed.items()}
    auto, serial, parallel = typical["auto"], typical["serial"], typical["parallel"]
    best_own = min(serial, parallel)
    third = {name[4:]: s for name, s in typical.items() if name.startswith("3rd:")}
    best_third = min(third, key=third.get) if third else None
    flags = []
    if auto > TOLERANCE * best_own:
        flags.append("own")
    if best_third is not None and auto > third[best_third]:
        flags.append("3rd")
    best_own_name = "serial" if serial <= parallel else "parallel"
    control = typical.get(f"ctl:{best_own_name}")
    if control is not None and control > TOLERANCE * best_own:
        flags.append("ctl")
    return {
        "op": op, "label": label, "size": size, "size_name": size_name, "threads": threads, "load": load,
        "auto_s": auto, "serial_s": serial, "parallel_s": parallel,
        "best_own": best_own_name, "best_own_s": best_own, "auto_over_best_own": auto / best_own,
        "control_over_best_own": None if control is None else control / best_own,
        "third_party_s": third, "best_third": best_third,
        "best_third_s": None if best_third is None else third[best_third], "flags": flags,
        "mean_s": {name: t[1] for name, t in timed.items()},
        "median_s": {name: t[2] for name, t in timed.items()},
        "fastest_s": {name: t[3] for name, t in timed.items()},
        "calls": {name: t[4] for name, t in timed.items()},
        "third_party_first_call_s": {name[4:]: s for name, s in dropped.items()},  # slower: not timed further
        "load_average_1min": os.getloadavg()[0],
    }


# --- the table ------------------------------------------------------------------------


def _t(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f}s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g}ms"
    return f"{s * 1e6:.3g}us"


def format_table(rows: list[dict], loads: list[str]) -> str:
    """One line per op / size / threads; per load: auto, best own (S serial / P parallel),
    auto / best own, best third party; and the flags."""
    head = "| op | size | thr |" + "".join(
        f" {load} auto | own | a/o | 3rd |" for load in loads) + " flags |"
    lines = [head, "|---|---|---:|" + "---:|---:|---:|---:|" * len(loads) + "---|"]
    groups: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        groups.setdefault((r["op"], r["label"], r["threads"]), {})[r["load"]] = r
    for (op, label, threads), by_load in groups.items():
        cells, flags = [], []
        for load in loads:
            r = by_load.get(load)
            if r is None:
                cells.append(" - | - | - | - |")
                continue
            mark = "S" if r["best_own"] == "serial" else "P"
            third = "-" if r["best_third"] is None else f"{_t(r['best_third_s'])} {r['best_third']}"
            cells.append(f" {_t(r['auto_s'])} | {_t(r['best_own_s'])} {mark} | "
                         f"{r['auto_over_best_own']:.2f} | {third} |")
            flags += [f"{load}:{f}" for f in r["flags"]]
        lines.append(f"| {op} | {label} | {threads} |" + "".join(cells) + f" {' '.join(flags)} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """How many cells auto (and the control, where timed) kept within the tolerance."""
    within = sum("own" not in r["flags"] for r in rows)
    text = f"auto within {TOLERANCE:.2f} x the faster own path in {within} of {len(rows)} cells"
    controls = [r for r in rows if r.get("control_over_best_own") is not None]
    if controls:
        text += (f"; the control in {sum('ctl' not in r['flags'] for r in controls)} of {len(controls)}")
    return text + f"; slower than the best third party in {sum('3rd' in r['flags'] for r in rows)}"


def header(machine: dict, loads: list[str]) -> list[str]:
    """The machine, the cost model's region cost, and the same measurement under each load."""
    from fastiou.backends import _cost

    lines = [
        f"{machine['cores']} cores, {machine['threads']} threads, threading layer "
        f"{machine['threading_layer']}, load average {machine['load_average_1min']:.2f} at the start",
        "parallel region cost measured by the cost model (quiet, at the start; after idling / warm; "
        f"it takes at most {_t(_cost.MAX_WARM_S)} warm for numba): "
        + ", ".join(f"{name} {_t(s)} / {_t(machine['region_cost_warm_s'][name])}"
                    for name, s in machine["region_cost_s"].items()),
    ]
    measured = {}
    for load in loads:
        with Load(load):
            measured[load] = {name: _cost.measure(name, machine["threads"])._asdict()
                              for name in machine["region_cost_s"]}
    lines.append("the same measurement under each load: " + "; ".join(
        f"{load} " + ", ".join(f"{name} {_t(c['cold'])} / {_t(c['warm'])}" for name, c in costs.items())
        for load, costs in measured.items()))
    machine["region_cost_by_load_s"] = measured
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small and large sizes only, a shorter budget per cell")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, quiet only, mask_iou only unless --ops (seconds; for tests)")
    parser.add_argument("--ops", nargs="+", choices=sorted(OPS), help="only these operations")
    parser.add_argument("--loads", nargs="+", choices=LOADS, help="only these loads")
    parser.add_argument("--control", action="store_true",
                        help="also time a second copy of the serial and parallel columns (the noise floor)")
    parser.add_argument("--json", metavar="PATH", help="also write the machine and the rows as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress line")
    args = parser.parse_args(argv)

    import numba

    import fastiou
    from fastiou.bench.runner import machine as describe

    sizes = SIZES
    if args.smoke or args.quick:
        sizes = SMOKE_SIZES if args.smoke else {op: (s[0], s[-1]) for op, s in SIZES.items()}
    ops = args.ops or (["mask_iou"] if args.smoke else list(OPS))
    loads = args.loads or (["quiet"] if args.smoke else list(LOADS))
    threads_list = sorted({1, numba.config.NUMBA_NUM_THREADS})
    budget_s, min_calls, rounds = (0.02, 2, 2) if args.smoke else (0.15, 2, 2) if args.quick else (1.0, 50, 5)

    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # so that the finally below runs
    atexit.register(stop_busy)
    threads_before = fastiou.get_num_threads()
    try:
        fastiou.set_num_threads(max(threads_list))
        info = describe()  # measures the region cost now, quiet, once for this process
        lines = header(info, loads)
        rows = measure(ops, sizes, threads_list, loads, budget_s, min_calls, rounds, not args.no_progress,
                       args.control)
    finally:
        stop_busy()
        fastiou.set_num_threads(threads_before)
    info["load_average_1min_end"] = os.getloadavg()[0]
    lines.append(f"load average {info['load_average_1min_end']:.2f} at the end; per call, the median of "
                 f"{rounds} shuffled rounds' means of back-to-back calls, {budget_s} s a cell (at least "
                 f"{min_calls} calls of auto, serial and parallel); flags: own = auto > "
                 f"{TOLERANCE:.2f} x min(serial, parallel), 3rd = auto slower than the best third party"
                 + (", ctl = the control's copy of the faster own path > "
                    f"{TOLERANCE:.2f} x min(serial, parallel)" if args.control else ""))
    print("\n".join(lines + ["", format_table(rows, loads), "", summary(rows)]))
    if args.json:
        with open(args.json, "w") as fh:
            date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
            json.dump({"machine": info, "date": date, "rows": rows}, fh, indent=1)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
