"""COCO JSON files read into columns (fastiou._cy_json, fastiou._coco_input.Records): the same
values as json.loads, or json.loads itself wherever the compiled reader leaves the document."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastiou import _coco_input, coco, synthetic

cy_json = pytest.importorskip("fastiou._cy_json", reason="the compiled module is not built")


def read(text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return cy_json.loads(data, _coco_input.Records, _coco_input.MISSING)


def plain(value):
    return _coco_input._plain(value)


def same(a, b, in_vector: bool = False) -> bool:
    """``a`` (read here) equals ``b`` (json.loads) value for value and type for type; the
    documented differences: in a column of arrays of numbers an integer may read as a float,
    and a record's keys come in the order the records first gave them."""
    if isinstance(b, dict):
        return type(a) is dict and a.keys() == b.keys() and all(same(a[k], b[k]) for k in b)
    if isinstance(b, list):
        numeric = all(type(v) in (int, float) for v in b)
        return type(a) is list and len(a) == len(b) and all(same(x, y, numeric) for x, y in zip(a, b))
    if type(b) is float and math.isnan(b):
        return type(a) is float and math.isnan(a)
    if in_vector and type(a) is float and type(b) is int:
        return a == b
    return type(a) is type(b) and a == b


def test_records_become_columns():
    v = read('[{"image_id": 1, "score": 0.5, "bbox": [1.5, 2, 3, 4]}, '
             '{"image_id": 2, "score": 0.25, "bbox": [5.0, 6, 7, 8.5]}]')
    assert isinstance(v, _coco_input.Records) and len(v) == 2
    assert v.array("image_id", 0).dtype == np.int64
    np.testing.assert_array_equal(v.array("bbox", 4), [[1.5, 2, 3, 4], [5, 6, 7, 8.5]])
    assert v.array("score", 1).tolist() == [0.5, 0.25]
    assert v.array("bbox", 3) is None and v.array("score", 0) is None  # not what the caller asks
    assert v[1] == {"image_id": 2, "score": 0.25, "bbox": [5.0, 6.0, 7.0, 8.5]}
    assert v[-1] == v[1] and v[0:1] == [v[0]]
    with pytest.raises(IndexError):
        v[2]


def test_a_dataset_reads_its_arrays_of_records_as_columns():
    gt, _ = synthetic.coco_like(3, seed=0)
    v = read(json.dumps(gt))
    assert all(isinstance(v[k], _coco_input.Records) for k in ("images", "annotations", "categories"))
    assert plain(v) == gt


@pytest.mark.parametrize("text", [
    '[{"a": 1}, {"a": 2.5}]',                   # ints and floats mixed: each keeps its type
    '[{"a": 1}, {"b": 2}, {}]',                 # keys missing
    '[{"a": [1, 2]}, {"a": [1, 2, 3]}, {"a": []}]',  # arrays of other lengths
    '[{"a": [1, 2]}, {"a": [1.5, 2]}, {"a": [3, 4]}]',
    '[{"a": [1, "x"]}, {"a": [[1], 2]}, {"a": null}]',
    '[{"a": 12345678901234567890123}, {"a": -9007199254740993}, {"a": [9007199254740993, 1]}]',
    '[{"a": 1e400, "b": -1e-400, "c": 0.1, "d": 123456789012345678.5, "e": 2.5e-5, "f": -0.0}]',
    '[{"a": NaN, "b": Infinity, "c": -Infinity, "d": [NaN, 1.5]}]',
    '[{"s": "caf\\u00e9 \\"q\\" \\n", "t": "plain \\u2603", "u": "\u00e9t\u00e9"}]',
    '[{"a": {"b": [{"c": 1}]}, "d": [{"e": 2}], "f": true, "g": false}]',
    '{"images": [], "annotations": [{"id": 1}], "x": [[{"deep": 1}]], "y": 3}',
    '[[{"a": 1}], {"b": 2}]',
    ' \n\t[ { "a" : [ 1 , 2 ] } , { "a" : [ 3 , 4 ] } ] \r\n',
    '"just a string"', '3', '-0', '[]', '{}', '[{}]',  # ('null' reads as None: json.loads' answer too)
])
def test_same_values_as_json_loads(text):
    v = read(text)
    assert v is not None
    assert same(plain(v), json.loads(text))


