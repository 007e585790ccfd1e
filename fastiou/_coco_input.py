"""The validation boundary of :mod:`fastiou.coco`: COCO datasets and results as checked arrays.

Ground truth is a pycocotools ``COCO`` object (anything with a ``.dataset`` dict), a
dict in the COCO layout or the path of a COCO JSON file.  Detections are any of
those, a list of result dicts (what ``COCO.loadRes`` takes), the path of a JSON
list of them, or an ``(N, 7)`` array ``[image_id, x, y, w, h, score, category_id]``
(``COCO.loadNumpyAnnotations``).  Results that have not been through ``loadRes``
get what ``loadRes`` would give them: ids ``1..N`` and the area of the box
(``w * h``), of the mask, or of the keypoints' bounding box.

Each input becomes a :class:`Table` of arrays in the records' order.  Nothing of
the caller's is modified: records are only read.  A bad record raises
``ValueError`` naming the argument, the field and the first bad record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import DTypeLike, NDArray

from . import _validate


class Table:
    """Annotations as arrays: ``image_id``, ``category_id``, ``id``, ``area``, ``bbox``
    (N, 4, xywh float64), ``iscrowd`` / ``ignore`` (bool), ``score`` (detections),
    ``segmentation`` (list of RLE dicts) with ``rle_counts`` (their counts as the
    mask kernels read them: bytes, or int64 arrays), ``keypoints`` (N, 3K float64)."""

    # set by __init__ or later (a missing field has no attribute at all)
    image_id: NDArray[np.int64]
    category_id: NDArray[np.int64]
    id: NDArray[np.int64]
    area: NDArray[np.float64]
    bbox: NDArray[np.float64]
    iscrowd: NDArray[np.bool_]
    ignore: NDArray[np.bool_]
    score: NDArray[np.float64]
    segmentation: list[Any]
    rle_counts: list[Any]
    keypoints: NDArray[np.float64]

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __len__(self) -> int:
        return len(self.image_id)


class Records(Sequence[dict[str, Any]]):
    """Records read from a JSON file as columns (:func:`fastiou._cy_json.loads`): a
    read-only sequence of the dicts :func:`json.loads` gives, made on access (equal
    dicts: their keys come in the order the records first gave them, and in a column
    of number arrays that mixes integer and decimal literals the integers are floats).

    The columns (``kinds``: ``'i'`` int64, ``'f'`` float64, ``'v'``/``'V'`` float64
    rows read from decimal/integer literals, ``'o'`` Python values with
    :data:`MISSING` where a record lacks the key) are what the evaluation reads.
    """

    def __init__(self, n: int, keys: list[str], kinds: list[str], columns: list[Any]) -> None:
        self._n = n
        self._columns = {k: (kind, col) for k, kind, col in zip(keys, kinds, columns)}

    def __len__(self) -> int:
        return self._n

    def _values(self, key: str, rows: slice | int = slice(None)) -> Any:
        """Column ``key`` (or one row of it) as Python values, as json.loads gives them."""
        kind, col = self._columns[key]
        if kind == "o":
            return col[rows]
        return (col[rows].astype(np.int64) if kind == "V" else col[rows]).tolist()

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return self.tolist()[i]
        if not -self._n <= i < self._n:
            raise IndexError("record index out of range")
        return {k: v for k in self._columns if (v := self._values(k, i)) is not MISSING}

    def tolist(self) -> list[dict[str, Any]]:
        """The records as :func:`json.loads` gives them."""
        keys = list(self._columns)
        if not keys:
            return [{} for _ in range(self._n)]
        rows = zip(*(self._values(k) for k in keys))
        if any(kind == "o" and any(v is MISSING for v in col) for kind, col in self._columns.values()):
            return [{k: v for k, v in zip(keys, row) if v is not MISSING} for row in rows]
        return [dict(zip(keys, row)) for row in rows]

    def field(self, key: str, name: str) -> list[Any]:
        """Every record's ``key``, or ValueError naming the first record without it."""
        if key not in self._columns:
            if self._n:
                raise ValueError(f"{_where(name, 0, self[0])} has no {key!r}")
            return []
        values = self._values(key)
        if self._columns[key][0] == "o" and any(v is MISSING for v in values):
            i = next(i for i, v in enumerate(values) if v is MISSING)
            raise ValueError(f"{_where(name, i, self[i])} has no {key!r}")
        return values

    def array(self, key: str, width: int) -> NDArray[Any] | None:
        """The column ``key`` as ``_Records.prefetch`` reads it (``width`` 0: int64 ids,
        1: float64, w >= 2: float64 rows of w), or None if it does not hold that."""
        kind, col = self._columns.get(key, ("o", None))
        if width == 0:
            return col if kind == "i" else None
        if width == 1:
            return col.astype(np.float64) if kind == "i" else col if kind == "f" else None
        return col if kind in "vV" and col.shape[1] == width else None


