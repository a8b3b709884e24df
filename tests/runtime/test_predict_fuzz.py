"""Property-based fuzzing of the runtime: any array to ``predict`` and any edit of ``edgedet.json`` to ``load`` give
a result or a one-line error of the runtime's own classes (edgedet.runtime.validate), never another exception.

Bounded for CI: one tiny ONNX export (session fixture), small arrays, about 30 s in all on one core. The larger
seeded campaign with hang detection is ``benchmarks/robustness/runtime_mutations.py``.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgedet.deploy.schema import METADATA_FILE
from edgedet.runtime import Detections, load
from edgedet.runtime.validate import ModelMetadataError, RuntimeInputError

OURS = (RuntimeInputError, ModelMetadataError)
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])

DTYPES = st.sampled_from([np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.float16, np.float32,
                          np.float64, np.bool_, np.complex64])
SHAPES = st.one_of(
    hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=24),
    st.sampled_from([(1, 5000, 3), (5000, 1), (2, 3000, 4), (3, 7, 1), (40, 30, 4), (0, 10, 3), (1, 1, 3)]),
)


def _assert_ours(fn):
    """``fn()``'s result, or None after one of our one-line errors; anything else fails the test."""
    try:
        return fn()
    except OURS as e:
        assert str(e) and "\n" not in str(e), repr(e)
        return None


def _assert_detections(d: Detections, h: int, w: int, n_classes: int = 3) -> None:
    assert isinstance(d, Detections)
    assert d.boxes.shape == (len(d), 4) and d.labels.shape == d.scores.shape == (len(d),)
    assert np.isfinite(d.boxes).all() and (d.boxes >= 0).all()
    assert (d.boxes[:, 0::2] <= w).all() and (d.boxes[:, 1::2] <= h).all()
    assert ((d.labels >= 0) & (d.labels < n_classes)).all()


@pytest.fixture(scope="module")
def pred(onnx_export):
    return load(onnx_export, threads=1)


@st.composite
def images(draw):
    dtype, shape = draw(DTYPES), draw(SHAPES)
    if np.dtype(dtype).kind == "f":
        elements = st.floats(allow_nan=True, allow_infinity=True, width=np.dtype(dtype).itemsize * 8)
    elif np.dtype(dtype).kind == "c":
        elements = st.complex_numbers(allow_nan=True, width=64)
    else:
        elements = None
    a = draw(hnp.arrays(dtype, shape, elements=elements, fill=st.nothing() if elements is None else None))
    view = draw(st.sampled_from(["as is", "reversed", "strided", "transposed", "fortran"]))
    if view == "reversed" and a.ndim:
        a = a[::-1]
    elif view == "strided" and a.ndim >= 2:
        a = a[::2, ::3]
    elif view == "transposed" and a.ndim >= 2:
        a = a.swapaxes(0, 1)
    elif view == "fortran":
        a = np.asfortranarray(a)
    return a


@settings(FUZZ, max_examples=300)
@given(a=images(), score_thr=st.one_of(st.floats(allow_nan=True), st.sampled_from([0.0, 0.05, 1.0])))
def test_predict_gives_detections_or_our_error(pred, a, score_thr):
    d = _assert_ours(lambda: pred.predict(a, score_thr))
    if d is not None:
        assert a.dtype == np.uint8 and 0 <= score_thr <= 1  # anything else is refused
        _assert_detections(d, *a.shape[:2])


@FUZZ
@given(st.data())
def test_uint8_images_of_any_accepted_layout_predict(pred, data):
    h, w = data.draw(st.integers(1, 300)), data.draw(st.integers(1, 300))
    channels = data.draw(st.sampled_from([None, 1, 3, 4]))
    shape = (h, w) if channels is None else (h, w, channels)
    a = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).integers(0, 256, shape, dtype=np.uint8)
    d = _assert_ours(lambda: pred.predict(a, 0.05))
    if max(h, w) / min(h, w) <= 96:  # the letterboxed short side stays >= 1 px at 96 px
        assert d is not None
    if d is not None:
        _assert_detections(d, h, w)


# ------------------------------------------------------------------------------------------ edgedet.json


def _paths(node, prefix=()):
    """Every key / index path into a JSON document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:4]):
            yield from _paths(v, (*prefix, i))


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63), st.floats(allow_nan=True),
              st.sampled_from(["", "NCHW", "NHWC", "int8", "fp16", "onnx", "tflite", "../../x", "/etc/passwd",
                               "model.onnx", "topk_boxes", "anchor_ltrb"]), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def mutations(draw, meta):
    """``(description, mutated metadata)``: a key deleted, a value replaced, a shape or list edited."""
    paths = [p for p in _paths(meta) if p]
    path = draw(st.sampled_from(paths))
    kind = draw(st.sampled_from(["delete", "replace", "scale int", "drop item", "escape"]))
    out = copy.deepcopy(meta)
    parent = out
    for k in path[:-1]:
        parent = parent[k]
    key, old = path[-1], parent[path[-1]]
    if kind == "delete":
        del parent[key]
    elif kind == "scale int" and isinstance(old, int) and not isinstance(old, bool):
        parent[key] = old * draw(st.sampled_from([0, -1, 2, 10**6]))
    elif kind == "drop item" and isinstance(old, list) and old:
        parent[key] = old[:-1]
    elif kind == "escape":
        out["model_file"] = draw(st.sampled_from(["../../x", "/etc/passwd", "..", "sub/../../x", "", "nul\x00"]))
    else:
        parent[key] = draw(JSON_VALUES)
    return f"{kind} {'.'.join(map(str, path))}", out


@pytest.fixture(scope="module")
def meta_dir(onnx_export, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("mut") / "export"
    shutil.copytree(onnx_export, d)
    return d


def test_metadata_mutations_load_or_give_our_error(onnx_export, meta_dir):
    meta = json.loads((onnx_export / METADATA_FILE).read_text())
    image = np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)

    @settings(FUZZ, max_examples=300)
    @given(mutations(meta))
    def check(mutation):
        _, mutated = mutation
        (meta_dir / METADATA_FILE).write_text(json.dumps(mutated))
        pred = _assert_ours(lambda: load(meta_dir, threads=1))
        if pred is not None:
            d = _assert_ours(lambda: pred.predict(image, 0.05))
            if d is not None:
                _assert_detections(d, 80, 120, len(pred.class_names))

    check()
