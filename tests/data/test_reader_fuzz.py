"""Property-based mutation tests of the COCO, YOLO and VOC readers, ``data check`` and the loader.

Each example writes a small valid dataset (:func:`edgedet.data.mutate.make_case`), breaks it with one to three
mutations drawn from :data:`edgedet.data.mutate.MUTATIONS` (hostile values and types, inf / 1e400 / 400-digit
numbers, bad encodings, deep nesting, escaping paths and symlinks, symlink loops, FIFOs, truncated files, image
bombs, 300-character names) and asserts the outcome is a result or one :class:`edgedet.data.DatasetError`,
every message one line naming a file of the dataset: never another exception, a hang (a thread timeout) or a
read outside the dataset root (an audit hook on ``open``). ``derandomize`` keeps CI runs identical; the whole
module takes about 20 s on one core (250 examples).
"""

import tempfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgedet.data import check_dataset
from edgedet.data.mutate import FORMATS, MUTATIONS, make_broken_case, make_case
from edgedet.data.robustness import run_case

HANG_SECONDS = 30


def _run(case: Path, entry: Path) -> tuple[str, str, int]:
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(run_case(case, entry)), daemon=True)
    t.start()
    t.join(HANG_SECONDS)
    if t.is_alive():
        return "hung", f"no result after {HANG_SECONDS} s", 0
    return out["outcome"], out["detail"], out["messages"]


cases = st.sampled_from(FORMATS).flatmap(lambda fmt: st.tuples(
    st.just(fmt), st.lists(st.sampled_from(sorted(MUTATIONS[fmt])), min_size=1, max_size=3),
    st.integers(0, 2**32 - 1)))


@settings(max_examples=250, deadline=timedelta(seconds=HANG_SECONDS + 5), derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_broken_datasets_give_a_result_or_one_clear_error(case_args):
    fmt, names, seed = case_args
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp)
        entry = make_broken_case(case, fmt, names, seed)
        outcome, detail, _ = _run(case, entry)
        assert outcome == "handled", f"{fmt} {names} seed={seed}: {outcome}: {detail}"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["image_fifo", "image_bomb", "image_symlink_outside", "image_symlink_loop"])
def test_every_format_handles_the_image_file_mutations(fmt, name, tmp_path):
    entry = make_broken_case(tmp_path, fmt, [name], seed=0)
    assert _run(tmp_path, entry) == ("handled", "1 message(s)", 1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_unbroken_case_is_clean(fmt, tmp_path):
    """The harness is not vacuous: the valid dataset reads with no problem and three images."""
    entry = make_case(tmp_path, fmt)
    assert check_dataset(entry) == []
    assert _run(tmp_path, entry) == ("handled", "0 message(s)", 0)