#: A key a record lacks, in a :class:`Records` column of Python values.
MISSING = object()


def _plain(value: Any) -> Any:
    """``value`` with its :class:`Records` (in the top two levels) as lists of dicts."""
    if isinstance(value, Records):
        return value.tolist()
    if isinstance(value, dict):
        return {k: v.tolist() if isinstance(v, Records) else v for k, v in value.items()}
    return value


class Loaded:
    """A dataset read once (:class:`fastiou.coco.COCO`): what :func:`ground_truth` and
    :func:`detections` make of it is kept, per iouType and keypoint count, with its
    arrays made read-only.  ``results`` is None for a COCO dataset, else the result
    records (or ``(N, 7)`` array) that ``loadRes`` took, read as results.

    A dataset read from a JSON file holds :class:`Records`; ``dataset`` gives it as
    :func:`json.loads` would (made on first access), while the evaluation reads the
    columns.
    """

    def __init__(self, dataset: dict[str, Any], results: Any = None) -> None:
        self._source = dataset
        self._dataset: dict[str, Any] | None = None
        self.results = results
        self._read: dict[tuple[Any, ...], Any] = {}

    @property
    def dataset(self) -> dict[str, Any]:
        if self._dataset is None:
            self._dataset = _plain(self._source)
        return self._dataset

    @dataset.setter
    def dataset(self, value: dict[str, Any]) -> None:
        self._source, self._dataset = value, None
        self._read.clear()


def _frozen(table: Table) -> Table:
    for value in vars(table).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return table


def load_json(path: Any, name: str) -> Any:
    """The JSON file at ``path``, its arrays of records as :class:`Records` where the
    compiled reader is built (else as :func:`json.load` gives them)."""
    try:
        with open(os.fspath(path), "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ValueError(f"{name}: cannot read {os.fspath(path)!r} ({exc})") from None
    try:
        from ._cy_json import loads
    except ImportError:
        value = None
    else:
        value = loads(data, Records, MISSING)
    if value is not None:
        return value
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{name}: {os.fspath(path)!r} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{name}: {os.fspath(path)!r} nests its values too deeply to read") from None


def as_dataset(x: Any, name: str) -> dict[str, Any]:
    """The COCO dataset dict of a ``COCO`` object, a dict or a JSON path."""
    if isinstance(x, (str, os.PathLike)):
        x = load_json(x, name)
    dataset = x._source if isinstance(x, Loaded) else getattr(x, "dataset", x)
    if not isinstance(dataset, dict):
        raise TypeError(f"{name} must be a COCO object, a dict in the COCO layout or a JSON path, "
                        f"got {type(x).__name__}")
    return dataset


def _where(name: str, i: int, record: Any) -> str:
    rid = record.get("id") if isinstance(record, dict) else None
    return f"{name}[{i}]" + (f" (id {rid})" if rid is not None else "")


def _field(records: Sequence[Any], key: str, name: str) -> list[Any]:
    """``[r[key] for r in records]``, or ValueError naming the first record without it."""
    if isinstance(records, Records):
        return records.field(key, name)
    try:
        return [r[key] for r in records]
    except (KeyError, TypeError):
        for i, r in enumerate(records):
            if not isinstance(r, dict):
                raise TypeError(f"{name}[{i}] must be a dict, got {type(r).__name__}") from None
            if key not in r:
                raise ValueError(f"{_where(name, i, r)} has no {key!r}") from None
        raise


def _numbers(values: list[Any], key: str, name: str, records: Sequence[Any], width: int | None = None,
             dtype: DTypeLike = np.float64) -> NDArray[Any]:
    """``values`` as a finite array of ``dtype`` (rows of ``width``), naming the first bad record."""
    if len(values) == 0:
        return np.zeros((0,) if width is None else (0, width), dtype)
    try:
        arr = np.array(values, dtype=dtype)
        ok = arr.ndim == (1 if width is None else 2) and (width is None or arr.shape[1] == width)
    except (ValueError, TypeError, OverflowError):
        ok = False
    if not ok:
        for i, v in enumerate(values):
            try:
                row = np.array(v, dtype=dtype)
                good = row.ndim == (0 if width is None else 1) and (width is None or row.shape[0] == width)
            except (ValueError, TypeError, OverflowError):
                good = False
            if not good:
                shape = "a number" if width is None else f"{width} numbers"
                raise ValueError(f"{_where(name, i, records[i])}: {key!r} must be {shape}, got {v!r}")
        raise ValueError(f"{name}: {key!r} must be numbers")
    if arr.dtype.kind == "f":
        _check_finite(arr, key, name, records)
    return arr


def _check_finite(arr: NDArray[np.floating[Any]], key: str, name: str, records: Sequence[Any]) -> None:
    bad = ~np.isfinite(arr) if arr.ndim == 1 else ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{_where(name, i, records[i])}: {key!r} is not finite: {records[i][key]!r}")


def _ids(values: list[Any], key: str, name: str, records: Sequence[Any]) -> NDArray[np.int64]:
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.ndim == 1 and arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    out = np.empty(len(values), np.int64)  # the loop names the first record that is not an integer
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)) \
                or v != int(v):
            raise ValueError(f"{_where(name, i, records[i])}: {key!r} must be an integer, got {v!r}")
        out[i] = int(v)
    return out


