"""The benchmark harness behind ``fastiou bench`` and ``benchmarks/``.

* :mod:`~fastiou.bench.runner`: :class:`Case`, :class:`Row`, fastiou's auto /
  serial / parallel implementations (:func:`modes`), the interleaved timing rounds,
  the memory-bandwidth probe, :func:`machine` and :func:`run`;
* :mod:`~fastiou.bench.table`: the Markdown table and the JSON record of the run;
* :mod:`~fastiou.bench.plots`: the pictures of a record (the headline speed-up chart,
  scaling plots, the load matrix's heat map; needs the ``plot`` extra);
* one module per family (``boxes``, ``nms``, ``masks``, ``losses``, ``sparse``), each
  with ``cases(quick, sizes)``.

Nothing else in the package imports this one (``fastiou.cli`` does, when ``fastiou
bench`` runs); ``fastiou.bench`` after ``import fastiou`` imports it on first access.
"""

from __future__ import annotations

from .runner import FAMILIES, Case, Row, all_cases, is_forced, machine, memory_bandwidth, modes, run
from .table import format_table, record, write_json

__all__ = ["FAMILIES", "Case", "Row", "all_cases", "format_table", "is_forced", "machine", "memory_bandwidth",
           "modes", "record", "run", "write_json"]
