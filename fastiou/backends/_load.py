"""Do other processes hold the CPUs that a parallel region needs?  A hint for the retries.

Beside a busy process at nice 0 on a 2-vCPU machine, a parallel region's woken thread
waits for that process's time slice, and serial calls are faster; beside one at nice 19
it preempts that process at once, and parallel calls are faster.  The calling thread,
running serially, cannot tell the two apart by its own calls: it has a vCPU of its own
either way, and a retry's first parallel calls are fast beside either (a thread that
slept long is let run at once).  Linux's ``/proc/stat`` tells them apart: it counts the
CPU time of processes at nice 0 or less apart from the niced ones'.  So while a bucket
of the cost model keeps its calls serial after parallel lost
(:meth:`fastiou.backends._cost._Observed.choose`), its decisions :func:`sample` the CPU
time that other processes took at normal priority (``user``, ``system``, interrupts and
the hypervisor's ``steal``, on the CPUs this process may run on, less this process's
own) in windows of at least ``WINDOW_S`` (and about ``SPAN_S`` at most), and :func:`verdict`
says whether the last window left fewer CPUs free than the call's threads.

Measured on a 2-vCPU virtual machine, the calling thread making serial ``mask_iou``
calls back to back: other processes took 0.66-1.25 CPUs a 50 ms window beside a busy
nice-0 process, and -0.22-0.20 quiet or beside a nice-19 one (30 ms windows:
``WINDOW_S``); reading ``/proc/stat`` took 9 us.

Only a hint: the calls observed decide, and a wrong verdict costs a retry or delays one.
Where ``/proc/stat`` is missing (not Linux) there is no verdict.  Inside a container
that limits CPU time by quota rather than by CPU set, ``/proc/stat`` counts the host's
other processes too: beside a busy host the verdict reads contended, and the retries come
as seldom as after many losses.  A niced process's own time is counted as nice: it is
not subtracted, and other niced processes count as free CPUs.  This process's own other
threads (a data loader's, say) count as free CPUs too: their time is subtracted with the
calling thread's.
"""

from __future__ import annotations

import os
import time

try:
    import resource
except ImportError:  # not on Windows, which has no /proc/stat either
    resource = None  # type: ignore[assignment]

#: The shortest window: /proc/stat counts in hundredths of a second, so a window of 30 ms
#: reads to a third of a CPU (beside a nice-0 neighbour 0.56-1.55 CPUs, quiet or beside a
#: nice-19 one -0.36-0.32, on the 2-vCPU machine above).
WINDOW_S = 30e-3
#: The longest window, about: a reading older than this starts a new one, and the last
#: window no longer counts (what other processes did long ago says little about now).  A
#: window may span pauses and other work between the calls (this process's own time is
#: not counted): calls in bursts shorter than ``WINDOW_S`` still close windows.  The ranges
#: above were read with calls back to back.  Decisions come every ``_cost.OBSERVE_S``
#: (4 ms) or every call, if longer.
SPAN_S = 1.0
#: How long after parallel lost a retry waits for a window (``_cost._Observed``).
WAIT_S = 0.2
#: A window is contended when other processes left fewer than the threads' count of
#: CPUs free by more than this (a busy nice-0 neighbour on 2 vCPUs: 1 free, 2 needed).
SLACK = 0.5

_PATH = "/proc/stat"
_ticks = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
#: The /proc/stat lines to sum (b"cpu " for all), and how many CPUs they cover; None: unread.
_lines: tuple[tuple[bytes, ...], int] | None = None
#: The last reading: (when, other processes' CPU seconds at normal priority so far).
_last: tuple[float, float] | None = None
#: The last window closed: (when it started, CPUs other processes took in it).
_window: tuple[float, float] | None = None


def _cpu_lines() -> tuple[tuple[bytes, ...], int]:
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if not cpus or len(cpus) == os.cpu_count():
        return (b"cpu ",), len(cpus) or (os.cpu_count() or 1)
    return tuple(b"cpu%d " % cpu for cpu in sorted(cpus)), len(cpus)


def _others_seconds() -> float | None:
    """CPU seconds other processes have taken at normal priority on this process's CPUs
    (and the hypervisor, ``steal``), or None where that cannot be read."""
    global _lines
    if resource is None:
        return None
    if _lines is None:
        _lines = _cpu_lines()
    try:
        with open(_PATH, "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    ticks, read = 0, 0
    prefixes = _lines[0]
    for line in text.split(b"\n"):
        if line.startswith(prefixes):
            # user nice system idle iowait irq softirq steal ...
            fields = line.split()
            try:
                ticks += sum(int(fields[i]) for i in (1, 3, 6, 7, 8) if i < len(fields))
            except ValueError:  # not the kernel's format (an emulated /proc): no reading
                return None
            read += 1
    if read != len(prefixes):  # a CPU of this process's set is not listed
        return None
    own = resource.getrusage(resource.RUSAGE_SELF)
    niced = os.getpriority(os.PRIO_PROCESS, 0) > 0 if hasattr(os, "getpriority") else False
    return ticks / _ticks - (0.0 if niced else own.ru_utime + own.ru_stime)


def sample(now: float) -> None:
    """Read the CPU time taken by other processes once ``WINDOW_S`` after the last reading,
    closing a window, unless that reading is over ``SPAN_S`` old (``now``:
    ``time.perf_counter()``): then start a new one."""
    global _last, _window
    last = _last
    if last is not None and now - last[0] < WINDOW_S:
        return
    if last is not None and now - last[0] > SPAN_S:
        last = _window = None
    others = _others_seconds()
    if others is None:
        return
    now = time.perf_counter()
    _last = (now, others)
    if last is not None:
        _window = (last[0], (others - last[1]) / (now - last[0]))


def readable() -> bool:
    """Whether other processes' CPU time has been read here (a window can close)."""
    return _last is not None


def verdict(since: float, threads: int) -> bool | None:
    """Whether the last window, if it started after ``since``, left fewer than ``threads``
    CPUs free (by more than ``SLACK``); None if there is no such window."""
    window = _window
    if window is None or window[0] <= since or _lines is None:
        return None
    return window[1] > _lines[1] - threads + SLACK


def _forget() -> None:
    """A forked child starts with no readings: its CPUs and its own time are its own."""
    global _lines, _last, _window
    _lines = _last = _window = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)