class _Records:
    """The records of one argument, read one field at a time as checked arrays.

    :meth:`prefetch` reads several plain fields of every record in one compiled
    pass (``fastiou._cy_coco.record_columns``) when each record is a dict of
    Python numbers, or takes them from :class:`Records` columns; any other record,
    or a build without the compiled module, leaves each field to the checked path,
    which names the first bad record.  All give the same arrays.
    """

    def __init__(self, records: Sequence[Any], name: str) -> None:
        self.records = records
        self.name = name
        self._read: dict[str, NDArray[Any]] = {}

    def prefetch(self, widths: dict[str, int]) -> None:
        """Read the fields ``widths`` names (0: id, 1: number, w >= 2: w numbers) in one pass."""
        if isinstance(self.records, Records):  # read from JSON: the columns are there
            for key, width in widths.items():
                column = self.records.array(key, width)
                if column is not None:
                    self._read[key] = column
            return
        try:
            from ._cy_coco import record_columns
        except ImportError:
            return
        if type(self.records) is list and len(widths) <= 8:
            columns = record_columns(self.records, tuple(widths), tuple(widths.values()))
            if columns is not None:
                self._read.update(zip(widths, columns))

    def field(self, key: str) -> list[Any]:
        return _field(self.records, key, self.name)

    def ids(self, key: str) -> NDArray[np.int64]:
        if key in self._read:
            return self._read[key]
        return _ids(self.field(key), key, self.name, self.records)

    def numbers(self, key: str, width: int | None = None) -> NDArray[np.float64]:
        if key in self._read:
            arr = self._read[key]
            _check_finite(arr, key, self.name, self.records)
            return arr
        return _numbers(self.field(key), key, self.name, self.records, width)


def _check_boxes(bbox: NDArray[np.float64], name: str, records: Sequence[Any]) -> None:
    bad = (bbox[:, 2] < 0) | (bbox[:, 3] < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{_where(name, i, records[i])}: 'bbox' [x, y, w, h] has a negative width or "
                         f"height: {records[i]['bbox']!r}")


def _images(dataset: dict[str, Any], name: str) -> tuple[NDArray[np.int64], dict[int, int]]:
    images = dataset.get("images")
    if images is None:
        raise ValueError(f"{name} has no 'images'")
    ids = _ids(_field(images, "id", f"{name}['images']"), "id", f"{name}['images']", images)
    return ids, {int(i): k for k, i in enumerate(ids)}