@pytest.mark.parametrize("text", [
    '[{"a": 1, "a": 2}]',                       # a repeated key: json.loads keeps the last
    '[{"\\u0061": 1}]',                         # an escape in a key
    '[{"a": 1},]', '[{"a": 1}', '{"a": [1, 2}', '[01]', '[1.]', '[.5]', '[1e]', '[-]', '[+1]',
    '["a\x01"]', '"abc\\', '"abc', '[{"a": 1}] x', '', '  ', '[nan]', '[-NaN]', '[tru]',
    '\ufeff[1]', '[' * 600 + ']' * 600,
])
def test_what_it_does_not_read_goes_to_json_loads(text):
    assert read(text) is None


def test_invalid_utf8_goes_to_json_loads():
    assert read(b'[{"a": "\xff"}]') is None


def test_load_json_falls_back_and_names_the_file(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[{"a": 1, "a": 2}]')
    assert _coco_input.load_json(path, "x") == [{"a": 2}]  # json.loads' answer
    path.write_text('[{"a": 1},]')
    with pytest.raises(ValueError, match=r"x: .*a\.json' is not valid JSON"):
        _coco_input.load_json(path, "x")
    with pytest.raises(ValueError, match="x: cannot read"):
        _coco_input.load_json(tmp_path / "missing.json", "x")


def test_a_missing_key_is_named(tmp_path):
    gt, dets = synthetic.coco_like(3, seed=0)
    del dets[5]["score"]
    path = tmp_path / "dt.json"
    path.write_text(json.dumps(dets))
    with pytest.raises(ValueError, match=r"cocoDt\[5\] has no 'score'"):
        coco.COCOeval(gt, str(path), "bbox").evaluate()


def test_loaded_dataset_reads_as_json_loads_gives_it(tmp_path):
    gt, dets = synthetic.coco_like(4, seed=1)
    gt_path, dt_path = tmp_path / "gt.json", tmp_path / "dt.json"
    gt_path.write_text(json.dumps(gt))
    dt_path.write_text(json.dumps(dets))
    G = coco.COCO(gt_path)
    D = G.loadRes(dt_path)
    assert G.getImgIds() == [img["id"] for img in gt["images"]]
    E = coco.COCOeval(G, D, "bbox")
    E.evaluate(); E.accumulate(); E.summarize()
    assert G.dataset == gt and D.dataset["annotations"] == dets  # made on access, json.dump-able
    json.dumps(G.dataset)
    F = coco.COCOeval(gt, dets, "bbox")
    F.evaluate(); F.accumulate(); F.summarize()
    assert np.array_equal(E.stats, F.stats)


numbers = st.one_of(st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(-1e6, 1e6).map(lambda x: round(x, 2)))
scalars = st.one_of(numbers, st.text(max_size=5), st.booleans(), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                      max_leaves=8)
fields = st.one_of(numbers, st.lists(numbers, min_size=0, max_size=5), values)
record_lists = st.lists(st.dictionaries(st.sampled_from(["id", "bbox", "score", "é", "seg"]), fields, max_size=4),
                        min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.one_of(record_lists, st.dictionaries(st.sampled_from(["images", "annotations", "info"]),
                                               st.one_of(record_lists, values), max_size=3), values))
def test_random_documents_read_as_json_loads_reads_them(doc):
    text = json.dumps(doc, ensure_ascii=False)
    v = read(text)
    if v is None:  # 'null', or refused for an escape in a key
        assert doc is None or "\\" in text
    else:
        assert same(plain(v), json.loads(text))


def test_every_truncation_and_byte_flip_reads_safely():
    # a damaged file: never a crash or a read past the end, and json.loads' value if valid
    text = json.dumps([{"id": 1, "bbox": [1.5, -2e3, 3, 4], "s": 'a"b', "m": {"c": [1, {}]}},
                       {"id": 2, "bbox": [5, 6, 7, 8], "s": "\u00e9", "m": None}]).encode()
    damaged = [text[:n] for n in range(len(text))]
    damaged += [text[:n] + bytes([c]) + text[n + 1:] for n in range(len(text)) for c in b'\\"{[,0.e-\x00\xff']
    for data in damaged:
        v = read(data)
        if v is not None:
            assert same(plain(v), json.loads(data))


def test_a_file_nested_too_deeply_is_a_value_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)  # json.loads: RecursionError
    with pytest.raises(ValueError, match="deep.json' nests its values too deeply"):
        _coco_input.load_json(path, "x")