#: The most points one annotation's polygons may put on pycocotools' 5x boundary grid
#: (its scratch: 40 bytes a point); a COCO object's polygons have a few thousand.
MAX_POLYGON_POINTS = 2**26
#: Polygon coordinates beyond this are refused: C's ``(int)(5 * v + .5)`` must fit.
MAX_POLYGON_COORD = 2.0**24


def _rles(segms: list[Any], image_id: NDArray[np.int64], sizes: dict[int, tuple[int, int]], name: str,
          records: Sequence[Any]) -> list[Any]:
    """The masks as COCO RLE dicts, each checked against its image's size: polygons
    (lists of ``[x0, y0, x1, y1, ...]``) become the RLE of their union, exactly as
    pycocotools' ``annToRLE`` makes it.  A new list: ``segms`` is not changed."""
    want_of = {img: list(size) for img, size in sizes.items()}
    polygons: list[int] = []
    for i, (s, img) in enumerate(zip(segms, image_id.tolist())):
        if type(s) is dict and "counts" in s:  # the common case first: a plain RLE of its image's size
            size = s.get("size")
            if type(size) is list and size == want_of.get(img):
                continue
        if isinstance(s, list):
            if img not in want_of:
                raise ValueError(f"{_where(name, i, records[i])}: a polygon needs its image's height and "
                                 f"width, and image {img} has none")
            polygons.append(i)
            continue
        if not isinstance(s, dict):
            raise ValueError(f"{_where(name, i, records[i])}: 'segmentation' must be a COCO RLE dict or a "
                             f"list of polygons, got {type(s).__name__}")
        size = s.get("size")
        if "counts" not in s or size is None:
            raise ValueError(f"{_where(name, i, records[i])}: 'segmentation' must be a COCO RLE with "
                             f"'size' and 'counts'")
        want = want_of.get(img)
        if want is not None and [int(v) for v in size] != want:
            raise ValueError(f"{_where(name, i, records[i])}: mask size {list(size)} differs from its "
                             f"image's [height, width] {want}")
    if not polygons:
        return segms
    out = list(segms)
    hw = np.array([want_of[int(image_id[i])] for i in polygons], np.int64).reshape(-1, 2)
    for i, rle in zip(polygons, _polygon_rles([segms[i] for i in polygons], hw, [
            _where(name, i, records[i]) for i in polygons])):
        out[i] = rle
    return out


def _counts(segms: list[dict[str, Any]], name: str, records: Sequence[Any]) -> list[Any]:
    """The counts of checked RLE dicts as the mask kernels read them: compressed
    strings as bytes, uncompressed counts as int64 arrays."""
    try:
        counts = [c.encode("ascii") if type(c) is str else c for c in (s["counts"] for s in segms)]
    except UnicodeEncodeError:
        counts = [s["counts"] for s in segms]  # the loop below names the record
    for i, c in enumerate(counts):
        if type(c) is not bytes:
            try:
                counts[i] = _validate._rle_counts(c, f"{_where(name, i, records[i])}['segmentation']")
            except UnicodeEncodeError:
                raise ValueError(f"{_where(name, i, records[i])}: 'segmentation' counts must be an ASCII "
                                 f"string") from None
    return counts


def _polygon_rles(segms: list[Any], hw: NDArray[np.int64], where: list[str]) -> list[dict[str, Any]]:
    """pycocotools' ``merge(frPyObjects(segm, h, w))`` of each polygon list."""
    from .backends import numba_cpu_masks as kernels

    shapes: list[NDArray[np.float64]] = []
    per_ann = np.zeros(len(segms), np.int64)
    for k, s in enumerate(segms):
        what = f"{where[k]}: 'segmentation'"
        try:
            items = [np.asarray(p, dtype=np.float64) for p in s]
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a list of polygons (lists of numbers)") from None
        if not items or any(p.ndim != 1 for p in items):
            raise ValueError(f"{what} must be a non-empty list of polygons (lists of numbers)")
        if len(items[0]) <= 4 or any(len(p) < 2 for p in items):  # what pycocotools' frPyObjects takes
            raise ValueError(f"{what}: the first polygon needs more than four numbers and every polygon "
                             f"at least [x, y] (pycocotools fails on fewer)")
        for p in items:
            if not np.isfinite(p).all() or np.abs(p).max() > MAX_POLYGON_COORD:
                raise ValueError(f"{what} has a coordinate that is not finite or beyond "
                                 f"{MAX_POLYGON_COORD:.0f}: {p.tolist()}")
        shapes.extend(items)
        per_ann[k] = len(items)
    lengths = np.array([len(p) - len(p) % 2 for p in shapes], np.int64)  # an odd last number is unused
    xy = np.concatenate([p[:n] for p, n in zip(shapes, lengths)]) if shapes else np.zeros(0)
    poly_start = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ann_poly = np.concatenate([[0], np.cumsum(per_ann)]).astype(np.int64)
    points = kernels.polygon_points(xy, poly_start)
    per_points = np.add.reduceat(points + 2, ann_poly[:-1]) if len(points) else np.zeros(0, np.int64)
    too_long = np.flatnonzero(per_points > MAX_POLYGON_POINTS)
    if too_long.size:
        k = int(too_long[0])
        raise ValueError(f"{where[k]}: 'segmentation' polygons trace {int(per_points[k])} boundary points "
                         f"on pycocotools' 5x grid (at most {MAX_POLYGON_POINTS})")
    out_start = np.concatenate([[0], np.cumsum(per_points + 1)]).astype(np.int64)
    counts = np.empty(int(out_start[-1]), np.int64)
    n_runs = kernels.polygons_to_runs(xy, poly_start, ann_poly, hw[:, 0].copy(), hw[:, 1].copy(), points,
                                      out_start, counts)
    return [{"size": [int(h), int(w)], "counts": counts[o:o + n]}
            for (h, w), o, n in zip(hw.tolist(), out_start.tolist(), n_runs.tolist())]


def _image_sizes(dataset: dict[str, Any], name: str) -> dict[int, tuple[int, int]]:
    images = dataset.get("images", [])
    out: dict[int, tuple[int, int]] = {}
    for i, img in enumerate(images):
        if "height" not in img or "width" not in img:
            where = _where(name + "['images']", i, img)
            raise ValueError(f"{where} has no 'height'/'width' (needed for segm)")
        out[int(img["id"])] = (int(img["height"]), int(img["width"]))
    return out


def ground_truth(x: Any, iou_type: str, n_kp: int, name: str = "cocoGt") -> tuple[Table, dict[str, Any]]:
    """``(table, info)``: the annotations and ``info`` with ``img_ids``, ``cat_ids``, ``sizes``."""
    if isinstance(x, Loaded):
        key = ("gt", iou_type, n_kp)
        if key not in x._read:
            table, info = _ground_truth(x._source, iou_type, n_kp, name)
            x._read[key] = _frozen(table), info
        return x._read[key]
    return _ground_truth(as_dataset(x, name), iou_type, n_kp, name)


def _ground_truth(dataset: dict[str, Any], iou_type: str, n_kp: int, name: str
                  ) -> tuple[Table, dict[str, Any]]:
    img_ids, _ = _images(dataset, name)
    cats = dataset.get("categories", [])
    cat_ids = _ids(_field(cats, "id", f"{name}['categories']"), "id", f"{name}['categories']", cats)
    anns = dataset.get("annotations", [])
    where = f"{name}['annotations']"
    read = _Records(anns, where)
    more = {"bbox": 4} if iou_type == "bbox" else {} if iou_type == "segm" else \
        {"bbox": 4, "num_keypoints": 1, **({"keypoints": 3 * n_kp} if n_kp else {})}
    read.prefetch({"image_id": 0, "category_id": 0, "id": 0, "area": 1, "iscrowd": 1, **more})
    table = Table(image_id=read.ids("image_id"), category_id=read.ids("category_id"), id=read.ids("id"),
                  area=read.numbers("area"), iscrowd=read.numbers("iscrowd") != 0)
    table.ignore = table.iscrowd.copy()  # pycocotools overwrites 'ignore' with 'iscrowd'
    sizes: dict[int, tuple[int, int]] = {}
    if iou_type == "bbox":
        table.bbox = read.numbers("bbox", 4)
        _check_boxes(table.bbox, where, anns)
    elif iou_type == "segm":
        sizes = _image_sizes(dataset, name)
        table.segmentation = _rles(read.field("segmentation"), table.image_id, sizes, where, anns)
        table.rle_counts = _counts(table.segmentation, where, anns)
    else:
        table.bbox = read.numbers("bbox", 4)
        table.keypoints = read.numbers("keypoints", 3 * n_kp)
        num = read.numbers("num_keypoints")
        table.ignore |= num == 0
    return table, {"img_ids": img_ids, "cat_ids": cat_ids, "sizes": sizes}


def _as_result_records(
    x: Any, name: str
) -> tuple[Sequence[Any] | None, dict[str, Any] | None, NDArray[Any] | None]:
    """``(records, dataset, array)``: exactly one is not None."""
    if isinstance(x, (str, os.PathLike)):
        x = load_json(x, name)
    if isinstance(x, Loaded):
        return None, x._source, None
    if hasattr(x, "dataset"):
        return None, x.dataset, None
    if isinstance(x, dict):
        if "annotations" not in x:
            raise ValueError(f"{name}: a dict of detections must be a COCO dataset with 'annotations'")
        return None, x, None
    if isinstance(x, Records):
        return x, None, None
    if isinstance(x, (list, tuple)):
        return list(x), None, None
    if isinstance(x, np.ndarray) or hasattr(x, "__array__"):
        return None, None, _validate.as_array(x, name)
    raise TypeError(f"{name} must be a COCO object, a list of result dicts, a JSON path or an (N, 7) "
                    f"array, got {type(x).__name__}")


def _rle_area_and_box(segms: list[Any], name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """pycocotools' ``area`` and ``toBbox`` of RLE masks (float64)."""
    from . import backends
    from ._mask_formulas import AREA, X0, X1, Y0, Y1
    from .masks import _MaskSet

    area = np.zeros(len(segms))
    box = np.zeros((len(segms), 4))
    by_size: dict[tuple[int, ...], list[int]] = {}
    for i, s in enumerate(segms):
        by_size.setdefault(tuple(int(v) for v in s["size"]), []).append(i)
    rows: list[int] | NDArray[np.intp]  # the list, then as an index array
    for _, rows in by_size.items():
        masks = _MaskSet([segms[i] for i in rows], name, None)
        info = masks.runs(*backends.select(backends.compiled_first("masks"), masks.work, family="masks"))[2]
        rows = np.asarray(rows)
        a = info[:, AREA]
        area[rows] = a
        full = a > 0
        box[rows[full]] = np.stack([info[full, X0], info[full, Y0], info[full, X1] - info[full, X0] + 1,
                                    info[full, Y1] - info[full, Y0] + 1], axis=1)
    return area, box


def detections(x: Any, iou_type: str, n_kp: int, gt_info: dict[str, Any], name: str = "cocoDt") -> Table:
    """The detections as a :class:`Table`, checked against the ground truth's images and categories."""
    if isinstance(x, Loaded):
        key = ("dt", iou_type, n_kp)
        kept = x._read.get(key)
        if kept is None or kept[0] is not gt_info:  # checked against this ground truth
            source = x._source if x.results is None else x.results
            kept = x._read[key] = gt_info, _frozen(_detections(source, iou_type, n_kp, gt_info, name))
        return kept[1]
    return _detections(x, iou_type, n_kp, gt_info, name)


def _detections(x: Any, iou_type: str, n_kp: int, gt_info: dict[str, Any], name: str) -> Table:
    records, dataset, array = _as_result_records(x, name)
    if array is not None:
        if array.ndim != 2 or array.shape[1] != 7:
            raise ValueError(f"{name} must be an (N, 7) array [image_id, x, y, w, h, score, category_id], "
                             f"got shape {array.shape}")
        if iou_type != "bbox":
            raise ValueError(f"{name}: an (N, 7) array holds boxes; iouType {iou_type!r} needs result dicts")
        finite = np.isfinite(array).all(axis=1)
        if not finite.all():
            i = int(np.argmax(~finite))
            raise ValueError(f"{name}[{i}] is not finite: {array[i].tolist()}")
        wh = array[:, 3:5]
        table = Table(image_id=array[:, 0].astype(np.int64), category_id=array[:, 6].astype(np.int64),
                      id=np.arange(1, len(array) + 1, dtype=np.int64),
                      # loadRes: w * h in the array's own dtype
                      area=(wh[:, 0] * wh[:, 1]).astype(np.float64),
                      score=array[:, 5].astype(np.float64), bbox=array[:, 1:5].astype(np.float64))
        bad = (table.bbox[:, 2] < 0) | (table.bbox[:, 3] < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{name}[{i}]: the box has a negative width or height: {array[i].tolist()}")
        _check_membership(table, gt_info, name, None)
        return table
    if dataset is not None:
        records = dataset.get("annotations", [])
        where = f"{name}['annotations']"
        loaded = True
    else:
        assert records is not None  # exactly one of records, dataset, array is not None
        where = name
        loaded = False
    read = _Records(records, where)
    first = records[0] if len(records) and isinstance(records[0], dict) else {}
    plain: dict[str, int] = {"image_id": 0, "category_id": 0, "score": 1}
    if loaded:
        plain.update(id=0, area=1)
    if iou_type == "bbox" or (not loaded and "bbox" in first):
        plain["bbox"] = 4
    if iou_type == "keypoints" and n_kp:
        plain["keypoints"] = 3 * n_kp
    read.prefetch(plain)
    table = Table(image_id=read.ids("image_id"), category_id=read.ids("category_id"),
                  score=read.numbers("score"))
    _check_membership(table, gt_info, where, records)
    n = len(records)
    if loaded:
        table.id = read.ids("id")
        table.area = read.numbers("area")
        branch = None
    else:
        table.id = np.arange(1, n + 1, dtype=np.int64)
        first = records[0] if n else {}
        if not isinstance(first, dict):
            raise TypeError(f"{name}[0] must be a dict, got {type(first).__name__}")
        if "bbox" in first and not first["bbox"] == []:
            branch = "bbox"
        elif "segmentation" in first:
            branch = "segm"
        elif "keypoints" in first:
            branch = "keypoints"
        elif n:
            raise ValueError(f"{_where(name, 0, first)} has none of 'bbox', 'segmentation', 'keypoints'")
        else:
            branch = None
            table.area = np.zeros(0)
    if iou_type == "bbox" or branch == "bbox":
        if not (branch == "segm" and not all("bbox" in r for r in records)):  # else: from the masks
            table.bbox = read.numbers("bbox", 4)
            _check_boxes(table.bbox, where, records)
        if branch == "bbox":
            with np.errstate(over="ignore"):  # loadRes' w * h: inf beyond float64, as pycocotools
                table.area = table.bbox[:, 2] * table.bbox[:, 3]
    if iou_type == "segm" or branch == "segm":
        table.segmentation = _rles(read.field("segmentation"), table.image_id, gt_info["sizes"], where, records)
        table.rle_counts = _counts(table.segmentation, where, records)
        if branch == "segm":
            table.area, box = _rle_area_and_box(table.segmentation, where)
            if not hasattr(table, "bbox"):
                table.bbox = box
    if iou_type == "keypoints" or branch == "keypoints":
        table.keypoints = read.numbers("keypoints", 3 * n_kp)
        if branch == "keypoints":
            x, y = table.keypoints[:, 0::3], table.keypoints[:, 1::3]
            x0, x1, y0, y1 = x.min(axis=1), x.max(axis=1), y.min(axis=1), y.max(axis=1)
            table.area = (x1 - x0) * (y1 - y0)
    return table


def _check_membership(table: Table, gt_info: dict[str, Any], name: str, records: Sequence[Any] | None) -> None:
    for key, known, what in (("image_id", gt_info["img_ids"], "image"),
                             ("category_id", gt_info["cat_ids"], "category")):
        values = getattr(table, key)
        bad = ~np.isin(values, known)
        if bad.any():
            i = int(np.argmax(bad))
            where = _where(name, i, records[i]) if records is not None else f"{name}[{i}]"
            raise ValueError(f"{where}: {key!r} {int(values[i])} is not a{'n' if what == 'image' else ''} "
                             f"{what} of the ground truth")
